/* store_dir.c — a simulated run's store directory and its owner lock (see sim/store_dir.h). */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/store_dir.h"
#include "troupe.h"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tr__sim_store_dir_remove(const char *dir) {
    if (dir[0]) {
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/* Removes every troupe-sim-* directory in base whose owner.lock nobody holds. */
static void sweep_dead_stores(const char *base) {
    DIR *d = opendir(base);
    if (d == NULL) {
        return;
    }
    char path[300];
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, "troupe-sim-", 11) != 0) {
            continue;
        }
        int n = snprintf(path, sizeof path, "%s/%s/owner.lock", base, e->d_name);
        if (n < 0 || (size_t)n >= sizeof path) {
            continue;
        }
        int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            continue;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            path[n - (int)strlen("/owner.lock")] = '\0';
            nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
        close(fd);
    }
    closedir(d);
}

/* Takes this run's lock. The file is locked under another name and then renamed (the lock
 * stays with the file), so a sweep never finds owner.lock unlocked while its run is alive. */
static int lock_store_dir(const char *dir, int *lock_fd) {
    char tmp[300], path[300];
    int n = snprintf(tmp, sizeof tmp, "%s/owner.new", dir);
    int m = snprintf(path, sizeof path, "%s/owner.lock", dir);
    if (n < 0 || (size_t)n >= sizeof tmp || m < 0 || (size_t)m >= sizeof path) {
        return TR_ETOOBIG;
    }
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return TR_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || rename(tmp, path) != 0) {
        close(fd);
        return TR_EIO;
    }
    *lock_fd = fd + 1;
    return 0;
}

int tr__sim_store_dir_create(const char *base, char *dir, size_t cap, int *lock_fd) {
    int len = snprintf(dir, cap, "%s/troupe-sim-XXXXXX", base);
    if (len < 0 || (size_t)len >= cap - 8) {
        dir[0] = 0;
        return TR_ETOOBIG;
    }
    sweep_dead_stores(base);
    if (mkdtemp(dir) == NULL) {
        dir[0] = 0;
        return TR_EIO;
    }
    return lock_store_dir(dir, lock_fd);
}
