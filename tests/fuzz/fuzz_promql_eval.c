/*
 * fuzz_promql_eval — the PromQL evaluator (src/promql/eval.h) over a fixed dataset
 * (eval_dataset.h) in an embedded TSDB, with queries from the fuzzer's bytes.
 *
 * Input: a header of FZ_HEADER bytes, then the query. Header byte 0 chooses how the
 * rest becomes a query: as its text (even), or as the choices of a grammar-driven
 * generator of well-formed PromQL (odd; promql_gen.h). The other header bytes choose
 * the evaluations: two instant queries and one range query, at times from a table of
 * the interesting ones (in, before and after the data, negative, 0, the API's extremes)
 * plus a jitter, over spans up to the API's whole (more than an int64 of ms), with steps
 * from 1 ms to years (at most 11 001 of them, as the HTTP API allows), and sometimes a
 * tiny samples limit or a cancellation after a few polls.
 *
 * Every evaluation must end with 0 or an error the API reports (never a crash, leak or
 * undefined behaviour under ASan/UBSan). A result must be well formed: labels sorted,
 * valid, hashed right and without empty values; no two series with one label set;
 * instant vectors with their one point; a range query's series on the grid asked for
 * (nothing set past its last step), sorted, each with a point; raw samples in time
 * order; no staleness marker in any value; the JSON the API writes of it valid. Where
 * the range query succeeds, the instant query at some of its steps must give the same
 * series and values (unless it may rightly differ: see instant_may_differ()). And the
 * evaluator's peak live heap must stay within a bound proportional to the samples limit
 * (see FZ_MEM_* below; measured through AddressSanitizer's allocation hooks, so only in
 * sanitizer builds).
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "eval_dataset.h"
#include "fuzz_common.h"
#include "promql/eval.h"
#include "promql/parse.h"
#include "promql/render.h"
#include "promql_gen.h"

#include <ftw.h>
#include <jansson.h>
#include <math.h>

#define FZ_HEADER      10
#define FZ_MAX_SAMPLES 20000
#define FZ_TIMEOUT_MS  2000
#define FZ_MAX_POINTS  11000                 /* the API: (end - start) / step at most this */
#define FZ_API_MAX_MS  9200000000000000999LL /* |seconds| <= 9.2e15, as the API parses them */

/* The memory bound: what the evaluator may hold at its peak, over what was allocated
 * when it started. Per point of the samples limit: a value and a time (16 bytes), the
 * doubling growth of arrays (x2) and per-series labels and bookkeeping, rounded up.
 * Per step of the grid: the dense rows a vector keeps per series (a double and a bit)
 * for every series of the dataset and a few scalars alive at once. Plus a constant for
 * the store's own reads (a querier, decoded chunks of the dataset) and small tables. */
#define FZ_MEM_PER_SAMPLE          128
#define FZ_MEM_PER_STEP_PER_SERIES 16
#define FZ_MEM_BASE                (4u << 20)

static struct km_storage *store;
static char data_dir[64];
static uint64_t data_series, data_samples;
static bool stats;        /* FZ_EVAL_STATS set: one line per evaluation on stderr */
static const char *qtext; /* the query evaluated (not NUL-terminated), for messages */
static int qlen;

/* ---- the evaluator's heap, through AddressSanitizer's hooks ---------------------------- */

int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                              void (*f)(const volatile void *))
    __attribute__((weak));
size_t __sanitizer_get_allocated_size(const volatile void *p) __attribute__((weak));

static _Thread_local bool measuring;
static long long heap_live, heap_peak;
static bool heap_hooked;

static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    if (!measuring)
        return;
    heap_live += (long long)n;
    if (heap_live > heap_peak)
        heap_peak = heap_live;
}

static void on_free(const volatile void *p)
{
    if (measuring && p)
        heap_live -= (long long)__sanitizer_get_allocated_size(p);
}

static void heap_begin(void)
{
    heap_live = heap_peak = 0;
    measuring = heap_hooked;
}

static long long heap_end(void)
{
    measuring = false;
    return heap_peak;
}

/* ---- the dataset -------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void dataset_close(void)
{
    km_storage_close(store);
    store = NULL;
    if (data_dir[0])
        nftw(data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(data_dir, sizeof(data_dir), "/tmp/kmon-fuzz-promql-eval-XXXXXX");
    if (!mkdtemp(data_dir)) {
        perror("fuzz_promql_eval: mkdtemp");
        abort();
    }
    if (fz_dataset_open(data_dir, &store) != 0) {
        fprintf(stderr, "fuzz_promql_eval: building the dataset: %s\n", km_err_msg());
        abort();
    }
    atexit(dataset_close);
    fz_dataset_size(&data_series, &data_samples);
    stats = getenv("FZ_EVAL_STATS") != NULL;
    if (__sanitizer_install_malloc_and_free_hooks && __sanitizer_get_allocated_size)
        heap_hooked = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
    return 0;
}

/* ---- what the header chooses --------------------------------------------------------- */

/* A time: one of the interesting ones, plus a jitter of up to ±127 s or ms, within what
 * the API parses. */
static int64_t pick_time(uint8_t a, uint8_t b)
{
    static const int64_t base[] = {
        0,
        1,
        -1,
        15000,
        300000,
        FZ_DATA_END_MS / 4,
        FZ_DATA_END_MS / 2,
        FZ_DATA_END_MS / 2 + 7,
        FZ_DATA_END_MS * 3 / 4,
        FZ_DATA_END_MS - 15000,
        FZ_DATA_END_MS,
        FZ_DATA_END_MS + 1,
        FZ_DATA_END_MS + 300000,
        FZ_DATA_END_MS + 3600000,
        86400000,
        -300000,
        -FZ_DATA_END_MS,
        1000000000000LL,
        -1000000000000LL,
        9223309901257974LL, /* Prometheus' maxTime, the API's default end */
        -9223309901257974LL,
        9200000000000000000LL,
        -9200000000000000000LL,
        FZ_DATA_END_MS / 3,
    };
    int64_t t = base[a % (sizeof(base) / sizeof(base[0]))];
    int64_t j = (b & 0x80) ? (int64_t)(b & 0x7f) * 1000 : (int64_t)(b & 0x7f) - 64;

    t = (a / 24) % 2 ? t - j : t + j;
    return t > FZ_API_MAX_MS ? FZ_API_MAX_MS : t < -FZ_API_MAX_MS ? -FZ_API_MAX_MS : t;
}

static const uint64_t range_lengths[] = {
    0,
    1,
    1000,
    60000,
    300000,
    3600000,
    FZ_DATA_END_MS,
    86400000,
    31536000000ULL,
    1000000000000000ULL,
    9000000000000000000ULL,
    45000,
    2 * (uint64_t)FZ_API_MAX_MS, /* the API's whole span, more than an int64 */
};

static const int64_t range_steps[] = {
    1,     7,      1000, 15000, 60000, 3600000, 86400000, 1000000000000LL, 9000000000000000000LL,
    14999, 300000, 2,
};

/* end − start of a range query, which may pass INT64_MAX (not UINT64_MAX). */
static uint64_t span_of(int64_t start, int64_t end)
{
    return (uint64_t)end - (uint64_t)start;
}

/* The range query's [start, end] and step, as the API would let them through. */
static void pick_range(uint8_t t0, uint8_t t1, uint8_t l, uint8_t st, int64_t *start, int64_t *end,
                       int64_t *step)
{
    uint64_t len = range_lengths[l % (sizeof(range_lengths) / sizeof(range_lengths[0]))];
    int64_t s = range_steps[st % (sizeof(range_steps) / sizeof(range_steps[0]))];

    *start = pick_time(t0, t1);
    *end =
        len <= span_of(*start, FZ_API_MAX_MS) ? (int64_t)((uint64_t)*start + len) : FZ_API_MAX_MS;
    if (span_of(*start, *end) / (uint64_t)s > FZ_MAX_POINTS)
        s = (int64_t)(span_of(*start, *end) / FZ_MAX_POINTS + 1);
    *step = s;
}

/* The options: mostly the fuzz limit; sometimes a tiny one, or a cancellation after a
 * few polls, to walk the paths that give up half way. */
static unsigned cancel_after, polls;

static bool cancel_now(void *ud)
{
    (void)ud;
    return ++polls > cancel_after;
}

static void pick_opts(uint8_t h, struct km_pq_opts *o)
{
    static const uint64_t limits[] = { 1, 2, 10, 100, 1000, 5000 };

    km_pq_opts_default(o);
    o->max_samples = FZ_MAX_SAMPLES;
    o->timeout_ms = FZ_TIMEOUT_MS;
    polls = 0;
    if ((h & 0xc0) == 0x40)
        o->max_samples = limits[h % 6];
    if ((h & 0xc0) == 0x80) {
        cancel_after = h & 0x3f;
        o->cancelled = cancel_now;
    }
}

/* ---- checks ------------------------------------------------------------------------------ */

static void check_labels(const struct km_labels *l)
{
    CHECK(km_labels_check(l->v, l->n) == 0);
    CHECK(l->hash == km_labels_hash(l->v, l->n));
    for (size_t i = 0; i < l->n; i++)
        CHECK(l->v[i].value[0] != '\0');
}

static void check_value(double v)
{
    CHECK(!km_pq_is_stale(v));
}

static int cmp_labels_p(const void *a, const void *b)
{
    return km_labels_cmp(*(const struct km_labels *const *)a, *(const struct km_labels *const *)b);
}

/* No two of the n label sets equal. */
static void check_unique(const struct km_labels **l, size_t n)
{
    qsort(l, n, sizeof(*l), cmp_labels_p);
    for (size_t i = 1; i < n; i++) {
        if (km_labels_cmp(l[i - 1], l[i]) == 0) {
            fprintf(stderr, "two series with one label set (%zu labels)\n", l[i]->n);
            CHECK(!"duplicate label set in a result");
        }
    }
}

static void check_vec(const struct km_pq_vec *v, const struct km_pq_grid *g, bool sorted)
{
    const struct km_labels **l = malloc((v->n ? v->n : 1) * sizeof(*l));

    CHECK(l != NULL);
    CHECK(v->nsteps == g->n);
    for (size_t i = 0; i < v->n; i++) {
        const struct km_pq_series *s = &v->s[i];
        size_t words = (g->n + 63) / 64, set = 0;

        check_labels(s->labels);
        l[i] = s->labels;
        for (size_t k = 0; k < g->n; k++) {
            if (km_pq_has(s, k)) {
                set++;
                check_value(s->v[k]);
            }
        }
        CHECK(set > 0);
        /* Nothing set off the grid: past the last step, in the last word and the spare. */
        if (g->n % 64)
            CHECK((s->set[words - 1] >> (g->n % 64)) == 0);
        CHECK(s->set[words] == 0);
        if (sorted && i > 0)
            CHECK(km_labels_cmp(v->s[i - 1].labels, s->labels) < 0);
    }
    check_unique(l, v->n);
    free(l);
}

static void check_range_form(const struct km_pq_range *r)
{
    const struct km_labels **l = malloc((r->n ? r->n : 1) * sizeof(*l));

    CHECK(l != NULL);
    for (size_t i = 0; i < r->n; i++) {
        const struct km_pq_rseries *s = &r->s[i];

        check_labels(s->labels);
        l[i] = s->labels;
        CHECK(s->n > 0);
        for (size_t k = 0; k < s->n; k++) {
            check_value(s->v[k]);
            if (k > 0)
                CHECK(s->t[k - 1] < s->t[k]);
        }
    }
    check_unique(l, r->n);
    free(l);
}

/* The API's JSON of the result parses. */
static void check_render(const struct km_pq_result *r)
{
    struct km_buf b;
    struct km_jsonw w;
    json_error_t err;
    json_t *j;

    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    km_pq_render_data(&w, r);
    CHECK(km_buf_error(&b) == 0);
    j = json_loadb(b.data, b.len, 0, &err);
    if (!j)
        fprintf(stderr, "invalid JSON (%s): %.*s\n", err.text, (int)(b.len < 2000 ? b.len : 2000),
                b.data);
    CHECK(j != NULL);
    json_decref(j);
    km_buf_fini(&b);
}

static void check_result(const struct km_pq_result *r, bool instant, const struct km_pq_grid *g,
                         const struct km_pq_opts *o)
{
    CHECK(r->peak_samples <= o->max_samples);
    CHECK(r->grid.start == g->start && r->grid.n == g->n);
    if (!instant)
        CHECK(r->grid.step == g->step);
    switch (r->type) {
    case KM_PQ_RESULT_SCALAR:
        CHECK(instant && r->scalar != NULL);
        check_value(r->scalar[0]);
        break;
    case KM_PQ_RESULT_STRING:
        CHECK(instant && r->string != NULL);
        break;
    case KM_PQ_RESULT_VECTOR:
        CHECK(instant && !r->range_form);
        check_vec(&r->vec, g, false);
        break;
    case KM_PQ_RESULT_MATRIX:
        if (r->range_form) {
            CHECK(instant);
            check_range_form(&r->range);
        } else {
            CHECK(!instant);
            check_vec(&r->vec, g, true);
        }
        break;
    }
    check_render(r);
}

/* Errors the evaluator may give a well-formed query. */
static void check_error(int rc)
{
    if (rc == KM_EINVAL || rc == KM_ELIMIT || rc == KM_ETIMEDOUT || rc == KM_ECANCELED)
        return;
    fprintf(stderr, "evaluation failed with %s: %s\n", km_err_name(rc), km_err_msg());
    CHECK(!"an error the API does not expect");
}

static bool same_value(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* Step i of range result rr equals instant result ir (evaluated at that step's time). */
static void check_same_step(const struct km_pq_result *rr, size_t i, const struct km_pq_result *ir)
{
    size_t in_range = 0;

    for (size_t k = 0; k < rr->vec.n; k++)
        in_range += km_pq_has(&rr->vec.s[k], i);
    if (ir->type == KM_PQ_RESULT_SCALAR) {
        CHECK(rr->vec.n == 1 && rr->vec.s[0].labels->n == 0 && km_pq_has(&rr->vec.s[0], i));
        CHECK(same_value(rr->vec.s[0].v[i], ir->scalar[0]));
        return;
    }
    CHECK(ir->type == KM_PQ_RESULT_VECTOR);
    if (in_range != ir->vec.n)
        fprintf(stderr, "step %zu: %zu series in the range query, %zu in the instant query\n", i,
                in_range, ir->vec.n);
    CHECK(in_range == ir->vec.n);
    for (size_t k = 0; k < ir->vec.n; k++) {
        const struct km_pq_series *is = &ir->vec.s[k], *rs = NULL;
        size_t lo = 0, hi = rr->vec.n;

        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = km_labels_cmp(rr->vec.s[mid].labels, is->labels);

            if (c == 0) {
                rs = &rr->vec.s[mid];
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        CHECK(rs != NULL && km_pq_has(rs, i));
        if (!same_value(rs->v[i], is->v[0]))
            fprintf(stderr, "step %zu: %.17g in the range query, %.17g in the instant query\n", i,
                    rs->v[i], is->v[0]);
        CHECK(same_value(rs->v[i], is->v[0]));
    }
}

/* ---- evaluations ------------------------------------------------------------------------- */

static void report(const char *what, int64_t start, int64_t end, int64_t step, int rc,
                   const struct km_pq_result *r, long long heap)
{
    if (!stats)
        return;
    fprintf(stderr,
            "stat %s rc=%d start=%lld end=%lld step=%lld peak_samples=%llu heap=%lld q=%.*s\n",
            what, rc, (long long)start, (long long)end, (long long)step,
            (unsigned long long)(rc == 0 ? r->peak_samples : 0), heap, qlen, qtext);
}

/* The memory bound for a grid of nsteps under options o. */
static long long heap_bound(size_t nsteps, const struct km_pq_opts *o)
{
    return (long long)FZ_MEM_BASE + (long long)o->max_samples * FZ_MEM_PER_SAMPLE +
           (long long)nsteps * FZ_MEM_PER_STEP_PER_SERIES * (long long)(data_series + 8);
}

static void check_heap(long long heap, size_t nsteps, const struct km_pq_opts *o)
{
    if (heap <= heap_bound(nsteps, o))
        return;
    fprintf(stderr,
            "the evaluation held %lld bytes at its peak, over the bound of %lld for %zu "
            "steps and %llu samples: %.*s\n",
            heap, heap_bound(nsteps, o), nsteps, (unsigned long long)o->max_samples, qlen, qtext);
    CHECK(!"memory beyond the bound");
}

static int eval_instant(const struct km_promql_expr *e, int64_t t, const struct km_pq_opts *o,
                        struct km_pq_result *r)
{
    struct km_pq_grid g = { t, 0, 1 };
    long long heap;
    int rc;

    heap_begin();
    rc = km_pq_eval_instant(store, e, t, o, r);
    heap = heap_end();
    report("instant", t, t, 0, rc, r, heap);
    check_heap(heap, 1, o);
    if (rc)
        check_error(rc);
    else
        check_result(r, true, &g, o);
    return rc;
}

static int eval_range(const struct km_promql_expr *e, int64_t start, int64_t end, int64_t step,
                      const struct km_pq_opts *o, struct km_pq_result *r)
{
    struct km_pq_grid g = { start, step, (size_t)(span_of(start, end) / (uint64_t)step) + 1 };
    long long heap;
    int rc;

    heap_begin();
    rc = km_pq_eval_range(store, e, start, end, step, o, r);
    heap = heap_end();
    report("range", start, end, step, rc, r, heap);
    check_heap(heap, g.n, o);
    if (rc) {
        check_error(rc);
        if (e->type != KM_PROMQL_TYPE_SCALAR && e->type != KM_PROMQL_TYPE_VECTOR)
            CHECK(rc == KM_EINVAL);
    } else {
        CHECK(e->type == KM_PROMQL_TYPE_SCALAR || e->type == KM_PROMQL_TYPE_VECTOR);
        check_result(r, false, &g, o);
    }
    return rc;
}

/* The subexpressions of e (at most 3 but for calls) into kids; how many. */
static size_t children_of(const struct km_promql_expr *e, const struct km_promql_expr ***kids,
                          const struct km_promql_expr *buf[3])
{
    size_t n = 0;

    *kids = buf;
    switch (e->kind) {
    case KM_PROMQL_MATRIX_SELECTOR:
        buf[n++] = e->matrix.vector;
        break;
    case KM_PROMQL_SUBQUERY:
        buf[n++] = e->subquery.expr;
        break;
    case KM_PROMQL_PAREN:
        buf[n++] = e->paren.expr;
        break;
    case KM_PROMQL_UNARY:
        buf[n++] = e->unary.expr;
        break;
    case KM_PROMQL_BINARY:
        buf[n++] = e->binary.lhs;
        buf[n++] = e->binary.rhs;
        break;
    case KM_PROMQL_AGGREGATE:
        if (e->aggregate.param)
            buf[n++] = e->aggregate.param;
        buf[n++] = e->aggregate.expr;
        break;
    case KM_PROMQL_CALL:
        *kids = (const struct km_promql_expr **)e->call.args;
        return e->call.nargs;
    default:
        break;
    }
    return n;
}

static bool is_start_end(enum km_promql_at_kind k)
{
    return k == KM_PROMQL_AT_START || k == KM_PROMQL_AT_END;
}

static bool is_k(const struct km_promql_expr *e)
{
    return e->kind == KM_PROMQL_AGGREGATE &&
           (e->aggregate.op == KM_PROMQL_AGG_TOPK || e->aggregate.op == KM_PROMQL_AGG_BOTTOMK);
}

/* Whether e orders its series otherwise in an instant query than in a range query:
 * sort(), sort_desc(), topk and bottomk list them by value in an instant query only. */
static bool orders_by_value(const struct km_promql_expr *e)
{
    const struct km_promql_expr **kids, *buf[3];
    size_t n = children_of(e, &kids, buf);

    if (is_k(e) || (e->kind == KM_PROMQL_CALL && (e->call.func->id == KM_PROMQL_FN_SORT ||
                                                  e->call.func->id == KM_PROMQL_FN_SORT_DESC)))
        return true;
    for (size_t i = 0; i < n; i++) {
        if (orders_by_value(kids[i]))
            return true;
    }
    return false;
}

/* Whether an instant query of e at one of a range query's steps may rightly answer
 * otherwise than the range query there (as Prometheus' may): with @ start() or @ end(),
 * which mean other times in each, or with an aggregation over series an instant query
 * ordered by value (topk's ties, NaN among them, go to the first in order; sums and
 * means round in the order they add; max keeps the first of 0 and -0). */
static bool instant_may_differ(const struct km_promql_expr *e)
{
    const struct km_promql_expr **kids, *buf[3];
    size_t n = children_of(e, &kids, buf);

    if ((e->kind == KM_PROMQL_VECTOR_SELECTOR && is_start_end(e->vector.at.kind)) ||
        (e->kind == KM_PROMQL_SUBQUERY && is_start_end(e->subquery.at.kind)) ||
        (e->kind == KM_PROMQL_AGGREGATE && orders_by_value(e->aggregate.expr)))
        return true;
    for (size_t i = 0; i < n; i++) {
        if (instant_may_differ(kids[i]))
            return true;
    }
    return false;
}

static void evaluate(const struct km_promql_expr *e, const uint8_t *h)
{
    bool may_differ = instant_may_differ(e);
    struct km_pq_opts o;
    struct km_pq_result r, ir;
    int64_t start, end, step;
    int rc;

    pick_opts(h[9], &o);
    rc = eval_instant(e, pick_time(h[1], h[2]), &o, &r);
    km_pq_result_fini(&r);
    (void)rc;

    pick_range(h[3], h[4], h[5], h[6], &start, &end, &step);
    pick_opts(h[9], &o);
    rc = eval_range(e, start, end, step, &o, &r);
    if (rc == 0 && !may_differ && !o.cancelled) {
        /* The instant queries at the first, the last and one more step agree with it. */
        size_t steps[3] = { 0, r.grid.n - 1, (h[8] * 131u + h[2]) % r.grid.n };

        for (size_t k = 0; k < 3; k++) {
            int64_t t = km_pq_grid_time(&r.grid, steps[k]);
            int irc = eval_instant(e, t, &o, &ir);

            if (irc != 0 && irc != KM_ETIMEDOUT)
                fprintf(stderr, "the range query succeeded, the instant query at %lld failed: %s\n",
                        (long long)t, km_err_msg());
            CHECK(irc == 0 || irc == KM_ETIMEDOUT);
            if (irc == 0)
                check_same_step(&r, steps[k], &ir);
            km_pq_result_fini(&ir);
        }
    }
    km_pq_result_fini(&r);

    pick_opts(h[9] ^ 0x40, &o);
    rc = eval_instant(e, pick_time(h[7], h[8]), &o, &r);
    km_pq_result_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t h[FZ_HEADER] = { 0 };
    struct fz_bytes rest = { data + (size < FZ_HEADER ? size : FZ_HEADER),
                             size > FZ_HEADER ? size - FZ_HEADER : 0 };
    struct km_promql_expr *e = NULL;
    struct km_promql_error err;
    char *text;
    size_t len;
    int rc;

    if (!store)
        return 0;
    memcpy(h, data, size < FZ_HEADER ? size : FZ_HEADER);
    if (h[0] % 2 == 0) {
        len = rest.n;
        text = fuzz_copy(rest.p, rest.n);
        CHECK(text != NULL);
        rc = km_promql_parse(text, len, &e, &err);
        /* What the parser refuses is fuzz_promql_parse's business. */
        if (rc) {
            free(text);
            return 0;
        }
    } else {
        struct km_buf b;

        km_buf_init(&b, 0);
        CHECK(fz_gen_query(&rest, &b) == 0);
        text = km_buf_detach(&b, &len);
        CHECK(text != NULL);
        rc = km_promql_parse(text, len, &e, &err);
        if (rc)
            fprintf(stderr, "the generator wrote %s\nwhich does not parse: %s\n", text, err.msg);
        CHECK(rc == 0);
    }
    qtext = text;
    qlen = (int)len;
    evaluate(e, h);
    km_promql_expr_destroy(e);
    free(text);
    return 0;
}
