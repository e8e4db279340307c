/* metrics_http.h — `troupe node --metrics IPV4:PORT`: GET /metrics in the Prometheus text
 * exposition format (version 0.0.4) and GET /healthz ("ok" while the node runs), served by
 * libmicrohttpd on one thread of its own (docs/metrics.md lists every family).
 *
 * A scrape renders into a buffer of its own: it reads the runtime's counters (relaxed
 * atomics, no lock on the message path; one walk of the actor slots for the mailbox depths)
 * and the last copy of the transport's members and counters (cluster.h's view, refreshed by
 * the I/O thread at least every TR__STATUS_REFRESH_MS), so it never stops the node's
 * threads. Limits: 16 connections, 10 s idle, a rendered page of at most 1 MiB (a larger
 * one is answered 500, never cut short).
 */
#ifndef TR_CLI_METRICS_HTTP_H
#define TR_CLI_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

typedef struct tr__metrics_http tr__metrics_http;

/* Serves addr ("IPV4:PORT", borrowed for the call; port 0: any) for the node of rt and the
 * cluster cl (both borrowed: stop the server before either goes). *out owned:
 * tr__metrics_http_stop. 0, or a negative TR_E code with the reason in err[0..cap). */
int tr__metrics_http_start(tr_runtime *rt, tr_cluster *cl, const char *addr, tr__metrics_http **out,
                           char *err, size_t cap);
uint16_t tr__metrics_http_port(const tr__metrics_http *m);
/* Stops serving, joins its thread, frees it. NULL: nothing. */
void tr__metrics_http_stop(tr__metrics_http *m);
/* The gateway's breakers and the access-control gate a scrape renders (borrowed until the
 * next attach: attach NULLs before either goes; cli/metrics_sources.h). m NULL: nothing. */
struct tr__gw_breakers;
struct tr__policy_gate;
void tr__metrics_http_attach(tr__metrics_http *m, struct tr__gw_breakers *breakers,
                             struct tr__policy_gate *gate);
/* Renders the node's whole page into t's buffer (what GET /metrics answers). */
struct tr__metrics_text;
void tr__metrics_http_render(tr_runtime *rt, tr_cluster *cl, struct tr__metrics_text *t);

#endif
