/* node_common.h — what `troupe node` and `troupe call` share: reading the secret (from a
 * file or TROUPE_SECRET, never from a flag), parsing numeric options and checking the
 * syntax of addresses (host names are resolved later, by the transport). */
#ifndef TR_CLI_NODE_COMMON_H
#define TR_CLI_NODE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

#define TR_CLI_SECRET_MAX 256

/* Reads the secret from `file` (if non-NULL) or the environment variable TROUPE_SECRET.
 * A trailing newline of the file is dropped. Prints the reason and returns -1 on error
 * (none given, unreadable, shorter than 16 bytes, longer than TR_CLI_SECRET_MAX). */
int tr_cli_read_secret(const char *cmd, const char *file, uint8_t *out, size_t *len);
/* Parses an unsigned decimal in [min, max]; prints an error naming `flag` and returns -1. */
int tr_cli_parse_u32(const char *cmd, const char *flag, const char *s, uint32_t min, uint32_t max,
                     uint32_t *out);
/* Parses a decimal number (as strtod: "8", "4.5") in [min, max], finite; prints an error
 * naming `flag` and returns -1. */
int tr_cli_parse_double(const char *cmd, const char *flag, const char *s, double min, double max,
                        double *out);
/* Checks `value`, a "host:port" address (or, if list, a comma-separated list of them),
 * with tr__address_check (port 0 only if port0_ok); prints what is wrong, naming `flag`,
 * and returns -1. */
int tr_cli_check_addr(const char *cmd, const char *flag, const char *value, bool list,
                      bool port0_ok);

/* The --tls-cert / --tls-key / --tls-ca options (docs/tls.md); paths borrowed from argv. */
typedef struct tr_cli_tls {
    const char *cert, *key, *ca;
} tr_cli_tls;
/* Stores v if flag is one of the three; true if it was. */
bool tr_cli_tls_flag(tr_cli_tls *tls, const char *flag, const char *v);
/* True if any of the three was given. */
bool tr_cli_tls_given(const tr_cli_tls *tls);
/* Checks that all three or none were given and that they load (readable, the key matches
 * the certificate, a CA bundle, a CN); the certificate's CN goes to cn[0..cap) ("" without
 * TLS). Prints one line and returns -1 on error. */
int tr_cli_tls_check(const char *cmd, const tr_cli_tls *tls, char *cn, size_t cn_cap);
/* A hint to append to a refusal `why` when the node closed the handshake without a word and
 * no certificate was given (it may run TLS): the hint, or "". */
const char *tr_cli_tls_hint(const tr_cli_tls *tls, const char *why);
/* Waits up to timeout_ms for the client's authenticated connection to its one server (the
 * cluster cl of `troupe call` / `troupe status`); 0 with *server its node id, else prints
 * "troupe CMD: why" (a refusal with its reason, or a timeout) and returns the error. */
int tr_cli_wait_server(const char *cmd, tr_cluster *cl, uint32_t timeout_ms, const tr_cli_tls *tls,
                       uint32_t *server);
/* tr_cli_read_secret, but with TLS (tls true) no secret at all is no error: *len = 0. */
int tr_cli_read_secret_opt(const char *cmd, const char *file, bool tls, uint8_t *out, size_t *len);

#endif
