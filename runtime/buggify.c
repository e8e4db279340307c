/*
 * buggify.c — TR_BUGGIFY's out-of-line half (troupe.h, "Fault points"): names the fault point
 * and asks the node's engine.
 *
 * A site is named by a hash of its file name without directories and its line, so that the
 * same code built in another directory names its sites alike (the simulator's answers, and so
 * a run's trace hash, must not depend on where the tree was built). The engine decides: the
 * real engine has no buggify op and the answer is false; the sim engine answers from the
 * seed. tr_buggify_sims counts the simulations alive with buggify on: while it is 0 the macro
 * does not call here at all.
 */
#include <string.h>

#include "runtime/assert.h"
#include "runtime/internal.h"

/* Written by the sim engine at create and destroy (atomically, relaxed: it only tells the
 * macro whether calling here can be worth it; the engine's op decides), read by the macro. */
int tr_buggify_sims;

static uint64_t site_id(const char *file, int line) {
    const char *base = strrchr(file, '/');
    base = base != NULL ? base + 1 : file;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)base; *p != '\0'; p++) {
        h = (h ^ *p) * 0x100000001b3ull;
    }
    return (h ^ (uint64_t)(uint32_t)line) * 0x100000001b3ull;
}

bool tr_buggify_point(tr_ctx *ctx, const char *file, int line) {
    TR_ASSERT(ctx != NULL && file != NULL);
    tr_node *node = ctx->node;
    if (node->ops->buggify == NULL) {
        return false;
    }
    return node->ops->buggify(node->engine, node, site_id(file, line));
}
