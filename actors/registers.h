/*
 * registers.h — two replicated multi-key registers, one per side of CAP.
 *
 *   "cp"  ABD (Attiya, Bar-Noy, Dolev): linearizable, majority quorums. Every replica keeps
 *         key -> (timestamp (counter, writer node id, incarnation), value) in its durable
 *         store. The replica a client asks coordinates: a query phase asks a majority of
 *         replicas (others only in place of those that fail) and waits for their (ts, value)
 *         answers; a write picks ts = (max(max counter seen,
 *         last counter it issued) + 1, own node id, its incarnation) — unique per write, as
 *         the incarnation is bumped durably at every start before any write is taken
 *         (until then writes get {"ok":false,"error":"starting"});
 *         a read picks the largest (ts, value) seen; then a store phase sends (ts, value) to
 *         all replicas and waits for a majority of acks — a replica acks only after the
 *         value it holds (>= ts) is durable (tr_reply_durable). Only then the client gets
 *         its reply. Fast reads: a read's query (TR_REG_QUERY_READ) is answered only once
 *         what the replica reports is durable, and when the whole answering majority
 *         reports one ts, that value is already durable at a majority, so the store phase
 *         could not change anything and is skipped (the usual ABD write-back-skip: a later
 *         read's quorum meets that majority and sees ts or newer). No majority within the quorum timeout => an error reply: a minority
 *         side is unavailable, as a CP store must be. State survives a crash (the store).
 *   "ap"  Last-writer-wins: a write is applied to the local replica with
 *         ts = (max(now_ns, last ts of that key + 1), own node id) and acknowledged at once;
 *         reads are local; a replica pushes each local write to every peer at once and,
 *         every gossip_ms, its whole table (anti-entropy); a replica keeps the entry with
 *         the larger ts and answers a round with the entries it holds newer than the
 *         sender's (push-pull), so replicas converge after a partition heals, even while
 *         one replica's own rounds stand still (its clock set back). Writes are journalled
 *         (snapshot every TR_REG_AP_SNAPSHOT_EVERY events, the journal truncated up to each
 *         snapshot) and replayed at start. Concurrent writes to one key lose all but one
 *         (LWW), and a skewed clock decides which: that is the stated semantics, not a bug.
 *
 * Both are plain actors: they use only troupe.h, so the same code runs on the simulator
 * and on real nodes. Every node registers "cp" and "ap"; replicas address each other by
 * name ("cp@n2"), the peer list being the node names given at boot (this node included).
 *
 * Client protocol (bodies are msgpack maps; unknown keys are ignored, so `troupe call` can
 * send JSON turned into msgpack; numbers: ints, or floats with an integral value). Message
 * type numbers: TR_REG_READ = 512, TR_REG_WRITE = 513, TR_REG_REPLY = 514.
 *   TR_REG_READ   {"key": int}                   -> TR_REG_REPLY
 *   TR_REG_WRITE  {"key": int, "value": int}     -> TR_REG_REPLY
 *   TR_REG_REPLY  {"ok": true, "value": int|nil}                   success (value read or
 *                                                                   written; nil = never
 *                                                                   written)
 *                 {"ok": false, "error": str, "indeterminate": bool} failure; indeterminate
 *                 = the write may have taken effect (a store phase without a majority), else
 *                 it certainly did not.
 * Keys are 0 <= key < 2^32. Send them with tr_request / tr_request_name to "cp" or "ap".
 *
 * Replica protocol (between "cp" replicas; "ap" gossip), also msgpack maps:
 *   TR_REG_QUERY      {"key": k}                                 -> TR_REG_QUERY_ACK
 *   TR_REG_QUERY_READ {"key": k}                   -> TR_REG_QUERY_ACK (once durable)
 *   TR_REG_QUERY_ACK  {"key": k, "ts": [counter, writer, incarnation], "value": int|nil}
 *   TR_REG_STORE      {"key": k, "ts": [counter, writer, incarnation], "value": int|nil}
 *                                                                -> TR_REG_STORE_ACK (durable)
 *   TR_REG_STORE_ACK  {"ok": true}
 *   TR_REG_GOSSIP     {"entries": [[key, ts_ns, node, value], ...]}  (at most
 *                     TR_REG_GOSSIP_CHUNK entries per message: a round, or one local
 *                     write pushed at once), answered with a TR_REG_GOSSIP
 *                     {"answer": true, "entries": [...]} of the receiver's entries newer
 *                     than the ones received, when it has any; an answer is not answered
 *
 * Planted bugs (tr_registers_opts.bugs), to show the checkers catch them:
 *   TR_REG_BUG_STALE_READ       a cp read is answered from the coordinator's own replica.
 *   TR_REG_BUG_NO_ANTI_ENTROPY  ap replicas never gossip (no rounds, no pushed writes).
 *   TR_REG_BUG_NO_WRITE_BACK    a cp read returns the largest ts of its query majority
 *                               without the store phase even when the answers disagree (the
 *                               fast read's condition dropped): a later read can miss what
 *                               an earlier one returned.
 *
 * Limits: at most TR_REG_PEERS_MAX replicas; a cp coordinator runs at most
 * TR_REG_CP_INFLIGHT_MAX client operations at once (more get {"ok":false,"error":"busy"});
 * an ap replica holds at most TR_REG_AP_KEYS_MAX keys (more: "full").
 */
#ifndef TR_REGISTERS_H
#define TR_REGISTERS_H

#include "troupe.h"

enum {
    TR_REG_READ = TR_MSG_USER + 0x100,
    TR_REG_WRITE,
    TR_REG_REPLY,
    TR_REG_QUERY,
    TR_REG_QUERY_ACK,
    TR_REG_STORE,
    TR_REG_STORE_ACK,
    TR_REG_GOSSIP,
    TR_REG_TICK,      /* the ap gossip timer (to self) */
    TR_REG_QUERY_READ /* a read's query: answered once what it reports is durable */
};

#define TR_REG_PEERS_MAX 16
#define TR_REG_CP_INFLIGHT_MAX 64
#define TR_REG_AP_KEYS_MAX 1024
#define TR_REG_AP_SNAPSHOT_EVERY 512
#define TR_REG_GOSSIP_CHUNK 64
#define TR_REG_BODY_MAX 64 /* a client request or reply fits in this many bytes */

#define TR_REG_BUG_STALE_READ 0x1u
#define TR_REG_BUG_NO_ANTI_ENTROPY 0x2u
#define TR_REG_BUG_NO_WRITE_BACK 0x10u
/* 0x4u and 0x8u: TR_STOCK_BUG_OVERSELL and TR_STOCK_BUG_DOUBLE_CHARGE (actors/stock.h); one
 * --bug mask is handed to every service, each looks only at its own bits. */

typedef struct tr_registers_opts {
    uint32_t peer_count;           /* 1..TR_REG_PEERS_MAX */
    const char *const *peer_names; /* node names of every replica, this node included;
                                      borrowed for the call (copied into the actors) */
    bool cp;                       /* spawn "cp" */
    bool ap;                       /* spawn "ap" */
    uint32_t bugs;                 /* TR_REG_BUG_* */
    uint32_t quorum_timeout_ms;    /* cp: per replica request; 0 = 300 */
    uint32_t gossip_ms;            /* ap: anti-entropy period; 0 = 100 */
} tr_registers_opts;

/* The spawn argument of both behaviours (copied by the runtime). */
typedef struct tr_register_arg {
    uint32_t peer_count;
    uint32_t bugs;
    uint32_t quorum_timeout_ms;
    uint32_t gossip_ms;
    char peers[TR_REG_PEERS_MAX][TR_NAME_MAX + 1];
} tr_register_arg;

extern const tr_behaviour tr__register_cp_behaviour;
extern const tr_behaviour tr__register_ap_behaviour;

/* Fills *arg from *opts. TR_EINVAL on a bad peer list. */
int tr__registers_arg_init(tr_register_arg *arg, const tr_registers_opts *opts);
/* Spawns "cp" and/or "ap" on `node` (registered under those names). 0, TR_EINVAL, or the
 * spawn's error. Called again after a node restarts: the replicas recover their state. */
int tr__registers_boot(tr_node *node, const tr_registers_opts *opts);

/* Client-side helpers (used by harness/workload.c and tests). */
typedef struct tr_reg_reply {
    bool ok;
    bool has_value; /* false: nil (key never written) */
    bool indeterminate;
    int64_t value;
    char error[48]; /* "" when ok; truncated */
} tr_reg_reply;

/* Encodes {"key":k} (has_value false) or {"key":k,"value":v}; *len = bytes used.
 * buf needs TR_REG_BODY_MAX bytes. */
int tr__registers_request_encode(void *buf, size_t cap, uint32_t key, bool has_value, int64_t value,
                                 size_t *len);
/* Decodes a request body. TR_EPROTO when malformed or the key is missing/out of range. */
int tr__registers_request_decode(const void *body, size_t len, uint32_t *key, bool *has_value,
                                 int64_t *value);
int tr__registers_reply_encode_ok(void *buf, size_t cap, bool has_value, int64_t value,
                                  size_t *len);
int tr__registers_reply_encode_err(void *buf, size_t cap, const char *error, bool indeterminate,
                                   size_t *len);
/* TR_EPROTO when malformed. */
int tr__registers_reply_decode(const void *body, size_t len, tr_reg_reply *out);

/* The reply shape the registers and the stock service share: {"ok": bool, <field>: int|nil,
 * "error": str, "indeterminate": bool}, unknown keys skipped; tr__registers_reply_decode is this
 * with field "value". TR_EPROTO when malformed or "ok" is missing; a nil or absent <field>
 * leaves has_value false. */
int tr__registers_reply_fields(const void *body, size_t len, const char *field, tr_reg_reply *out);

/* Copies `count` (1..max) node names into peers after checking each: non-empty, no '@', and
 * prefix_len + its length within TR_NAME_MAX (so that "<actor>@" + name is a registry name).
 * TR_EINVAL otherwise. Shared by the registers and the stock service (actors/stock.h). */
int tr__registers_copy_peers(char (*peers)[TR_NAME_MAX + 1], const char *const *names,
                             uint32_t count, uint32_t max, size_t prefix_len);
/* The index of this actor's node in peers[0..count), or count when it is not one of them
 * (found once at init: the hot paths compare indexes, not names). */
uint32_t tr__registers_self_index(tr_ctx *ctx, char (*peers)[TR_NAME_MAX + 1], uint32_t count);

#endif /* TR_REGISTERS_H */
