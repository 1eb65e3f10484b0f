/*
 * websocket — RFC 6455 frames and handshake key, without I/O (see websocket.h).
 *
 * The reader keeps the bytes received in one capped buffer and parses a frame only once
 * all of it is there; a frame announcing more than the message cap allows is refused from
 * its header alone, so a hostile length never makes it allocate. Payloads are unmasked in
 * place.
 */
#include "websocket.h"

#include "err.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;

        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
}

int km_ws_accept_key(const char *key, char out[29])
{
    char cat[24 + sizeof(WS_GUID)];
    uint8_t sha[20];

    /* 16 bytes in base64: 22 characters of the alphabet, the last one of the 16 that
     * leave the low 4 bits zero, then "==". */
    if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=')
        return km_err_set(KM_EINVAL, "Sec-WebSocket-Key is not the base64 of 16 bytes");
    for (int i = 0; i < 22; i++) {
        const char *p = key[i] ? strchr(b64, key[i]) : NULL;

        if (!p || (i == 21 && ((p - b64) & 15) != 0))
            return km_err_set(KM_EINVAL, "Sec-WebSocket-Key is not the base64 of 16 bytes");
    }
    memcpy(cat, key, 24);
    memcpy(cat + 24, WS_GUID, sizeof(WS_GUID));
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, cat, 24 + sizeof(WS_GUID) - 1, sha) != 0)
        return km_err_set(KM_EIO, "SHA-1 is not available");
    base64_encode(sha, sizeof(sha), out);
    return 0;
}

int km_ws_frame_write(struct km_buf *out, enum km_ws_opcode op, bool fin, const void *payload,
                      size_t len, const uint8_t *mask)
{
    uint8_t h[KM_WS_MAX_HEADER];
    size_t hn = 2, start;

    if ((op & 0x8) && (len > KM_WS_MAX_CONTROL || !fin))
        return km_err_set(KM_EINVAL, "a WebSocket control frame must be final and at most "
                                     "125 bytes");
    h[0] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
    if (len <= 125) {
        h[1] = (uint8_t)len;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        hn = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        hn = 10;
    }
    if (mask) {
        h[1] |= 0x80;
        memcpy(h + hn, mask, 4);
        hn += 4;
    }
    if (km_buf_append(out, h, hn))
        return km_buf_error(out);
    start = out->len;
    if (len && km_buf_append(out, payload, len))
        return km_buf_error(out);
    if (mask) {
        uint8_t *p = (uint8_t *)out->data + start;

        for (size_t i = 0; i < len; i++)
            p[i] ^= mask[i & 3];
    }
    return 0;
}

/* The length of the longest prefix of s[0..n) that ends at a character boundary. */
static size_t utf8_cut(const char *s, size_t n)
{
    while (n > 0 && ((uint8_t)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

int km_ws_close_write(struct km_buf *out, uint16_t code, const char *reason, const uint8_t *mask)
{
    uint8_t p[KM_WS_MAX_CONTROL];
    size_t n = 0;

    if (code) {
        size_t rl = reason ? strlen(reason) : 0;

        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        if (rl > KM_WS_MAX_CONTROL - 2)
            rl = utf8_cut(reason, KM_WS_MAX_CONTROL - 2);
        if (rl)
            memcpy(p + 2, reason, rl);
        n = 2 + rl;
    }
    return km_ws_frame_write(out, KM_WS_CLOSE, true, p, n, mask);
}

bool km_ws_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = s[i];
        uint32_t cp;
        size_t k;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* ---- reader ---------------------------------------------------------------------------- */

void km_ws_reader_init(struct km_ws_reader *rd, size_t max_msg, bool need_mask)
{
    memset(rd, 0, sizeof(*rd));
    rd->max_msg = max_msg;
    rd->need_mask = need_mask;
    km_buf_init(&rd->in, max_msg + KM_WS_MAX_HEADER + KM_WS_READ_CHUNK + 1);
    km_buf_init(&rd->msg, max_msg + 1);
}

void km_ws_reader_fini(struct km_ws_reader *rd)
{
    km_buf_fini(&rd->in);
    km_buf_fini(&rd->msg);
}

/* Drop what the last event borrowed. */
static void compact(struct km_ws_reader *rd)
{
    if (!rd->consumed)
        return;
    memmove(rd->in.data, rd->in.data + rd->consumed, rd->in.len - rd->consumed);
    rd->in.len -= rd->consumed;
    rd->consumed = 0;
}

int km_ws_reader_feed(struct km_ws_reader *rd, const void *data, size_t n)
{
    compact(rd);
    if (n > KM_WS_READ_CHUNK || km_buf_append(&rd->in, data, n))
        return km_err_set(KM_ELIMIT, "too many WebSocket bytes at once");
    return 0;
}

static int fail(struct km_ws_reader *rd, uint16_t code, int rc, const char *why)
{
    rd->failed = true;
    rd->error_code = code;
    return km_err_set(rc, "WebSocket: %s", why);
}

/* A close frame's payload: none, or a valid code and a UTF-8 reason. */
static int check_close(struct km_ws_reader *rd, const uint8_t *p, size_t n, uint16_t *code)
{
    uint16_t c;

    *code = KM_WS_CLOSE_NO_STATUS;
    if (n == 0)
        return 0;
    if (n == 1)
        return fail(rd, KM_WS_CLOSE_PROTOCOL, KM_EINVAL, "a close frame of one byte");
    c = (uint16_t)(p[0] << 8 | p[1]);
    if (!((c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)))
        return fail(rd, KM_WS_CLOSE_PROTOCOL, KM_EINVAL, "an invalid close code");
    if (!km_ws_utf8_valid(p + 2, n - 2))
        return fail(rd, KM_WS_CLOSE_BAD_DATA, KM_EINVAL, "a close reason that is not UTF-8");
    *code = c;
    return 0;
}

/* One whole frame at the start of buf[0..n): its size (header and payload), 0 when
 * incomplete; the payload unmasked in place. */
static int parse_frame(struct km_ws_reader *rd, uint8_t *buf, size_t n, size_t *size,
                       uint8_t *flags, uint8_t **payload, size_t *plen)
{
    uint64_t len;
    size_t hn = 2, room;
    bool masked;
    uint8_t op;

    *size = 0;
    if (n < 2)
        return 0;
    op = buf[0] & 0x0f;
    masked = buf[1] & 0x80;
    len = buf[1] & 0x7f;
    if (buf[0] & 0x70)
        return fail(rd, KM_WS_CLOSE_PROTOCOL, KM_EINVAL,
                    "reserved bits set (no extension "
                    "was negotiated)");
    if (!(op <= KM_WS_BINARY || (op >= KM_WS_CLOSE && op <= KM_WS_PONG)))
        return fail(rd, KM_WS_CLOSE_PROTOCOL, KM_EINVAL, "an unknown opcode");
    if (rd->need_mask && !masked)
        return fail(rd, KM_WS_CLOSE_PROTOCOL, KM_EINVAL, "an unmasked frame from a client");
    if ((op & 0x8) && (len > KM_WS_MAX_CONTROL || !(buf[0] & 0x80)))
        return fail(rd, KM_WS_CLOSE_PROTOCOL, KM_EINVAL,
                    "a control frame fragmented or longer than 125 bytes");
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)buf[2] << 8 | buf[3];
        hn = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | buf[2 + i];
        if (len >> 63)
            return fail(rd, KM_WS_CLOSE_PROTOCOL, KM_EINVAL,
                        "a 64-bit length with its top "
                        "bit set");
        hn = 10;
    }
    /* What this frame may hold: a data frame joins what its message has so far. */
    room = rd->max_msg - ((op == KM_WS_CONT && rd->in_message) ? rd->msg.len : 0);
    if (!(op & 0x8) && len > room)
        return fail(rd, KM_WS_CLOSE_TOO_BIG, KM_ELIMIT, "a message larger than allowed");
    if (masked)
        hn += 4;
    if (n < hn || n - hn < len)
        return 0;
    *payload = buf + hn;
    *plen = (size_t)len;
    if (masked) {
        const uint8_t *m = buf + hn - 4;

        for (size_t i = 0; i < *plen; i++)
            (*payload)[i] ^= m[i & 3];
    }
    *flags = buf[0];
    *size = hn + (size_t)len;
    return 0;
}

int km_ws_reader_next(struct km_ws_reader *rd, struct km_ws_event *ev)
{
    for (;;) {
        uint8_t flags = 0, *p = NULL, op;
        size_t size, plen = 0;
        bool fin;
        int rc;

        if (rd->failed)
            return km_err_set(rd->error_code == KM_WS_CLOSE_TOO_BIG ? KM_ELIMIT : KM_EINVAL,
                              "WebSocket: the connection already failed");
        compact(rd);
        rc = parse_frame(rd, (uint8_t *)rd->in.data, rd->in.len, &size, &flags, &p, &plen);
        if (rc || size == 0)
            return rc;
        rd->consumed = size;
        op = flags & 0x0f;
        fin = flags & 0x80;
        if (op & 0x8) {
            memset(ev, 0, sizeof(*ev));
            ev->op = (enum km_ws_opcode)op;
            ev->data = p;
            ev->len = plen;
            if (op == KM_WS_CLOSE) {
                rc = check_close(rd, p, plen, &ev->close_code);
                if (rc)
                    return rc;
                ev->data = plen >= 2 ? p + 2 : p;
                ev->len = plen >= 2 ? plen - 2 : 0;
            }
            return 1;
        }
        if (op == KM_WS_CONT && !rd->in_message)
            return fail(rd, KM_WS_CLOSE_PROTOCOL, KM_EINVAL,
                        "a continuation frame without a message to continue");
        if (op != KM_WS_CONT && rd->in_message)
            return fail(rd, KM_WS_CLOSE_PROTOCOL, KM_EINVAL,
                        "a new message before the previous one's final fragment");
        if (op != KM_WS_CONT && fin) {
            /* A whole message in one frame: no copy. */
            if (op == KM_WS_TEXT && !km_ws_utf8_valid(p, plen))
                return fail(rd, KM_WS_CLOSE_BAD_DATA, KM_EINVAL,
                            "a text message that is not "
                            "UTF-8");
            memset(ev, 0, sizeof(*ev));
            ev->op = (enum km_ws_opcode)op;
            ev->data = p;
            ev->len = plen;
            return 1;
        }
        if (op != KM_WS_CONT) {
            km_buf_reset(&rd->msg);
            rd->msg_op = (enum km_ws_opcode)op;
            rd->in_message = true;
        }
        if (km_buf_append(&rd->msg, p, plen))
            return fail(rd, KM_WS_CLOSE_TOO_BIG, KM_ELIMIT, "a message larger than allowed");
        if (!fin)
            continue;
        rd->in_message = false;
        if (rd->msg_op == KM_WS_TEXT &&
            !km_ws_utf8_valid((const uint8_t *)rd->msg.data, rd->msg.len))
            return fail(rd, KM_WS_CLOSE_BAD_DATA, KM_EINVAL, "a text message that is not UTF-8");
        memset(ev, 0, sizeof(*ev));
        ev->op = rd->msg_op;
        ev->data = (const uint8_t *)(rd->msg.len ? rd->msg.data : "");
        ev->len = rd->msg.len;
        return 1;
    }
}
