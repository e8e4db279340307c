/* store_helpers.h — temporary directories and recording hooks for the store suites. */
#ifndef TR_TEST_STORE_HELPERS_H
#define TR_TEST_STORE_HELPERS_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/store.h"

/* A fresh directory under /tmp (mkdtemp). */
static inline char *tmp_dir(void) {
    char *d = strdup("/tmp/troupe-store-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

/* Removes dir and the files in it (the store never makes subdirectories). */
static inline void rm_dir(char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                char p[512];
                snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static inline void path_in(char *out, size_t cap, const char *dir, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

static inline void write_file(const char *dir, const char *name, const void *p, size_t n) {
    char path[512];
    path_in(path, sizeof(path), dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* Reads a whole file (NULL if absent); *n = its size. */
static inline unsigned char *read_file(const char *dir, const char *name, size_t *n) {
    char path[512];
    path_in(path, sizeof(path), dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        *n = 0;
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)len + 1);
    cr_assert_eq(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

static inline int count_files(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    }
    closedir(d);
    return n;
}

static inline bool file_exists(const char *dir, const char *name) {
    char path[512];
    path_in(path, sizeof(path), dir, name);
    return access(path, F_OK) == 0;
}

#endif
