/*
 * backoff — exponential backoff with jitter for Kubernetes API clients (see backoff.h).
 */
#include "backoff.h"

void km_kube_backoff_init(struct km_kube_backoff *b, int64_t min_ms, int64_t max_ms, uint64_t seed)
{
    b->min_ms = min_ms > 0 ? min_ms : 1;
    b->max_ms = max_ms > b->min_ms ? max_ms : b->min_ms;
    b->cur_ms = 0;
    b->rnd = seed;
}

int64_t km_kube_backoff_next(struct km_kube_backoff *b)
{
    b->cur_ms = b->cur_ms ? b->cur_ms * 2 : b->min_ms;
    if (b->cur_ms > b->max_ms)
        b->cur_ms = b->max_ms;
    b->rnd = b->rnd * 6364136223846793005ull + 1442695040888963407ull;
    return b->cur_ms * 3 / 4 + (int64_t)((b->rnd >> 33) % (uint64_t)(b->cur_ms / 2 + 1));
}

void km_kube_backoff_reset(struct km_kube_backoff *b)
{
    b->cur_ms = 0;
}
