/*
 * policy.h — a node's access policy: which senders may send which request types to which
 * registered names (docs/access-control.md). The parser and the matcher only: no I/O
 * beyond reading the file, no clock, no threads (policy_gate.h enforces it on a node).
 *
 * Format: one rule a line, `allow|deny FROM TYPES NAME`; `#` starts a comment; blank lines
 * are ignored. FROM is a sender's HELLO name (member or client), `members`, `clients` or
 * `*`; TYPES a number, a range `A-B` (A <= B), `*`, or a request name (`read`) that the
 * caller's resolver turns into its type for the rule's NAME; NAME a registered name or `*`.
 *
 * Invariants: rules keep the file's order; the first rule that matches decides; a request
 * no rule matches is denied. A parsed policy is immutable, so any number of readers may
 * share it.
 * Limits: at most TR__POLICY_RULES_MAX rules, lines of at most TR__POLICY_LINE_MAX bytes,
 * files of at most TR__POLICY_FILE_MAX bytes; names of at most TR_NAME_MAX bytes. Anything
 * over a limit is a parse error naming the line.
 */
#ifndef TR_CLUSTER_POLICY_H
#define TR_CLUSTER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TR__POLICY_RULES_MAX 1024
#define TR__POLICY_LINE_MAX 256
#define TR__POLICY_FILE_MAX (TR__POLICY_RULES_MAX * TR__POLICY_LINE_MAX)

typedef struct tr__policy tr__policy;

/* The sender and the request being checked. Every pointer is borrowed for the call. */
typedef struct tr__policy_request {
    const char *from; /* the sender's HELLO name */
    bool client;      /* the sender authenticated as a client (else a member) */
    uint32_t type;
    const char *to_name; /* the envelope's to_name, or NULL when sent to an actor id */
    /* With to_name NULL: is the receiver registered under `name`? (A rule naming a
     * registered name also covers requests sent to that actor's id.) May be NULL: then a
     * rule naming a registered name never matches an id-addressed request. */
    bool (*registered_as)(void *ud, const char *name);
    void *ud;
} tr__policy_request;

/* Request names in TYPES: resolve(ud, request, to_name, &type) gives the type of `request`
 * for the receiver `to_name` (a registered name, or "*"): 0, TR_ENOENT (no such request) or
 * TR_EINVAL (ambiguous). Called while parsing only. */
typedef struct tr__policy_names {
    int (*resolve)(void *ud, const char *request, const char *to_name, uint32_t *type_out);
    void *ud;
} tr__policy_names;

/* Parses text[0..len) (need not be NUL-terminated); names (borrowed for the call; NULL: no
 * request names) resolves request names. 0 with *out owned (tr__policy_destroy), or
 * TR_EINVAL / TR_ETOOBIG / TR_ENOMEM with a one-line reason in err ("line N: ..."). */
int tr__policy_parse(const char *text, size_t len, const tr__policy_names *names, tr__policy **out,
                     char *err, size_t err_cap);

/* Reads and parses the file at path; errors as tr__policy_parse, plus TR_EIO (unreadable);
 * err then starts with the path. */
int tr__policy_load(const char *path, const tr__policy_names *names, tr__policy **out, char *err,
                    size_t err_cap);

void tr__policy_destroy(tr__policy *p);

uint32_t tr__policy_rule_count(const tr__policy *p);

/* The index of the first rule matching r, or -1 when none does. */
int tr__policy_match(const tr__policy *p, const tr__policy_request *r);

/* True when the first matching rule is an allow rule (no match: false). */
bool tr__policy_allows(const tr__policy *p, const tr__policy_request *r);

#endif
