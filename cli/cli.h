/* cli.h — the subcommands of the troupe binary. Each takes (argc, argv) with argv[0] the
 * subcommand name and returns the process exit code: 0 ok, 1 a property or check failed,
 * 2 usage or tool error. */
#ifndef TR_CLI_H
#define TR_CLI_H

int tr_cli_version(int argc, char **argv);
int tr_cli_bench(int argc, char **argv);
int tr_cli_sim(int argc, char **argv);

/* `troupe sim ARGS` once, printing nothing but errors, for the benchmarks: the simulation
 * calls' virtual time, wall and thread-CPU time (set-up and checkers excluded, as in the
 * report), events and trace hash. Returns the exit status troupe sim would (0/1/2); plain
 * single-seed runs only (no sweep, --json, --history, --scenario or --check-determinism). */
typedef struct tr_cli_sim_timing {
    double virtual_s, wall_s, cpu_s;
    unsigned long long events, trace_hash;
} tr_cli_sim_timing;
int tr_cli_sim_measure(int argc, char **argv, tr_cli_sim_timing *out);
int tr_cli_check(int argc, char **argv);
int tr_cli_node(int argc, char **argv);
int tr_cli_call(int argc, char **argv);

#endif
