/*
 * data_version — reading and writing DIR/kmon.version (see data_version.h).
 */
#include "data_version.h"

#include "common/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether dir holds anything of a database already (blocks, a WAL, metadata). */
static bool holds_data(const char *dir)
{
    static const char *const parts[] = { "blocks", "wal", "metadata", "logs" };

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        char p[PATH_MAX];

        snprintf(p, sizeof(p), "%s/%s", dir, parts[i]);
        if (access(p, F_OK) == 0)
            return true;
    }
    return false;
}

static int write_version(const char *dir, int version)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8], line[32];
    int n = snprintf(line, sizeof(line), "%d\n", version);
    int fd, dfd, rc = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, KM_DATA_VERSION_FILE);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return km_err_set_errno(KM_EIO, errno, "cannot create %s", tmp);
    if (write(fd, line, (size_t)n) != n || fsync(fd) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "cannot write %s", tmp);
    if (close(fd) != 0 && rc == 0)
        rc = km_err_set_errno(KM_EIO, errno, "cannot close %s", tmp);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "cannot rename %s into place", tmp);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return km_err_set_errno(KM_EIO, errno, "cannot open %s", dir);
    if (fsync(dfd) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "fsync %s", dir);
    close(dfd);
    return rc;
}

int km_data_version_write(const char *dir)
{
    return write_version(dir, KM_DATA_FORMAT_VERSION);
}

/* The version in the file: 0 with *v set, KM_ENOTFOUND without a file. */
static int read_version(const char *dir, int *v)
{
    char path[PATH_MAX], line[32], *end;
    FILE *f;
    size_t n;
    long x;

    snprintf(path, sizeof(path), "%s/%s", dir, KM_DATA_VERSION_FILE);
    f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return KM_ENOTFOUND;
        return km_err_set_errno(KM_EIO, errno, "cannot read %s", path);
    }
    n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    errno = 0;
    x = strtol(line, &end, 10);
    while (*end == '\n' || *end == '\r' || *end == ' ')
        end++;
    if (end == line || *end || errno || x < 1 || x > INT_MAX)
        return km_err_set(KM_ECORRUPT,
                          "%s does not hold a format version (one line with a number "
                          "such as 1)",
                          path);
    *v = (int)x;
    return 0;
}

int km_data_version_check(const char *dir, bool write, int *version)
{
    int v = 0, rc = read_version(dir, &v);

    if (rc == KM_ENOTFOUND) {
        /* Made before the file existed: version 1; or new: this build's. */
        v = holds_data(dir) ? 1 : KM_DATA_FORMAT_VERSION;
        rc = write ? write_version(dir, v) : 0;
    }
    if (rc)
        return rc;
    if (version)
        *version = v;
    if (v > KM_DATA_FORMAT_VERSION)
        return km_err_set(KM_EINVAL,
                          "the data directory %s holds data format version %d, newer than "
                          "this kmon's version %d: a newer kmon wrote it, and this one cannot "
                          "read it safely; run that newer kmon (or one that reads version %d) "
                          "on it, or point --data at a directory of version %d or older",
                          dir, v, KM_DATA_FORMAT_VERSION, v, KM_DATA_FORMAT_VERSION);
    return 0;
}
