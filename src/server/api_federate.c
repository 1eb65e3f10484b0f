/*
 * api_federate — GET /federate?match[]=…, Prometheus 2.42's federation endpoint
 * (web/federate.go), for a Prometheus that scrapes kmon as it would scrape another
 * Prometheus.
 *
 * For every series matching any selector: its newest sample within the lookback delta
 * before now, both ends included (when that sample is a stale marker the series is left
 * out), in the text exposition format 0.0.4. Families by metric name, each behind a
 * "# TYPE <name> untyped" line (no HELP); a sample line holds the series' labels but
 * __name__ (empty values left out) in label order, then instance="" when the series has
 * no instance label (Prometheus adds its external labels, and instance is always one of
 * them), the value as Go's expfmt writes it ('g' shortest; 0, 1, -1, NaN, +Inf, -Inf
 * spelt out) and the timestamp in ms. No match[] answers 200 with an empty body; a
 * selector that does not parse, 400 with the parser's message as plain text.
 *
 * Prometheus collects every sample into one vector and sorts it by metric name. Here the
 * answer is streamed, a step of ~32 KiB at a time, from the store's series sets (one
 * per selector, each in label order, merged in a heap, a series matched by several
 * selectors written once): a label set whose first label is __name__ sorts by metric
 * name first, so those come out already grouped into families in name order. A series
 * with a label name that sorts before __name__ ("Zone", "__address__") sorts before
 * all of those; such series are read first, held (at most KM_LIMIT_FEDERATE_HELD) and
 * merged into their families, ahead of the family's other series. (Prometheus' sort is
 * not stable, so when such series exist its order within a family may differ.)
 *
 * Threads: the handler and every produce step run on the worker that took the request;
 * the querier and its series sets stay with that worker until the stream is freed.
 */
#include "api_prom.h"

#include "auth/auth.h"
#include "common/array.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/expfmt.h"
#include "common/limits.h"
#include "common/timefmt.h"
#include "promql/fmt.h"
#include "promql/parse.h"
#include "promql/value.h"
#include "server_internal.h"
#include "storage/storage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What one produce step writes before it yields. */
#define FED_STEP_BYTES (32u * 1024)

/* A series sorting before __name__, read ahead and held with its sample. */
struct held {
    struct km_labels *l; /* owned */
    const char *name;    /* its metric name, inside l */
    size_t order;        /* position in the stream, to keep equal names in order */
    int64_t t;
    double v;
};

struct fed {
    struct km_promql_expr *sel[KM_LIMIT_PROM_MATCHES];
    size_t nsel;
    struct km_querier *q;
    struct km_series_set *set[KM_LIMIT_PROM_MATCHES];
    size_t heap[KM_LIMIT_PROM_MATCHES]; /* indices into set, by their current series */
    size_t nheap;
    size_t dup[KM_LIMIT_PROM_MATCHES];
    struct held *held;
    size_t nheld, capheld, next_held;
    char *family; /* the family whose TYPE line was written last */
    int64_t mint, maxt;
};

static void fed_free(void *ud)
{
    struct fed *f = ud;

    if (!f)
        return;
    for (size_t i = 0; i < f->nsel; i++)
        km_series_set_close(f->set[i]);
    km_querier_close(f->q);
    for (size_t i = 0; i < f->nsel; i++)
        km_promql_expr_destroy(f->sel[i]);
    for (size_t i = 0; i < f->nheld; i++)
        km_labels_destroy(f->held[i].l);
    free(f->held);
    free(f->family);
    free(f);
}

/* ---- the merge of the selectors' series sets ------------------------------------------- */

static int cmp_sets(const struct fed *f, size_t a, size_t b)
{
    return km_labels_cmp(km_series_labels(f->set[a]), km_series_labels(f->set[b]));
}

static void heap_down(struct fed *f, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i, tmp;

        if (l < f->nheap && cmp_sets(f, f->heap[l], f->heap[m]) < 0)
            m = l;
        if (r < f->nheap && cmp_sets(f, f->heap[r], f->heap[m]) < 0)
            m = r;
        if (m == i)
            return;
        tmp = f->heap[i];
        f->heap[i] = f->heap[m];
        f->heap[m] = tmp;
        i = m;
    }
}

static void heap_up(struct fed *f, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2, tmp;

        if (cmp_sets(f, f->heap[i], f->heap[p]) >= 0)
            return;
        tmp = f->heap[i];
        f->heap[i] = f->heap[p];
        f->heap[p] = tmp;
        i = p;
    }
}

static size_t heap_pop(struct fed *f)
{
    size_t top = f->heap[0];

    f->heap[0] = f->heap[--f->nheap];
    heap_down(f, 0);
    return top;
}

/* Move set i to its next series and back into the heap while it has one. */
static int advance(struct fed *f, size_t i)
{
    if (km_series_next(f->set[i])) {
        f->heap[f->nheap++] = i;
        heap_up(f, f->nheap - 1);
        return 0;
    }
    return km_series_error(f->set[i]);
}

/* The newest sample of set i's current series in [mint, maxt]; false when it has none
 * or the newest is a stale marker. */
static bool newest(struct fed *f, size_t i, int64_t *t, double *v)
{
    struct km_sample_batch b;
    bool any = false;

    while (km_series_batch(f->set[i], &b)) {
        for (size_t k = b.n; k-- > 0;) {
            if (b.t[k] < f->mint || b.t[k] > f->maxt)
                continue;
            if (!any || b.t[k] >= *t) {
                *t = b.t[k];
                *v = b.v[k];
                any = true;
            }
            break;
        }
    }
    return any && !km_pq_is_stale(*v);
}

/* Where the merge stands: the set whose series is being written, and the sets that
 * were at the same series. */
struct cursor {
    size_t set, ndup;
};

/* The next series of the merge: *l (borrowed until merge_next()), with its newest
 * sample (*keep false when it has none to write); false at the end. */
static bool merge_peek(struct fed *f, struct cursor *c, const struct km_labels **l, int64_t *t,
                       double *v, bool *keep)
{
    if (f->nheap == 0)
        return false;
    c->set = heap_pop(f);
    c->ndup = 0;
    *l = km_series_labels(f->set[c->set]);
    while (f->nheap && km_labels_cmp(km_series_labels(f->set[f->heap[0]]), *l) == 0)
        f->dup[c->ndup++] = heap_pop(f);
    *keep = newest(f, c->set, t, v);
    return true;
}

/* Done with the series merge_peek() gave: move its sets on. */
static int merge_next(struct fed *f, const struct cursor *c)
{
    int rc = advance(f, c->set);

    for (size_t k = 0; k < c->ndup && rc == 0; k++)
        rc = advance(f, f->dup[k]);
    return rc;
}

/* The merge's current series sorts before every series whose first label is __name__. */
static bool head_is_held(const struct fed *f)
{
    const struct km_labels *l;

    if (f->nheap == 0)
        return false;
    l = km_series_labels(f->set[f->heap[0]]);
    return l->n > 0 && strcmp(l->v[0].name, KM_METRIC_NAME_LABEL) < 0;
}

/* ---- writing ------------------------------------------------------------------------------- */

/* A value as Go's expfmt writes one. */
static size_t fmt_value(char *out, size_t size, double v)
{
    const char *s = NULL;

    if (v == 0)
        s = "0";
    else if (v == 1)
        s = "1";
    else if (v == -1)
        s = "-1";
    if (s) {
        snprintf(out, size, "%s", s);
        return strlen(s);
    }
    return km_pq_fmt_float_g(out, size, v);
}

static int write_series(struct fed *f, struct km_buf *b, const struct km_labels *l, int64_t t,
                        double v)
{
    const char *name = km_labels_get(l, KM_METRIC_NAME_LABEL);
    char num[KM_PQ_FMT_MAX];
    bool instance = false, any = false;

    if (!name || !*name)
        return 0; /* nameless: Prometheus skips it too */
    if (!f->family || strcmp(f->family, name) != 0) {
        free(f->family);
        f->family = strdup(name);
        if (!f->family)
            return km_err_set(KM_ENOMEM, "out of memory");
        km_expfmt_family(b, name, NULL, "untyped");
    }
    km_buf_puts(b, name);
    for (size_t i = 0; i < l->n; i++) {
        if (!*l->v[i].value || strcmp(l->v[i].name, KM_METRIC_NAME_LABEL) == 0)
            continue;
        instance = instance || strcmp(l->v[i].name, "instance") == 0;
        km_buf_putc(b, any ? ',' : '{');
        km_buf_puts(b, l->v[i].name);
        km_buf_append(b, "=\"", 2);
        km_expfmt_escape_label_value(b, l->v[i].value);
        km_buf_putc(b, '"');
        any = true;
    }
    if (!instance) {
        km_buf_puts(b, any ? ",instance=\"\"" : "{instance=\"\"");
        any = true;
    }
    km_buf_puts(b, any ? "} " : " ");
    km_buf_append(b, num, fmt_value(num, sizeof(num), v));
    km_buf_putc(b, ' ');
    km_buf_put_i64(b, t);
    km_buf_putc(b, '\n');
    return 0;
}

/* The held series of the family `name` or before it. */
static int write_held_upto(struct fed *f, struct km_buf *b, const char *name)
{
    int rc = 0;

    while (rc == 0 && f->next_held < f->nheld &&
           (!name || strcmp(f->held[f->next_held].name, name) <= 0)) {
        const struct held *h = &f->held[f->next_held++];

        rc = write_series(f, b, h->l, h->t, h->v);
    }
    return rc;
}

static int produce(struct km_http_stream *st, struct km_buf *out, void *ud)
{
    struct fed *f = ud;
    int rc = 0;

    while (rc == 0 && out->len < FED_STEP_BYTES) {
        const struct km_labels *l;
        struct cursor c;
        int64_t t = 0;
        double v = 0;
        bool keep;

        if (!merge_peek(f, &c, &l, &t, &v, &keep))
            return write_held_upto(f, out, NULL);
        rc = write_held_upto(f, out, km_labels_get(l, KM_METRIC_NAME_LABEL));
        if (rc == 0 && keep)
            rc = write_series(f, out, l, t, v);
        if (rc == 0)
            rc = merge_next(f, &c);
    }
    if (rc == 0 && km_http_stream_cancelled(st))
        rc = km_err_set(KM_ECANCELED, "the client has gone away");
    return rc ? rc : KM_HTTP_MORE;
}

/* ---- the request ------------------------------------------------------------------------ */

static int cmp_held(const void *a, const void *b)
{
    const struct held *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : (x->order > y->order) - (x->order < y->order);
}

/* Read the series that sort before __name__ (they come first) into f->held, sorted by
 * name. */
static int read_held(struct fed *f, struct km_http_req *req)
{
    int rc = 0;

    while (rc == 0 && head_is_held(f)) {
        const struct km_labels *l;
        struct cursor c;
        int64_t t = 0;
        double v = 0;
        bool keep;

        merge_peek(f, &c, &l, &t, &v, &keep);
        if (keep && km_labels_get(l, KM_METRIC_NAME_LABEL)) {
            struct held *h;

            if (f->nheld == KM_LIMIT_FEDERATE_HELD)
                return km_err_set(KM_ELIMIT,
                                  "more than %u matching series have a label name that sorts "
                                  "before __name__; narrow match[]",
                                  KM_LIMIT_FEDERATE_HELD);
            rc = km_array_grow((void **)&f->held, &f->capheld, f->nheld + 1, sizeof(*f->held), 64,
                               "federating");
            if (rc)
                return rc;
            h = &f->held[f->nheld];
            rc = km_labels_dup(&h->l, l);
            if (rc)
                return rc;
            h->name = km_labels_get(h->l, KM_METRIC_NAME_LABEL);
            h->order = f->nheld++;
            h->t = t;
            h->v = v;
        }
        rc = merge_next(f, &c);
        if (rc == 0 && km_http_req_cancelled(req))
            rc = km_err_set(KM_ECANCELED, "the client has gone away");
    }
    if (f->nheld > 1)
        km_sort(f->held, f->nheld, sizeof(*f->held), cmp_held);
    return rc;
}

/* Prometheus' http.Error(): the message as plain text. */
static void respond_text_error(struct km_http_req *req, unsigned status, const char *msg)
{
    struct km_buf b;

    km_buf_init(&b, 0);
    km_buf_printf(&b, "%s\n", msg);
    km_http_req_add_header(req, "X-Content-Type-Options", "nosniff");
    km_http_respond_buf(req, status, "text/plain; charset=utf-8", &b);
    km_buf_fini(&b);
}

/* Parse every match[]; false after answering 400. */
static bool parse_selectors(struct km_http_req *req, struct fed *f)
{
    const char *v[KM_LIMIT_PROM_MATCHES];
    size_t n = km_http_req_args(req, "match[]", v, KM_LIMIT_PROM_MATCHES);

    if (n > KM_LIMIT_PROM_MATCHES) {
        char msg[96];

        snprintf(msg, sizeof(msg), "too many match[] parameters (kmon takes up to %d)",
                 KM_LIMIT_PROM_MATCHES);
        respond_text_error(req, 400, msg);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        struct km_promql_error err;
        int rc = km_promql_parse_selector(v[i], strlen(v[i]), &f->sel[f->nsel], &err);

        if (rc) {
            respond_text_error(req, 400, rc == KM_ENOMEM ? "out of memory" : err.msg);
            return false;
        }
        f->nsel++;
    }
    return true;
}

/* Open the querier and the series sets, and read the held series. */
static int open_sets(struct fed *f, const struct km_api_ctx *api, struct km_http_req *req)
{
    struct km_select_hints h = { .func = "federate" };
    int64_t now = km_time_now_ns() / 1000000;
    struct km_auth_view av; /* the querier opened through it stands on its own */
    int rc;

    f->maxt = now;
    f->mint = now - api->query.lookback_ms;
    h.mint = f->mint;
    h.maxt = f->maxt;
    rc = km_querier_open(km_auth_storage(req, api->store, &av), f->mint, f->maxt, &f->q);
    for (size_t i = 0; i < f->nsel && rc == 0; i++) {
        const struct km_promql_expr *e = f->sel[i];

        /* "{}" selects nothing in Prometheus (no postings to intersect). */
        if (e->vector.nmatchers == 0)
            continue;
        rc = km_querier_select(f->q, e->vector.matchers, e->vector.nmatchers, &h, &f->set[i]);
        if (rc == 0)
            rc = advance(f, i);
    }
    if (rc == 0)
        rc = read_held(f, req);
    return rc;
}

void km_api_federate(struct km_http_req *req, void *ud)
{
    const struct km_api_ctx *api = ud;
    struct fed *f = calloc(1, sizeof(*f));
    int rc;

    if (!f) {
        respond_text_error(req, 500, "out of memory");
        return;
    }
    if (!parse_selectors(req, f)) {
        fed_free(f);
        return;
    }
    if (f->nsel == 0) {
        fed_free(f);
        km_http_respond(req, 200, KM_EXPFMT_CONTENT_TYPE, "", 0);
        return;
    }
    rc = open_sets(f, api, req);
    if (rc) {
        respond_text_error(req, rc == KM_ELIMIT ? 422 : 500, km_err_msg());
        fed_free(f);
        return;
    }
    km_http_respond_stream(req, 200, KM_EXPFMT_CONTENT_TYPE, produce, f, fed_free);
}
