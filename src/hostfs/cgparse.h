/*
 * cgparse — parsers for the cgroup interface files the pod collector reads (v1 and v2,
 * Documentation/admin-guide/cgroup-v2.rst and the cgroup-v1 directory), and for the names the
 * kubelet gives pod and container cgroups under both cgroup drivers.
 *
 * Like procfs/, they take the file's bytes (not necessarily NUL-terminated), never
 * allocate or do I/O, and return the number of lines they could not use (>= 0): safe
 * to fuzz, cheap on the collection path. Pressure files use km_parse_pressure().
 */
#ifndef KMON_AGENT_CGROUP_CGPARSE_H
#define KMON_AGENT_CGROUP_CGPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- files ------------------------------------------------------------------------- */

/* A flat keyed file ("key value" per line: cpu.stat, memory.stat, memory.events,
 * cpuacct.stat): for each of keys[0..nkeys) found, vals[i] is set and bit i of *found.
 * Unknown keys are ignored (kernels add keys); a line without a number is malformed. */
int km_cg_parse_flat(const char *s, size_t n, const char *const *keys, size_t nkeys, uint64_t *vals,
                     uint64_t *found);

/* A single-value file: a non-negative integer, or "max" (*is_max). */
int km_cg_parse_value(const char *s, size_t n, uint64_t *v, bool *is_max);

/* A single signed integer (v1 cpu.cfs_quota_us: -1 is "no quota"). */
int km_cg_parse_signed(const char *s, size_t n, int64_t *v);

/* v2 cpu.max: "$MAX $PERIOD", $MAX "max" for no quota. */
int km_cg_parse_cpu_max(const char *s, size_t n, bool *has_quota, uint64_t *quota,
                        uint64_t *period);

/* v2 io.stat, one line per device: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N
 * dios=N" (keys in any order, unknown ones ignored). */
struct km_cg_io {
    unsigned major, minor;
    uint64_t rbytes, wbytes, rios, wios;
};
typedef void (*km_cg_io_fn)(void *ud, const struct km_cg_io *io);
int km_cg_parse_io_stat(const char *s, size_t n, km_cg_io_fn fn, void *ud);

/* v1 blkio.throttle.io_service_bytes(_recursive) and io_serviced(_recursive):
 * "MAJ:MIN Read N" / Write / Sync / Async / Discard / Total per device, then "Total N".
 * fn gets each device's Read and Write (into rbytes/wbytes, or rios/wios when `ops`). */
int km_cg_parse_blkio(const char *s, size_t n, bool ops, km_cg_io_fn fn, void *ud);

/* ---- the kubelet's names ----------------------------------------------------------- */

#define KM_POD_UID_MAX      64 /* 36 for a UUID; static pods use a 32-hex hash */
#define KM_CONTAINER_ID_MAX 65 /* 64 hex digits + NUL */

enum km_qos { KM_QOS_NONE, KM_QOS_GUARANTEED, KM_QOS_BURSTABLE, KM_QOS_BESTEFFORT };
enum km_runtime { KM_RT_NONE, KM_RT_CONTAINERD, KM_RT_CRIO, KM_RT_DOCKER, KM_RT_PLAIN };

/* A QoS-class directory: "kubepods-burstable.slice" (systemd driver) or "burstable"
 * (cgroupfs). */
bool km_kube_qos_dir(const char *name, enum km_qos *qos);

/* A pod directory: "kubepods[-<qos>]-pod<uid, '-' as '_'>.slice" or "pod<uid>"; the
 * uid is written with dashes. */
bool km_kube_pod_dir(const char *name, char uid[KM_POD_UID_MAX]);

/* A container directory: "cri-containerd-<id>.scope", "crio-<id>.scope",
 * "crio-conmon-<id>.scope" (*conmon: CRI-O's monitor, not a container),
 * "docker-<id>.scope", or a bare 64-hex id (cgroupfs driver, any runtime). */
bool km_kube_container_dir(const char *name, enum km_runtime *rt, char id[KM_CONTAINER_ID_MAX],
                           bool *conmon);

/* The kubelet's log layout: "/var/log/pods/<namespace>_<pod>_<uid>" directory names and
 * "/var/log/containers/<pod>_<namespace>_<container>-<id>.log" link names. Outputs are
 * NUL-terminated copies, each at most `size` bytes. */
bool km_kube_pod_log_dir(const char *name, char *ns, char *pod, char *uid, size_t size);
bool km_kube_container_log(const char *name, char *pod, char *ns, char *container, char *id,
                           size_t size);

const char *km_qos_name(enum km_qos q);
const char *km_runtime_name(enum km_runtime r);

#endif
