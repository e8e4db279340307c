/*
 * trace_spans.c — the span recorder of a node (trace_spans.h): which activations get a span,
 * and the bounded ring that holds them until they are written.
 */
#include "runtime/trace_spans.h"

#include <string.h>

#include "runtime/assert.h"

static uint64_t load64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t mix(uint64_t x) { /* splitmix64's finaliser: trace ids need not be random */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

int tr__spans_init(tr__spans *sp, double sample) {
    if (sp == NULL || !(sample >= 0.0 && sample <= 1.0)) {
        return TR_EINVAL;
    }
    memset(sp, 0, sizeof *sp);
    pthread_mutex_init(&sp->lock, NULL);
    sp->sample_below = sample >= 1.0 ? UINT64_MAX : (uint64_t)(sample * 18446744073709551616.0);
    return 0;
}

void tr__spans_fini(tr__spans *sp) {
    if (sp != NULL) {
        pthread_mutex_destroy(&sp->lock);
    }
}

void tr__spans_hook(tr__spans *sp, const tr__spans_hooks *h) {
    TR_ASSERT(h->clock_ns != NULL && h->sink != NULL);
    sp->hooks = *h;
}

void tr__spans_attach(tr_node *node, tr__spans *sp) {
    atomic_store_explicit(&node->spans, sp, memory_order_release);
}

void tr__spans_detach(tr_node *node) {
    atomic_store_explicit(&node->spans, NULL, memory_order_release);
}

static bool sampled(const tr__spans *sp, const tr_trace *t) {
    if (t->flags & TR_TRACE_SAMPLED) {
        return tr_trace_is_set(t);
    }
    if (sp->sample_below == 0 || !tr_trace_is_set(t)) {
        return false;
    }
    uint64_t h = mix(load64(t->id) ^ mix(load64(t->id + 8)));
    return sp->sample_below == UINT64_MAX || h < sp->sample_below;
}

static void push(tr__spans *sp, const tr__span *s) {
    pthread_mutex_lock(&sp->lock);
    if (sp->hooks.sink != NULL) {
        sp->hooks.sink(sp->hooks.ud, s);
        sp->recorded++;
        pthread_mutex_unlock(&sp->lock);
        return;
    }
    if (sp->len == TR__SPANS_CAP) { /* full: the oldest goes */
        sp->head = (sp->head + 1) % TR__SPANS_CAP;
        sp->len--;
        sp->dropped++;
    }
    sp->ring[(sp->head + sp->len) % TR__SPANS_CAP] = *s;
    sp->len++;
    sp->recorded++;
    pthread_mutex_unlock(&sp->lock);
}

static uint64_t now_ns(const tr__spans *sp, tr_node *node) {
    return sp->hooks.clock_ns != NULL ? sp->hooks.clock_ns(sp->hooks.ud)
                                      : node->ops->now_ns(node->engine, node);
}

int tr__spans_receive(tr__spans *sp, tr_ctx *ctx, tr_actor *a, const tr_msg *m) {
    if (!sampled(sp, &m->trace)) {
        return a->beh->receive(ctx, a->state, m);
    }
    tr_node *node = ctx->node;
    tr__span s;
    memset(&s, 0, sizeof s);
    memcpy(s.trace_id, m->trace.id, sizeof s.trace_id);
    tr_trace_span_of(m, s.id);
    memcpy(s.parent, m->trace.span, sizeof s.parent);
    s.actor = m->to;
    s.from = m->from;
    s.type = m->type;
    snprintf(s.name, sizeof s.name, "%s", a->beh->name ? a->beh->name : "actor");
    snprintf(s.node_name, sizeof s.node_name, "%s", node->name);
    s.start_ns = now_ns(sp, node);
    int rc = a->beh->receive(ctx, a->state, m); /* m stays valid: the run loop owns it */
    s.end_ns = now_ns(sp, node);
    push(sp, &s);
    return rc;
}

uint32_t tr__spans_take(tr__spans *sp, tr__span *out, uint32_t max) {
    pthread_mutex_lock(&sp->lock);
    uint32_t n = sp->len < max ? sp->len : max;
    for (uint32_t i = 0; i < n; i++) {
        out[i] = sp->ring[(sp->head + i) % TR__SPANS_CAP];
    }
    sp->head = (sp->head + n) % TR__SPANS_CAP;
    sp->len -= n;
    pthread_mutex_unlock(&sp->lock);
    return n;
}

void tr__spans_counts(tr__spans *sp, uint64_t *recorded, uint64_t *dropped) {
    pthread_mutex_lock(&sp->lock);
    *recorded = sp->recorded;
    *dropped = sp->dropped;
    pthread_mutex_unlock(&sp->lock);
}

uint64_t tr__spans_now_ns(tr_node *node) {
    return node->ops->now_ns(node->engine, node);
}

uint64_t tr__spans_random(tr_node *node) {
    return node->ops->random(node->engine, node);
}

bool tr__spans_sampled(tr_node *node, const tr_trace *t) {
    tr__spans *sp = atomic_load_explicit(&node->spans, memory_order_acquire);
    return sp != NULL && sampled(sp, t);
}

void tr__spans_record(tr_node *node, const tr_trace *t, const tr__span *s) {
    tr__spans *sp = atomic_load_explicit(&node->spans, memory_order_acquire);
    if (sp != NULL && sampled(sp, t)) {
        push(sp, s);
    }
}
