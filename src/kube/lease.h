/*
 * lease — a coordination.k8s.io/v1 Lease as leader election reads and writes it: the
 * record in its spec (holderIdentity, leaseDurationSeconds, acquireTime, renewTime,
 * leaseTransitions; client-go's LeaderElectionRecord), read from an object the API
 * returned, written into that object for a PUT (so its metadata.resourceVersion makes
 * the update conditional), or into a new object for a POST. Times are metav1.MicroTime
 * text, kept as the API wrote them. Pure functions over jansson values; no I/O.
 */
#ifndef KMON_KUBE_LEASE_H
#define KMON_KUBE_LEASE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define KM_KLEASE_MAX_HOLDER 320 /* a hostname (253) + "_" + 32 hex digits, and more */
#define KM_KLEASE_MAX_TIME   40

struct km_klease_record {
    char holder[KM_KLEASE_MAX_HOLDER]; /* "" when nobody holds the lease */
    int64_t duration_s;
    char acquire[KM_KLEASE_MAX_TIME], renew[KM_KLEASE_MAX_TIME]; /* MicroTime text or "" */
    int64_t transitions;
};

/* The record in a Lease object's spec (absent fields: "" and 0). KM_EINVAL when `lease`
 * is not a Lease with a metadata.resourceVersion, or a field does not fit the record. */
int km_klease_parse(const json_t *lease, struct km_klease_record *out);

/* Whether two records are the same (every field: a renewal changes renewTime). */
bool km_klease_equal(const struct km_klease_record *a, const struct km_klease_record *b);

/* Replace the spec of `lease` (an object the API returned) with r. 0 or KM_ENOMEM. */
int km_klease_set(json_t *lease, const struct km_klease_record *r);

/* A new Lease ns/name holding r, for a POST; NULL when out of memory. The caller owns it. */
json_t *km_klease_new(const char *ns, const char *name, const struct km_klease_record *r);

/* Wall-clock nanoseconds as a MicroTime: RFC 3339 in UTC with exactly six fractional
 * digits, "2026-12-05T09:00:00.123456Z". */
void km_klease_microtime(char out[KM_KLEASE_MAX_TIME], int64_t ns);

#endif
