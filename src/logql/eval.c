/*
 * eval — LogQL evaluation over a log source.
 *
 * A log query walks the selected streams once, runs each line through the pipeline and
 * keeps the best `limit` entries in a heap (oldest for forward, newest for backward);
 * since a stream's entries come in the query's direction, a stream is left as soon as
 * its next entry cannot make the cut. A pipeline of plain line filters runs on the raw
 * batch bytes with no label work at all.
 *
 * A metric query evaluates every step at once: each range aggregation reads its
 * selector once over [first window start, last step], groups the extracted samples
 * into series (labels after the pipeline), then slides the window (t - range - offset,
 * t - offset] over each series' sorted samples. Vector aggregations and binary
 * operators reuse PromQL's (promql/aggr.h, promql/binop.h), so their semantics are
 * Prometheus' as Loki's are.
 *
 * One evaluation runs on the calling thread; the expression is only read.
 */
#include "common/array.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "logql/logql_internal.h"
#include "promql/render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KM_LOGQL_MAX_LOG_SERIES 100000 /* distinct label sets a log query may meet */

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void km_logql_params_default(struct km_logql_params *p)
{
    memset(p, 0, sizeof(*p));
    p->direction = KM_LOGQL_BACKWARD;
    p->limit = KM_LOGQL_DEFAULT_LIMIT;
}

/* ---- the evaluation context ------------------------------------------------------------- */

/* Series met while reading: label sets found by hash. */
struct smap {
    struct km_labels **l;
    size_t n, cap;
    size_t *slots; /* index + 1 */
    size_t nslots;
};

struct ev {
    const struct km_logql_params *p;
    const struct km_log_source *src;
    struct km_logql_stats *st;
    struct km_arena arena;
    struct km_buf scratch, tmp;
    struct lq_line ln;
    struct km_label *lv; /* the labels of a line, sorted */
    size_t lvcap;
    uint64_t ticks;
    struct km_pq_budget budget;
};

static int ev_check(struct ev *e)
{
    if (e->p->max_lines && e->st->lines_processed >= e->p->max_lines)
        return km_err_set(KM_ELIMIT, "the query read more than %llu lines",
                          (unsigned long long)e->p->max_lines);
    if (e->p->deadline_ns && mono_ns() > e->p->deadline_ns)
        return km_err_set(KM_ETIMEDOUT, "context deadline exceeded");
    if (e->p->cancelled && e->p->cancelled(e->p->cancel_ud))
        return km_err_set(KM_ECANCELED, "context canceled");
    return 0;
}

static void smap_fini(struct smap *m)
{
    for (size_t i = 0; i < m->n; i++)
        km_labels_destroy(m->l[i]);
    free(m->l);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

/* The index of the series with these (sorted) labels, added when missing. */
static int smap_get(struct smap *m, const struct km_label *v, size_t n, size_t *out)
{
    uint64_t h = km_labels_hash(v, n);
    size_t i;
    struct km_labels *l;
    int rc;

    if (m->nslots) {
        for (i = h & (m->nslots - 1); m->slots[i]; i = (i + 1) & (m->nslots - 1)) {
            struct km_labels *c = m->l[m->slots[i] - 1];

            if (c->hash == h && km_labels_cmp_arrays(c->v, c->n, v, n) == 0) {
                *out = m->slots[i] - 1;
                return 0;
            }
        }
    }
    if (m->n >= KM_LOGQL_MAX_LOG_SERIES)
        return km_err_set(KM_ELIMIT, "maximum of series (%u) reached for a single query",
                          KM_LOGQL_MAX_LOG_SERIES);
    if ((m->n + 1) * 2 > m->nslots) {
        size_t ns = m->nslots ? m->nslots * 2 : 64;
        size_t *nsl = calloc(ns, sizeof(*nsl));

        if (!nsl)
            return km_err_set(KM_ENOMEM, "out of memory");
        for (size_t k = 0; k < m->n; k++) {
            for (i = m->l[k]->hash & (ns - 1); nsl[i]; i = (i + 1) & (ns - 1))
                ;
            nsl[i] = k + 1;
        }
        free(m->slots);
        m->slots = nsl;
        m->nslots = ns;
    }
    if ((rc = km_array_grow((void **)&m->l, &m->cap, m->n + 1, sizeof(*m->l), 64, "of series")))
        return rc;
    if ((rc = km_labels_create_sorted(&l, v, n)))
        return rc;
    m->l[m->n] = l;
    for (i = h & (m->nslots - 1); m->slots[i]; i = (i + 1) & (m->nslots - 1))
        ;
    m->slots[i] = ++m->n;
    *out = m->n - 1;
    return 0;
}

static int ev_init(struct ev *e, const struct km_logql_params *p, const struct km_log_source *src,
                   struct km_logql_stats *st)
{
    memset(e, 0, sizeof(*e));
    e->p = p;
    e->src = src;
    e->st = st;
    km_arena_init(&e->arena, 16384, 64u * 1024 * 1024);
    km_buf_init(&e->scratch, 4u * KM_LOGQL_MAX_FMT_OUT);
    km_buf_init(&e->tmp, 4u * KM_LOGQL_MAX_FMT_OUT);
    e->ln.arena = &e->arena;
    e->ln.tmp = &e->tmp;
    e->budget.deadline_ns = p->deadline_ns;
    e->budget.cancelled = p->cancelled;
    e->budget.cancel_ud = p->cancel_ud;
    return 0;
}

static void ev_fini(struct ev *e)
{
    km_arena_fini(&e->arena);
    km_buf_fini(&e->scratch);
    km_buf_fini(&e->tmp);
    free(e->ln.l);
    free(e->lv);
}

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const struct km_label *)a)->name, ((const struct km_label *)b)->name);
}

/* The line's labels (not deleted, not empty) sorted into e->lv; strings NUL-terminated
 * in the arena. `skip` names a label to leave out (unwrap's). */
static int line_labels(struct ev *e, const char *skip, size_t *n)
{
    size_t k = 0;

    if (e->ln.n > e->lvcap) {
        struct km_label *nv = realloc(e->lv, e->ln.n * sizeof(*nv));

        if (!nv)
            return km_err_set(KM_ENOMEM, "out of memory");
        e->lv = nv;
        e->lvcap = e->ln.n;
    }
    for (size_t i = 0; i < e->ln.n; i++) {
        const struct lq_lbl *l = &e->ln.l[i];

        if (l->del || l->vl == 0)
            continue;
        if (skip && strlen(skip) == l->nl && memcmp(skip, l->n, l->nl) == 0)
            continue;
        if (l->parsed) {
            e->lv[k].name = km_arena_strndup(&e->arena, l->n, l->nl);
            e->lv[k].value = km_arena_strndup(&e->arena, l->v, l->vl);
            if (!e->lv[k].name || !e->lv[k].value)
                return km_err_set(KM_ENOMEM, "out of memory");
        } else {
            e->lv[k].name = l->n;
            e->lv[k].value = l->v;
        }
        k++;
    }
    km_sort(e->lv, k, sizeof(*e->lv), cmp_label);
    *n = k;
    return 0;
}

/* Load the stream's labels into the line state. */
static int line_start(struct ev *e, const struct km_labels *sl, const struct km_log_entry *en)
{
    km_arena_reset(&e->arena);
    e->ln.n = 0;
    e->ln.has_err = false;
    e->ln.line = en->line;
    e->ln.len = en->len;
    e->ln.ts = en->ts_ns;
    if (sl->n > e->ln.cap) { /* stream labels are unique: appended without lookups */
        struct lq_lbl *nl = realloc(e->ln.l, sl->n * sizeof(*nl));

        if (!nl)
            return km_err_set(KM_ENOMEM, "out of memory");
        e->ln.l = nl;
        e->ln.cap = sl->n;
    }
    for (size_t i = 0; i < sl->n; i++)
        e->ln.l[i] = (struct lq_lbl){ sl->v[i].name,          sl->v[i].value, strlen(sl->v[i].name),
                                      strlen(sl->v[i].value), false,          false };
    e->ln.n = sl->n;
    return 0;
}

static bool only_line_filters(const struct lq_selector *s)
{
    for (size_t i = 0; i < s->nst; i++)
        if (s->st[i].k != LQ_S_LINE)
            return false;
    return true;
}

static bool plain_match(const struct lq_selector *s, const char *l, size_t n)
{
    for (size_t i = 0; i < s->nst; i++)
        if (!lq_line_filter_match(&s->st[i].lf, l, n))
            return false;
    return true;
}

/* Every 1024 lines, and at each line once past the limit on lines, check the query's
 * limits: 0 or ev_check()'s error. */
static int ev_tick(struct ev *e)
{
    if ((++e->ticks & 1023) == 0 || (e->p->max_lines && e->st->lines_processed >= e->p->max_lines))
        return ev_check(e);
    return 0;
}

/* A line read, in the statistics. */
static void ev_count(struct ev *e, const struct km_log_entry *en)
{
    e->st->lines_processed++;
    e->st->bytes_processed += en->len;
}

/* The selector over one line en of the stream sl: `fast` (line filters only) over the
 * line as it is, else through the pipeline into e->ln. 1 when the line is kept, 0 when
 * it is filtered out, or a negative error. */
static int ev_filter(struct ev *e, const struct lq_selector *sel, const struct km_labels *sl,
                     const struct km_log_entry *en, bool fast)
{
    int rc;

    if (fast)
        return plain_match(sel, en->line, en->len) ? 1 : 0;
    rc = line_start(e, sl, en);
    return rc ? rc : lq_pipeline_run(sel, &e->ln, &e->scratch);
}

static int open_set(struct ev *e, const struct lq_selector *s, int64_t start, int64_t end,
                    bool backward, struct km_log_set **out)
{
    struct km_log_select q = {
        .m = s->m,
        .nm = s->nm,
        .start_ns = start,
        .end_ns = end,
        .backward = backward,
        .must_contain = s->must,
        .must_contain_len = s->must_len,
        .n_must_contain = s->nmust,
    };

    return km_log_select(e->src, &q, out);
}

/* ---- log queries ------------------------------------------------------------------------- */

struct hent {
    int64_t ts;
    uint64_t seq; /* arrival order, for a stable answer */
    size_t series;
    char *line;
    size_t len;
};

struct heap {
    struct hent *v;
    size_t n, cap;
    bool backward; /* worst = oldest; else worst = newest */
};

/* a is worse than b */
static bool worse(const struct heap *h, const struct hent *a, const struct hent *b)
{
    if (a->ts != b->ts)
        return h->backward ? a->ts < b->ts : a->ts > b->ts;
    return a->seq > b->seq;
}

static void sift_down(struct heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;

        if (l < h->n && worse(h, &h->v[l], &h->v[w]))
            w = l;
        if (r < h->n && worse(h, &h->v[r], &h->v[w]))
            w = r;
        if (w == i)
            return;
        struct hent t = h->v[i];

        h->v[i] = h->v[w];
        h->v[w] = t;
        i = w;
    }
}

static void sift_up(struct heap *h, size_t i)
{
    while (i) {
        size_t p = (i - 1) / 2;

        if (!worse(h, &h->v[i], &h->v[p]))
            return;
        struct hent t = h->v[i];

        h->v[i] = h->v[p];
        h->v[p] = t;
        i = p;
    }
}

/* Whether an entry at ts can still enter a full heap. */
static bool can_enter(const struct heap *h, size_t limit, int64_t ts)
{
    if (h->n < limit)
        return true;
    return h->backward ? ts > h->v[0].ts : ts < h->v[0].ts;
}

static int heap_push(struct heap *h, size_t limit, const struct hent *en)
{
    char *c = malloc(en->len + 1);

    if (!c)
        return km_err_set(KM_ENOMEM, "out of memory");
    memcpy(c, en->line, en->len);
    c[en->len] = '\0';
    if (h->n < limit) {
        int rc = km_array_grow((void **)&h->v, &h->cap, h->n + 1, sizeof(*h->v), 64, "of entries");

        if (rc) {
            free(c);
            return rc;
        }
        h->v[h->n] = *en;
        h->v[h->n].line = c;
        sift_up(h, h->n++);
        return 0;
    }
    free(h->v[0].line);
    h->v[0] = *en;
    h->v[0].line = c;
    sift_down(h, 0);
    return 0;
}

static int cmp_hent_fwd(const void *a, const void *b)
{
    const struct hent *x = a, *y = b;

    if (x->series != y->series)
        return x->series < y->series ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_hent_bwd(const void *a, const void *b)
{
    const struct hent *x = a, *y = b;

    if (x->series != y->series)
        return x->series < y->series ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts > y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_stream(const void *a, const void *b)
{
    return km_labels_cmp(((const struct km_logql_stream *)a)->labels,
                         ((const struct km_logql_stream *)b)->labels);
}

static int eval_log(struct ev *e, const struct lq_selector *sel, struct km_logql_result *r)
{
    size_t limit = e->p->limit ? e->p->limit : KM_LOGQL_DEFAULT_LIMIT;
    size_t max = e->p->max_entries ? e->p->max_entries : KM_LOGQL_DEFAULT_MAX_ENTRIES;
    struct heap h = { NULL, 0, 0, e->p->direction == KM_LOGQL_BACKWARD };
    struct smap sm = { 0 };
    struct km_log_set *set = NULL;
    bool plain = only_line_filters(sel) || !sel->changes_labels;
    bool fast = only_line_filters(sel);
    uint64_t seq = 0;
    int rc;

    if (limit > max)
        return km_err_set(
            KM_EINVAL,
            "max entries limit per query exceeded, limit > max_entries_limit (%zu > %zu)", limit,
            max);
    r->type = KM_LOGQL_STREAMS;
    if (e->p->end_ns <= e->p->start_ns)
        return 0;
    if ((rc = open_set(e, sel, e->p->start_ns, e->p->end_ns, h.backward, &set)))
        return rc;
    while (km_log_set_next(set)) {
        const struct km_labels *sl = km_log_set_labels(set);
        struct km_log_batch b;
        size_t stream_series = SIZE_MAX;
        bool leave = false;

        e->st->streams++;
        if (plain) {
            if ((rc = smap_get(&sm, sl->v, sl->n, &stream_series)))
                goto out;
        }
        while (!leave && km_log_set_batch(set, &b)) {
            for (size_t i = 0; i < b.n; i++) {
                const struct km_log_entry *en = &b.e[i];
                struct hent he;

                if ((rc = ev_tick(e)))
                    goto out;
                if (!can_enter(&h, limit, en->ts_ns)) {
                    leave = true;
                    break;
                }
                ev_count(e, en);
                he = (struct hent){ en->ts_ns, seq++, stream_series, (char *)en->line, en->len };
                rc = ev_filter(e, sel, sl, en, fast);
                if (rc < 0)
                    goto out;
                if (rc == 0)
                    continue;
                if (!fast) {
                    he.line = (char *)e->ln.line;
                    he.len = e->ln.len;
                    if (!plain) {
                        size_t n;

                        if ((rc = line_labels(e, NULL, &n)) ||
                            (rc = smap_get(&sm, e->lv, n, &he.series)))
                            goto out;
                    }
                }
                e->st->post_filter_lines++;
                if ((rc = heap_push(&h, limit, &he)))
                    goto out;
            }
        }
    }
    if ((rc = km_log_set_error(set)))
        goto out;

    /* group the kept entries into streams */
    km_sort(h.v, h.n, sizeof(*h.v), h.backward ? cmp_hent_bwd : cmp_hent_fwd);
    for (size_t i = 0; i < h.n;) {
        size_t j = i;
        struct km_logql_stream *s;

        while (j < h.n && h.v[j].series == h.v[i].series)
            j++;
        rc = km_array_grow((void **)&r->streams, &(size_t){ r->nstreams }, r->nstreams + 1,
                           sizeof(*r->streams), 1, "of streams");
        if (rc)
            goto out;
        s = &r->streams[r->nstreams];
        memset(s, 0, sizeof(*s));
        s->e = calloc(j - i, sizeof(*s->e));
        if (!s->e || (rc = km_labels_dup(&s->labels, sm.l[h.v[i].series]))) {
            free(s->e);
            rc = rc ? rc : km_err_set(KM_ENOMEM, "out of memory");
            goto out;
        }
        r->nstreams++;
        for (size_t k = i; k < j; k++) {
            s->e[s->n++] = (struct km_logql_entry){ h.v[k].ts, h.v[k].line, h.v[k].len };
            h.v[k].line = NULL;
        }
        e->st->entries_returned += j - i;
        i = j;
    }
    km_sort(r->streams, r->nstreams, sizeof(*r->streams), cmp_stream);
    rc = 0;
out:
    for (size_t i = 0; i < h.n; i++)
        free(h.v[i].line);
    free(h.v);
    smap_fini(&sm);
    km_log_set_close(set);
    return rc;
}

/* ---- metric queries: extraction --------------------------------------------------------- */

struct samp {
    int64_t ts;
    double v;
};

struct sseries {
    struct samp *s;
    size_t n, cap;
    bool sorted;
};

struct grid {
    int64_t start, step; /* ns */
    size_t n;
};

static int64_t grid_t(const struct grid *g, size_t i)
{
    return (int64_t)((uint64_t)g->start + (uint64_t)i * (uint64_t)g->step);
}

static int cmp_samp(const void *a, const void *b)
{
    const struct samp *x = a, *y = b;

    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static int pipeline_err(const struct km_label *v, size_t n)
{
    struct km_buf b;
    const char *err = "";

    km_buf_init(&b, 0);
    km_buf_putc(&b, '{');
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(v[i].name, "__error__"))
            err = v[i].value;
        km_buf_printf(&b, "%s%s=\"%s\"", i ? ", " : "", v[i].name, v[i].value);
    }
    km_buf_putc(&b, '}');
    km_err_set(KM_EINVAL,
               "pipeline error: '%s' for series: '%s'.\n"
               "Use a label filter to intentionally skip this error. (e.g | __error__!=\"%s\").\n"
               "To skip all potential errors you can match empty errors.(e.g __error__=\"\")\n"
               "The label filter can also be specified after unwrap. (e.g | unwrap latency | "
               "__error__=\"\" )\n",
               err, km_buf_cstr(&b), err);
    km_buf_fini(&b);
    return KM_EINVAL;
}

static bool in_grouping(const struct lq_grouping *g, const char *name)
{
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->labels[i], name))
            return true;
    return false;
}

/* The unwrapped value of the line, or an error label. */
static int unwrap_value(struct ev *e, const struct lq_node *n, double *v, bool *ok)
{
    /* A missing label converts "" (and fails). Static: a compound literal in the block
     * below would end with the block, and l is read after it. */
    static const struct lq_lbl missing = { "", "", 0, 0, false, false };
    const struct lq_lbl *l = lq_line_get(&e->ln, n->unwrap_label, strlen(n->unwrap_label));
    char msg[200];
    int bad, ml;

    *ok = false;
    if (!l) {
        *v = 0;
        *ok = true;
        l = &missing;
    }
    char tmp[101];

    snprintf(tmp, sizeof(tmp), "%.*s", (int)(l->vl < 100 ? l->vl : 100), l->v);
    if (n->conv == LQ_U_BYTES) {
        bad = lq_parse_bytes(l->v, l->vl, v);
        ml = snprintf(msg, sizeof(msg), "strconv.ParseFloat: parsing \"%s\": invalid syntax", tmp);
    } else if (n->conv == LQ_U_DURATION || n->conv == LQ_U_DURATION_SECONDS) {
        int64_t ns;

        bad = lq_parse_duration(l->v, l->vl, &ns);
        *v = (double)ns / 1e9;
        ml = snprintf(msg, sizeof(msg), "time: invalid duration \"%s\"", tmp);
    } else {
        bad = lq_parse_float(l->v, l->vl, v);
        ml = snprintf(msg, sizeof(msg), "strconv.ParseFloat: parsing \"%s\": invalid syntax", tmp);
    }
    *ok = !bad;
    if (bad && !e->ln.has_err) {
        char *d = km_arena_strndup(&e->arena, msg, (size_t)ml);

        if (!d)
            return KM_ENOMEM;
        e->ln.has_err = true;
        if (lq_line_set(&e->ln, "__error__", 9, "SampleExtractionErr", 19, true) ||
            lq_line_set(&e->ln, "__error_details__", 17, d, (size_t)ml, true))
            return KM_ENOMEM;
        *v = 0;
    }
    return 0;
}

static int run_post(struct ev *e, const struct lq_node *n, bool *keep)
{
    struct lq_selector tmp = { 0 };
    struct lq_stage st = { 0 };

    *keep = true;
    for (size_t i = 0; i < n->npost && *keep; i++) {
        int rc;

        st.k = LQ_S_LABEL_FILTER;
        st.filter = n->post[i];
        tmp.st = &st;
        tmp.nst = 1;
        rc = lq_pipeline_run(&tmp, &e->ln, &e->scratch);
        if (rc < 0)
            return rc;
        *keep = rc == 1;
    }
    return 0;
}

/* Read a range aggregation's samples into series (sm: labels, ss: samples). */
static int extract(struct ev *e, const struct lq_node *n, const struct grid *g, struct smap *sm,
                   struct sseries **ss, size_t *nss)
{
    int64_t start =
        km_pq_time_sub(km_pq_time_sub(km_pq_time_sub(grid_t(g, 0), n->offset_ns), n->range_ns), -1);
    int64_t end = km_pq_time_sub(km_pq_time_sub(grid_t(g, g->n - 1), n->offset_ns), -1);
    const struct lq_selector *sel = &n->sel;
    bool fast = only_line_filters(sel) && !n->has_unwrap && !n->g.present;
    bool bytes = n->rop == LQ_R_BYTES || n->rop == LQ_R_BYTES_RATE;
    struct km_log_set *set = NULL;
    size_t cap = *nss;
    int rc;

    if ((rc = open_set(e, sel, start, end, false, &set)))
        return rc;
    while (km_log_set_next(set)) {
        const struct km_labels *sl = km_log_set_labels(set);
        struct km_log_batch b;
        size_t fixed = SIZE_MAX;

        e->st->streams++;
        if (fast && (rc = smap_get(sm, sl->v, sl->n, &fixed)))
            goto out;
        while (km_log_set_batch(set, &b)) {
            for (size_t i = 0; i < b.n; i++) {
                const struct km_log_entry *en = &b.e[i];
                size_t si = fixed;
                double v = 1;

                if ((rc = ev_tick(e)))
                    goto out;
                ev_count(e, en);
                rc = ev_filter(e, sel, sl, en, fast);
                if (rc < 0)
                    goto out;
                if (rc == 0)
                    continue;
                if (fast) {
                    if (bytes)
                        v = (double)en->len;
                } else {
                    size_t nl;
                    bool ok, keep;

                    if (bytes)
                        v = (double)e->ln.len;
                    if (n->has_unwrap) {
                        if ((rc = unwrap_value(e, n, &v, &ok)))
                            goto out;
                        if ((rc = run_post(e, n, &keep)))
                            goto out;
                        if (!keep)
                            continue;
                    }
                    if ((rc = line_labels(e, n->has_unwrap ? n->unwrap_label : NULL, &nl)))
                        goto out;
                    for (size_t k = 0; k < nl; k++)
                        if (!strcmp(e->lv[k].name, "__error__")) {
                            rc = pipeline_err(e->lv, nl);
                            goto out;
                        }
                    if (n->g.present) {
                        size_t w = 0;

                        for (size_t k = 0; k < nl; k++)
                            if (in_grouping(&n->g, e->lv[k].name) != n->g.without)
                                e->lv[w++] = e->lv[k];
                        nl = w;
                    }
                    if ((rc = smap_get(sm, e->lv, nl, &si)))
                        goto out;
                }
                e->st->post_filter_lines++;
                if (si >= cap) {
                    size_t nc = cap ? cap * 2 : 16;
                    struct sseries *nv;

                    while (nc <= si)
                        nc *= 2;
                    nv = realloc(*ss, nc * sizeof(*nv));
                    if (!nv) {
                        rc = km_err_set(KM_ENOMEM, "out of memory");
                        goto out;
                    }
                    memset(nv + cap, 0, (nc - cap) * sizeof(*nv));
                    *ss = nv;
                    cap = nc;
                }
                struct sseries *s = &(*ss)[si];

                if (s->n == s->cap && (rc = km_array_grow((void **)&s->s, &s->cap, s->n + 1,
                                                          sizeof(*s->s), 16, "of samples")))
                    goto out;
                if (s->n && s->s[s->n - 1].ts > en->ts_ns)
                    s->sorted = false;
                else if (!s->n)
                    s->sorted = true;
                s->s[s->n++] = (struct samp){ en->ts_ns, v };
            }
        }
    }
    rc = km_log_set_error(set);
out:
    *nss = cap;
    km_log_set_close(set);
    return rc;
}

/* ---- metric queries: windows ------------------------------------------------------------ */

static double quantile(double q, double *v, size_t n)
{
    double rank, w;
    size_t lo, hi;

    if (n == 0)
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    for (size_t i = 1; i < n; i++) { /* insertion sort: windows are small; n log n below */
        double x = v[i];
        size_t j = i;

        while (j && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    rank = q * (double)(n - 1);
    lo = (size_t)floor(rank);
    hi = lo + 1 < n ? lo + 1 : lo;
    w = rank - (double)lo;
    return v[lo] * (1 - w) + v[hi] * w;
}

static double window(const struct lq_node *n, const struct samp *s, size_t k, double range_s,
                     int64_t wstart, int64_t wend, double *scratch)
{
    double acc = 0, mean = 0, m2 = 0;

    switch (n->rop) {
    case LQ_R_COUNT:
        return (double)k;
    case LQ_R_RATE:
        if (!n->has_unwrap)
            return (double)k / range_s;
        /* fallthrough */
    case LQ_R_SUM:
    case LQ_R_BYTES:
    case LQ_R_BYTES_RATE:
        for (size_t i = 0; i < k; i++)
            acc += s[i].v;
        return n->rop == LQ_R_BYTES_RATE || n->rop == LQ_R_RATE ? acc / range_s : acc;
    case LQ_R_AVG:
        for (size_t i = 0; i < k; i++)
            mean += (s[i].v - mean) / (double)(i + 1);
        return mean;
    case LQ_R_MIN:
    case LQ_R_MAX:
        acc = s[0].v;
        for (size_t i = 1; i < k; i++)
            if (n->rop == LQ_R_MIN ? (s[i].v < acc || isnan(acc)) : (s[i].v > acc || isnan(acc)))
                acc = s[i].v;
        return acc;
    case LQ_R_STDVAR:
    case LQ_R_STDDEV:
        for (size_t i = 0; i < k; i++) {
            double d = s[i].v - mean;

            mean += d / (double)(i + 1);
            m2 += d * (s[i].v - mean);
        }
        return n->rop == LQ_R_STDVAR ? m2 / (double)k : sqrt(m2 / (double)k);
    case LQ_R_QUANTILE:
        for (size_t i = 0; i < k; i++)
            scratch[i] = s[i].v;
        return quantile(n->param, scratch, k);
    case LQ_R_FIRST:
        return s[0].v;
    case LQ_R_LAST:
        return s[k - 1].v;
    case LQ_R_RATE_COUNTER: {
        /* Prometheus' extrapolatedRate for a counter */
        double result = 0, prev, dur_start, dur_end, sampled, avg, ext;

        if (k < 2)
            return NAN;
        prev = s[0].v;
        for (size_t i = 1; i < k; i++) {
            if (s[i].v < prev)
                result += prev;
            prev = s[i].v;
        }
        result += s[k - 1].v - s[0].v;
        dur_start = ((double)s[0].ts - (double)wstart) / 1e9;
        dur_end = ((double)wend - (double)s[k - 1].ts) / 1e9;
        sampled = ((double)s[k - 1].ts - (double)s[0].ts) / 1e9;
        avg = sampled / (double)(k - 1);
        if (result > 0 && s[0].v >= 0) {
            double dz = sampled * (s[0].v / result);

            if (dz < dur_start)
                dur_start = dz;
        }
        ext = sampled;
        ext += dur_start < avg * 1.1 ? dur_start : avg / 2;
        ext += dur_end < avg * 1.1 ? dur_end : avg / 2;
        return result * (ext / sampled) / range_s;
    }
    default:
        return NAN;
    }
}

/* A value per step. */
struct val {
    bool scalar;
    double *sc;
    struct km_pq_vec vec;
};

static void val_fini(struct val *v, struct km_pq_budget *b)
{
    free(v->sc);
    if (!v->scalar)
        km_pq_vec_fini(&v->vec, b);
    memset(v, 0, sizeof(*v));
}

static int eval_range(struct ev *e, const struct lq_node *n, const struct grid *g, struct val *out)
{
    struct smap sm = { 0 };
    struct sseries *ss = NULL;
    size_t nss = 0;
    double range_s = (double)n->range_ns / 1e9, *scratch = NULL;
    size_t scap = 0;
    int rc;

    km_pq_vec_init(&out->vec, g->n);
    if ((rc = extract(e, n, g, &sm, &ss, &nss)))
        goto out;
    if (n->rop == LQ_R_ABSENT) {
        /* 1 where no series has a sample in the window; labels from the equality matchers */
        struct km_label lv[64];
        size_t nl = 0;
        struct km_labels *l;
        struct km_pq_series *s;

        for (size_t i = 0; i < n->sel.nm && nl < 64; i++)
            if (n->sel.m[i]->type == KM_MATCH_EQ) {
                bool dup = false;

                for (size_t k = 0; k < nl; k++)
                    dup |= !strcmp(lv[k].name, n->sel.m[i]->name);
                if (!dup)
                    lv[nl++] = (struct km_label){ n->sel.m[i]->name, n->sel.m[i]->value };
            }
        if ((rc = km_labels_create(&l, lv, nl)) || (rc = km_pq_vec_add(&out->vec, l, &s)))
            goto out;
        for (size_t t = 0; t < g->n; t++) {
            int64_t we = km_pq_time_sub(grid_t(g, t), n->offset_ns),
                    ws = km_pq_time_sub(we, n->range_ns);
            bool any = false;

            for (size_t k = 0; k < sm.n && k < nss && !any; k++)
                for (size_t i = 0; i < ss[k].n && !any; i++)
                    any = ss[k].s[i].ts > ws && ss[k].s[i].ts <= we;
            if (!any && (rc = km_pq_set(&out->vec, &e->budget, s, t, 1)))
                goto out;
        }
        goto out;
    }
    /* a series met without a sample kept (a stream whose lines were all filtered) has
     * no entry in ss beyond nss */
    for (size_t k = 0; k < sm.n && k < nss; k++) {
        struct sseries *s = &ss[k];
        struct km_pq_series *ps = NULL;
        size_t lo = 0, hi = 0;
        struct km_labels *l;

        if (!s->sorted) {
            /* stable by time: merge of streams */
            km_sort(s->s, s->n, sizeof(*s->s), cmp_samp);
        }
        for (size_t t = 0; t < g->n; t++) {
            int64_t we = km_pq_time_sub(grid_t(g, t), n->offset_ns),
                    ws = km_pq_time_sub(we, n->range_ns);
            double v;

            while (lo < s->n && s->s[lo].ts <= ws)
                lo++;
            if (hi < lo)
                hi = lo;
            while (hi < s->n && s->s[hi].ts <= we)
                hi++;
            if (hi == lo)
                continue;
            if (n->rop == LQ_R_QUANTILE && hi - lo > scap) {
                double *ns2 = realloc(scratch, (hi - lo) * sizeof(*ns2));

                if (!ns2) {
                    rc = km_err_set(KM_ENOMEM, "out of memory");
                    goto out;
                }
                scratch = ns2;
                scap = hi - lo;
            }
            v = window(n, s->s + lo, hi - lo, range_s, ws, we, scratch);
            if (n->rop == LQ_R_RATE_COUNTER && isnan(v))
                continue;
            if (!ps) {
                if ((rc = km_labels_dup(&l, sm.l[k])) || (rc = km_pq_vec_add(&out->vec, l, &ps)))
                    goto out;
            }
            if ((rc = km_pq_set(&out->vec, &e->budget, ps, t, v)))
                goto out;
        }
    }
out:
    for (size_t k = 0; k < nss; k++)
        free(ss ? ss[k].s : NULL);
    free(ss);
    free(scratch);
    smap_fini(&sm);
    return rc;
}

static int eval_node(struct ev *e, const struct lq_node *n, const struct grid *g, bool instant,
                     struct val *out);

static enum km_pq_aggr aggr_of(enum lq_vagg_op op)
{
    switch (op) {
    case LQ_A_SUM:
        return KM_PQ_SUM;
    case LQ_A_AVG:
        return KM_PQ_AVG;
    case LQ_A_MIN:
        return KM_PQ_MIN;
    case LQ_A_MAX:
        return KM_PQ_MAX;
    case LQ_A_COUNT:
        return KM_PQ_COUNT;
    case LQ_A_STDDEV:
        return KM_PQ_STDDEV;
    case LQ_A_STDVAR:
        return KM_PQ_STDVAR;
    case LQ_A_TOPK:
        return KM_PQ_TOPK;
    default:
        return KM_PQ_BOTTOMK;
    }
}

/* sort: ascending, NaN last; sort_desc: descending, NaN last. */
static int cmp_series_asc(const void *a, const void *b)
{
    double u = ((const struct km_pq_series *)a)->v[0], w = ((const struct km_pq_series *)b)->v[0];

    if (isnan(u) || isnan(w))
        return isnan(u) - isnan(w);
    return u < w ? -1 : u > w;
}

static int cmp_series_desc(const void *a, const void *b)
{
    double u = ((const struct km_pq_series *)a)->v[0], w = ((const struct km_pq_series *)b)->v[0];

    if (isnan(u) || isnan(w))
        return isnan(u) - isnan(w);
    return u > w ? -1 : u < w;
}

static int eval_vagg(struct ev *e, const struct lq_node *n, const struct grid *g, bool instant,
                     struct val *out)
{
    struct val in = { 0 };
    double *param = NULL;
    int rc;

    if ((rc = eval_node(e, n->arg, g, instant, &in)))
        return rc;
    if (in.scalar) {
        val_fini(&in, &e->budget);
        return km_err_set(KM_EINVAL, "unexpected scalar in vector aggregation");
    }
    if (n->aop == LQ_A_SORT || n->aop == LQ_A_SORT_DESC) {
        *out = in;
        km_pq_vec_compact(&out->vec);
        if (instant) {
            km_sort(out->vec.s, out->vec.n, sizeof(*out->vec.s),
                    n->aop == LQ_A_SORT ? cmp_series_asc : cmp_series_desc);
        }
        return 0;
    }
    if (n->aop == LQ_A_TOPK || n->aop == LQ_A_BOTTOMK) {
        param = malloc(g->n * sizeof(*param));
        if (!param) {
            val_fini(&in, &e->budget);
            return km_err_set(KM_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < g->n; i++)
            param[i] = n->param;
    }
    struct km_pq_grouping gr = { (const char *const *)n->g.labels, n->g.n, n->g.without };

    rc =
        km_pq_aggregate(aggr_of(n->aop), &in.vec, &gr, param, NULL, instant, &e->budget, &out->vec);
    free(param);
    val_fini(&in, &e->budget);
    return rc;
}

static int eval_binop(struct ev *e, const struct lq_node *n, const struct grid *g, bool instant,
                      struct val *out)
{
    struct val l = { 0 }, r = { 0 };
    int rc;

    if ((rc = eval_node(e, n->l, g, instant, &l)))
        return rc;
    if ((rc = eval_node(e, n->r, g, instant, &r))) {
        val_fini(&l, &e->budget);
        return rc;
    }
    if (l.scalar && r.scalar) {
        out->scalar = true;
        out->sc = l.sc;
        l.sc = NULL;
        for (size_t i = 0; i < g->n; i++) {
            bool keep;

            out->sc[i] = km_pq_binop_apply(n->op, out->sc[i], r.sc[i], &keep);
            if (n->ret_bool)
                out->sc[i] = keep ? 1 : 0;
        }
    } else if (l.scalar || r.scalar) {
        struct val *v = l.scalar ? &r : &l, *s = l.scalar ? &l : &r;

        rc = km_pq_binop_vector_scalar(n->op, n->ret_bool, &v->vec, s->sc, l.scalar, &e->budget,
                                       &out->vec);
    } else {
        struct km_pq_matching m = { n->card,
                                    n->on,
                                    (const char *const *)n->mlabels,
                                    n->nmlabels,
                                    (const char *const *)n->include,
                                    n->ninclude };

        rc = km_pq_binop_vectors(n->op, n->ret_bool, &m, &l.vec, &r.vec, &e->budget, &out->vec);
    }
    val_fini(&l, &e->budget);
    val_fini(&r, &e->budget);
    return rc;
}

static int eval_label_replace(struct ev *e, const struct lq_node *n, const struct grid *g,
                              bool instant, struct val *out)
{
    struct val in = { 0 };
    int rc;

    if ((rc = eval_node(e, n->arg, g, instant, &in)))
        return rc;
    if (in.scalar) {
        val_fini(&in, &e->budget);
        return km_err_set(KM_EINVAL, "unexpected scalar in label_replace");
    }
    for (size_t i = 0; i < in.vec.n; i++) {
        struct km_pq_series *s = &in.vec.s[i];
        const char *src = km_labels_get(s->labels, n->lr_src);
        size_t ov[40];
        int gc;
        struct km_buf nv;

        if (!src)
            src = "";
        gc = km_regex_match_groups(n->lr_compiled, src, strlen(src), ov, 20);
        if (gc <= 0)
            continue;
        km_buf_init(&nv, 0);
        for (const char *p = n->lr_repl; *p; p++) {
            if (*p == '$' && (p[1] >= '0' && p[1] <= '9')) {
                int k = *++p - '0';

                if (k < gc && ov[2 * k] != (size_t)-1)
                    km_buf_append(&nv, src + ov[2 * k], ov[2 * k + 1] - ov[2 * k]);
                continue;
            }
            km_buf_putc(&nv, *p);
        }
        /* rebuild the labels with dst set (or removed when empty) */
        struct km_label *lv = malloc((s->labels->n + 1) * sizeof(*lv));
        size_t k = 0;
        struct km_labels *nl;

        if (!lv || km_buf_error(&nv)) {
            free(lv);
            km_buf_fini(&nv);
            val_fini(&in, &e->budget);
            return km_err_set(KM_ENOMEM, "out of memory");
        }
        for (size_t j = 0; j < s->labels->n; j++)
            if (strcmp(s->labels->v[j].name, n->lr_dst))
                lv[k++] = s->labels->v[j];
        if (nv.len)
            lv[k++] = (struct km_label){ n->lr_dst, km_buf_cstr(&nv) };
        rc = km_labels_create(&nl, lv, k);
        free(lv);
        km_buf_fini(&nv);
        if (rc) {
            val_fini(&in, &e->budget);
            return rc;
        }
        km_labels_destroy(s->labels);
        s->labels = nl;
    }
    *out = in;
    return 0;
}

static int eval_node(struct ev *e, const struct lq_node *n, const struct grid *g, bool instant,
                     struct val *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = ev_check(e)))
        return rc;
    switch (n->k) {
    case LQ_N_NUM:
        out->scalar = true;
        out->sc = malloc(g->n * sizeof(double));
        if (!out->sc)
            return km_err_set(KM_ENOMEM, "out of memory");
        for (size_t i = 0; i < g->n; i++)
            out->sc[i] = n->v;
        return 0;
    case LQ_N_VECTOR: {
        struct km_labels *l;
        struct km_pq_series *s;

        km_pq_vec_init(&out->vec, g->n);
        if ((rc = km_labels_create(&l, NULL, 0)) || (rc = km_pq_vec_add(&out->vec, l, &s)))
            return rc;
        for (size_t i = 0; i < g->n; i++)
            if ((rc = km_pq_set(&out->vec, &e->budget, s, i, n->v)))
                return rc;
        return 0;
    }
    case LQ_N_RANGE:
        return eval_range(e, n, g, out);
    case LQ_N_VAGG:
        return eval_vagg(e, n, g, instant, out);
    case LQ_N_BINOP:
        return eval_binop(e, n, g, instant, out);
    case LQ_N_LABEL_REPLACE:
        return eval_label_replace(e, n, g, instant, out);
    }
    return km_err_set(KM_EINVAL, "unknown expression");
}

static int eval_metric(struct ev *e, const struct lq_node *root, struct km_logql_result *r)
{
    const struct km_logql_params *p = e->p;
    bool instant = p->step_ns == 0;
    size_t max_series = p->max_series ? p->max_series : KM_LOGQL_DEFAULT_MAX_SERIES;
    struct grid g;
    struct val v = { 0 };
    int rc;

    if (instant) {
        g = (struct grid){ p->end_ns, 1, 1 };
    } else {
        if (p->step_ns <= 0)
            return km_err_set(KM_EINVAL, "zero or negative query resolution step widths are not "
                                         "accepted. Try a positive integer");
        if (p->end_ns < p->start_ns)
            return km_err_set(KM_EINVAL, "end timestamp must not be before or equal to start time");
        uint64_t pts = ((uint64_t)p->end_ns - (uint64_t)p->start_ns) / (uint64_t)p->step_ns;

        if (pts >= KM_LOGQL_MAX_STEPS)
            return km_err_set(KM_EINVAL,
                              "exceeded maximum resolution of 11,000 points per "
                              "timeseries. Try increasing the value of the step parameter");
        g = (struct grid){ p->start_ns, p->step_ns, (size_t)pts + 1 };
    }
    if ((rc = eval_node(e, root, &g, instant, &v)))
        return rc;
    r->metric.grid.start = g.start / 1000000;
    r->metric.grid.step = g.step / 1000000 ? g.step / 1000000 : 1;
    r->metric.grid.n = g.n;
    if (v.scalar) {
        r->type = instant ? KM_LOGQL_SCALAR : KM_LOGQL_MATRIX;
        if (instant) {
            r->metric.type = KM_PQ_RESULT_SCALAR;
            r->metric.scalar = v.sc;
            v.sc = NULL;
            return 0;
        }
        /* a scalar over a range: one series without labels */
        struct km_labels *l;
        struct km_pq_series *s;

        km_pq_vec_init(&r->metric.vec, g.n);
        if ((rc = km_labels_create(&l, NULL, 0)) || (rc = km_pq_vec_add(&r->metric.vec, l, &s))) {
            val_fini(&v, &e->budget);
            return rc;
        }
        for (size_t i = 0; i < g.n; i++)
            km_pq_set(&r->metric.vec, NULL, s, i, v.sc[i]);
        r->metric.type = KM_PQ_RESULT_MATRIX;
        val_fini(&v, &e->budget);
        return 0;
    }
    km_pq_vec_compact(&v.vec);
    if (v.vec.n > max_series) {
        val_fini(&v, &e->budget);
        return km_err_set(KM_ELIMIT, "maximum of series (%zu) reached for a single query",
                          max_series);
    }
    bool sorted_by_value =
        root->k == LQ_N_VAGG && (root->aop == LQ_A_SORT || root->aop == LQ_A_SORT_DESC ||
                                 root->aop == LQ_A_TOPK || root->aop == LQ_A_BOTTOMK);
    if (!(instant && sorted_by_value))
        km_pq_vec_sort(&v.vec);
    r->type = instant ? KM_LOGQL_VECTOR : KM_LOGQL_MATRIX;
    r->metric.type = instant ? KM_PQ_RESULT_VECTOR : KM_PQ_RESULT_MATRIX;
    r->metric.vec = v.vec;
    return 0;
}

int km_logql_eval(const struct km_logql_expr *x, const struct km_log_source *s,
                  const struct km_logql_params *p, struct km_logql_result **out)
{
    struct km_logql_result *r = calloc(1, sizeof(*r));
    int64_t t0 = mono_ns();
    struct ev e;
    int rc;

    if (!r)
        return km_err_set(KM_ENOMEM, "out of memory");
    ev_init(&e, p, s, &r->stats);
    if (x->kind == KM_LOGQL_LOG)
        rc = eval_log(&e, x->log, r);
    else
        rc = eval_metric(&e, x->root, r);
    ev_fini(&e);
    if (rc) {
        km_logql_result_destroy(r);
        return rc;
    }
    if (r->type != KM_LOGQL_STREAMS)
        for (size_t i = 0; i < r->metric.vec.n; i++)
            r->stats.entries_returned++;
    r->stats.exec_ns = mono_ns() - t0;
    *out = r;
    return 0;
}

void km_logql_result_destroy(struct km_logql_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nstreams; i++) {
        for (size_t k = 0; k < r->streams[i].n; k++)
            free(r->streams[i].e[k].line);
        free(r->streams[i].e);
        km_labels_destroy(r->streams[i].labels);
    }
    free(r->streams);
    km_pq_result_fini(&r->metric);
    free(r);
}

/* ---- rendering ------------------------------------------------------------------------- */

static void render_stats(struct km_jsonw *w, const struct km_logql_stats *st)
{
    double secs = (double)st->exec_ns / 1e9;

    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "summary");
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "bytesProcessedPerSecond");
    km_jsonw_u64(w, secs > 0 ? (uint64_t)((double)st->bytes_processed / secs) : 0);
    km_jsonw_key(w, "linesProcessedPerSecond");
    km_jsonw_u64(w, secs > 0 ? (uint64_t)((double)st->lines_processed / secs) : 0);
    km_jsonw_key(w, "totalBytesProcessed");
    km_jsonw_u64(w, st->bytes_processed);
    km_jsonw_key(w, "totalLinesProcessed");
    km_jsonw_u64(w, st->lines_processed);
    km_jsonw_key(w, "execTime");
    km_jsonw_double(w, secs);
    km_jsonw_key(w, "queueTime");
    km_jsonw_i64(w, 0);
    km_jsonw_key(w, "subqueries");
    km_jsonw_i64(w, 0);
    km_jsonw_key(w, "totalEntriesReturned");
    km_jsonw_u64(w, st->entries_returned);
    km_jsonw_key(w, "splits");
    km_jsonw_i64(w, 0);
    km_jsonw_key(w, "shards");
    km_jsonw_i64(w, 0);
    km_jsonw_key(w, "totalPostFilterLines");
    km_jsonw_u64(w, st->post_filter_lines);
    km_jsonw_key(w, "totalStructuredMetadataBytesProcessed");
    km_jsonw_i64(w, 0);
    km_jsonw_obj_end(w);
    km_jsonw_key(w, "querier");
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "store");
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "totalChunksRef");
    km_jsonw_i64(w, 0);
    km_jsonw_key(w, "totalChunksDownloaded");
    km_jsonw_i64(w, 0);
    km_jsonw_key(w, "chunk");
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "decompressedBytes");
    km_jsonw_u64(w, st->bytes_processed);
    km_jsonw_key(w, "decompressedLines");
    km_jsonw_u64(w, st->lines_processed);
    km_jsonw_key(w, "postFilterLines");
    km_jsonw_u64(w, st->post_filter_lines);
    km_jsonw_key(w, "totalDuplicates");
    km_jsonw_i64(w, 0);
    km_jsonw_obj_end(w);
    km_jsonw_obj_end(w);
    km_jsonw_obj_end(w);
    km_jsonw_key(w, "ingester");
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "totalReached");
    km_jsonw_i64(w, 0);
    km_jsonw_key(w, "totalChunksMatched");
    km_jsonw_i64(w, 0);
    km_jsonw_key(w, "totalBatches");
    km_jsonw_i64(w, 0);
    km_jsonw_key(w, "totalLinesSent");
    km_jsonw_i64(w, 0);
    km_jsonw_obj_end(w);
    km_jsonw_obj_end(w);
}

int km_logql_render_stats(struct km_buf *out, const struct km_logql_stats *st)
{
    struct km_jsonw w;

    km_jsonw_init(&w, out);
    render_stats(&w, st);
    return km_buf_error(out);
}

int km_logql_render_data(struct km_buf *out, const struct km_logql_result *r)
{
    struct km_jsonw w;
    const struct km_pq_result *m = &r->metric;

    km_jsonw_init(&w, out);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "resultType");
    switch (r->type) {
    case KM_LOGQL_STREAMS:
        km_jsonw_str(&w, "streams");
        km_jsonw_key(&w, "result");
        km_jsonw_arr_begin(&w);
        for (size_t i = 0; i < r->nstreams; i++) {
            const struct km_logql_stream *s = &r->streams[i];

            km_jsonw_obj_begin(&w);
            km_jsonw_key(&w, "stream");
            km_pq_render_labels(&w, s->labels);
            km_jsonw_key(&w, "values");
            km_jsonw_arr_begin(&w);
            for (size_t k = 0; k < s->n; k++) {
                char ts[32];

                snprintf(ts, sizeof(ts), "%lld", (long long)s->e[k].ts_ns);
                km_jsonw_arr_begin(&w);
                km_jsonw_str(&w, ts);
                km_jsonw_strn(&w, s->e[k].line, s->e[k].len);
                km_jsonw_arr_end(&w);
            }
            km_jsonw_arr_end(&w);
            km_jsonw_obj_end(&w);
        }
        km_jsonw_arr_end(&w);
        break;
    case KM_LOGQL_SCALAR:
        km_jsonw_str(&w, "scalar");
        km_jsonw_key(&w, "result");
        km_pq_render_point(&w, m->grid.start, m->scalar[0]);
        break;
    case KM_LOGQL_VECTOR:
    case KM_LOGQL_MATRIX:
        km_jsonw_str(&w, r->type == KM_LOGQL_VECTOR ? "vector" : "matrix");
        km_jsonw_key(&w, "result");
        km_jsonw_arr_begin(&w);
        for (size_t i = 0; i < m->vec.n; i++) {
            const struct km_pq_series *s = &m->vec.s[i];

            km_jsonw_obj_begin(&w);
            km_jsonw_key(&w, "metric");
            km_pq_render_labels(&w, s->labels);
            if (r->type == KM_LOGQL_VECTOR) {
                km_jsonw_key(&w, "value");
                km_pq_render_point(&w, m->grid.start, s->v[0]);
            } else {
                km_jsonw_key(&w, "values");
                km_jsonw_arr_begin(&w);
                for (size_t k = 0; k < m->grid.n; k++)
                    if (km_pq_has(s, k))
                        km_pq_render_point(&w, km_pq_grid_time(&m->grid, k), s->v[k]);
                km_jsonw_arr_end(&w);
            }
            km_jsonw_obj_end(&w);
        }
        km_jsonw_arr_end(&w);
        break;
    }
    km_jsonw_key(&w, "stats");
    render_stats(&w, &r->stats);
    km_jsonw_obj_end(&w);
    return km_buf_error(out);
}
