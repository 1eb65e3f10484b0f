/*
 * fuzz_otlp_common — what the OTLP fuzz targets check of a request that decoded: the
 * counts add up, the Prometheus mapping (with delta state and a forced cluster) gives
 * samples whose label sets are sorted, valid and carry that cluster, and the log mapping
 * puts every record in exactly one stream.
 */
#ifndef KMON_TESTS_FUZZ_OTLP_COMMON_H
#define KMON_TESTS_FUZZ_OTLP_COMMON_H

#include "common/labels.h"
#include "fuzz_common.h"
#include "otlp/otlp.h"
#include "otlp/otlp_delta.h"
#include "otlp/otlp_logs.h"
#include "otlp/otlp_prom.h"

static inline const char *fuzz_label(const struct km_label *l, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].name, name) == 0)
            return l[i].value;
    return "";
}

static inline void fuzz_otlp_check_metrics(struct km_otlp_metrics_req *r)
{
    static struct km_otlp_delta *delta;
    struct km_otlp_map_opts o = { .cluster = "fuzz", .now_ms = 1700000000000 };
    struct km_otlp_samples s = { 0 };
    size_t points = 0;

    if (!delta && km_otlp_delta_create(&delta, 1000) != 0)
        return;
    o.delta = delta;
    for (size_t i = 0; i < r->nresources; i++)
        for (size_t k = 0; k < r->resources[i].nscopes; k++)
            for (size_t m = 0; m < r->resources[i].scopes[k].nmetrics; m++)
                points += r->resources[i].scopes[k].metrics[m].npoints;
    CHECK(points == r->npoints);
    if (km_otlp_to_samples(r, &o, &s) == 0) {
        CHECK(s.points <= r->npoints && s.dropped <= s.points);
        for (size_t i = 0; i < s.n; i++) {
            const struct km_sample *x = &s.v[i];
            const char *name = fuzz_label(x->labels, x->nlabels, "__name__");

            CHECK(km_labels_check(x->labels, x->nlabels) == 0);
            CHECK(strcmp(fuzz_label(x->labels, x->nlabels, "cluster"), "fuzz") == 0);
            CHECK(km_metric_name_valid(name, strlen(name)));
        }
    }
    km_otlp_samples_fini(&s);
}

static inline void fuzz_otlp_check_logs(struct km_otlp_logs_req *r)
{
    struct km_otlp_streams st = { 0 };
    size_t n = 0;

    if (km_otlp_to_streams(r, "fuzz", 1, &st) == 0) {
        for (size_t i = 0; i < st.n; i++)
            n += st.v[i].n_entries;
        CHECK(n == r->nlogs);
    }
    km_otlp_streams_fini(&st);
}

#endif
