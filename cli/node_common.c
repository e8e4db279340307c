/* node_common.c — secrets, numeric flags and addresses for `troupe node` / `troupe call`. */
#include "cli/node_common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/handshake.h"
#include "cluster/tls.h"
#include "cluster/transport.h"

int tr_cli_read_secret(const char *cmd, const char *file, uint8_t *out, size_t *len) {
    size_t n = 0;
    if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) {
            fprintf(stderr, "troupe %s: cannot read secret file '%s': %s\n", cmd, file,
                    strerror(errno));
            return -1;
        }
        n = fread(out, 1, TR_CLI_SECRET_MAX, f);
        int more = fgetc(f) != EOF;
        fclose(f);
        if (more) {
            fprintf(stderr, "troupe %s: secret file longer than %d bytes\n", cmd,
                    TR_CLI_SECRET_MAX);
            return -1;
        }
    } else {
        const char *env = getenv("TROUPE_SECRET");
        if (!env) {
            fprintf(stderr,
                    "troupe %s: no secret: give --secret-file FILE or set "
                    "TROUPE_SECRET\n",
                    cmd);
            return -1;
        }
        n = strlen(env);
        if (n > TR_CLI_SECRET_MAX) {
            fprintf(stderr, "troupe %s: TROUPE_SECRET longer than %d bytes\n", cmd,
                    TR_CLI_SECRET_MAX);
            return -1;
        }
        memcpy(out, env, n);
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
        n--;
    }
    if (n < 16) {
        fprintf(stderr, "troupe %s: the secret must be at least 16 bytes (got %zu)\n", cmd, n);
        return -1;
    }
    *len = n;
    return 0;
}

int tr_cli_parse_u32(const char *cmd, const char *flag, const char *s, uint32_t min, uint32_t max,
                     uint32_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || s[0] == '-' || v < min || v > max) {
        fprintf(stderr, "troupe %s: %s wants a number in [%u, %u], got '%s'\n", cmd, flag, min, max,
                s ? s : "");
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int tr_cli_parse_double(const char *cmd, const char *flag, const char *s, double min, double max,
                        double *out) {
    char *end = NULL;
    errno = 0;
    double v = s && *s ? strtod(s, &end) : NAN;
    /* written so that NaN (and "nan", "inf" from strtod) fails the range test */
    if (!s || !*s || *end || errno || !(v >= min && v <= max)) {
        fprintf(stderr, "troupe %s: %s wants a number in [%g, %g], got '%s'\n", cmd, flag, min, max,
                s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

int tr_cli_check_addr(const char *cmd, const char *flag, const char *value, bool list,
                      bool port0_ok) {
    const char *s = value;
    do {
        const char *end = list ? strchr(s, ',') : NULL;
        size_t n = end ? (size_t)(end - s) : strlen(s);
        char one[TR_ADDR_STR_MAX + 2];
        const char *why = NULL;
        if (n > TR_ADDR_STR_MAX) {
            why = "longer than 63 bytes";
        } else {
            memcpy(one, s, n);
            one[n] = 0;
            if (n > 0 || !list) { /* empty list entries are skipped, as the transport does */
                (void)tr__address_check(one, port0_ok, &why);
            }
        }
        if (why) {
            fprintf(stderr,
                    "troupe %s: bad %s address '%.*s': %s (want HOST:PORT, HOST a "
                    "name, an IPv4 address or [an IPv6 address])\n",
                    cmd, flag, (int)(n > 100 ? 100 : n), s, why);
            return -1;
        }
        s = end ? end + 1 : NULL;
    } while (s);
    return 0;
}

bool tr_cli_tls_flag(tr_cli_tls *tls, const char *flag, const char *v) {
    const char **dst = !strcmp(flag, "--tls-cert")  ? &tls->cert
                       : !strcmp(flag, "--tls-key") ? &tls->key
                       : !strcmp(flag, "--tls-ca")  ? &tls->ca
                                                    : NULL;
    if (dst) {
        *dst = v;
    }
    return dst != NULL;
}

bool tr_cli_tls_given(const tr_cli_tls *tls) {
    return tls->cert || tls->key || tls->ca;
}

int tr_cli_tls_check(const char *cmd, const tr_cli_tls *tls, char *cn, size_t cn_cap) {
    cn[0] = 0;
    if (!tr_cli_tls_given(tls)) {
        return 0;
    }
    if (!tls->cert || !tls->key || !tls->ca) {
        fprintf(stderr, "troupe %s: --tls-cert, --tls-key and --tls-ca go together (missing %s)\n",
                cmd,
                !tls->cert  ? "--tls-cert"
                : !tls->key ? "--tls-key"
                            : "--tls-ca");
        return -1;
    }
    tr__tls_ctx *ctx;
    char err[512];
    if (tr__tls_ctx_load(tls->cert, tls->key, tls->ca, &ctx, err, sizeof err)) {
        fprintf(stderr, "troupe %s: %s\n", cmd, err);
        return -1;
    }
    snprintf(cn, cn_cap, "%s", tr__tls_ctx_name(ctx));
    tr__tls_ctx_free(ctx);
    return 0;
}

int tr_cli_read_secret_opt(const char *cmd, const char *file, bool tls, uint8_t *out, size_t *len) {
    if (tls && !file && !getenv("TROUPE_SECRET")) {
        *len = 0;
        return 0;
    }
    return tr_cli_read_secret(cmd, file, out, len);
}

const char *tr_cli_tls_hint(const tr_cli_tls *tls, const char *why) {
    if (tr_cli_tls_given(tls) || !strstr(why, "peer closed the connection")) {
        return "";
    }
    return " (if the node runs mutual TLS, give --tls-cert, --tls-key and --tls-ca)";
}

int tr_cli_wait_server(const char *cmd, tr_cluster *cl, uint32_t timeout_ms, const tr_cli_tls *tls,
                       uint32_t *server) {
    int rc = tr_cluster_wait_peer(cl, timeout_ms, server);
    if (rc == TR_EAUTH || rc == TR_EUNREACH) {
        char why[256];
        tr_cluster_peer_error(cl, why, sizeof why);
        fprintf(stderr, "%s: %s%s\n", cmd, why, tr_cli_tls_hint(tls, why));
    } else if (rc) {
        fprintf(stderr,
                "%s: timed out: no authenticated connection (node down, "
                "wrong secret or cluster name?)\n",
                cmd);
    }
    return rc;
}
