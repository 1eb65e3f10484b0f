/*
 * sample — what every store takes and gives, whatever it is (the embedded TSDB, a
 * ClickHouse cluster): samples with their labels or by series reference, what became of
 * each (stored, or refused and why), label matchers as Prometheus defines them, and the
 * clock's window every store applies. Plain types and pure functions; thread-safe.
 */
#ifndef KMON_STORAGE_SAMPLE_H
#define KMON_STORAGE_SAMPLE_H

#include "common/labels.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A sample with its series' labels (any order; must include __name__). */
struct km_sample {
    const struct km_label *labels;
    size_t nlabels;
    int64_t t; /* milliseconds since the epoch */
    double v;
};

/* A sample of a series resolved before to a reference (km_storage_series_ref). */
struct km_ref_sample {
    uint64_t ref;
    int64_t t;
    double v;
};

/* What became of one sample. */
enum km_sample_status {
    KM_SAMPLE_APPENDED = 0,
    KM_SAMPLE_DUPLICATE,        /* same timestamp and value as a stored one: a no-op */
    KM_SAMPLE_TOO_OLD,          /* behind its series' newest by more than the window */
    KM_SAMPLE_CONFLICTING,      /* same timestamp as a stored one, another value */
    KM_SAMPLE_INVALID,          /* a label set that cannot be stored */
    KM_SAMPLE_STALE_REF,        /* the reference no longer names a series: resolve again */
    KM_SAMPLE_TOO_NEW,          /* further ahead of the clock than the future bound */
    KM_SAMPLE_OUT_OF_RETENTION, /* older than the retention, by the clock */
};
#define KM_SAMPLE_NSTATUS (KM_SAMPLE_OUT_OF_RETENTION + 1)

/* What became of the samples of one append call. */
struct km_append_result {
    uint64_t appended;         /* stored (in order, out of order, or behind a cut) */
    uint64_t duplicate;        /* same timestamp and value as a stored sample: a no-op */
    uint64_t too_old;          /* older than its series' newest by more than the window */
    uint64_t too_new;          /* further ahead of the clock than the future bound */
    uint64_t out_of_retention; /* older than the retention, by the clock */
    uint64_t conflicting;      /* same timestamp as a stored sample, other value */
    uint64_t invalid;          /* bad label set: rejected (km_err_msg() says why) */
    uint64_t stale_refs;       /* append by reference: references that name no series */
    uint64_t series_created;
};

/* KM_SAMPLE_APPENDED when lo <= t <= hi (the store's window: clock − retention to clock
 * + future bound), else KM_SAMPLE_TOO_NEW or KM_SAMPLE_OUT_OF_RETENTION. */
enum km_sample_status km_sample_check_time(int64_t t, int64_t lo, int64_t hi);

/* A few words naming a status ("too far in the future", …) for messages. */
const char *km_sample_status_str(enum km_sample_status st);

/* ---- matchers -------------------------------------------------------------------------- */

enum km_match_type {
    KM_MATCH_EQ,  /* =  */
    KM_MATCH_NEQ, /* != */
    KM_MATCH_RE,  /* =~ (fully anchored) */
    KM_MATCH_NRE, /* !~ */
};

struct km_regex;

/* A label matcher. Stores read the fields; nobody writes them after creation. A series
 * without the label is matched as if its value were "" (so `foo=""` selects series
 * without foo, and `foo!="bar"` includes them). */
struct km_matcher {
    enum km_match_type type;
    char *name, *value;
    struct km_regex *re;
    bool matches_empty; /* true when a series without the label matches */
};

/* On success *out is new; free it with km_matcher_destroy(). KM_EINVAL with a message
 * for an invalid label name or regex. */
int km_matcher_create(struct km_matcher **out, enum km_match_type type, const char *name,
                      const char *value);
/* Accepts NULL. */
void km_matcher_destroy(struct km_matcher *m);
bool km_matcher_matches(const struct km_matcher *m, const char *value);
const char *km_matcher_name(const struct km_matcher *m);

/* A string callback (label names, label values): non-zero stops the walk. */
typedef int (*km_str_fn)(void *ud, const char *s);

#endif
