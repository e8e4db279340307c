/* proc.h — real troupe processes for the cluster tests: spawn with logs in a temp dir, run
 * `troupe call` and capture its output, wait for log lines, kill everything at the end.
 * The binary comes from TROUPE_BIN (the test step passes it). */
#ifndef TR_TEST_PROC_H
#define TR_TEST_PROC_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROCS_MAX 16

static pid_t procs[PROCS_MAX];
static char tmpdir[256];
static int port_base;

static inline uint64_t proc_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *troupe_bin(void) {
    const char *b = getenv("TROUPE_BIN");
    cr_assert(b && *b, "TROUPE_BIN is not set");
    return b;
}

/* A block of 20 ports in 20000..31999, below the ephemeral range (32768 up) where outgoing
 * connections take theirs. Tests run in parallel processes (several suites at once, and
 * Criterion's workers in each), so a block is claimed with an advisory lock on a file named
 * after it, held until the process exits: two live tests never share a block. The search
 * starts at a block picked from the pid and moves on past the taken ones. */
static int proc_reserve_ports(void) {
    static int lock_fd = -1;
    int start = (int)(getpid() % 600);
    (void)mkdir("/tmp/troupe-test-ports", 0777); /* one lock file per block, kept for reuse */
    for (int i = 0; i < 600; i++) {
        int block = (start + i) % 600;
        char path[64];
        snprintf(path, sizeof path, "/tmp/troupe-test-ports/%d.lock", block);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        cr_assert(fd >= 0, "cannot open %s", path);
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            if (lock_fd >= 0) {
                close(lock_fd); /* a second setup in one process: the new block replaces it */
            }
            lock_fd = fd;
            return 20000 + block * 20;
        }
        close(fd);
    }
    cr_assert_fail("every test port block in 20000..31999 is taken");
    return -1;
}

/* A fresh temp dir with a secret file; a block of 20 ports (proc_reserve_ports). */
static void proc_setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/troupe-cluster-test-XXXXXX");
    cr_assert(mkdtemp(tmpdir));
    char path[512];
    snprintf(path, sizeof path, "%s/secret", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("cluster-test-secret-0123456789\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/wrong", tmpdir);
    f = fopen(path, "w");
    fputs("not-the-cluster-secret-xyz\n", f);
    fclose(f);
    port_base = proc_reserve_ports();
    memset(procs, 0, sizeof procs);
}

static void proc_teardown(void) {
    for (int i = 0; i < PROCS_MAX; i++) {
        if (procs[i] > 0) {
            kill(procs[i], SIGKILL);
            waitpid(procs[i], NULL, 0);
            procs[i] = 0;
        }
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    (void)!system(cmd);
}

static void proc_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* Spawns troupe with argv (NULL-terminated, without argv[0]); stdout/stderr to files
 * <tmp>/<tag>.out and <tag>.log (appended). Returns the slot index. */
static int proc_spawn(const char *tag, char *const *args) {
    int slot = 0;
    while (slot < PROCS_MAX && procs[slot] > 0) {
        slot++;
    }
    cr_assert_lt(slot, PROCS_MAX);
    char log[512], out[512];
    snprintf(log, sizeof log, "%s/%s.log", tmpdir, tag);
    snprintf(out, sizeof out, "%s/%s.out", tmpdir, tag);
    const char *bin = troupe_bin(); /* asserts here, never in the child */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        setenv("TMPDIR", tmpdir, 1);      /* a SIGKILLed node's temporary store goes with it */
        int fo = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int fl = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fo, 1);
        dup2(fl, 2);
        char *argv[40];
        int n = 0;
        argv[n++] = (char *)bin;
        while (args[n - 1] && n < 39) {
            argv[n] = args[n - 1];
            n++;
        }
        argv[n] = NULL;
        execv(argv[0], argv);
        _exit(127);
    }
    procs[slot] = pid;
    return slot;
}

/* Waits for the process in slot to exit within timeout_ms; its exit code, or -1 (killed on
 * timeout), or 128+signal. */
static int proc_wait(int slot, int timeout_ms) {
    uint64_t until = proc_now_ms() + (uint64_t)timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(procs[slot], &st, WNOHANG);
        if (r == procs[slot]) {
            break;
        }
        if (proc_now_ms() >= until) {
            kill(procs[slot], SIGKILL);
            waitpid(procs[slot], &st, 0);
            procs[slot] = 0;
            return -1;
        }
        usleep(5000);
    }
    procs[slot] = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void proc_signal(int slot, int sig) {
    cr_assert_gt(procs[slot], 0);
    kill(procs[slot], sig);
}

/* Reads a whole file (NUL-terminated, caller frees); "" if absent. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        return strdup("");
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

/* Counts occurrences of `needle` in <tmp>/<tag>.log. */
static int log_count(const char *tag, const char *needle) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.log", tmpdir, tag);
    char *s = slurp(path);
    int n = 0;
    for (char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    free(s);
    return n;
}

/* The last ~1500 bytes of <tag>.log, for failure messages (static buffer). */
static const char *log_tail(const char *tag) {
    static char tail[1600];
    char path[512];
    snprintf(path, sizeof path, "%s/%s.log", tmpdir, tag);
    char *s = slurp(path);
    size_t len = strlen(s);
    snprintf(tail, sizeof tail, "%s", s + (len > 1500 ? len - 1500 : 0));
    free(s);
    return tail;
}

/* Waits until <tag>.log holds at least `count` occurrences of needle. */
static bool log_wait(const char *tag, const char *needle, int count, int timeout_ms) {
    uint64_t until = proc_now_ms() + (uint64_t)timeout_ms;
    while (proc_now_ms() < until) {
        if (log_count(tag, needle) >= count) {
            return true;
        }
        usleep(10000);
    }
    return log_count(tag, needle) >= count;
}

/* Starts `troupe node` named name on port_base + k, seeded with the ports in seeds (-1 ends),
 * with extra args (NULL-terminated). Waits for its node_ready line. Returns the slot. */
static int start_node(const char *name, int k, const int *seeds, ...) {
    static char listen[PROCS_MAX][32], seed_s[PROCS_MAX][256], secret[PROCS_MAX][512];
    char *args[40];
    int n = 0;
    snprintf(listen[k], sizeof listen[k], "127.0.0.1:%d", port_base + k);
    proc_path(secret[k], sizeof secret[k], "secret");
    args[n++] = "node";
    args[n++] = "--name";
    args[n++] = (char *)name;
    args[n++] = "--listen";
    args[n++] = listen[k];
    args[n++] = "--secret-file";
    args[n++] = secret[k];
    if (seeds && seeds[0] >= 0) {
        seed_s[k][0] = 0;
        for (int i = 0; seeds[i] >= 0; i++) {
            char one[32];
            snprintf(one, sizeof one, "%s127.0.0.1:%d", i ? "," : "", port_base + seeds[i]);
            strcat(seed_s[k], one);
        }
        args[n++] = "--seeds";
        args[n++] = seed_s[k];
    }
    va_list ap;
    va_start(ap, seeds);
    for (char *a = va_arg(ap, char *); a && n < 38; a = va_arg(ap, char *)) {
        args[n++] = a;
    }
    va_end(ap);
    args[n] = NULL;
    int before = log_count(name, "event=node_ready");
    int slot = proc_spawn(name, args);
    cr_assert(log_wait(name, "event=node_ready", before + 1, 10000), "%s did not start:\n%s", name,
              log_tail(name));
    return slot;
}

/* Runs `troupe call 127.0.0.1:<port_base+k> actor type json [extra...]`; the reply (stdout)
 * goes to out. Returns the exit code. */
static int call(int k, const char *actor, const char *type, const char *json, char *out, size_t cap,
                const char *secret_name, int timeout_ms) {
    static int seq;
    char addr[32], tag[32], secret[512], tmo[16];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port_base + k);
    snprintf(tag, sizeof tag, "call%d", ++seq);
    proc_path(secret, sizeof secret, secret_name ? secret_name : "secret");
    snprintf(tmo, sizeof tmo, "%d", timeout_ms);
    char *args[] = {"call",          addr,   (char *)actor, (char *)type, (char *)json,
                    "--secret-file", secret, "--timeout",   tmo,          NULL};
    int slot = proc_spawn(tag, args);
    int rc = proc_wait(slot, timeout_ms + 3000);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.out", tmpdir, tag);
    char *s = slurp(path);
    snprintf(out, cap, "%s", s);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '\n') {
        out[--n] = 0;
    }
    free(s);
    return rc;
}

/* Retries a call until it prints `want` (cluster forming, node restarting). */
static bool call_until(int k, const char *actor, const char *type, const char *json,
                       const char *want, int timeout_ms) {
    char out[1024];
    uint64_t until = proc_now_ms() + (uint64_t)timeout_ms;
    do {
        if (call(k, actor, type, json, out, sizeof out, NULL, 2000) == 0 && !strcmp(out, want)) {
            return true;
        }
        usleep(50000);
    } while (proc_now_ms() < until);
    fprintf(stderr, "call_until: %s on port +%d answered '%s', wanted '%s'\n", actor, k, out, want);
    return false;
}

#endif
