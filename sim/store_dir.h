/*
 * store_dir.h — the temporary directory that holds a simulated run's stores (sim/store_dir.c).
 *
 * Each run's nodes keep their LMDB stores in one directory, base/troupe-sim-XXXXXX (base is
 * /dev/shm unless the config names another: tmpfs, i.e. memory). mkdtemp names it, never
 * pid + counter: a killed run leaves its directory behind, and a later process with the
 * recycled pid would collide with it. The name is never traced.
 *
 * Invariant: while a run lives it holds an flock on its directory's owner.lock (the kernel
 * drops it however the process ends). Creating a directory first removes every
 * troupe-sim-* directory in the base whose lock it can take: nobody uses those, they are
 * what runs killed outright (SIGKILL, Ctrl-C) left in memory. A directory without
 * owner.lock (being created, or made by an older build) is left alone.
 *
 * Threading: none of its own; a run calls these from its one thread.
 */
#ifndef TR_SIM_STORE_DIR_H
#define TR_SIM_STORE_DIR_H

#include <stddef.h>

/* Sweeps the dead runs' directories in base, creates this run's directory into dir (cap
 * bytes) and takes its lock: *lock_fd is the lock's descriptor + 1 (0: none). On error dir
 * is "" or names a directory that tr__sim_store_dir_remove removes; TR_ETOOBIG if the path
 * does not fit, TR_EIO if it cannot be created or locked. */
int tr__sim_store_dir_create(const char *base, char *dir, size_t cap, int *lock_fd);
/* Removes dir and everything in it (dir "" : nothing); does not release the lock. */
void tr__sim_store_dir_remove(const char *dir);

#endif /* TR_SIM_STORE_DIR_H */
