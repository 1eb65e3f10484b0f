/*
 * fuzz_watch — what the targets over Kubernetes watch streams share (fuzz_kstate,
 * fuzz_kstate_events): the input fed to a km_watch_stream in pieces of varying sizes, so
 * that events split across reads at every place are tried.
 */
#ifndef KMON_TESTS_FUZZ_WATCH_H
#define KMON_TESTS_FUZZ_WATCH_H

#include "kube/watch.h"

#include <stddef.h>

/* Feed buf[at..size) to ws in pieces, the first of `cut` bytes (1 to 64), the next ones
 * varying from it; a stream error resets the stream and feeding goes on. */
static inline void fuzz_watch_feed(struct km_watch_stream *ws, const char *buf, size_t size,
                                   size_t at, size_t cut, km_watch_fn fn, void *ud)
{
    while (at < size) {
        size_t n = size - at < cut ? size - at : cut;

        if (km_watch_stream_feed(ws, buf + at, n, fn, ud) != 0)
            km_watch_stream_reset(ws);
        at += n;
        cut = cut * 7 % 61 + 1;
    }
}

#endif
