/*
 * encode — the agent's collection as remote_write requests (see encode.h). A batch's
 * label arrays are built in one flat array (pointers into the sets' strings, valid while
 * the agent's lock is held), then protobuf-c packs and snappy compresses them; the
 * buffers hold one batch, whatever the size of the collection.
 */
#include "agent/ship/encode.h"

#include "common/array.h"
#include "common/err.h"
#include "common/limits.h"
#include "remote/rw_codec.h"

#include <stdlib.h>
#include <string.h>

#define MAX_IDENTITY 4

struct km_ship_encoder {
    struct km_label identity[MAX_IDENTITY];
    size_t nidentity;
    struct km_label *labels;
    size_t caplabels;
    struct km_rw_ts *ts;
    int64_t *t;
    double *v;
    size_t *off; /* each series' first label in `labels` (which may move as it grows) */
    size_t capts;
    size_t nts, nlab;    /* the batch being built */
    struct km_rw_md *md; /* the families' metadata, when asked for */
    size_t capmd;
    bool want_md;
    struct km_buf proto, body;
    km_ship_body_fn fn;
    void *ud;
    uint64_t samples, requests; /* of this collection */
    int err;
};

int km_ship_encoder_create(struct km_ship_encoder **out, const struct km_label *identity,
                           size_t nidentity)
{
    struct km_ship_encoder *e = calloc(1, sizeof(*e));

    if (!e)
        return km_err_set(KM_ENOMEM, "out of memory");
    if (nidentity > MAX_IDENTITY) {
        free(e);
        return km_err_set(KM_EINVAL, "too many identity labels");
    }
    e->nidentity = 0;
    km_ship_encoder_set_identity(e, identity, nidentity);
    km_buf_init(&e->proto, 0);
    km_buf_init(&e->body, 0);
    *out = e;
    return 0;
}

void km_ship_encoder_destroy(struct km_ship_encoder *e)
{
    if (!e)
        return;
    free(e->labels);
    free(e->ts);
    free(e->t);
    free(e->v);
    free(e->off);
    free(e->md);
    km_buf_fini(&e->proto);
    km_buf_fini(&e->body);
    free(e);
}

int km_ship_encoder_set_identity(struct km_ship_encoder *e, const struct km_label *identity,
                                 size_t nidentity)
{
    if (nidentity > MAX_IDENTITY)
        return km_err_set(KM_EINVAL, "too many identity labels");
    if (nidentity) /* identity may be NULL when there is none */
        memcpy(e->identity, identity, nidentity * sizeof(*identity));
    e->nidentity = nidentity;
    return 0;
}

static int reserve_ts(struct km_ship_encoder *e, size_t nts)
{
    if (nts > e->capts) {
        size_t n = nts * 2;
        struct km_rw_ts *ts = realloc(e->ts, n * sizeof(*ts));
        int64_t *t = ts ? realloc(e->t, n * sizeof(*t)) : NULL;
        double *v = t ? realloc(e->v, n * sizeof(*v)) : NULL;
        size_t *off = v ? realloc(e->off, n * sizeof(*off)) : NULL;

        if (ts)
            e->ts = ts;
        if (t)
            e->t = t;
        if (v)
            e->v = v;
        if (off)
            e->off = off;
        if (!off)
            return KM_ENOMEM;
        e->capts = n;
    }
    return 0;
}

static int reserve_labels(struct km_ship_encoder *e, size_t nlabels)
{
    if (nlabels > e->caplabels) {
        size_t n = nlabels * 2;
        struct km_label *l = realloc(e->labels, n * sizeof(*l));

        if (!l)
            return KM_ENOMEM;
        e->labels = l;
        e->caplabels = n;
    }
    return 0;
}

static bool has_label(const struct km_label *l, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l[i].name, name) == 0)
            return true;
    }
    return false;
}

static int cmp_md(const void *a, const void *b)
{
    const struct km_rw_md *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c == 0)
        c = (x->type > y->type) - (x->type < y->type);
    return c ? c : strcmp(x->help, y->help);
}

/* Under the agent's lock: the metadata of every shipped family with samples, one entry
 * per distinct (name, type, help), packed after the series. */
static int encode_metadata(struct km_ship_encoder *e, const struct km_mset *const *sets,
                           size_t nsets)
{
    /* remote.proto's MetricType of each km_mtype. */
    static const unsigned types[] = { [KM_MT_GAUGE] = 2, [KM_MT_COUNTER] = 1, [KM_MT_UNTYPED] = 0 };
    size_t n = 0, w = 0;
    int rc;

    for (size_t k = 0; k < nsets; k++) {
        for (size_t f = 0; f < sets[k]->nfam; f++) {
            const struct km_mfamily *fam = &sets[k]->fam[f];

            if ((fam->flags & (KM_MF_LOCAL | KM_MF_SHIP_ONLY)) || fam->first == KM_MSET_END)
                continue;
            rc = km_array_grow((void **)&e->md, &e->capmd, n + 1, sizeof(*e->md), 256,
                               "encoding metadata");
            if (rc)
                return rc;
            e->md[n++] = (struct km_rw_md){
                .type =
                    (unsigned)fam->type < sizeof(types) / sizeof(types[0]) ? types[fam->type] : 0,
                .name = fam->name,
                .help = fam->help ? fam->help : "",
                .unit = "",
            };
        }
    }
    if (n > 1)
        km_sort(e->md, n, sizeof(*e->md), cmp_md);
    for (size_t i = 0; i < n; i++) {
        if (w == 0 || cmp_md(&e->md[w - 1], &e->md[i]) != 0)
            e->md[w++] = e->md[i];
    }
    return km_rw_encode_metadata(&e->proto, e->md, w);
}

/* Under the agent's lock: pack the batch built so far (with the metadata in the first
 * request of a collection when asked), compress it and hand it on. */
static void send_batch(struct km_ship_encoder *e, const struct km_mset *const *sets, size_t nsets)
{
    int rc;

    if (!e->nts)
        return;
    for (size_t i = 0; i < e->nts; i++) { /* the arrays may have moved as they grew */
        e->ts[i].labels = e->labels + e->off[i];
        e->ts[i].t = &e->t[i];
        e->ts[i].v = &e->v[i];
    }
    km_buf_reset(&e->proto);
    rc = km_rw_encode(&e->proto, e->ts, e->nts);
    if (rc == 0 && e->want_md && e->requests == 0)
        rc = encode_metadata(e, sets, nsets);
    if (rc == 0)
        rc = km_rw_compress(&e->body, e->proto.data, e->proto.len);
    if (rc == 0)
        rc = e->fn(e->ud, e->body.data, e->body.len, (uint32_t)e->nts);
    if (rc && !e->err)
        e->err = rc;
    e->requests++;
    e->samples += e->nts;
    e->nts = e->nlab = 0;
}

/* Under the agent's lock: one series per sample, in requests of at most
 * KM_SHIP_BATCH_SAMPLES. */
static void encode_sets(void *ud, const struct km_mset *const *sets, size_t nsets)
{
    struct km_ship_encoder *e = ud;

    for (size_t k = 0; k < nsets && !e->err; k++) {
        const struct km_mset *m = sets[k];

        for (size_t f = 0; f < m->nfam && !e->err; f++) {
            const struct km_mfamily *fam = &m->fam[f];

            if (fam->flags & KM_MF_LOCAL)
                continue;
            for (uint32_t si = fam->first; si != KM_MSET_END && !e->err; si = m->smp[si].next) {
                const struct km_msample *smp = &m->smp[si];
                const struct km_label *sl = km_mset_labels(m, smp);
                size_t n = 0, need = smp->nlabels + 1 + e->nidentity;
                struct km_label *l;

                if (need > KM_LIMIT_LABELS_PER_SERIES)
                    continue;
                if (reserve_ts(e, e->nts + 1) || reserve_labels(e, e->nlab + need)) {
                    e->err = km_err_set(KM_ENOMEM, "out of memory encoding the collection");
                    break;
                }
                l = &e->labels[e->nlab];
                l[n++] = (struct km_label){ KM_METRIC_NAME_LABEL, fam->name };
                for (uint32_t i = 0; i < smp->nlabels; i++)
                    l[n++] = sl[i];
                for (size_t i = 0; i < e->nidentity; i++) {
                    if (!has_label(sl, smp->nlabels, e->identity[i].name))
                        l[n++] = e->identity[i];
                }
                km_labels_sort(l, n);
                e->t[e->nts] = smp->ts_ms;
                e->v[e->nts] = smp->value;
                e->off[e->nts] = e->nlab;
                e->ts[e->nts] = (struct km_rw_ts){ NULL, n, NULL, NULL, 1 };
                e->nts++;
                e->nlab += n;
                if (e->nts == KM_SHIP_BATCH_SAMPLES)
                    send_batch(e, sets, nsets);
            }
        }
    }
    if (!e->err)
        send_batch(e, sets, nsets);
}

static void start(struct km_ship_encoder *e, bool metadata, km_ship_body_fn fn, void *ud)
{
    e->samples = 0;
    e->requests = 0;
    e->nts = e->nlab = 0;
    e->err = 0;
    e->want_md = metadata;
    e->fn = fn;
    e->ud = ud;
}

int km_ship_encode(struct km_ship_encoder *e, struct km_agent *a, bool metadata, km_ship_body_fn fn,
                   void *ud, uint64_t *samples)
{
    start(e, metadata, fn, ud);
    km_agent_with_sets(a, encode_sets, e);
    *samples = e->samples;
    return e->err;
}

int km_ship_encode_sets(struct km_ship_encoder *e, const struct km_mset *const *sets, size_t n,
                        bool metadata, km_ship_body_fn fn, void *ud, uint64_t *samples)
{
    start(e, metadata, fn, ud);
    encode_sets(e, sets, n);
    *samples = e->samples;
    return e->err;
}
