/*
 * store_db.h — the store's LMDB layer: error translation, short read transactions, write
 * transactions that grow the map, and writing a batch.
 *
 * Databases of the environment (opened by store.c):
 *   kv        "<actor>\0<key>"         -> value
 *   journal   "<actor>\0<seq u64 BE>"  -> event
 *   snapshot  "<actor>\0"              -> "<seq u64 BE><data>"   (latest only)
 *   meta      format magic and version
 * Every LMDB and errno code becomes a TR_E code here (tr__store_map_err) and nowhere else.
 *
 * Reads take a read-only txn (MDB_NOTLS) under st->map_lock shared, and never wait for the
 * writer. Growing the map takes map_lock exclusively: mdb_env_set_mapsize() remaps the file
 * and must not run while any txn of this process is alive (lmdb.h). The write txn is used by
 * one committer at a time (tr__store_commit's contract).
 */
#ifndef TR_STORE_DB_H
#define TR_STORE_DB_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/store_overlay.h"

int tr__store_map_err(int rc);
/* While opening an existing file, anything LMDB cannot make sense of means damage. */
int tr__store_map_open_err(int rc);

int tr__store_read_begin(tr_store *st, MDB_txn **txn);
/* LMDB's map size and the bytes of its pages in use (up to the last page), under map_lock
 * shared; both 0 without an environment. */
void tr__store_db_usage(tr_store *st, uint64_t *map_bytes, uint64_t *used_bytes);
void tr__store_read_end(tr_store *st, MDB_txn *txn);
/* Aborts the read txn kept for the next read (tr__store_read_end keeps one): before the
 * environment is closed, by whoever closes it with no read under way. */
void tr__store_read_spare_drop(tr_store *st);

/* Copies n bytes to buf if they fit in cap (else TR_ETOOBIG); *len (may be NULL) = n. */
int tr__store_copy_out(void *buf, size_t cap, const void *src, size_t n, size_t *len);
/* The committed value of a full key ("<actor>\0<key>", fk bytes). */
int tr__store_db_kv_get(tr_store *st, const uint8_t *k, size_t fk, void *buf, size_t cap,
                        size_t *len);
/* The last journal seq of `name` in LMDB (0 if none), in an open read txn. */
int tr__store_db_journal_last(tr_store *st, MDB_txn *txn, const char *name, size_t nlen,
                              uint64_t *out);
/* The seq of `name`'s snapshot in LMDB (*have false if none), in an open read txn. */
int tr__store_db_snap_seq(tr_store *st, MDB_txn *txn, const char *name, size_t nlen, bool *have,
                          uint64_t *seq);
/* The last sequence `name` used, as LMDB knows it: the journal's last key, or the snapshot's
 * seq if that is larger (a truncation may have emptied the journal up to the snapshot). */
int tr__store_db_last_seq(tr_store *st, const char *name, size_t nlen, uint64_t *out);
/* As tr__store_db_snap_seq, in a read txn of its own. */
int tr__store_db_read_snap_seq(tr_store *st, const char *name, size_t nlen, bool *have,
                               uint64_t *seq);

typedef int (*store_txn_fn)(tr_store *st, MDB_txn *txn, void *arg);
/* Runs fn in one write txn and commits it; on MDB_MAP_FULL grows the map and retries (fn
 * must then start afresh). 0 or a TR_E code. */
int tr__store_write_txn(tr_store *st, store_txn_fn fn, void *arg);
/* Writes b's live entries in batch order, in as few txns as TXN_BYTES_MAX allows; adds the
 * journal events its truncations deleted to b->deleted. 0 or a TR_E code. */
int tr__store_write_batch(tr_store *st, batch *b);

#endif
