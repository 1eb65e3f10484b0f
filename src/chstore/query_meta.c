/*
 * query_meta — what the ClickHouse store says of its series beside their samples: label
 * names and values (distinct, sorted by ClickHouse's byte order, the matchers applied,
 * limited to the querier's range through the series rows' first_ms/last_ms) and the
 * cardinality lists of /api/v1/status/tsdb, all by SQL over the series table.
 *
 * Cardinality there is of every series the series table holds (within the retention:
 * rows are deleted with their samples), not of series "in memory": by metric (series
 * per name), values by label name (distinct values, `__name__` counted as a label),
 * memory by label name (the bytes of those distinct values — what the embedded store
 * counts too, not ClickHouse's own memory or disk, which kmon cannot see per label) and
 * series by label pair; chunks is 0 (ClickHouse keeps none of kmon's). Threads: as
 * query.c.
 */
#include "chstore/read.h"
#include "chstore/sql.h"

#include "common/array.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

/* ---- label names and values ------------------------------------------------------------ */

struct strings {
    km_str_fn fn;
    void *ud;
    struct km_arena a;
    struct km_buf last; /* the string handed over before, to skip a repeat */
    bool have_last, stopped;
};

static int on_string(void *ud, const struct km_ch_val *r)
{
    struct strings *s = ud;
    const char *c;
    int rc = 0;

    if (s->have_last && s->last.len == r[0].s.n &&
        (r[0].s.n == 0 || memcmp(s->last.data, r[0].s.p, r[0].s.n) == 0))
        return 0;
    km_arena_reset(&s->a);
    c = km_ch_read_cstr(&s->a, &r[0].s, &rc);
    if (!c)
        return rc;
    km_buf_reset(&s->last);
    km_buf_append(&s->last, r[0].s.p, r[0].s.n);
    if (km_buf_error(&s->last))
        return km_err_set(KM_ENOMEM, "out of memory");
    s->have_last = true;
    if (s->fn(s->ud, c)) {
        s->stopped = true;
        return KM_ECANCELED; /* stops the transfer; not an error of the caller's */
    }
    return 0;
}

int km_ch_read_strings(struct km_ch_store *st, const char *sql, km_str_fn fn, void *ud)
{
    static const enum km_ch_col cols[] = { KM_CH_STR };
    struct strings s = { .fn = fn, .ud = ud };
    int rc;

    km_arena_init(&s.a, 1024, KM_CH_ROWBIN_MAX_ROW + 1024);
    km_buf_init(&s.last, KM_CH_ROWBIN_MAX_ROW);
    rc = km_ch_read_rows(st, sql, cols, 1, on_string, &s);
    if (s.stopped)
        rc = 0;
    km_buf_fini(&s.last);
    km_arena_fini(&s.a);
    return rc;
}

int km_ch_label_names(void *qp, struct km_matcher *const *m, size_t nm, km_str_fn fn, void *ud)
{
    struct km_ch_querier *q = qp;
    struct km_buf sql;
    int rc;

    km_buf_init(&sql, 0);
    rc = km_ch_sql_label_names(&sql, &q->st->tab, m, nm, q->mint, q->maxt);
    if (rc == 0)
        rc = km_ch_read_strings(q->st, sql.data, fn, ud);
    km_buf_fini(&sql);
    return rc;
}

int km_ch_label_values(void *qp, const char *name, struct km_matcher *const *m, size_t nm,
                       km_str_fn fn, void *ud)
{
    struct km_ch_querier *q = qp;
    struct km_buf sql;
    int rc;

    km_buf_init(&sql, 0);
    rc = km_ch_sql_label_values(&sql, &q->st->tab, name, m, nm, q->mint, q->maxt);
    if (rc == 0)
        rc = km_ch_read_strings(q->st, sql.data, fn, ud);
    km_buf_fini(&sql);
    return rc;
}

/* ---- cardinality --------------------------------------------------------------------------- */

/* A list of (name, count) rows, largest first as ClickHouse ordered them. */
struct stats {
    struct km_storage_stat *v;
    size_t n, cap;
    /* for the label names' rows: the second list and the total */
    struct km_storage_stat *v2;
    size_t n2, cap2;
    uint64_t total;
};

static int stat_push(struct km_storage_stat **v, size_t *n, size_t *cap, const char *a, size_t na,
                     const char *b, size_t nb, uint64_t count)
{
    char *name;
    int rc = km_array_grow((void **)v, cap, *n + 1, sizeof(**v), 16, "reading cardinality");

    if (rc)
        return rc;
    name = malloc(na + (b ? nb + 1 : 0) + 1);
    if (!name)
        return km_err_set(KM_ENOMEM, "out of memory");
    memcpy(name, a, na);
    if (b) {
        name[na] = '=';
        memcpy(name + na + 1, b, nb);
        na += nb + 1;
    }
    name[na] = '\0';
    (*v)[*n].name = name;
    (*v)[(*n)++].count = count;
    return 0;
}

/* (name String, count UInt64) */
static int on_stat(void *ud, const struct km_ch_val *r)
{
    struct stats *s = ud;

    return stat_push(&s->v, &s->n, &s->cap, r[0].s.p, r[0].s.n, NULL, 0, r[1].u);
}

/* (name String, value String, count UInt64) */
static int on_pair(void *ud, const struct km_ch_val *r)
{
    struct stats *s = ud;

    return stat_push(&s->v, &s->n, &s->cap, r[0].s.p, r[0].s.n, r[1].s.p, r[1].s.n, r[2].u);
}

/* (name String, values UInt64, bytes UInt64): both lists, every name. */
static int on_name(void *ud, const struct km_ch_val *r)
{
    struct stats *s = ud;
    int rc = stat_push(&s->v, &s->n, &s->cap, r[0].s.p, r[0].s.n, NULL, 0, r[1].u);

    if (rc == 0)
        rc = stat_push(&s->v2, &s->n2, &s->cap2, r[0].s.p, r[0].s.n, NULL, 0, r[2].u);
    s->total += r[1].u;
    return rc;
}

/* (series UInt64, mint Int64, maxt Int64) */
static int on_totals(void *ud, const struct km_ch_val *r)
{
    struct km_storage_cardinality *c = ud;

    c->series = r[0].u;
    if (c->series) {
        c->mint = r[1].i;
        c->maxt = r[2].i;
    }
    return 0;
}

/* Largest first, ties by name, as the embedded store lists them. */
static int cmp_stat(const void *a, const void *b)
{
    const struct km_storage_stat *x = a, *y = b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void stats_keep_top(struct km_storage_stat *v, size_t *n, size_t top)
{
    km_sort(v, *n, sizeof(*v), cmp_stat);
    for (size_t i = top; i < *n; i++)
        free(v[i].name);
    if (*n > top)
        *n = top;
}

/* The statements of the cardinality figures: each names the series table (%1$s) and
 * the number of entries kept (%2$zu, where it lists some), with its row shape. */
struct card_stmt {
    const char *fmt;
    enum km_ch_col cols[3];
    size_t ncols;
    km_ch_row_fn fn;
};

static const struct card_stmt card_stmts[] = {
    { "SELECT uniqExact(id), min(first_ms), max(last_ms) FROM %1$s FORMAT RowBinary",
      { KM_CH_U64, KM_CH_I64, KM_CH_I64 },
      3,
      on_totals },
    { "SELECT metric, uniqExact(id) AS c FROM %1$s GROUP BY metric ORDER BY c DESC, metric "
      "LIMIT %2$zu FORMAT RowBinary",
      { KM_CH_STR, KM_CH_U64 },
      2,
      on_stat },
    { "SELECT n, count(), sum(length(v)) FROM (SELECT DISTINCT n, v FROM %1$s ARRAY JOIN "
      "arrayPushFront(names, '__name__') AS n, arrayPushFront(vals, metric) AS v) GROUP BY n "
      "FORMAT RowBinary",
      { KM_CH_STR, KM_CH_U64, KM_CH_U64 },
      3,
      on_name },
    { "SELECT n, v, uniqExact(id) AS c FROM %1$s ARRAY JOIN arrayPushFront(names, '__name__') "
      "AS n, arrayPushFront(vals, metric) AS v GROUP BY n, v ORDER BY c DESC, n, v LIMIT %2$zu "
      "FORMAT RowBinary",
      { KM_CH_STR, KM_CH_STR, KM_CH_U64 },
      3,
      on_pair },
};

int km_ch_cardinality(void *ctx, size_t top, struct km_storage_cardinality *out)
{
    struct km_ch_store *st = ctx;
    struct stats metric = { 0 }, label = { 0 }, pairs = { 0 };
    void *ud[] = { out, &metric, &label, &pairs };
    struct km_buf sql;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->mint = INT64_MAX;
    out->maxt = INT64_MIN;
    if (top == 0)
        top = 1;
    km_buf_init(&sql, 0);
    for (size_t i = 0; i < sizeof(card_stmts) / sizeof(card_stmts[0]) && rc == 0; i++) {
        const struct card_stmt *c = &card_stmts[i];

        km_buf_reset(&sql);
        km_buf_printf(&sql, c->fmt, st->tab.series, top);
        rc = km_buf_error(&sql) ? km_err_set(KM_ENOMEM, "out of memory")
                                : km_ch_read_rows(st, sql.data, c->cols, c->ncols, c->fn, ud[i]);
    }
    km_buf_fini(&sql);
    /* ClickHouse's order and the embedded store's agree (byte order); sorted again all
     * the same, and the label names' two lists are cut here. */
    stats_keep_top(metric.v, &metric.n, top);
    stats_keep_top(label.v, &label.n, top);
    stats_keep_top(label.v2, &label.n2, top);
    stats_keep_top(pairs.v, &pairs.n, top);
    out->label_pairs = label.total;
    out->by_metric = metric.v;
    out->n_by_metric = metric.n;
    out->values_by_label = label.v;
    out->n_values_by_label = label.n;
    out->memory_by_label = label.v2;
    out->n_memory_by_label = label.n2;
    out->by_pair = pairs.v;
    out->n_by_pair = pairs.n;
    if (rc)
        km_storage_cardinality_fini(out);
    return rc;
}
