/*
 * self_metrics — process_* metrics and build info for kmon itself (see self_metrics.h).
 * Open descriptors are counted by re-reading the kept-open /proc/self/fd directory with
 * getdents64(), so the count costs no allocation.
 */
#include "common/self_metrics.h"

#include "common/err.h"
#include "hostfs/procfs.h"
#include "version.h"

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int km_self_metrics_init(struct km_self_metrics *s)
{
    struct km_procfile st;
    const char *data;
    size_t len;
    long hz = sysconf(_SC_CLK_TCK), ps = sysconf(_SC_PAGESIZE);
    int rc;

    s->fd_dir = -1;
    s->user_hz = hz > 0 ? (double)hz : 100;
    s->page_size = ps > 0 ? (double)ps : 4096;
    s->boot_time = 0;
    rc = km_procfile_init(&st, "/proc", "stat");
    if (rc == 0 && km_procfile_read(&st, &data, &len) == 0) {
        struct km_stat k;

        km_parse_stat(data, len, &k, NULL, NULL);
        if (k.have & KM_STAT_BTIME)
            s->boot_time = (double)k.btime;
    }
    km_procfile_fini(&st);
    s->fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return km_procfile_init(&s->stat, "/proc", "self/stat");
}

static long count_fds(int dirfd)
{
    char buf[4096];
    long n = 0;
    ssize_t got;

    if (dirfd < 0 || lseek(dirfd, 0, SEEK_SET) < 0)
        return -1;
    while ((got = getdents64(dirfd, buf, sizeof(buf))) > 0) {
        for (ssize_t off = 0; off < got;) {
            struct dirent64 *d = (struct dirent64 *)(void *)(buf + off);

            if (d->d_name[0] != '.')
                n++;
            off += d->d_reclen;
        }
    }
    return got < 0 ? -1 : n;
}

int km_self_metrics_collect(struct km_self_metrics *s, struct km_mset *m)
{
    struct km_label build[2] = { { "revision", KMON_REVISION }, { "version", KMON_VERSION } };
    struct km_pidstat ps;
    struct rlimit rl;
    const char *data;
    size_t len;
    long fds;
    int failed = 0;

    km_mset_add(m,
                km_mset_family(m, "kmon_build_info",
                               "A metric with a constant '1' value labeled by the version and "
                               "revision kmon was built from.",
                               KM_MT_GAUGE, 0),
                build, 2, 1);
    if (km_procfile_read(&s->stat, &data, &len) == 0 && km_parse_pidstat(data, len, &ps) == 0) {
        km_mset_add(m,
                    km_mset_family(m, "process_cpu_seconds_total",
                                   "Total user and system CPU time spent in seconds.",
                                   KM_MT_COUNTER, 0),
                    NULL, 0, (double)(ps.utime + ps.stime) / s->user_hz);
        km_mset_gauge(m, "process_resident_memory_bytes", "Resident memory size in bytes.",
                      (double)ps.rss_pages * s->page_size);
        km_mset_gauge(m, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                      (double)ps.vsize);
        if (s->boot_time > 0)
            km_mset_gauge(m, "process_start_time_seconds",
                          "Start time of the process since unix epoch in seconds.",
                          s->boot_time + (double)ps.starttime / s->user_hz);
    } else {
        failed++;
    }
    fds = count_fds(s->fd_dir);
    if (fds >= 0)
        km_mset_gauge(m, "process_open_fds", "Number of open file descriptors.", (double)fds);
    else
        failed++;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        km_mset_gauge(m, "process_max_fds", "Maximum number of open file descriptors.",
                      rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
    return failed;
}

void km_self_metrics_fini(struct km_self_metrics *s)
{
    km_procfile_fini(&s->stat);
    if (s->fd_dir >= 0)
        close(s->fd_dir);
    s->fd_dir = -1;
}
