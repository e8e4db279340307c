/*
 * probe.c — tr_probe (troupe.h, "Probes"): hands a service's fact to its node's engine. The
 * real engine has no probe op, so on a real node a probe costs one call and one branch.
 */
#include "runtime/assert.h"
#include "runtime/internal.h"

void tr_probe(tr_ctx *ctx, uint32_t kind, uint64_t a, uint64_t b, uint64_t c) {
    TR_ASSERT(ctx != NULL);
    tr_node *node = ctx->node;
    if (node->ops->probe != NULL) {
        node->ops->probe(node->engine, node, kind, a, b, c);
    }
}
