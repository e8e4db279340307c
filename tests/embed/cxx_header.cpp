// troupe.h compiles as C++ (-std=c++17 -Wall -Wextra -Werror -pedantic) and describes the same
// layout to C++ as to C: the sizes and offsets below must equal those layout.c computes.
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "troupe.h"

extern "C" size_t embed_c_layout(size_t *out, size_t cap);

int main() {
    const size_t v[] = {
        sizeof(tr_msg),         alignof(tr_msg),           offsetof(tr_msg, next_),
        offsetof(tr_msg, type), offsetof(tr_msg, body),    offsetof(tr_msg, size_class_),
        sizeof(tr_sim_config),  sizeof(tr_cluster_config), sizeof(tr_sim_stats),
        sizeof(tr_behaviour),   sizeof(tr_sup_spec),       sizeof(tr_addr),
    };
    size_t c[sizeof v / sizeof *v];
    if (embed_c_layout(c, sizeof v / sizeof *v) != sizeof v / sizeof *v) {
        std::fprintf(stderr, "cxx: the C and C++ lists differ in length\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        if (c[i] != v[i]) {
            std::fprintf(stderr, "cxx: layout item %zu is %zu in C, %zu in C++\n", i, c[i], v[i]);
            return 1;
        }
    }
    tr_sim_config cfg;
    tr_sim_config_init(&cfg);
    if (cfg.nodes == 0 || std::strcmp(tr_err_name(TR_EINVAL), "TR_EINVAL") != 0) {
        std::fprintf(stderr, "cxx: the public API misbehaves from C++\n");
        return 1;
    }
    std::printf("cxx: troupe.h compiles as C++17 with the C layout\n");
    return 0;
}
