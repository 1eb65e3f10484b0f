/*
 * backoff — how long to wait before asking the Kubernetes API again after an error:
 * exponential from a minimum to a maximum, with ±25 % jitter so that many clients
 * restarted together do not ask together. Never zero, so a caller that always waits
 * what it is told cannot busy-loop. One owner per state.
 */
#ifndef KMON_KUBE_BACKOFF_H
#define KMON_KUBE_BACKOFF_H

#include <stdint.h>

struct km_kube_backoff {
    int64_t min_ms, max_ms;
    int64_t cur_ms; /* 0: no error since the last reset */
    uint64_t rnd;
};

void km_kube_backoff_init(struct km_kube_backoff *b, int64_t min_ms, int64_t max_ms, uint64_t seed);

/* The next wait (doubling the base each time, jittered). */
int64_t km_kube_backoff_next(struct km_kube_backoff *b);

/* A success: the next error waits the minimum again. */
void km_kube_backoff_reset(struct km_kube_backoff *b);

#endif
