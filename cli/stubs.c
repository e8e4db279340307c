/* stubs.c — subcommands whose issues have not landed yet say so and exit non-zero.
 * Each is removed from here when its real implementation lands. */
#include "cli/cli.h"

