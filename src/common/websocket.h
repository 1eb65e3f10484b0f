/*
 * websocket — the RFC 6455 wire format, without I/O: the opening handshake's
 * Sec-WebSocket-Accept, frames written, and a reader that takes the bytes a peer sent
 * and gives whole messages (fragments joined), pings, pongs and closes, checking
 * everything a hostile peer may get wrong (masking, reserved bits, opcodes, control
 * frames fragmented or longer than 125 bytes, 64-bit lengths with the top bit set,
 * continuation frames out of place, messages past a cap, text that is not UTF-8, close
 * codes and reasons). The HTTP server (http_ws.c) drives it over a socket.
 *
 * No extension (permessage-deflate) is negotiated, so every reserved bit must be 0.
 */
#ifndef KMON_COMMON_WEBSOCKET_H
#define KMON_COMMON_WEBSOCKET_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum km_ws_opcode {
    KM_WS_CONT = 0x0,
    KM_WS_TEXT = 0x1,
    KM_WS_BINARY = 0x2,
    KM_WS_CLOSE = 0x8,
    KM_WS_PING = 0x9,
    KM_WS_PONG = 0xA,
};

/* Close codes (RFC 6455 section 7.4.1). */
enum {
    KM_WS_CLOSE_NORMAL = 1000,
    KM_WS_CLOSE_GOING_AWAY = 1001, /* the server stops */
    KM_WS_CLOSE_PROTOCOL = 1002,
    KM_WS_CLOSE_UNSUPPORTED = 1003,
    KM_WS_CLOSE_NO_STATUS = 1005, /* never sent: a close frame without a code */
    KM_WS_CLOSE_BAD_DATA = 1007,  /* text that is not UTF-8 */
    KM_WS_CLOSE_POLICY = 1008,
    KM_WS_CLOSE_TOO_BIG = 1009,
    KM_WS_CLOSE_INTERNAL = 1011,
    KM_WS_CLOSE_TRY_AGAIN = 1013,
};

/* The longest frame header: 2 bytes, 8 of extended length, 4 of mask. */
#define KM_WS_MAX_HEADER 14
/* A control frame's payload at most. */
#define KM_WS_MAX_CONTROL 125

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + GUID)) into
 * out (28 characters and a NUL). KM_EINVAL when the key is not the base64 of 16 bytes
 * (24 characters ending in "=="), as the RFC requires. */
int km_ws_accept_key(const char *key, char out[29]);

/* Append one frame to out: opcode, FIN, the payload masked with mask[4] when mask is not
 * NULL (a client's frames), unmasked otherwise (a server's). The shortest length
 * encoding is used. KM_EINVAL for a control frame past 125 bytes or not final; the
 * buffer's error otherwise. */
int km_ws_frame_write(struct km_buf *out, enum km_ws_opcode op, bool fin, const void *payload,
                      size_t len, const uint8_t *mask);

/* A close frame's payload: the code (none when code is 0) and a reason cut to fit 123
 * bytes (at a UTF-8 character boundary). */
int km_ws_close_write(struct km_buf *out, uint16_t code, const char *reason, const uint8_t *mask);

/* True when s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates, at most
 * U+10FFFF). */
bool km_ws_utf8_valid(const uint8_t *s, size_t n);

/* What the reader gives. */
struct km_ws_event {
    enum km_ws_opcode op; /* TEXT or BINARY (a whole message), PING, PONG, CLOSE */
    const uint8_t *data;  /* borrowed from the reader until its next call */
    size_t len;
    /* CLOSE: the peer's code (KM_WS_CLOSE_NO_STATUS when it gave none) and reason (in
     * data[0..len)). */
    uint16_t close_code;
};

struct km_ws_reader {
    struct km_buf in;  /* bytes received and not yet consumed */
    size_t consumed;   /* in.data[0..consumed) are dropped at the next call */
    struct km_buf msg; /* a fragmented message being joined */
    enum km_ws_opcode msg_op;
    bool in_message; /* a first fragment came, the final one not yet */
    bool need_mask;  /* frames must be masked (a server reading a client) */
    bool failed;
    size_t max_msg;
    /* After an error: the close code to answer with (1002, 1007, 1009). */
    uint16_t error_code;
};

/* A reader of frames from a client (need_mask: a server must refuse unmasked frames) of
 * messages up to max_msg bytes (joined fragments included). Its buffers are capped:
 * at most max_msg + KM_WS_MAX_HEADER + KM_WS_READ_CHUNK bytes wait in it. */
#define KM_WS_READ_CHUNK (64u * 1024)
void km_ws_reader_init(struct km_ws_reader *rd, size_t max_msg, bool need_mask);
void km_ws_reader_fini(struct km_ws_reader *rd);

/* Take bytes received: 0, or KM_ELIMIT when more than KM_WS_READ_CHUNK bytes beyond
 * what the current frame may hold are given at once (feed at most that much per call). */
int km_ws_reader_feed(struct km_ws_reader *rd, const void *data, size_t n);

/* The next event: 1 and *ev filled; 0 when more bytes are needed; KM_EINVAL (a protocol
 * error: rd->error_code says with which code to close, km_err_msg() why) or KM_ELIMIT
 * (1009: a frame or message past max_msg). After an error every call fails again. */
int km_ws_reader_next(struct km_ws_reader *rd, struct km_ws_event *ev);

#endif
