/* The smallest embedding program: a simulated cluster of one node with its store, run for a
 * virtual millisecond. Built from an installed prefix with pkg-config (tests/embed/embed.sh):
 * it links only if troupe.pc names every library libtroupe needs. */
#include <stdio.h>

#include "troupe.h"

int main(void) {
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    cfg.nodes = 1;
    tr_sim *sim = NULL;
    int rc = tr_sim_create(&cfg, &sim);
    if (rc != 0) {
        fprintf(stderr, "program: tr_sim_create: %s\n", tr_strerror(rc));
        return 1;
    }
    tr_sim_run_for(sim, 1000000);
    printf("program: trace-hash: %016llx\n", (unsigned long long)tr_sim_trace_hash(sim));
    tr_sim_destroy(sim);
    return 0;
}
