/*
 * procfile — repeated reads of /proc and /sys files through a kept-open descriptor
 * (see procfile.h). The first read sizes the buffer; later reads fill it in place and
 * grow it only when the file grows (more CPUs online, more mounts).
 */
#include "procfile.h"

#include "err.h"
#include "limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int km_path_join(char *out, size_t size, const char *dir, const char *rel)
{
    size_t dl = strlen(dir);
    int n;

    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    while (rel && *rel == '/')
        rel++;
    if (rel && *rel)
        n = snprintf(out, size, "%.*s/%s", (int)dl, dir, rel);
    else
        n = snprintf(out, size, "%.*s", (int)dl, dir);
    if (n < 0 || (size_t)n >= size)
        return km_err_set(KM_ELIMIT, "path too long: %s/%s", dir, rel ? rel : "");
    return 0;
}

int km_procfile_init(struct km_procfile *f, const char *dir, const char *rel)
{
    char path[4096];
    int rc;

    f->fd = -1;
    f->path = NULL;
    km_buf_init(&f->buf, KM_LIMIT_PROCFILE);
    rc = km_path_join(path, sizeof(path), dir, rel);
    if (rc)
        return rc;
    f->path = strdup(path);
    if (!f->path)
        return km_err_set(KM_ENOMEM, "out of memory");
    return 0;
}

void km_procfile_close(struct km_procfile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

void km_procfile_fini(struct km_procfile *f)
{
    if (f->path) /* a zeroed procfile has fd 0, which is not ours */
        km_procfile_close(f);
    free(f->path);
    f->path = NULL;
    km_buf_fini(&f->buf);
}

int km_procfile_read(struct km_procfile *f, const char **data, size_t *len)
{
    size_t off = 0;

    if (f->fd < 0) {
        f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0)
            return km_err_set_errno(errno == ENOENT || errno == ENOTDIR ? KM_ENOTFOUND : KM_EIO,
                                    errno, "opening %s", f->path);
    }
    km_buf_reset(&f->buf);
    for (;;) {
        ssize_t n;
        int rc;

        /* Start small (most sysfs attributes are a few bytes) and double when full; the
         * buffer keeps its size, so later reads of the same file need one pread. */
        if (f->buf.cap < off + 64) {
            rc = km_buf_reserve(&f->buf, f->buf.cap ? f->buf.cap : 128);
            if (rc) {
                km_procfile_close(f);
                return km_err_wrap(rc, "reading %s", f->path);
            }
        }
        n = pread(f->fd, f->buf.data + off, f->buf.cap - off - 1, (off_t)off);
        if (n < 0) {
            int e = errno;

            if (e == EINTR)
                continue;
            km_procfile_close(f);
            return km_err_set_errno(e == ENOENT || e == ENODEV || e == ESRCH ? KM_ENOTFOUND
                                                                             : KM_EIO,
                                    e, "reading %s", f->path);
        }
        if (n == 0)
            break;
        off += (size_t)n;
        f->buf.len = off;
    }
    f->buf.len = off;
    f->buf.data[off] = '\0';
    *data = f->buf.data;
    *len = off;
    return 0;
}

long km_read_small_file(const char *path, char *out, size_t size)
{
    ssize_t n;
    size_t len;
    int fd;

    if (size == 0)
        return km_err_set(KM_EINVAL, "no room to read %s", path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return km_err_set_errno(errno == ENOENT || errno == ENOTDIR ? KM_ENOTFOUND : KM_EIO, errno,
                                "opening %s", path);
    do {
        n = read(fd, out, size - 1);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        int e = errno;

        close(fd);
        return km_err_set_errno(KM_EIO, e, "reading %s", path);
    }
    close(fd);
    len = (size_t)n;
    if (len && out[len - 1] == '\n')
        len--;
    out[len] = '\0';
    return (long)len;
}
