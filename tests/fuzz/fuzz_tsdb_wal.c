/*
 * fuzz_tsdb_wal — WAL replay over an arbitrary segment file: the input is written as
 * segment 00000001 of a scratch wal/ directory and replayed (repairs enabled, so the
 * torn-tail and quarantine paths run too), decoding every record it hands out.
 */
#include "fuzz_common.h"
#include "tsdb/wal.h"
#include "tsdb/wal_records.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

/* Empty the scratch directory (replay may leave quarantined or renamed files). */
static void clear_dir(void)
{
    char path[sizeof(dir) + 300];
    struct dirent *e;
    DIR *d = opendir(dir);

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

static int on_series(void *ud, uint64_t ref, const struct km_label *l, size_t n)
{
    (void)ud;
    (void)ref;
    for (size_t i = 0; i < n; i++)
        CHECK(l[i].name && l[i].value);
    return 0;
}

static int on_sample(void *ud, uint64_t ref, int64_t t, double v)
{
    (void)ud;
    (void)ref;
    (void)t;
    (void)v;
    return 0;
}

static int on_record(void *ud, uint8_t type, const uint8_t *p, size_t len)
{
    if (type == KM_WAL_SERIES)
        km_walrec_decode_series(p, len, on_series, ud);
    else if (type == KM_WAL_SAMPLES)
        km_walrec_decode_samples(p, len, on_sample, ud);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_wal_replay_stats st;
    char path[128];
    int fd;

    if (!dir[0])
        snprintf(dir, sizeof(dir), "%s", fuzz_dir("wal"));
    snprintf(path, sizeof(path), "%s/00000001", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    close(fd);
    CHECK(km_wal_replay(dir, false, on_record, NULL, &st) == 0);
    CHECK(st.next_seq >= 2);
    clear_dir();
    return 0;
}
