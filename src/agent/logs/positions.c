/*
 * positions — the tailer's durable checkpoint (see positions.h).
 */
#include "agent/logs/positions.h"

#include "common/array.h"
#include "common/buf.h"
#include "common/err.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define HEADER   "kmon-log-positions 1\n"
#define FILE_MAX (KM_LOGPOS_MAX * (KM_LOGPOS_PATH_MAX + 128ull))

uint64_t km_logpos_hash(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

void km_logpos_free(struct km_logpos *p, size_t n)
{
    if (!p)
        return;
    for (size_t i = 0; i < n; i++)
        free(p[i].path);
    free(p);
}

static int parse_line(char *s, struct km_logpos *e)
{
    char *end, *path;
    unsigned long long v[6];

    for (int k = 0; k < 6; k++) {
        errno = 0;
        v[k] = strtoull(s, &end, k == 3 ? 16 : 10);
        if (end == s || *end != ' ' || errno)
            return -1;
        s = end + 1;
    }
    path = s;
    if (!*path || strlen(path) >= KM_LOGPOS_PATH_MAX || strchr(path, ' ') ||
        v[2] > KM_LOGPOS_FP_MAX || v[5] > 1)
        return -1;
    e->dev = v[0];
    e->ino = v[1];
    e->fp_len = (uint32_t)v[2];
    e->fp = v[3];
    e->off = v[4];
    e->done = v[5] == 1;
    e->used = false;
    e->path = strdup(path);
    return e->path ? 0 : -2;
}

int km_logpos_load(const char *dir, struct km_logpos **out, size_t *n)
{
    char path[4096];
    FILE *f;
    struct km_logpos *v = NULL;
    size_t nv = 0, cap = 0, lineno = 1;
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/positions", dir);
    f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT) {
            *out = NULL;
            *n = 0;
            return 0;
        }
        return km_err_set(KM_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    len = getline(&line, &linecap, f);
    if (len < 0 || strcmp(line, HEADER) != 0) {
        rc = km_err_set(KM_ECORRUPT, "%s: not a kmon log positions file (version 1)", path);
        goto out_close;
    }
    while ((len = getline(&line, &linecap, f)) > 0) {
        int r;

        lineno++;
        if (line[len - 1] != '\n') {
            rc = km_err_set(KM_ECORRUPT, "%s:%zu: the line is cut short", path, lineno);
            goto out_close;
        }
        line[len - 1] = '\0';
        if (nv >= KM_LOGPOS_MAX) {
            rc = km_err_set(KM_ECORRUPT, "%s: more than %u entries", path, KM_LOGPOS_MAX);
            goto out_close;
        }
        rc = km_array_grow((void **)&v, &cap, nv + 1, sizeof(*v), 64, "reading log positions");
        if (rc)
            goto out_close;
        r = parse_line(line, &v[nv]);
        if (r == -2) {
            rc = km_err_set(KM_ENOMEM, "out of memory reading log positions");
            goto out_close;
        }
        if (r) {
            rc = km_err_set(KM_ECORRUPT, "%s:%zu: malformed entry", path, lineno);
            goto out_close;
        }
        nv++;
    }
    if (ferror(f))
        rc = km_err_set(KM_EIO, "reading %s failed", path);
out_close:
    free(line);
    fclose(f);
    if (rc) {
        km_logpos_free(v, nv);
        return rc;
    }
    *out = v;
    *n = nv;
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int km_logpos_save(const char *dir, const struct km_logpos *p, size_t n)
{
    char tmp[4096], final[4096];
    struct km_buf b;
    int fd, dfd, rc = 0;

    snprintf(tmp, sizeof(tmp), "%s/positions.tmp", dir);
    snprintf(final, sizeof(final), "%s/positions", dir);
    km_buf_init(&b, FILE_MAX);
    km_buf_puts(&b, HEADER);
    for (size_t i = 0; i < n; i++) {
        if (!p[i].path || strpbrk(p[i].path, " \n") || strlen(p[i].path) >= KM_LOGPOS_PATH_MAX)
            continue;
        km_buf_printf(&b, "%" PRIu64 " %" PRIu64 " %" PRIu32 " %016" PRIx64 " %" PRIu64 " %d %s\n",
                      p[i].dev, p[i].ino, p[i].fp_len, p[i].fp, p[i].off, p[i].done ? 1 : 0,
                      p[i].path);
    }
    if (km_buf_error(&b)) {
        rc = km_err_set(km_buf_error(&b), "log positions too large to write");
        goto out_buf;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        rc = km_err_set(KM_EIO, "cannot create %s: %s", tmp, strerror(errno));
        goto out_buf;
    }
    if (write_all(fd, b.data, b.len) != 0 || fsync(fd) != 0) {
        rc = km_err_set(KM_EIO, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out_buf;
    }
    close(fd);
    if (rename(tmp, final) != 0) {
        rc = km_err_set(KM_EIO, "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out_buf;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
out_buf:
    km_buf_fini(&b);
    return rc;
}
