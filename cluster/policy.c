/* policy.c — the access policy's parser and matcher (see policy.h). */
#include "cluster/policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/assert.h"
#include "troupe.h"

enum {
    FROM_NAME,
    FROM_MEMBERS,
    FROM_CLIENTS,
    FROM_ANY
};

typedef struct rule {
    bool allow;
    uint8_t from_kind;
    uint32_t type_lo, type_hi;
    bool any_name;
    char from[TR_NAME_MAX + 1];
    char name[TR_NAME_MAX + 1];
} rule;

struct tr__policy {
    uint32_t count;
    rule rules[]; /* count of them, in the file's order */
};

static int fail(char *err, size_t cap, int rc, unsigned line, const char *fmt, ...) {
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (line) {
        snprintf(err, cap, "line %u: %s", line, why);
    } else {
        snprintf(err, cap, "%s", why);
    }
    return rc;
}

/* A decimal u32 filling all of s[0..len). */
static bool parse_u32(const char *s, size_t len, uint32_t *out) {
    if (len == 0 || len > 10) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static bool parse_types(const char *s, rule *r) {
    if (!strcmp(s, "*")) {
        r->type_lo = 0;
        r->type_hi = UINT32_MAX;
        return true;
    }
    const char *dash = strchr(s, '-');
    if (!dash) {
        return parse_u32(s, strlen(s), &r->type_lo) && (r->type_hi = r->type_lo, true);
    }
    return parse_u32(s, (size_t)(dash - s), &r->type_lo) &&
           parse_u32(dash + 1, strlen(dash + 1), &r->type_hi) && r->type_lo <= r->type_hi;
}

/* Splits line (NUL-terminated, comment removed) into at most 5 words. */
static int split(char *line, char **words) {
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w;
         w = strtok_r(NULL, " \t\r", &save)) {
        if (n == 5) {
            return 5;
        }
        words[n++] = w;
    }
    return n;
}

/* A request name in TYPES (it starts with a letter) into r's one type. */
static int parse_request(const char *word, const char *to, const tr__policy_names *names,
                         unsigned no, rule *r, char *err, size_t cap) {
    if (!names) {
        return fail(err, cap, TR_EINVAL, no, "request name '%.32s' here: give its number", word);
    }
    int rc = names->resolve(names->ud, word, to, &r->type_lo);
    if (rc) {
        return fail(err, cap, TR_EINVAL, no, "%s request name '%.32s' for '%.63s'; give its number",
                    rc == TR_EINVAL ? "ambiguous" : "unknown", word, to);
    }
    r->type_hi = r->type_lo;
    return 0;
}

static bool is_letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* One non-blank line (comment removed) into r. 0, 1 (blank), or the error (err filled). */
static int parse_rule(char *line, unsigned no, const tr__policy_names *names, rule *r, char *err,
                      size_t cap) {
    char *w[5];
    int n = split(line, w);
    if (n == 0) {
        return 1; /* blank: no rule */
    }
    if (strcmp(w[0], "allow") && strcmp(w[0], "deny")) {
        return fail(err, cap, TR_EINVAL, no, "'%.32s' is not a rule (allow or deny)", w[0]);
    }
    if (n != 4) {
        return fail(err, cap, TR_EINVAL, no, "want '%s FROM TYPES NAME' (4 words), got %d", w[0],
                    n);
    }
    memset(r, 0, sizeof *r);
    r->allow = w[0][0] == 'a';
    r->from_kind = !strcmp(w[1], "members")   ? FROM_MEMBERS
                   : !strcmp(w[1], "clients") ? FROM_CLIENTS
                   : !strcmp(w[1], "*")       ? FROM_ANY
                                              : FROM_NAME;
    if (strlen(w[1]) > TR_NAME_MAX || strlen(w[3]) > TR_NAME_MAX) {
        return fail(err, cap, TR_ETOOBIG, no, "a name is longer than %d bytes", TR_NAME_MAX);
    }
    snprintf(r->from, sizeof r->from, "%s", w[1]);
    if (is_letter(w[2][0])) {
        int rc = parse_request(w[2], w[3], names, no, r, err, cap);
        if (rc) {
            return rc;
        }
    } else if (!parse_types(w[2], r)) {
        return fail(err, cap, TR_EINVAL, no,
                    "bad TYPES '%.32s' (a number, a range A-B with A <= B, a request name, or *)",
                    w[2]);
    }
    r->any_name = !strcmp(w[3], "*");
    snprintf(r->name, sizeof r->name, "%s", w[3]);
    return 0;
}

int tr__policy_parse(const char *text, size_t len, const tr__policy_names *names, tr__policy **out,
                     char *err, size_t err_cap) {
    TR_ASSERT(text != NULL && out != NULL && err != NULL);
    if (len > TR__POLICY_FILE_MAX) {
        return fail(err, err_cap, TR_ETOOBIG, 0, "the file is over %d bytes", TR__POLICY_FILE_MAX);
    }
    tr__policy *p = calloc(1, sizeof *p + TR__POLICY_RULES_MAX * sizeof(rule));
    if (!p) {
        return fail(err, err_cap, TR_ENOMEM, 0, "out of memory");
    }
    unsigned no = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        char line[TR__POLICY_LINE_MAX + 1];
        no++;
        int rc = 0;
        if (end - at > TR__POLICY_LINE_MAX) {
            rc = fail(err, err_cap, TR_ETOOBIG, no, "longer than %d bytes", TR__POLICY_LINE_MAX);
        } else {
            memcpy(line, text + at, end - at);
            line[end - at] = 0;
            char *hash = strchr(line, '#');
            if (hash) {
                *hash = 0;
            }
            if (strlen(line) != end - at && !hash) {
                rc = fail(err, err_cap, TR_EINVAL, no, "contains a NUL byte");
            } else {
                rule r;
                rc = parse_rule(line, no, names, &r, err, err_cap);
                if (rc == 0 && p->count == TR__POLICY_RULES_MAX) {
                    rc = fail(err, err_cap, TR_ETOOBIG, no, "more than %d rules",
                              TR__POLICY_RULES_MAX);
                } else if (rc == 0) {
                    p->rules[p->count++] = r;
                }
                rc = rc > 0 ? 0 : rc;
            }
        }
        if (rc) {
            free(p);
            return rc;
        }
        at = end + 1;
    }
    TR_ASSERT(p->count <= TR__POLICY_RULES_MAX);
    *out = p;
    return 0;
}

int tr__policy_load(const char *path, const tr__policy_names *names, tr__policy **out, char *err,
                    size_t err_cap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_cap, "%s: %s", path, strerror(errno));
        return TR_EIO;
    }
    char *buf = malloc(TR__POLICY_FILE_MAX + 1);
    size_t len = buf ? fread(buf, 1, TR__POLICY_FILE_MAX + 1, f) : 0;
    bool bad = !buf || ferror(f);
    fclose(f);
    int rc;
    if (bad) {
        snprintf(err, err_cap, "%s: cannot read it", path);
        rc = buf ? TR_EIO : TR_ENOMEM;
    } else {
        char why[224];
        rc = tr__policy_parse(buf, len, names, out, why, sizeof why);
        if (rc) {
            snprintf(err, err_cap, "%s: %s", path, why);
        }
    }
    free(buf);
    return rc;
}

void tr__policy_destroy(tr__policy *p) {
    free(p);
}

uint32_t tr__policy_rule_count(const tr__policy *p) {
    return p->count;
}

static bool from_matches(const rule *u, const tr__policy_request *r) {
    switch (u->from_kind) {
    case FROM_ANY: return true;
    case FROM_MEMBERS: return !r->client;
    case FROM_CLIENTS: return r->client;
    default: return !strcmp(u->from, r->from);
    }
}

static bool name_matches(const rule *u, const tr__policy_request *r) {
    if (u->any_name) {
        return true;
    }
    if (r->to_name) {
        return !strcmp(u->name, r->to_name);
    }
    return r->registered_as && r->registered_as(r->ud, u->name);
}

int tr__policy_match(const tr__policy *p, const tr__policy_request *r) {
    TR_ASSERT(p != NULL && r != NULL && r->from != NULL);
    for (uint32_t i = 0; i < p->count; i++) {
        const rule *u = &p->rules[i];
        if (r->type >= u->type_lo && r->type <= u->type_hi && from_matches(u, r) &&
            name_matches(u, r)) {
            return (int)i;
        }
    }
    return -1;
}

bool tr__policy_allows(const tr__policy *p, const tr__policy_request *r) {
    int i = tr__policy_match(p, r);
    return i >= 0 && p->rules[i].allow;
}
