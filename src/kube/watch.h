/*
 * watch — the Kubernetes watch-event stream: newline-delimited JSON events
 * ({"type": …, "object": …}) as the API server streams them, split into lines with a
 * bounded buffer and parsed with jansson, each event handed to a callback with its
 * object borrowed for the call. Shared by the agent's pod metadata and the cluster-state
 * collector. One owner per stream; not thread-safe.
 */
#ifndef KMON_KUBE_WATCH_H
#define KMON_KUBE_WATCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum km_watch_type { KM_W_ADDED, KM_W_MODIFIED, KM_W_DELETED, KM_W_BOOKMARK, KM_W_ERROR };

/* One event: its type and object (borrowed for the call). */
typedef int (*km_watch_fn)(void *ud, enum km_watch_type type, const json_t *object);

struct km_watch_stream {
    char *buf;
    size_t len, cap, max; /* max: the longest event accepted */
    uint64_t events, bad_events;
};

void km_watch_stream_init(struct km_watch_stream *s, size_t max_event);
void km_watch_stream_reset(struct km_watch_stream *s); /* a new connection */

/* Feed bytes as they arrive; fn is called for each complete line. Returns 0, fn's
 * non-zero result, KM_ELIMIT when an event exceeds the maximum, or KM_EINVAL for a line
 * that is not a watch event (the caller drops the connection and relists: the stream can
 * no longer be trusted). */
int km_watch_stream_feed(struct km_watch_stream *s, const char *data, size_t n, km_watch_fn fn,
                         void *ud);

void km_watch_stream_fini(struct km_watch_stream *s);

#endif
