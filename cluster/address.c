/* address.c — "host:port" syntax and socket addresses as text (see address.h). */
#include "cluster/address.h"

#include <stdio.h>
#include <string.h>

#include <uv.h>

/* RFC 1123 names: dot-separated labels of letters, digits and '-' (not first or last),
 * each 1..63 bytes, one optional trailing dot. '_' is accepted too (container and service
 * names use it and resolvers pass it through). A last label of digits only is not a name
 * (RFC 1123 2.1: it would be a mistyped IPv4 address such as "10.0.0.256" or "10.1"). */
static const char *check_name(const char *h) {
    size_t n = strlen(h);
    if (n > 1 && h[n - 1] == '.') {
        n--;
    }
    size_t label = 0;
    bool digits = true;
    for (size_t i = 0; i <= n; i++) {
        char ch = i < n ? h[i] : '.';
        if (ch == '.') {
            if (label == 0) {
                return "empty label in host name";
            }
            if (h[i - 1] == '-') {
                return "a host name label ends with '-'";
            }
            if (i < n) {
                label = 0;
                digits = true;
            }
            continue;
        }
        bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && ch != '-' && ch != '_') {
            return "invalid character in host name (letters, digits, '-', '_' and '.')";
        }
        if (ch == '-' && label == 0) {
            return "a host name label starts with '-'";
        }
        digits = digits && ch >= '0' && ch <= '9';
        label++;
    }
    return digits ? "not a valid IPv4 address" : NULL;
}

/* Splits and checks addr. Returns NULL, or why it is refused (a static string). */
const char *tr__address_parse(const char *addr, bool port0_ok, hostport *out) {
    memset(out, 0, sizeof *out);
    size_t len = strlen(addr);
    if (len == 0) {
        return "empty address";
    }
    if (len > TR_ADDR_STR_MAX) {
        return "longer than 63 bytes";
    }
    const char *colon = strrchr(addr, ':');
    if (!colon) {
        return "missing ':port' (want host:port)";
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    long port = 0;
    for (size_t i = 0; i < plen; i++) {
        port = p[i] >= '0' && p[i] <= '9' && i < 5 ? port * 10 + (p[i] - '0') : -1;
        if (port < 0) {
            break;
        }
    }
    if (plen == 0 || port < (port0_ok ? 0 : 1) || port > 65535) {
        return port0_ok ? "port must be a number in 0..65535" : "port must be a number in 1..65535";
    }
    out->port = (int)port;
    size_t hl = (size_t)(colon - addr);
    if (hl == 0) {
        return "empty host (want host:port)";
    }
    memcpy(out->host, addr, hl);
    out->host[hl] = 0;
    if (out->host[0] == '[') {
        if (hl < 3 || out->host[hl - 1] != ']') {
            return "bad bracketed address (want [IPv6]:port)";
        }
        memmove(out->host, out->host + 1, hl - 2);
        out->host[hl - 2] = 0;
        if (uv_ip6_addr(out->host, out->port, (struct sockaddr_in6 *)&out->ss)) {
            return "not a valid IPv6 address inside [ ]";
        }
        out->numeric = true;
        return NULL;
    }
    if (uv_ip4_addr(out->host, out->port, (struct sockaddr_in *)&out->ss) == 0) {
        out->numeric = true;
        return NULL;
    }
    if (strchr(out->host, ':')) { /* "::1:7401": accepted (it always was) if it parses */
        if (uv_ip6_addr(out->host, out->port, (struct sockaddr_in6 *)&out->ss)) {
            return "not a valid IPv6 address (write it as [IPv6]:port)";
        }
        out->numeric = true;
        return NULL;
    }
    return check_name(out->host);
}

int tr__address_check(const char *addr, bool port0_ok, const char **why) {
    hostport hp;
    const char *w = tr__address_parse(addr, port0_ok, &hp);
    if (why) {
        *why = w;
    }
    return w ? TR_EINVAL : 0;
}

bool tr__address_is_wildcard(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) {
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

void tr__address_of_peer(struct uv_tcp_s *tcp, char *out, size_t cap) {
    struct sockaddr_storage ss = {0};
    int len = sizeof ss;
    char ip[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    snprintf(out, cap, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port);
}

void tr__address_format(const sockaddr_any *a, char *out, size_t cap) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->sa.sa_family == AF_INET) {
        uv_ip4_name(&a->in4, ip, sizeof ip);
        snprintf(out, cap, "%s:%d", ip, ntohs(a->in4.sin_port));
    } else {
        uv_ip6_name(&a->in6, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%d", ip, ntohs(a->in6.sin6_port));
    }
}
