/*
 * fsutil — file-system helpers (see fsutil.h).
 */
#include "fsutil.h"
#include "buf.h"

#include "err.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* mkdir one component; an existing directory counts as made. */
static int make_one(const char *dir, mode_t mode)
{
    struct stat st;

    if (mkdir(dir, mode) == 0)
        return 0;
    if (errno != EEXIST)
        return km_err_set_errno(KM_EIO, errno, "creating %s", dir);
    if (stat(dir, &st) != 0)
        return km_err_set_errno(KM_EIO, errno, "creating %s", dir);
    if (!S_ISDIR(st.st_mode))
        return km_err_set_errno(KM_EIO, ENOTDIR, "creating %s", dir);
    return 0;
}

int km_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = path ? strlen(path) : 0;

    if (len == 0)
        return km_err_set(KM_EINVAL, "an empty directory name");
    if (len >= sizeof(buf))
        return km_err_set_errno(KM_EINVAL, ENAMETOOLONG, "creating %.64s…", path);
    memcpy(buf, path, len + 1);
    /* Each '/' after a name ends a parent: make it, then put the '/' back. */
    for (char *p = buf + 1; *p; p++) {
        int rc;

        if (*p != '/' || p[-1] == '/')
            continue;
        *p = '\0';
        rc = make_one(buf, mode);
        *p = '/';
        if (rc)
            return rc;
    }
    return buf[len - 1] == '/' ? 0 : make_one(buf, mode);
}

int km_mkdir_setting(const char *path, mode_t mode, const char *what, const char *flag)
{
    char why[300];
    int rc = km_mkdir_p(path, mode);

    if (rc == 0)
        return 0;
    snprintf(why, sizeof(why), "%s", km_err_msg());
    return km_err_set(rc, "cannot create the %s %s (%s); give another with --%s DIR", what, path,
                      why, flag);
}

int km_file_read(const char *path, size_t max, struct km_buf *out)
{
    FILE *f;
    char chunk[8192];
    size_t n;
    int rc;

    km_buf_init(out, max + 1);
    f = fopen(path, "rb");
    if (!f)
        return km_err_set_errno(KM_EIO, errno, "cannot open %s", path);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && km_buf_append(out, chunk, n) == 0)
        ;
    rc = ferror(f) ? km_err_set_errno(KM_EIO, errno, "reading %s", path)
         : km_buf_error(out) || out->len > max
             ? km_err_set(KM_ELIMIT, "%s is larger than %zu bytes", path, max)
             : 0;
    fclose(f);
    return rc;
}
