/*
 * pbread — the out-of-line part of the in-place protobuf reader (pbread.h): any tag,
 * any wire type, the errors, and checking a message against its declared fields.
 */
#include "pbread.h"

#include "common/err.h"

int km_pb_next_slow(struct km_pb_reader *r, struct km_pb_field *f, const char *where)
{
    size_t rem = (size_t)(r->end - r->p), max = rem < 5 ? rem : 5, i;
    uint32_t tag;
    unsigned shift = 4;

    f->start = r->p;
    if ((r->p[0] & 0xf8) == 0)
        return km_err_set(KM_EINVAL, "%s: field number 0", where);
    f->wt = r->p[0] & 7;
    tag = (uint32_t)(r->p[0] & 0x7f) >> 3;
    if (r->p[0] & 0x80) {
        for (i = 1; i < max; i++) {
            tag |= (uint32_t)(r->p[i] & 0x7f) << shift;
            shift += 7;
            if (!(r->p[i] & 0x80))
                break;
        }
        if (i >= max)
            return km_err_set(KM_EINVAL, "%s: malformed field tag", where);
        r->p += i + 1;
    } else {
        r->p++;
    }
    f->num = tag;
    rem = (size_t)(r->end - r->p);
    switch (f->wt) {
    case KM_PB_VARINT:
        max = rem < 10 ? rem : 10;
        for (i = 0; i < max && (r->p[i] & 0x80); i++)
            ;
        if (i == max)
            return km_err_set(KM_EINVAL, "%s: unterminated varint", where);
        f->val = r->p;
        f->len = i + 1;
        break;
    case KM_PB_64BIT:
    case KM_PB_32BIT: {
        size_t need = f->wt == KM_PB_64BIT ? 8 : 4;

        if (rem < need)
            return km_err_set(KM_EINVAL, "%s: truncated fixed-size value", where);
        f->val = r->p;
        f->len = need;
        break;
    }
    case KM_PB_LEN: {
        size_t len = 0;

        max = rem < 5 ? rem : 5;
        shift = 0;
        for (i = 0; i < max; i++) {
            len |= (size_t)(r->p[i] & 0x7f) << shift;
            shift += 7;
            if (!(r->p[i] & 0x80))
                break;
        }
        if (i == max)
            return km_err_set(KM_EINVAL, "%s: malformed length", where);
        if (len > rem - (i + 1))
            return km_err_set(KM_EINVAL, "%s: a length of %zu bytes runs past the message", where,
                              len);
        f->val = r->p + i + 1;
        f->len = len;
        r->p += i + 1;
        break;
    }
    default:
        return km_err_set(KM_EINVAL, "%s: unsupported wire type %u", where, f->wt);
    }
    r->p += f->len;
    return 0;
}

int km_pb_wire_type_error(const struct km_pb_field *f, unsigned wt, const char *where,
                          const char *name)
{
    return km_err_set(KM_EINVAL, "%s: field %s has wire type %u, not %u", where, name, f->wt, wt);
}

int km_pb_check(const uint8_t *p, size_t n, const char *where, const struct km_pb_decl *d,
                size_t nd)
{
    struct km_pb_reader r = { p, p + n };
    struct km_pb_field f;
    int rc;

    while (r.p < r.end) {
        rc = km_pb_next(&r, &f, where);
        if (rc)
            return rc;
        for (size_t i = 0; i < nd; i++) {
            if (d[i].num != f.num)
                continue;
            rc = km_pb_expect(&f, d[i].wt, where, d[i].name);
            if (rc == 0 && d[i].check)
                rc = d[i].check(f.val, f.len);
            if (rc)
                return rc;
            break;
        }
    }
    return 0;
}
