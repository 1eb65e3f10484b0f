/*
 * Unit tests: Loki's push wire — kmon's encoder writes exactly the bytes protoc-c packs
 * for the same PushRequest; what protoc-c packs (with structured metadata, hashes and
 * unknown fields) decodes to the same streams; the labels string parsed and formatted as
 * Loki does; the JSON forms; malformed bodies refused each with its message; the
 * decoder's memory bounded by the body's size.
 */
#include "common/err.h"
#include "loki.pb-c.h"
#include "remote/loki_push.h"
#include "remote/rw_codec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Snappy-uncompress an encoded body. */
static void uncompress(struct km_buf *raw, const struct km_buf *body)
{
    assert_int_equal(km_rw_uncompress(raw, body->data, body->len, 1u << 26), 0);
}

/* protoc-c's packing of one stream per label string, entries (ts, line). */
static uint8_t *reference_pack(const char **labels, size_t nstreams, const int64_t *ts,
                               const char **lines, size_t per_stream, size_t *len)
{
    Logproto__PushRequest req = LOGPROTO__PUSH_REQUEST__INIT;
    Logproto__StreamAdapter *st = calloc(nstreams, sizeof(*st)),
                            **stp = calloc(nstreams, sizeof(*stp));
    size_t ne = nstreams * per_stream;
    Logproto__EntryAdapter *e = calloc(ne, sizeof(*e)), **ep = calloc(ne, sizeof(*ep));
    Logproto__Timestamp *t = calloc(ne, sizeof(*t));
    uint8_t *out;

    for (size_t i = 0; i < nstreams; i++) {
        logproto__stream_adapter__init(&st[i]);
        st[i].labels = (char *)labels[i];
        st[i].n_entries = per_stream;
        st[i].entries = &ep[i * per_stream];
        stp[i] = &st[i];
        for (size_t k = 0; k < per_stream; k++) {
            size_t j = i * per_stream + k;
            int64_t s = ts[j] / 1000000000, r = ts[j] % 1000000000;

            if (r < 0) {
                r += 1000000000;
                s--;
            }
            logproto__entry_adapter__init(&e[j]);
            logproto__timestamp__init(&t[j]);
            t[j].seconds = s;
            t[j].nanos = (int32_t)r;
            e[j].timestamp = &t[j];
            e[j].line = (char *)lines[j];
            ep[j] = &e[j];
        }
    }
    req.n_streams = nstreams;
    req.streams = stp;
    *len = logproto__push_request__get_packed_size(&req);
    out = malloc(*len + 1);
    logproto__push_request__pack(&req, out);
    free(st);
    free(stp);
    free(e);
    free(ep);
    free(t);
    return out;
}

static void test_encode_matches_protoc_c(void **state)
{
    static const int64_t ts[] = { 1700000000123456789ll, 0, -1, 1, -1500000000ll,
                                  9223372036854775807ll };
    static const char *lines[] = { "hello", "", "é ü \t tab", "x", "neg", "max" };
    struct km_label l0[] = { { "pod", "p-1" }, { "namespace", "default" }, { "app", "q\"uote\n" } };
    struct km_label l1[] = { { "job", "x" } };
    struct km_log_entry e[6];
    struct km_log_push_stream st[2] = {
        { l0, 3, e, 3 },
        { l1, 1, e + 3, 3 },
    };
    const char *labels[] = { "{app=\"q\\\"uote\\n\", namespace=\"default\", pod=\"p-1\"}",
                             "{job=\"x\"}" };
    struct km_buf body, raw;
    uint8_t *ref;
    size_t ref_len;

    (void)state;
    for (size_t i = 0; i < 6; i++)
        e[i] = (struct km_log_entry){ ts[i], lines[i], strlen(lines[i]) };
    km_buf_init(&body, 0);
    km_buf_init(&raw, 0);
    assert_int_equal(km_loki_push_encode(&body, st, 2), 0);
    uncompress(&raw, &body);
    ref = reference_pack(labels, 2, ts, lines, 3, &ref_len);
    assert_int_equal(raw.len, ref_len);
    assert_memory_equal(raw.data, ref, ref_len);
    free(ref);

    /* And back. */
    {
        struct km_loki_push p = { 0 };

        assert_int_equal(km_loki_push_decode_proto(&p, raw.data, raw.len), 0);
        assert_int_equal(p.n_streams, 2);
        assert_int_equal(p.n_entries, 6);
        assert_int_equal(p.streams[0].n_labels, 3);
        assert_string_equal(p.streams[0].labels[0].name, "app");
        assert_string_equal(p.streams[0].labels[0].value, "q\"uote\n");
        assert_string_equal(p.streams[0].labels[2].value, "p-1");
        for (size_t i = 0; i < 6; i++) {
            const struct km_log_entry *d = &p.streams[i / 3].entries[i % 3];

            assert_true(d->ts_ns == ts[i]);
            assert_int_equal(d->len, strlen(lines[i]));
            assert_memory_equal(d->line, lines[i], d->len);
        }
        km_loki_push_fini(&p);
    }
    km_buf_fini(&raw);
    km_buf_fini(&body);
}

/* Lines are bytes: NUL and invalid UTF-8 travel as they are. */
static void test_binary_lines(void **state)
{
    static const char line[] = { 'a', 0, (char)0xff, 'b' };
    struct km_label l[] = { { "a", "b" } };
    struct km_log_entry e = { 42, line, sizeof(line) };
    struct km_log_push_stream st = { l, 1, &e, 1 };
    struct km_loki_push p = { 0 };
    struct km_buf body, raw;

    (void)state;
    km_buf_init(&body, 0);
    km_buf_init(&raw, 0);
    assert_int_equal(km_loki_push_encode(&body, &st, 1), 0);
    uncompress(&raw, &body);
    assert_int_equal(km_loki_push_decode_proto(&p, raw.data, raw.len), 0);
    assert_int_equal(p.streams[0].entries[0].len, sizeof(line));
    assert_memory_equal(p.streams[0].entries[0].line, line, sizeof(line));
    assert_int_equal(p.n_bytes, sizeof(line));
    /* Decoding again into the same struct reuses it. */
    assert_int_equal(km_loki_push_decode_proto(&p, raw.data, raw.len), 0);
    assert_int_equal(p.n_entries, 1);
    km_loki_push_fini(&p);
    km_loki_push_fini(&p);
    km_buf_fini(&raw);
    km_buf_fini(&body);
}

/* What other senders write: structured metadata, a hash, unknown fields, labels given
 * twice (the last counts), a stream without entries. */
static void test_decode_protoc_c_extras(void **state)
{
    Logproto__PushRequest req = LOGPROTO__PUSH_REQUEST__INIT;
    Logproto__StreamAdapter s = LOGPROTO__STREAM_ADAPTER__INIT, s2 = LOGPROTO__STREAM_ADAPTER__INIT;
    Logproto__StreamAdapter *sp[2] = { &s, &s2 };
    Logproto__EntryAdapter e = LOGPROTO__ENTRY_ADAPTER__INIT, *ep = &e;
    Logproto__Timestamp t = LOGPROTO__TIMESTAMP__INIT;
    Logproto__LabelPairAdapter md = LOGPROTO__LABEL_PAIR_ADAPTER__INIT, *mdp = &md;
    struct km_loki_push p = { 0 };
    uint8_t buf[512];
    size_t n;

    (void)state;
    t.seconds = 1700000000;
    t.nanos = 5;
    e.timestamp = &t;
    e.line = "with metadata";
    md.name = "trace_id";
    md.value = "abc";
    e.n_structuredmetadata = 1;
    e.structuredmetadata = &mdp;
    s.labels = "{ service_name = \"api\" , env=`prod`, }";
    s.hash = 12345;
    s.n_entries = 1;
    s.entries = &ep;
    s2.labels = "{x=\"y\"}";
    req.n_streams = 2;
    req.streams = sp;
    n = logproto__push_request__pack(&req, buf);
    /* An unknown field (number 9, varint) at the end of the request. */
    buf[n++] = 9 << 3;
    buf[n++] = 1;
    assert_int_equal(km_loki_push_decode_proto(&p, buf, n), 0);
    assert_int_equal(p.n_streams, 2);
    assert_int_equal(p.streams[0].n_labels, 2);
    assert_string_equal(p.streams[0].labels[0].name, "service_name");
    assert_string_equal(p.streams[0].labels[0].value, "api");
    assert_string_equal(p.streams[0].labels[1].name, "env");
    assert_string_equal(p.streams[0].labels[1].value, "prod");
    assert_true(p.streams[0].entries[0].ts_ns == 1700000000000000005ll);
    assert_int_equal(p.streams[0].entries[0].len, strlen("with metadata"));
    assert_int_equal(p.streams[1].n_entries, 0);
    assert_int_equal(p.n_entries, 1);
    km_loki_push_fini(&p);

    /* An empty body is a request without streams. */
    assert_int_equal(km_loki_push_decode_proto(&p, "", 0), 0);
    assert_int_equal(p.n_streams, 0);
    km_loki_push_fini(&p);
}

struct bad {
    const char *bytes;
    size_t len;
    const char *msg; /* a part of the message */
};

#define B(s) s, sizeof(s) - 1

static void test_malformed_proto(void **state)
{
    static const struct bad cases[] = {
        { B("\x0a"), "malformed length" },
        { B("\x0a\x05\x0a\x01"), "runs past the message" },
        { B("\x00\x01"), "field number 0" },
        { B("\x08\x01"), "field streams has wire type 0" },
        /* stream 1: labels as a varint */
        { B("\x0a\x02\x08\x01"), "stream 1: stream: field labels has wire type 0" },
        /* stream 1: labels `x` (no brace) */
        { B("\x0a\x03\x0a\x01x"), "stream 1: labels x: they do not start with '{'" },
        /* entry with nanos -1 */
        { B("\x0a\x12\x0a\x03{a=\"\x12\x0b\x0a\x0b\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
          "runs past" },
        { B("\x0a\x12\x0a\x00\x12\x0e\x0a\x0c\x08\x01\x10\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
          "stream 1: entry 1: timestamp: nanos -1 is outside [0, 999999999]" },
        /* seconds 2^62 */
        { B("\x0a\x10\x0a\x00\x12\x0c\x0a\x0a\x08\x80\x80\x80\x80\x80\x80\x80\x80\x40"),
          "stream 1: entry 1: timestamp: 4611686018427387904 seconds is outside" },
        /* an entry's line as a 32-bit field */
        { B("\x0a\x09\x0a\x00\x12\x05\x15\x01\x02\x03\x04"),
          "stream 1: entry 1: entry: field line has wire type 5" },
        { B("\x0a\x03\x0a\x01\x7b"), "stream 1: labels: missing '}'" },
        { B("\x0a\x0a\x0a\x08{a=~\"b\"}"), "only = is allowed" },
        { B("\x0a\x0a\x0a\x08{a=\"\\x\"}"), "stream 1: labels: a" },
        { B("\x0a\x0c\x0a\x0a{a=\"\\x00\"}"), "holds a NUL byte" },
        { B("\x0a\x09\x0a\x07{a=\"b\"}\x13"), "unsupported wire type 3" },
        { B("\x0a\x08\x0a\x06{1=\"\"}"), "a label name was expected" },
        { B("\x0a\x09\x0a\x07{a=\"b\"x"), "',' or '}' was expected after the value of a" },
        { B("\x0a\x0a\x0a\x08{a=\"b\"}x"), "unexpected text after '}'" },
        { B("\x0a\x06\x0a\x04{a=}"), "a quoted value was expected" },
        { B("\x0a\x08\x0a\x06{a=\"b}"), "unterminated quoted value" },
        { B("\x0a\x02\x18\x80"), "unterminated varint" },
    };
    struct km_loki_push p = { 0 };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = km_loki_push_decode_proto(&p, cases[i].bytes, cases[i].len);

        if (rc != KM_EINVAL || !strstr(km_err_msg(), cases[i].msg))
            fail_msg("case %zu: rc %d, message \"%s\", expected \"%s\"", i, rc, km_err_msg(),
                     cases[i].msg);
        assert_int_equal(p.n_streams, 0);
        assert_int_equal(p.n_entries, 0);
    }
    km_loki_push_fini(&p);
}

static void test_labels(void **state)
{
    struct km_arena a;
    struct km_label *l;
    struct km_buf b;
    size_t n;
    const char *s = "{b=\"\\u00e9\\t\", a=\"x\\\\y\", c=\"\"}";

    (void)state;
    km_arena_init(&a, 1024, 0);
    km_buf_init(&b, 0);
    assert_int_equal(km_loki_labels_parse(&a, s, strlen(s), &l, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(l[0].name, "b");
    assert_string_equal(l[0].value, "\xc3\xa9\t");
    assert_string_equal(l[1].value, "x\\y");
    assert_string_equal(l[2].value, "");
    assert_int_equal(km_loki_labels_format(&b, l, n), 0);
    assert_string_equal(b.data, "{a=\"x\\\\y\", b=\"é\\t\", c=\"\"}");
    km_buf_reset(&b);
    assert_int_equal(km_loki_labels_parse(&a, "{}", 2, &l, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(km_loki_labels_format(&b, l, n), 0);
    assert_string_equal(b.data, "{}");
    km_buf_reset(&b);
    /* Invalid UTF-8 and control bytes are written as Go's strconv.Quote does. */
    {
        struct km_label q[] = { { "z", "\xff\x01" } };

        assert_int_equal(km_loki_labels_format(&b, q, 1), 0);
        assert_string_equal(b.data, "{z=\"\\xff\\x01\"}");
    }
    km_buf_fini(&b);
    km_arena_fini(&a);
}

static void decode_json_ok(struct km_loki_push *p, const char *body)
{
    int rc = km_loki_push_decode_json(p, body, strlen(body));

    if (rc)
        fail_msg("%s: %s", body, km_err_msg());
}

static void test_json(void **state)
{
    struct km_loki_push p = { 0 };

    (void)state;
    decode_json_ok(&p, "{\"streams\":[{\"stream\":{\"app\":\"web\",\"pod\":\"a\"},\"values\":["
                       "[\"1700000000000000001\",\"first\"],"
                       "[1700000000000000002,\"sec\\u0000ond\"],"
                       "[\"-5\",\"third\",{\"trace_id\":\"x\"}]]},"
                       "{\"stream\":{\"app\":\"db\"},\"values\":[]}]}");
    assert_int_equal(p.n_streams, 2);
    assert_int_equal(p.n_entries, 3);
    assert_int_equal(p.streams[0].n_labels, 2);
    assert_string_equal(p.streams[0].labels[0].name, "app");
    assert_string_equal(p.streams[0].labels[0].value, "web");
    assert_true(p.streams[0].entries[0].ts_ns == 1700000000000000001ll);
    assert_true(p.streams[0].entries[1].ts_ns == 1700000000000000002ll);
    assert_int_equal(p.streams[0].entries[1].len, 7);
    assert_memory_equal(p.streams[0].entries[1].line, "sec\0ond", 7);
    assert_true(p.streams[0].entries[2].ts_ns == -5);
    assert_int_equal(p.n_bytes, 5 + 7 + 5);
    assert_int_equal(p.streams[1].n_entries, 0);

    /* Loki's older form. */
    decode_json_ok(&p, "{\"streams\":[{\"labels\":\"{job=\\\"x\\\"}\",\"entries\":["
                       "{\"ts\":\"2018-12-18T08:28:06.801064-04:00\",\"line\":\"old\"}]}]}");
    assert_int_equal(p.n_streams, 1);
    assert_string_equal(p.streams[0].labels[0].name, "job");
    assert_true(p.streams[0].entries[0].ts_ns == 1545136086801064000ll);
    assert_memory_equal(p.streams[0].entries[0].line, "old", 3);

    decode_json_ok(&p, "{\"streams\":[]}");
    assert_int_equal(p.n_streams, 0);
    km_loki_push_fini(&p);
}

static void test_malformed_json(void **state)
{
    static const struct {
        const char *body, *msg;
    } cases[] = {
        { "", "not JSON" },
        { "{\"streams\":[", "not JSON" },
        { "[]", "not a JSON object" },
        { "{}", "no \"streams\" array" },
        { "{\"streams\":{}}", "no \"streams\" array" },
        { "{\"streams\":[1]}", "stream 1: not an object" },
        { "{\"streams\":[{\"values\":[]}]}", "stream 1: no \"stream\" object" },
        { "{\"streams\":[{\"stream\":{\"a\":1},\"values\":[]}]}", "label a is not a string" },
        { "{\"streams\":[{\"stream\":{\"a\":\"\\u0000\"},\"values\":[]}]}", "holds a NUL" },
        { "{\"streams\":[{\"stream\":{\"a\":\"b\"}}]}", "no \"values\" array" },
        { "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":{}}]}",
          "\"values\" is not an array" },
        { "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\"]]}]}",
          "stream 1: value 1: not an array" },
        { "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\",\"x\"],[\"abc\",\"x\"]]}]}",
          "stream 1: value 2: timestamp \"abc\" is not a number" },
        { "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"99999999999999999999\",\"x\"]]}]"
          "}",
          "out of range" },
        { "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[1.5,\"x\"]]}]}",
          "not a string of nanoseconds" },
        { "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\",2]]}]}",
          "line is not a string" },
        { "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\",\"x\",{\"k\":1}]]}]}",
          "structured metadata k is not a string" },
        { "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\",\"x\",[]]]}]}",
          "metadata is not an object" },
        { "{\"streams\":[{\"labels\":\"{a=\\\"b\\\"}\",\"entries\":[{\"ts\":\"yesterday\",\"line\":"
          "\"x\"}]}]}",
          "stream 1: entry 1" },
        { "{\"streams\":[{\"labels\":\"a\",\"entries\":[]}]}", "do not start with '{'" },
    };
    struct km_loki_push p = { 0 };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = km_loki_push_decode_json(&p, cases[i].body, strlen(cases[i].body));

        if (rc != KM_EINVAL || !strstr(km_err_msg(), cases[i].msg))
            fail_msg("case %zu (%s): rc %d, message \"%s\", expected \"%s\"", i, cases[i].body, rc,
                     km_err_msg(), cases[i].msg);
        assert_int_equal(p.n_streams, 0);
    }
    km_loki_push_fini(&p);
}

/* The smallest entries cost the most memory per byte of body: the arena stays within
 * its bound of a multiple of the body. */
static void test_memory_bound(void **state)
{
    size_t n_entries = 200000, len = 0;
    uint8_t *body = malloc(16 + 2 * n_entries);
    struct km_loki_push p = { 0 };
    size_t inner = 4 + 2 * n_entries;

    (void)state;
    body[len++] = 0x0a;
    while (inner >= 0x80) {
        body[len++] = (uint8_t)(inner | 0x80);
        inner >>= 7;
    }
    body[len++] = (uint8_t)inner;
    memcpy(body + len, "\x0a\x02{}", 4);
    len += 4;
    for (size_t i = 0; i < n_entries; i++) {
        body[len++] = 0x12;
        body[len++] = 0x00;
    }
    assert_int_equal(km_loki_push_decode_proto(&p, body, len), 0);
    assert_int_equal(p.n_entries, n_entries);
    assert_true(p.arena.total <= len * KM_LOKI_LIMIT_ARENA_FACTOR + KM_LOKI_LIMIT_ARENA_EXTRA);
    km_loki_push_fini(&p);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_matches_protoc_c),
        cmocka_unit_test(test_binary_lines),
        cmocka_unit_test(test_decode_protoc_c_extras),
        cmocka_unit_test(test_malformed_proto),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_memory_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
