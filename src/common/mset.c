/*
 * mset — reusable metric sets (see mset.h). Families keep a singly linked chain of their
 * samples through km_msample.next so samples can arrive in any order and still render
 * grouped; labels are stored in one array of pairs indexed by each sample.
 */
#include "mset.h"

#include "err.h"
#include "expfmt.h"
#include "jsonw.h"
#include "limits.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void km_mset_init(struct km_mset *m)
{
    memset(m, 0, sizeof(*m));
    km_arena_init(&m->strings, 4096, KM_LIMIT_BATCH_ARENA);
}

void km_mset_fini(struct km_mset *m)
{
    km_arena_fini(&m->strings);
    free(m->fam);
    free(m->smp);
    free(m->lab);
    memset(m, 0, sizeof(*m));
}

void km_mset_reset(struct km_mset *m, int64_t ts_ms)
{
    km_arena_reset(&m->strings);
    memset(m->str_cache, 0, sizeof(m->str_cache));
    m->nfam = 0;
    m->nsmp = 0;
    m->nlab = 0;
    m->ts_ms = ts_ms;
    m->err = 0;
}

/* Grow *arr (of elem-sized items, capacity *cap) to hold one more than `n`. */
static int grow(struct km_mset *m, void **arr, size_t *cap, size_t n, size_t need, size_t elem,
                size_t limit)
{
    size_t ncap;
    void *p;

    if (n + need <= *cap)
        return 0;
    if (n + need > limit) {
        m->err = km_err_set(KM_ELIMIT, "metric set past its limit of %zu entries", limit);
        return m->err;
    }
    ncap = *cap ? *cap * 2 : 64;
    while (ncap < n + need)
        ncap *= 2;
    if (ncap > limit)
        ncap = limit;
    p = realloc(*arr, ncap * elem);
    if (!p) {
        m->err = km_err_set(KM_ENOMEM, "out of memory growing a metric set");
        return m->err;
    }
    *arr = p;
    *cap = ncap;
    return 0;
}

static const char *copy_str(struct km_mset *m, const char *s)
{
    char *p = km_arena_strndup(&m->strings, s, strlen(s));

    if (!p && !m->err)
        m->err = KM_ENOMEM;
    return p;
}

int km_mset_family(struct km_mset *m, const char *name, const char *help, enum km_mtype type,
                   unsigned flags)
{
    struct km_mfamily *f;

    if (m->err)
        return m->err;
    if (grow(m, (void **)&m->fam, &m->capfam, m->nfam, 1, sizeof(*m->fam), KM_LIMIT_BATCH_FAMILIES))
        return m->err;
    f = &m->fam[m->nfam];
    f->name = copy_str(m, name);
    f->help = copy_str(m, help ? help : "");
    if (m->err)
        return m->err;
    f->type = type;
    f->flags = flags;
    f->first = f->last = KM_MSET_END;
    f->count = 0;
    return (int)m->nfam++;
}

/* A label string's arena copy, shared with the previous copy of the same caller string
 * when its content is still the same (the caller may reuse a buffer). */
static const char *label_str(struct km_mset *m, const char *s)
{
    size_t k = ((uintptr_t)s >> 3) % KM_MSET_STR_CACHE;

    if (m->str_cache[k].src == s && strcmp(m->str_cache[k].copy, s) == 0)
        return m->str_cache[k].copy;
    m->str_cache[k].src = s;
    m->str_cache[k].copy = copy_str(m, s);
    if (!m->str_cache[k].copy)
        m->str_cache[k].src = NULL;
    return m->str_cache[k].copy;
}

int km_mset_add(struct km_mset *m, int fam, const struct km_label *labels, size_t nlabels,
                double value)
{
    struct km_mfamily *f;
    struct km_msample *s;
    uint32_t idx;

    if (fam < 0 || m->err)
        return m->err ? m->err : fam;
    if ((size_t)fam >= m->nfam)
        return km_err_set(KM_EINVAL, "no such metric family %d", fam);
    if (grow(m, (void **)&m->smp, &m->capsmp, m->nsmp, 1, sizeof(*m->smp),
             KM_LIMIT_BATCH_SAMPLES) ||
        grow(m, (void **)&m->lab, &m->caplab, m->nlab, nlabels, sizeof(*m->lab),
             (size_t)KM_LIMIT_BATCH_SAMPLES * 4))
        return m->err;
    idx = (uint32_t)m->nsmp;
    s = &m->smp[idx];
    s->family = (uint32_t)fam;
    s->next = KM_MSET_END;
    s->label_off = (uint32_t)m->nlab;
    s->nlabels = (uint32_t)nlabels;
    s->value = value;
    s->ts_ms = m->ts_ms;
    for (size_t i = 0; i < nlabels; i++) {
        m->lab[m->nlab + i].name = label_str(m, labels[i].name);
        m->lab[m->nlab + i].value = label_str(m, labels[i].value);
    }
    if (m->err)
        return m->err;
    m->nlab += nlabels;
    f = &m->fam[fam];
    if (f->last == KM_MSET_END)
        f->first = idx;
    else
        m->smp[f->last].next = idx;
    f->last = idx;
    f->count++;
    m->nsmp++;
    return 0;
}

int km_mset_gauge(struct km_mset *m, const char *name, const char *help, double value)
{
    return km_mset_add(m, km_mset_family(m, name, help, KM_MT_GAUGE, 0), NULL, 0, value);
}

static bool has_labels(const struct km_mset *m, const struct km_msample *s,
                       const struct km_label *want, size_t nwant)
{
    const struct km_label *l = km_mset_labels(m, s);

    for (size_t i = 0; i < nwant; i++) {
        bool found = false;

        for (size_t k = 0; k < s->nlabels && !found; k++)
            found = strcmp(l[k].name, want[i].name) == 0 && strcmp(l[k].value, want[i].value) == 0;
        if (!found)
            return false;
    }
    return true;
}

const struct km_msample *km_mset_find(const struct km_mset *m, const char *family,
                                      const struct km_label *labels, size_t nlabels)
{
    for (size_t i = 0; i < m->nfam; i++) {
        if (strcmp(m->fam[i].name, family) != 0)
            continue;
        for (uint32_t s = m->fam[i].first; s != KM_MSET_END; s = m->smp[s].next) {
            if (!labels || has_labels(m, &m->smp[s], labels, nlabels))
                return &m->smp[s];
        }
    }
    return NULL;
}

static const char *type_name(enum km_mtype t)
{
    switch (t) {
    case KM_MT_COUNTER:
        return "counter";
    case KM_MT_GAUGE:
        return "gauge";
    case KM_MT_UNTYPED:
        break;
    }
    return "untyped";
}

void km_mset_render_prom_family(const struct km_mset *m, size_t fam, struct km_buf *b, bool header)
{
    const struct km_mfamily *f = &m->fam[fam];

    if (f->count == 0 || (f->flags & KM_MF_SHIP_ONLY))
        return;
    if (header)
        km_expfmt_family(b, f->name, f->help[0] ? f->help : NULL, type_name(f->type));
    for (uint32_t s = f->first; s != KM_MSET_END; s = m->smp[s].next)
        km_expfmt_sample(b, f->name, km_mset_labels(m, &m->smp[s]), m->smp[s].nlabels,
                         m->smp[s].value, false, 0);
}

void km_mset_render_prom(const struct km_mset *m, struct km_buf *b)
{
    for (size_t i = 0; i < m->nfam; i++)
        km_mset_render_prom_family(m, i, b, true);
}

void km_mset_render_json(const struct km_mset *m, struct km_jsonw *w)
{
    for (size_t i = 0; i < m->nfam; i++) {
        const struct km_mfamily *f = &m->fam[i];

        if (f->count == 0 || (f->flags & KM_MF_SHIP_ONLY))
            continue;
        km_jsonw_obj_begin(w);
        km_jsonw_key(w, "name");
        km_jsonw_str(w, f->name);
        km_jsonw_key(w, "help");
        km_jsonw_str(w, f->help);
        km_jsonw_key(w, "type");
        km_jsonw_str(w, type_name(f->type));
        km_jsonw_key(w, "samples");
        km_jsonw_arr_begin(w);
        for (uint32_t s = f->first; s != KM_MSET_END; s = m->smp[s].next) {
            const struct km_msample *smp = &m->smp[s];
            const struct km_label *l = km_mset_labels(m, smp);

            km_jsonw_obj_begin(w);
            km_jsonw_key(w, "labels");
            km_jsonw_obj_begin(w);
            for (uint32_t k = 0; k < smp->nlabels; k++) {
                km_jsonw_key(w, l[k].name);
                km_jsonw_str(w, l[k].value);
            }
            km_jsonw_obj_end(w);
            km_jsonw_key(w, "value");
            km_jsonw_double(w, smp->value);
            km_jsonw_obj_end(w);
        }
        km_jsonw_arr_end(w);
        km_jsonw_obj_end(w);
    }
}
