/* `troupe sim --seeds A..B --shard I/N --json` and `troupe sim --merge` end to end
 * (TROUPE_BIN, set by tests/run_suite.sh): a sweep run as 4 shards and merged prints the
 * unsharded sweep's summary, text and JSON, wall time aside; bad shards and bad --shard
 * values are refused with one line and exit status 2. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/troupe_cli.h"

#define OUT_MAX (1 << 20)
/* A sweep whose planted bug fails some seeds, short enough to run 200 seeds twice. */
#define SWEEP "--workload cp --bug stale-read --duration 500ms"

static char out[OUT_MAX], dir[64];

/* A fresh directory the commands run in (TROUPE_BIN made absolute for it). */
static void make_dir(void) {
    const char *bin = getenv("TROUPE_BIN");
    char abs[4096];
    cr_assert(bin != NULL && realpath(bin, abs) != NULL, "TROUPE_BIN");
    setenv("TROUPE_BIN", abs, 1);
    snprintf(dir, sizeof dir, "/tmp/troupe-shard-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* `troupe sim ARGS` (the format's %s fields filled), run in dir; its exit status. */
static int sim(bool with_err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sim(bool with_err, const char *fmt, ...) {
    char args[768], full[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    /* troupe_cli appends a redirection of stderr: kept off the command's own "2> FILE" */
    snprintf(full, sizeof full, "%s%s", args, strstr(args, "2>") ? "; r=$?; (exit $r)" : "");
    char env[96]; /* troupe_cli's prefix: the command runs in dir */
    snprintf(env, sizeof env, "cd '%s' &&", dir);
    return troupe_cli(env, "sim", full, with_err, out, OUT_MAX);
}

/* The file dir/name, NUL-terminated, in a new buffer. */
static char *slurp(const char *name) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char *buf = calloc(1, OUT_MAX);
    size_t n = fread(buf, 1, OUT_MAX - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* s with the wall times (", 1.2 s wall" and "wall_s":1.234) blanked to "W". */
static void strip_wall(char *s) {
    char *p;
    while ((p = strstr(s, " s wall")) != NULL) {
        char *q = p;
        while (q > s && (q[-1] == '.' || (q[-1] >= '0' && q[-1] <= '9'))) {
            q--;
        }
        memmove(q + 1, p + 7, strlen(p + 7) + 1);
        *q = 'W';
    }
    for (p = strstr(s, "\"wall_s\":"); p; p = strstr(p + 1, "\"wall_s\":")) {
        char *v = p + 9, *e = v;
        while (*e == '.' || (*e >= '0' && *e <= '9')) {
            e++;
        }
        memmove(v + 1, e, strlen(e) + 1);
        *v = 'W';
    }
}

/* The summary at the end of a sweep's stderr (from its "seeds A..B:" line), as a new string. */
static char *text_summary(const char *err, const char *range) {
    char head[64];
    snprintf(head, sizeof head, "\nseeds %s:", range);
    const char *p = NULL;
    for (const char *q = strstr(err, head); q; q = strstr(q + 1, head)) {
        p = q;
    }
    cr_assert_not_null(p, "no summary in:\n%s", err);
    return strdup(p + 1);
}

/* The last line of s, as a new string. */
static char *last_line(const char *s) {
    size_t n = strlen(s);
    cr_assert(n > 0 && s[n - 1] == '\n');
    const char *p = s + n - 1;
    while (p > s && p[-1] != '\n') {
        p--;
    }
    return strdup(p);
}

Test(sim_shard, merge_of_4_shards_is_the_unsharded_sweep_of_200_seeds, .timeout = 240) {
    make_dir();
    int whole = sim(false, "--seeds 1..200 " SWEEP " --json > all.json 2> all.err");
    cr_assert_eq(whole, 1, "the planted bug fails some seeds: exit %d", whole);
    for (int i = 0; i < 4; i++) {
        int rc = sim(false, "--seeds 1..200 --shard %d/4 " SWEEP " --json > s%d.json", i, i);
        cr_assert(rc == 0 || rc == 1, "shard %d: exit %d", i, rc);
    }
    /* the shards out of order: the merge does not depend on it */
    int merged = sim(false, "--merge --json s2.json s0.json s3.json s1.json > m.json 2> m.err");
    cr_assert_eq(merged, whole, "merged exit %d, unsharded %d", merged, whole);
    char *all_json = slurp("all.json"), *all_err = slurp("all.err");
    char *m_json = slurp("m.json"), *m_err = slurp("m.err");
    char *want = last_line(all_json), *want_text = text_summary(all_err, "1..200");
    strip_wall(want);
    strip_wall(m_json);
    strip_wall(want_text);
    strip_wall(m_err);
    cr_assert_str_eq(m_json, want);
    cr_assert_str_eq(m_err, want_text);
    cr_assert(strstr(want, "\"runs\":200,") != NULL, "%s", want);
    cr_assert(strstr(want, "\"first_violating_seed\":") != NULL &&
                  strstr(want, "\"first_violating_seed\":null") == NULL,
              "%s", want);
    /* without --json the merge prints the text summary on stdout */
    cr_assert_eq(sim(false, "--merge s0.json s1.json s2.json s3.json"), whole);
    strip_wall(out);
    cr_assert_str_eq(out, want_text);
    free(all_json), free(all_err), free(m_json), free(m_err), free(want), free(want_text);
    remove_dir();
}

/* Shards of seeds 1..8 in dir (s0..s3.json), for the bad-input tests. */
static void small_shards(void) {
    make_dir();
    for (int i = 0; i < 4; i++) {
        int rc = sim(false, "--seeds 1..8 --shard %d/4 " SWEEP " --json > s%d.json", i, i);
        cr_assert(rc == 0 || rc == 1, "shard %d: exit %d", i, rc);
    }
    cr_assert(sim(true, "--merge s0.json s1.json s2.json s3.json") <= 1, "%s", out);
}

/* `troupe sim --merge FILES` exits 2 with one line on stderr that contains why. */
static void merge_refused(const char *files, const char *why) {
    cr_assert_eq(sim(true, "--merge %s", files), 2, "--merge %s: %s", files, out);
    cr_assert(strstr(out, why) != NULL, "--merge %s: want '%s' in: %s", files, why, out);
    cr_assert(strchr(out, '\n') == out + strlen(out) - 1, "one line: %s", out);
}

Test(sim_shard, merge_refuses_missing_duplicate_truncated_and_foreign_shards, .timeout = 120) {
    small_shards();
    merge_refused("s0.json s1.json s2.json", "3 files given");
    merge_refused("s0.json s1.json s2.json s2.json", "shard 2/4 again");
    merge_refused("", "needs the output files");
    merge_refused("s0.json nosuch.json s2.json s3.json", "nosuch.json");
    cr_assert_eq(sim(false, "--seeds 1..8 --shard 3/4 --workload cp --duration 600ms --json > "
                            "o3.json"),
                 0);
    merge_refused("s0.json s1.json s2.json o3.json", "options differ");
    cr_assert(sim(false, "--seeds 1..12 --shard 3/4 " SWEEP " --json > r3.json") <= 1);
    merge_refused("s0.json s1.json s2.json r3.json", "not shards of one sweep");
    /* truncated: cut inside the summary line, and the summary line dropped */
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && head -c -20 s3.json > t3.json && head -n -1 s3.json "
             "> u3.json && sed 1d s3.json > v3.json && echo hello > g3.json",
             dir);
    cr_assert_eq(system(cmd), 0);
    merge_refused("s0.json s1.json s2.json t3.json", "truncated");
    merge_refused("s0.json s1.json s2.json u3.json", "no sweep summary line");
    merge_refused("s0.json s1.json s2.json v3.json", "number of seed lines");
    merge_refused("s0.json s1.json s2.json g3.json", "neither a seed's nor the sweep summary");
    merge_refused("--seed 3 s0.json", "takes only --json");
    remove_dir();
}

Test(sim_shard, shard_values_are_checked) {
    make_dir();
    const char *bad[] = {"4/4", "1/0", "x/2", "1", "1/2/3", "0/1025", "-1/4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(sim(true, "--seeds 1..8 --shard %s", bad[i]), 2, "%s: %s", bad[i], out);
        cr_assert(strstr(out, "--shard") != NULL && strstr(out, "0 <= I < N <= 1024") != NULL,
                  "%s: %s", bad[i], out);
    }
    cr_assert_eq(sim(true, "--seed 3 --shard 0/2"), 2);
    cr_assert(strstr(out, "needs --seeds A..B") != NULL, "%s", out);
    cr_assert_eq(sim(true, "--seeds 1..3 --shard 0/2 --check-determinism"), 2);
    cr_assert_eq(sim(true, "--workload lock --seeds 1..3 --shard 0/2"), 2);
    cr_assert(strstr(out, "--shard is not an option of troupe sim --load") != NULL, "%s", out);
    remove_dir();
}

Test(sim_shard, jobs_run_the_shards_at_once_and_print_the_unsharded_summary, .timeout = 240) {
    make_dir();
    int whole = sim(false, "--seeds 1..40 " SWEEP " --json > all.json 2> all.err");
    cr_assert_eq(whole, 1, "the planted bug fails some seeds: exit %d", whole);
    int jobs = sim(false, "--seeds 1..40 --jobs 3 " SWEEP " --json > j.json 2> j.err");
    cr_assert_eq(jobs, whole, "--jobs exit %d, unsharded %d", jobs, whole);
    char *all_json = slurp("all.json"), *all_err = slurp("all.err");
    char *j_json = slurp("j.json"), *j_err = slurp("j.err");
    char *want = last_line(all_json), *want_text = text_summary(all_err, "1..40");
    char *got_text = text_summary(j_err, "1..40");
    strip_wall(want);
    strip_wall(j_json);
    strip_wall(want_text);
    strip_wall(got_text);
    cr_assert_str_eq(j_json, want);
    cr_assert_str_eq(got_text, want_text);
    free(all_json), free(all_err), free(j_json), free(j_err), free(want), free(want_text);
    free(got_text);
    cr_assert_eq(sim(true, "--seeds 1..8 --jobs 0"), 2);
    cr_assert(strstr(out, "--jobs N: N from 1 to 1024") != NULL, "%s", out);
    cr_assert_eq(sim(true, "--seed 3 --jobs 2"), 2);
    cr_assert(strstr(out, "needs --seeds A..B") != NULL, "%s", out);
    cr_assert_eq(sim(true, "--seeds 1..8 --jobs 2 --shard 0/2"), 2);
    remove_dir();
}

/* A workload run as a loaded service (lock, with a planted bug that fails some seeds): --jobs
 * prints what the one-process sweep prints, byte for byte (every seed's output in seed order,
 * the summary, the measures, the first failing seed), with the same exit status. */
Test(sim_shard, jobs_of_a_loaded_workload_print_the_one_process_sweep, .timeout = 240) {
    make_dir();
    const char *args = "--workload lock --seeds 1..9 --bug trust-node-down --duration 10s";
    int whole = sim(false, "%s > one.txt", args);
    cr_assert_eq(whole, 1, "the planted bug fails some seeds: exit %d", whole);
    int jobs = sim(false, "%s --jobs 4 > four.txt", args);
    cr_assert_eq(jobs, whole, "--jobs exit %d, one process %d", jobs, whole);
    char *one = slurp("one.txt"), *four = slurp("four.txt");
    cr_assert(strstr(one, "seeds 1..9: 9 runs") != NULL, "%s", one);
    cr_assert(strstr(one, "first failing seed") != NULL, "%s", one);
    cr_assert_str_eq(four, one);
    free(one), free(four);
    cr_assert_eq(sim(true, "--workload lock --seed 3 --jobs 2"), 2);
    cr_assert(strstr(out, "needs --seeds A..B") != NULL, "%s", out);
    cr_assert_eq(sim(true, "--workload lock --seeds 1..3 --jobs 2 --report r"), 2);
    cr_assert(strstr(out, "not --check-determinism, --shrink or --report") != NULL, "%s", out);
    remove_dir();
}
