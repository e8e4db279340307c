/* bench_util.c — the shared pieces of the in-process benchmarks (see bench_util.h). */
#include "bench/bench_util.h"

#include <assert.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t tr_bench_now_ns(void) {
    struct timespec ts;
    int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
    assert(rc == 0);
    (void)rc;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long tr_bench_proc_status_bytes(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    long kb = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, flen) == 0) {
            if (sscanf(line + flen, "%ld", &kb) != 1) {
                kb = -1;
            }
            break;
        }
    }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

int tr_bench_reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f == NULL) {
        return -1;
    }
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* ---- msgpack bodies ------------------------------------------------------------------ */

typedef struct stack_buf {
    uint8_t *data;
    size_t len;
} stack_buf;

/* msgpack_packer's write callback into a TR_BENCH_BODY_MAX buffer. */
static int stack_write(void *data, const char *buf, size_t len) {
    stack_buf *sb = data;
    if (sb->len + len > TR_BENCH_BODY_MAX) {
        return -1;
    }
    memcpy(sb->data + sb->len, buf, len);
    sb->len += len;
    return 0;
}

size_t tr_bench_pack_uint(uint8_t *buf, uint64_t v) {
    stack_buf sb = {buf, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, stack_write);
    int rc = msgpack_pack_uint64(&pk, v);
    assert(rc == 0 && sb.len >= 1 && sb.len <= 9);
    (void)rc;
    return sb.len;
}

size_t tr_bench_pack_addr(uint8_t *buf, tr_addr a) {
    stack_buf sb = {buf, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, stack_write);
    int rc = msgpack_pack_array(&pk, 2);
    rc |= msgpack_pack_uint32(&pk, a.node);
    rc |= msgpack_pack_uint64(&pk, a.actor);
    assert(rc == 0 && sb.len >= 3);
    (void)rc;
    return sb.len;
}

size_t tr_bench_pack_nil(uint8_t *buf) {
    stack_buf sb = {buf, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, stack_write);
    int rc = msgpack_pack_nil(&pk);
    assert(rc == 0 && sb.len == 1);
    (void)rc;
    return sb.len;
}

static uint64_t load_be(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Reads one non-negative msgpack integer at body[*pos]; advances *pos. */
static int read_uint(const uint8_t *body, size_t len, size_t *pos, uint64_t *out) {
    if (*pos >= len) {
        return TR_EPROTO;
    }
    uint8_t tag = body[*pos];
    size_t width;
    bool is_signed = false;
    if (tag <= 0x7f) { /* positive fixint */
        *out = tag;
        *pos += 1;
        return 0;
    }
    switch (tag) {
    case 0xcc: width = 1; break;
    case 0xcd: width = 2; break;
    case 0xce: width = 4; break;
    case 0xcf: width = 8; break;
    case 0xd0: width = 1; is_signed = true; break;
    case 0xd1: width = 2; is_signed = true; break;
    case 0xd2: width = 4; is_signed = true; break;
    case 0xd3: width = 8; is_signed = true; break;
    default: return TR_EPROTO; /* negative fixint, nil, floats, containers... */
    }
    if (len - *pos - 1 < width) {
        return TR_EPROTO;
    }
    uint64_t v = load_be(body + *pos + 1, width);
    if (is_signed && (v >> (width * 8 - 1)) != 0) {
        return TR_EPROTO; /* negative */
    }
    *out = v;
    *pos += 1 + width;
    return 0;
}

int tr_bench_unpack_uint(const uint8_t *body, size_t len, uint64_t *out) {
    size_t pos = 0;
    int rc = read_uint(body, len, &pos, out);
    if (rc != 0 || pos != len) {
        return TR_EPROTO;
    }
    return 0;
}

int tr_bench_unpack_addr(const uint8_t *body, size_t len, tr_addr *out) {
    if (len < 1 || body[0] != 0x92) { /* fixarray of 2 */
        return TR_EPROTO;
    }
    size_t pos = 1;
    uint64_t node, actor;
    if (read_uint(body, len, &pos, &node) != 0 || read_uint(body, len, &pos, &actor) != 0 ||
        pos != len || node > UINT32_MAX) {
        return TR_EPROTO;
    }
    *out = (tr_addr){(uint32_t)node, 0, actor};
    return 0;
}

int tr_bench_msg_uint(const tr_msg *msg, uint64_t *out) {
    return tr_bench_unpack_uint(msg->body, msg->body_len, out);
}

int tr_bench_send_uint(tr_ctx *ctx, tr_addr to, uint32_t type, uint64_t v) {
    uint8_t buf[TR_BENCH_BODY_MAX];
    size_t len = tr_bench_pack_uint(buf, v);
    return tr_send(ctx, to, type, buf, len);
}

/* ---- runs ---------------------------------------------------------------------------- */

int tr_bench_start(const tr_bench_opts *o, const char *bench, tr_bench_env *env) {
    memset(env, 0, sizeof *env);
    tr_config cfg = {0};
    cfg.workers = o->workers;
    int rc = tr_runtime_create(&cfg, &env->rt);
    if (rc != 0) {
        fprintf(stderr, "troupe bench %s: runtime: %s\n", bench, tr_strerror(rc));
        return 2;
    }
    env->node = tr_runtime_node(env->rt);
    rc = tr_inbox_create(env->rt, &env->inbox);
    if (rc != 0) {
        fprintf(stderr, "troupe bench %s: inbox: %s\n", bench, tr_strerror(rc));
        tr_runtime_destroy(env->rt);
        env->rt = NULL;
        return 2;
    }
    env->main = tr_inbox_addr(env->inbox);
    return 0;
}

void tr_bench_stop(tr_bench_env *env) {
    if (env->inbox != NULL) {
        tr_inbox_destroy(env->inbox);
    }
    if (env->rt != NULL) {
        tr_runtime_destroy(env->rt);
    }
    memset(env, 0, sizeof *env);
}

int tr_bench_wait_uint(tr_bench_env *env, const char *bench, uint32_t type, uint64_t *value) {
    tr_msg *msg = NULL;
    int rc = tr_inbox_receive(env->inbox, TR_BENCH_WAIT_MS, &msg);
    if (rc != 0) {
        fprintf(stderr, "troupe bench %s: waiting for the result: %s\n", bench,
                tr_strerror(rc));
        return 1;
    }
    uint32_t got = msg->type;
    rc = tr_bench_msg_uint(msg, value);
    tr_msg_free(msg);
    if (got == TR_BENCH_MSG_FAIL) {
        fprintf(stderr, "troupe bench %s: an actor's check failed (at %llu)\n", bench,
                (unsigned long long)(rc == 0 ? *value : 0));
        return 1;
    }
    if (got != type || rc != 0) {
        fprintf(stderr, "troupe bench %s: unexpected message (type %u, %s)\n", bench, got,
                rc == 0 ? "uint body" : "malformed body");
        return 1;
    }
    return 0;
}

int tr_bench_fail(const tr_bench_opts *o, const char *bench, const char *why) {
    if (o->json) {
        printf("{\"peer\":\"troupe\",\"bench\":\"%s\",\"value\":null,\"unit\":null,"
               "\"error\":\"%s\"}\n", bench, why);
    } else {
        printf("peer=troupe bench=%s value=error unit=%s\n", bench, why);
    }
    fflush(stdout);
    return 1;
}

long tr_bench_size(const tr_bench_opts *o, long standard) {
    return o->n > 0 ? o->n : standard;
}
