/*
 * pbread — reading protobuf messages in place, field by field, with protobuf-c 1.4's
 * acceptance rules: what rw_decode (remote_write) and loki_push (Loki's push) share.
 * No allocation, no copy; pure functions over caller-owned bytes; thread-safe.
 *
 * The rules: a tag is a varint of at most 5 bytes whose first byte has field bits (field
 * number 0 is refused); a length prefix is at most 5 bytes and within the message; a
 * varint value at most 10 bytes; wire types 3, 4, 6 and 7 are errors anywhere. A known
 * field with another wire type than its declaration's is the caller's check
 * (km_pb_expect()); unknown fields are skipped by reading past them.
 *
 * Wire format reminders: a field is a varint tag (field number << 3 | wire type) then a
 * varint (type 0), 8 bytes (1), a varint length and that many bytes (2) or 4 bytes (5).
 */
#ifndef KMON_REMOTE_PBREAD_H
#define KMON_REMOTE_PBREAD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { KM_PB_VARINT = 0, KM_PB_64BIT = 1, KM_PB_LEN = 2, KM_PB_32BIT = 5 };

/* The bytes of one message still to read: [p, end). */
struct km_pb_reader {
    const uint8_t *p, *end;
};

/* One field as read. */
struct km_pb_field {
    uint32_t num;
    unsigned wt;          /* KM_PB_* */
    const uint8_t *start; /* the tag's first byte */
    const uint8_t *val;   /* the value (after the length prefix for KM_PB_LEN) */
    size_t len;           /* bytes of the value (of the varint itself for KM_PB_VARINT) */
};

/* Read any field at r->p (r->p < r->end): its tag, then its value by wire type. On
 * success *f is the field and r->p is past it; 0, or KM_EINVAL (the message `where`
 * named in the error) with r and *f in an unspecified state. */
int km_pb_next_slow(struct km_pb_reader *r, struct km_pb_field *f, const char *where);

/* km_pb_next_slow() with its common case inline: a one-byte tag of a LEN field with a
 * one-byte length (labels, their strings, small messages). Same contract. */
static inline int km_pb_next(struct km_pb_reader *r, struct km_pb_field *f, const char *where)
{
    const uint8_t *p = r->p;
    size_t rem = (size_t)(r->end - p);

    if ((p[0] & 0x87) == KM_PB_LEN && (p[0] & 0xf8) && rem >= 2 && p[1] < 0x80 &&
        (size_t)p[1] <= rem - 2) {
        f->start = p;
        f->num = p[0] >> 3;
        f->wt = KM_PB_LEN;
        f->val = p + 2;
        f->len = p[1];
        r->p = p + 2 + f->len;
        return 0;
    }
    return km_pb_next_slow(r, f, where);
}

/* The error of km_pb_expect(): KM_EINVAL naming the message, the field and both types. */
int km_pb_wire_type_error(const struct km_pb_field *f, unsigned wt, const char *where,
                          const char *name);

/* A known field must come with the wire type its declaration gives: 0, or KM_EINVAL
 * naming the message `where` and the field `name`. Inline: it runs for every field. */
static inline int km_pb_expect(const struct km_pb_field *f, unsigned wt, const char *where,
                               const char *name)
{
    return f->wt == wt ? 0 : km_pb_wire_type_error(f, wt, where, name);
}

/* One field a message declares: its number, its wire type, its name (for errors), and for
 * a field holding a message, the check of that message (NULL: none). */
struct km_pb_decl {
    uint32_t num;
    unsigned wt;
    const char *name;
    int (*check)(const uint8_t *p, size_t n);
};

/* Check the message p[0..n) (named `where` in errors): every field readable, each field
 * of d[0..nd) with its declared wire type and its value passing the declaration's check,
 * other fields skipped. 0, or the first error (KM_EINVAL, or the check's). */
int km_pb_check(const uint8_t *p, size_t n, const char *where, const struct km_pb_decl *d,
                size_t nd);

/* protobuf-c's reading of a varint of len bytes (len <= 10, as km_pb_next() gives): 7
 * bits per byte, bits past 64 lost. */
static inline uint64_t km_pb_varint(const uint8_t *p, size_t len)
{
    uint64_t v = 0;

    for (size_t i = 0; i < len; i++)
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i < 64 ? 7 * i : 63);
    return v;
}

/* The little-endian double at p[0..8). */
static inline double km_pb_double(const uint8_t *p)
{
    uint64_t bits = 0;
    double v;

    for (int i = 7; i >= 0; i--)
        bits = bits << 8 | p[i];
    memcpy(&v, &bits, sizeof(v));
    return v;
}

#endif
