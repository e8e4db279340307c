/*
 * store.h — durable actor state on LMDB: the store's interface to the rest of the runtime.
 * The store's modules (runtime/store*.c, listed in store_internal.h) are the library's only
 * files that include lmdb.h; tr_store is opaque everywhere else.
 *
 * One store per node: one LMDB environment in a directory, with named databases
 *   meta      format magic + version + node identity; checked at open
 *   kv        (actor name, key)      -> value
 *   journal   (actor name, seq u64)  -> event       (compacted by tr__store_truncate)
 *   snapshot  (actor name)           -> (seq, data)   latest only
 * Keys are prefixed by the actor's persistent name (its registered name) and a NUL, so
 * an actor that restarts under the same name sees the same state.
 *
 * Write path (group commit): tr__store_put/del/append/snapshot only append to the node's
 * pending batch (mutex-protected, any worker thread) and record the write in the actor's
 * overlay so that its own later reads see it at once. The engine commits: it is told by
 * ops->store_ready when the batch goes from empty to non-empty and calls tr__store_commit,
 * which swaps the batch out, writes it in ONE LMDB transaction and syncs; then it routes
 * the TR_MSG_DURABLE notifications and held replies (tr_reply_durable) of that batch
 * through the hooks given to tr__store_bind. Real engine: a single writer thread. Sim
 * engine: an event in virtual time; tr__store_drop_pending models a crash (uncommitted
 * writes vanish).
 * Reads (get/recover) use short read-only transactions (MDB_NOTLS) plus the overlay and
 * never wait for the writer. MDB_MAP_FULL grows the map and retries.
 *
 * Errors: LMDB codes become TR_E* here. A directory that is not a troupe store gives
 * TR_EFOREIGN, a newer format TR_EVERSION, a damaged one TR_ECORRUPT, one already open
 * (this or another process) TR_EBUSY; none is ever re-initialised over existing data.
 * A failed commit (disk full, I/O error) fails its batch's waiters and every later write
 * and notify with the same code: the store cannot promise durability any more.
 * A write beyond opts.pending_max uncommitted bytes returns TR_EAGAIN (retry after a
 * durable notification). Limits: names 1..TR_NAME_MAX bytes, keys TR_KEY_MAX, values
 * TR_VALUE_MAX (TR_ETOOBIG). Full format and contract: docs/store.md.
 */
#ifndef TR_STORE_H
#define TR_STORE_H

#include "troupe.h"

typedef struct tr_store tr_store;

typedef struct tr_store_opts {
    const char *dir;      /* created if missing (must then be empty or absent) */
    uint64_t map_size;    /* 0 = 64 MiB */
    bool no_sync;         /* MDB_NOSYNC: for the simulator's tmpfs stores (a simulated crash
                             loses only what was never committed, which the store models) */
    uint64_t pending_max; /* bytes of uncommitted writes before writes get TR_EAGAIN;
                             0 = 256 MiB (bounds memory when the disk is slower than actors) */
    uint64_t defer_bytes; /* 0 = off. Simulator only: a single-threaded store that takes no
                             lock (every call on it must come from the thread that opened
                             it; asserted in debug builds) and holds committed batches back
                             from LMDB until they exceed defer_bytes (store_single.h). */
} tr_store_opts;

int tr__store_open(const tr_store_opts *opts, tr_store **out);
/* Commits nothing further; pending writes are dropped (call tr__store_commit first). No
 * hook is called: held replies still pending are freed with tr_msg_free, so the store may
 * be closed after its node was destroyed. */
void tr__store_close(tr_store *st);
/* How the store reaches its node (set by tr__node_create; unit tests set their own):
 *   ready(ud)                      the pending batch went from empty to non-empty
 *   durable(ud, who, token, status) a tr__store_notify is satisfied (status 0 or TR_E*)
 *   release(ud, msg, status)       a held reply may go (status 0) or must be freed
 * The store never builds messages itself, so it depends on nothing but LMDB. */
typedef struct tr_store_hooks {
    void (*ready)(void *ud);
    void (*durable)(void *ud, tr_addr who, uint64_t token, int status);
    void (*release)(void *ud, tr_msg *held, int status);
    void *ud;
} tr_store_hooks;
void tr__store_bind(tr_store *st, const tr_store_hooks *hooks);

/* Actor-side calls (the actor's persistent name identifies its namespace). */
int tr__store_get(tr_store *st, const char *actor, const void *key, size_t klen, void *buf,
                  size_t cap, size_t *len);
int tr__store_put(tr_store *st, const char *actor, const void *key, size_t klen, const void *val,
                  size_t vlen);
int tr__store_del(tr_store *st, const char *actor, const void *key, size_t klen);
int tr__store_append(tr_store *st, const char *actor, const void *ev, size_t len,
                     uint64_t *seq_out);
int tr__store_snapshot(tr_store *st, const char *actor, uint64_t seq, const void *data, size_t len);
int tr__store_recover(tr_store *st, const char *actor, tr_snapshot_cb on_snapshot,
                      tr_event_cb on_event, void *ud);
/* Queues the deletion of the actor's journal events with seq <= upto, in the pending batch
 * like any write (so after every write issued before it, in the same ordered commit).
 * TR_EINVAL if upto is past the latest snapshot the actor sees (pending included); 0 and
 * nothing queued if upto is 0 or not past an earlier truncation of this record. A commit
 * deletes at most TRUNC_STEP (16,384) events per txn; the rest is queued again for the next
 * commit. Not counted in writes (writes_out, stats.writes): actors read nothing different.
 * Afterwards a snapshot below upto is refused (TR_EINVAL) while the actor's record lives. */
int tr__store_truncate(tr_store *st, const char *actor, uint64_t upto);
/* After every write issued so far is durable, route TR_MSG_DURABLE (corr = token) to
 * `who`. *token_out is fresh. */
int tr__store_notify(tr_store *st, tr_addr who, uint64_t *token_out);
/* Takes ownership of `reply` (opaque to the store) and hands it to hooks.release once
 * every write issued so far is durable, with the commit's status. */
int tr__store_hold(tr_store *st, tr_msg *reply);
/* The actor that used this name stopped: its record (journal seq cache) is freed once its
 * pending writes are committed. Its overlay stays until then, so that an incarnation
 * restarted under the same name reads the same state at once. */
void tr__store_actor_gone(tr_store *st, const char *actor);
/* One actor callback's writes are atomic: the runtime calls _begin before the first write of
 * a callback (behaviour init, receive, terminate) and _end when that callback returns, and
 * a commit never swaps the pending batch between the two. A crash then keeps all of a
 * callback's writes or none. A _begin that finds a commit waiting for the open callbacks to
 * end waits for the swap (so that a stream of callbacks cannot starve the writer); the
 * caller's callback has written nothing yet, so nothing waits for it. No-ops for a
 * single-threaded store (its commits run between callbacks by construction). */
void tr__store_callback_begin(tr_store *st);
void tr__store_callback_end(tr_store *st);

/* Engine-side calls. */
/* Commits the pending batch (if any) in one transaction + sync, then routes its
 * notifications. Returns 0 or an error (the batch's notifications then carry it). Must not
 * run concurrently with itself. *writes_out (may be NULL) = writes in that commit. */
int tr__store_commit(tr_store *st, uint64_t *writes_out);
bool tr__store_has_pending(tr_store *st);
/* defer_bytes stores: writes the committed batches still held back to LMDB now. 0 or the
 * error; after an error the store is failed (every later write and commit reports it), and
 * the held-back batches, already reported durable, are lost: the caller must treat it as a
 * fatal error of the run. A no-op for other stores. The store also flushes by itself: once
 * the held-back batches exceed defer_bytes, and before a drop_pending, a close and the
 * committed-only reads below. */
int tr__store_flush(tr_store *st);
/* Simulated crash: pending (uncommitted) writes, overlays, notifications are dropped. */
void tr__store_drop_pending(tr_store *st);

/* Simulator only: storage faults (sim/nemesis.c). The store fails exactly as it does when
 * LMDB fails, so the runtime reports it to actors as on a real node.
 *   commit_fail  commits the pending batch as a write failing with err (TR_EIO, TR_ENOSPC)
 *                does: its waiters get err (held replies are dropped, notifications carry
 *                it) and the store is failed (every later write and notify returns err).
 *                Batches committed before are written first; 0 if the batch was empty,
 *                else err, or the error of writing those earlier batches (a real one).
 *   failure      0, or the code the store failed with.
 *   reopen       what a process restart does to the store: drops what is not committed,
 *                closes the environment and opens the directory again through the checks
 *                of tr__store_open (a failure is forgotten). With `tear` the data file
 *                first loses its last page, as a write torn by a crash leaves it, which
 *                the open refuses (TR_ECORRUPT). On an error the store stays closed and
 *                refuses every call with it; reopen may be called again. */
int tr__store_commit_fail(tr_store *st, int err, uint64_t *writes_out);
int tr__store_failure(tr_store *st);
int tr__store_reopen(tr_store *st, bool tear);

/* Tests and tools: as tr__store_get, but reads only what is committed (ignores pending
 * writes, including the caller's own). */
int tr__store_get_committed(tr_store *st, const char *actor, const void *key, size_t klen,
                            void *buf, size_t cap, size_t *len);
/* Tests and tools: the committed journal of `actor` (after a flush): its first and last seq
 * and how many events it holds (all 0 when empty). Walks every event. */
int tr__store_journal_range(tr_store *st, const char *actor, uint64_t *first, uint64_t *last,
                            uint64_t *count);

/* Tests only: fn(st, ud) runs inside every later tr__store_commit after the batch was swapped
 * out and before it is written (no lock held), so that a test can issue writes "during" a
 * commit deterministically. NULL (the default) turns it off. */
void tr__store_test_mid_commit(tr_store *st, void (*fn)(tr_store *st, void *ud), void *ud);

#define TR__STORE_BATCH_BUCKETS 12   /* 1, 2, 4, ... 1024 writes, then more */
#define TR__STORE_LATENCY_BUCKETS 12 /* 100 us ... 1 s, then slower */
extern const uint64_t tr__store_latency_bounds_us[TR__STORE_LATENCY_BUCKETS];
typedef struct tr_store_stats {
    uint64_t commits;
    uint64_t writes;
    uint64_t map_grows;
    uint64_t max_writes_per_commit;
    uint64_t flushes;         /* defer_bytes stores: LMDB writes of held-back batches */
    uint64_t overlay_keys;    /* kv keys with a pending or held-back version (0 once all is
                               in LMDB) */
    uint64_t overlay_buckets; /* its hash table's size (shrinks back when it empties) */
    uint64_t actor_records;   /* live or pending actors (journal seq caches) */
    uint64_t truncations;     /* journal truncations committed (re-queued steps included) */
    uint64_t truncated;       /* journal events they deleted (once written to LMDB) */
    /* writes per commit: commits_by_writes[i] counts commits of at most 2^i writes (and more
     * than 2^(i-1)); the last entry, commits of more than 2^(TR__STORE_BATCH_BUCKETS - 2) */
    uint64_t commits_by_writes[TR__STORE_BATCH_BUCKETS];
    /* commit latency, of the commits a real node's writer thread timed (tr__store_commit_timed;
     * the simulator times none): commits_by_latency[i] counts those of at most
     * tr__store_latency_bounds_us[i] (and more than the bound before), the last entry the
     * slower ones */
    uint64_t timed_commits, timed_commit_ns;
    uint64_t commits_by_latency[TR__STORE_LATENCY_BUCKETS + 1];
    uint64_t map_bytes, used_bytes; /* LMDB's map size and its pages in use, in bytes */
} tr_store_stats;
void tr__store_stats_get(tr_store *st, tr_store_stats *out);
/* A commit took ns on the clock of the thread that ran it (the real engine's writer). */
void tr__store_commit_timed(tr_store *st, uint64_t ns);

#endif
