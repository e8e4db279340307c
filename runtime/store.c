/*
 * store.c — the store object: opening (inspecting, locking, validating and initialising a
 * directory), closing, binding to a node, statistics, and the simulator's storage faults
 * (a failed commit, a reopen that may find a torn file) (design: store.h; the modules:
 * store_internal.h; format and contract: docs/store.md).
 */
#include "runtime/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/store_commit.h"
#include "runtime/store_db.h"
#include "runtime/store_internal.h"

#define STORE_MAGIC "troupe-store"
#define STORE_FORMAT 1u
#define MAP_SIZE_DEFAULT (64ull << 20)
#define MAP_SIZE_MIN (64ull << 10)
#define PENDING_MAX_DEFAULT (256ull << 20)

/* ---- Inspecting and validating a directory ------------------------------------------- */

/* Looks at the directory before LMDB does. *fresh: nothing worth keeping is there (absent,
 * empty, or only LMDB's lock file or an empty data file left by an interrupted init). */
static int inspect_dir(const char *dir, bool *fresh, bool *created) {
    struct stat sb;
    *created = false;
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT) {
            return tr__store_map_err(errno);
        }
        if (mkdir(dir, 0700) != 0) {
            return tr__store_map_err(errno);
        }
        *fresh = *created = true;
        return 0;
    }
    if (!S_ISDIR(sb.st_mode)) {
        return TR_EFOREIGN;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        return tr__store_map_err(errno);
    }
    bool foreign = false, data = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "lock.mdb") == 0) {
            continue;
        }
        if (strcmp(n, "data.mdb") == 0) {
            data = true;
        } else {
            foreign = true;
        }
    }
    closedir(d);
    if (foreign) {
        return TR_EFOREIGN;
    }
    *fresh = !data;
    if (data) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int rc = dfd < 0 ? errno : (fstatat(dfd, "data.mdb", &sb, 0) != 0 ? errno : 0);
        if (dfd >= 0) {
            close(dfd);
        }
        if (rc != 0) {
            return tr__store_map_err(rc);
        }
        if (!S_ISREG(sb.st_mode)) {
            return TR_EFOREIGN;
        }
        *fresh = sb.st_size == 0;
    }
    return 0;
}

/* One opener per directory (also across processes): LMDB itself would let a second
 * process write, and the store's caches (journal seqs) assume it is the only writer. */
static int lock_dir(const char *dir, int *fd_out) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return tr__store_map_err(errno);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? TR_EBUSY : tr__store_map_err(e);
    }
    *fd_out = fd;
    return 0;
}

static int meta_get(MDB_txn *txn, MDB_dbi dbi, const char *k, MDB_val *v) {
    MDB_val key = {strlen(k), (void *)k};
    return mdb_get(txn, dbi, &key, v);
}

/* Checks an existing store's meta in a read txn. */
static int check_meta(MDB_txn *txn, bool *empty) {
    MDB_dbi main_dbi, meta;
    MDB_stat ms;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (rc == 0) {
        rc = mdb_stat(txn, main_dbi, &ms);
    }
    if (rc != 0) {
        return tr__store_map_open_err(rc);
    }
    *empty = ms.ms_entries == 0; /* a valid, empty LMDB file: an interrupted init */
    if (*empty) {
        return 0;
    }
    rc = mdb_dbi_open(txn, "meta", 0, &meta);
    if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
        return TR_EFOREIGN;
    }
    MDB_val v;
    rc = rc ? rc : meta_get(txn, meta, "magic", &v);
    if (rc == MDB_NOTFOUND || (rc == 0 && (v.mv_size != strlen(STORE_MAGIC) ||
                                           memcmp(v.mv_data, STORE_MAGIC, v.mv_size) != 0))) {
        return TR_EFOREIGN;
    }
    rc = rc ? rc : meta_get(txn, meta, "version", &v);
    if (rc != 0 || v.mv_size != 8) {
        return rc == 0 || rc == MDB_NOTFOUND ? TR_ECORRUPT : tr__store_map_open_err(rc);
    }
    uint64_t version = store_get_be64(v.mv_data);
    if (version == 0) {
        return TR_ECORRUPT;
    }
    return version > STORE_FORMAT ? TR_EVERSION : 0;
}

/* The file must hold every page its meta page claims, or reading one would SIGBUS. */
static int check_size(MDB_env *env, const char *dir) {
    MDB_envinfo info;
    MDB_stat ms;
    int rc = mdb_env_info(env, &info);
    if (rc == 0) {
        rc = mdb_env_stat(env, &ms);
    }
    if (rc != 0) {
        return tr__store_map_open_err(rc);
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat sb;
    rc = dfd < 0 ? errno : (fstatat(dfd, "data.mdb", &sb, 0) != 0 ? errno : 0);
    if (dfd >= 0) {
        close(dfd);
    }
    if (rc != 0) {
        return tr__store_map_err(rc);
    }
    uint64_t need = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    return (uint64_t)sb.st_size < need ? TR_ECORRUPT : 0;
}

/* Validates an existing data file read-only and without a lock file (MDB_NOLOCK), so
 * that a foreign or damaged directory is left exactly as it was. *empty: see check_meta. */
static int validate_existing(const char *dir, bool *empty) {
    MDB_env *env;
    int rc = mdb_env_create(&env);
    if (rc != 0) {
        return tr__store_map_err(rc);
    }
    mdb_env_set_maxdbs(env, 8);
    rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0600);
    if (rc != 0) {
        mdb_env_close(env);
        return tr__store_map_open_err(rc);
    }
    int err = check_size(env, dir);
    MDB_txn *txn = NULL;
    if (err == 0) {
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
        err = tr__store_map_open_err(rc);
    }
    if (err == 0) {
        err = check_meta(txn, empty);
    }
    if (txn) {
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return err;
}

static int open_dbis(tr_store *st, MDB_txn *txn, unsigned flags) {
    int rc = mdb_dbi_open(txn, "meta", flags, &st->dbi_meta);
    rc = rc ? rc : mdb_dbi_open(txn, "kv", flags, &st->dbi_kv);
    rc = rc ? rc : mdb_dbi_open(txn, "journal", flags, &st->dbi_journal);
    rc = rc ? rc : mdb_dbi_open(txn, "snapshot", flags, &st->dbi_snap);
    return rc;
}

static int init_txn(tr_store *st, MDB_txn *txn, void *arg) {
    int rc = open_dbis(st, txn, MDB_CREATE);
    uint8_t ver[8];
    store_put_be64(ver, STORE_FORMAT);
    MDB_val mk = {5, "magic"}, mv = {strlen(STORE_MAGIC), STORE_MAGIC};
    MDB_val vk = {7, "version"}, vv = {8, ver};
    rc = rc ? rc : mdb_put(txn, st->dbi_meta, &vk, &vv, 0);
    rc = rc ? rc : mdb_put(txn, st->dbi_meta, &mk, &mv, 0); /* all or nothing: one txn */
    return rc;
}

static int reopen_txn(tr_store *st, MDB_txn *txn, void *arg) {
    int rc = open_dbis(st, txn, 0);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

static void sync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void sync_parent(const char *dir) {
    char buf[4096];
    size_t n = strnlen(dir, sizeof(buf));
    if (n >= sizeof(buf)) {
        return;
    }
    memcpy(buf, dir, n + 1);
    char *slash = strrchr(buf, '/');
    if (slash == NULL) {
        sync_dir(".");
        return;
    }
    slash[slash == buf ? 1 : 0] = 0;
    sync_dir(buf);
}

static int env_open(tr_store *st, const char *dir, bool fresh) {
    int rc = mdb_env_create(&st->env);
    if (rc != 0) {
        st->env = NULL;
        return tr__store_map_err(rc);
    }
    mdb_env_set_maxdbs(st->env, 8);
    mdb_env_set_maxreaders(st->env, 512);
    mdb_env_set_mapsize(st->env, st->map_size);
    /* no_sync is for the simulator's tmpfs stores, whose crashes are simulated: a crash is
     * modelled by tr__store_drop_pending (uncommitted writes lost, committed ones kept), never
     * by the OS losing pages, so durability against a real power cut buys nothing there.
     * MDB_WRITEMAP writes pages in place through the map instead of one pwrite per dirty
     * page per commit (about 50k syscalls in a default `troupe sim` run), and
     * MDB_NOMETASYNC says explicitly that the meta page is not flushed either. Committed data
     * is still visible to every later txn of this process, which is all the sim reads. */
    unsigned flags = MDB_NOTLS;
    if (st->no_sync) {
        flags |= MDB_NOSYNC | MDB_NOMETASYNC | MDB_WRITEMAP;
    }
    rc = mdb_env_open(st->env, dir, flags, 0600);
    if (rc != 0) {
        return fresh ? tr__store_map_err(rc) : tr__store_map_open_err(rc);
    }
    int dead;
    mdb_reader_check(st->env, &dead); /* slots left by a crashed process */
    MDB_envinfo info;
    mdb_env_info(st->env, &info);
    st->map_size = info.me_mapsize; /* an existing file may be larger than asked */
    return tr__store_write_txn(st, fresh ? init_txn : reopen_txn, NULL);
}

static void store_free(tr_store *st) {
    if (st->env) {
        tr__store_read_spare_drop(st);
        mdb_env_close(st->env);
    }
    if (st->dir_fd >= 0) {
        close(st->dir_fd);
    }
    free(st->dir);
    free(st->kv.slots);
    free(st->actors.slots);
    tr__store_single_destroy(st->single);
    pthread_rwlock_destroy(&st->map_lock);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->writers_cv);
    free(st);
}

static tr_store *store_alloc(const tr_store_opts *opts) {
    tr_store *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return NULL;
    }
    st->dir_fd = -1;
    st->no_sync = opts->no_sync;
    st->map_size = opts->map_size ? opts->map_size : MAP_SIZE_DEFAULT;
    if (st->map_size < MAP_SIZE_MIN) {
        st->map_size = MAP_SIZE_MIN;
    }
    st->pending_max = opts->pending_max ? opts->pending_max : PENDING_MAX_DEFAULT;
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&st->map_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->writers_cv, NULL);
    bool single_ok = true;
    if (opts->defer_bytes != 0) {
        st->single = tr__store_single_create(opts->defer_bytes);
        single_ok = st->single != NULL;
    }
    if (!single_ok || tr__store_table_init(&st->kv) != 0 ||
        tr__store_table_init(&st->actors) != 0) {
        store_free(st);
        return NULL;
    }
    return st;
}

/* ---- The store's lifecycle ------------------------------------------------------------ */

int tr__store_open(const tr_store_opts *opts, tr_store **out) {
    if (opts == NULL || opts->dir == NULL || opts->dir[0] == 0 || out == NULL) {
        return TR_EINVAL;
    }
    *out = NULL;
    bool fresh = false, created = false, empty = false;
    int rc = inspect_dir(opts->dir, &fresh, &created);
    if (rc != 0) {
        return rc;
    }
    tr_store *st = store_alloc(opts);
    if (st == NULL || (st->dir = strdup(opts->dir)) == NULL) {
        if (st != NULL) {
            store_free(st);
        }
        return TR_ENOMEM;
    }
    rc = lock_dir(opts->dir, &st->dir_fd);
    if (rc == 0 && !fresh) {
        rc = validate_existing(opts->dir, &empty);
        fresh = empty;
    }
    if (rc == 0) {
        rc = env_open(st, opts->dir, fresh);
    }
    if (rc != 0) {
        store_free(st);
        return rc;
    }
    if (fresh && !st->no_sync) {
        fsync(st->dir_fd); /* the new files' names are durable too */
        if (created) {
            sync_parent(opts->dir);
        }
    }
    *out = st;
    return 0;
}

void tr__store_close(tr_store *st) {
    if (st == NULL) {
        return;
    }
    tr__store_drop_all(st, true);
    store_free(st);
}

void tr__store_bind(tr_store *st, const tr_store_hooks *hooks) {
    store_lock(st);
    st->hooks = *hooks;
    store_unlock(st);
}

void tr__store_test_mid_commit(tr_store *st, void (*fn)(tr_store *st, void *ud), void *ud) {
    st->mid_commit = fn;
    st->mid_commit_ud = ud;
}

void tr__store_stats_get(tr_store *st, tr_store_stats *out) {
    uint64_t map_bytes = 0, used_bytes = 0;
    tr__store_db_usage(st, &map_bytes, &used_bytes); /* map_lock, not the store's lock */
    store_lock(st);
    *out = st->stats;
    out->map_bytes = map_bytes;
    out->used_bytes = used_bytes;
    out->overlay_keys = st->kv.count;
    out->overlay_buckets = st->kv.cap;
    out->actor_records = st->actors.count;
    store_unlock(st);
}

/* ---- The simulator's seam: storage faults ---------------------------------------------- */

int tr__store_commit_fail(tr_store *st, int err, uint64_t *writes_out) {
    TR_ASSERT(st != NULL && err < 0);
    int rc = tr__store_flush(st); /* batches committed earlier were on the disk already */
    if (rc != 0) {
        return rc;
    }
    store_lock(st);
    st->fail_next = err;
    store_unlock(st);
    return tr__store_commit(st, writes_out);
}

int tr__store_failure(tr_store *st) {
    store_lock(st);
    int rc = st->failed;
    store_unlock(st);
    return rc;
}

/* The data file's size without its last page: a write torn by a crash leaves the file
 * shorter than its meta page says, which check_size finds at the next open. */
static int torn_size(tr_store *st, off_t *keep) {
    MDB_envinfo info;
    MDB_stat ms;
    int rc = mdb_env_info(st->env, &info);
    rc = rc ? rc : mdb_env_stat(st->env, &ms);
    *keep = (off_t)info.me_last_pgno * ms.ms_psize;
    return tr__store_map_err(rc);
}

static int truncate_data(const char *dir, off_t keep) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = dfd < 0 ? -1 : openat(dfd, "data.mdb", O_WRONLY | O_CLOEXEC);
    int rc = fd < 0 || ftruncate(fd, keep) != 0 ? tr__store_map_err(errno) : 0;
    if (fd >= 0) {
        close(fd);
    }
    if (dfd >= 0) {
        close(dfd);
    }
    return rc;
}

int tr__store_reopen(tr_store *st, bool tear) {
    TR_ASSERT(st != NULL && st->dir != NULL);
    tr__store_drop_all(st, false); /* a restart forgets what was not committed */
    int rc = 0;
    off_t keep = -1;
    if (st->env != NULL && tear) {
        rc = torn_size(st, &keep);
    }
    if (st->env != NULL) {
        tr__store_read_spare_drop(st);
        mdb_env_close(st->env);
        st->env = NULL;
    }
    if (st->dir_fd >= 0) {
        close(st->dir_fd);
        st->dir_fd = -1;
    }
    if (rc == 0 && keep >= 0) {
        rc = truncate_data(st->dir, keep); /* after the close: nothing maps it any more */
    }
    bool fresh = false, created = false, empty = false;
    rc = rc ? rc : inspect_dir(st->dir, &fresh, &created);
    rc = rc ? rc : lock_dir(st->dir, &st->dir_fd);
    if (rc == 0 && !fresh) {
        rc = validate_existing(st->dir, &empty);
        fresh = empty;
    }
    rc = rc ? rc : env_open(st, st->dir, fresh);
    if (rc != 0 && st->env != NULL) {
        tr__store_read_spare_drop(st);
        mdb_env_close(st->env);
        st->env = NULL;
    }
    store_lock(st);
    st->failed = rc; /* 0: a reopened store works again; else it refuses everything */
    st->fail_next = 0;
    store_unlock(st);
    return rc;
}
