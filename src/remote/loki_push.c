/*
 * loki_push — Loki's push wire in protobuf (loki_push.h): the in-place decoder of a
 * PushRequest, the stream labels string parsed and formatted as Loki does, and the
 * encoder kmon's agent ships with.
 *
 * The messages and field numbers (loki.proto, Loki's push.proto):
 *
 *   PushRequest       1 StreamAdapter (LEN, repeated)   [2 format, skipped]
 *   StreamAdapter     1 labels (LEN)  2 EntryAdapter (LEN, repeated)  3 hash (varint)
 *   EntryAdapter      1 Timestamp (LEN)  2 line (LEN)  3 LabelPairAdapter (LEN, repeated)
 *   Timestamp         1 seconds (varint int64)  2 nanos (varint int32)
 *   LabelPairAdapter  1 name (LEN)  2 value (LEN)
 *
 * Acceptance is protobuf-c 1.4's, as pbread.h reads it for rw_decode.c too (the
 * reference the tests and the fuzz target compare with): a known field with another wire
 * type refused, unknown fields skipped; a string or message given twice means the last
 * one. On top of that, what
 * protobuf-c takes and Loki would not: a Timestamp out of the range of nanoseconds in an
 * int64 or with nanos outside [0, 1e9), and labels that do not parse.
 *
 * Decoding is two passes over the bytes: one checks the request and counts streams
 * and entries, so that the arrays are allocated once at their size; one fills them.
 * Lines and labels are copied into the arena (the body may be freed after decoding).
 */
#include "loki_push.h"
#include "loki_push_internal.h"

#include "common/err.h"
#include "pbread.h"
#include "promql/quote.h"
#include "remote/rw_codec.h"

#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1000000000ll

/* ---- checks (pass 1) ------------------------------------------------------------------- */

/* The Timestamp p[0..n) as nanoseconds. */
static int read_timestamp(const uint8_t *p, size_t n, int64_t *ns)
{
    struct km_pb_reader r = { p, p + n };
    int64_t sec = 0;
    int32_t nanos = 0;
    struct km_pb_field f = { 0 };
    int rc;

    while (r.p < r.end) {
        rc = km_pb_next(&r, &f, "timestamp");
        if (rc)
            return rc;
        if (f.num == 1 || f.num == 2) {
            rc = km_pb_expect(&f, KM_PB_VARINT, "timestamp", f.num == 1 ? "seconds" : "nanos");
            if (rc)
                return rc;
            if (f.num == 1)
                sec = (int64_t)km_pb_varint(f.val, f.len);
            else
                nanos = (int32_t)(uint32_t)km_pb_varint(f.val, f.len);
        }
    }
    if (nanos < 0 || nanos >= NS_PER_S)
        return km_err_set(KM_EINVAL, "timestamp: nanos %d is outside [0, 999999999]", (int)nanos);
    /* The range of nanoseconds in an int64 (1677-09-21 to 2262-04-11), as Go's time. */
    if (sec < INT64_MIN / NS_PER_S || sec > INT64_MAX / NS_PER_S ||
        (sec == INT64_MAX / NS_PER_S && nanos > INT64_MAX % NS_PER_S))
        return km_err_set(KM_EINVAL,
                          "timestamp: %lld seconds is outside the range of nanoseconds since "
                          "1970 in 64 bits",
                          (long long)sec);
    *ns = sec * NS_PER_S + nanos;
    return 0;
}

static int check_timestamp(const uint8_t *p, size_t n)
{
    int64_t ns;

    return read_timestamp(p, n, &ns);
}

static int check_pair(const uint8_t *p, size_t n)
{
    static const struct km_pb_decl decl[] = { { 1, KM_PB_LEN, "name", NULL },
                                              { 2, KM_PB_LEN, "value", NULL } };

    return km_pb_check(p, n, "structured metadata", decl, 2);
}

static int check_entry(const uint8_t *p, size_t n)
{
    static const struct km_pb_decl decl[] = { { 1, KM_PB_LEN, "timestamp", check_timestamp },
                                              { 2, KM_PB_LEN, "line", NULL },
                                              { 3, KM_PB_LEN, "structuredMetadata", check_pair } };

    return km_pb_check(p, n, "entry", decl, 3);
}

/* Check the StreamAdapter p[0..n); *entries receives its number of entries. */
static int check_stream(const uint8_t *p, size_t n, size_t *entries)
{
    struct km_pb_reader r = { p, p + n };
    struct km_pb_field f = { 0 };
    size_t k = 0;
    int rc;

    while (r.p < r.end) {
        rc = km_pb_next(&r, &f, "stream");
        if (rc)
            return rc;
        switch (f.num) {
        case 1:
            rc = km_pb_expect(&f, KM_PB_LEN, "stream", "labels");
            break;
        case 2:
            rc = km_pb_expect(&f, KM_PB_LEN, "stream", "entries");
            if (rc == 0)
                rc = check_entry(f.val, f.len);
            if (rc)
                return km_err_wrap(rc, "entry %zu", k + 1);
            k++;
            break;
        case 3:
            rc = km_pb_expect(&f, KM_PB_VARINT, "stream", "hash");
            break;
        default:
            break;
        }
        if (rc)
            return rc;
    }
    *entries = k;
    return 0;
}

/* ---- filling (pass 2) ------------------------------------------------------------------ */

void km_loki_push_reset(struct km_loki_push *out, size_t len)
{
    if (out->arena.chunk_size == 0)
        km_arena_init(&out->arena, 65536, 0);
    else
        km_arena_reset(&out->arena);
    out->arena.max = SIZE_MAX;
    if (len < (SIZE_MAX - KM_LOKI_LIMIT_ARENA_EXTRA) / KM_LOKI_LIMIT_ARENA_FACTOR)
        out->arena.max = len * KM_LOKI_LIMIT_ARENA_FACTOR + KM_LOKI_LIMIT_ARENA_EXTRA;
    out->streams = NULL;
    out->n_streams = 0;
    out->n_entries = out->n_bytes = 0;
}

static int fill_stream(struct km_loki_push *out, const uint8_t *p, size_t n, size_t nentries,
                       struct km_log_push_stream *st)
{
    struct km_pb_reader r = { p, p + n };
    const uint8_t *labels = NULL;
    size_t labels_len = 0, k = 0;
    struct km_log_entry *e = NULL;
    struct km_label *l;
    struct km_pb_field f = { 0 };
    size_t nl;
    int rc;

    if (nentries) {
        e = km_arena_alloc(&out->arena, nentries * sizeof(*e), _Alignof(struct km_log_entry));
        if (!e)
            return km_err_wrap(KM_ELIMIT, "the request is too large to decode");
    }
    while (r.p < r.end && km_pb_next(&r, &f, "stream") == 0) {
        if (f.num == 1) {
            labels = f.val;
            labels_len = f.len;
        } else if (f.num == 2) {
            struct km_pb_reader er = { f.val, f.val + f.len };
            struct km_log_entry *en = &e[k++];
            struct km_pb_field ef = { 0 };

            en->ts_ns = 0;
            en->line = "";
            en->len = 0;
            while (er.p < er.end && km_pb_next(&er, &ef, "entry") == 0) {
                if (ef.num == 1) {
                    rc = read_timestamp(ef.val, ef.len, &en->ts_ns);
                    if (rc)
                        return rc; /* checked in pass 1: not reached */
                } else if (ef.num == 2) {
                    char *line = km_arena_alloc(&out->arena, ef.len + 1, 1);

                    if (!line)
                        return km_err_wrap(KM_ELIMIT, "the request is too large to decode");
                    memcpy(line, ef.val, ef.len);
                    line[ef.len] = '\0';
                    en->line = line;
                    en->len = ef.len;
                }
            }
            out->n_bytes += en->len;
        }
    }
    rc = km_loki_labels_parse(&out->arena, labels ? (const char *)labels : "", labels_len, &l, &nl);
    if (rc)
        return rc;
    st->labels = l;
    st->n_labels = nl;
    st->entries = e;
    st->n_entries = k;
    out->n_entries += k;
    return 0;
}

int km_loki_push_decode_proto(struct km_loki_push *out, const void *body, size_t len)
{
    const uint8_t *p = body;
    struct km_pb_reader r = { p, p + len };
    struct km_log_push_stream *st;
    size_t nstreams = 0, k = 0, nentries;
    struct km_pb_field f = { 0 };
    int rc;

    km_loki_push_reset(out, len);
    /* Pass 1: check everything and count the streams. */
    while (r.p < r.end) {
        rc = km_pb_next(&r, &f, "PushRequest");
        if (rc)
            return rc;
        if (f.num == 1) {
            rc = km_pb_expect(&f, KM_PB_LEN, "PushRequest", "streams");
            if (rc == 0)
                rc = check_stream(f.val, f.len, &nentries);
            if (rc)
                return km_err_wrap(rc, "stream %zu", nstreams + 1);
            nstreams++;
        }
    }
    if (nstreams == 0)
        return 0;
    st = km_arena_alloc(&out->arena, nstreams * sizeof(*st), _Alignof(struct km_log_push_stream));
    if (!st)
        return km_err_wrap(KM_ELIMIT, "the request is too large to decode");
    /* Pass 2: fill. */
    r.p = p;
    while (r.p < r.end && km_pb_next(&r, &f, "PushRequest") == 0) {
        if (f.num != 1)
            continue;
        rc = check_stream(f.val, f.len, &nentries);
        if (rc == 0)
            rc = fill_stream(out, f.val, f.len, nentries, &st[k]);
        if (rc) {
            out->n_entries = out->n_bytes = 0;
            return km_err_wrap(rc, "stream %zu", k + 1);
        }
        k++;
    }
    out->streams = st;
    out->n_streams = k;
    return 0;
}

void km_loki_push_fini(struct km_loki_push *p)
{
    if (!p)
        return;
    km_arena_fini(&p->arena);
    memset(p, 0, sizeof(*p));
}

/* ---- the labels string ---------------------------------------------------------------- */

static const char *skip_space(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    return s;
}

static bool name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

int km_loki_labels_parse(struct km_arena *arena, const char *s, size_t len, struct km_label **out,
                         size_t *n)
{
    struct km_label tmp[KM_LOKI_LIMIT_LABELS], *v;
    const char *p = s, *end = s + len;
    size_t k = 0;

    p = skip_space(p, end);
    if (p == end || *p != '{')
        return km_err_set(KM_EINVAL, "labels %.*s%s: they do not start with '{'",
                          (int)(len > 64 ? 64 : len), s, len > 64 ? "…" : "");
    p++;
    for (;;) {
        const char *name, *tok;
        size_t name_len, vlen;
        char *value, *val_copy, *name_copy;
        int rc;

        p = skip_space(p, end);
        if (p < end && *p == '}')
            break;
        if (p == end)
            return km_err_set(KM_EINVAL, "labels: missing '}' at the end");
        if (!name_start(*p))
            return km_err_set(KM_EINVAL, "labels: a label name was expected at offset %zu",
                              (size_t)(p - s));
        name = p;
        while (p < end && name_char(*p))
            p++;
        name_len = (size_t)(p - name);
        p = skip_space(p, end);
        if (p == end || *p != '=')
            return km_err_set(KM_EINVAL, "labels: '=' was expected after %.*s", (int)name_len,
                              name);
        p++;
        if (p < end && (*p == '~' || *p == '='))
            return km_err_set(KM_EINVAL, "labels: %.*s: only = is allowed in a stream's labels",
                              (int)name_len, name);
        p = skip_space(p, end);
        if (p == end || (*p != '"' && *p != '`'))
            return km_err_set(KM_EINVAL, "labels: %.*s: a quoted value was expected", (int)name_len,
                              name);
        tok = p++;
        if (*tok == '`') {
            while (p < end && *p != '`')
                p++;
        } else {
            while (p < end && *p != '"' && *p != '\n') {
                if (*p == '\\' && p + 1 < end)
                    p++;
                p++;
            }
        }
        if (p == end || *p != *tok)
            return km_err_set(KM_EINVAL, "labels: %.*s: unterminated quoted value", (int)name_len,
                              name);
        p++;
        if (k == KM_LOKI_LIMIT_LABELS)
            return km_err_set(KM_EINVAL, "labels: more than %d labels", KM_LOKI_LIMIT_LABELS);
        rc = km_promql_unquote(tok, (size_t)(p - tok), &value, &vlen);
        if (rc)
            return km_err_wrap(rc, "labels: %.*s", (int)name_len, name);
        if (memchr(value, '\0', vlen)) {
            free(value);
            return km_err_set(KM_EINVAL, "labels: the value of %.*s holds a NUL byte",
                              (int)name_len, name);
        }
        val_copy = km_arena_strndup(arena, value, vlen);
        free(value);
        name_copy = km_arena_strndup(arena, name, name_len);
        if (!val_copy || !name_copy)
            return km_err_wrap(KM_ELIMIT, "labels");
        tmp[k].name = name_copy;
        tmp[k].value = val_copy;
        k++;
        p = skip_space(p, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}')
            break;
        return km_err_set(KM_EINVAL, "labels: ',' or '}' was expected after the value of %.*s",
                          (int)name_len, name);
    }
    p = skip_space(p + 1, end);
    if (p != end)
        return km_err_set(KM_EINVAL, "labels: unexpected text after '}' at offset %zu",
                          (size_t)(p - s));
    v = km_arena_alloc(arena, (k ? k : 1) * sizeof(*v), _Alignof(struct km_label));
    if (!v)
        return km_err_wrap(KM_ELIMIT, "labels");
    memcpy(v, tmp, k * sizeof(*v));
    *out = v;
    *n = k;
    return 0;
}

int km_loki_labels_format(struct km_buf *out, const struct km_label *l, size_t n)
{
    struct km_label *v = NULL;

    if (n) {
        v = malloc(n * sizeof(*v));
        if (!v)
            return km_err_set(KM_ENOMEM, "out of memory formatting labels");
        memcpy(v, l, n * sizeof(*v));
        km_labels_sort(v, n);
    }
    km_buf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            km_buf_puts(out, ", ");
        km_buf_puts(out, v[i].name);
        km_buf_putc(out, '=');
        km_promql_quote(out, v[i].value, strlen(v[i].value));
    }
    km_buf_putc(out, '}');
    free(v);
    if (km_buf_error(out))
        return km_err_set(km_buf_error(out), "labels do not fit in the buffer");
    return 0;
}

/* ---- encoding ---------------------------------------------------------------------------- */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_varint(struct km_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;

    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    km_buf_append(b, tmp, n);
}

/* Seconds and nanos of a time in nanoseconds (nanos in [0, 1e9)). */
static void split_ts(int64_t ns, int64_t *sec, int32_t *nanos)
{
    int64_t s = ns / NS_PER_S, r = ns % NS_PER_S;

    if (r < 0) {
        r += NS_PER_S;
        s--;
    }
    *sec = s;
    *nanos = (int32_t)r;
}

/* Bytes of a Timestamp message (proto3: zero fields are not written). */
static size_t ts_size(int64_t sec, int32_t nanos)
{
    return (sec ? 1 + varint_size((uint64_t)sec) : 0) +
           (nanos ? 1 + varint_size((uint64_t)(int64_t)nanos) : 0);
}

static size_t entry_size(const struct km_log_entry *e)
{
    int64_t sec;
    int32_t nanos;
    size_t t;

    split_ts(e->ts_ns, &sec, &nanos);
    t = ts_size(sec, nanos);
    return 1 + varint_size(t) + t + (e->len ? 1 + varint_size(e->len) + e->len : 0);
}

static void put_entry(struct km_buf *b, const struct km_log_entry *e)
{
    int64_t sec;
    int32_t nanos;

    split_ts(e->ts_ns, &sec, &nanos);
    km_buf_putc(b, 0x0a);
    put_varint(b, ts_size(sec, nanos));
    if (sec) {
        km_buf_putc(b, 0x08);
        put_varint(b, (uint64_t)sec);
    }
    if (nanos) {
        km_buf_putc(b, 0x10);
        put_varint(b, (uint64_t)(int64_t)nanos);
    }
    if (e->len) {
        km_buf_putc(b, 0x12);
        put_varint(b, e->len);
        km_buf_append(b, e->line, e->len);
    }
}

int km_loki_push_encode(struct km_buf *out, const struct km_log_push_stream *st, size_t n)
{
    struct km_buf pb, lab;
    int rc = 0;

    km_buf_init(&pb, 0);
    km_buf_init(&lab, 0);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t size = 0;

        km_buf_reset(&lab);
        rc = km_loki_labels_format(&lab, st[i].labels, st[i].n_labels);
        if (rc)
            break;
        for (size_t k = 0; k < st[i].n_entries; k++) {
            size_t es = entry_size(&st[i].entries[k]);

            size += 1 + varint_size(es) + es;
        }
        size += 1 + varint_size(lab.len) + lab.len;
        km_buf_putc(&pb, 0x0a);
        put_varint(&pb, size);
        km_buf_putc(&pb, 0x0a);
        put_varint(&pb, lab.len);
        km_buf_append(&pb, lab.data, lab.len);
        for (size_t k = 0; k < st[i].n_entries; k++) {
            km_buf_putc(&pb, 0x12);
            put_varint(&pb, entry_size(&st[i].entries[k]));
            put_entry(&pb, &st[i].entries[k]);
        }
        if (km_buf_error(&pb))
            rc = km_err_set(km_buf_error(&pb), "the push request is too large to encode");
    }
    if (rc == 0)
        rc = km_rw_compress(out, pb.data ? pb.data : "", pb.len);
    km_buf_fini(&lab);
    km_buf_fini(&pb);
    return rc;
}
