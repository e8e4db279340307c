/* A module as a user writes one: built -shared, not linked with libtroupe, calling the public
 * API. Loaded into a host that exports troupe.h (the troupe binary, or tests/embed/host.c,
 * linked the same way), its tr_* references resolve to the host's one copy of the runtime. */
#include "troupe.h"

/* What the host checks: the functions this module resolved and what they returned. */
typedef struct embed_probe {
    const char *(*strerror_fn)(int err);
    void (*config_init_fn)(tr_sim_config *cfg);
    const char *einval_message;
    tr_sim_config config;
} embed_probe;

__attribute__((visibility("default"))) int embed_module_probe(embed_probe *out) {
    out->strerror_fn = tr_strerror;
    out->config_init_fn = tr_sim_config_init;
    out->einval_message = tr_strerror(TR_EINVAL);
    tr_sim_config_init(&out->config);
    return 0;
}
