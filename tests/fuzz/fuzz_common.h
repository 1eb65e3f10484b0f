/*
 * fuzz_common — what every fuzz target shares: an invariant check that aborts (so
 * libFuzzer keeps the input as a crash), an exact-size heap copy of the input (no NUL
 * after it, so AddressSanitizer reports any read past the end), and line counting.
 */
#ifndef KMON_TESTS_FUZZ_COMMON_H
#define KMON_TESTS_FUZZ_COMMON_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_check(bool ok, const char *file, int line, const char *expr)
{
    if (ok)
        return;
    fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, expr);
    abort();
}

#define CHECK(c) fuzz_check((c), __FILE__, __LINE__, #c)

/* A heap copy of exactly `size` bytes, or NULL when memory runs out. */
static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
    char *p = calloc(1, size ? size : 1); /* calloc: no uninitialised byte when size is 0 */

    if (p && size)
        memcpy(p, data, size);
    return p;
}

/* Lines in the input: a last line without '\n' counts too. */
static inline size_t fuzz_count_lines(const char *s, size_t n)
{
    size_t lines = 0;

    for (size_t i = 0; i < n; i++)
        lines += s[i] == '\n';
    return lines + (n > 0 && s[n - 1] != '\n');
}

/* A scratch directory of plain files for targets that need files (made once per process,
 * removed with its files at exit so replays leave nothing behind in /tmp). */
static char fuzz_dir_path[64];

static inline void fuzz_dir_remove(void)
{
    char path[sizeof(fuzz_dir_path) + 300];
    struct dirent *e;
    DIR *d = opendir(fuzz_dir_path);

    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", fuzz_dir_path, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(fuzz_dir_path);
}

static inline const char *fuzz_dir(const char *name)
{
    if (!fuzz_dir_path[0]) {
        snprintf(fuzz_dir_path, sizeof(fuzz_dir_path), "/tmp/kmon-fuzz-%s-%d", name, (int)getpid());
        mkdir(fuzz_dir_path, 0755);
        atexit(fuzz_dir_remove);
    }
    return fuzz_dir_path;
}

#endif
