/* The access policy's parser and matcher (cluster/policy.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/policy.h"
#include "troupe.h"

static tr__policy *parse_ok(const char *text) {
    tr__policy *p = NULL;
    char err[256] = "";
    int rc = tr__policy_parse(text, strlen(text), NULL, &p, err, sizeof err);
    cr_assert_eq(rc, 0, "parse failed: %s", err);
    return p;
}

/* Parses text, expects failure rc with a reason containing want. */
static void parse_bad(const char *text, size_t len, int rc_want, const char *want) {
    tr__policy *p = NULL;
    char err[256] = "";
    int rc = tr__policy_parse(text, len, NULL, &p, err, sizeof err);
    cr_assert_eq(rc, rc_want, "'%.40s': rc %d (%s)", text, rc, err);
    cr_assert_null(p);
    cr_assert(strstr(err, want) != NULL, "reason '%s' lacks '%s'", err, want);
    cr_assert(strchr(err, '\n') == NULL, "one line: '%s'", err);
}

static tr__policy_request req(const char *from, bool client, uint32_t type, const char *to) {
    return (tr__policy_request){.from = from, .client = client, .type = type, .to_name = to};
}

static bool allows(const tr__policy *p, const char *from, bool client, uint32_t type,
                   const char *to) {
    tr__policy_request r = req(from, client, type, to);
    return tr__policy_allows(p, &r);
}

Test(policy, parses_rules_comments_and_blank_lines) {
    tr__policy *p = parse_ok("# a comment\n"
                             "\n"
                             "allow n2 300 echo   # trailing comment\n"
                             "  deny\tclients 256-299 kv\r\n"
                             "allow * * *");
    cr_assert_eq(tr__policy_rule_count(p), 3);
    tr__policy_destroy(p);
    p = parse_ok("");
    cr_assert_eq(tr__policy_rule_count(p), 0);
    tr__policy_destroy(p);
}

Test(policy, bad_lines_are_one_line_errors_naming_the_line) {
    parse_bad("allow * * *\npermit * * *\n", 25, TR_EINVAL, "line 2: 'permit' is not a rule");
    parse_bad("allow * *\n", 10, TR_EINVAL, "line 1: want 'allow FROM TYPES NAME'");
    parse_bad("allow * * * extra\n", 18, TR_EINVAL, "line 1: want");
    parse_bad("\n\nallow * x *\n", 14, TR_EINVAL, "line 3: request name 'x' here");
    parse_bad("deny * 300-299 *\n", 17, TR_EINVAL, "line 1: bad TYPES");
    parse_bad("deny * 4294967296 *\n", 20, TR_EINVAL, "line 1: bad TYPES");
    parse_bad("deny * 1- *\n", 12, TR_EINVAL, "line 1: bad TYPES");
    parse_bad("deny * -5 *\n", 11, TR_EINVAL, "line 1: bad TYPES");
    parse_bad("allow * 1 \0echo\n", 16, TR_EINVAL, "line 1: contains a NUL byte");
    char longname[200];
    snprintf(longname, sizeof longname, "allow %0100d * *\n", 7);
    parse_bad(longname, strlen(longname), TR_ETOOBIG, "line 1: a name is longer than 63");
}

Test(policy, limits_on_lines_rules_and_size) {
    size_t cap = TR__POLICY_FILE_MAX + 2;
    char *text = malloc(cap);
    memset(text, 'x', TR__POLICY_LINE_MAX + 1);
    text[TR__POLICY_LINE_MAX + 1] = '\n';
    parse_bad(text, TR__POLICY_LINE_MAX + 2, TR_ETOOBIG, "line 1: longer than 256 bytes");
    /* a line of exactly the limit is fine (a comment) */
    text[0] = '#';
    text[TR__POLICY_LINE_MAX] = '\n';
    tr__policy *p = NULL;
    char err[256];
    cr_assert_eq(tr__policy_parse(text, TR__POLICY_LINE_MAX + 1, NULL, &p, err, sizeof err), 0,
                 "%s", err);
    tr__policy_destroy(p);
    size_t len = 0;
    for (int i = 0; i <= TR__POLICY_RULES_MAX; i++) {
        len += (size_t)sprintf(text + len, "allow * %d *\n", i);
    }
    char want[64];
    snprintf(want, sizeof want, "line %d: more than %d rules", TR__POLICY_RULES_MAX + 1,
             TR__POLICY_RULES_MAX);
    parse_bad(text, len, TR_ETOOBIG, want);
    memset(text, '\n', cap);
    parse_bad(text, TR__POLICY_FILE_MAX + 1, TR_ETOOBIG, "over");
    free(text);
}

Test(policy, first_matching_rule_decides) {
    tr__policy *p = parse_ok("deny n2 300 echo\n"
                             "allow n2 * echo\n"
                             "allow n2 300 echo\n"
                             "deny * * *\n");
    cr_assert_not(allows(p, "n2", false, 300, "echo"), "the deny before the allows wins");
    cr_assert(allows(p, "n2", false, 301, "echo"));
    tr__policy_request r = req("n2", false, 301, "echo");
    cr_assert_eq(tr__policy_match(p, &r), 1);
    r = req("n3", false, 301, "echo");
    cr_assert_eq(tr__policy_match(p, &r), 3);
    tr__policy_destroy(p);
    p = parse_ok("allow * 300 echo\n"
                 "deny * * *\n");
    cr_assert(allows(p, "n3", true, 300, "echo"), "the allow before the deny wins");
    cr_assert_not(allows(p, "n3", true, 300, "kv"));
    tr__policy_destroy(p);
}

Test(policy, a_request_no_rule_matches_is_denied) {
    tr__policy *p = parse_ok("allow members * *\n"
                             "allow clients 300 echo\n");
    cr_assert(allows(p, "n2", false, 999, "kv"));
    cr_assert(allows(p, "call-1", true, 300, "echo"));
    tr__policy_request r = req("call-1", true, 300, "kv");
    cr_assert_eq(tr__policy_match(p, &r), -1);
    cr_assert_not(tr__policy_allows(p, &r), "no match: denied");
    cr_assert_not(allows(p, "call-1", true, 301, "echo"));
    tr__policy_destroy(p);
    p = parse_ok("# nothing\n");
    cr_assert_not(allows(p, "n2", false, 300, "echo"), "an empty policy denies everything");
    tr__policy_destroy(p);
}

Test(policy, from_matches_names_and_roles) {
    tr__policy *p = parse_ok("allow ops 300 kv\n"
                             "allow members 400-410 *\n"
                             "allow clients 500 *\n");
    cr_assert(allows(p, "ops", true, 300, "kv"), "a client by its HELLO name");
    cr_assert(allows(p, "ops", false, 300, "kv"), "a member by its name");
    cr_assert_not(allows(p, "ops2", true, 300, "kv"));
    cr_assert(allows(p, "n2", false, 400, "x") && allows(p, "n2", false, 410, "y"));
    cr_assert_not(allows(p, "n2", false, 411, "x"), "past the range");
    cr_assert_not(allows(p, "n2", false, 399, "x"), "before the range");
    cr_assert_not(allows(p, "c", true, 400, "x"), "members does not cover clients");
    cr_assert_not(allows(p, "n2", false, 500, "x"), "clients does not cover members");
    cr_assert(allows(p, "c", true, 500, "x"));
    tr__policy_destroy(p);
}

static bool is_kv(void *ud, const char *name) {
    ++*(int *)ud;
    return !strcmp(name, "kv");
}

Test(policy, a_named_rule_covers_requests_sent_to_the_actor_id) {
    tr__policy *p = parse_ok("allow clients 300 kv\n");
    int asked = 0;
    tr__policy_request r = {
        .from = "c", .client = true, .type = 300, .registered_as = is_kv, .ud = &asked};
    cr_assert(tr__policy_allows(p, &r), "the receiver is registered as kv");
    cr_assert_eq(asked, 1);
    r.to_name = "echo";
    cr_assert_not(tr__policy_allows(p, &r), "a name given is compared, not looked up");
    cr_assert_eq(asked, 1);
    r.to_name = NULL;
    r.registered_as = NULL;
    cr_assert_not(tr__policy_allows(p, &r), "no way to tell: the named rule does not match");
    tr__policy_destroy(p);
}

Test(policy, load_names_the_file_in_its_errors) {
    char path[] = "/tmp/troupe-policy-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("allow * * *\nallow * 1-x *\n", f);
    fclose(f);
    tr__policy *p = NULL;
    char err[512];
    cr_assert_eq(tr__policy_load(path, NULL, &p, err, sizeof err), TR_EINVAL);
    char want[600];
    snprintf(want, sizeof want, "%s: line 2: bad TYPES '1-x'", path);
    cr_assert(strstr(err, want) == err, "'%s'", err);
    unlink(path);
    cr_assert_eq(tr__policy_load(path, NULL, &p, err, sizeof err), TR_EIO);
    cr_assert(strstr(err, "No such file") != NULL, "'%s'", err);
}

/* A resolver that knows "read" (300) on "cp" and "get" on both "kv" (301) and "kv2" (302). */
static int fake_resolve(void *ud, const char *request, const char *to, uint32_t *type) {
    (void)ud;
    if (!strcmp(request, "read") && !strcmp(to, "cp")) {
        *type = 300;
        return 0;
    }
    if (!strcmp(request, "get")) {
        if (!strcmp(to, "*")) {
            return TR_EINVAL;
        }
        *type = !strcmp(to, "kv") ? 301 : 302;
        return 0;
    }
    return TR_ENOENT;
}

Test(policy, request_names_resolve_for_the_rules_receiver) {
    tr__policy_names names = {fake_resolve, NULL};
    const char *text = "allow clients read cp\nallow clients get kv\n";
    tr__policy *p = NULL;
    char err[256] = "";
    cr_assert_eq(tr__policy_parse(text, strlen(text), &names, &p, err, sizeof err), 0, "%s", err);
    cr_assert(allows(p, "c", true, 300, "cp"));
    cr_assert_not(allows(p, "c", true, 301, "cp"));
    cr_assert(allows(p, "c", true, 301, "kv"));
    cr_assert_not(allows(p, "c", true, 302, "kv"));
    tr__policy_destroy(p);
    text = "allow clients read cp\nallow * write cp\n";
    cr_assert_eq(tr__policy_parse(text, strlen(text), &names, &p, err, sizeof err), TR_EINVAL);
    cr_assert_str_eq(err, "line 2: unknown request name 'write' for 'cp'; give its number");
    text = "allow * get *\n";
    cr_assert_eq(tr__policy_parse(text, strlen(text), &names, &p, err, sizeof err), TR_EINVAL);
    cr_assert_str_eq(err, "line 1: ambiguous request name 'get' for '*'; give its number");
}
