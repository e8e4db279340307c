/* node_common.h — what `troupe node` and `troupe call` share: reading the secret (from a
 * file or TROUPE_SECRET, never from a flag), parsing numeric options and checking the
 * syntax of addresses (host names are resolved later, by the transport). */
#ifndef TR_CLI_NODE_COMMON_H
#define TR_CLI_NODE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
