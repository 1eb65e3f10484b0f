/*
 * ingest_json — the prototype's JSON POST endpoints, so its collectors keep working:
 *
 *   POST /api/nodes/<node>/metrics
 *     {"node_name": "n1", "cpu_millicores": 150, "memory_bytes": 2716020736,
 *      "disk_io": {"read_bytes": 0, "write_bytes": 253952},
 *      "network_io": {"bytes_recv": 39274, "bytes_sent": 162132},
 *      "timestamp": "2025-06-12T10:25:19.273139Z"}
 *   POST /api/namespaces/<ns>/pods/<pod>/metrics
 *     the same fields, plus "namespace", "pod_name", "node_name" and "deployment"
 *
 * These are the figures the agent derives on its node (kmon agent --once --format json
 * prints this shape), so they are stored under the names the agent gives them on its
 * /metrics: kmon_node_cpu_millicores, kmon_node_memory_bytes, and for I/O the bytes of
 * the interval ending at the timestamp (kmon_node_disk_read_bytes, …_written_bytes,
 * kmon_node_network_receive_bytes, …_transmit_bytes); kmon_pod_* likewise. Identity
 * labels are those of agent series: cluster ("cluster" in the body, or "default"),
 * node; namespace, pod, workload_kind="Deployment" and workload for pods. Every field
 * but the identity is optional; at least one figure must be there; numbers must be
 * finite and non-negative; unknown fields are ignored; the path wins over the body and
 * a body that contradicts it is refused. A write token bound to a cluster replaces the
 * cluster (km_auth_write_cluster); the request's samples count against that cluster's
 * limits (ingest_cluster.h), all or nothing.
 */
#include "ingest_internal.h"

#include "common/err.h"
#include "common/http_server.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "json_metrics.h"
#include "server/auth/auth.h"

#include <stdio.h>
#include <string.h>

static void refuse(struct km_ingest *in, struct km_http_req *req, unsigned status, const char *msg)
{
    atomic_fetch_add(&in->refused[KM_SRC_JSON], 1);
    km_log_debug(KM_INGEST_LOG, "JSON metrics refused (%u): %s", status, msg);
    km_http_respond_error(req, status, "%s", msg);
}

/* Check the identity strings from the path and body. */
static int check_identity(struct km_ingest *in, const struct km_json_metrics *m)
{
    static const char *const what[] = { "the node name", "the namespace", "the pod name",
                                        "the cluster name", "the deployment name" };
    const char *v[] = { m->node, m->namespace, m->pod, m->cluster, m->deployment };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int rc;

        if (!v[i])
            continue;
        rc = km_ingest_check_value(in, what[i], v[i], strlen(v[i]));
        if (rc)
            return rc;
    }
    return 0;
}

/* {name="value", …} of a series for the answer's example. */
static void labels_preview(char *out, size_t size, const struct km_label *l, size_t n)
{
    size_t k = (size_t)snprintf(out, size, "{");

    for (size_t i = 0; i < n && k + 8 < size; i++)
        k += (size_t)snprintf(out + k, size - k, "%s%s=\"%.60s\"", i ? ", " : "", l[i].name,
                              l[i].value);
    if (k + 2 < size)
        snprintf(out + k, size - k, "}");
}

/* How many of the series of s[0..n) the database does not hold yet (asked only when
 * their cluster is at its series cap). */
static uint64_t json_new_series(struct km_ingest *in, const struct km_sample *s, size_t n)
{
    struct km_querier *q = km_ingest_head_querier(in);
    uint64_t fresh = n;

    for (size_t i = 0; q && i < n; i++)
        fresh -= km_ingest_series_exists(q, s[i].labels, s[i].nlabels);
    km_querier_close(q);
    return fresh;
}

static void store(struct km_ingest *in, struct km_http_req *req, struct km_json_metrics *m,
                  bool pod)
{
    static const char *const node_names[KM_JM_COUNT] = {
        "kmon_node_cpu_millicores",        "kmon_node_memory_bytes",
        "kmon_node_disk_read_bytes",       "kmon_node_disk_written_bytes",
        "kmon_node_network_receive_bytes", "kmon_node_network_transmit_bytes",
    };
    static const char *const pod_names[KM_JM_COUNT] = {
        "kmon_pod_cpu_millicores",        "kmon_pod_memory_bytes",
        "kmon_pod_disk_read_bytes",       "kmon_pod_disk_written_bytes",
        "kmon_pod_network_receive_bytes", "kmon_pod_network_transmit_bytes",
    };
    struct km_label l[KM_JM_COUNT][8];
    struct km_sample s[KM_JM_COUNT];
    enum km_sample_status st[KM_JM_COUNT];
    struct km_append_result res;
    struct km_ingest_refusals refused = { 0 };
    struct km_cluster_use use;
    const char *bound = km_auth_write_cluster(req);
    size_t n = 0;
    int rc;

    if (check_identity(in, m) != 0) {
        char msg[512];

        snprintf(msg, sizeof(msg), "%s", km_err_msg());
        refuse(in, req, 400, msg);
        return;
    }
    if (bound)
        m->cluster = bound;
    if (!m->cluster)
        m->cluster = "default";
    use.slot = km_clusters_slot(in->clusters, m->cluster, strlen(m->cluster));
    for (int f = 0; f < KM_JM_COUNT; f++) {
        size_t k = 0;

        if (!m->has[f])
            continue;
        l[n][k++] = (struct km_label){ "__name__", pod ? pod_names[f] : node_names[f] };
        l[n][k++] = (struct km_label){ "cluster", m->cluster };
        if (m->node)
            l[n][k++] = (struct km_label){ "node", m->node };
        if (pod) {
            l[n][k++] = (struct km_label){ "namespace", m->namespace };
            l[n][k++] = (struct km_label){ "pod", m->pod };
            if (m->deployment) {
                l[n][k++] = (struct km_label){ "workload", m->deployment };
                l[n][k++] = (struct km_label){ "workload_kind", "Deployment" };
            }
        }
        s[n] = (struct km_sample){ l[n], k, m->t_ms, m->v[f] };
        n++;
    }
    /* Which of them are new is not known before they are stored: counted as new
     * against the cluster's series cap only when the cluster is at it. */
    use.n = n;
    use.new_series = 0;
    if (in->o.max_series_per_cluster &&
        km_clusters_series(in->clusters, use.slot) + n > in->o.max_series_per_cluster)
        use.new_series = json_new_series(in, s, n);
    if (!km_ingest_rate_take(in, n, &(int64_t){ 1 })) {
        km_clusters_note(in->clusters, KM_CLUSTER_SAMPLES, &use, 1, true);
        km_http_req_add_header(req, "Retry-After", "1");
        atomic_fetch_add(&in->limited, 1);
        km_http_respond_error(req, 429, "over the ingest rate limit of %.0f samples/s",
                              in->o.max_samples_per_s);
        return;
    }
    if (!km_ingest_cluster_admit(in, req, &use, 1))
        return;
    atomic_fetch_add(&in->samples[KM_SRC_JSON], n);
    rc = km_storage_append(in->store, s, n, st, &res);
    km_ingest_count(in, &res);
    km_clusters_created(in->clusters, use.slot, res.series_created);
    if (rc) {
        km_http_respond_error(req, 503, "the write-ahead log could not be written: %s",
                              km_err_msg());
        return;
    }
    km_ingest_tap(in, s, n, st);
    if (res.invalid) {
        km_http_respond_error(req, 400, "%s", km_err_msg());
        return;
    }
    refused.received = n;
    for (size_t i = 0; i < n; i++) {
        if (km_ingest_refusals_add(&refused, st[i], s[i].t))
            labels_preview(refused.example_series, sizeof(refused.example_series), s[i].labels,
                           s[i].nlabels);
    }
    km_ingest_answer(in, req, &refused, "JSON metrics");
}

static bool parse(struct km_ingest *in, struct km_http_req *req, struct km_json_metrics *m)
{
    const char *body;
    size_t len;
    char err[512];

    atomic_fetch_add(&in->requests[KM_SRC_JSON], 1);
    body = km_http_req_body(req, &len);
    if (km_json_metrics_parse(body, len, km_time_now_ns() / 1000000, m, err, sizeof(err)) != 0) {
        refuse(in, req, 400, err);
        return false;
    }
    return true;
}

void km_ingest_node_json(struct km_http_req *req, void *ud)
{
    struct km_ingest *in = ud;
    const char *node = km_http_req_param(req, "node");
    struct km_json_metrics m;
    char msg[512];

    if (!parse(in, req, &m))
        return;
    if (m.node && strcmp(m.node, node) != 0) {
        snprintf(msg, sizeof(msg),
                 "node_name \"%.200s\" in the body does not match the path's \"%.200s\"", m.node,
                 node);
        refuse(in, req, 400, msg);
    } else {
        m.node = node;
        store(in, req, &m, false);
    }
    km_json_metrics_fini(&m);
}

void km_ingest_pod_json(struct km_http_req *req, void *ud)
{
    struct km_ingest *in = ud;
    const char *ns = km_http_req_param(req, "namespace");
    const char *pod = km_http_req_param(req, "pod");
    struct km_json_metrics m;
    char msg[512];

    if (!parse(in, req, &m))
        return;
    if (m.pod && strcmp(m.pod, pod) != 0) {
        snprintf(msg, sizeof(msg),
                 "pod_name \"%.200s\" in the body does not match the path's \"%.200s\"", m.pod,
                 pod);
        refuse(in, req, 400, msg);
    } else if (m.namespace && strcmp(m.namespace, ns) != 0) {
        snprintf(msg, sizeof(msg),
                 "namespace \"%.200s\" in the body does not match the path's \"%.200s\"",
                 m.namespace, ns);
        refuse(in, req, 400, msg);
    } else {
        m.pod = pod;
        m.namespace = ns;
        store(in, req, &m, true);
    }
    km_json_metrics_fini(&m);
}
