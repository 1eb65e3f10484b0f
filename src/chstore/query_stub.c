/*
 * query_stub — DROP ME: a stand-in for the read side (query.c, built by h-chr) so the
 * write side links on its own branch. Every read answers KM_EAGAIN.
 */
#include "chstore/chstore_internal.h"
#include "common/err.h"

static int km_ch_stub(void)
{
    return km_err_set(KM_EAGAIN, "the ClickHouse read side is not built in this branch");
}

int km_ch_querier_open(void *ctx, int64_t mint, int64_t maxt, void **q)
{
    (void)ctx, (void)mint, (void)maxt, (void)q;
    return km_ch_stub();
}

void km_ch_querier_close(void *q)
{
    (void)q;
}

int km_ch_select(void *q, struct km_matcher *const *m, size_t nm,
                 const struct km_select_hints *hints, void **set)
{
    (void)q, (void)m, (void)nm, (void)hints, (void)set;
    return km_ch_stub();
}

bool km_ch_set_next(void *set)
{
    (void)set;
    return false;
}

const struct km_labels *km_ch_set_labels(void *set)
{
    (void)set;
    return NULL;
}

bool km_ch_set_batch(void *set, struct km_sample_batch *b)
{
    (void)set, (void)b;
    return false;
}

int km_ch_set_error(void *set)
{
    (void)set;
    return KM_EAGAIN;
}

void km_ch_set_close(void *set)
{
    (void)set;
}

int km_ch_label_names(void *q, struct km_matcher *const *m, size_t nm, km_str_fn fn, void *ud)
{
    (void)q, (void)m, (void)nm, (void)fn, (void)ud;
    return km_ch_stub();
}

int km_ch_label_values(void *q, const char *name, struct km_matcher *const *m, size_t nm,
                       km_str_fn fn, void *ud)
{
    (void)q, (void)name, (void)m, (void)nm, (void)fn, (void)ud;
    return km_ch_stub();
}

int km_ch_cardinality(void *ctx, size_t top, struct km_storage_cardinality *out)
{
    (void)ctx, (void)top, (void)out;
    return km_ch_stub();
}

void km_ch_read_metrics(struct km_ch_store *st, struct km_mset *m)
{
    (void)st, (void)m;
}
