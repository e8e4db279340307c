/* proxy.h — the "proxy" actor: request/reply across nodes through one local actor.
 *
 * A request (a user type, with a sender) whose body is the msgpack array [target, body],
 * target a registered name ("echo" on this node, "echo@n2" on node n2), is forwarded to
 * target as a request of the same type whose body is the bytes of `body` exactly as they
 * came; the target's reply (its type and body) is relayed to the original sender under the
 * original correlation id. A client that can reach one node can so reach any actor of the
 * cluster (`troupe call HOST:PORT proxy TYPE '["kv@n2", ...]'`).
 *
 * Errors are replies of the request's type (TR_MSG_USER for a timeout) with the body
 * {"error": why}:
 *   "want [target, body]"  the body is not a two-element array starting with a string
 *                          (of at most 2 * TR_NAME_MAX + 1 bytes) or has no second element;
 *   "busy"                 TR_PROXY_PENDING_MAX forwarded requests are already waiting;
 *   "unreachable"          the forward could not be sent (unknown name, bad node);
 *   "timeout"              the target did not answer within TR_PROXY_TIMEOUT_MS.
 * An error reply that failed at once (TR_MSG_TIMEOUT carrying TR_ENOPROC or TR_ENODEDOWN:
 * troupe.h, "Errors that arrive at once") is relayed as it came.
 * Replies and timeouts that match no waiting request are ignored; a new request is never
 * taken for a reply, whatever its correlation id (tr_msg_is_reply).
 *
 * State: a fixed table of waiting requests (no allocation per request). */
#ifndef TR_ACTORS_PROXY_H
#define TR_ACTORS_PROXY_H

#include "troupe.h"

#define TR_PROXY_PENDING_MAX 256
#define TR_PROXY_TIMEOUT_MS 2000

extern const tr_behaviour tr__proxy_behaviour;

#endif
