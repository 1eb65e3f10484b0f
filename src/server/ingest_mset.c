/*
 * ingest_mset — a metric set from inside the server (the cluster-state collector) into
 * the database through the checks remote_write applies (see ingest.h): each sample's
 * labels are __name__ plus the set's labels, empty values dropped, sorted, checked
 * (names, duplicates, values' length and UTF-8, at most KM_LIMIT_LABELS_PER_SERIES);
 * samples outside the clock's window are refused before the store sees them; new series
 * beyond --max-series are refused. Appended in batches.
 *
 * Threads: any one caller at a time per metric set; the ingest object is shared.
 */
#include "ingest_internal.h"

#include "common/err.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/mset.h"

#include <stdlib.h>
#include <string.h>

#define BATCH   2048
#define LAB_CAP (BATCH * 16 + KM_LIMIT_LABELS_PER_SERIES + 1) /* a batch's labels */

struct batch {
    struct km_sample s[BATCH];
    enum km_sample_status st[BATCH];
    struct km_label lab[LAB_CAP];
    size_t n, nlab;
    bool forward; /* the self-scrape is not forwarded */
};

static int flush(struct km_ingest *in, struct batch *b, struct km_ingest_mset_result *r)
{
    struct km_append_result res;
    int rc;

    if (b->n == 0)
        return 0;
    rc = km_storage_append(in->store, b->s, b->n, b->st, &res);
    km_ingest_count(in, &res);
    if (rc == 0 && b->forward)
        km_ingest_tap(in, b->s, b->n, b->st);
    r->stored += res.appended + res.duplicate;
    r->refused_time += res.too_new + res.out_of_retention + res.too_old;
    r->refused_other += res.conflicting + res.invalid;
    b->n = 0;
    b->nlab = 0;
    return rc;
}

/* Build and check one sample's labels into l (the set's, then `extra` where the sample
 * lacks them); the count, or a negative code. */
static int labels_of(struct km_ingest *in, const struct km_mset *m, const struct km_msample *s,
                     const struct km_label *extra, size_t nextra, struct km_label *l)
{
    const struct km_label *src = km_mset_labels(m, s);
    size_t n = 0;
    int rc;

    if (s->nlabels + nextra + 1 > KM_LIMIT_LABELS_PER_SERIES)
        return km_err_set(KM_ELIMIT, "%zu labels (at most %d)", s->nlabels + nextra + 1,
                          KM_LIMIT_LABELS_PER_SERIES);
    l[n++] = (struct km_label){ KM_METRIC_NAME_LABEL, m->fam[s->family].name };
    for (uint32_t i = 0; i < s->nlabels; i++) {
        if (src[i].value && src[i].value[0])
            l[n++] = src[i];
    }
    for (size_t k = 0; k < nextra; k++) {
        bool has = false;

        for (uint32_t i = 0; i < s->nlabels && !has; i++)
            has = strcmp(src[i].name, extra[k].name) == 0;
        if (!has)
            l[n++] = extra[k];
    }
    km_labels_sort(l, n);
    rc = km_labels_check(l, n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = km_ingest_check_value(in, l[i].name, l[i].value, strlen(l[i].value));
    return rc ? rc : (int)n;
}

/* At --max-series nothing of an in-process producer's set is stored, as a remote_write
 * request answered 429: counted, and true. */
static bool at_series_cap(struct km_ingest *in, size_t n, struct km_ingest_mset_result *r)
{
    struct km_storage_info ts;

    if (!in->o.max_series)
        return false;
    km_storage_info(in->store, &ts);
    if (ts.series < in->o.max_series)
        return false;
    atomic_fetch_add(&in->limited, 1);
    r->limited = r->received = n;
    return true;
}

static int ingest_mset(struct km_ingest *in, enum km_ingest_source src, const struct km_mset *m,
                       const struct km_label *extra, size_t nextra, struct km_ingest_mset_result *r)
{
    struct batch *b = calloc(1, sizeof(*b));
    int64_t lo, hi;
    int rc = 0;

    memset(r, 0, sizeof(*r));
    if (!b)
        return km_err_set(KM_ENOMEM, "out of memory");
    atomic_fetch_add(&in->requests[src], 1);
    b->forward = src != KM_SRC_SELF;
    km_storage_time_window(in->store, &lo, &hi);
    if (at_series_cap(in, m->nsmp, r)) {
        free(b);
        return 0;
    }
    for (size_t i = 0; rc == 0 && i < m->nsmp; i++) {
        const struct km_msample *s = &m->smp[i];
        struct km_label *l;
        int n;

        if (b->nlab + KM_LIMIT_LABELS_PER_SERIES + nextra + 1 > LAB_CAP)
            rc = flush(in, b, r);
        if (rc)
            break;
        l = b->lab + b->nlab;

        r->received++;
        if (km_sample_check_time(s->ts_ms, lo, hi) != KM_SAMPLE_APPENDED) {
            r->refused_time++;
            continue;
        }
        n = labels_of(in, m, s, extra, nextra, l);
        if (n < 0) {
            r->refused_labels++;
            km_log_debug(KM_INGEST_LOG, "%s: a series of %s refused: %s",
                         src == KM_SRC_SELF ? "self-scrape" : "cluster state",
                         m->fam[s->family].name, km_err_msg());
            continue;
        }
        b->nlab += (size_t)n;
        b->s[b->n] = (struct km_sample){ l, (size_t)n, s->ts_ms, s->value };
        if (++b->n == BATCH)
            rc = flush(in, b, r);
    }
    if (rc == 0)
        rc = flush(in, b, r);
    atomic_fetch_add(&in->samples[src], r->received);
    if (r->refused_labels)
        atomic_fetch_add(&in->refused[src], 1);
    free(b);
    return rc;
}

int km_ingest_mset(struct km_ingest *in, const struct km_mset *m, struct km_ingest_mset_result *r)
{
    return ingest_mset(in, KM_SRC_CLUSTER_STATE, m, NULL, 0, r);
}

int km_ingest_mset_self(struct km_ingest *in, const struct km_mset *m, const struct km_label *extra,
                        size_t nextra, struct km_ingest_mset_result *r)
{
    return ingest_mset(in, KM_SRC_SELF, m, extra, nextra, r);
}

int km_ingest_samples(struct km_ingest *in, const struct km_sample *s, size_t n,
                      struct km_ingest_mset_result *r)
{
    struct km_sample *ok = malloc((n + 1) * sizeof(*ok));
    enum km_sample_status *st = malloc((n + 1) * sizeof(*st));
    struct km_append_result res;
    size_t k = 0;
    int64_t lo, hi;
    int rc = 0;

    memset(r, 0, sizeof(*r));
    if (!ok || !st) {
        free(ok);
        free(st);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    atomic_fetch_add(&in->requests[KM_SRC_RULES], 1);
    km_storage_time_window(in->store, &lo, &hi);
    if (at_series_cap(in, n, r))
        goto out_free;
    for (size_t i = 0; i < n; i++) {
        bool good = true;

        r->received++;
        if (km_sample_check_time(s[i].t, lo, hi) != KM_SAMPLE_APPENDED) {
            r->refused_time++;
            continue;
        }
        for (size_t l = 0; good && l < s[i].nlabels; l++)
            good = km_ingest_check_value(in, s[i].labels[l].name, s[i].labels[l].value,
                                         strlen(s[i].labels[l].value)) == 0;
        if (!good) {
            r->refused_labels++;
            continue;
        }
        ok[k++] = s[i];
    }
    if (k) {
        rc = km_storage_append(in->store, ok, k, st, &res);
        km_ingest_count(in, &res);
        if (rc == 0)
            km_ingest_tap(in, ok, k, st);
        r->stored += res.appended + res.duplicate;
        r->refused_time += res.too_new + res.out_of_retention + res.too_old;
        r->refused_other += res.conflicting + res.invalid;
    }
    atomic_fetch_add(&in->samples[KM_SRC_RULES], r->received);
    if (r->refused_labels)
        atomic_fetch_add(&in->refused[KM_SRC_RULES], 1);
out_free:
    free(ok);
    free(st);
    return rc;
}
