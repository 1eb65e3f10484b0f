/*
 * procfs — parsers for the /proc and /sys text formats the node agent reads.
 *
 * Each parser takes the file's bytes (not necessarily NUL-terminated) and reports what
 * it found through a struct or a callback; none does I/O or allocates, so they are
 * cheap on the collection path and safe to fuzz. A malformed line is skipped and
 * counted: every parser returns the number of lines it could not use (>= 0), and the
 * collector turns that count into kmon_agent_collect_errors_total. A line is malformed
 * when a field the format defines is missing, is not a number where one belongs, has
 * text after its last column, or carries a NUL byte (the kernel never writes one). s may
 * be NULL when n is 0. Formats follow Documentation/filesystems/proc.rst and
 * Documentation/admin-guide/iostats.rst. Pure functions; thread-safe.
 */
#ifndef KMON_AGENT_PROCFS_H
#define KMON_AGENT_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- /proc/stat ------------------------------------------------------------------- */

/* Columns of a cpu line, in the kernel's order. Older kernels have fewer: no steal
 * before 2.6.11, no guest before 2.6.24, no guest_nice before 2.6.33. */
enum km_cpu_mode {
    KM_CPU_USER,
    KM_CPU_NICE,
    KM_CPU_SYSTEM,
    KM_CPU_IDLE,
    KM_CPU_IOWAIT,
    KM_CPU_IRQ,
    KM_CPU_SOFTIRQ,
    KM_CPU_STEAL,
    KM_CPU_GUEST,
    KM_CPU_GUEST_NICE,
    KM_CPU_NMODES
};

struct km_stat_cpu {
    int cpu;                       /* -1 for the aggregate "cpu" line */
    unsigned nfields;              /* columns present (4..10) */
    uint64_t ticks[KM_CPU_NMODES]; /* USER_HZ ticks; absent columns are 0 */
};

#define KM_STAT_CTXT          (1u << 0)
#define KM_STAT_BTIME         (1u << 1)
#define KM_STAT_PROCESSES     (1u << 2)
#define KM_STAT_PROCS_RUNNING (1u << 3)
#define KM_STAT_PROCS_BLOCKED (1u << 4)
#define KM_STAT_INTR          (1u << 5)
#define KM_STAT_SOFTIRQ       (1u << 6)

struct km_stat {
    unsigned have; /* KM_STAT_* bits of the fields found */
    uint64_t ctxt, btime, processes, procs_running, procs_blocked, intr, softirq;
};

typedef void (*km_stat_cpu_fn)(void *ud, const struct km_stat_cpu *cpu);

int km_parse_stat(const char *s, size_t n, struct km_stat *out, km_stat_cpu_fn fn, void *ud);

/* ---- /proc/meminfo ---------------------------------------------------------------- */

/* Called for each "Key:   value [kB]" line. `key` is not NUL-terminated. `bytes` is the
 * value times 1024 when the line has a kB unit (has_unit), else the bare count. */
typedef void (*km_meminfo_fn)(void *ud, const char *key, size_t keylen, uint64_t value,
                              bool has_unit);

int km_parse_meminfo(const char *s, size_t n, km_meminfo_fn fn, void *ud);

/* ---- /proc/diskstats -------------------------------------------------------------- */

#define KM_DISK_NAME_MAX 64
#define KM_DISK_NSTATS   17

/* Statistic columns after "major minor name": 11 on every kernel, 15 since 4.18
 * (discards), 17 since 5.5 (flushes). */
enum km_disk_stat {
    KM_DISK_READS,
    KM_DISK_READS_MERGED,
    KM_DISK_SECTORS_READ,
    KM_DISK_READ_MS,
    KM_DISK_WRITES,
    KM_DISK_WRITES_MERGED,
    KM_DISK_SECTORS_WRITTEN,
    KM_DISK_WRITE_MS,
    KM_DISK_IO_NOW,
    KM_DISK_IO_MS,
    KM_DISK_IO_WEIGHTED_MS,
    KM_DISK_DISCARDS,
    KM_DISK_DISCARDS_MERGED,
    KM_DISK_SECTORS_DISCARDED,
    KM_DISK_DISCARD_MS,
    KM_DISK_FLUSHES,
    KM_DISK_FLUSH_MS,
};

struct km_diskstat {
    unsigned major, minor;
    char name[KM_DISK_NAME_MAX];
    unsigned nstats; /* 11, 15 or 17 */
    uint64_t v[KM_DISK_NSTATS];
};

typedef void (*km_diskstat_fn)(void *ud, const struct km_diskstat *d);

int km_parse_diskstats(const char *s, size_t n, km_diskstat_fn fn, void *ud);

/* ---- /proc/net/dev ---------------------------------------------------------------- */

#define KM_NETDEV_NAME_MAX 64
#define KM_NETDEV_NSTATS   16

/* Receive: bytes packets errs drop fifo frame compressed multicast;
 * transmit: bytes packets errs drop fifo colls carrier compressed. */
struct km_netdev {
    char name[KM_NETDEV_NAME_MAX];
    uint64_t v[KM_NETDEV_NSTATS];
};

typedef void (*km_netdev_fn)(void *ud, const struct km_netdev *d);

int km_parse_netdev(const char *s, size_t n, km_netdev_fn fn, void *ud);

/* ---- /proc/<pid>/mountinfo -------------------------------------------------------- */

#define KM_MOUNT_FIELD_MAX 4096

/* Strings are NUL-terminated copies with the kernel's octal escapes (\040) decoded. */
struct km_mount {
    unsigned major, minor;
    const char *root;
    const char *mountpoint;
    const char *options; /* per-mount: "rw,relatime" */
    const char *fstype;
    const char *source;
    const char *super_options;
};

typedef void (*km_mount_fn)(void *ud, const struct km_mount *m);

int km_parse_mountinfo(const char *s, size_t n, km_mount_fn fn, void *ud);

/* ---- small files -------------------------------------------------------------------- */

struct km_loadavg {
    double load1, load5, load15;
    uint64_t running, total; /* schedulable entities */
};

/* 0 on success, 1 when malformed. */
int km_parse_loadavg(const char *s, size_t n, struct km_loadavg *out);

/* /proc/sys/fs/file-nr: allocated, unused (always 0 since 2.6), maximum. */
struct km_filenr {
    uint64_t allocated, unused, maximum;
};
int km_parse_filenr(const char *s, size_t n, struct km_filenr *out);

/* /proc/uptime: seconds since boot and summed idle seconds of all CPUs. */
struct km_uptime {
    double uptime, idle;
};
int km_parse_uptime(const char *s, size_t n, struct km_uptime *out);

/* /proc/pressure/{cpu,memory,io,irq}. */
struct km_pressure_line {
    bool present;
    double avg10, avg60, avg300;
    uint64_t total_us;
};
struct km_pressure {
    struct km_pressure_line some, full;
};
int km_parse_pressure(const char *s, size_t n, struct km_pressure *out);

/* /proc/<pid>/stat: the fields process_* metrics need. */
struct km_pidstat {
    char state;
    uint64_t utime, stime; /* USER_HZ ticks */
    uint64_t starttime;    /* ticks after boot */
    uint64_t vsize;        /* bytes */
    int64_t rss_pages;
    int64_t num_threads;
};
int km_parse_pidstat(const char *s, size_t n, struct km_pidstat *out);

/* ---- helpers shared by the parsers ---------------------------------------------------- */

/* Skip blanks, read an unsigned decimal. False (and *p unchanged) if none or overflow. */
bool km_scan_u64(const char **p, const char *end, uint64_t *out);
bool km_scan_i64(const char **p, const char *end, int64_t *out);
/* Skip blanks, read a finite decimal ("0.53", "1e-3"). *out is written only on success. */
bool km_scan_double(const char **p, const char *end, double *out);
/* Skip blanks and read a word up to the next blank, into [*w, *w + *wlen). */
bool km_scan_word(const char **p, const char *end, const char **w, size_t *wlen);
/* The end of the line starting at p (the '\n' or end). */
const char *km_line_end(const char *p, const char *end);
/* The start of the line after the one ending at eol (never past end). */
const char *km_next_line(const char *eol, const char *end);
/* True when [p, eol) holds only blanks. */
bool km_rest_blank(const char *p, const char *eol);
/* True when [p, p + n) contains a NUL byte. */
bool km_has_nul(const char *p, size_t n);

#endif
