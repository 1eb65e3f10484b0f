/*
 * storage — dispatch of the storage interface (see storage.h) to a store's ops, and
 * the plain sample helpers every store shares.
 */
#include "storage/storage.h"

#include "common/err.h"

#include <stdlib.h>
#include <string.h>

struct km_querier {
    const struct km_storage_ops *ops;
    void *q;
    bool any_order;
};

struct km_series_set {
    const struct km_storage_ops *ops;
    void *set;
};

/* ---- samples ------------------------------------------------------------------------ */

enum km_sample_status km_sample_check_time(int64_t t, int64_t lo, int64_t hi)
{
    if (t > hi)
        return KM_SAMPLE_TOO_NEW;
    if (t < lo)
        return KM_SAMPLE_OUT_OF_RETENTION;
    return KM_SAMPLE_APPENDED;
}

const char *km_sample_status_str(enum km_sample_status st)
{
    switch (st) {
    case KM_SAMPLE_APPENDED:
        return "stored";
    case KM_SAMPLE_DUPLICATE:
        return "duplicate";
    case KM_SAMPLE_TOO_OLD:
        return "too old for its series (behind its newest sample by more than the "
               "out-of-order window)";
    case KM_SAMPLE_TOO_NEW:
        return "too far in the future";
    case KM_SAMPLE_OUT_OF_RETENTION:
        return "older than the retention";
    case KM_SAMPLE_CONFLICTING:
        return "conflicting with a stored value at the same timestamp";
    case KM_SAMPLE_INVALID:
        return "invalid";
    case KM_SAMPLE_STALE_REF:
        return "stale series reference";
    }
    return "unknown";
}

/* ---- the store ----------------------------------------------------------------------- */

void km_storage_close(struct km_storage *s)
{
    if (!s)
        return;
    if (s->ops)
        s->ops->close(s->ctx);
    free(s);
}

void km_storage_time_window(struct km_storage *s, int64_t *lo, int64_t *hi)
{
    s->ops->time_window(s->ctx, lo, hi);
}

int km_storage_append(struct km_storage *s, const struct km_sample *smp, size_t n,
                      enum km_sample_status *status, struct km_append_result *res)
{
    return s->ops->append(s->ctx, smp, n, status, res);
}

int km_storage_series_ref(struct km_storage *s, const struct km_label *l, size_t n, uint64_t *ref,
                          bool *created)
{
    return s->ops->series_ref(s->ctx, l, n, ref, created);
}

int km_storage_append_refs(struct km_storage *s, const struct km_ref_sample *smp, size_t n,
                           enum km_sample_status *status, struct km_append_result *res)
{
    return s->ops->append_refs(s->ctx, smp, n, status, res);
}

void km_storage_info(struct km_storage *s, struct km_storage_info *out)
{
    s->ops->info(s->ctx, out);
}

int km_storage_cardinality(struct km_storage *s, size_t top, struct km_storage_cardinality *out)
{
    return s->ops->cardinality(s->ctx, top, out);
}

static void stats_free(struct km_storage_stat *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

void km_storage_cardinality_fini(struct km_storage_cardinality *c)
{
    stats_free(c->by_metric, c->n_by_metric);
    stats_free(c->values_by_label, c->n_values_by_label);
    stats_free(c->memory_by_label, c->n_memory_by_label);
    stats_free(c->by_pair, c->n_by_pair);
    memset(c, 0, sizeof(*c));
}

int km_storage_flush(struct km_storage *s)
{
    return s->ops->flush(s->ctx);
}

void km_storage_metrics(struct km_storage *s, struct km_mset *m)
{
    s->ops->metrics(s->ctx, m);
}

/* ---- metric metadata ------------------------------------------------------------------ */

const char *km_metric_type_name(enum km_metric_type t)
{
    static const char *const names[KM_METRIC_NTYPES] = {
        "unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset",
    };

    return (unsigned)t < KM_METRIC_NTYPES ? names[t] : "unknown";
}

bool km_storage_keeps_metadata(const struct km_storage *s)
{
    return s->ops->version >= KM_STORAGE_OPS_V2 && s->ops->metadata_put && s->ops->metadata_list;
}

int km_storage_metadata_put(struct km_storage *s, const struct km_metadata *md, size_t n)
{
    return km_storage_keeps_metadata(s) ? s->ops->metadata_put(s->ctx, md, n) : 0;
}

int km_storage_metadata_list(struct km_storage *s, const char *metric, km_metadata_fn fn, void *ud)
{
    return km_storage_keeps_metadata(s) ? s->ops->metadata_list(s->ctx, metric, fn, ud) : 0;
}

/* ---- querying ------------------------------------------------------------------------ */

int km_querier_open(struct km_storage *s, int64_t mint, int64_t maxt, struct km_querier **out)
{
    struct km_querier *q = calloc(1, sizeof(*q));
    int rc;

    if (!q)
        return km_err_set(KM_ENOMEM, "out of memory");
    q->ops = s->ops;
    rc = s->ops->querier_open(s->ctx, mint, maxt, &q->q);
    if (rc) {
        free(q);
        return rc;
    }
    *out = q;
    return 0;
}

void km_querier_close(struct km_querier *q)
{
    if (!q)
        return;
    q->ops->querier_close(q->q);
    free(q);
}

void km_querier_set_any_order(struct km_querier *q, bool any_order)
{
    q->any_order = any_order;
}

int km_querier_select(struct km_querier *q, struct km_matcher *const *m, size_t nm,
                      const struct km_select_hints *hints, struct km_series_set **out)
{
    struct km_series_set *set = calloc(1, sizeof(*set));
    struct km_select_hints h = { 0 };
    int rc;

    if (!set)
        return km_err_set(KM_ENOMEM, "out of memory");
    if (hints)
        h = *hints;
    h.any_order = h.any_order || q->any_order;
    set->ops = q->ops;
    rc = q->ops->select(q->q, m, nm, &h, &set->set);
    if (rc) {
        free(set);
        return rc;
    }
    *out = set;
    return 0;
}

bool km_series_next(struct km_series_set *set)
{
    return set->ops->set_next(set->set);
}

const struct km_labels *km_series_labels(struct km_series_set *set)
{
    return set->ops->set_labels(set->set);
}

bool km_series_batch(struct km_series_set *set, struct km_sample_batch *b)
{
    return set->ops->set_batch(set->set, b);
}

int km_series_error(struct km_series_set *set)
{
    return set->ops->set_error(set->set);
}

void km_series_set_close(struct km_series_set *set)
{
    if (!set)
        return;
    set->ops->set_close(set->set);
    free(set);
}

int km_querier_label_names(struct km_querier *q, struct km_matcher *const *m, size_t nm,
                           km_str_fn fn, void *ud)
{
    return q->ops->label_names(q->q, m, nm, fn, ud);
}

int km_querier_label_values(struct km_querier *q, const char *name, struct km_matcher *const *m,
                            size_t nm, km_str_fn fn, void *ud)
{
    return q->ops->label_values(q->q, name, m, nm, fn, ud);
}
