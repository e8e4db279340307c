/* The tidy check (scripts/tidy.sh) must catch what it is there for: a clock read outside
 * the engines, and an include against the arrows. Each case builds a small tree in a
 * temporary directory and runs the real script on it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[64];

static void put(const char *rel, const char *text) {
    char path[256], dir[256];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    mkdir(dir, 0700);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static int tidy(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh scripts/tidy.sh %s > %s/out 2>&1", root, root);
    int st = system(cmd);
    cr_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void setup(void) {
    snprintf(root, sizeof root, "/tmp/troupe-tidy-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    put("runtime/ok.c", "#include \"runtime/engine.h\"\nint f(void) { return 0; }\n");
    put("runtime/engine_real.c", "#include <time.h>\nvoid g(struct timespec *t) "
                                 "{ clock_gettime(CLOCK_MONOTONIC, t); }\n");
    put("sim/ok.c", "/* time() in a comment is fine */\nint h(void) { return 1; }\n");
    put("actors/ok.c", "#include \"troupe.h\"\nint k(void) { return 2; }\n");
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    (void)system(cmd);
}

TestSuite(tidy, .init = setup, .fini = teardown);

Test(tidy, passes_a_clean_tree) {
    cr_assert_eq(tidy(), 0);
}

Test(tidy, catches_a_clock_read_in_the_simulator) {
    put("sim/bad.c", "#include <time.h>\nlong t(void) { return time(NULL); }\n");
    cr_assert_eq(tidy(), 1);
}

Test(tidy, catches_rand_and_threads_in_actors) {
    put("actors/bad.c", "#include <stdlib.h>\nint r(void) { return rand(); }\n");
    cr_assert_eq(tidy(), 1);
    put("actors/bad.c", "#include <pthread.h>\nvoid s(pthread_t *t) "
                        "{ pthread_create(t, 0, 0, 0); }\n");
    cr_assert_eq(tidy(), 1);
}

Test(tidy, catches_libuv_outside_the_engine) {
    put("runtime/bad.c", "void u(void *l) { uv_run(l, 0); }\n");
    cr_assert_eq(tidy(), 1);
}

Test(tidy, catches_includes_against_the_arrows) {
    put("runtime/bad.c", "#include \"sim/sim.h\"\n");
    cr_assert_eq(tidy(), 1);
    put("runtime/bad.c", "int ok;\n");
    put("actors/bad.c", "#include \"runtime/internal.h\"\n");
    cr_assert_eq(tidy(), 1);
    put("actors/bad.c", "int ok;\n");
    put("sim/bad.c", "#include \"cluster/transport.h\"\n");
    cr_assert_eq(tidy(), 1);
}
