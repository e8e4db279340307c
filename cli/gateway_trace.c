/* gateway_trace.c — the W3C trace context of a gateway request (cli/gateway_trace.h). */
#include "cli/gateway_trace.h"

#include <stdio.h>
#include <string.h>

#include "runtime/assert.h"

/* n (8 or 16) bytes of the engine's random stream, not all zero (W3C: an all-zero id is
 * invalid). */
static void random_id(tr_node *node, uint8_t *p, size_t n) {
    TR_ASSERT(n == 8 || n == 16);
    uint64_t w[2];
    do {
        w[0] = tr__spans_random(node);
        w[1] = n == 16 ? tr__spans_random(node) : 0;
    } while ((w[0] | w[1]) == 0);
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(w[i / 8] >> (8 * (i % 8)));
    }
}

void tr__gw_trace_begin(tr_node *node, const char *header, const char *method, const char *path,
                        tr__gw_trace *gt) {
    memset(gt, 0, sizeof *gt);
    tr_trace in;
    if (header == NULL || tr_trace_parse(header, &in) != 0) {
        memset(&in, 0, sizeof in); /* none, or invalid: a trace of the gateway's own */
        random_id(node, in.id, sizeof in.id);
    }
    gt->out = in;
    random_id(node, gt->out.span, sizeof gt->out.span);
    tr__span *s = &gt->span;
    memcpy(s->trace_id, in.id, sizeof s->trace_id);
    memcpy(s->id, gt->out.span, sizeof s->id);
    memcpy(s->parent, in.span, sizeof s->parent); /* zero for a trace of its own: a root */
    s->server = true;
    snprintf(s->name, sizeof s->name, "%s %s", method, path);
    snprintf(s->node_name, sizeof s->node_name, "%s", tr_node_name(node));
    s->start_ns = tr__spans_now_ns(node);
}

void tr__gw_trace_end(tr_node *node, tr__gw_trace *gt, char *out, size_t cap) {
    gt->span.end_ns = tr__spans_now_ns(node);
    tr__spans_record(node, &gt->out, &gt->span);
    int rc = tr_trace_format(&gt->out, out, cap);
    TR_ASSERT(rc == 0); /* the caller's buffer holds a traceparent */
}
