/*
 * encode — the agent's collection as a remote_write request (see encode.h). Label
 * arrays are built in one flat array (pointers into the sets' strings, valid while the
 * agent's lock is held), then protobuf-c packs and snappy compresses them.
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
    size_t capts;
    struct km_rw_md *md; /* the families' metadata, when asked for */
    size_t capmd;
    bool want_md;
    struct km_buf proto, body;
    uint32_t samples;
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
    memcpy(e->identity, identity, nidentity * sizeof(*identity));
    e->nidentity = nidentity;
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
    free(e->md);
    km_buf_fini(&e->proto);
    km_buf_fini(&e->body);
    free(e);
}

static int reserve(struct km_ship_encoder *e, size_t nts, size_t nlabels)
{
    if (nts > e->capts) {
        size_t n = nts * 2;
        struct km_rw_ts *ts = realloc(e->ts, n * sizeof(*ts));
        int64_t *t = ts ? realloc(e->t, n * sizeof(*t)) : NULL;
        double *v = t ? realloc(e->v, n * sizeof(*v)) : NULL;

        if (ts)
            e->ts = ts;
        if (t)
            e->t = t;
        if (v)
            e->v = v;
        if (!v)
            return KM_ENOMEM;
        e->capts = n;
    }
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

/* Under the agent's lock: build and pack the request. */
static void encode_sets(void *ud, const struct km_mset *const *sets, size_t nsets)
{
    struct km_ship_encoder *e = ud;
    size_t nts = 0, nlab = 0, need_ts = 0, need_lab = 0;

    for (size_t k = 0; k < nsets; k++) {
        need_ts += sets[k]->nsmp;
        for (size_t i = 0; i < sets[k]->nsmp; i++)
            need_lab += sets[k]->smp[i].nlabels + 1 + e->nidentity;
    }
    e->err = reserve(e, need_ts ? need_ts : 1, need_lab ? need_lab : 1);
    if (e->err)
        return;
    for (size_t k = 0; k < nsets; k++) {
        const struct km_mset *m = sets[k];

        for (size_t f = 0; f < m->nfam; f++) {
            const struct km_mfamily *fam = &m->fam[f];

            if (fam->flags & KM_MF_LOCAL)
                continue;
            for (uint32_t si = fam->first; si != KM_MSET_END; si = m->smp[si].next) {
                const struct km_msample *smp = &m->smp[si];
                const struct km_label *sl = km_mset_labels(m, smp);
                struct km_label *l = &e->labels[nlab];
                size_t n = 0;

                if (smp->nlabels + 1 + e->nidentity > KM_LIMIT_LABELS_PER_SERIES)
                    continue;
                l[n++] = (struct km_label){ KM_METRIC_NAME_LABEL, fam->name };
                for (uint32_t i = 0; i < smp->nlabels; i++)
                    l[n++] = sl[i];
                for (size_t i = 0; i < e->nidentity; i++) {
                    if (!has_label(sl, smp->nlabels, e->identity[i].name))
                        l[n++] = e->identity[i];
                }
                km_labels_sort(l, n);
                e->t[nts] = smp->ts_ms;
                e->v[nts] = smp->value;
                e->ts[nts] = (struct km_rw_ts){ l, n, &e->t[nts], &e->v[nts], 1 };
                nts++;
                nlab += n;
            }
        }
    }
    km_buf_reset(&e->proto);
    e->samples = (uint32_t)nts;
    e->err = nts ? km_rw_encode(&e->proto, e->ts, nts) : 0;
    if (e->err == 0 && nts && e->want_md)
        e->err = encode_metadata(e, sets, nsets);
}

int km_ship_encode(struct km_ship_encoder *e, struct km_agent *a, bool metadata, const void **body,
                   size_t *len, uint32_t *samples)
{
    int rc;

    e->samples = 0;
    e->err = 0;
    e->want_md = metadata;
    km_agent_with_sets(a, encode_sets, e);
    if (e->err)
        return km_err_set(KM_ENOMEM, "out of memory encoding the collection");
    *samples = e->samples;
    if (!e->samples) {
        *body = NULL;
        *len = 0;
        return 0;
    }
    rc = km_rw_compress(&e->body, e->proto.data, e->proto.len);
    if (rc)
        return rc;
    *body = e->body.data;
    *len = e->body.len;
    return 0;
}
