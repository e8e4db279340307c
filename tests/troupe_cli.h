/* troupe_cli.h — running the troupe binary under test (TROUPE_BIN, set by tests/run_suite.sh)
 * from a Criterion suite: one helper for every suite that checks a subcommand end to end. */
#ifndef TR_TEST_TROUPE_CLI_H
#define TR_TEST_TROUPE_CLI_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

/* Runs `ENV '$TROUPE_BIN' SUB ARGS`; its stdout (and stderr when with_stderr, else dropped)
 * goes to out[cap], NUL-terminated and truncated. Returns the exit status; a process that
 * did not exit normally fails the test. env may be "" (or assignments like "A=1 B=2"). */
static inline int troupe_cli(const char *env, const char *sub, const char *args, bool with_stderr,
                             char *out, size_t cap) {
    const char *bin = getenv("TROUPE_BIN");
    cr_assert_not_null(bin, "TROUPE_BIN is not set (run through tests/run_suite.sh)");
    char cmd[1024];
    int n = snprintf(cmd, sizeof cmd, "%s '%s' %s %s %s", env, bin, sub, args,
                     with_stderr ? "2>&1" : "2>/dev/null");
    cr_assert(n > 0 && (size_t)n < sizeof cmd, "command too long: %s %s", sub, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t len = fread(out, 1, cap - 1, p);
    out[len] = '\0';
    int st = pclose(p);
    cr_assert(WIFEXITED(st), "troupe %s %s did not exit normally", sub, args);
    return WEXITSTATUS(st);
}

#endif
