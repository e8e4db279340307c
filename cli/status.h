/* status.h — the node's side of `troupe status` (cli/cmd_status.c): every `troupe node` runs
 * the system actor "troupe-status", which answers any request of a user type with the
 * members as this node's failure detector sees them (name, id, state, phi, address), the
 * names registered on the node and its statistics (docs/status.md has the body's layout).
 * It reads the cluster through cluster.h's view, which it asks the I/O thread to refresh
 * every TR__STATUS_REFRESH_MS, so an answer never waits on the I/O thread and is at most
 * that old; the same view feeds `--metrics` (cli/metrics_http.h). */
#ifndef TR_CLI_STATUS_H
#define TR_CLI_STATUS_H

#include "troupe.h"

#define TR__STATUS_NAME "troupe-status"
#define TR__STATUS_REFRESH_MS 250u

/* Spawns the status actor on node, reading cl (borrowed: cl must outlive the node's
 * actors' activity, as in `troupe node`: tr_cluster_destroy after tr_runtime_destroy). 0, or
 * tr_node_spawn's error. */
int tr__status_spawn(tr_node *node, tr_cluster *cl);

#endif
