/*
 * query — the querier and series sets of the ClickHouse store (storage.h's querying ops;
 * SCHEMA.md "Reads").
 *
 * A select resolves its series first (one statement over the series table: ids and
 * labels), builds each one's km_labels and sorts them in label order (km_labels_cmp, the
 * order the embedded TSDB's sets walk in). Samples are then read as the set is walked, a
 * group of KM_CH_READ_GROUP series at a time in that order: one statement per group
 * (`metric IN (…) AND id IN (…)`, ORDER BY id, t, FORMAT RowBinary) streamed through the
 * decoder into one array of the group's samples, each series' run kept apart (rows come
 * by id, the set goes by labels). So a select holds the labels of all its series and the
 * samples of one group at most — where the embedded store holds the labels and one
 * series' samples (src/tsdb/query.c reads each series' samples when the walk reaches it):
 * the engine consumes series in order, and a group keeps the number of statements small.
 * Exact duplicates (same id and t: a retried insert) are dropped while reading; a row of
 * a series not asked for, or out of order, means the answer broke off (ClickHouse writes
 * its error's text into an answer it already began) and fails the set.
 *
 * What a set reads (km_ch_sql_choose): no samples (labels only), each series' newest
 * sample in range, raw samples, or a rollup table's buckets (counted in
 * rollup_selects). Threads: a querier and its sets belong to one thread at a time; the
 * store's counters are atomics.
 */
#include "chstore/read.h"
#include "chstore/sql.h"

#include "common/array.h"
#include "common/err.h"
#include "common/mset.h"
#include "common/timefmt.h"

#include <stdlib.h>
#include <string.h>

#define KM_CH_READ_GROUP 1000 /* series whose samples one statement reads */

struct ch_series {
    uint64_t id;
    struct km_labels *l;
};

/* A series of the group being read, by id (the order the answer comes in). */
struct ch_byid {
    uint64_t id;
    size_t idx; /* in the group */
};

struct km_ch_set {
    struct km_ch_querier *q;
    struct ch_series *s;
    size_t n, cap;
    size_t cur;
    bool started, given;
    enum km_ch_read_kind kind;
    int64_t mint, maxt, rollup_ms;
    /* the group [g0, g1) and its samples */
    size_t g0, g1;
    struct ch_byid *byid;
    size_t *off, *cnt; /* per series of the group: its run in t, v */
    int64_t *t;
    double *v;
    size_t ns, tcap, vcap;
    /* the answer's cursor */
    size_t pos, idx;
    uint64_t last_id;
    int64_t last_t;
    bool have_last;
    int err;
};

/* ---- running a statement ----------------------------------------------------------------- */

int km_ch_read_rows(struct km_ch_store *st, const char *sql, const enum km_ch_col *cols,
                    size_t ncols, km_ch_row_fn fn, void *ud)
{
    return km_ch_read_rows_on(st, -1, sql, cols, ncols, fn, ud);
}

int km_ch_read_rows_on(struct km_ch_store *st, int node, const char *sql,
                       const enum km_ch_col *cols, size_t ncols, km_ch_row_fn fn, void *ud)
{
    struct km_ch_rowbin d;
    struct km_ch_request r = { .sql = sql, .sink = km_ch_rowbin_feed };
    int64_t t0 = km_time_mono_ns();
    int rc;

    rc = km_ch_rowbin_init(&d, cols, ncols, fn, ud);
    if (rc)
        return rc;
    r.ud = &d;
    rc = km_ch_exec(st->cl, node, &r);
    if (rc == 0)
        rc = km_ch_rowbin_finish(&d);
    atomic_fetch_add(&st->rs.queries, 1);
    atomic_fetch_add(&st->rs.rows_read, d.rows);
    atomic_fetch_add(&st->rs.bytes_read, d.bytes);
    atomic_fetch_add(&st->rs.query_ns, (uint64_t)(km_time_mono_ns() - t0));
    if (rc) {
        atomic_fetch_add(&st->rs.query_errors, 1);
        if (rc == KM_ECORRUPT)
            km_err_wrap(rc, "ClickHouse's answer is not the rows asked for (did it break off?)");
    }
    km_ch_rowbin_fini(&d);
    return rc;
}

const char *km_ch_read_cstr(struct km_arena *a, const struct km_ch_str *s, int *rc)
{
    char *c;

    const char *nul = memchr(s->p, '\0', s->n);

    if (nul) {
        *rc = km_err_set(KM_ECORRUPT, "ClickHouse holds a label with a NUL byte: \"%.*s\\0…\"",
                         (int)(nul - s->p), s->p);
        return NULL;
    }
    c = km_arena_strndup(a, s->p, s->n);
    if (!c)
        *rc = KM_ENOMEM;
    return c;
}

/* ---- the querier --------------------------------------------------------------------------- */

int km_ch_querier_open(void *ctx, int64_t mint, int64_t maxt, void **out)
{
    struct km_ch_store *st = ctx;
    struct km_ch_querier *q;

    if (!atomic_load(&st->schema_ready))
        return km_err_set(KM_EAGAIN, "ClickHouse is not ready: kmon's tables are not in place on "
                                     "every node yet (is ClickHouse up and reachable?)");
    q = calloc(1, sizeof(*q));
    if (!q)
        return km_err_set(KM_ENOMEM, "out of memory");
    q->st = st;
    q->mint = mint;
    q->maxt = maxt;
    *out = q;
    return 0;
}

void km_ch_querier_close(void *q)
{
    free(q);
}

/* ---- resolving the series --------------------------------------------------------------- */

struct resolve {
    struct km_ch_set *ss;
    struct km_arena a;
    struct km_label *l;
    size_t lcap;
};

/* A row (id, metric, names, vals): a series of the set. */
static int on_series(void *ud, const struct km_ch_val *r)
{
    struct resolve *rs = ud;
    struct km_ch_set *ss = rs->ss;
    size_t nl = r[2].a.n, k = 0;
    int rc = 0;

    if (r[3].a.n != nl)
        return km_err_set(KM_ECORRUPT,
                          "series %llu in ClickHouse has %zu label names and %zu values",
                          (unsigned long long)r[0].u, nl, r[3].a.n);
    rc = km_array_grow((void **)&rs->l, &rs->lcap, nl + 1, sizeof(*rs->l), 16, "reading series");
    if (rc == 0)
        rc = km_array_grow((void **)&ss->s, &ss->cap, ss->n + 1, sizeof(*ss->s), 64,
                           "reading series");
    if (rc)
        return rc;
    km_arena_reset(&rs->a);
    /* Empty values are absent labels, as Prometheus has it. */
    if (r[1].s.n > 0) {
        rs->l[k].name = KM_METRIC_NAME_LABEL;
        rs->l[k++].value = km_ch_read_cstr(&rs->a, &r[1].s, &rc);
    }
    for (size_t i = 0; i < nl && rc == 0; i++) {
        if (r[3].a.v[i].n == 0)
            continue;
        rs->l[k].name = km_ch_read_cstr(&rs->a, &r[2].a.v[i], &rc);
        rs->l[k++].value = km_ch_read_cstr(&rs->a, &r[3].a.v[i], &rc);
    }
    if (rc == 0)
        rc = km_labels_create(&ss->s[ss->n].l, rs->l, k);
    if (rc)
        return km_err_wrap(rc, "series %llu in ClickHouse", (unsigned long long)r[0].u);
    ss->s[ss->n++].id = r[0].u;
    return 0;
}

static int cmp_series(const void *a, const void *b)
{
    return km_labels_cmp(((const struct ch_series *)a)->l, ((const struct ch_series *)b)->l);
}

static int resolve_series(struct km_ch_set *ss, struct km_matcher *const *m, size_t nm)
{
    static const enum km_ch_col cols[] = { KM_CH_U64, KM_CH_STR, KM_CH_STRS, KM_CH_STRS };
    struct resolve rs = { .ss = ss };
    struct km_buf sql;
    int rc;

    km_buf_init(&sql, 0);
    km_arena_init(&rs.a, 4096, 1u << 30);
    rc = km_ch_sql_series(&sql, &ss->q->st->tab, m, nm, ss->mint, ss->maxt,
                          ss->kind == KM_CH_READ_NONE);
    if (rc == 0)
        rc = km_ch_read_rows(ss->q->st, sql.data, cols, 4, on_series, &rs);
    if (rc == 0)
        km_sort(ss->s, ss->n, sizeof(*ss->s), cmp_series);
    km_arena_fini(&rs.a);
    free(rs.l);
    km_buf_fini(&sql);
    return rc;
}

/* ---- reading a group's samples ------------------------------------------------------------ */

static int cmp_byid(const void *a, const void *b)
{
    uint64_t x = ((const struct ch_byid *)a)->id, y = ((const struct ch_byid *)b)->id;

    return x < y ? -1 : x > y;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int broke_off(uint64_t id, const char *why)
{
    return km_err_set(KM_ECORRUPT, "ClickHouse answered samples of series %llu %s",
                      (unsigned long long)id, why);
}

/* A row (id, t, v) of the group's answer, ordered by id, then t. */
static int on_sample(void *ud, const struct km_ch_val *r)
{
    struct km_ch_set *ss = ud;
    uint64_t id = r[0].u;
    int64_t t = r[1].i;
    size_t ng = ss->g1 - ss->g0;
    int rc;

    if (ss->have_last && id == ss->last_id) {
        if (t == ss->last_t)
            return 0; /* an exact duplicate: a retried insert */
        if (t < ss->last_t)
            return broke_off(id, "out of time order");
    } else {
        if (ss->have_last && id < ss->last_id)
            return broke_off(id, "out of order");
        while (ss->pos < ng && ss->byid[ss->pos].id < id)
            ss->pos++;
        if (ss->pos == ng || ss->byid[ss->pos].id != id)
            return broke_off(id, "that it was not asked for");
        ss->idx = ss->byid[ss->pos].idx;
        ss->off[ss->idx] = ss->ns;
    }
    rc = km_array_grow((void **)&ss->t, &ss->tcap, ss->ns + 1, sizeof(*ss->t), 1024,
                       "reading samples");
    if (rc == 0)
        rc = km_array_grow((void **)&ss->v, &ss->vcap, ss->ns + 1, sizeof(*ss->v), 1024,
                           "reading samples");
    if (rc)
        return rc;
    ss->t[ss->ns] = t;
    ss->v[ss->ns++] = r[2].f;
    ss->cnt[ss->idx]++;
    ss->last_id = id;
    ss->last_t = t;
    ss->have_last = true;
    return 0;
}

/* The metric names of the group, sorted and distinct, into *out (borrowed strings). */
static int group_metrics(struct km_ch_set *ss, const char ***out, size_t *n)
{
    size_t ng = ss->g1 - ss->g0, k = 0;
    const char **v = malloc(ng * sizeof(*v));

    if (!v)
        return km_err_set(KM_ENOMEM, "out of memory");
    for (size_t i = 0; i < ng; i++) {
        const char *name = km_labels_get(ss->s[ss->g0 + i].l, KM_METRIC_NAME_LABEL);

        v[k++] = name ? name : "";
    }
    km_sort(v, k, sizeof(*v), cmp_str);
    *n = 0;
    for (size_t i = 0; i < k; i++) {
        if (*n == 0 || strcmp(v[*n - 1], v[i]) != 0)
            v[(*n)++] = v[i];
    }
    *out = v;
    return 0;
}

/* Read the samples of the series [first, first + KM_CH_READ_GROUP). */
static int load_group(struct km_ch_set *ss, size_t first)
{
    static const enum km_ch_col cols[] = { KM_CH_U64, KM_CH_I64, KM_CH_F64 };
    struct km_ch_sql_read r = {
        .kind = ss->kind, .mint = ss->mint, .maxt = ss->maxt, .rollup_ms = ss->rollup_ms
    };
    uint64_t *ids = NULL;
    const char **metrics = NULL;
    struct km_buf sql;
    size_t ng;
    int rc;

    ss->g0 = first;
    ss->g1 = ss->n - first < KM_CH_READ_GROUP ? ss->n : first + KM_CH_READ_GROUP;
    ng = ss->g1 - ss->g0;
    ss->ns = ss->pos = 0;
    ss->have_last = false;
    memset(ss->cnt, 0, KM_CH_READ_GROUP * sizeof(*ss->cnt));
    for (size_t i = 0; i < ng; i++) {
        ss->byid[i].id = ss->s[first + i].id;
        ss->byid[i].idx = i;
    }
    km_sort(ss->byid, ng, sizeof(*ss->byid), cmp_byid);
    km_buf_init(&sql, 0);
    ids = malloc(ng * sizeof(*ids));
    rc = ids ? group_metrics(ss, &metrics, &r.nmetrics) : km_err_set(KM_ENOMEM, "out of memory");
    if (rc)
        goto out_free;
    for (size_t i = 0; i < ng; i++)
        ids[i] = ss->byid[i].id;
    r.metrics = metrics;
    r.ids = ids;
    r.nids = ng;
    rc = km_ch_sql_samples(&sql, &ss->q->st->tab, &r);
    if (rc == 0)
        rc = km_ch_read_rows(ss->q->st, sql.data, cols, 3, on_sample, ss);

out_free:
    free(metrics);
    free(ids);
    km_buf_fini(&sql);
    return rc;
}

/* ---- series sets ------------------------------------------------------------------------- */

int km_ch_select(void *qp, struct km_matcher *const *m, size_t nm,
                 const struct km_select_hints *hints, void **out)
{
    struct km_ch_querier *q = qp;
    struct km_ch_set *ss = calloc(1, sizeof(*ss));
    int rc;

    if (!ss)
        return km_err_set(KM_ENOMEM, "out of memory");
    ss->q = q;
    ss->mint = q->mint;
    ss->maxt = q->maxt;
    if (hints && (hints->mint || hints->maxt)) {
        ss->mint = hints->mint > q->mint ? hints->mint : q->mint;
        ss->maxt = hints->maxt < q->maxt ? hints->maxt : q->maxt;
    }
    ss->kind = km_ch_sql_choose(hints, q->st->rollups, &ss->rollup_ms);
    if (ss->rollup_ms)
        atomic_fetch_add(&q->st->rs.rollup_selects, 1);
    if (ss->kind != KM_CH_READ_NONE) {
        ss->byid = malloc(KM_CH_READ_GROUP * sizeof(*ss->byid));
        ss->off = malloc(KM_CH_READ_GROUP * sizeof(*ss->off));
        ss->cnt = malloc(KM_CH_READ_GROUP * sizeof(*ss->cnt));
        if (!ss->byid || !ss->off || !ss->cnt) {
            rc = km_err_set(KM_ENOMEM, "out of memory");
            goto out_free;
        }
    }
    rc = ss->mint <= ss->maxt ? resolve_series(ss, m, nm) : 0;
    if (rc)
        goto out_free;
    *out = ss;
    return 0;

out_free:
    km_ch_set_close(ss);
    return rc;
}

bool km_ch_set_next(void *p)
{
    struct km_ch_set *ss = p;

    while (!ss->err) {
        size_t i = ss->started ? ss->cur + 1 : 0;

        ss->started = true;
        ss->given = false;
        if (i >= ss->n) {
            ss->cur = ss->n;
            return false;
        }
        ss->cur = i;
        if (ss->kind == KM_CH_READ_NONE)
            return true;
        if (i >= ss->g1) {
            ss->err = load_group(ss, i);
            if (ss->err)
                return false;
        }
        /* A series without a sample in range is left out, as the embedded store does. */
        if (ss->cnt[i - ss->g0] > 0)
            return true;
    }
    return false;
}

const struct km_labels *km_ch_set_labels(void *p)
{
    struct km_ch_set *ss = p;

    return ss->cur < ss->n ? ss->s[ss->cur].l : NULL;
}

bool km_ch_set_batch(void *p, struct km_sample_batch *b)
{
    struct km_ch_set *ss = p;
    size_t i;

    if (ss->given || ss->kind == KM_CH_READ_NONE || ss->cur >= ss->n || ss->cur < ss->g0)
        return false;
    i = ss->cur - ss->g0;
    ss->given = true;
    if (ss->cnt[i] == 0)
        return false;
    b->t = ss->t + ss->off[i];
    b->v = ss->v + ss->off[i];
    b->n = ss->cnt[i];
    return true;
}

int km_ch_set_error(void *p)
{
    return ((struct km_ch_set *)p)->err;
}

void km_ch_set_close(void *p)
{
    struct km_ch_set *ss = p;

    if (!ss)
        return;
    for (size_t i = 0; i < ss->n; i++)
        km_labels_destroy(ss->s[i].l);
    free(ss->s);
    free(ss->byid);
    free(ss->off);
    free(ss->cnt);
    free(ss->t);
    free(ss->v);
    free(ss);
}

/* ---- metrics ------------------------------------------------------------------------------- */

static void counter(struct km_mset *m, const char *name, const char *help, double v)
{
    km_mset_add(m, km_mset_family(m, name, help, KM_MT_COUNTER, 0), NULL, 0, v);
}

void km_ch_read_metrics(struct km_ch_store *st, struct km_mset *m)
{
    counter(m, "kmon_clickhouse_queries_total", "SELECT statements sent to ClickHouse.",
            (double)atomic_load(&st->rs.queries));
    counter(m, "kmon_clickhouse_query_errors_total",
            "SELECT statements that failed (ClickHouse unreachable, refused or broken off).",
            (double)atomic_load(&st->rs.query_errors));
    counter(m, "kmon_clickhouse_query_rows_read_total", "Rows of ClickHouse's answers decoded.",
            (double)atomic_load(&st->rs.rows_read));
    counter(m, "kmon_clickhouse_query_bytes_read_total",
            "Bytes of ClickHouse's answers (RowBinary) read.",
            (double)atomic_load(&st->rs.bytes_read));
    counter(m, "kmon_clickhouse_query_seconds_total",
            "Time spent waiting for and reading ClickHouse's answers.",
            (double)atomic_load(&st->rs.query_ns) / 1e9);
    counter(m, "kmon_clickhouse_rollup_selects_total",
            "Selections read from a rollup table (5m or 1h buckets) instead of raw samples.",
            (double)atomic_load(&st->rs.rollup_selects));
}
