/*
 * fuzz_kstate_events — the Kubernetes Event decoder and its log line: the input is a
 * watch stream (newline-delimited events, cut into chunks at points taken from the
 * first byte); each event's object is decoded, its logfmt line and labels made, and its
 * observation recorded in a small map of observations (cap 16) that DELETED events
 * shrink.
 *
 * Invariants: a decoded Event has a uid and a count of at least 1; its line is at most
 * KM_KEVENTS_MAX_LINE bytes, valid UTF-8, without a raw control byte, with balanced
 * quotes, and the same when made again from a second decoding (a pure function of the
 * observation); every label has a name and a non-empty value of at most
 * KM_KEVENTS_MAX_VALUE bytes, source first; recording the same observation twice is a
 * repeat; the map never holds more than its cap.
 */
#include "common/buf.h"
#include "fuzz_common.h"
#include "fuzz_watch.h"
#include "kstate/events.h"
#include "kube/watch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
    struct km_kevents_seen seen;
    struct km_buf a, b;
};

static bool utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;

        if (k == 9 || n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        }
        i += k + 1;
    }
    return true;
}

static void check_line(const struct km_buf *b)
{
    bool in_quote = false;

    CHECK(km_buf_error(b) == 0);
    CHECK(b->len <= KM_KEVENTS_MAX_LINE);
    CHECK(utf8_valid((const unsigned char *)b->data, b->len));
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char)b->data[i];

        CHECK(c >= ' ');
        if (in_quote && c == '\\') {
            CHECK(i + 1 < b->len);
            i++;
        } else if (c == '"') {
            in_quote = !in_quote;
        }
    }
    CHECK(!in_quote);
}

static int on_event(void *ud, enum km_watch_type type, const json_t *obj)
{
    struct ctx *c = ud;
    struct km_kevent ev, again;
    struct km_label l[KM_KEVENTS_LABELS];
    static char scratch[KM_KEVENTS_SCRATCH];
    json_t *copy;
    size_t n;

    if (km_kevents_decode(&ev, obj) != 0)
        return 0;
    CHECK(ev.uid && *ev.uid);
    CHECK(ev.count >= 1);
    if (type == KM_W_DELETED) {
        km_kevents_seen_del(&c->seen, km_kevents_key(ev.uid));
        return 0;
    }
    km_buf_reset(&c->a);
    km_buf_reset(&c->b);
    CHECK(km_kevents_line(&c->a, &ev) == 0);
    check_line(&c->a);
    /* purity: a deep copy decodes to the same line and time */
    copy = json_deep_copy(obj);
    if (copy) {
        CHECK(km_kevents_decode(&again, copy) == 0);
        CHECK(again.ts_ns == ev.ts_ns && again.count == ev.count);
        CHECK(km_kevents_line(&c->b, &again) == 0);
        CHECK(c->a.len == c->b.len && memcmp(c->a.data, c->b.data, c->a.len) == 0);
        json_decref(copy);
    }
    n = km_kevents_labels(l, scratch, &ev, "c");
    CHECK(n >= 2 && n <= KM_KEVENTS_LABELS);
    CHECK(strcmp(l[0].name, "source") == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(l[i].name && l[i].value && *l[i].value && strlen(l[i].value) <= KM_KEVENTS_MAX_VALUE);
    if (km_kevents_seen_put(&c->seen, km_kevents_key(ev.uid), ev.ts_ns, ev.count) >= 0)
        CHECK(km_kevents_seen_put(&c->seen, km_kevents_key(ev.uid), ev.ts_ns, ev.count) == 0);
    CHECK(c->seen.n <= c->seen.cap);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_watch_stream ws;
    struct ctx c;
    size_t cut = size ? data[0] % 64 + 1 : 1, at = 1;
    char *buf = fuzz_copy(data, size);

    if (!buf)
        return 0;
    km_kevents_seen_init(&c.seen, 16);
    km_buf_init(&c.a, 0);
    km_buf_init(&c.b, 0);
    km_watch_stream_init(&ws, 1 << 16);
    fuzz_watch_feed(&ws, buf, size, at, cut, on_event, &c);
    km_kevents_seen_begin(&c.seen); /* a list that finds nothing empties the map */
    (void)km_kevents_seen_end(&c.seen);
    CHECK(c.seen.n == 0);
    km_watch_stream_fini(&ws);
    km_kevents_seen_fini(&c.seen);
    km_buf_fini(&c.a);
    km_buf_fini(&c.b);
    free(buf);
    return 0;
}
