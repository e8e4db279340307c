/* cli.h — the subcommands of the troupe binary. Each takes (argc, argv) with argv[0] the
 * subcommand name and returns the process exit code: 0 ok, 1 a property or check failed,
 * 2 usage or tool error, 3 a check could not decide (a search budget ran out). */
#ifndef TR_CLI_H
#define TR_CLI_H

int tr_cli_version(int argc, char **argv);
int tr_cli_bench(int argc, char **argv);
int tr_cli_sim(int argc, char **argv);

int tr_cli_check(int argc, char **argv);
int tr_cli_node(int argc, char **argv);
int tr_cli_call(int argc, char **argv);
int tr_cli_status(int argc, char **argv);

#endif
