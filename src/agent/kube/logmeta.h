/*
 * logmeta — pod and container names from the kubelet's log layout, for when the
 * Kubernetes API cannot be asked: /var/log/pods/<namespace>_<pod>_<uid>/ gives each pod
 * uid its namespace and name, and the /var/log/containers/<pod>_<namespace>_<container>-
 * <container id>.log links give each container id its name. The sandbox (pause)
 * container has no log, so it has no name here.
 *
 * Refreshing re-reads a directory only when its modification time changed, so the
 * steady state costs two stat() calls. Lookups are binary searches. One owner.
 */
#ifndef KMON_AGENT_KUBE_LOGMETA_H
#define KMON_AGENT_KUBE_LOGMETA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define KM_KUBE_NAME_MAX 254 /* a DNS-1123 subdomain is at most 253 characters */

struct km_log_pod {
    char uid[64];
    char ns[KM_KUBE_NAME_MAX];
    char name[KM_KUBE_NAME_MAX];
};

struct km_log_container {
    char id[65];
    char name[KM_KUBE_NAME_MAX];
};

struct km_logmeta {
    char pods_dir[4096], containers_dir[4096];
    struct timespec pods_mtime, containers_mtime;
    struct km_log_pod *pod;
    size_t npod, cappod;
    struct km_log_container *c;
    size_t nc, capc;
    unsigned refreshes; /* directory re-reads, for tests and self metrics */
};

/* Point at <root>/var/log/pods and <root>/var/log/containers. */
void km_logmeta_init(struct km_logmeta *m, const char *root);

/* Re-read what changed. Missing directories leave the tables empty (not an error). */
int km_logmeta_refresh(struct km_logmeta *m);

const struct km_log_pod *km_logmeta_pod(const struct km_logmeta *m, const char *uid);
const char *km_logmeta_container(const struct km_logmeta *m, const char *id);

void km_logmeta_fini(struct km_logmeta *m);

#endif
