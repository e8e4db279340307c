/* stubs.c — subcommands whose issues have not landed yet say so and exit non-zero.
 * Each is removed from here when its real implementation lands. */
#include "cli/cli.h"

int tr_cli_node(int argc, char **argv) { (void)argc; (void)argv; return tr_cli_not_built("node"); }
int tr_cli_call(int argc, char **argv) { (void)argc; (void)argv; return tr_cli_not_built("call"); }
