/* A host linked as the troupe binary is (the library's sources, hidden visibility, the public
 * API exported): it dlopens the module named by argv[1] and checks that the module's tr_*
 * calls reached the host's own functions, not a copy. Exit 0 when they did. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "troupe.h"

typedef struct embed_probe {
    const char *(*strerror_fn)(int err);
    void (*config_init_fn)(tr_sim_config *cfg);
    const char *einval_message;
    tr_sim_config config;
} embed_probe;

static int fail(const char *what) {
    fprintf(stderr, "embed host: %s\n", what);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        return fail("usage: host MODULE.so");
    }
    /* RTLD_NOW: an unresolved tr_* is an error here, not a crash later. */
    void *module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (module == NULL) {
        return fail(dlerror());
    }
    int (*probe)(embed_probe *) = (int (*)(embed_probe *))dlsym(module, "embed_module_probe");
    if (probe == NULL) {
        return fail("the module has no embed_module_probe");
    }
    embed_probe got;
    memset(&got, 0, sizeof got);
    if (probe(&got) != 0) {
        return fail("the module's probe failed");
    }
    if (got.strerror_fn != tr_strerror || got.config_init_fn != tr_sim_config_init) {
        return fail("the module resolved tr_* to another copy than the host's");
    }
    if (got.einval_message != tr_strerror(TR_EINVAL)) {
        return fail("tr_strerror in the module returned another string than in the host");
    }
    tr_sim_config want;
    tr_sim_config_init(&want);
    if (got.config.seed != want.seed || got.config.nodes != want.nodes ||
        got.config.link_delay_min_ns != want.link_delay_min_ns) {
        return fail("tr_sim_config_init in the module filled another configuration");
    }
    dlclose(module);
    printf("embed host: the module resolved tr_strerror and tr_sim_config_init from the host\n");
    return 0;
}
