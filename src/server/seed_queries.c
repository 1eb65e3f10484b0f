/*
 * seed_queries — the REST API's figures as PromQL (see seed_queries.h; docs/api.md lists
 * them as the API sends them, and test_seed_queries checks that it does).
 *
 * Where the figures come from, preferred first (each `or` falls back to the next for the
 * objects the previous one has nothing for):
 *
 *   figure        node                                     pod
 *   cpu           rate(node_cpu_seconds_total{mode!~       rate(container_cpu_usage_seconds_total)
 *                 "idle|iowait"}) x 1000                   x 1000
 *                 kmon_node_cpu_millicores (JSON senders)  kmon_pod_cpu_millicores
 *   memory        MemTotal - MemAvailable                  container_memory_working_set_bytes
 *                 kmon_node_memory_bytes                   kmon_pod_memory_bytes
 *   disk, network rate(node_disk_{read,written}_bytes_total,
 * rate(container_fs_{reads,writes}_bytes_total, node_network_{receive,transmit}_bytes_total
 * container_network_{receive,transmit}_bytes_total) {device!="lo"}) kmon_node_* and kmon_pod_* I/O
 * gauges: the bytes of the interval ending at each sample, as the JSON endpoints store them: summed
 * over the rate window and divided by it
 *
 * Identity. A node is its `node` label, or for series that have none (Prometheus scraping
 * node-exporter) its `instance` without the port ("10.0.0.5:9100" → 10.0.0.5,
 * "[fd00::5]:9100" → fd00::5). A pod is `namespace` + `pod`; cAdvisor-style series count
 * the pod's own cgroup (container="") before the sum of its containers, never the pause
 * container "POD"; a series renamed while it runs (the agent adds workload labels once
 * the Kubernetes API answers) counts once: `max by` its identity without those labels.
 * A pod's deployment is `workload` where workload_kind="Deployment"; where a pod's series
 * carry no workload_kind at all, its name when it follows the ReplicaSet convention
 * <deployment>-<pod-template-hash>-<5 random characters> (the hash's alphabet,
 * "456789bcdf", tells it from a CronJob's Job name); a workload_kind other than
 * Deployment says "none". Namespaces and deployments add up their pods.
 *
 * Cluster state: kube-state-metrics series (KSM v2.15's families and labels, as the
 * cluster-state collector emits them), one query per field. An object exists by its
 * kube_*_info (deployments: kube_deployment_spec_replicas, namespaces:
 * kube_namespace_status_phase); a state's series at 1 names it (phase, reason, a
 * condition's status); a pod's owner is its controller, a ReplicaSet's Deployment in the
 * ReplicaSet's place, and it names the pod's deployment before the naming convention.
 *
 * Timestamps: timestamp() answers a sample's own time only for a plain selector, and
 * drops the metric name, so each source metric is its own term, told apart by a
 * `kmon_source` label, before the newest is taken.
 */
#include "seed_queries.h"

/* ---- fragments ------------------------------------------------------------------------ */

/* Written by hand (clang-format would break the strings apart): each fragment expands to
 * one string literal. */
/* clang-format off */

/* An instance without its port: "10.0.0.5:9100", "[fd00::5]:9100", "host". */
#define INSTANCE_RE "`\\[(.*)\\](?::[0-9]+)?|(.*?)(?::[0-9]+)?`"

/* The series of a node metric (the selector metric{…matchers} inside pre … post): those
 * with a node label, and those named by their instance. */
#define NODE_SERIES(pre, metric, matchers, post) \
    "(" pre metric "{node!=\"\"" matchers "$__node_filter}" post \
    " or label_replace(" pre metric "{node=\"\",instance!=\"\"" matchers "$__instance_filter}" \
    post ", \"node\", \"$1$2\", \"instance\", " INSTANCE_RE "))"

#define NODE_RATE(metric, matchers) NODE_SERIES("rate(", metric, matchers, "[$__rate_interval])")
#define NODE_JSON(metric) metric "{node!=\"\"$__node_filter}"

/* A node I/O figure: the counters' rate, else the JSON interval gauges. */
#define NODE_IO(counter, matchers, json) \
    "sum by (node) (" NODE_RATE(counter, matchers) ")" \
    " or max by (node) (sum_over_time(" NODE_JSON(json) "[$__rate_interval]))" \
    " / ($__rate_interval_ms / 1000)"

#define NODE_TOTAL(counter, matchers) "sum by (node) (" NODE_SERIES("", counter, matchers, "") ")"

/* The newest sample of each series of one source metric, tagged with the metric. */
#define TS_OF(selector, metric) \
    "label_replace(timestamp(" selector "), \"kmon_source\", \"" metric "\", \"\", \"\")"
#define NODE_TS(metric) \
    NODE_SERIES("label_replace(timestamp(", metric, "", \
                "), \"kmon_source\", \"" metric "\", \"\", \"\")")
#define NODE_JSON_TS(metric) TS_OF(NODE_JSON(metric), metric)

#define NODE_TIMESTAMPS \
    NODE_TS("node_cpu_seconds_total") \
    " or " NODE_TS("node_memory_MemTotal_bytes") \
    " or " NODE_TS("node_memory_MemAvailable_bytes") \
    " or " NODE_TS("node_disk_read_bytes_total") \
    " or " NODE_TS("node_disk_written_bytes_total") \
    " or " NODE_TS("node_network_receive_bytes_total") \
    " or " NODE_TS("node_network_transmit_bytes_total") \
    " or " NODE_JSON_TS("kmon_node_cpu_millicores") \
    " or " NODE_JSON_TS("kmon_node_memory_bytes") \
    " or " NODE_JSON_TS("kmon_node_disk_read_bytes") \
    " or " NODE_JSON_TS("kmon_node_disk_written_bytes") \
    " or " NODE_JSON_TS("kmon_node_network_receive_bytes") \
    " or " NODE_JSON_TS("kmon_node_network_transmit_bytes")

#define POD_METRICS \
    "container_cpu_usage_seconds_total|container_memory_working_set_bytes" \
    "|container_fs_reads_bytes_total|container_fs_writes_bytes_total" \
    "|container_network_receive_bytes_total|container_network_transmit_bytes_total" \
    "|kmon_pod_cpu_millicores|kmon_pod_memory_bytes|kmon_pod_disk_read_bytes" \
    "|kmon_pod_disk_written_bytes|kmon_pod_network_receive_bytes" \
    "|kmon_pod_network_transmit_bytes"

#define POD_SEL "namespace!=\"\",pod!=\"\"$__pod_filter"
#define POD_ANY "{__name__=~\"" POD_METRICS "\"," POD_SEL "}"

/* A pod figure from cgroup series (the selector inside pre … post; dims: the labels
 * besides container that tell a pod's series of the metric apart): the pod's own cgroup,
 * else the sum of its containers without "POD"; a renamed series counted once. */
#define POD_CGROUPS(pre, metric, dims, post) \
    "(sum by (namespace, pod) (max by (namespace, pod, container" dims ") (" \
    pre metric "{container=\"\"," POD_SEL "}" post "))" \
    " or sum by (namespace, pod) (max by (namespace, pod, container" dims ") (" \
    pre metric "{container!~\"|POD\"," POD_SEL "}" post ")))"

#define POD_RATE(metric, dims) POD_CGROUPS("rate(", metric, dims, "[$__rate_interval])")
#define POD_JSON(metric) metric "{" POD_SEL "}"

#define POD_IO(counter, dims, json) \
    POD_RATE(counter, dims) \
    " or max by (namespace, pod) (sum_over_time(" POD_JSON(json) "[$__rate_interval]))" \
    " / ($__rate_interval_ms / 1000)"

#define POD_TS(metric) TS_OF(POD_JSON(metric), metric)

#define POD_TIMESTAMPS \
    POD_TS("container_cpu_usage_seconds_total") \
    " or " POD_TS("container_memory_working_set_bytes") \
    " or " POD_TS("container_fs_reads_bytes_total") \
    " or " POD_TS("container_fs_writes_bytes_total") \
    " or " POD_TS("container_network_receive_bytes_total") \
    " or " POD_TS("container_network_transmit_bytes_total") \
    " or " POD_TS("kmon_pod_cpu_millicores") \
    " or " POD_TS("kmon_pod_memory_bytes") \
    " or " POD_TS("kmon_pod_disk_read_bytes") \
    " or " POD_TS("kmon_pod_disk_written_bytes") \
    " or " POD_TS("kmon_pod_network_receive_bytes") \
    " or " POD_TS("kmon_pod_network_transmit_bytes")

/* The ReplicaSet naming convention: <deployment>-<pod-template-hash>-<suffix>. */
#define REPLICASET_RE "`(.+)-[456789bcdf]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}`"

/* Cluster state (kube-state-metrics series). A pod exists by its kube_pod_info; its other
 * kube_pod_* series carry no node, so a pod's figure is kept for the pods kube_pod_info
 * names (which the node filter narrows). */
#define KSM_POD_SEL "namespace!=\"\",pod!=\"\"$__name_filter"
#define KSM_POD(expr) "(" expr ") and on (namespace, pod) kube_pod_info{" POD_SEL "}"
#define KSM_NS_SEL "namespace!=\"\"$__namespace_filter"

/* A pod's controller: a ReplicaSet's own controller (its Deployment) in its place. */
#define KSM_OWNER \
    "max by (namespace, pod, owner_kind, owner_name) (" \
    "label_replace(kube_pod_owner{owner_kind=\"ReplicaSet\",owner_is_controller=\"true\"," \
    KSM_POD_SEL "}, \"replicaset\", \"$1\", \"owner_name\", \"(.+)\")" \
    " * on (namespace, replicaset) group_left (owner_kind, owner_name)" \
    " max by (namespace, replicaset, owner_kind, owner_name) (kube_replicaset_owner{" \
    "owner_is_controller=\"true\",owner_kind!=\"\"," KSM_NS_SEL "}))" \
    " or on (namespace, pod) max by (namespace, pod, owner_kind, owner_name) (" \
    "kube_pod_owner{owner_is_controller=\"true\",owner_kind!=\"\"," KSM_POD_SEL "})"

/* A pod's deployment by its workload labels. */
#define WORKLOAD_DEPLOYMENT \
    "group by (namespace, pod, deployment) (label_replace({__name__=~\"" POD_METRICS \
    "\",workload_kind=\"Deployment\",workload!=\"\"," POD_SEL "}," \
    " \"deployment\", \"$1\", \"workload\", \"(.+)\"))"

/* A pod's deployment by its controller, a ReplicaSet owned by a Deployment. */
#define KSM_DEPLOYMENT_OF \
    "group by (namespace, pod, deployment) (" \
    "label_replace(kube_pod_owner{owner_kind=\"ReplicaSet\",owner_is_controller=\"true\"," \
    KSM_POD_SEL "}, \"replicaset\", \"$1\", \"owner_name\", \"(.+)\")" \
    " * on (namespace, replicaset) group_left (deployment) label_replace(" \
    "max by (namespace, replicaset, owner_name) (kube_replicaset_owner{owner_kind=\"Deployment\"," \
    "owner_is_controller=\"true\"," KSM_NS_SEL "}), \"deployment\", \"$1\", \"owner_name\"," \
    " \"(.+)\"))"

/* A container resource's requests or limits summed over a pod's containers (cpu in
 * millicores). */
#define KSM_RESOURCE(kind, resource, factor) \
    KSM_POD("sum by (namespace, pod) (max by (namespace, pod, container) (" \
            "kube_pod_container_resource_" kind "{resource=\"" resource "\"," KSM_POD_SEL \
            "}))" factor)

/* A namespace's pods in one phase: 0 for a namespace that exists with none. */
#define KSM_PODS_IN(phase) \
    "sum by (namespace) (max by (namespace, pod) (kube_pod_status_phase{phase=\"" phase \
    "\"," KSM_NS_SEL "}))" \
    " or 0 * group by (namespace) (kube_namespace_status_phase{" KSM_NS_SEL "})"

#define KSM_DEPLOYMENT(family) \
    "max by (namespace, deployment) (kube_deployment_" family "{deployment!=\"\"," KSM_NS_SEL \
    "})"

#define KSM_NODE_SEL "node!=\"\"$__node_filter"
#define KSM_CONDITION(c) \
    "max by (node, status) (kube_node_status_condition{condition=\"" c "\"," KSM_NODE_SEL \
    "} == 1)"
#define KSM_NODE_RESOURCE(family, resource, factor) \
    "max by (node) (kube_node_status_" family "{resource=\"" resource "\"," KSM_NODE_SEL "})" \
    factor

/* ---- the table -------------------------------------------------------------------------- */

#define Q(level, fig, name, promql) { KM_SEED_##level, KM_SEED_##fig, name, promql, NULL }
/* A text figure: the answer is the label's value. */
#define QT(level, fig, name, label, promql) \
    { KM_SEED_##level, KM_SEED_##fig, name, promql, label }

/* Namespaces and deployments add up their pods' figures. */
#define GROUPED(fig, name) \
    Q(NAMESPACE, fig, name, "sum by (namespace) ($__pod_" name ")"), \
    Q(DEPLOYMENT, fig, name, "sum by (namespace, deployment) ($__pod_" name \
                             " * on (namespace, pod) group_left (deployment) $__pod_deployment)")

const struct km_seed_query km_seed_queries[] = {
    /* ---- nodes ---- */
    Q(NODE, CPU, "cpu_millicores",
      "sum by (node) (" NODE_RATE("node_cpu_seconds_total", ",mode!~\"idle|iowait\"") ") * 1000"
      " or max by (node) (" NODE_JSON("kmon_node_cpu_millicores") ")"),
    Q(NODE, MEMORY, "memory_bytes",
      "sum by (node) (" NODE_SERIES("", "node_memory_MemTotal_bytes", "", "")
      " - " NODE_SERIES("", "node_memory_MemAvailable_bytes", "", "") ")"
      " or max by (node) (" NODE_JSON("kmon_node_memory_bytes") ")"),
    Q(NODE, MEMORY_TOTAL, "memory_total_bytes", NODE_TOTAL("node_memory_MemTotal_bytes", "")),
    Q(NODE, DISK_READ, "disk_read_bytes_per_second",
      NODE_IO("node_disk_read_bytes_total", "", "kmon_node_disk_read_bytes")),
    Q(NODE, DISK_WRITE, "disk_write_bytes_per_second",
      NODE_IO("node_disk_written_bytes_total", "", "kmon_node_disk_written_bytes")),
    Q(NODE, NET_RECV, "network_receive_bytes_per_second",
      NODE_IO("node_network_receive_bytes_total", ",device!=\"lo\"",
              "kmon_node_network_receive_bytes")),
    Q(NODE, NET_SENT, "network_transmit_bytes_per_second",
      NODE_IO("node_network_transmit_bytes_total", ",device!=\"lo\"",
              "kmon_node_network_transmit_bytes")),
    Q(NODE, DISK_READ_TOTAL, "disk_read_bytes_total", NODE_TOTAL("node_disk_read_bytes_total", "")),
    Q(NODE, DISK_WRITE_TOTAL, "disk_write_bytes_total",
      NODE_TOTAL("node_disk_written_bytes_total", "")),
    Q(NODE, NET_RECV_TOTAL, "network_receive_bytes_total",
      NODE_TOTAL("node_network_receive_bytes_total", ",device!=\"lo\"")),
    Q(NODE, NET_SENT_TOTAL, "network_transmit_bytes_total",
      NODE_TOTAL("node_network_transmit_bytes_total", ",device!=\"lo\"")),
    Q(NODE, TIMESTAMP, "timestamp", "max by (node, cluster) (" NODE_TIMESTAMPS ")"),
    Q(NODE, POD_COUNT, "pod_count",
      "count by (node) (group by (namespace, pod, node) ({__name__=~\"" POD_METRICS
      "\",namespace!=\"\",pod!=\"\",node!=\"\"$__node_filter})"
      " or group by (namespace, pod, node) (kube_pod_info{namespace!=\"\",pod!=\"\",node!=\"\""
      "$__node_filter}))"),
    Q(NODE, STATE, "state", "max by (node, cluster) (kube_node_info{" KSM_NODE_SEL "})"),
    QT(NODE, COND_READY, "condition_ready", "status", KSM_CONDITION("Ready")),
    QT(NODE, COND_MEMORY_PRESSURE, "condition_memory_pressure", "status",
       KSM_CONDITION("MemoryPressure")),
    QT(NODE, COND_DISK_PRESSURE, "condition_disk_pressure", "status",
       KSM_CONDITION("DiskPressure")),
    QT(NODE, COND_PID_PRESSURE, "condition_pid_pressure", "status",
       KSM_CONDITION("PIDPressure")),
    Q(NODE, ALLOC_CPU, "allocatable_cpu_millicores",
      KSM_NODE_RESOURCE("allocatable", "cpu", " * 1000")),
    Q(NODE, ALLOC_MEMORY, "allocatable_memory_bytes",
      KSM_NODE_RESOURCE("allocatable", "memory", "")),
    Q(NODE, ALLOC_PODS, "allocatable_pods", KSM_NODE_RESOURCE("allocatable", "pods", "")),
    Q(NODE, CAP_CPU, "capacity_cpu_millicores", KSM_NODE_RESOURCE("capacity", "cpu", " * 1000")),
    Q(NODE, CAP_MEMORY, "capacity_memory_bytes", KSM_NODE_RESOURCE("capacity", "memory", "")),
    Q(NODE, CAP_PODS, "capacity_pods", KSM_NODE_RESOURCE("capacity", "pods", "")),
    Q(NODE, UNSCHEDULABLE, "unschedulable",
      "max by (node) (kube_node_spec_unschedulable{" KSM_NODE_SEL "})"),

    /* ---- pods ---- */
    Q(POD, CPU, "cpu_millicores",
      POD_RATE("container_cpu_usage_seconds_total", "") " * 1000"
      " or max by (namespace, pod) (" POD_JSON("kmon_pod_cpu_millicores") ")"),
    Q(POD, MEMORY, "memory_bytes",
      POD_CGROUPS("", "container_memory_working_set_bytes", "", "")
      " or max by (namespace, pod) (" POD_JSON("kmon_pod_memory_bytes") ")"),
    Q(POD, DISK_READ, "disk_read_bytes_per_second",
      POD_IO("container_fs_reads_bytes_total", ", device", "kmon_pod_disk_read_bytes")),
    Q(POD, DISK_WRITE, "disk_write_bytes_per_second",
      POD_IO("container_fs_writes_bytes_total", ", device", "kmon_pod_disk_written_bytes")),
    Q(POD, NET_RECV, "network_receive_bytes_per_second",
      POD_IO("container_network_receive_bytes_total", ", interface",
             "kmon_pod_network_receive_bytes")),
    Q(POD, NET_SENT, "network_transmit_bytes_per_second",
      POD_IO("container_network_transmit_bytes_total", ", interface",
             "kmon_pod_network_transmit_bytes")),
    Q(POD, DISK_READ_TOTAL, "disk_read_bytes_total",
      POD_CGROUPS("", "container_fs_reads_bytes_total", ", device", "")),
    Q(POD, DISK_WRITE_TOTAL, "disk_write_bytes_total",
      POD_CGROUPS("", "container_fs_writes_bytes_total", ", device", "")),
    Q(POD, NET_RECV_TOTAL, "network_receive_bytes_total",
      POD_CGROUPS("", "container_network_receive_bytes_total", ", interface", "")),
    Q(POD, NET_SENT_TOTAL, "network_transmit_bytes_total",
      POD_CGROUPS("", "container_network_transmit_bytes_total", ", interface", "")),
    Q(POD, TIMESTAMP, "timestamp", "max by (namespace, pod, node, cluster) (" POD_TIMESTAMPS ")"),
    /* Sources in order of trust, as values (3, 2, 1) so that topk keeps the best one per
     * pod without evaluating a source twice; group makes every answer 1 again. */
    Q(POD, DEPLOYMENT_OF, "deployment",
      "group by (namespace, pod, deployment) (topk by (namespace, pod) (1, 3 * "
      WORKLOAD_DEPLOYMENT
      " or 2 * (" KSM_POD(KSM_DEPLOYMENT_OF) ")"
      " or (group by (namespace, pod, deployment) (label_replace({__name__=~\"" POD_METRICS
      "\",workload_kind=\"\",pod=~" REPLICASET_RE "," POD_SEL "},"
      " \"deployment\", \"$1\", \"pod\", " REPLICASET_RE "))"
      " unless on (namespace, pod) {__name__=~\"" POD_METRICS "\",workload_kind!=\"\","
      POD_SEL "}"
      " unless on (namespace, pod) kube_pod_owner{owner_is_controller=\"true\",owner_kind!=\"\","
      KSM_POD_SEL "})))"),
    Q(POD, STATE, "state", "max by (namespace, pod, node, cluster) (kube_pod_info{" POD_SEL "})"),
    QT(POD, PHASE, "phase", "phase",
       KSM_POD("max by (namespace, pod, phase) (kube_pod_status_phase{" KSM_POD_SEL "} == 1)")),
    QT(POD, REASON, "reason", "reason",
       KSM_POD("topk by (namespace, pod) (1,"
               " max by (namespace, pod, reason) (kube_pod_container_status_waiting_reason{"
               KSM_POD_SEL "} == 1) * 2"
               " or max by (namespace, pod, reason) (kube_pod_status_reason{" KSM_POD_SEL
               "} == 1))")),
    Q(POD, RESTARTS, "restarts",
      KSM_POD("sum by (namespace, pod) (max by (namespace, pod, container) ("
              "kube_pod_container_status_restarts_total{" KSM_POD_SEL "}))")),
    QT(POD, OWNER_KIND, "owner_kind", "owner_kind", KSM_POD(KSM_OWNER)),
    QT(POD, OWNER_NAME, "owner_name", "owner_name", KSM_POD(KSM_OWNER)),
    Q(POD, REQ_CPU, "requests_cpu_millicores", KSM_RESOURCE("requests", "cpu", " * 1000")),
    Q(POD, REQ_MEMORY, "requests_memory_bytes", KSM_RESOURCE("requests", "memory", "")),
    Q(POD, LIM_CPU, "limits_cpu_millicores", KSM_RESOURCE("limits", "cpu", " * 1000")),
    Q(POD, LIM_MEMORY, "limits_memory_bytes", KSM_RESOURCE("limits", "memory", "")),

    /* ---- namespaces and deployments ---- */
    GROUPED(CPU, "cpu_millicores"),
    GROUPED(MEMORY, "memory_bytes"),
    GROUPED(DISK_READ, "disk_read_bytes_per_second"),
    GROUPED(DISK_WRITE, "disk_write_bytes_per_second"),
    GROUPED(NET_RECV, "network_receive_bytes_per_second"),
    GROUPED(NET_SENT, "network_transmit_bytes_per_second"),
    GROUPED(DISK_READ_TOTAL, "disk_read_bytes_total"),
    GROUPED(DISK_WRITE_TOTAL, "disk_write_bytes_total"),
    GROUPED(NET_RECV_TOTAL, "network_receive_bytes_total"),
    GROUPED(NET_SENT_TOTAL, "network_transmit_bytes_total"),
    Q(NAMESPACE, TIMESTAMP, "timestamp", "max by (namespace) ($__pod_timestamp)"),
    Q(NAMESPACE, POD_COUNT, "pod_count",
      "count by (namespace) (group by (namespace, pod) (" POD_ANY ")"
      " or group by (namespace, pod) (kube_pod_info{" KSM_POD_SEL "}))"),
    Q(NAMESPACE, DEPLOYMENT_COUNT, "deployment_count",
      "count by (namespace) (group by (namespace, deployment) ($__pod_deployment)"
      " or group by (namespace, deployment) (kube_deployment_spec_replicas{deployment!=\"\","
      KSM_NS_SEL "}))"),
    Q(NAMESPACE, STATE, "state", "group by (namespace) (kube_namespace_status_phase{" KSM_NS_SEL "})"),
    QT(NAMESPACE, PHASE, "phase", "phase",
       "max by (namespace, phase) (kube_namespace_status_phase{" KSM_NS_SEL "} == 1)"),
    Q(NAMESPACE, PODS_PENDING, "pods_pending", KSM_PODS_IN("Pending")),
    Q(NAMESPACE, PODS_RUNNING, "pods_running", KSM_PODS_IN("Running")),
    Q(NAMESPACE, PODS_SUCCEEDED, "pods_succeeded", KSM_PODS_IN("Succeeded")),
    Q(NAMESPACE, PODS_FAILED, "pods_failed", KSM_PODS_IN("Failed")),
    Q(NAMESPACE, PODS_UNKNOWN, "pods_unknown", KSM_PODS_IN("Unknown")),
    Q(DEPLOYMENT, TIMESTAMP, "timestamp",
      "max by (namespace, deployment) ($__pod_timestamp"
      " * on (namespace, pod) group_left (deployment) $__pod_deployment)"),
    Q(DEPLOYMENT, POD_COUNT, "pod_count", "count by (namespace, deployment) ($__pod_deployment)"),
    Q(DEPLOYMENT, STATE, "state",
      "group by (namespace, deployment) (kube_deployment_spec_replicas{deployment!=\"\","
      KSM_NS_SEL "})"),
    Q(DEPLOYMENT, REPLICAS_DESIRED, "desired_replicas", KSM_DEPLOYMENT("spec_replicas")),
    Q(DEPLOYMENT, REPLICAS_READY, "ready_replicas", KSM_DEPLOYMENT("status_replicas_ready")),
    Q(DEPLOYMENT, REPLICAS_AVAILABLE, "available_replicas",
      KSM_DEPLOYMENT("status_replicas_available")),
    Q(DEPLOYMENT, REPLICAS_UPDATED, "updated_replicas", KSM_DEPLOYMENT("status_replicas_updated")),
    Q(DEPLOYMENT, REPLICAS_UNAVAILABLE, "unavailable_replicas",
      KSM_DEPLOYMENT("status_replicas_unavailable")),
};
/* clang-format on */
const size_t km_seed_nqueries = sizeof(km_seed_queries) / sizeof(km_seed_queries[0]);

/* ---- lookups --------------------------------------------------------------------------- */

const struct km_seed_query *km_seed_query_get(enum km_seed_level level, enum km_seed_fig fig)
{
    for (size_t i = 0; i < km_seed_nqueries; i++) {
        if (km_seed_queries[i].level == level && km_seed_queries[i].fig == fig)
            return &km_seed_queries[i];
    }
    return NULL;
}

const char *const *km_seed_level_keys(enum km_seed_level level, size_t *n)
{
    static const char *const node[] = { "node" }, *const pod[] = { "namespace", "pod" },
                             *const ns[] = { "namespace" },
                             *const dep[] = { "namespace", "deployment" };

    switch (level) {
    case KM_SEED_NODE:
        *n = 1;
        return node;
    case KM_SEED_POD:
        *n = 2;
        return pod;
    case KM_SEED_NAMESPACE:
        *n = 1;
        return ns;
    default:
        *n = 2;
        return dep;
    }
}

const char *km_seed_level_name(enum km_seed_level level)
{
    static const char *const names[] = { "node", "pod", "namespace", "deployment" };

    return level < KM_SEED_LEVELS ? names[level] : "?";
}
