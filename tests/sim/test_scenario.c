/* Scenario files (sim/scenario.h, `troupe sim --scenario FILE`): the parser in process, and
 * the CLI end to end through TROUPE_BIN (set by tests/run_suite.sh). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/scenario.h"
#include "tests/troupe_cli.h"

#define OUT_MAX (1 << 16)

static char out[OUT_MAX], out2[OUT_MAX];

/* ---- the parser ---------------------------------------------------------------------- */

static int parse(const char *text, uint32_t nodes, tr_scenario *s, char *err) {
    return tr__scenario_parse(text, strlen(text), nodes, s, err, 256);
}

Test(scenario, parses_every_fault_kind_with_its_arguments) {
    const char *text = "# comment\n"
                       "\n"
                       "10s partition halves   # trailing comment\n"
                       "9s partition n1,n2|n3,n4,n5\n"
                       "5s isolate n1\n"
                       "6s oneway n1->n3\n"
                       "6s oneway n2->*\n"
                       "7s ring\n"
                       "8s bridge\n"
                       "20s heal\n"
                       "25s crash n2\n"
                       "30s restart n2\n"
                       "12s pause n3\n"
                       "14s resume n3\n"
                       "15s clock-skew n1 +200ms\n"
                       "16s clock-jump n4 -50ms\n"
                       "17s clock-drift n2 -500ppm\n"
                       "1.5s\tdelay-spike *->n2 50ms for 2s\r\n";
    tr_scenario s;
    char err[256];
    cr_assert_eq(parse(text, 5, &s, err), 0, "%s", err);
    cr_assert_eq(s.count, 16);
    const tr_scen_event *e = s.events;
    cr_assert_eq(e[0].kind, TR_SCEN_PARTITION_HALVES);
    cr_assert_eq(e[0].at_ns, 10000000000ull);
    cr_assert_eq(e[0].line, 3);
    cr_assert_eq(e[1].kind, TR_SCEN_PARTITION);
    cr_assert_eq(e[1].mask, 0x3);
    cr_assert_eq(e[2].kind, TR_SCEN_ISOLATE);
    cr_assert_eq(e[2].a, 0);
    cr_assert_eq(e[3].kind, TR_SCEN_ONEWAY);
    cr_assert(e[3].a == 0 && e[3].b == 2);
    cr_assert(e[4].a == 1 && e[4].b == TR_SIM_ANY);
    cr_assert_eq(e[5].kind, TR_SCEN_RING);
    cr_assert_eq(e[6].kind, TR_SCEN_BRIDGE);
    cr_assert_eq(e[7].kind, TR_SCEN_HEAL);
    cr_assert(e[8].kind == TR_SCEN_CRASH && e[8].a == 1);
    cr_assert(e[9].kind == TR_SCEN_RESTART && e[9].a == 1);
    cr_assert(e[10].kind == TR_SCEN_PAUSE && e[10].a == 2);
    cr_assert(e[11].kind == TR_SCEN_RESUME && e[11].a == 2);
    cr_assert(e[12].kind == TR_SCEN_CLOCK_SKEW && e[12].value == 200000000);
    cr_assert(e[13].kind == TR_SCEN_CLOCK_JUMP && e[13].a == 3 && e[13].value == -50000000);
    cr_assert(e[14].kind == TR_SCEN_CLOCK_DRIFT && e[14].value == -500);
    cr_assert_eq(e[15].kind, TR_SCEN_DELAY_SPIKE);
    cr_assert(e[15].a == TR_SIM_ANY && e[15].b == 1);
    cr_assert_eq(e[15].at_ns, 1500000000ull);
    cr_assert_eq(e[15].extra_ns, 50000000ull);
    cr_assert_eq(e[15].dur_ns, 2000000000ull);
    cr_assert_eq(e[15].line, 18);
    tr__scenario_free(&s);
}

Test(scenario, bad_lines_are_refused_with_their_line_number) {
    static const struct {
        const char *line;
        const char *says;
    } bad[] = {
        {"10 crash n1", "unit"},
        {"10x crash n1", "unit"},
        {"-1s crash n1", "sign"},
        {"abc crash n1", "bad time"},
        {"99999h crash n1", "unit"},
        {"2000m crash n1", "out of range"},
        {"10s", "needs a fault"},
        {"10s explode n1", "unknown fault"},
        {"10s crash", "one node"},
        {"10s crash n1 n2", "one node"},
        {"10s crash n6", "does not exist"},
        {"10s crash n0", "bad node"},
        {"10s crash x1", "bad node"},
        {"10s crash n99999999999999999999", "bad node"},
        {"10s heal now", "no arguments"},
        {"10s partition", "halves"},
        {"10s partition n1,n2", "bad partition"},
        {"10s partition n1,n2|n3,n4", "neither side"},
        {"10s partition n1,n2|n2,n3,n4,n5", "both sides"},
        {"10s partition n1,n1|n3,n4,n5", "twice"},
        {"10s partition |n1,n2,n3,n4,n5", "empty"},
        {"10s partition n1|n2|n3", "bad partition"},
        {"10s oneway n1", "bad link"},
        {"10s oneway n1->n1", "itself"},
        {"10s oneway n1->n9", "does not exist"},
        {"10s clock-skew n1", "offset"},
        {"10s clock-skew n1 200", "unit"},
        {"10s clock-drift n1 fast", "bad drift"},
        {"10s clock-drift n1 600000ppm", "bad drift"},
        {"10s delay-spike n1->n2 50ms 2s", "takes"},
        {"10s delay-spike n1->n2 50ms during 2s", "'for'"},
        {"10s delay-spike n1->n2 -50ms for 2s", "sign"},
        {"1s a b c d e f g h i", "too many words"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256], err[256];
        snprintf(text, sizeof text, "# header\n1s heal\n%s\n2s heal\n", bad[i].line);
        tr_scenario s;
        cr_assert_eq(parse(text, 5, &s, err), TR_EINVAL, "accepted: %s", bad[i].line);
        cr_assert_eq(s.count, 0);
        cr_assert_null(s.events);
        cr_assert(strncmp(err, "line 3: ", 8) == 0, "%s -> %s", bad[i].line, err);
        cr_assert_not_null(strstr(err, bad[i].says), "%s -> %s", bad[i].line, err);
    }
}

Test(scenario, hostile_bytes_never_crash_and_errors_stay_bounded) {
    /* Long lines, NUL bytes and random bytes: refused with a message, never overrun. */
    static char text[8192];
    char err[64];
    tr_scenario s;
    memset(text, 'x', 2000);
    text[2000] = '\n';
    cr_assert_eq(tr__scenario_parse(text, 2001, 5, &s, err, sizeof err), TR_EINVAL);
    cr_assert_not_null(strstr(err, "line 1: longer"), "%s", err);
    cr_assert_eq(tr__scenario_parse("1s heal\n2s he\0al\n", 17, 5, &s, err, sizeof err), TR_EINVAL);
    cr_assert_not_null(strstr(err, "line 2: "), "%s", err);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(x % sizeof text);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* Mostly the grammar's own characters, so some lines get far. */
            static const char alphabet[] = "0123456789smun->|,*# \n+-.abcdefghijklmnoprstuvwz";
            text[i] = (x & 7) == 0 ? (char)(x >> 8) : alphabet[(x >> 8) % (sizeof alphabet - 1)];
        }
        int rc = tr__scenario_parse(text, len, 5, &s, err, sizeof err);
        cr_assert(rc == 0 || rc == TR_EINVAL);
        cr_assert(strlen(err) < sizeof err);
        if (rc == 0) {
            for (size_t i = 0; i < s.count; i++) {
                cr_assert(s.events[i].a < 5 || s.events[i].a == TR_SIM_ANY);
            }
        }
        tr__scenario_free(&s);
    }
    /* An empty file is an empty schedule. */
    cr_assert_eq(tr__scenario_parse("", 0, 5, &s, err, sizeof err), 0);
    cr_assert_eq(s.count, 0);
}

/* ---- the CLI ------------------------------------------------------------------------- */

/* Runs `troupe sim ARGS` (stderr too when `with_stderr`); returns the exit status. */
static int run(char *buf, const char *args, bool with_stderr) {
    return troupe_cli("", "sim", args, with_stderr, buf, OUT_MAX);
}

static void write_file(char *path, const char *text) {
    strcpy(path, "/tmp/troupe_scenario_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static void trace_hash(const char *buf, char hash[17]) {
    const char *h = strstr(buf, "trace-hash: ");
    cr_assert_not_null(h, "no trace-hash line in:\n%s", buf);
    memcpy(hash, h + 12, 16);
    hash[16] = '\0';
}

/* Each kind once, each in a state where it changes something (so each is counted). */
static const char every_fault[] = "# every fault kind\n"
                                  "1s   partition halves\n"
                                  "1.5s heal\n"
                                  "2s   partition n1,n2|n3,n4,n5\n"
                                  "2.5s isolate n1\n"
                                  "3s   ring\n"
                                  "3.5s bridge\n"
                                  "4s   heal\n"
                                  "4.5s oneway n1->n3\n"
                                  "5s   heal\n"
                                  "5.5s crash n2\n"
                                  "6.5s restart n2\n"
                                  "7s   pause n3\n"
                                  "7.5s resume n3\n"
                                  "8s   clock-skew n1 +200ms\n"
                                  "8.5s clock-jump n4 -50ms\n"
                                  "9s   clock-drift n2 500ppm\n"
                                  "9.5s delay-spike n1->n2 50ms for 2s\n";

Test(scenario, every_fault_kind_runs_is_counted_and_is_deterministic) {
    char path[64], args[256], a[17], b[17];
    write_file(path, every_fault);
    snprintf(args, sizeof args, "--duration 12s --scenario %s", path);
    int rc = run(out, args, false);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "faults: partition 5 link-cut 1 heal 3 crash 1 restart 1 "
                                   "pause 1 resume 1 clock-skew 1 clock-drift 1 clock-jump 1 "
                                   "delay-spike 1\n"),
                       "%s", out);
    cr_assert_not_null(strstr(out, "scenario: "), "%s", out);
    cr_assert_not_null(strstr(out, "--nemesis none --duration 12.000s"), "%s", out);
    char *replay = strstr(out, "replay: troupe sim ");
    cr_assert_not_null(replay, "%s", out);
    cr_assert_not_null(strstr(replay, args + strlen("--duration 12s ")), "%s", replay);
    trace_hash(out, a);
    /* The replay line replays: run its arguments again, same hash. */
    char *nl = strchr(replay, '\n');
    cr_assert_not_null(nl);
    *nl = '\0';
    cr_assert_eq(run(out2, replay + strlen("replay: troupe sim "), false), 0, "%s", out2);
    trace_hash(out2, b);
    cr_assert_str_eq(a, b);
    /* And the schedule matters: without it the run is different. */
    cr_assert_eq(run(out2, "--duration 12s --nemesis none", false), 0, "%s", out2);
    trace_hash(out2, b);
    cr_assert_str_neq(a, b);
    unlink(path);
}

Test(scenario, check_determinism_covers_a_scenario) {
    char path[64], args[256];
    write_file(path, every_fault);
    snprintf(args, sizeof args, "--duration 10s --scenario %s --check-determinism", path);
    cr_assert_eq(run(out, args, false), 0, "%s", out);
    cr_assert_not_null(strstr(out, "identical"), "%s", out);
    unlink(path);
}

Test(scenario, bad_files_exit_2_and_name_the_line) {
    static const struct {
        const char *text;
        const char *says;
    } bad[] = {
        {"1s heal\n2s crash n9\n", "line 2: node 'n9' does not exist"},
        {"# c\n\n3s frobnicate\n", "line 3: unknown fault 'frobnicate'"},
        {"1s heal\n30s crash n1\n", "line 2: at 30.000s, not before the end"},
        {"5 crash n1\n", "line 1: bad time '5'"},
    };
    char path[64], args[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        snprintf(args, sizeof args, "--duration 10s --scenario %s", path);
        cr_assert_eq(run(out, args, true), 2, "%s", out);
        cr_assert_not_null(strstr(out, bad[i].says), "want '%s' in:\n%s", bad[i].says, out);
        cr_assert_not_null(strstr(out, path), "%s", out);
        cr_assert_null(strstr(out, "trace-hash"), "%s", out);
        unlink(path);
    }
    cr_assert_eq(run(out, "--scenario /nonexistent/troupe-scenario", true), 2, "%s", out);
    cr_assert_not_null(strstr(out, "cannot read scenario"), "%s", out);
    cr_assert_eq(run(out, "--scenario /tmp", true), 2, "%s", out); /* a directory */
}
