/*
 * settings — the cluster-state collector's config table (see settings.h).
 */
#include "settings.h"

#include <stddef.h>
#include <string.h>

const struct km_cfg_field km_kstate_fields[] = {
    { .name = "kubeconfig",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_kstate_settings, kubeconfig),
      .metavar = "FILE",
      .help = "reach the Kubernetes API with this kubeconfig's current context (default: "
              "in-cluster)" },
    { .name = "kubernetes-serviceaccount-dir",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_kstate_settings, sa_dir),
      .def = "/var/run/secrets/kubernetes.io/serviceaccount",
      .metavar = "DIR",
      .help = "the in-cluster token and ca.crt (the token is re-read when it rotates)" },
    { .name = "cluster-state-kinds",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_kstate_settings, kinds),
      .metavar = "LIST",
      .help = "the kinds to watch, comma-separated (default all: pods,nodes,namespaces,"
              "deployments,replicasets,statefulsets,daemonsets,jobs,cronjobs,"
              "horizontalpodautoscalers,persistentvolumeclaims,services,resourcequotas)" },
    { .name = "cluster-state-watch-timeout",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_kstate_settings, watch_timeout_ms),
      .def = "5m",
      .help = "timeoutSeconds of each watch request (a new watch follows from the last "
              "version seen)",
      .min = 1000,
      .max = 3600000 },
    { .name = "metric-labels-allowlist",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_kstate_settings, labels),
      .metavar = "LIST",
      .help = "Kubernetes labels kept as label_* in kube_<kind>_labels, as kube-state-metrics' "
              "flag: 'pods=[app,team],namespaces=[*]'" },
    { .name = "metric-annotations-allowlist",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_kstate_settings, annots),
      .metavar = "LIST",
      .help = "annotations kept as annotation_* in kube_<kind>_annotations, same syntax" },
    KM_CFG_FIELDS_END,
};

void km_kstate_opts_from(struct km_kstate_opts *out, const struct km_kstate_settings *s,
                         const char *cluster)
{
    memset(out, 0, sizeof(*out));
    out->kubeconfig = s->kubeconfig;
    out->sa_dir = s->sa_dir;
    out->cluster = cluster;
    out->kinds = s->kinds;
    out->labels_allowlist = s->labels;
    out->annotations_allowlist = s->annots;
    out->r.watch_timeout_s = (long)(s->watch_timeout_ms / 1000);
}
