/*
 * kconfig — how to reach the Kubernetes API: in-cluster (KUBERNETES_SERVICE_HOST/PORT,
 * the service account's token and CA under /var/run/secrets/kubernetes.io/serviceaccount)
 * or a kubeconfig file (its current context's server, CA, bearer token or token file,
 * or client certificate and key, inline "-data" or as paths).
 *
 * Inline certificates and keys are written to files in a private directory (libcurl's
 * GnuTLS backend takes only paths), removed by km_kube_config_fini. A token file is
 * re-read on every request, so a rotated service-account token is picked up.
 */
#ifndef KMON_KUBE_KCONFIG_H
#define KMON_KUBE_KCONFIG_H

#include <stdbool.h>

struct km_kube_config {
    char *server;             /* "https://host:port", no trailing slash */
    char *ca_file;            /* NULL: the system's CAs */
    char *token, *token_file; /* at most one of them */
    char *cert_file, *key_file;
    bool insecure;    /* insecure-skip-tls-verify */
    char *tmpdir;     /* ours, for inline data; removed at fini */
    char source[320]; /* for logs: "in-cluster" or "kubeconfig <path>" */
};

/* In-cluster: KUBERNETES_SERVICE_HOST and _PORT from the environment, the token and
 * ca.crt from sa_dir. KM_ENOTFOUND when not running in a cluster. */
int km_kube_config_incluster(struct km_kube_config *c, const char *sa_dir);

/* A kubeconfig file's current context. KM_EINVAL with a sentence when it lacks what is
 * needed, KM_ENOTFOUND when the file does not exist. */
int km_kube_config_kubeconfig(struct km_kube_config *c, const char *path);

/* The bearer token to send now (re-reading token_file), into out; false when none. */
bool km_kube_config_token(const struct km_kube_config *c, char *out, unsigned size);

void km_kube_config_fini(struct km_kube_config *c);

#endif
