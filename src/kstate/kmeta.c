/*
 * kmeta — what every kind's parser shares: JSON accessors, interning, metadata with the
 * allowlisted labels and annotations, owner references, conditions and resource lists
 * in kube-state-metrics' terms (see objects.h).
 */
#include "objects.h"

#include "common/array.h"
#include "common/err.h"
#include "common/timefmt.h"
#include "quantity.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 4096 /* labels, owners, conditions, containers of one object */

const char *km_kjson_str(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

    return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t km_kjson_int(const json_t *o, const char *key, int64_t dflt)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

int64_t km_kjson_time(const json_t *o, const char *key)
{
    const char *v = km_kjson_str(o, key);
    int64_t ns;

    return v && km_time_parse_rfc3339(v, &ns) == 0 ? ns / 1000000000 : 0;
}

int km_kintern_str(struct km_kparse *p, const char **dst, const char *s)
{
    *dst = NULL;
    if (!s)
        return 0;
    *dst = km_intern_get(p->in, s);
    return *dst ? 0 : KM_ENOMEM;
}

int km_kintern(struct km_kparse *p, const char **dst, const json_t *o, const char *key)
{
    return km_kintern_str(p, dst, km_kjson_str(o, key));
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const struct km_kkv *)a)->k, ((const struct km_kkv *)b)->k);
}

/* The allowlisted entries of a map (labels or annotations) as label_<key>=value. Two
 * keys that sanitise to the same name keep the first in key order. */
static int parse_map(struct km_kparse *p, const json_t *map, const struct km_allow *allow,
                     const char *prefix, struct km_kkv **out, uint16_t *n)
{
    const char *key;
    const json_t *v;
    size_t cap;
    int rc = 0;

    *out = NULL;
    *n = 0;
    if (!allow || !json_is_object(map) || json_object_size(map) == 0)
        return 0;
    cap = json_object_size(map);
    if (cap > MAX_ITEMS)
        cap = MAX_ITEMS;
    *out = calloc(cap, sizeof(**out));
    if (!*out)
        return km_err_set(KM_ENOMEM, "out of memory");
    json_object_foreach((json_t *)map, key, v)
    {
        char name[512];
        struct km_kkv *kv;

        if (*n == cap || !json_is_string(v) || !km_allow_has(allow, key))
            continue;
        km_allow_label_name(name, sizeof(name), prefix, key);
        kv = &(*out)[*n];
        kv->k = km_intern_get(p->in, name);
        kv->v = km_intern_get(p->in, json_string_value(v));
        (*n)++;
        if (!kv->k || !kv->v) {
            rc = km_err_set(KM_ENOMEM, "out of memory");
            break;
        }
    }
    km_sort(*out, *n, sizeof(**out), cmp_kv);
    for (uint16_t i = 1; i < *n; i++) {
        if (strcmp((*out)[i].k, (*out)[i - 1].k) == 0) {
            km_intern_put(p->in, (*out)[i].k);
            km_intern_put(p->in, (*out)[i].v);
            memmove(&(*out)[i], &(*out)[i + 1], (size_t)(*n - i - 1) * sizeof(**out));
            (*n)--;
            i--;
        }
    }
    return rc;
}

static void kv_fini(struct km_intern *in, struct km_kkv *kv, uint16_t n)
{
    for (uint16_t i = 0; i < n; i++) {
        km_intern_put(in, kv[i].k);
        km_intern_put(in, kv[i].v);
    }
    free(kv);
}

int km_kmeta_parse(struct km_kparse *p, const json_t *obj, bool namespaced, struct km_kmeta *m)
{
    const json_t *meta = json_is_object(obj) ? json_object_get(obj, "metadata") : NULL;
    const char *uid = km_kjson_str(meta, "uid"), *name = km_kjson_str(meta, "name"),
               *ns = km_kjson_str(meta, "namespace");
    int rc;

    memset(m, 0, sizeof(*m));
    if (!json_is_object(meta) || !uid || !*uid || !name || !*name || (namespaced && !ns))
        return km_err_set(KM_EINVAL, "an object without metadata.uid, .name%s",
                          namespaced ? " or .namespace" : "");
    m->created_s = km_kjson_time(meta, "creationTimestamp");
    m->generation = km_kjson_int(meta, "generation", 0);
    rc = km_kintern_str(p, &m->uid, uid);
    if (rc == 0)
        rc = km_kintern_str(p, &m->name, name);
    if (rc == 0 && namespaced)
        rc = km_kintern_str(p, &m->ns, ns);
    if (rc == 0)
        rc = parse_map(p, json_object_get(meta, "labels"), p->labels, "label_", &m->labels,
                       &m->nlabels);
    if (rc == 0)
        rc = parse_map(p, json_object_get(meta, "annotations"), p->annots, "annotation_",
                       &m->annots, &m->nannots);
    if (rc) {
        km_kmeta_fini(p->in, m);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

void km_kmeta_fini(struct km_intern *in, struct km_kmeta *m)
{
    km_intern_put(in, m->uid);
    km_intern_put(in, m->ns);
    km_intern_put(in, m->name);
    kv_fini(in, m->labels, m->nlabels);
    kv_fini(in, m->annots, m->nannots);
    memset(m, 0, sizeof(*m));
}

/* Room for the items of a JSON array (at most MAX_ITEMS): *out NULL and *cnt 0 for an
 * empty or absent array. */
static int alloc_for(const json_t *arr, size_t size, void **out, size_t *cnt)
{
    *cnt = json_is_array(arr) ? json_array_size(arr) : 0;
    *out = NULL;
    if (*cnt > MAX_ITEMS)
        *cnt = MAX_ITEMS;
    if (*cnt && !(*out = calloc(*cnt, size)))
        return km_err_set(KM_ENOMEM, "out of memory");
    return 0;
}

int km_kowners_parse(struct km_kparse *p, const json_t *meta, struct km_kowner **out, uint16_t *n)
{
    const json_t *refs = json_object_get(meta, "ownerReferences"), *r;
    size_t i, cnt;
    int rc = alloc_for(refs, sizeof(**out), (void **)out, &cnt);

    *n = 0;
    if (rc || cnt == 0)
        return rc;
    json_array_foreach(refs, i, r)
    {
        struct km_kowner *o;

        if (*n == cnt || !km_kjson_str(r, "kind") || !km_kjson_str(r, "name"))
            continue;
        o = &(*out)[(*n)++];
        o->controller = json_is_true(json_object_get(r, "controller"));
        if (km_kintern(p, &o->kind, r, "kind") || km_kintern(p, &o->name, r, "name"))
            return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

void km_kowners_fini(struct km_intern *in, struct km_kowner *o, uint16_t n)
{
    for (uint16_t i = 0; i < n; i++) {
        km_intern_put(in, o[i].kind);
        km_intern_put(in, o[i].name);
    }
    free(o);
}

uint8_t km_kcond_status(const char *s)
{
    if (s && strcmp(s, "True") == 0)
        return 1;
    if (s && strcmp(s, "False") == 0)
        return 0;
    return 2;
}

int km_kconds_parse(struct km_kparse *p, const json_t *status, struct km_kcond **out, uint16_t *n)
{
    const json_t *conds = json_object_get(status, "conditions"), *c;
    size_t i, cnt;
    int rc = alloc_for(conds, sizeof(**out), (void **)out, &cnt);

    *n = 0;
    if (rc || cnt == 0)
        return rc;
    json_array_foreach(conds, i, c)
    {
        struct km_kcond *k;

        if (*n == cnt || !km_kjson_str(c, "type"))
            continue;
        k = &(*out)[(*n)++];
        k->status = km_kcond_status(km_kjson_str(c, "status"));
        if (km_kintern(p, &k->type, c, "type") || km_kintern(p, &k->reason, c, "reason"))
            return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

void km_kconds_fini(struct km_intern *in, struct km_kcond *c, uint16_t n)
{
    for (uint16_t i = 0; i < n; i++) {
        km_intern_put(in, c[i].type);
        km_intern_put(in, c[i].reason);
    }
    free(c);
}

/* KSM's unit of a resource, or NULL when KSM does not report it. */
static const char *unit_of(const char *r, bool node, bool *cores)
{
    *cores = false;
    if (strcmp(r, "cpu") == 0) {
        *cores = true;
        return "core";
    }
    if (strcmp(r, "memory") == 0 || strcmp(r, "storage") == 0 ||
        strcmp(r, "ephemeral-storage") == 0 || strncmp(r, "hugepages-", 10) == 0)
        return "byte";
    if (node && strcmp(r, "pods") == 0)
        return "integer";
    if (strncmp(r, "attachable-volumes-", 19) == 0)
        return "integer";
    /* An extended resource: a domain-prefixed name outside kubernetes.io. */
    if (strchr(r, '/') && !strstr(r, "kubernetes.io/") && strncmp(r, "requests.", 9) != 0)
        return "integer";
    return NULL;
}

int km_kres_parse(struct km_kparse *p, const json_t *list, bool node, struct km_kres **out,
                  uint8_t *n)
{
    const char *key;
    const json_t *v;
    size_t cnt = json_is_object(list) ? json_object_size(list) : 0;

    *out = NULL;
    *n = 0;
    if (cnt == 0)
        return 0;
    if (cnt > 255)
        cnt = 255;
    *out = calloc(cnt, sizeof(**out));
    if (!*out)
        return km_err_set(KM_ENOMEM, "out of memory");
    json_object_foreach((json_t *)list, key, v)
    {
        struct km_qty q;
        struct km_kres *r;
        const char *unit;
        char name[256];
        bool cores;

        if (*n == cnt || !(unit = unit_of(key, node, &cores)))
            continue;
        if (!json_is_string(v) || km_qty_parse(json_string_value(v), &q) != 0)
            continue;
        km_allow_label_name(name, sizeof(name), "", key);
        r = &(*out)[(*n)++];
        r->v = km_qty_value(&q, cores);
        r->unit = unit; /* a constant: not interned */
        if (km_kintern_str(p, &r->resource, name))
            return km_err_set(KM_ENOMEM, "out of memory");
    }
    return 0;
}

void km_kres_fini(struct km_intern *in, struct km_kres *r, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        km_intern_put(in, r[i].resource);
    free(r);
}

void km_kobj_fini(struct km_intern *in, void *obj)
{
    struct km_kobj *o = obj;

    km_kmeta_fini(in, &o->m);
    for (int i = 0; i < KM_KOBJ_NS; i++)
        km_intern_put(in, o->s[i]);
    km_kconds_fini(in, o->conds, o->nconds);
    km_kowners_fini(in, o->owners, o->nowners);
    for (uint16_t i = 0; i < o->nlist; i++)
        km_intern_put(in, o->list[i]);
    free(o->list);
    km_kres_fini(in, o->res[0], o->nres[0]);
    km_kres_fini(in, o->res[1], o->nres[1]);
    memset(o, 0, sizeof(*o));
}
