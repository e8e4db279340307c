/* gateway_trace.h — the W3C trace context of a gateway request (docs/gateway.md, "Tracing";
 * docs/tracing.md).
 *
 * A request's `traceparent` header, when valid, names the caller's trace and span: the
 * gateway's span (kind SERVER, the method and path) continues that trace as the caller's
 * child. Without one, or with an invalid one (ignored), the gateway starts a trace of its
 * own, not flagged sampled: the node's --trace-sample decides, as for any trace. The calls
 * the request makes carry the trace with the gateway's span as parent, and the response's
 * `traceparent` names the gateway's span. The span is recorded when the node has a recorder
 * (--trace-out) that samples the trace.
 * Ids: the gateway's span id and a new trace id come from the engine's random stream.
 * Threading: any polling thread; a tr__gw_trace is one request's, on its handler's stack. */
#ifndef TR_CLI_GATEWAY_TRACE_H
#define TR_CLI_GATEWAY_TRACE_H

#include <stdbool.h>

#include "runtime/trace_spans.h"
#include "troupe.h"

typedef struct tr__gw_trace {
    tr_trace out; /* what the calls carry: the trace, the gateway's span, the flags */
    tr__span span;
} tr__gw_trace;

/* Starts the request's span: header (borrowed, the traceparent or NULL), method and path
 * (borrowed, for the span's name). */
void tr__gw_trace_begin(tr_node *node, const char *header, const char *method, const char *path,
                        tr__gw_trace *gt);
/* Ends it and records it (when sampled); out: the response's traceparent (56 bytes). */
void tr__gw_trace_end(tr_node *node, tr__gw_trace *gt, char *out, size_t cap);

#endif
