/*
 * otlp_prom — OTLP metrics into Prometheus samples (otlp_prom.h).
 */
#include "otlp_prom.h"

#include "common/err.h"
#include "common/labels.h"
#include "common/numfmt.h"
#include "otlp_delta.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define STALE_BITS  0x7ff0000000000002ull
#define MAX_BUCKETS 1024 /* explicit buckets of one histogram point */
#define MAX_LABELS  64   /* labels of one point after merging (the store caps them too) */

/* ---- names --------------------------------------------------------------------------- */

static bool name_char(char c, bool first, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
           (!first && c >= '0' && c <= '9');
}

/* Sanitise s into the arena: invalid characters → "_", runs of "_" → one; `lead` goes
 * before a leading digit. */
static char *sanitise(struct km_arena *a, const char *s, bool colon, const char *lead)
{
    size_t n = strlen(s), k = 0, ln = strlen(lead);
    char *out = km_otlp_alloc(a, n + ln + 1, 1);

    if (!out)
        return NULL;
    if (s[0] >= '0' && s[0] <= '9') {
        memcpy(out, lead, ln);
        k = ln;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name_char(s[i], false, colon) ? s[i] : '_';

        if (c == '_' && k && out[k - 1] == '_')
            continue;
        out[k++] = c;
    }
    if (k == 0)
        out[k++] = '_';
    out[k] = '\0';
    return out;
}

char *km_otlp_label_name(struct km_arena *a, const char *key)
{
    return sanitise(a, key, false, "key_");
}

/* km_otlp_label_name(), or the key itself when it is already a label name that
 * sanitising leaves alone (most are: no copy). */
static const char *label_name(struct km_arena *a, const char *key)
{
    size_t i = 0;

    if (key[0] >= '0' && key[0] <= '9')
        return km_otlp_label_name(a, key);
    for (; key[i]; i++)
        if (!name_char(key[i], false, false) || (key[i] == '_' && key[i + 1] == '_'))
            return km_otlp_label_name(a, key);
    return i ? key : km_otlp_label_name(a, key);
}

struct unit {
    const char *otel, *prom;
};

static const struct unit units[] = {
    { "d", "days" },         { "h", "hours" },         { "min", "minutes" },
    { "s", "seconds" },      { "ms", "milliseconds" }, { "us", "microseconds" },
    { "ns", "nanoseconds" }, { "By", "bytes" },        { "KiBy", "kibibytes" },
    { "MiBy", "mebibytes" }, { "GiBy", "gibibytes" },  { "TiBy", "tibibytes" },
    { "KBy", "kilobytes" },  { "MBy", "megabytes" },   { "GBy", "gigabytes" },
    { "TBy", "terabytes" },  { "m", "meters" },        { "V", "volts" },
    { "A", "amperes" },      { "J", "joules" },        { "W", "watts" },
    { "g", "grams" },        { "Cel", "celsius" },     { "Hz", "hertz" },
    { "%", "percent" },
};

static const struct unit per_units[] = {
    { "s", "second" }, { "m", "minute" }, { "h", "hour" }, { "d", "day" },
    { "w", "week" },   { "mo", "month" }, { "y", "year" },
};

static const char *lookup(const struct unit *t, size_t n, const char *u, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(t[i].otel) == len && memcmp(t[i].otel, u, len) == 0)
            return t[i].prom;
    return NULL;
}

/* Append the word for u[0..len) (a known unit, else the text itself with invalid
 * characters as "_"). */
static void unit_word(const char *u, size_t len, bool per, char *out, size_t size)
{
    const char *w =
        per ? lookup(per_units, sizeof(per_units) / sizeof(per_units[0]), u, len) : NULL;
    size_t k = strlen(out);

    if (!w)
        w = lookup(units, sizeof(units) / sizeof(units[0]), u, len);
    if (w) {
        snprintf(out + k, size - k, "%s", w);
        return;
    }
    for (size_t i = 0; i < len && k + 1 < size; i++) {
        char c = name_char(u[i], false, false) ? u[i] : '_';

        if (c == '_' && k && out[k - 1] == '_')
            continue;
        out[k++] = c;
    }
    out[k] = '\0';
}

/* u without its {annotations}, trimmed of spaces, into buf. */
static void strip_annotations(const char *u, char *buf, size_t size)
{
    size_t k = 0;
    int depth = 0;

    for (; *u && k + 1 < size; u++) {
        if (*u == '{')
            depth++;
        else if (*u == '}' && depth)
            depth--;
        else if (!depth && *u != ' ')
            buf[k++] = *u;
    }
    buf[k] = '\0';
}

void km_otlp_unit_name(const char *unit, bool gauge, char *out, size_t size)
{
    char u[128];
    const char *slash;

    out[0] = '\0';
    strip_annotations(unit ? unit : "", u, sizeof(u));
    if (!u[0])
        return;
    if (strcmp(u, "1") == 0) {
        if (gauge)
            snprintf(out, size, "ratio");
        return;
    }
    slash = strchr(u, '/');
    if (!slash) {
        unit_word(u, strlen(u), false, out, size);
    } else {
        size_t k;

        if (slash > u) {
            unit_word(u, (size_t)(slash - u), false, out, size);
            k = strlen(out);
            snprintf(out + k, size - k, "_per_");
        } else {
            snprintf(out, size, "per_");
        }
        unit_word(slash + 1, strlen(slash + 1), true, out, size);
    }
    /* Trim stray underscores the words may have left at the ends. */
    while (out[0] == '_')
        memmove(out, out + 1, strlen(out));
    for (size_t k = strlen(out); k && out[k - 1] == '_';)
        out[--k] = '\0';
}

/* Whether name holds word as whole "_"-separated tokens. */
static bool has_tokens(const char *name, const char *word)
{
    size_t wl = strlen(word);

    for (const char *p = strstr(name, word); p; p = strstr(p + 1, word)) {
        if ((p == name || p[-1] == '_') && (p[wl] == '\0' || p[wl] == '_'))
            return true;
    }
    return false;
}

char *km_otlp_metric_name(struct km_arena *a, const char *name, const char *unit, bool counter,
                          bool gauge)
{
    char *base = sanitise(a, name, true, "_"), word[160], *out;
    size_t n, wl;

    if (!base)
        return NULL;
    n = strlen(base);
    if (counter && n > 6 && strcmp(base + n - 6, "_total") == 0)
        base[n -= 6] = '\0';
    km_otlp_unit_name(unit, gauge, word, sizeof(word));
    if (word[0] && has_tokens(base, word))
        word[0] = '\0';
    wl = strlen(word);
    out = km_otlp_alloc(a, n + wl + 8, 1);
    if (!out)
        return NULL;
    memcpy(out, base, n);
    if (wl) {
        out[n++] = '_';
        memcpy(out + n, word, wl);
        n += wl;
    }
    if (counter)
        memcpy(out + n, "_total", 7);
    return out;
}

/* ---- labels ---------------------------------------------------------------------------- */

static const char *attr_get(const struct km_otlp_attr *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return v[i].value;
    return NULL;
}

size_t km_otlp_resource_labels(struct km_arena *a, const struct km_otlp_attr *attrs, size_t n,
                               bool logs, struct km_label *out)
{
    static const struct {
        const char *attr, *label;
    } promoted[] = { { "service.instance.id", "instance" },
                     { "k8s.namespace.name", "namespace" },
                     { "k8s.pod.name", "pod" },
                     { "k8s.node.name", "node" },
                     { "k8s.cluster.name", "cluster" },
                     { "k8s.container.name", "container" } };
    const char *name = attr_get(attrs, n, "service.name");
    const char *ns = attr_get(attrs, n, "service.namespace");
    size_t k = 0;

    if (name && name[0]) {
        const char *job = name;

        if (ns && ns[0]) {
            char *j = km_otlp_alloc(a, strlen(ns) + strlen(name) + 2, 1);

            if (j) {
                sprintf(j, "%s/%s", ns, name);
                job = j;
            }
        }
        out[k++] = (struct km_label){ "job", job };
        if (logs)
            out[k++] = (struct km_label){ "service_name", name };
    } else if (logs) {
        /* As OpenTelemetry's SDKs name a service without a name (and Loki's OTLP ingest):
         * every stream needs a label. */
        out[k++] = (struct km_label){ "service_name", "unknown_service" };
    }
    for (size_t i = 0; i < sizeof(promoted) / sizeof(promoted[0]); i++) {
        const char *v = attr_get(attrs, n, promoted[i].attr);

        if (v && v[0])
            out[k++] = (struct km_label){ promoted[i].label, v };
    }
    return k;
}

/* One label while a set is built: its name, value, the original key (ties of sanitised
 * names) and precedence (a higher one replaces a lower one of the same name). */
struct lab {
    const char *name, *value, *key;
    int prio;
};

static int lab_cmp(const void *x, const void *y)
{
    const struct lab *a = x, *b = y;
    int c = strcmp(a->name, b->name);

    if (c)
        return c;
    if (a->prio != b->prio)
        return b->prio - a->prio;
    return strcmp(a->key, b->key);
}

/* Attributes as labels appended to v (prio 0): sanitised, collisions joined by ";". */
static int add_attrs(struct km_arena *a, const struct km_otlp_attr *attrs, size_t n, struct lab *v,
                     size_t *nv, size_t cap)
{
    size_t first = *nv;

    for (size_t i = 0; i < n; i++) {
        if (*nv == cap)
            return km_err_set(KM_EINVAL, "more than %d attributes", MAX_LABELS);
        v[*nv].name = label_name(a, attrs[i].key);
        if (!v[*nv].name)
            return KM_ELIMIT;
        v[*nv].value = attrs[i].value;
        v[*nv].key = attrs[i].key;
        v[*nv].prio = 0;
        (*nv)++;
    }
    qsort(v + first, *nv - first, sizeof(*v), lab_cmp);
    /* Join the values of equal names (sorted by original key) with ";". */
    for (size_t i = first; i + 1 < *nv;) {
        if (strcmp(v[i].name, v[i + 1].name) != 0) {
            i++;
            continue;
        }
        {
            size_t l1 = strlen(v[i].value), l2 = strlen(v[i + 1].value);
            char *j = km_otlp_alloc(a, l1 + l2 + 2, 1);

            if (!j)
                return KM_ELIMIT;
            memcpy(j, v[i].value, l1);
            j[l1] = ';';
            memcpy(j + l1 + 1, v[i + 1].value, l2);
            v[i].value = j;
            memmove(&v[i + 1], &v[i + 2], (*nv - i - 2) * sizeof(*v));
            (*nv)--;
        }
    }
    return 0;
}

static void add_lab(struct lab *v, size_t *nv, const char *name, const char *value, int prio)
{
    if (value && value[0])
        v[(*nv)++] = (struct lab){ name, value, name, prio };
}

/* Sort by name and precedence, keep the first of each name, drop empty values: the
 * point's base labels as km_label pairs into the arena. */
static int finish_labels(struct km_arena *a, struct lab *v, size_t nv, struct km_label **out,
                         size_t *nout)
{
    struct km_label *l = km_otlp_alloc(a, nv, sizeof(*l));
    size_t k = 0;

    if (!l)
        return KM_ELIMIT;
    qsort(v, nv, sizeof(*v), lab_cmp);
    for (size_t i = 0; i < nv; i++) {
        if (k && strcmp(l[k - 1].name, v[i].name) == 0)
            continue;
        if (!v[i].value[0])
            continue;
        l[k++] = (struct km_label){ v[i].name, v[i].value };
    }
    *out = l;
    *nout = k;
    return 0;
}

/* ---- output ------------------------------------------------------------------------------ */

struct ctx {
    struct km_arena *a;
    const struct km_otlp_map_opts *o;
    struct km_otlp_samples *out;
    const struct km_label *base; /* the current point's labels */
    size_t nbase;
    uint32_t point;
    int64_t t;
    bool stale;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t c = *cap ? *cap : 256;
    void *q;

    if (need <= *cap)
        return 0;
    while (c < need)
        c *= 2;
    q = realloc(*p, c * elem);
    if (!q)
        return km_err_set(KM_ENOMEM, "out of memory mapping OTLP metrics");
    *p = q;
    *cap = c;
    return 0;
}

/* One sample: the base labels, __name__ and an optional extra label (le, quantile). */
static int emit(struct ctx *c, const char *name, const char *xname, const char *xval, double v)
{
    struct km_otlp_samples *out = c->out;
    struct km_label *l = km_otlp_alloc(c->a, c->nbase + 2, sizeof(*l));
    size_t n = 0;

    if (!l)
        return KM_ELIMIT;
    l[n++] = (struct km_label){ KM_METRIC_NAME_LABEL, name };
    for (size_t i = 0; i < c->nbase; i++)
        if (!xname || strcmp(c->base[i].name, xname) != 0)
            l[n++] = c->base[i];
    if (xname)
        l[n++] = (struct km_label){ xname, xval };
    km_labels_sort(l, n);
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 256;
        void *sv = realloc(out->v, cap * sizeof(*out->v)), *pt;

        if (!sv)
            return km_err_set(KM_ENOMEM, "out of memory mapping OTLP metrics");
        out->v = sv;
        pt = realloc(out->point, cap * sizeof(*out->point));
        if (!pt)
            return km_err_set(KM_ENOMEM, "out of memory mapping OTLP metrics");
        out->point = pt;
        out->cap = cap;
    }
    if (c->stale) {
        uint64_t bits = STALE_BITS;

        memcpy(&v, &bits, sizeof(v));
    }
    out->v[out->n] = (struct km_sample){ l, n, c->t, v };
    out->point[out->n] = c->point;
    out->n++;
    return 0;
}

static char *suffixed(struct km_arena *a, const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    char *s = km_otlp_alloc(a, n + k + 1, 1);

    if (s) {
        memcpy(s, name, n);
        memcpy(s + n, suffix, k);
    }
    return s;
}

/* The slot of `name` in the metadata set: its entry's, or the empty one it would take. */
static size_t md_slot(const struct km_otlp_samples *out, const char *name)
{
    size_t i = XXH3_64bits(name, strlen(name)) & out->mdmask;

    while (out->mdset[i] && strcmp(out->md[out->mdset[i] - 1].name, name) != 0)
        i = (i + 1) & out->mdmask;
    return i;
}

/* A family's metadata, once per name (every resource repeats its metrics'). */
static int add_metadata(struct ctx *c, const char *name, enum km_metric_type type, const char *help,
                        const char *unit)
{
    struct km_otlp_samples *out = c->out;
    size_t slot;
    int rc;

    if (2 * (out->nmd + 1) > out->mdmask) { /* keep the set at most half full */
        size_t size = out->mdmask ? 2 * (out->mdmask + 1) : 64;
        uint32_t *set = calloc(size, sizeof(*set));

        if (!set)
            return km_err_set(KM_ENOMEM, "out of memory mapping OTLP metrics");
        free(out->mdset);
        out->mdset = set;
        out->mdmask = size - 1;
        for (size_t i = 0; i < out->nmd; i++)
            out->mdset[md_slot(out, out->md[i].name)] = (uint32_t)(i + 1);
    }
    slot = md_slot(out, name);
    if (out->mdset[slot])
        return 0;
    rc = grow((void **)&out->md, &out->capmd, out->nmd + 1, sizeof(*out->md));
    if (rc)
        return rc;
    out->md[out->nmd++] = (struct km_metadata){ name, type, help, unit };
    out->mdset[slot] = (uint32_t)out->nmd;
    return 0;
}

static void drop(struct ctx *c, const char *why)
{
    if (!c->out->dropped++)
        snprintf(c->out->dropped_why, sizeof(c->out->dropped_why), "%s", why);
}

/* The key of a delta series: its name, base labels and extra words (bounds). */
static uint64_t delta_key(const struct ctx *c, const char *name, const double *bounds, size_t nb)
{
    XXH3_state_t *st = XXH3_createState();
    uint64_t h;

    if (!st)
        return 0;
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, name, strlen(name) + 1);
    for (size_t i = 0; i < c->nbase; i++) {
        XXH3_64bits_update(st, c->base[i].name, strlen(c->base[i].name) + 1);
        XXH3_64bits_update(st, c->base[i].value, strlen(c->base[i].value) + 1);
    }
    if (nb)
        XXH3_64bits_update(st, bounds, nb * sizeof(*bounds));
    h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

/* Accumulate a delta point's values; false (and the point counted as dropped) when it
 * cannot be. */
static bool accumulate(struct ctx *c, const struct km_otlp_point *p, const char *name,
                       const double *bounds, size_t nb, double *v, size_t n)
{
    int rc;

    if (!c->o->delta) {
        drop(c, "delta temporality without delta state");
        return false;
    }
    rc = km_otlp_delta_add(c->o->delta, delta_key(c, name, bounds, nb), p->start_ns, p->time_ns, v,
                           n, c->o->now_ms);
    if (rc) {
        char why[160];

        snprintf(why, sizeof(why), "%s: %s", name, km_err_msg());
        drop(c, why);
        return false;
    }
    return true;
}

/* ---- per type ------------------------------------------------------------------------------ */

static int number(struct ctx *c, const struct km_otlp_metric *m, const struct km_otlp_point *p,
                  const char *name)
{
    double v = p->value;

    if (m->type == KM_OTLP_SUM && m->temporality == KM_OTLP_DELTA) {
        if (!m->monotonic) {
            drop(c, "a delta non-monotonic sum (the specification drops them)");
            return 0;
        }
        if (!c->stale && !accumulate(c, p, name, NULL, 0, &v, 1))
            return 0;
    }
    return emit(c, name, NULL, NULL, v);
}

/* _bucket{le}, _sum, _count of explicit buckets; counts as doubles (accumulated deltas). */
static int buckets(struct ctx *c, const char *name, const double *bounds, const double *counts,
                   size_t nb, double count, double sum, bool has_sum)
{
    char *bn = suffixed(c->a, name, "_bucket"), *sn = suffixed(c->a, name, "_sum"),
         *cn = suffixed(c->a, name, "_count");
    double cum = 0;
    int rc = 0;

    if (!bn || !sn || !cn)
        return KM_ELIMIT;
    for (size_t i = 0; rc == 0 && i < nb; i++) {
        char le[KM_FMT_DOUBLE_MAX];
        char *lev;

        cum += counts[i];
        km_fmt_double(le, bounds[i]);
        lev = km_otlp_strdup(c->a, le, strlen(le));
        rc = lev ? emit(c, bn, "le", lev, cum) : KM_ELIMIT;
    }
    if (rc == 0)
        rc = emit(c, bn, "le", "+Inf", count);
    if (rc == 0 && has_sum)
        rc = emit(c, sn, NULL, NULL, sum);
    if (rc == 0)
        rc = emit(c, cn, NULL, NULL, count);
    return rc;
}

static int histogram(struct ctx *c, const struct km_otlp_metric *m, const struct km_otlp_point *p,
                     const char *name)
{
    size_t nb = p->nbuckets ? p->nbounds : 0;
    double *v;

    if (p->nbuckets && p->nbuckets != p->nbounds + 1) {
        drop(c, "a histogram point whose bucket counts do not match its bounds");
        return 0;
    }
    if (nb > MAX_BUCKETS) {
        drop(c, "a histogram point with too many buckets");
        return 0;
    }
    /* v: count, sum, then the buckets below +Inf. */
    v = km_otlp_alloc(c->a, nb + 2, sizeof(*v));
    if (!v)
        return KM_ELIMIT;
    v[0] = (double)p->count;
    v[1] = p->sum;
    for (size_t i = 0; i < nb; i++)
        v[2 + i] = (double)p->buckets[i];
    if (m->temporality == KM_OTLP_DELTA && !c->stale &&
        !accumulate(c, p, name, p->bounds, nb, v, nb + 2))
        return 0;
    return buckets(c, name, p->bounds, v + 2, nb, v[0], v[1], p->has_sum);
}

/* The upper bound of exponential bucket `index` at `scale`: base^(index+1). */
static double exp_bound(int32_t scale, int64_t index)
{
    return exp2(ldexp((double)(index + 1), -scale));
}

static int exp_histogram(struct ctx *c, const struct km_otlp_metric *m,
                         const struct km_otlp_point *p, const char *name)
{
    size_t nb = p->neg.n + 1 + p->pos.n, k = 0;
    double *bounds, *counts;

    if (m->temporality == KM_OTLP_DELTA) {
        drop(c, "a delta exponential histogram (the specification drops them)");
        return 0;
    }
    if (p->scale < -10 || p->scale > 20 || nb > MAX_BUCKETS) {
        drop(c, "an exponential histogram point with an unusable scale or too many buckets");
        return 0;
    }
    bounds = km_otlp_alloc(c->a, nb, sizeof(*bounds));
    counts = km_otlp_alloc(c->a, nb, sizeof(*counts));
    if (!bounds || !counts)
        return KM_ELIMIT;
    /* Negative buckets, most negative first: bucket i holds [-base^(i+1), -base^i). */
    for (size_t i = p->neg.n; i-- > 0;) {
        bounds[k] = -exp_bound(p->scale, (int64_t)p->neg.offset + (int64_t)i - 1);
        counts[k++] = (double)p->neg.counts[i];
    }
    bounds[k] = p->zero_threshold;
    counts[k++] = (double)p->zero_count;
    for (size_t i = 0; i < p->pos.n; i++) {
        bounds[k] = exp_bound(p->scale, (int64_t)p->pos.offset + (int64_t)i);
        counts[k++] = (double)p->pos.counts[i];
    }
    return buckets(c, name, bounds, counts, nb, (double)p->count, p->sum, p->has_sum);
}

static int summary(struct ctx *c, const struct km_otlp_point *p, const char *name)
{
    char *sn = suffixed(c->a, name, "_sum"), *cn = suffixed(c->a, name, "_count");
    int rc = 0;

    if (!sn || !cn)
        return KM_ELIMIT;
    for (size_t i = 0; rc == 0 && i < p->nquantiles; i++) {
        char q[KM_FMT_DOUBLE_MAX];
        char *qv;

        km_fmt_double(q, p->quantiles[i]);
        qv = km_otlp_strdup(c->a, q, strlen(q));
        rc = qv ? emit(c, name, "quantile", qv, p->qvalues[i]) : KM_ELIMIT;
    }
    /* A Summary's sum is not optional (absent on the wire means 0). */
    if (rc == 0)
        rc = emit(c, sn, NULL, NULL, p->sum);
    if (rc == 0)
        rc = emit(c, cn, NULL, NULL, (double)p->count);
    return rc;
}

/* ---- the walk ------------------------------------------------------------------------------ */

static int point_labels(struct ctx *c, const struct km_label *res, size_t nres,
                        const struct km_otlp_scope *s, const struct km_otlp_point *p)
{
    struct lab v[MAX_LABELS + KM_OTLP_RESOURCE_LABELS + 4];
    struct km_label *out;
    size_t nv = 0;
    int rc = add_attrs(c->a, p->attrs, p->nattrs, v, &nv, MAX_LABELS);

    if (rc)
        return rc;
    add_lab(v, &nv, "otel_scope_name", s->name, 1);
    add_lab(v, &nv, "otel_scope_version", s->version, 1);
    for (size_t i = 0; i < nres; i++)
        add_lab(v, &nv, res[i].name, res[i].value, 2);
    add_lab(v, &nv, "cluster", c->o->cluster, 3);
    rc = finish_labels(c->a, v, nv, &out, &c->nbase);
    c->base = out;
    return rc;
}

static int metric(struct ctx *c, const struct km_label *res, size_t nres,
                  const struct km_otlp_scope *s, const struct km_otlp_metric *m, int64_t *newest)
{
    bool counter = m->type == KM_OTLP_SUM && m->monotonic;
    bool gauge = m->type == KM_OTLP_GAUGE || (m->type == KM_OTLP_SUM && !m->monotonic);
    static const enum km_metric_type types[] = { KM_METRIC_UNKNOWN,   KM_METRIC_GAUGE,
                                                 KM_METRIC_COUNTER,   KM_METRIC_HISTOGRAM,
                                                 KM_METRIC_HISTOGRAM, KM_METRIC_SUMMARY };
    char *name = km_otlp_metric_name(c->a, m->name, m->unit, counter, gauge);
    char unit[160];
    int rc;

    if (m->type == KM_OTLP_NONE)
        return 0; /* no data: nothing to store */
    if (!name)
        return KM_ELIMIT;
    km_otlp_unit_name(m->unit, gauge, unit, sizeof(unit));
    rc = add_metadata(c, name, gauge ? KM_METRIC_GAUGE : types[m->type], m->description,
                      km_otlp_strdup(c->a, unit, strlen(unit)));
    for (size_t i = 0; rc == 0 && i < m->npoints; i++) {
        const struct km_otlp_point *p = &m->points[i];

        c->out->points++;
        c->point = (uint32_t)(c->out->points - 1);
        c->t = p->time_ns ? (int64_t)(p->time_ns / 1000000) : c->o->now_ms;
        c->stale = p->flags & KM_OTLP_FLAG_NO_RECORDED_VALUE;
        if (c->t > *newest)
            *newest = c->t;
        rc = point_labels(c, res, nres, s, p);
        if (rc == KM_EINVAL) {
            drop(c, km_err_msg());
            rc = 0;
            continue;
        }
        if (rc)
            break;
        switch (m->type) {
        case KM_OTLP_GAUGE:
        case KM_OTLP_SUM:
            rc = number(c, m, p, name);
            break;
        case KM_OTLP_HISTOGRAM:
            rc = histogram(c, m, p, name);
            break;
        case KM_OTLP_EXP_HISTOGRAM:
            rc = exp_histogram(c, m, p, name);
            break;
        case KM_OTLP_SUMMARY:
            rc = summary(c, p, name);
            break;
        default:
            break;
        }
    }
    return rc;
}

/* target_info for a resource with attributes beyond service.name, .namespace and
 * .instance.id. */
static int target_info(struct ctx *c, const struct km_otlp_resource_metrics *rm,
                       const struct km_label *res, size_t nres, int64_t t)
{
    struct lab v[MAX_LABELS + 4];
    struct km_otlp_attr *other = km_otlp_alloc(c->a, rm->nattrs, sizeof(*other));
    struct km_label *out;
    size_t nother = 0, nv = 0;
    int rc;

    if (!other)
        return KM_ELIMIT;
    for (size_t i = 0; i < rm->nattrs; i++) {
        const char *k = rm->attrs[i].key;

        if (strcmp(k, "service.name") && strcmp(k, "service.namespace") &&
            strcmp(k, "service.instance.id"))
            other[nother++] = rm->attrs[i];
    }
    if (nother == 0)
        return 0;
    if (nother > MAX_LABELS)
        nother = MAX_LABELS;
    rc = add_attrs(c->a, other, nother, v, &nv, MAX_LABELS);
    if (rc)
        return rc;
    /* job and instance to join on; cluster so that a cluster's filters, read scopes and
     * limits see its target_info as they see its other series. */
    for (size_t i = 0; i < nres; i++)
        if (strcmp(res[i].name, "job") == 0 || strcmp(res[i].name, "instance") == 0 ||
            strcmp(res[i].name, "cluster") == 0)
            add_lab(v, &nv, res[i].name, res[i].value, 2);
    add_lab(v, &nv, "cluster", c->o->cluster, 3);
    rc = finish_labels(c->a, v, nv, &out, &c->nbase);
    c->base = out;
    c->t = t;
    c->stale = false;
    c->point = UINT32_MAX;
    if (rc == 0)
        rc = emit(c, "target_info", NULL, NULL, 1);
    return rc;
}

int km_otlp_to_samples(struct km_otlp_metrics_req *r, const struct km_otlp_map_opts *o,
                       struct km_otlp_samples *out)
{
    struct ctx c = { .a = &r->arena, .o = o, .out = out };
    bool info_md = false;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < r->nresources; i++) {
        const struct km_otlp_resource_metrics *rm = &r->resources[i];
        struct km_label res[KM_OTLP_RESOURCE_LABELS];
        size_t nres = km_otlp_resource_labels(c.a, rm->attrs, rm->nattrs, false, res);
        int64_t newest = 0;

        for (size_t s = 0; rc == 0 && s < rm->nscopes; s++)
            for (size_t k = 0; rc == 0 && k < rm->scopes[s].nmetrics; k++)
                rc =
                    metric(&c, res, nres, &rm->scopes[s].scope, &rm->scopes[s].metrics[k], &newest);
        if (rc == 0)
            rc = target_info(&c, rm, res, nres, newest ? newest : o->now_ms);
        if (rc == 0 && !info_md) {
            info_md = true;
            rc = add_metadata(&c, "target_info", KM_METRIC_GAUGE,
                              "Target metadata: the resource attributes of OTLP senders.", "");
        }
    }
    return rc;
}

uint64_t km_otlp_samples_estimate(const struct km_otlp_metrics_req *r)
{
    uint64_t n = 0;

    for (size_t i = 0; i < r->nresources; i++) {
        n++; /* target_info */
        for (size_t k = 0; k < r->resources[i].nscopes; k++)
            for (size_t m = 0; m < r->resources[i].scopes[k].nmetrics; m++) {
                const struct km_otlp_metric *mt = &r->resources[i].scopes[k].metrics[m];

                for (size_t p = 0; p < mt->npoints; p++) {
                    const struct km_otlp_point *pt = &mt->points[p];

                    if (mt->type == KM_OTLP_HISTOGRAM)
                        n += pt->nbounds + 3;
                    else if (mt->type == KM_OTLP_EXP_HISTOGRAM)
                        n += pt->pos.n + pt->neg.n + 4;
                    else if (mt->type == KM_OTLP_SUMMARY)
                        n += pt->nquantiles + 2;
                    else
                        n++;
                }
            }
    }
    return n;
}

void km_otlp_samples_fini(struct km_otlp_samples *s)
{
    free(s->v);
    free(s->point);
    free(s->md);
    free(s->mdset);
    memset(s, 0, sizeof(*s));
}
