/*
 * events_seen — the bounded map uid → last observation written (see events.h).
 *
 * Keys are 64-bit hashes of uids (km_kevents_key): the map never holds a string. Open
 * addressing with linear probing at a load of at most one half, deletion by shifting
 * the following entries back (no tombstones). The table grows by doubling up to twice
 * the cap; when the cap is reached, the entries with the oldest observations (an eighth)
 * are dropped by rebuilding the table without them. A rebuild that cannot allocate
 * clears the map instead: what it forgets is only written again, harmlessly.
 * One owner (the watcher's thread).
 */
#include "events.h"

#include "common/array.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

struct km_kevents_seen_slot {
    uint64_t key;
    int64_t ts_ns, count;
    uint32_t epoch;
    bool used;
};

#define FIRST_SLOTS 256

void km_kevents_seen_init(struct km_kevents_seen *s, size_t cap)
{
    memset(s, 0, sizeof(*s));
    s->cap = cap ? cap : KM_KEVENTS_TRACKED;
    s->epoch = 1;
}

void km_kevents_seen_fini(struct km_kevents_seen *s)
{
    free(s->slot);
    s->slot = NULL;
    s->nslots = s->n = 0;
}

void km_kevents_seen_clear(struct km_kevents_seen *s)
{
    if (s->slot)
        memset(s->slot, 0, s->nslots * sizeof(*s->slot));
    s->n = 0;
}

static size_t find(const struct km_kevents_seen *s, uint64_t key, bool *found)
{
    size_t mask = s->nslots - 1, i = (size_t)key & mask;

    while (s->slot[i].used) {
        if (s->slot[i].key == key) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = false;
    return i;
}

/* Replace the table by one of nslots holding the entries of s but those with an
 * observation at or before drop_le (by_ts) or not of the current epoch (by_epoch). */
static int rebuild(struct km_kevents_seen *s, size_t nslots, int64_t drop_le, bool by_ts,
                   bool by_epoch)
{
    struct km_kevents_seen_slot *old = s->slot, *t = calloc(nslots, sizeof(*t));
    size_t oldn = s->nslots, mask = nslots - 1;

    if (!t)
        return km_err_set(KM_ENOMEM, "out of memory growing the map of Events written");
    s->slot = t;
    s->nslots = nslots;
    s->n = 0;
    for (size_t i = 0; i < oldn; i++) {
        const struct km_kevents_seen_slot *e = &old[i];
        size_t j;

        if (!e->used || (by_ts && e->ts_ns <= drop_le) || (by_epoch && e->epoch != s->epoch))
            continue;
        for (j = (size_t)e->key & mask; t[j].used; j = (j + 1) & mask)
            ;
        t[j] = *e;
        s->n++;
    }
    free(old);
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* The map is full: drop the oldest eighth (by observation time). */
static void evict(struct km_kevents_seen *s)
{
    int64_t *ts = malloc(s->n * sizeof(*ts));
    size_t k = 0, before = s->n;

    if (ts) {
        for (size_t i = 0; i < s->nslots; i++) {
            if (s->slot[i].used)
                ts[k++] = s->slot[i].ts_ns;
        }
        km_sort(ts, k, sizeof(*ts), cmp_i64);
    }
    if (!ts || k == 0 || rebuild(s, s->nslots, ts[k / 8], true, false) != 0)
        km_kevents_seen_clear(s);
    s->evicted += before - s->n;
    free(ts);
}

int km_kevents_seen_put(struct km_kevents_seen *s, uint64_t key, int64_t ts_ns, int64_t count)
{
    bool found = false;
    size_t i;

    if (s->nslots) {
        i = find(s, key, &found);
        if (found) {
            struct km_kevents_seen_slot *e = &s->slot[i];
            bool same = e->ts_ns == ts_ns && e->count == count;

            e->ts_ns = ts_ns;
            e->count = count;
            e->epoch = s->epoch;
            return same ? 0 : 1;
        }
    }
    if (s->n >= s->cap)
        evict(s);
    if (s->nslots == 0 || (s->n + 1) * 2 > s->nslots) {
        size_t want = s->nslots ? s->nslots * 2 : FIRST_SLOTS;
        int rc = rebuild(s, want, 0, false, false);

        if (rc)
            return rc;
    }
    i = find(s, key, &found);
    s->slot[i] = (struct km_kevents_seen_slot){
        .key = key, .ts_ns = ts_ns, .count = count, .epoch = s->epoch, .used = true
    };
    s->n++;
    return 1;
}

void km_kevents_seen_del(struct km_kevents_seen *s, uint64_t key)
{
    size_t mask, i, j;
    bool found;

    if (!s->nslots)
        return;
    i = find(s, key, &found);
    if (!found)
        return;
    mask = s->nslots - 1;
    /* Shift back every following entry of the run that may move into the hole. */
    for (j = (i + 1) & mask; s->slot[j].used; j = (j + 1) & mask) {
        size_t home = (size_t)s->slot[j].key & mask;
        bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);

        if (movable) {
            s->slot[i] = s->slot[j];
            i = j;
        }
    }
    s->slot[i].used = false;
    s->n--;
}

void km_kevents_seen_begin(struct km_kevents_seen *s)
{
    s->epoch++;
}

size_t km_kevents_seen_end(struct km_kevents_seen *s)
{
    size_t before = s->n;

    if (!s->nslots)
        return 0;
    if (rebuild(s, s->nslots, 0, false, true) != 0)
        km_kevents_seen_clear(s);
    return before - s->n;
}
