/*
 * fuzz_websocket_frame — the WebSocket frame reader on arbitrary bytes from a client.
 * The first byte picks the message cap (1..256 bytes or 64 KiB), whether frames must be
 * masked, and how the rest is fed (whole, or in chunks of 1..8 bytes). Whatever comes:
 * events or one sticky error with a close code of RFC 6455; data messages within the
 * cap, text messages valid UTF-8, control payloads at most 125 bytes, close codes valid;
 * every message, written again as a masked frame and read by a fresh reader, comes back
 * the same.
 */
#include "common/websocket.h"
#include "fuzz_common.h"

static bool valid_close_code(uint16_t c)
{
    return c == KM_WS_CLOSE_NO_STATUS || (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
           (c >= 3000 && c <= 4999);
}

/* Write the event back as a frame and read it again. */
static void round_trip(const struct km_ws_event *ev)
{
    static const uint8_t mask[4] = { 1, 2, 3, 4 };
    struct km_ws_reader rd;
    struct km_ws_event back;
    struct km_buf b;

    if (ev->op == KM_WS_CLOSE)
        return;
    km_buf_init(&b, 0);
    km_ws_reader_init(&rd, ev->len, true);
    CHECK(km_ws_frame_write(&b, ev->op, true, ev->data, ev->len, mask) == 0);
    for (size_t off = 0; off < b.len; off += KM_WS_READ_CHUNK) {
        size_t n = b.len - off < KM_WS_READ_CHUNK ? b.len - off : KM_WS_READ_CHUNK;

        CHECK(km_ws_reader_feed(&rd, b.data + off, n) == 0);
    }
    CHECK(km_ws_reader_next(&rd, &back) == 1);
    CHECK(back.op == ev->op && back.len == ev->len);
    CHECK(ev->len == 0 || memcmp(back.data, ev->data, ev->len) == 0);
    km_ws_reader_fini(&rd);
    km_buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_ws_reader rd;
    size_t max_msg, off = 1, chunk;
    bool need_mask, failed = false;
    char *copy;

    if (size < 1)
        return 0;
    max_msg = (data[0] & 0x3f) == 0x3f ? 65536 : (size_t)(data[0] & 0x3f) * 4 + 1;
    need_mask = data[0] & 0x40;
    chunk = (data[0] & 0x80) ? 0 : 1 + (size % 8);
    copy = fuzz_copy(data, size);
    if (!copy)
        return 0;
    km_ws_reader_init(&rd, max_msg, need_mask);
    while (!failed) {
        struct km_ws_event ev;
        int rc = km_ws_reader_next(&rd, &ev);

        if (rc == 1) {
            if (ev.op == KM_WS_TEXT || ev.op == KM_WS_BINARY)
                CHECK(ev.len <= max_msg);
            else
                CHECK(ev.len <= KM_WS_MAX_CONTROL);
            if (ev.op == KM_WS_TEXT)
                CHECK(km_ws_utf8_valid(ev.data, ev.len));
            if (ev.op == KM_WS_CLOSE)
                CHECK(valid_close_code(ev.close_code) && km_ws_utf8_valid(ev.data, ev.len));
            round_trip(&ev);
            continue;
        }
        if (rc < 0) {
            CHECK(rd.error_code == KM_WS_CLOSE_PROTOCOL || rd.error_code == KM_WS_CLOSE_BAD_DATA ||
                  rd.error_code == KM_WS_CLOSE_TOO_BIG);
            CHECK(km_ws_reader_next(&rd, &ev) < 0); /* sticky */
            failed = true;
            break;
        }
        if (off == size)
            break;
        {
            size_t n = chunk ? chunk : size - off;

            if (n > size - off)
                n = size - off;
            if (n > KM_WS_READ_CHUNK)
                n = KM_WS_READ_CHUNK;
            CHECK(km_ws_reader_feed(&rd, copy + off, n) == 0);
            off += n;
        }
    }
    km_ws_reader_fini(&rd);
    free(copy);
    return 0;
}
