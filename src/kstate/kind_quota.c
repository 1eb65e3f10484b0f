/*
 * kind_quota — ResourceQuotas: each resource's hard limit and use, as kube-state-metrics
 * v2.15 reports them (internal/store/resourcequota.go): the resource name as the API
 * writes it ("requests.cpu", "count/pods"), every amount MilliValue()/1000. Objects are
 * struct km_kobj, res[0] hard and res[1] used (unit unused).
 */
#include "common/err.h"
#include "kinds.h"
#include "quantity.h"

#include <stdlib.h>

static int amounts(struct km_kparse *p, const json_t *list, struct km_kres **out, uint8_t *n)
{
    const char *key;
    const json_t *v;
    size_t cnt = json_is_object(list) ? json_object_size(list) : 0;

    if (cnt == 0)
        return 0;
    *out = calloc(cnt < 255 ? cnt : 255, sizeof(**out));
    if (!*out)
        return KM_ENOMEM;
    json_object_foreach((json_t *)list, key, v)
    {
        struct km_qty q;

        if (*n == 255 || !json_is_string(v) || km_qty_parse(json_string_value(v), &q) != 0)
            continue;
        (*out)[*n].v = km_qty_value(&q, true);
        if (km_kintern_str(p, &(*out)[(*n)++].resource, key))
            return KM_ENOMEM;
    }
    return 0;
}

static int quota_parse(struct km_kparse *p, const json_t *json, void *obj)
{
    struct km_kobj *o = obj;
    const json_t *st = json_object_get(json, "status");
    int rc = km_kmeta_parse(p, json, true, &o->m);

    if (rc)
        return rc;
    if (amounts(p, json_object_get(st, "hard"), &o->res[0], &o->nres[0]) ||
        amounts(p, json_object_get(st, "used"), &o->res[1], &o->nres[1])) {
        km_kobj_fini(p->in, o);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

enum { F_QUOTA, F_CREATED };

static const struct km_kfam fams[] = {
    { "kube_resourcequota", "Information about resource quota.", KM_MT_GAUGE },
    { "kube_resourcequota_created", "Unix creation timestamp", KM_MT_GAUGE },
};

static void quota_emit(struct km_kemit *e, const void *obj)
{
    static const char *const types[2] = { "hard", "used" };
    const struct km_kobj *o = obj;
    struct km_label base[2] = { { "namespace", o->m.ns }, { "resourcequota", o->m.name } };

    km_kemit_base(e, base, 2);
    for (int t = 0; t < 2; t++) {
        for (uint8_t i = 0; i < o->nres[t]; i++) {
            struct km_label l[2] = { { "resource", o->res[t][i].resource }, { "type", types[t] } };

            km_kemit_add(e, F_QUOTA, l, 2, o->res[t][i].v);
        }
    }
    if (o->m.created_s)
        km_kemit_add(e, F_CREATED, NULL, 0, (double)o->m.created_s);
}

const struct km_kind km_kind_resourcequotas = {
    .name = "resourcequotas",
    .group = "",
    .path = "/api/v1/resourcequotas",
    .namespaced = true,
    .size = sizeof(struct km_kobj),
    .parse = quota_parse,
    .fini = km_kobj_fini,
    .fams = fams,
    .nfams = sizeof(fams) / sizeof(fams[0]),
    .emit = quota_emit,
};
