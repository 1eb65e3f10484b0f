/*
 * fuzz_loki_push_json — the JSON decoder of Loki's push API on arbitrary bytes: an
 * error or a request whose counts add up; a request whose label names are valid
 * encodes to protobuf and decodes back to the same streams, lines and timestamps.
 */
#include "common/labels.h"
#include "fuzz_common.h"
#include "remote/loki_push.h"
#include "remote/rw_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = fuzz_copy(data, size);
    struct km_loki_push p = { 0 }, q = { 0 };
    bool names_ok = true;
    uint64_t entries = 0, bytes = 0;

    if (!copy)
        return 0;
    if (km_loki_push_decode_json(&p, copy, size) != 0)
        goto out;
    for (size_t i = 0; i < p.n_streams; i++) {
        entries += p.streams[i].n_entries;
        for (size_t k = 0; k < p.streams[i].n_entries; k++)
            bytes += p.streams[i].entries[k].len;
        for (size_t k = 0; k < p.streams[i].n_labels; k++)
            names_ok &= km_label_name_valid(p.streams[i].labels[k].name,
                                            strlen(p.streams[i].labels[k].name));
    }
    CHECK(entries == p.n_entries && bytes == p.n_bytes);
    if (names_ok) {
        struct km_buf body, raw;

        km_buf_init(&body, 0);
        km_buf_init(&raw, 0);
        CHECK(km_loki_push_encode(&body, p.streams, p.n_streams) == 0);
        CHECK(km_rw_uncompress(&raw, body.data, body.len, 1u << 30) == 0);
        CHECK(km_loki_push_decode_proto(&q, raw.data, raw.len) == 0);
        CHECK(q.n_streams == p.n_streams && q.n_entries == p.n_entries && q.n_bytes == p.n_bytes);
        for (size_t i = 0; i < p.n_streams; i++)
            for (size_t k = 0; k < p.streams[i].n_entries; k++) {
                const struct km_log_entry *a = &p.streams[i].entries[k],
                                          *b = &q.streams[i].entries[k];

                CHECK(a->ts_ns == b->ts_ns && a->len == b->len);
                CHECK(memcmp(a->line, b->line, a->len) == 0);
            }
        km_loki_push_fini(&q);
        km_buf_fini(&raw);
        km_buf_fini(&body);
    }
out:
    km_loki_push_fini(&p);
    free(copy);
    return 0;
}
