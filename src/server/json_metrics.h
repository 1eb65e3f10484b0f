/*
 * json_metrics — parsing the prototype's JSON metrics documents (the bodies of POST
 * /api/nodes/<node>/metrics and /api/namespaces/<ns>/pods/<pod>/metrics; shapes in
 * ingest_json.c and docs/api.md) into figures and identity strings. Pure; fuzzed.
 */
#ifndef KMON_SERVER_JSON_METRICS_H
#define KMON_SERVER_JSON_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum km_json_metric {
    KM_JM_CPU_MILLICORES,
    KM_JM_MEMORY_BYTES,
    KM_JM_DISK_READ_BYTES,
    KM_JM_DISK_WRITE_BYTES,
    KM_JM_NET_RECV_BYTES,
    KM_JM_NET_SENT_BYTES,
    KM_JM_COUNT
};

struct km_json_metrics {
    /* Borrowed from the parsed document (or set by the caller); NULL when absent. */
    const char *node, *namespace, *pod, *cluster, *deployment;
    int64_t t_ms; /* "timestamp", or the `now_ms` given to the parser */
    bool has[KM_JM_COUNT];
    double v[KM_JM_COUNT];
    void *doc; /* the parsed document (owned) */
};

/* Parse body[0..len). Returns 0, or KM_EINVAL with a sentence in err[0..errsize) (and
 * nothing to free). At least one figure must be present. */
int km_json_metrics_parse(const char *body, size_t len, int64_t now_ms, struct km_json_metrics *out,
                          char *err, size_t errsize);

/* Free the document. Accepts a zeroed struct. */
void km_json_metrics_fini(struct km_json_metrics *m);

#endif
