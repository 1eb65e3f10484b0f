/*
 * kubepods — the kubelet's cgroup tree on this node: pods and their containers.
 *
 * Under the hierarchy root, "kubepods.slice" (systemd driver) or "kubepods" (cgroupfs)
 * holds the Guaranteed pods directly and the Burstable and BestEffort pods under a
 * directory per QoS class; each pod holds a cgroup per container (the sandbox/pause
 * container included; CRI-O's conmon scopes are recognised and left out). A scan
 * rebuilds the list in memory it keeps from scan to scan, so the steady state does not
 * allocate; pods and containers come and go freely between scans.
 */
#ifndef KMON_AGENT_CGROUP_KUBEPODS_H
#define KMON_AGENT_CGROUP_KUBEPODS_H

#include "hostfs/cgparse.h"

#include <stddef.h>

#define KM_KUBE_REL_MAX 256

struct km_kcontainer {
    char id[KM_CONTAINER_ID_MAX];
    enum km_runtime rt;
    char rel[KM_KUBE_REL_MAX]; /* relative to the hierarchy root */
};

struct km_kpod {
    char uid[KM_POD_UID_MAX];
    enum km_qos qos;
    char rel[KM_KUBE_REL_MAX];
    size_t first, n; /* its containers: kp->c[first .. first + n) */
};

struct km_kpods {
    struct km_kpod *pod;
    size_t npod, cappod;
    struct km_kcontainer *c;
    size_t nc, capc;
    size_t skipped; /* directories under a pod that are not containers (conmon, other) */
};

/* Scan `root` (a hierarchy root). No kubepods directory is not an error: zero pods. */
int km_kpods_scan(const char *root, struct km_kpods *kp);

void km_kpods_fini(struct km_kpods *kp);

#endif
