/* test_proto_cli.c — `troupe sim --net protocol` end to end: a paused node is falsely
 * suspected by the real protocol's phi detectors, the services' checks hold, the replay
 * line names the network and replays the run. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/troupe_cli.h"

#define OUT_MAX (1 << 16)

static char out[OUT_MAX], out2[OUT_MAX];
static char scn[64];

static void write_pause_scenario(void) {
    snprintf(scn, sizeof scn, "/tmp/troupe-proto-cli-%d.scn", (int)getpid());
    FILE *f = fopen(scn, "w");
    cr_assert_not_null(f);
    fputs("4s pause n3\n9s resume n3\n", f);
    fclose(f);
}

static const char *trace_of(const char *o) {
    const char *h = strstr(o, "trace-hash: ");
    cr_assert_not_null(h, "%s", o);
    return h + 12;
}

Test(proto_cli, a_paused_node_is_suspected_and_the_checks_hold) {
    write_pause_scenario();
    char args[256];
    snprintf(args, sizeof args, "--net protocol --workload %s --duration 20s --scenario %s", "both",
             scn);
    cr_assert_eq(troupe_cli("", "sim", args, false, out, OUT_MAX), 0, "%s", out);
    const char *p = strstr(out, "protocol: ");
    cr_assert_not_null(p, "%s", out);
    uint64_t dials, suspicions, downs, ups;
    cr_assert_eq(sscanf(p,
                        "protocol: %" SCNu64 " dials, %" SCNu64 " suspicions, %" SCNu64
                        " down / %" SCNu64 " up",
                        &dials, &suspicions, &downs, &ups),
                 4, "%s", p);
    /* n3's four peers suspect it and declare it down; n3 finds its four links reset */
    cr_assert_eq(suspicions, 4, "%s", p);
    cr_assert_eq(downs, 8, "%s", p);
    cr_assert_eq(ups, 20 + 8, "%s", p);
    cr_assert_not_null(
        strstr(out, "stated guarantees        held                               held"), "%s", out);
    /* the protocol is the default network: the replay line needs no --net */
    cr_assert_null(strstr(strstr(out, "replay: "), " --net"), "%s", out);
    /* the same command replays the run, and so does it without --net; the oracle network
     * runs another one, and its replay line names it */
    cr_assert_eq(troupe_cli("", "sim", args, false, out2, OUT_MAX), 0);
    cr_assert_eq(strncmp(trace_of(out), trace_of(out2), 16), 0);
    snprintf(args, sizeof args, "--workload both --duration 20s --scenario %s", scn);
    cr_assert_eq(troupe_cli("", "sim", args, false, out2, OUT_MAX), 0, "%s", out2);
    cr_assert_eq(strncmp(trace_of(out), trace_of(out2), 16), 0, "%s", out2);
    snprintf(args, sizeof args, "--net oracle --workload both --duration 20s --scenario %s", scn);
    cr_assert_eq(troupe_cli("", "sim", args, false, out2, OUT_MAX), 0, "%s", out2);
    cr_assert_neq(strncmp(trace_of(out), trace_of(out2), 16), 0);
    cr_assert_null(strstr(out2, "protocol: "), "no protocol to count under the oracle");
    cr_assert_not_null(strstr(strstr(out2, "replay: "), " --net oracle"), "%s", out2);
    unlink(scn);
}

Test(proto_cli, an_unknown_network_is_a_usage_error) {
    cr_assert_eq(troupe_cli("", "sim", "--net tcp", false, out, OUT_MAX), 2, "%s", out);
}

/* Duplication and reordering are faults of the oracle's message network: under the default
 * protocol network (TCP hides both) asking for them is a usage error that names the way out.
 * --json says which network ran. */
Test(proto_cli, dup_and_reorder_need_the_oracle_and_json_names_the_network) {
    const char *const kinds[] = {"dup", "reorder", "crash,loss,dup"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char args[128];
        snprintf(args, sizeof args, "--nemesis %s --duration 1s", kinds[i]);
        cr_assert_eq(troupe_cli("", "sim", args, true, out, OUT_MAX), 2, "%s", out);
        cr_assert_not_null(strstr(out, "add --net oracle"), "%s", out);
    }
    cr_assert_eq(troupe_cli("", "sim", "--nemesis dup --duration 1s --net oracle --json", false,
                            out, OUT_MAX),
                 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"net\":\"oracle\""), "%s", out);
    cr_assert_not_null(strstr(out, " --net oracle\""), "the replay names the oracle: %s", out);
    cr_assert_eq(troupe_cli("", "sim", "--nemesis none --duration 1s --json", false, out, OUT_MAX),
                 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"net\":\"protocol\""), "%s", out);
}
