/*
 * policy_gate.h — a real node's access policy in force (policy.h is the rule language):
 * the check on each request that arrives from another node or a client, the answer and
 * the log line for a refused one, and the reload on SIGHUP.
 *
 * What is checked: user messages (TR_MSG_USER up to the runtime's system types) that are
 * not replies, from members and clients alike, delivered to a registered name or to an
 * actor id. Not checked: local sends; replies (they answer a request this node made);
 * the runtime's own messages between members (types below TR_MSG_USER: down, exit,
 * timeout; and its system types: monitors, links, exits, kills, which clients may never
 * send anyway).
 * A refused request (bit 63 of corr) is answered at once with the error reply of code
 * TR_EFORBIDDEN (the mechanism of TR_ENOPROC, runtime/actor.h); a refused plain message is
 * dropped. Each refusal is counted; the first TR__POLICY_LOG_FIRST and then every one whose
 * count is a power of two are logged (event=policy_refused), so a flood costs a log line
 * per doubling.
 * Threading: the policy is read and replaced on the I/O thread only (deliveries and the
 * SIGHUP handle both run there), so a replaced policy is freed at once. Create, watch and
 * destroy are for the thread that owns the node's lifetime.
 * Ownership: the gate owns its policy; it must outlive the cluster and the runtime it
 * watches (destroy it after tr_runtime_destroy).
 */
#ifndef TR_CLUSTER_POLICY_GATE_H
#define TR_CLUSTER_POLICY_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "troupe.h"

#define TR__POLICY_LOG_FIRST 10

typedef struct tr__policy_gate tr__policy_gate;

/* Loads the policy at path (copied) for the node called node_name (copied, for log lines),
 * logging event=policy_loaded; names (borrowed, NULL: none) resolves request names, at
 * every reload too, so it must outlive the gate. 0 with *out owned, or an error with a
 * one-line reason in err (policy.h). */
struct tr__policy_names;
int tr__policy_gate_create(const char *path, const char *node_name,
                           const struct tr__policy_names *names, tr__policy_gate **out, char *err,
                           size_t err_cap);

/* Reloads the policy from its path on every SIGHUP, on rt's I/O thread, until rt shuts
 * down; a file that does not parse keeps the policy in force (logged). 0 or TR_ECLOSED. */
int tr__policy_gate_watch(tr__policy_gate *g, tr_runtime *rt);

/* Reloads now (I/O thread, or before the node starts). 0, or the parse error (logged,
 * the old policy kept). */
int tr__policy_gate_reload(tr__policy_gate *g);

/* I/O thread. May msg (borrowed), from a peer called `from` (a client when client) to
 * to_name (NULL: msg->to's actor id) be delivered? False when refused: answered (if a
 * request), counted and logged; the caller still owns msg. */
bool tr__policy_gate_admit(tr__policy_gate *g, tr_node *node, const char *from, bool client,
                           const tr_msg *msg, const char *to_name);

/* Refusals so far (any thread; for tests and stats). */
uint64_t tr__policy_gate_refused(const tr__policy_gate *g);

void tr__policy_gate_destroy(tr__policy_gate *g);

#endif
