/*
 * loki_push — the wire of Loki's push API (POST /loki/api/v1/push), both ways:
 *   - decoding what promtail, Grafana Alloy, Fluent Bit, Vector and logging libraries
 *     send: logproto.PushRequest as protobuf (Content-Type application/x-protobuf, the
 *     body snappy block-compressed, as Loki requires) and the JSON form
 *     ({"streams":[{"stream":{"k":"v"},"values":[["<ns>","line"(,{metadata})]]}]});
 *     a protobuf stream's labels arrive as a string in Prometheus' selector syntax
 *     (`{namespace="x", pod="y"}`) and are parsed as Loki parses them;
 *   - encoding a PushRequest (protobuf, snappy) from struct km_log_push_stream: what
 *     kmon's agent ships.
 * Structured metadata (Loki 3) is accepted and dropped: the store keeps labels and lines.
 *
 * Decoded streams and entries borrow from the request's arena (struct km_loki_push owns
 * it). Strict: malformed input is KM_EINVAL with a message a client can act on (which
 * stream or value, and what is wrong); every count and length is bounded, so no input
 * can make the decoder allocate past a small multiple of its size. Pure functions;
 * thread-safe.
 */
#ifndef KMON_REMOTE_LOKI_PUSH_H
#define KMON_REMOTE_LOKI_PUSH_H

#include "common/arena.h"
#include "common/buf.h"
#include "logs/logtypes.h"

#include <stddef.h>
#include <stdint.h>

/* Caps of the decoders (they belong with src/common/limits.h): labels of one stream,
 * and the arena of one decoded request, which holds every line, label and entry of the
 * body (a small multiple of its length plus a constant). */
#define KM_LOKI_LIMIT_LABELS       256
#define KM_LOKI_LIMIT_ARENA_FACTOR 32
#define KM_LOKI_LIMIT_ARENA_EXTRA  (1u << 20)

/* A decoded push request. Zero it before the first decode; km_loki_push_fini() frees. */
struct km_loki_push {
    struct km_log_push_stream *streams; /* into the arena */
    size_t n_streams;
    uint64_t n_entries, n_bytes; /* entries and line bytes over all streams */
    struct km_arena arena;
};

/* Decode a protobuf PushRequest already snappy-uncompressed (km_rw_uncompress). Lines
 * and labels are copied into out's arena: body may be freed afterwards. A struct decoded
 * into before is reused (its arena reset); on failure it holds no streams. */
int km_loki_push_decode_proto(struct km_loki_push *out, const void *body, size_t len);

/* Decode the JSON form. Timestamps are strings of nanoseconds ("1700000000000000000");
 * Loki also takes numbers in them, and so does kmon. */
int km_loki_push_decode_json(struct km_loki_push *out, const char *body, size_t len);

void km_loki_push_fini(struct km_loki_push *p);

/* Parse a stream's labels string (`{a="b", c="d"}`, Go-quoted values, no other
 * matchers than =) into pairs allocated from `arena`. */
int km_loki_labels_parse(struct km_arena *arena, const char *s, size_t len, struct km_label **out,
                         size_t *n);

/* Append the stream's labels as Loki writes them (`{a="b", c="d"}`, sorted, Go-quoted)
 * to out. */
int km_loki_labels_format(struct km_buf *out, const struct km_label *l, size_t n);

/* Replace out's contents with the protobuf PushRequest of st[0..n), snappy-compressed:
 * a body ready to POST with Content-Type application/x-protobuf. */
int km_loki_push_encode(struct km_buf *out, const struct km_log_push_stream *st, size_t n);

#endif
