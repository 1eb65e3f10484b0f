/*
 * fuzz_loki_push_proto — the in-place decoder of Loki's PushRequest against the
 * protobuf-c code generated from the same loki.proto, on arbitrary bytes. A body the
 * decoder accepts, protobuf-c accepts too, with the same streams, entries, timestamps
 * and lines (kmon refuses more: labels that do not parse, timestamps out of range).
 * What it accepts encodes again and decodes to the same streams.
 */
#include "common/labels.h"
#include "fuzz_common.h"
#include "loki.pb-c.h"
#include "remote/loki_push.h"
#include "remote/rw_codec.h"

/* protobuf-c's strings end at the first NUL; ours carry the bytes as sent. */
static bool same_string(const char *ref, const char *p, size_t n)
{
    size_t k = strnlen(p, n);

    return strlen(ref) == k && memcmp(ref, p, k) == 0;
}

static void same_streams(const struct km_loki_push *a, const struct km_loki_push *b)
{
    CHECK(a->n_streams == b->n_streams);
    CHECK(a->n_entries == b->n_entries);
    CHECK(a->n_bytes == b->n_bytes);
    for (size_t i = 0; i < a->n_streams; i++) {
        const struct km_log_push_stream *x = &a->streams[i], *y = &b->streams[i];
        struct km_label lx[KM_LOKI_LIMIT_LABELS], ly[KM_LOKI_LIMIT_LABELS];

        CHECK(x->n_labels == y->n_labels && x->n_entries == y->n_entries);
        memcpy(lx, x->labels, x->n_labels * sizeof(lx[0]));
        memcpy(ly, y->labels, y->n_labels * sizeof(ly[0]));
        km_labels_sort(lx, x->n_labels);
        km_labels_sort(ly, y->n_labels);
        for (size_t k = 0; k < x->n_labels; k++)
            CHECK(strcmp(lx[k].name, ly[k].name) == 0 && strcmp(lx[k].value, ly[k].value) == 0);
        for (size_t k = 0; k < x->n_entries; k++) {
            CHECK(x->entries[k].ts_ns == y->entries[k].ts_ns);
            CHECK(x->entries[k].len == y->entries[k].len);
            CHECK(memcmp(x->entries[k].line, y->entries[k].line, x->entries[k].len) == 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = fuzz_copy(data, size);
    struct km_loki_push p = { 0 }, q = { 0 };
    Logproto__PushRequest *ref;
    struct km_buf body, raw;
    int rc;

    if (!copy)
        return 0;
    rc = km_loki_push_decode_proto(&p, copy, size);
    ref = logproto__push_request__unpack(NULL, size, (const uint8_t *)copy);
    if (rc == 0) {
        CHECK(ref != NULL);
        CHECK(ref->n_streams == p.n_streams);
        for (size_t i = 0; i < p.n_streams; i++) {
            const Logproto__StreamAdapter *rs = ref->streams[i];

            CHECK(rs->n_entries == p.streams[i].n_entries);
            for (size_t k = 0; k < rs->n_entries; k++) {
                const Logproto__EntryAdapter *re = rs->entries[k];
                const struct km_log_entry *e = &p.streams[i].entries[k];
                int64_t ts = re->timestamp
                                 ? re->timestamp->seconds * 1000000000ll + re->timestamp->nanos
                                 : 0;

                CHECK(ts == e->ts_ns);
                CHECK(same_string(re->line, e->line, e->len));
            }
        }
        /* Encode and decode again: the same streams. */
        km_buf_init(&body, 0);
        km_buf_init(&raw, 0);
        CHECK(km_loki_push_encode(&body, p.streams, p.n_streams) == 0);
        CHECK(km_rw_uncompress(&raw, body.data, body.len, 1u << 30) == 0);
        CHECK(km_loki_push_decode_proto(&q, raw.data, raw.len) == 0);
        same_streams(&p, &q);
        km_loki_push_fini(&q);
        km_buf_fini(&raw);
        km_buf_fini(&body);
    }
    if (ref)
        logproto__push_request__free_unpacked(ref, NULL);
    km_loki_push_fini(&p);
    free(copy);
    return 0;
}
