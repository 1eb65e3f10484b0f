/*
 * settings — the cluster-state collector's config table (see settings.h).
 */
#include "settings.h"

#include "common/err.h"
#include "common/timefmt.h"

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
    { .name = "leader-elect",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct km_kstate_settings, leader_elect),
      .def = "false",
      .help = "elect a leader among replicas with a coordination.k8s.io/v1 Lease: only the "
              "leader emits, the others keep watching to take over at once" },
    { .name = "leader-elect-namespace",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_kstate_settings, le_ns),
      .metavar = "NS",
      .help = "the Lease's namespace (default: the service account's namespace in-cluster, "
              "else default)" },
    { .name = "leader-elect-name",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_kstate_settings, le_name),
      .def = "kmon-cluster-state",
      .metavar = "NAME",
      .help = "the Lease's name, the same for every replica" },
    { .name = "leader-elect-identity",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct km_kstate_settings, le_identity),
      .metavar = "ID",
      .help = "this replica's holderIdentity, unique among the replicas (default: "
              "<hostname>_<random hex>)" },
    { .name = "leader-elect-lease-duration",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_kstate_settings, le_lease_ms),
      .def = "15s",
      .help = "how long the others wait after the leader's last renewal they saw before "
              "taking over (whole seconds)",
      .min = 1000,
      .max = 3600000 },
    { .name = "leader-elect-renew-deadline",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_kstate_settings, le_renew_ms),
      .def = "10s",
      .help = "the leader stops leading when it has not renewed the Lease for this long",
      .min = 100,
      .max = 3600000 },
    { .name = "leader-elect-retry-period",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct km_kstate_settings, le_retry_ms),
      .def = "2s",
      .help = "how often the leader renews and the others try to acquire the Lease",
      .min = 10,
      .max = 3600000 },
    { .name = "cluster-state-events",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct km_kstate_settings, events),
      .def = "true",
      .help = "write Kubernetes Events (events.k8s.io/v1) to the logs as the stream "
              "{source=\"kubernetes-events\", namespace, kind, name, reason, type} (the "
              "ClusterRole needs list,watch on events in apiGroups [\"events.k8s.io\"])" },
    KM_CFG_FIELDS_END,
};

int km_kstate_settings_check(const struct km_kstate_settings *s)
{
    char lease[32], renew[32], retry[32];

    km_duration_format(lease, sizeof(lease), s->le_lease_ms);
    km_duration_format(renew, sizeof(renew), s->le_renew_ms);
    km_duration_format(retry, sizeof(retry), s->le_retry_ms);
    if (s->le_lease_ms % 1000)
        return km_err_set(KM_EINVAL,
                          "--leader-elect-lease-duration (%s) must be whole seconds (a Lease's "
                          "leaseDurationSeconds)",
                          lease);
    if (s->le_renew_ms >= s->le_lease_ms)
        return km_err_set(KM_EINVAL,
                          "--leader-elect-renew-deadline (%s) must be shorter than "
                          "--leader-elect-lease-duration (%s): a leader must stop leading "
                          "before the others may take over",
                          renew, lease);
    if (s->le_retry_ms >= s->le_renew_ms)
        return km_err_set(KM_EINVAL,
                          "--leader-elect-retry-period (%s) must be shorter than "
                          "--leader-elect-renew-deadline (%s): a leader retries a failed "
                          "renewal within its deadline",
                          retry, renew);
    return 0;
}

int km_kstate_opts_from(struct km_kstate_opts *out, const struct km_kstate_settings *s,
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
    out->leader_elect = s->leader_elect;
    out->leader.ns = s->le_ns;
    out->leader.name = s->le_name;
    out->leader.identity = s->le_identity;
    out->leader.lease_duration_ms = s->le_lease_ms;
    out->leader.renew_deadline_ms = s->le_renew_ms;
    out->leader.retry_period_ms = s->le_retry_ms;
    out->events = s->events;
    return km_kstate_settings_check(s);
}
