/*
 * emit — samples of kube-state-metrics families into a metric set (see emit.h).
 */
#include "emit.h"

#include <string.h>

void km_kemit_declare(struct km_kemit *e, const struct km_kfam *t, size_t n)
{
    for (size_t i = 0; i < n && i < sizeof(e->fam) / sizeof(e->fam[0]); i++)
        e->fam[i] = km_mset_family(e->m, t[i].name, t[i].help, t[i].type, 0);
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

    for (size_t i = 0; i < e->nbase; i++)
        l[n++] = e->base[i];
    if (e->cluster)
        l[n++] = (struct km_label){ "cluster", e->cluster };
    for (size_t i = 0; i < nextra && n < KM_KEMIT_MAX_LABELS; i++)
        l[n++] = extra[i];
    km_mset_add(e->m, e->fam[f], l, n, v);
    e->series++;
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
