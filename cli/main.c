/* main.c — the troupe command: dispatches to subcommands (cli/cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "troupe.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"version", tr_cli_version, "print the version"},
    {"bench", tr_cli_bench, "run benchmarks (pingpong counting threadring skynet spawn_mem ...)"},
    {"sim", tr_cli_sim, "run a chaos simulation and check its properties"},
    {"check", tr_cli_check, "check a recorded history file"},
    {"node", tr_cli_node, "run a cluster node"},
    {"call", tr_cli_call, "send one request to a node and print the reply"},
    {"status", tr_cli_status, "show a node's members, names and statistics"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: troupe <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\n'troupe <command> --help' describes a command.\n");
}

int tr_cli_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("troupe %s\n", TR_VERSION_STRING);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        return tr_cli_version(argc - 1, argv + 1);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!strcmp(argv[1], commands[i].name)) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "troupe: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
