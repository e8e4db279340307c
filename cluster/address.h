/*
 * address.h — "host:port" addresses of cluster nodes: their syntax, and socket addresses
 * printed back as text.
 *
 * What: an address is a string of at most TR_ADDR_STR_MAX (63) bytes, its host an IPv4
 * literal, an IPv6 literal in brackets ("[::1]:7401") or an RFC 1123 host name
 * ("db-2.internal:7401"; '_' is accepted too). Parsing checks syntax only and resolves
 * nothing: a literal is converted at once, a name is left for the dialler to resolve
 * (dial.h). So a typo fails when an address is configured, with a sentence saying why.
 * Threading: none; every function may be called from any thread.
 */
#ifndef TR_CLUSTER_ADDRESS_H
#define TR_CLUSTER_ADDRESS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "proto/handshake.h"

/* Checks the syntax of a "host:port" address (port 0 only if port0_ok, as for a listen
 * address). 0, or TR_EINVAL with *why (if why is not NULL) set to a static sentence saying
 * what is wrong. Resolves nothing. Any thread. */
int tr__address_check(const char *addr, bool port0_ok, const char **why);

/* A "host:port" split and checked (syntax only: names are resolved later, when dialled). */
typedef struct hostport {
    char host[TR_ADDR_STR_MAX + 1]; /* without the brackets of "[v6]" */
    int port;
    bool numeric;               /* host is an IPv4 or IPv6 literal: ss holds it */
    struct sockaddr_storage ss; /* numeric only */
} hostport;

/* An IPv4 or IPv6 socket address. */
typedef union sockaddr_any {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
} sockaddr_any;

/* Splits and checks addr into *out. Returns NULL, or why it is refused (a static string). */
const char *tr__address_parse(const char *addr, bool port0_ok, hostport *out);
/* Is sa the unspecified address (0.0.0.0 or [::]), which peers cannot dial? */
bool tr__address_is_wildcard(const struct sockaddr *sa);
/* "ip:port" or "[ip6]:port" of a socket address into out (cap bytes, NUL-terminated). */
void tr__address_format(const sockaddr_any *a, char *out, size_t cap);
/* The same for the remote end of a connected TCP handle ("?:0" if it has none). */
struct uv_tcp_s;
void tr__address_of_peer(struct uv_tcp_s *tcp, char *out, size_t cap);

#endif
