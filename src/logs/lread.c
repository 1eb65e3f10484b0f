/*
 * lread — the log store as a log source (logsource.h): selecting streams through the
 * label index, reading a stream's chunks and head merged in time order in either
 * direction, lazily (one chunk decompressed at a time, outside the store's lock), and
 * the label, series and stats queries.
 */
#include "logs/lstore.h"

#include "common/array.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- matching */

static const char *label_or_empty(const struct km_labels *l, const char *name)
{
    const char *v = km_labels_get(l, name);

    return v ? v : "";
}

static bool stream_matches(const struct lstream *st, struct km_matcher *const *m, size_t nm)
{
    for (size_t i = 0; i < nm; i++)
        if (!km_matcher_matches(m[i], label_or_empty(st->labels, m[i]->name)))
            return false;
    return true;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static int cmp_stream_labels(const void *a, const void *b)
{
    const struct lstream *x = *(struct lstream *const *)a, *y = *(struct lstream *const *)b;

    return km_labels_cmp(x->labels, y->labels);
}

/* Streams matching m (all when nm is 0) with data in [start, end), in label order
 * (under mu). *out new (free()). */
static int match_streams(struct km_logstore *s, struct km_matcher *const *m, size_t nm,
                         int64_t start, int64_t end, struct lstream ***out, size_t *nout)
{
    uint32_t *best = NULL, *tmp = NULL;
    size_t nbest = 0, ntmp = 0, captmp = 0;
    bool have_best = false, best_owned = false;
    struct lstream **res = NULL;
    size_t nres = 0;
    int rc = 0;

    for (size_t i = 0; i < nm; i++) {
        const struct km_matcher *mt = m[i];

        if (mt->matches_empty)
            continue;
        if (mt->type == KM_MATCH_EQ) {
            long pi = km_ls_pair_find(s, mt->name, mt->value);

            if (pi < 0) {
                have_best = true;
                nbest = 0;
                break;
            }
            if (!have_best || s->pairs[pi].ids.n < nbest) {
                if (best_owned)
                    free(best);
                best = s->pairs[pi].ids.v;
                nbest = s->pairs[pi].ids.n;
                best_owned = false;
                have_best = true;
            }
            continue;
        }
        long ni = km_ls_name_find(s, mt->name);

        if (ni < 0) {
            have_best = true;
            nbest = 0;
            break;
        }
        ntmp = 0;
        tmp = NULL;
        captmp = 0;
        for (size_t k = 0; k < s->names[ni].vals.n; k++) {
            struct lpair *p = &s->pairs[s->names[ni].vals.v[k]];

            if (!km_matcher_matches(mt, p->value))
                continue;
            if (km_array_grow((void **)&tmp, &captmp, ntmp + p->ids.n, sizeof(*tmp), 64,
                              "selecting log streams") < 0) {
                rc = KM_ENOMEM;
                free(tmp);
                goto out;
            }
            memcpy(tmp + ntmp, p->ids.v, p->ids.n * sizeof(*tmp));
            ntmp += p->ids.n;
        }
        km_sort(tmp, ntmp, sizeof(*tmp), cmp_u32);
        if (!have_best || ntmp < nbest) {
            if (best_owned)
                free(best);
            best = tmp;
            nbest = ntmp;
            best_owned = true;
            have_best = true;
        } else {
            free(tmp);
        }
    }
    size_t total = have_best ? nbest : s->nst;
    if (total) {
        res = malloc(total * sizeof(*res));
        if (!res) {
            rc = km_err_set(KM_ENOMEM, "out of memory selecting log streams");
            goto out;
        }
    }
    for (size_t i = 0; i < total; i++) {
        struct lstream *st = s->st[have_best ? best[i] : i];

        if (st->mint >= end || st->maxt < start || st->mint == INT64_MAX)
            continue;
        if (!stream_matches(st, m, nm))
            continue;
        res[nres++] = st;
    }
    km_sort(res, nres, sizeof(*res), cmp_stream_labels);
    *out = res;
    *nout = nres;
    res = NULL;
out:
    if (best_owned)
        free(best);
    free(res);
    return rc;
}

/* ---------------------------------------------------------------- sets */

struct src {
    int64_t mint, maxt;
    uint32_t order;
    struct lmem *mem;
    struct lfile *file;
    uint64_t off;
    uint32_t len, bloom_len, crc, n;
};

struct cursor {
    const struct km_log_entry *e;
    size_t lo, hi, pos; /* forward: pos is next; backward: pos - 1 is next */
    uint32_t order;
    struct lmem *mem;
    uint8_t *body;
    struct km_log_entry *owned;
};

struct lset {
    struct km_logstore *s;
    int64_t start, end;
    bool backward;
    char **needle;
    size_t *nlen;
    size_t nn;
    struct lstream **sts; /* counted in the store's nsets: kept from stream GC */
    size_t nsts, next;
    struct lstream *st;
    struct src *src;
    size_t nsrc, nextsrc;
    struct cursor *cur;
    size_t ncur, capcur;
    struct cursor *ret;
    size_t nret, capret;
    struct km_log_entry out[KM_LOGS_BATCH];
    int err;
};

static void cursor_free(struct cursor *c)
{
    km_lmem_unref(c->mem);
    free(c->body);
    free(c->owned);
}

static void set_reset_stream(struct lset *set)
{
    for (size_t i = 0; i < set->ncur; i++)
        cursor_free(&set->cur[i]);
    for (size_t i = 0; i < set->nret; i++)
        cursor_free(&set->ret[i]);
    set->ncur = set->nret = 0;
    for (size_t i = set->nextsrc; i < set->nsrc; i++) {
        km_lmem_unref(set->src[i].mem);
        km_lfile_unref(set->src[i].file);
    }
    free(set->src);
    set->src = NULL;
    set->nsrc = set->nextsrc = 0;
    set->st = NULL;
}

static void lset_close(void *p)
{
    struct lset *set = p;

    if (!set)
        return;
    if (set->sts) {
        pthread_mutex_lock(&set->s->mu);
        set->s->nsets--;
        pthread_mutex_unlock(&set->s->mu);
    }
    set_reset_stream(set);
    free(set->cur);
    free(set->ret);
    free(set->sts);
    for (size_t i = 0; i < set->nn; i++)
        free(set->needle[i]);
    free(set->needle);
    free(set->nlen);
    free(set);
}

static int lselect(void *ctx, const struct km_log_select *sel, void **out)
{
    struct km_logstore *s = ctx;
    struct lset *set = calloc(1, sizeof(*set));
    int rc;

    if (!set)
        return km_err_set(KM_ENOMEM, "out of memory selecting log streams");
    set->s = s;
    set->start = sel->start_ns;
    set->end = sel->end_ns;
    set->backward = sel->backward;
    if (sel->n_must_contain) {
        set->needle = calloc(sel->n_must_contain, sizeof(*set->needle));
        set->nlen = calloc(sel->n_must_contain, sizeof(*set->nlen));
        if (!set->needle || !set->nlen) {
            rc = km_err_set(KM_ENOMEM, "out of memory selecting log streams");
            goto fail;
        }
        for (size_t i = 0; i < sel->n_must_contain; i++) {
            set->needle[i] = malloc(sel->must_contain_len[i] + 1);
            if (!set->needle[i]) {
                rc = km_err_set(KM_ENOMEM, "out of memory selecting log streams");
                goto fail;
            }
            memcpy(set->needle[i], sel->must_contain[i], sel->must_contain_len[i]);
            set->nlen[i] = sel->must_contain_len[i];
            set->nn++;
        }
    }
    if (set->start >= set->end) {
        *out = set;
        return 0;
    }
    pthread_mutex_lock(&s->mu);
    rc = match_streams(s, sel->m, sel->nm, set->start, set->end, &set->sts, &set->nsts);
    if (rc == 0 && set->sts)
        s->nsets++;
    pthread_mutex_unlock(&s->mu);
    if (rc < 0)
        goto fail;
    *out = set;
    return 0;
fail:
    lset_close(set);
    return rc;
}

static int cmp_head_ix(const void *a, const void *b)
{
    const struct lhead_entry *x = *(struct lhead_entry *const *)a,
                             *y = *(struct lhead_entry *const *)b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* A copy of the head's entries in range, sorted (under mu). */
static int head_copy(struct lset *set, struct lstream *st, struct lmem **out)
{
    struct lhead_entry **ix;
    struct lmem *m;
    size_t n = 0, bytes = 0, off = 0;

    *out = NULL;
    if (!st->hn || st->hmint >= set->end || st->hmaxt < set->start)
        return 0;
    ix = malloc(st->hn * sizeof(*ix));
    m = calloc(1, sizeof(*m));
    if (!ix || !m)
        goto nomem;
    for (size_t i = 0; i < st->hn; i++)
        if (st->he[i].ts >= set->start && st->he[i].ts < set->end) {
            ix[n++] = &st->he[i];
            bytes += st->he[i].len;
        }
    if (!n) {
        free(ix);
        free(m);
        return 0;
    }
    km_sort(ix, n, sizeof(*ix), cmp_head_ix);
    m->e = malloc(n * sizeof(*m->e));
    m->lines = malloc(bytes ? bytes : 1);
    if (!m->e || !m->lines)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        memcpy(m->lines + off, st->hlines.data + ix[i]->off, ix[i]->len);
        m->e[i] = (struct km_log_entry){ ix[i]->ts, m->lines + off, ix[i]->len };
        off += ix[i]->len;
    }
    m->n = n;
    atomic_init(&m->refs, 1);
    free(ix);
    *out = m;
    return 0;
nomem:
    free(ix);
    if (m) {
        free(m->e);
        free(m->lines);
    }
    free(m);
    return km_err_set(KM_ENOMEM, "out of memory reading a log head");
}

static int cmp_src_fwd(const void *a, const void *b)
{
    const struct src *x = a, *y = b;

    if (x->mint != y->mint)
        return x->mint < y->mint ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_src_bwd(const void *a, const void *b)
{
    const struct src *x = a, *y = b;

    if (x->maxt != y->maxt)
        return x->maxt > y->maxt ? -1 : 1;
    return x->order > y->order ? -1 : x->order < y->order;
}

/* Snapshot the current stream's sources (chunks and head) overlapping the range. */
static int snapshot(struct lset *set)
{
    struct km_logstore *s = set->s;
    struct lstream *st = set->st;
    struct lmem *hm = NULL;
    int rc = 0;

    pthread_mutex_lock(&s->mu);
    set->src = malloc((st->nch + 1) * sizeof(*set->src));
    if (!set->src) {
        rc = km_err_set(KM_ENOMEM, "out of memory reading a log stream");
        goto out;
    }
    for (size_t i = 0; i < st->nch; i++) {
        struct lchunk *c = st->ch[i];
        struct src *x = &set->src[set->nsrc];

        if (c->mint >= set->end || c->maxt < set->start)
            continue;
        *x = (struct src){ .mint = c->mint, .maxt = c->maxt, .order = (uint32_t)i, .n = c->n };
        if (c->mem) {
            x->mem = c->mem;
            atomic_fetch_add(&c->mem->refs, 1);
        } else {
            x->file = c->file;
            atomic_fetch_add(&c->file->refs, 1);
            x->off = c->off;
            x->len = c->len;
            x->bloom_len = c->bloom_len;
            x->crc = c->crc;
        }
        set->nsrc++;
    }
    rc = head_copy(set, st, &hm);
    if (rc == 0 && hm) {
        set->src[set->nsrc++] = (struct src){ .mint = hm->e[0].ts_ns,
                                              .maxt = hm->e[hm->n - 1].ts_ns,
                                              .order = UINT32_MAX,
                                              .mem = hm,
                                              .n = (uint32_t)hm->n };
    }
out:
    pthread_mutex_unlock(&s->mu);
    km_sort(set->src, set->nsrc, sizeof(*set->src), set->backward ? cmp_src_bwd : cmp_src_fwd);
    return rc;
}

static bool lset_next(void *p)
{
    struct lset *set = p;

    set_reset_stream(set);
    if (set->err)
        return false;
    while (set->next < set->nsts) {
        set->st = set->sts[set->next++];
        set->err = snapshot(set);
        if (set->err)
            return false;
        if (set->nsrc)
            return true;
        set_reset_stream(set);
    }
    return false;
}

static const struct km_labels *lset_labels(void *p)
{
    struct lset *set = p;

    return set->st ? set->st->labels : NULL;
}

static size_t lower_bound(const struct km_log_entry *e, size_t n, int64_t ts)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (e[mid].ts_ns < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Open the next source as a cursor (decompressing it when on disk). */
static int open_next(struct lset *set)
{
    struct src *x = &set->src[set->nextsrc++];
    struct cursor c = { .order = x->order };
    size_t n;
    int rc = 0;

    if (x->mem) {
        c.mem = x->mem;
        c.e = x->mem->e;
        n = x->mem->n;
        x->mem = NULL;
    } else {
        bool skipped;

        rc = km_ls_read_chunk(x->file, x->off, x->len, x->bloom_len, x->crc, x->n,
                              (const char *const *)set->needle, set->nlen, set->nn, &skipped,
                              &c.body, &c.owned, &n);
        km_lfile_unref(x->file);
        x->file = NULL;
        if (rc < 0)
            return rc;
        if (skipped)
            return 0;
        c.e = c.owned;
    }
    c.lo = lower_bound(c.e, n, set->start);
    c.hi = lower_bound(c.e, n, set->end);
    if (c.lo >= c.hi) {
        cursor_free(&c);
        return 0;
    }
    c.pos = set->backward ? c.hi : c.lo;
    if (km_array_grow((void **)&set->cur, &set->capcur, set->ncur + 1, sizeof(*set->cur), 4,
                      "reading a log stream") < 0) {
        cursor_free(&c);
        return KM_ENOMEM;
    }
    set->cur[set->ncur++] = c;
    return 0;
}

static bool lset_batch(void *p, struct km_log_batch *b)
{
    struct lset *set = p;
    size_t n = 0;

    for (size_t i = 0; i < set->nret; i++)
        cursor_free(&set->ret[i]);
    set->nret = 0;
    if (set->err || !set->st)
        return false;
    while (n < KM_LOGS_BATCH) {
        size_t best = SIZE_MAX;
        int64_t bts = 0;

        /* the chosen cursor's next entry, then open sources that may come first */
        for (;;) {
            best = SIZE_MAX;
            for (size_t i = 0; i < set->ncur; i++) {
                struct cursor *c = &set->cur[i];
                int64_t ts = set->backward ? c->e[c->pos - 1].ts_ns : c->e[c->pos].ts_ns;

                if (best == SIZE_MAX ||
                    (set->backward
                         ? (ts > bts || (ts == bts && c->order > set->cur[best].order))
                         : (ts < bts || (ts == bts && c->order < set->cur[best].order)))) {
                    best = i;
                    bts = ts;
                }
            }
            if (set->nextsrc >= set->nsrc)
                break;
            struct src *x = &set->src[set->nextsrc];
            if (best != SIZE_MAX && (set->backward ? x->maxt < bts : x->mint > bts))
                break;
            set->err = open_next(set);
            if (set->err)
                return false;
        }
        if (best == SIZE_MAX)
            break;
        struct cursor *c = &set->cur[best];
        if (set->backward)
            set->out[n++] = c->e[--c->pos];
        else
            set->out[n++] = c->e[c->pos++];
        if (set->backward ? c->pos == c->lo : c->pos == c->hi) {
            if (km_array_grow((void **)&set->ret, &set->capret, set->nret + 1, sizeof(*set->ret), 4,
                              "reading a log stream") < 0) {
                set->err = KM_ENOMEM;
                return false;
            }
            set->ret[set->nret++] = *c;
            set->cur[best] = set->cur[--set->ncur];
        }
    }
    if (!n)
        return false;
    b->e = set->out;
    b->n = n;
    return true;
}

static int lset_error(void *p)
{
    return ((struct lset *)p)->err;
}

/* ---------------------------------------------------------------- labels, series, stats */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int label_names(void *ctx, struct km_matcher *const *m, size_t nm, int64_t start,
                       int64_t end, km_str_fn fn, void *ud)
{
    struct km_logstore *s = ctx;
    struct lstream **sts = NULL;
    const char **names = NULL;
    size_t n = 0, nn = 0;
    int rc;

    pthread_mutex_lock(&s->mu);
    rc = match_streams(s, m, nm, start, end, &sts, &n);
    if (rc < 0)
        goto out;
    bool *seen = calloc(s->nnames + 1, sizeof(*seen));
    names = malloc((s->nnames + 1) * sizeof(*names));
    if (!seen || !names) {
        free(seen);
        rc = km_err_set(KM_ENOMEM, "out of memory listing log labels");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < sts[i]->labels->n; k++) {
            long ni = km_ls_name_find(s, sts[i]->labels->v[k].name);

            if (ni >= 0 && !seen[ni]) {
                seen[ni] = true;
                names[nn++] = s->names[ni].name;
            }
        }
    free(seen);
    km_sort(names, nn, sizeof(*names), cmp_str);
    for (size_t i = 0; i < nn; i++)
        if (fn(ud, names[i]))
            break;
out:
    pthread_mutex_unlock(&s->mu);
    free(names);
    free(sts);
    return rc;
}

static int label_values(void *ctx, const char *name, struct km_matcher *const *m, size_t nm,
                        int64_t start, int64_t end, km_str_fn fn, void *ud)
{
    struct km_logstore *s = ctx;
    struct lstream **sts = NULL;
    const char **vals = NULL;
    size_t n = 0, nv = 0;
    int rc;

    pthread_mutex_lock(&s->mu);
    rc = match_streams(s, m, nm, start, end, &sts, &n);
    if (rc < 0 || !n)
        goto out;
    vals = malloc(n * sizeof(*vals));
    if (!vals) {
        rc = km_err_set(KM_ENOMEM, "out of memory listing log label values");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *v = km_labels_get(sts[i]->labels, name);

        if (v)
            vals[nv++] = v;
    }
    km_sort(vals, nv, sizeof(*vals), cmp_str);
    for (size_t i = 0; i < nv; i++) {
        if (i && strcmp(vals[i], vals[i - 1]) == 0)
            continue;
        if (fn(ud, vals[i]))
            break;
    }
out:
    pthread_mutex_unlock(&s->mu);
    free(vals);
    free(sts);
    return rc;
}

static int series(void *ctx, struct km_matcher *const *m, size_t nm, int64_t start, int64_t end,
                  km_log_labels_fn fn, void *ud)
{
    struct km_logstore *s = ctx;
    struct lstream **sts = NULL;
    size_t n = 0;
    int rc;

    pthread_mutex_lock(&s->mu);
    rc = match_streams(s, m, nm, start, end, &sts, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (fn(ud, sts[i]->labels))
            break;
    pthread_mutex_unlock(&s->mu);
    free(sts);
    return rc;
}

static int stats(void *ctx, struct km_matcher *const *m, size_t nm, int64_t start, int64_t end,
                 struct km_log_stats *out)
{
    struct km_logstore *s = ctx;
    struct lstream **sts = NULL;
    struct km_log_stats r = { 0 };
    size_t n = 0;
    int rc;

    pthread_mutex_lock(&s->mu);
    rc = match_streams(s, m, nm, start, end, &sts, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct lstream *st = sts[i];

        r.streams++;
        for (size_t k = 0; k < st->nch; k++) {
            if (st->ch[k]->mint >= end || st->ch[k]->maxt < start)
                continue;
            r.chunks++;
            r.entries += st->ch[k]->n;
            r.bytes += st->ch[k]->raw;
        }
        if (st->hn && st->hmint < end && st->hmaxt >= start) {
            r.chunks++;
            for (size_t k = 0; k < st->hn; k++)
                if (st->he[k].ts >= start && st->he[k].ts < end) {
                    r.entries++;
                    r.bytes += st->he[k].len;
                }
        }
    }
    pthread_mutex_unlock(&s->mu);
    free(sts);
    if (rc == 0)
        *out = r;
    return rc;
}

const struct km_log_source_ops km_logstore_source_ops = {
    .version = KM_LOG_SOURCE_V1,
    .name = "logstore",
    .select = lselect,
    .set_next = lset_next,
    .set_labels = lset_labels,
    .set_batch = lset_batch,
    .set_error = lset_error,
    .set_close = lset_close,
    .label_names = label_names,
    .label_values = label_values,
    .series = series,
    .stats = stats,
};
