/*
 * emit — samples of kube-state-metrics families into a metric set (see emit.h).
 */
#include "emit.h"

#include "common/array.h"
#include "common/err.h"
#include "kinds.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static void declare(struct km_kemit *e)
{
    const struct km_kind *k = e->kind;
    size_t n = k->nfams < 64 ? k->nfams : 64;

    for (size_t i = 0; i < n; i++)
        e->fam[i] = km_mset_family(e->m, k->fams[i].name, k->fams[i].help, k->fams[i].type, 0);
    for (size_t i = 0; i < n; i++)
        e->sfam[i] = e->out->stale_flags ? km_mset_family(e->m, k->fams[i].name, k->fams[i].help,
                                                          k->fams[i].type, e->out->stale_flags)
                                         : e->fam[i];
}

void km_kemit_begin_kind(struct km_kemit *e)
{
    e->nkept = 0;
    e->kept_sorted = true;
    e->mode = KM_KEMIT_PUT;
    declare(e);
}

/* Hand the set on and start a fresh one with the kind's families declared again. */
static void flush(struct km_kemit *e)
{
    int rc = km_mset_error(e->m);

    if (rc == 0 && e->out->flush && e->m->nsmp)
        rc = e->out->flush(e->out->ud, e->m);
    if (rc && !e->err)
        e->err = rc;
    if (e->out->flush) {
        km_mset_reset(e->m, e->m->ts_ms);
        if (e->kind)
            declare(e);
    }
}

void km_kemit_object_done(struct km_kemit *e)
{
    if (e->out->chunk && e->m->nsmp >= e->out->chunk)
        flush(e);
}

int km_kemit_finish(struct km_kemit *e)
{
    e->kind = NULL;
    flush(e);
    free(e->kept);
    e->kept = NULL;
    e->nkept = e->capkept = 0;
    return e->err;
}

static uint64_t series_hash(const char *family, const struct km_label *l, size_t n)
{
    uint64_t h = XXH3_64bits(family, strlen(family));

    /* Each string seeded with the hash so far: order and boundaries count. */
    for (size_t i = 0; i < n; i++) {
        h = XXH3_64bits_withSeed(l[i].name, strlen(l[i].name), h);
        h = XXH3_64bits_withSeed(l[i].value, strlen(l[i].value), h ^ 0x9e3779b97f4a7c15ull);
    }
    return h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void record(struct km_kemit *e, uint64_t h)
{
    if (e->nkept == e->capkept) {
        size_t cap = e->capkept ? e->capkept * 2 : 256;
        uint64_t *k = realloc(e->kept, cap * sizeof(*k));

        if (!k) {
            if (!e->err)
                e->err = km_err_set(KM_ENOMEM, "out of memory");
            return;
        }
        e->kept = k;
        e->capkept = cap;
    }
    e->kept[e->nkept++] = h;
    e->kept_sorted = false;
}

static bool is_kept(struct km_kemit *e, uint64_t h)
{
    if (!e->kept_sorted) {
        km_sort(e->kept, e->nkept, sizeof(*e->kept), cmp_u64);
        e->kept_sorted = true;
    }
    return e->nkept && bsearch(&h, e->kept, e->nkept, sizeof(h), cmp_u64);
}

void km_kemit_base(struct km_kemit *e, const struct km_label *l, size_t n)
{
    e->nbase = n < 4 ? n : 4;
    memcpy(e->base, l, e->nbase * sizeof(*l));
}

void km_kemit_add(struct km_kemit *e, int f, const struct km_label *extra, size_t nextra, double v)
{
    struct km_label l[KM_KEMIT_MAX_LABELS];
    size_t n = 0;

    if (e->filter && f != e->only)
        return;

    for (size_t i = 0; i < e->nbase; i++)
        l[n++] = e->base[i];
    if (e->cluster)
        l[n++] = (struct km_label){ "cluster", e->cluster };
    for (size_t i = 0; i < nextra && n < KM_KEMIT_MAX_LABELS; i++)
        l[n++] = extra[i];
    switch (e->mode) {
    case KM_KEMIT_PUT_RECORD:
        record(e, series_hash(e->kind->fams[f].name, l, n));
        /* fall through */
    case KM_KEMIT_PUT:
        km_mset_add(e->m, e->fam[f], l, n, v);
        e->series++;
        break;
    case KM_KEMIT_STALE: {
        uint64_t bits = KM_STALE_NAN_BITS;
        double nan;

        if (is_kept(e, series_hash(e->kind->fams[f].name, l, n)))
            break;
        memcpy(&nan, &bits, sizeof(nan));
        km_mset_add(e->m, e->sfam[f], l, n, nan);
        e->stale++;
        break;
    }
    }
}

void km_kemit_add1(struct km_kemit *e, int f, const char *name, const char *value, double v)
{
    struct km_label l = { name, value ? value : "" };

    km_kemit_add(e, f, &l, 1, v);
}

void km_kemit_kv(struct km_kemit *e, int f, const struct km_kkv *kv, size_t n, bool on)
{
    if (!on)
        return; /* the allowlist does not name the kind: no such family (KSM v2.15) */
    struct km_label l[KM_KEMIT_MAX_LABELS];
    size_t k = 0;

    for (size_t i = 0; i < n && k < KM_KEMIT_MAX_LABELS - 8; i++)
        l[k++] = (struct km_label){ kv[i].k, kv[i].v };
    km_kemit_add(e, f, l, k, 1);
}

void km_kemit_tristate(struct km_kemit *e, int f, const struct km_label *extra, size_t nextra,
                       const char *label, uint8_t status)
{
    static const char *const names[3] = { "false", "true", "unknown" };
    struct km_label l[8];
    size_t n = 0;

    for (size_t i = 0; i < nextra && n < 7; i++)
        l[n++] = extra[i];
    for (uint8_t s = 0; s < 3; s++) {
        /* KSM's order: true, false, unknown. */
        uint8_t st = s == 0 ? 1 : s == 1 ? 0 : 2;

        l[n] = (struct km_label){ label, names[st] };
        km_kemit_add(e, f, l, n + 1, status == st ? 1 : 0);
    }
}

void km_kemit_res(struct km_kemit *e, int f, const struct km_label *extra, size_t nextra,
                  const struct km_kres *r, unsigned n)
{
    struct km_label l[8];
    size_t k = 0;

    for (size_t i = 0; i < nextra && k < 6; i++)
        l[k++] = extra[i];
    for (unsigned i = 0; i < n; i++) {
        l[k] = (struct km_label){ "resource", r[i].resource };
        l[k + 1] = (struct km_label){ "unit", r[i].unit };
        km_kemit_add(e, f, l, k + 2, r[i].v);
    }
}

void km_kemit_owners(struct km_kemit *e, int f, const struct km_kowner *o, size_t n)
{
    /* KSM v2.13+ writes "" where there is no owner (earlier: "<none>"): the labels
     * are then absent once stored. */
    struct km_label l[3] = { { "owner_kind", "" },
                             { "owner_name", "" },
                             { "owner_is_controller", "" } };

    for (size_t i = 0; i < n; i++) {
        l[0].value = o[i].kind;
        l[1].value = o[i].name;
        l[2].value = o[i].controller ? "true" : "false";
        km_kemit_add(e, f, l, 3, 1);
    }
    if (n == 0)
        km_kemit_add(e, f, l, 3, 1);
}

void km_kemit_meta(struct km_kemit *e, int created, int labels, int annots,
                   const struct km_kmeta *m)
{
    if (m->created_s)
        km_kemit_add(e, created, NULL, 0, (double)m->created_s);
    km_kemit_kv(e, labels, m->labels, m->nlabels, e->labels_on);
    km_kemit_kv(e, annots, m->annots, m->nannots, e->annots_on);
}
