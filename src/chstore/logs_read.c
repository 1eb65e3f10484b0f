/*
 * logs_read — the ClickHouse store as a log source (logsource.h; SCHEMA.md "Logs").
 *
 * A select resolves its streams first (one statement over log_streams: the matchers, and
 * the streams with entries in the range), builds their labels and sorts them in label
 * order. A stream's entries are read when the walk reaches it, a page of KM_CH_LOG_PAGE
 * entries per statement, ordered by ts then line (both descending backward), the
 * `|= "…"` strings pushed down as position(line, '…') > 0. A full page's last timestamp
 * may go on in the next page, so its entries are left for the next page, which starts
 * at that timestamp; a page holding one timestamp only is completed with a statement for
 * that timestamp alone. So a timestamp's entries are always in one page, where the exact
 * duplicates of a retried insert are next to each other and dropped.
 *
 * Threads: a set belongs to one thread at a time; the store's counters are atomics.
 */
#include "chstore/logs.h"
#include "chstore/read.h"
#include "chstore/sql.h"

#include "common/arena.h"
#include "common/array.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

#define KM_CH_LOG_PAGE 2000 /* entries one statement reads */

struct lstream {
    uint64_t id;
    struct km_labels *l;
};

struct lset {
    struct km_ch_store *st;
    struct km_log_select sel;
    struct lstream *s;
    size_t n, cap, cur;
    bool started;
    /* the current stream's reading: what is left is [lo, hi) */
    int64_t lo, hi;
    bool done;
    /* the page: ts and line offsets into `lines` */
    int64_t *ts;
    size_t *off, *len;
    size_t np, capts, capoff, caplen;
    struct km_buf lines;
    struct km_log_entry *e;
    size_t cape;
    int err;
};

static int check_ready(struct km_ch_store *st)
{
    if (!atomic_load(&st->schema_ready))
        return km_err_set(KM_EAGAIN, "ClickHouse is not ready: kmon's tables are not in place on "
                                     "every node yet (is ClickHouse up and reachable?)");
    return 0;
}

/* ---- streams --------------------------------------------------------------------------- */

struct resolve {
    struct lstream *s;
    size_t n, cap;
    struct km_arena a;
    struct km_label *l;
    size_t lcap;
};

/* A row (stream, names, vals). */
static int on_stream(void *ud, const struct km_ch_val *r)
{
    struct resolve *rs = ud;
    size_t nl = r[1].a.n, k = 0;
    int rc;

    if (r[2].a.n != nl)
        return km_err_set(KM_ECORRUPT,
                          "log stream %llu in ClickHouse has %zu label names and %zu values",
                          (unsigned long long)r[0].u, nl, r[2].a.n);
    rc = km_array_grow((void **)&rs->l, &rs->lcap, nl + 1, sizeof(*rs->l), 16, "reading streams");
    if (rc == 0)
        rc = km_array_grow((void **)&rs->s, &rs->cap, rs->n + 1, sizeof(*rs->s), 64,
                           "reading streams");
    if (rc)
        return rc;
    km_arena_reset(&rs->a);
    for (size_t i = 0; i < nl && rc == 0; i++) {
        if (r[2].a.v[i].n == 0)
            continue;
        rs->l[k].name = km_ch_read_cstr(&rs->a, &r[1].a.v[i], &rc);
        rs->l[k++].value = km_ch_read_cstr(&rs->a, &r[2].a.v[i], &rc);
    }
    if (rc == 0)
        rc = km_labels_create(&rs->s[rs->n].l, rs->l, k);
    if (rc)
        return km_err_wrap(rc, "log stream %llu in ClickHouse", (unsigned long long)r[0].u);
    rs->s[rs->n++].id = r[0].u;
    return 0;
}

static int cmp_stream(const void *a, const void *b)
{
    return km_labels_cmp(((const struct lstream *)a)->l, ((const struct lstream *)b)->l);
}

static void streams_free(struct lstream *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        km_labels_destroy(s[i].l);
    free(s);
}

/* The streams matching with entries in [start, end), in label order: *out (n of them). */
static int resolve_streams(struct km_ch_store *st, struct km_matcher *const *m, size_t nm,
                           int64_t start, int64_t end, struct lstream **out, size_t *n)
{
    static const enum km_ch_col cols[] = { KM_CH_U64, KM_CH_STRS, KM_CH_STRS };
    struct resolve rs = { 0 };
    struct km_buf sql;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = check_ready(st)) != 0)
        return rc;
    km_arena_init(&rs.a, 1024, KM_CH_ROWBIN_MAX_ROW + 1024);
    km_buf_init(&sql, 0);
    rc = km_ch_sql_log_streams(&sql, &st->tab, m, nm, start, end);
    if (rc == 0)
        rc = km_ch_read_rows(st, sql.data, cols, 3, on_stream, &rs);
    km_buf_fini(&sql);
    km_arena_fini(&rs.a);
    free(rs.l);
    if (rc) {
        streams_free(rs.s, rs.n);
        return rc;
    }
    if (rs.n > 1)
        qsort(rs.s, rs.n, sizeof(*rs.s), cmp_stream);
    *out = rs.s;
    *n = rs.n;
    return 0;
}

/* ---- a set ------------------------------------------------------------------------------- */

static int ls_select(void *ctx, const struct km_log_select *sel, void **out)
{
    struct km_ch_store *st = ctx;
    struct lset *s = calloc(1, sizeof(*s));
    int rc;

    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    s->st = st;
    s->sel = *sel;
    km_buf_init(&s->lines, 0);
    rc = resolve_streams(st, sel->m, sel->nm, sel->start_ns, sel->end_ns, &s->s, &s->n);
    if (rc) {
        km_buf_fini(&s->lines);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static bool ls_next(void *set)
{
    struct lset *s = set;

    if (s->err)
        return false;
    if (s->started)
        s->cur++;
    s->started = true;
    s->lo = s->sel.start_ns;
    s->hi = s->sel.end_ns;
    s->done = s->lo >= s->hi;
    return s->cur < s->n;
}

static const struct km_labels *ls_labels(void *set)
{
    struct lset *s = set;

    return s->cur < s->n ? s->s[s->cur].l : NULL;
}

/* A row (ts, line) of a page. */
static int on_entry(void *ud, const struct km_ch_val *r)
{
    struct lset *s = ud;
    int rc = km_array_grow((void **)&s->ts, &s->capts, s->np + 1, sizeof(*s->ts), 256,
                           "reading log entries");

    if (rc == 0)
        rc = km_array_grow((void **)&s->off, &s->capoff, s->np + 1, sizeof(*s->off), 256,
                           "reading log entries");
    if (rc == 0)
        rc = km_array_grow((void **)&s->len, &s->caplen, s->np + 1, sizeof(*s->len), 256,
                           "reading log entries");
    if (rc)
        return rc;
    s->ts[s->np] = r[0].i;
    s->off[s->np] = s->lines.len;
    s->len[s->np++] = r[1].s.n;
    km_buf_append(&s->lines, r[1].s.p, r[1].s.n);
    return km_buf_error(&s->lines) ? km_err_set(KM_ENOMEM, "out of memory reading log entries") : 0;
}

/* Read one statement's rows into the page (appended). */
static int read_page(struct lset *s, int64_t lo, int64_t hi, bool exact, size_t limit)
{
    static const enum km_ch_col cols[] = { KM_CH_I64, KM_CH_STR };
    struct km_ch_sql_log_page p = { .stream = s->s[s->cur].id,
                                    .lo = lo,
                                    .hi = hi,
                                    .exact = exact,
                                    .backward = s->sel.backward,
                                    .limit = limit,
                                    .must_contain = s->sel.must_contain,
                                    .must_contain_len = s->sel.must_contain_len,
                                    .n_must_contain = s->sel.n_must_contain };
    struct km_buf sql;
    int rc;

    km_buf_init(&sql, 0);
    rc = km_ch_sql_log_page(&sql, &s->st->tab, &p);
    if (rc == 0)
        rc = km_ch_read_rows(s->st, sql.data, cols, 2, on_entry, s);
    km_buf_fini(&sql);
    return rc;
}

/* Fill the page with the next entries of the current stream: *n of them kept. */
static int fill_page(struct lset *s, size_t *kept)
{
    size_t n;
    int64_t t;
    int rc;

    s->np = 0;
    km_buf_reset(&s->lines);
    *kept = 0;
    if ((rc = read_page(s, s->lo, s->hi, false, KM_CH_LOG_PAGE)) != 0)
        return rc;
    if (s->np < KM_CH_LOG_PAGE) {
        *kept = s->np;
        s->done = true;
        return 0;
    }
    /* Full: its last timestamp may go on; leave its entries to the next page. */
    t = s->ts[s->np - 1];
    for (n = s->np; n > 0 && s->ts[n - 1] == t; n--)
        ;
    if (n == 0) {
        /* One timestamp only: all of its entries, then past it. */
        s->np = 0;
        km_buf_reset(&s->lines);
        if ((rc = read_page(s, t, t, true, 0)) != 0)
            return rc;
        n = s->np;
        if (s->sel.backward)
            s->hi = t;
        else
            s->lo = t == INT64_MAX ? t : t + 1;
        s->done = s->lo >= s->hi || (!s->sel.backward && t == INT64_MAX);
    } else if (s->sel.backward) {
        s->hi = t + 1; /* t < hi: no overflow */
    } else {
        s->lo = t;
    }
    *kept = n;
    return 0;
}

static bool ls_batch(void *set, struct km_log_batch *b)
{
    struct lset *s = set;

    while (!s->err && s->cur < s->n && !s->done) {
        size_t kept, k = 0;
        int rc = fill_page(s, &kept);

        if (rc == 0)
            rc = km_array_grow((void **)&s->e, &s->cape, kept + 1, sizeof(*s->e), 256,
                               "reading log entries");
        if (rc) {
            s->err = rc;
            return false;
        }
        for (size_t i = 0; i < kept; i++) {
            const char *line = s->lines.data + s->off[i];

            /* ordered by (ts, line): an exact duplicate follows its original */
            if (k > 0 && s->e[k - 1].ts_ns == s->ts[i] && s->e[k - 1].len == s->len[i] &&
                memcmp(s->e[k - 1].line, line, s->len[i]) == 0)
                continue;
            s->e[k++] = (struct km_log_entry){ .ts_ns = s->ts[i], .line = line, .len = s->len[i] };
        }
        if (k > 0) {
            b->e = s->e;
            b->n = k;
            return true;
        }
    }
    return false;
}

static int ls_error(void *set)
{
    return ((struct lset *)set)->err;
}

static void ls_close(void *set)
{
    struct lset *s = set;

    if (!s)
        return;
    streams_free(s->s, s->n);
    free(s->ts);
    free(s->off);
    free(s->len);
    free(s->e);
    km_buf_fini(&s->lines);
    free(s);
}

/* ---- labels, series, stats --------------------------------------------------------------- */

/* The label names (name NULL) or the values of label `name` of the streams. */
static int ls_strings(struct km_ch_store *st, const char *name, struct km_matcher *const *m,
                      size_t nm, int64_t start_ns, int64_t end_ns, km_str_fn fn, void *ud)
{
    struct km_buf sql;
    int rc = check_ready(st);

    if (rc)
        return rc;
    km_buf_init(&sql, 0);
    rc = name ? km_ch_sql_log_label_values(&sql, &st->tab, name, m, nm, start_ns, end_ns)
              : km_ch_sql_log_label_names(&sql, &st->tab, m, nm, start_ns, end_ns);
    if (rc == 0)
        rc = km_ch_read_strings(st, sql.data, fn, ud);
    km_buf_fini(&sql);
    return rc;
}

static int ls_label_names(void *ctx, struct km_matcher *const *m, size_t nm, int64_t start_ns,
                          int64_t end_ns, km_str_fn fn, void *ud)
{
    return ls_strings(ctx, NULL, m, nm, start_ns, end_ns, fn, ud);
}

static int ls_label_values(void *ctx, const char *name, struct km_matcher *const *m, size_t nm,
                           int64_t start_ns, int64_t end_ns, km_str_fn fn, void *ud)
{
    return ls_strings(ctx, name, m, nm, start_ns, end_ns, fn, ud);
}

static int ls_series(void *ctx, struct km_matcher *const *m, size_t nm, int64_t start_ns,
                     int64_t end_ns, km_log_labels_fn fn, void *ud)
{
    struct lstream *s;
    size_t n;
    int rc = resolve_streams(ctx, m, nm, start_ns, end_ns, &s, &n);

    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = fn(ud, s[i].l);
    streams_free(s, n);
    return rc;
}

static int on_stats(void *ud, const struct km_ch_val *r)
{
    struct km_log_stats *out = ud;

    out->streams += r[0].u;
    out->chunks += r[1].u;
    out->entries += r[2].u;
    out->bytes += r[3].u;
    return 0;
}

static int ls_stats(void *ctx, struct km_matcher *const *m, size_t nm, int64_t start_ns,
                    int64_t end_ns, struct km_log_stats *out)
{
    static const enum km_ch_col cols[] = { KM_CH_U64, KM_CH_U64, KM_CH_U64, KM_CH_U64 };
    struct km_ch_store *st = ctx;
    struct km_buf sql;
    int rc = check_ready(st);

    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    km_buf_init(&sql, 0);
    rc = km_ch_sql_log_stats(&sql, &st->tab, m, nm, start_ns, end_ns);
    for (size_t i = 0; rc == 0 && i < km_ch_client_nodes(st->cl); i++)
        rc = km_ch_read_rows_on(st, (int)i, sql.data, cols, 4, on_stats, out);
    km_buf_fini(&sql);
    return rc;
}

const struct km_log_source_ops km_ch_log_source_ops = {
    .version = KM_LOG_SOURCE_V1,
    .name = "clickhouse",
    .select = ls_select,
    .set_next = ls_next,
    .set_labels = ls_labels,
    .set_batch = ls_batch,
    .set_error = ls_error,
    .set_close = ls_close,
    .label_names = ls_label_names,
    .label_values = ls_label_values,
    .series = ls_series,
    .stats = ls_stats,
};
