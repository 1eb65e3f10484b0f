/*
 * self_metrics — metrics about the kmon process itself, as every Prometheus client
 * library exports them: process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds, process_open_fds,
 * process_max_fds, plus kmon_build_info{version,revision}. Reads this process's own
 * /proc/self (never the host's) through kept-open descriptors. One owner; not
 * thread-safe.
 */
#ifndef KMON_COMMON_SELF_METRICS_H
#define KMON_COMMON_SELF_METRICS_H

#include "common/mset.h"
#include "common/procfile.h"

struct km_self_metrics {
    struct km_procfile stat;
    int fd_dir; /* /proc/self/fd, re-read with getdents64 */
    double user_hz;
    double page_size;
    double boot_time; /* from /proc/stat btime, for the start time */
};

int km_self_metrics_init(struct km_self_metrics *s);
/* Add the families to m; failures to read are skipped (returns how many). */
int km_self_metrics_collect(struct km_self_metrics *s, struct km_mset *m);
void km_self_metrics_fini(struct km_self_metrics *s);

#endif
