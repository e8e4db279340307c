/*
 * sim_shard.c — a sweep's summary (text and one JSON line) and `troupe sim --merge`.
 *
 * A sweep of seeds A..B splits into N shards: seed s belongs to shard (s - A) mod N, shards
 * counted from 0, so every shard holds within one seed of the same count. Each shard's
 * `--json` output ends with its summary line; --merge reads the outputs of all N shards,
 * checks that they are the N shards of one sweep (same range, same options, each shard once,
 * each complete), and prints the summary the unsharded sweep prints: the counts summed, the
 * smallest failing seed across shards with its replay line, the wall times summed.
 */
#include "cli/sim_shard.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "troupe.h"

/* The longest line of a shard's output read (a seed's line carries its counterexamples). */
#define LINE_MAX_BYTES (1u << 20)
/* The most seeds a sweep holds (--seeds). */
#define SWEEP_SEEDS_MAX 1000000u

int tr__sweep_parse_shard(const char *s, uint32_t *shard, uint32_t *shards) {
    char *end;
    if (s == NULL || *s < '0' || *s > '9') {
        return TR_EINVAL;
    }
    errno = 0;
    unsigned long i = strtoul(s, &end, 10);
    if (errno != 0 || *end != '/' || end[1] < '0' || end[1] > '9') {
        return TR_EINVAL;
    }
    unsigned long n = strtoul(end + 1, &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > TR__SWEEP_SHARDS_MAX || i >= n) {
        return TR_EINVAL;
    }
    *shard = (uint32_t)i;
    *shards = (uint32_t)n;
    return 0;
}

bool tr__sweep_in_shard(const tr__sweep_tally *t, uint64_t seed) {
    return (seed - t->lo) % t->shards == t->shard;
}

/* How many seeds of lo..hi shard `shard` of `shards` holds. */
static uint64_t shard_seeds(uint64_t lo, uint64_t hi, uint32_t shard, uint32_t shards) {
    uint64_t total = hi - lo + 1;
    return total / shards + (shard < total % shards);
}

void tr__sweep_print_text(const tr__sweep_tally *t, FILE *f) {
    fprintf(f, "seeds %" PRIu64 "..%" PRIu64, t->lo, t->hi);
    if (t->shards > 1) {
        fprintf(f, " (shard %u/%u)", t->shard, t->shards);
    }
    fprintf(f,
            ": %" PRIu64 " runs, %" PRIu64 " held, %" PRIu64 " violated, %" PRIu64
            " unknown, %" PRIu64 " errors, %.1f s wall\n",
            t->runs, t->held, t->violated, t->unknown, t->errors, t->wall_s);
    if (t->violated > 0) {
        fprintf(f, "first violating seed %" PRIu64 "; replay: %s\n", t->first_bad, t->bad_replay);
    }
    if (t->unknown > 0) {
        fprintf(f, "first unknown seed %" PRIu64 "; replay: %s\n", t->first_unknown,
                t->unknown_replay);
    }
}

void tr__json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            printf("\\%c", *s);
        } else if ((unsigned char)*s < 0x20) {
            printf("\\u%04x", (unsigned char)*s);
        } else {
            putchar(*s);
        }
    }
    putchar('"');
}

static void json_first(const char *name, bool any, uint64_t seed, const char *replay) {
    if (!any) {
        printf(",\"first_%s_seed\":null,\"first_%s_replay\":null", name, name);
        return;
    }
    printf(",\"first_%s_seed\":%" PRIu64 ",\"first_%s_replay\":", name, seed, name);
    tr__json_string(replay);
}

void tr__sweep_print_json(const tr__sweep_tally *t) {
    printf("{\"summary\":\"sweep\",\"seeds_from\":%" PRIu64 ",\"seeds_to\":%" PRIu64
           ",\"shard\":%u,\"shards\":%u,\"runs\":%" PRIu64 ",\"held\":%" PRIu64
           ",\"violated\":%" PRIu64 ",\"unknown\":%" PRIu64 ",\"errors\":%" PRIu64,
           t->lo, t->hi, t->shard, t->shards, t->runs, t->held, t->violated, t->unknown, t->errors);
    json_first("violating", t->violated > 0, t->first_bad, t->bad_replay);
    json_first("unknown", t->unknown > 0, t->first_unknown, t->unknown_replay);
    fputs(",\"options\":", stdout);
    tr__json_string(t->options);
    printf(",\"wall_s\":%.3f}\n", t->wall_s);
}

int tr__sweep_exit(const tr__sweep_tally *t) {
    return t->errors > 0 ? 2 : t->violated > 0 ? 1 : t->unknown > 0 ? 3 : 0;
}

/* ---- reading a summary line: exactly the fields tr__sweep_print_json writes, in order ---- */

/* Consumes the literal lit at *p. */
static bool lit(const char **p, const char *lit) {
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n) != 0) {
        return false;
    }
    *p += n;
    return true;
}

static bool read_u64(const char **p, uint64_t *v) {
    char *end;
    if (**p < '0' || **p > '9') {
        return false;
    }
    errno = 0;
    *v = strtoull(*p, &end, 10);
    *p = end;
    return errno == 0;
}

static bool read_u32(const char **p, uint32_t *v) {
    uint64_t x;
    if (!read_u64(p, &x) || x > UINT32_MAX) {
        return false;
    }
    *v = (uint32_t)x;
    return true;
}

/* A JSON string of printable ASCII (\" \\ and \u00XX escapes) into out[TR__SWEEP_LINE_MAX]. */
static bool read_str(const char **p, char *out) {
    size_t n = 0;
    if (!lit(p, "\"")) {
        return false;
    }
    for (const char *s = *p; *s; s++) {
        char c = *s;
        if (c == '"') {
            out[n] = '\0';
            *p = s + 1;
            return n > 0;
        }
        if (c == '\\') {
            unsigned hex;
            if (s[1] == '"' || s[1] == '\\') {
                c = *++s;
            } else if (s[1] == 'u' && sscanf(s + 2, "%4x", &hex) == 1 && hex > 0 && hex < 0x80 &&
                       strspn(s + 2, "0123456789abcdefABCDEF") >= 4) {
                c = (char)hex;
                s += 5;
            } else {
                return false;
            }
        }
        if (n + 1 >= TR__SWEEP_LINE_MAX) {
            return false;
        }
        out[n++] = c;
    }
    return false;
}

/* ,"first_NAME_seed":S,"first_NAME_replay":"..." or both null; *any says which. */
static bool read_first(const char **p, const char *name, bool *any, uint64_t *seed, char *replay) {
    char key[64];
    snprintf(key, sizeof key, ",\"first_%s_seed\":", name);
    if (!lit(p, key)) {
        return false;
    }
    *any = !lit(p, "null");
    if (*any && !read_u64(p, seed)) {
        return false;
    }
    snprintf(key, sizeof key, ",\"first_%s_replay\":", name);
    if (!lit(p, key)) {
        return false;
    }
    return *any ? read_str(p, replay) : lit(p, "null");
}

static bool parse_summary(const char *p, tr__sweep_tally *t) {
    bool bad, unk;
    char *end;
    memset(t, 0, sizeof *t);
    if (!(lit(&p, "{\"summary\":\"sweep\",\"seeds_from\":") && read_u64(&p, &t->lo) &&
          lit(&p, ",\"seeds_to\":") && read_u64(&p, &t->hi) && lit(&p, ",\"shard\":") &&
          read_u32(&p, &t->shard) && lit(&p, ",\"shards\":") && read_u32(&p, &t->shards) &&
          lit(&p, ",\"runs\":") && read_u64(&p, &t->runs) && lit(&p, ",\"held\":") &&
          read_u64(&p, &t->held) && lit(&p, ",\"violated\":") && read_u64(&p, &t->violated) &&
          lit(&p, ",\"unknown\":") && read_u64(&p, &t->unknown) && lit(&p, ",\"errors\":") &&
          read_u64(&p, &t->errors) &&
          read_first(&p, "violating", &bad, &t->first_bad, t->bad_replay) &&
          read_first(&p, "unknown", &unk, &t->first_unknown, t->unknown_replay) &&
          lit(&p, ",\"options\":") && read_str(&p, t->options) && lit(&p, ",\"wall_s\":"))) {
        return false;
    }
    errno = 0;
    t->wall_s = strtod(p, &end);
    if (errno != 0 || end == p || !(t->wall_s >= 0) || strcmp(end, "}") != 0) {
        return false;
    }
    return bad == (t->violated > 0) && unk == (t->unknown > 0);
}

/* ---- --merge ------------------------------------------------------------------------------- */

static int merge_error(const char *file, const char *why) {
    fprintf(stderr, "troupe sim --merge: %s%s%s\n", file ? file : "", file ? ": " : "", why);
    return 2;
}

/* Whether the tally is one consistent shard: its counts add up and its seeds are its own. */
static const char *shard_inconsistent(const tr__sweep_tally *t, uint64_t seed_lines) {
    if (t->hi < t->lo || t->hi - t->lo >= SWEEP_SEEDS_MAX) {
        return "the summary's seed range is not A..B with A <= B and at most 1000000 seeds";
    }
    if (t->shards < 1 || t->shards > TR__SWEEP_SHARDS_MAX || t->shard >= t->shards) {
        return "the summary's shard is not I/N with 0 <= I < N <= 1024";
    }
    if (t->runs != shard_seeds(t->lo, t->hi, t->shard, t->shards) ||
        t->held + t->violated + t->unknown + t->errors != t->runs) {
        return "the summary's counts do not add up to its shard's seeds";
    }
    if (seed_lines != t->runs - t->errors) {
        return "the number of seed lines is not the summary's runs less its errors (a "
               "truncated or edited file)";
    }
    if ((t->violated > 0 &&
         (t->first_bad < t->lo || t->first_bad > t->hi || !tr__sweep_in_shard(t, t->first_bad))) ||
        (t->unknown > 0 && (t->first_unknown < t->lo || t->first_unknown > t->hi ||
                            !tr__sweep_in_shard(t, t->first_unknown)))) {
        return "the summary's first failing seed is not a seed of its shard";
    }
    return NULL;
}

/* Reads one shard's output: its seed lines counted, its last line the summary. 0 or 2. */
static int read_shard(const char *path, tr__sweep_tally *t) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return merge_error(path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t seed_lines = 0;
    bool summary = false;
    const char *why = NULL;
    while (why == NULL && (len = getline(&line, &cap, f)) >= 0) {
        if ((size_t)len > LINE_MAX_BYTES) {
            why = "a line longer than 1 MiB: not troupe sim --json output";
        } else if (len == 0 || line[len - 1] != '\n') {
            why = "its last line is cut short (a truncated file)";
        } else if (summary) {
            why = "a line after the sweep summary";
        } else if (strncmp(line, "{\"seed\":", 8) == 0) {
            seed_lines++;
        } else {
            line[len - 1] = '\0';
            summary = true;
            if (!parse_summary(line, t)) {
                why = strncmp(line, "{\"summary\":\"sweep\",", 19) == 0
                          ? "a malformed sweep summary line"
                          : "a line that is neither a seed's nor the sweep summary";
            }
        }
    }
    bool read_error = ferror(f);
    free(line);
    fclose(f);
    if (why == NULL && read_error) {
        why = "read error";
    }
    if (why == NULL && !summary) {
        why = "no sweep summary line (a truncated file, or not the output of troupe sim "
              "--seeds A..B --shard I/N --json)";
    }
    if (why == NULL) {
        why = shard_inconsistent(t, seed_lines);
    }
    return why ? merge_error(path, why) : 0;
}

/* Adds shard s into the merged tally m (the smallest failing seeds kept). */
static void merge_into(tr__sweep_tally *m, const tr__sweep_tally *s) {
    m->runs += s->runs;
    m->held += s->held;
    m->errors += s->errors;
    m->wall_s += s->wall_s;
    if (s->violated > 0 && (m->violated == 0 || s->first_bad < m->first_bad)) {
        m->first_bad = s->first_bad;
        memcpy(m->bad_replay, s->bad_replay, sizeof m->bad_replay);
    }
    if (s->unknown > 0 && (m->unknown == 0 || s->first_unknown < m->first_unknown)) {
        m->first_unknown = s->first_unknown;
        memcpy(m->unknown_replay, s->unknown_replay, sizeof m->unknown_replay);
    }
    m->violated += s->violated;
    m->unknown += s->unknown;
}

/* The files into the merged tally m: 0, or 2 after the error line. */
static int merge_files(char **files, int count, tr__sweep_tally *m) {
    static tr__sweep_tally s; /* one at a time; large */
    static const char *seen[TR__SWEEP_SHARDS_MAX];
    char why[256];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < count; i++) {
        if (read_shard(files[i], &s) != 0) {
            return 2;
        }
        if (i == 0) {
            *m = s;
            m->shard = 0;
            m->shards = 1;
            m->runs = m->held = m->violated = m->unknown = m->errors = 0;
            m->wall_s = 0;
        } else if (s.lo != m->lo || s.hi != m->hi || s.shards != (uint32_t)count) {
            snprintf(why, sizeof why,
                     "seeds %" PRIu64 "..%" PRIu64 " in %u shards, but %s has %" PRIu64 "..%" PRIu64
                     " in %u: not shards of one sweep",
                     s.lo, s.hi, s.shards, files[0], m->lo, m->hi, (uint32_t)count);
            return merge_error(files[i], why);
        } else if (strcmp(s.options, m->options) != 0) {
            snprintf(why, sizeof why, "its options differ from those of %s: not one sweep",
                     files[0]);
            return merge_error(files[i], why);
        }
        if (s.shards != (uint32_t)count) {
            snprintf(why, sizeof why, "shard %u of %u, but %d files given: give every shard once",
                     s.shard, s.shards, count);
            return merge_error(files[i], why);
        }
        if (seen[s.shard] != NULL) {
            snprintf(why, sizeof why, "shard %u/%u again (also in %s)", s.shard, s.shards,
                     seen[s.shard]);
            return merge_error(files[i], why);
        }
        seen[s.shard] = files[i];
        merge_into(m, &s);
    }
    return 0;
}

int tr__sim_merge(int argc, char **argv) {
    static char *files[TR__SWEEP_SHARDS_MAX];
    static tr__sweep_tally m;
    int count = 0;
    bool json = false, merge = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--merge")) {
            merge = true;
        } else if (argv[i][0] == '-') {
            return merge_error(NULL, "takes only --json and the shards' output files");
        } else if (count == (int)TR__SWEEP_SHARDS_MAX) {
            return merge_error(NULL, "at most 1024 files");
        } else {
            files[count++] = argv[i];
        }
    }
    if (!merge || count == 0) {
        return merge_error(NULL, "needs the output files of a sweep's shards (troupe sim "
                                 "--seeds A..B --shard I/N --json > FILE)");
    }
    if (merge_files(files, count, &m) != 0) {
        return 2;
    }
    tr__sweep_print_text(&m, json ? stderr : stdout);
    if (json) {
        tr__sweep_print_json(&m);
    }
    return tr__sweep_exit(&m);
}

/* ---- troupe sim --jobs N: the shards as local processes, merged ------------------------- */

/* Runs shard `shard` of `jobs`: this program again with argv and "--shard I/N --json", its
 * stdout into the file `out`. The child's pid, or -1. */
static pid_t start_shard(int argc, char **argv, uint32_t shard, uint32_t jobs, const char *out) {
    char spec[32];
    snprintf(spec, sizeof spec, "%u/%u", shard, jobs);
    char **args = calloc((size_t)argc + 6, sizeof *args);
    if (args == NULL) {
        return -1;
    }
    int n = 0;
    args[n++] = "/proc/self/exe";
    args[n++] = "sim";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") != 0) {
            args[n++] = argv[i];
        }
    }
    args[n++] = "--shard";
    args[n++] = spec;
    args[n++] = "--json";
    args[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_TRUNC);
        if (fd < 0 || dup2(fd, 1) < 0) {
            _exit(2);
        }
        execv("/proc/self/exe", args);
        fprintf(stderr, "troupe sim --jobs: cannot run this program again: %s\n", strerror(errno));
        _exit(2);
    }
    free(args);
    return pid;
}

int tr__sim_jobs(int argc, char **argv, uint32_t jobs, bool json) {
    static char names[TR__SWEEP_SHARDS_MAX][64];
    static char *files[TR__SWEEP_SHARDS_MAX];
    static pid_t pids[TR__SWEEP_SHARDS_MAX];
    static tr__sweep_tally m;
    if (jobs < 2 || jobs > TR__SWEEP_SHARDS_MAX) {
        return 2;
    }
    int rc = 0;
    uint32_t made = 0, started = 0;
    for (; made < jobs; made++) {
        snprintf(names[made], sizeof names[made], "/tmp/troupe-sim-jobs-XXXXXX");
        int fd = mkstemp(names[made]);
        if (fd < 0) {
            fprintf(stderr, "troupe sim --jobs: cannot create a file in /tmp: %s\n",
                    strerror(errno));
            rc = 2;
            break;
        }
        close(fd);
        files[made] = names[made];
    }
    for (; rc == 0 && started < jobs; started++) {
        pids[started] = start_shard(argc, argv, started, jobs, files[started]);
        if (pids[started] < 0) {
            fprintf(stderr, "troupe sim --jobs: cannot start shard %u: %s\n", started,
                    strerror(errno));
            rc = 2;
            break;
        }
    }
    for (uint32_t i = 0; i < started; i++) {
        int st;
        while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR) {
        }
    }
    if (rc == 0 && merge_files(files, (int)jobs, &m) != 0) {
        rc = 2;
    }
    if (rc == 0) {
        tr__sweep_print_text(&m, json ? stderr : stdout);
        if (json) {
            tr__sweep_print_json(&m);
        }
        rc = tr__sweep_exit(&m);
    }
    for (uint32_t i = 0; i < made; i++) {
        unlink(files[i]);
    }
    return rc;
}
