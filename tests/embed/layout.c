/* The layout of the public structs as C sees them, for tests/embed/cxx_header.cpp to compare
 * with what C++ sees through the same header. */
#include <stddef.h>

#include "troupe.h"

size_t embed_c_layout(size_t *out, size_t cap);

size_t embed_c_layout(size_t *out, size_t cap) {
    const size_t v[] = {
        sizeof(tr_msg),         _Alignof(tr_msg),          offsetof(tr_msg, next_),
        offsetof(tr_msg, type), offsetof(tr_msg, body),    offsetof(tr_msg, size_class_),
        sizeof(tr_sim_config),  sizeof(tr_cluster_config), sizeof(tr_sim_stats),
        sizeof(tr_behaviour),   sizeof(tr_sup_spec),       sizeof(tr_addr),
    };
    size_t n = sizeof v / sizeof *v;
    for (size_t i = 0; i < n && i < cap; i++) {
        out[i] = v[i];
    }
    return n;
}
