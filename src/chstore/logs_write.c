/*
 * logs_write — the log sink of the ClickHouse store (logsink.h; SCHEMA.md "Logs"): a push
 * is judged entry by entry as the embedded store judges it (logcheck.h), with the
 * newest entry of each stream as this server has seen it (a server started afresh knows
 * none: its first push of a stream takes anything within the retention and the clock's
 * window) and the streams this server knows counted against max_streams; the accepted
 * entries are encoded to RowBinary rows per shard (stream = XXH64 of the labels, as a
 * series id; shard = stream % nshards):
 *   log stream row: stream UInt64, names Array(String), vals Array(String),
 *                   first_ns Int64, last_ns Int64
 *   entry row:      stream UInt64, ts Int64, line String
 * (a stream row when the stream is new to this server or its newest hour advanced) and
 * put in the spool as one record; the push returns 0 once the record is there. A retried
 * push is stored again: the reads drop exact duplicates.
 *
 * Threads: any; one mutex (the streams' newest entries) held through a push, as the
 * embedded store holds its own.
 */
#include "chstore/logs.h"

#include "chstore/rowbin.h"
#include "chstore/series.h"
#include "chstore/spool.h"
#include "chstore/writer.h"
#include "common/array.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/limits.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "logs/logcheck.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define KM_NS_PER_MS 1000000LL

struct km_ch_logs {
    struct km_log_limits lim;
    struct km_ch_known *known; /* streams whose row this server wrote, and its hour */
    pthread_mutex_t mu;
    uint64_t *keys; /* open addressing: stream id + 1 (0: empty) */
    int64_t *newest;
    size_t cap, n;
    atomic_uint_fast64_t stored, bytes_stored, dup, bytes_dup, refused_bytes;
    atomic_uint_fast64_t refused[KM_LOG_REFUSAL__N];
};

/* ---- the streams' newest entries ------------------------------------------------------ */

static size_t slot_of(const struct km_ch_logs *L, uint64_t key)
{
    size_t mask = L->cap - 1;
    size_t i = (size_t)(key * 0x9e3779b97f4a7c15ULL >> 17) & mask;

    while (L->keys[i] && L->keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

/* Under mu: the stream's newest entry (INT64_MIN: unknown). */
static int64_t newest_get(const struct km_ch_logs *L, uint64_t id)
{
    size_t i = slot_of(L, id + 1 ? id + 1 : 1);

    return L->keys[i] ? L->newest[i] : INT64_MIN;
}

static int newest_grow(struct km_ch_logs *L)
{
    size_t ocap = L->cap, cap = ocap ? ocap * 2 : 1024;
    uint64_t *ok = L->keys;
    int64_t *on = L->newest;

    L->keys = calloc(cap, sizeof(*L->keys));
    L->newest = calloc(cap, sizeof(*L->newest));
    if (!L->keys || !L->newest) {
        free(L->keys);
        free(L->newest);
        L->keys = ok;
        L->newest = on;
        return km_err_set(KM_ENOMEM, "out of memory storing log entries");
    }
    L->cap = cap;
    for (size_t i = 0; i < ocap; i++) {
        if (ok[i]) {
            size_t j = slot_of(L, ok[i]);

            L->keys[j] = ok[i];
            L->newest[j] = on[i];
        }
    }
    free(ok);
    free(on);
    return 0;
}

/* Under mu: set the stream's newest entry (adding the stream). */
static int newest_put(struct km_ch_logs *L, uint64_t id, int64_t t)
{
    uint64_t key = id + 1 ? id + 1 : 1;
    size_t i;
    int rc;

    if ((L->n + 1) * 2 > L->cap && (rc = newest_grow(L)) != 0)
        return rc;
    i = slot_of(L, key);
    if (!L->keys[i]) {
        L->keys[i] = key;
        L->n++;
        L->newest[i] = t;
    } else if (t > L->newest[i]) {
        L->newest[i] = t;
    }
    return 0;
}

/* ---- a push ----------------------------------------------------------------------------- */

/* The rows of one push, per shard. */
struct lbatch {
    size_t nshards;
    struct km_buf *streams, *entries;
    uint32_t *nstreams, *nentries;
    struct lwritten {
        uint64_t id;
        int64_t t_ms;
    } * written; /* the streams with a row in the batch */
    size_t nwritten, capwritten;
};

static void refuse(struct km_ch_logs *L, struct km_log_push_result *res, enum km_log_refusal r,
                   const struct km_label *lv, size_t nl, const struct km_log_entry *e,
                   const char *detail)
{
    atomic_fetch_add(&L->refused[r], 1);
    atomic_fetch_add(&L->refused_bytes, e ? e->len : 0);
    km_log_refusal_note(res, r, lv, nl, e, detail);
}

/* Whether e repeats an entry accepted before it in this push (same ts and line). */
static bool dup_in_push(const struct km_log_entry *const *acc, size_t nacc,
                        const struct km_log_entry *e)
{
    for (size_t j = nacc; j-- > 0 && acc[j]->ts_ns == e->ts_ns;)
        if (acc[j]->len == e->len && memcmp(acc[j]->line, e->line, e->len) == 0)
            return true;
    return false;
}

static void stream_row(struct km_buf *b, uint64_t id, const struct km_label *l, size_t n,
                       int64_t first_ns, int64_t last_ns)
{
    km_ch_rb_u64(b, id);
    km_ch_rb_varint(b, n);
    for (size_t i = 0; i < n; i++)
        km_ch_rb_string(b, l[i].name);
    km_ch_rb_varint(b, n);
    for (size_t i = 0; i < n; i++)
        km_ch_rb_string(b, l[i].value);
    km_ch_rb_u64(b, (uint64_t)first_ns);
    km_ch_rb_u64(b, (uint64_t)last_ns);
}

/* Encode the accepted entries of one stream (and its row when due). Under mu. */
static int encode_stream(struct km_ch_logs *L, struct lbatch *c, uint64_t id,
                         const struct km_label *lv, size_t nl,
                         const struct km_log_entry *const *acc, size_t nacc, int64_t newest,
                         int64_t now_ms)
{
    size_t sh = id % c->nshards;
    struct km_ch_note note;
    int rc = km_ch_known_note(L->known, id, lv, nl, newest / KM_NS_PER_MS, now_ms, &note);

    if (rc != 0)
        return rc;
    if (note.write_row) {
        int64_t first = note.first_ms * KM_NS_PER_MS;

        rc = km_array_grow((void **)&c->written, &c->capwritten, c->nwritten + 1,
                           sizeof(*c->written), 16, "storing log entries");
        if (rc != 0)
            return rc;
        stream_row(&c->streams[sh], id, lv, nl, acc[0]->ts_ns < first ? acc[0]->ts_ns : first,
                   newest);
        c->nstreams[sh]++;
        c->written[c->nwritten++] = (struct lwritten){ id, newest / KM_NS_PER_MS };
    }
    for (size_t i = 0; i < nacc; i++) {
        km_ch_rb_u64(&c->entries[sh], id);
        km_ch_rb_u64(&c->entries[sh], (uint64_t)acc[i]->ts_ns);
        km_ch_rb_bytes(&c->entries[sh], acc[i]->line, acc[i]->len);
    }
    c->nentries[sh] += (uint32_t)nacc;
    return 0;
}

/* Judge and encode one stream's entries. Under mu. */
static int push_one(struct km_ch_logs *L, struct lbatch *c, const struct km_log_push_stream *ps,
                    int64_t now_ms, struct km_log_push_result *res)
{
    struct km_label lv[KM_LIMIT_LABELS_PER_SERIES];
    const struct km_log_entry **acc = NULL;
    uint32_t *ord = NULL;
    size_t nl = 0, nacc = 0;
    int64_t newest, known;
    const char *why;
    char detail[96];
    uint64_t id;
    int rc = 0;

    if (!km_log_labels_prepare(ps, lv, &nl, &why)) {
        for (size_t i = 0; i < ps->n_entries; i++)
            refuse(L, res, KM_LOG_INVALID, ps->labels, ps->n_labels > 16 ? 16 : ps->n_labels,
                   &ps->entries[i], why);
        return 0;
    }
    if (ps->n_entries == 0)
        return 0;
    id = km_ch_series_id(lv, nl);
    if ((rc = km_log_entries_order(ps, &ord)) != 0)
        return rc;
    acc = malloc(ps->n_entries * sizeof(*acc));
    if (!acc) {
        rc = km_err_set(KM_ENOMEM, "out of memory storing log entries");
        goto out_free;
    }
    newest = known = newest_get(L, id);
    for (size_t k = 0; k < ps->n_entries; k++) {
        const struct km_log_entry *e = &ps->entries[ord[k]];
        int r = km_log_entry_check(&L->lim, now_ms, newest, e, detail, sizeof(detail));

        if (r >= 0) {
            refuse(L, res, (enum km_log_refusal)r, lv, nl, e, detail);
            continue;
        }
        if (dup_in_push(acc, nacc, e)) {
            res->duplicate++;
            atomic_fetch_add(&L->dup, 1);
            atomic_fetch_add(&L->bytes_dup, e->len);
            continue;
        }
        if (e->ts_ns > newest)
            newest = e->ts_ns;
        acc[nacc++] = e;
    }
    if (nacc == 0)
        goto out_free;
    if (known == INT64_MIN && L->n >= L->lim.max_streams) {
        snprintf(detail, sizeof(detail), "(the limit is %llu streams)",
                 (unsigned long long)L->lim.max_streams);
        for (size_t i = 0; i < nacc; i++)
            refuse(L, res, KM_LOG_STREAM_LIMIT, lv, nl, acc[i], detail);
        goto out_free;
    }
    rc = newest_put(L, id, newest);
    if (rc == 0)
        rc = encode_stream(L, c, id, lv, nl, acc, nacc, newest, now_ms);
    if (rc == 0) {
        uint64_t bytes = 0;

        for (size_t i = 0; i < nacc; i++)
            bytes += acc[i]->len;
        res->stored += nacc;
        atomic_fetch_add(&L->stored, nacc);
        atomic_fetch_add(&L->bytes_stored, bytes);
    }
out_free:
    free(ord);
    free(acc);
    return rc;
}

static int lbatch_init(struct lbatch *c, size_t nshards)
{
    memset(c, 0, sizeof(*c));
    c->nshards = nshards;
    c->streams = calloc(nshards, sizeof(*c->streams));
    c->entries = calloc(nshards, sizeof(*c->entries));
    c->nstreams = calloc(nshards, sizeof(*c->nstreams));
    c->nentries = calloc(nshards, sizeof(*c->nentries));
    if (!c->streams || !c->entries || !c->nstreams || !c->nentries)
        return km_err_set(KM_ENOMEM, "out of memory storing log entries");
    for (size_t i = 0; i < nshards; i++) {
        km_buf_init(&c->streams[i], 0);
        km_buf_init(&c->entries[i], 0);
    }
    return 0;
}

static void lbatch_fini(struct lbatch *c)
{
    for (size_t i = 0; c->streams && c->entries && i < c->nshards; i++) {
        km_buf_fini(&c->streams[i]);
        km_buf_fini(&c->entries[i]);
    }
    free(c->streams);
    free(c->entries);
    free(c->nstreams);
    free(c->nentries);
    free(c->written);
}

/* Spool the push's rows as one record; then remember the stream rows written. */
static int lbatch_spool(struct km_ch_store *st, struct lbatch *c)
{
    struct km_ch_spool_part *p = calloc(2 * c->nshards, sizeof(*p));
    size_t n = 0;
    int rc = 0;

    if (!p)
        return km_err_set(KM_ENOMEM, "out of memory storing log entries");
    for (size_t i = 0; i < c->nshards; i++) {
        if (km_buf_error(&c->streams[i]) || km_buf_error(&c->entries[i])) {
            rc = km_err_set(KM_ENOMEM, "out of memory encoding log entries");
            goto out_free;
        }
        if (c->nstreams[i])
            p[n++] = (struct km_ch_spool_part){ .shard = (uint16_t)i,
                                                .kind = KM_CH_PART_LOG_STREAMS,
                                                .rows = c->nstreams[i],
                                                .data = c->streams[i].data,
                                                .len = (uint32_t)c->streams[i].len };
        if (c->nentries[i])
            p[n++] = (struct km_ch_spool_part){ .shard = (uint16_t)i,
                                                .kind = KM_CH_PART_LOGS,
                                                .rows = c->nentries[i],
                                                .data = c->entries[i].data,
                                                .len = (uint32_t)c->entries[i].len };
    }
    if (n > 0)
        rc = km_ch_writer_spool(st, p, n);
    for (size_t i = 0; rc == 0 && i < c->nwritten; i++)
        km_ch_known_written(st->logs->known, c->written[i].id, c->written[i].t_ms);
out_free:
    free(p);
    return rc;
}

int km_ch_log_push(void *ctx, const struct km_log_push_stream *ps, size_t n,
                   struct km_log_push_result *res)
{
    struct km_ch_store *st = ctx;
    struct km_ch_logs *L = st->logs;
    int64_t now_ms = km_time_now_ns() / KM_NS_PER_MS;
    struct lbatch c;
    int rc;

    memset(res, 0, sizeof(*res));
    rc = lbatch_init(&c, km_ch_writer_shards(st));
    pthread_mutex_lock(&L->mu);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = push_one(L, &c, &ps[i], now_ms, res);
    if (rc == 0)
        rc = lbatch_spool(st, &c);
    pthread_mutex_unlock(&L->mu);
    if (rc != 0) {
        /* Nothing of the call is acknowledged. */
        res->stored = 0;
        res->duplicate = 0;
    }
    lbatch_fini(&c);
    return rc;
}

void km_ch_log_metrics(void *ctx, struct km_mset *m)
{
    struct km_ch_logs *L = ((struct km_ch_store *)ctx)->logs;
    int f;

    f = km_mset_family(m, "kmon_logs_entries_total", "Log entries pushed, by outcome and reason.",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, (struct km_label[]){ { "outcome", "stored" } }, 1,
                (double)atomic_load(&L->stored));
    km_mset_add(m, f, (struct km_label[]){ { "outcome", "duplicate" } }, 1,
                (double)atomic_load(&L->dup));
    for (int r = 0; r < KM_LOG_REFUSAL__N; r++)
        km_mset_add(
            m, f,
            (struct km_label[]){ { "outcome", "refused" }, { "reason", km_log_refusal_reason(r) } },
            2, (double)atomic_load(&L->refused[r]));
    f = km_mset_family(m, "kmon_logs_bytes_total", "Bytes of log lines pushed, by outcome.",
                       KM_MT_COUNTER, 0);
    km_mset_add(m, f, (struct km_label[]){ { "outcome", "stored" } }, 1,
                (double)atomic_load(&L->bytes_stored));
    km_mset_add(m, f, (struct km_label[]){ { "outcome", "duplicate" } }, 1,
                (double)atomic_load(&L->bytes_dup));
    km_mset_add(m, f, (struct km_label[]){ { "outcome", "refused" } }, 1,
                (double)atomic_load(&L->refused_bytes));
    pthread_mutex_lock(&L->mu);
    km_mset_gauge(m, "kmon_logs_streams",
                  "Log streams this server has written to ClickHouse since it started.",
                  (double)L->n);
    pthread_mutex_unlock(&L->mu);
}

int km_ch_logs_create(struct km_ch_store *st, const struct km_log_limits *lim)
{
    struct km_ch_logs *L;
    int rc;

    if (st->logs)
        return km_err_set(KM_EINVAL, "the ClickHouse store's logs are open already");
    L = calloc(1, sizeof(*L));
    if (!L)
        return km_err_set(KM_ENOMEM, "out of memory");
    L->lim = *lim;
    km_log_limits_resolve(&L->lim);
    rc = km_ch_known_create(&L->known, L->lim.max_streams);
    if (rc == 0)
        rc = newest_grow(L);
    if (rc != 0) {
        km_ch_known_destroy(L->known);
        free(L->keys);
        free(L->newest);
        free(L);
        return rc;
    }
    pthread_mutex_init(&L->mu, NULL);
    atomic_store(&st->logs_retention_ms, L->lim.retention_ms);
    st->logs = L;
    return 0;
}

void km_ch_logs_destroy(struct km_ch_store *st)
{
    struct km_ch_logs *L = st->logs;

    if (!L)
        return;
    km_ch_known_destroy(L->known);
    pthread_mutex_destroy(&L->mu);
    free(L->keys);
    free(L->newest);
    free(L);
    st->logs = NULL;
}
