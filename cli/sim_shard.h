/* sim_shard.h — a sweep's summary as `troupe sim` prints it, and `troupe sim --merge`, which
 * combines the summaries of a sweep's shards (--shard I/N) into the unsharded run's. */
#ifndef TR_CLI_SIM_SHARD_H
#define TR_CLI_SIM_SHARD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Room for a replay line or the options of a sweep. */
#define TR__SWEEP_LINE_MAX 2048
/* --shard I/N: at most this many shards. */
#define TR__SWEEP_SHARDS_MAX 1024u

/* The summary of a sweep of seeds lo..hi, or of its shard `shard` of `shards` (the seeds s
 * with (s - lo) mod shards == shard; an unsharded sweep is shard 0 of 1). */
typedef struct tr__sweep_tally {
    uint64_t lo, hi;
    uint32_t shard, shards;
    uint64_t runs, held, violated, unknown, errors;
    uint64_t first_bad, first_unknown; /* valid when violated, unknown > 0 */
    char bad_replay[TR__SWEEP_LINE_MAX], unknown_replay[TR__SWEEP_LINE_MAX];
    /* the replay line of seed lo: the sweep's options (every shard of a sweep has them) */
    char options[TR__SWEEP_LINE_MAX];
    double wall_s; /* wall time spent (shards: summed) */
} tr__sweep_tally;

/* "I/N" with 0 <= I < N <= TR__SWEEP_SHARDS_MAX into *shard, *shards; TR_EINVAL if not. */
int tr__sweep_parse_shard(const char *s, uint32_t *shard, uint32_t *shards);

/* Whether seed belongs to t's shard. */
bool tr__sweep_in_shard(const tr__sweep_tally *t, uint64_t seed);

/* The summary as text (to f) and as one JSON line (to stdout). */
void tr__sweep_print_text(const tr__sweep_tally *t, FILE *f);
void tr__sweep_print_json(const tr__sweep_tally *t);

/* The exit status of the sweep: 2 errors, 1 violated, 3 unknown, else 0. */
int tr__sweep_exit(const tr__sweep_tally *t);

/* `troupe sim --merge [--json] FILE...` (argv as tr_cli_sim's): the merged summary printed,
 * the sweep's exit status returned, or 2 after one line naming what is wrong with the input. */
int tr__sim_merge(int argc, char **argv);

/* `troupe sim --seeds A..B --jobs N ...` (argv without --jobs, already validated as a sweep of
 * a built-in workload without --shard): runs the N shards as processes of this program at
 * once, their --json outputs in temporary files, and prints the merged summary (text, or
 * text on stderr and the JSON line with json) as the unsharded sweep would; returns its exit
 * status, or 2 when a shard could not run. */
int tr__sim_jobs(int argc, char **argv, uint32_t jobs, bool json);

/* Writes s to stdout as a JSON string, quoted and escaped. */
void tr__json_string(const char *s);

#endif
