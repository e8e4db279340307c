/* kv.h — the "kv" actor: durable keys through the actor store API.
 *
 * Requests (any user type, with a sender; the reply has the request's type):
 *   ["put", key, value]  key a string of 1..TR_KEY_MAX bytes, value exactly one msgpack
 *                        value of any kind (arrays and maps nested at most
 *                        TR_KV_DEPTH_MAX deep): stores it (tr_kv_put) and replies
 *                        {"ok": true} once the write is durable (tr_reply_durable: an
 *                        acknowledged put survives a crash);
 *   ["get", key]         replies with the stored value's bytes, or nil if the key is absent.
 * Errors are replies with the body {"error": why}: "want [op, key, ...]" (not an array of
 * two or three elements starting with two strings, or a bad key), "bad op" (another op,
 * the wrong element count for the op, or a value that is not one msgpack value), "store
 * failed" (the store refused, or a value over TR_KV_GET_MAX bytes was asked for).
 *
 * The actor must be spawned with a name (durable state is keyed by it); `troupe node` names
 * it "kv", so its keys survive a restart of the node with the same --data directory. */
#ifndef TR_ACTORS_KV_H
#define TR_ACTORS_KV_H

#include "troupe.h"

/* The deepest nesting of arrays and maps a stored value may have. */
#define TR_KV_DEPTH_MAX 32
/* The largest value a get can return (the reply is built in the actor's state). */
#define TR_KV_GET_MAX (64u << 10)

extern const tr_behaviour tr__kv_behaviour;

#endif
