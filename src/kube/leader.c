/*
 * leader — leader election with a Lease (see leader.h).
 *
 * One attempt, client-go's tryAcquireOrRenew:
 *   1. a leader whose observed record is still valid PUTs the renewed record on the
 *      object it wrote last (no GET: one request per retry period in the common case);
 *   2. otherwise, or when that fails, GET the Lease; a 404 POSTs a new one, ours;
 *   3. a record other than the one observed restarts the observation clock; a record
 *      held by another identity and not expired by that clock: not leader;
 *   4. PUT our record with the resourceVersion just read, keeping acquireTime and
 *      leaseTransitions when the record was ours, else leaseTransitions + 1.
 * A leader's attempts are bounded by its renew deadline, counted from the start of its
 * last successful renewal (a little stricter than client-go, which counts from the start
 * of each renewal round).
 */
#include "leader.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "kclient.h"
#include "lease.h"
#include "pause.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define LOG           "leader-election"
#define MAX_BODY      (1u << 20)
#define NS_PER_MS     1000000ll
#define RELEASE_MAX_S 5   /* the longest a release may hold up a stop */
#define JITTER        1.2 /* a candidate waits retry × [1, 1 + JITTER), as client-go */

/* Results of an attempt besides 0 and KM_E*. */
#define R_NOTFOUND  1 /* 404 */
#define R_CONFLICT  2 /* 409: another replica wrote first */
#define R_FORBIDDEN 3 /* 403: RBAC */
#define R_HELD      4 /* held by another identity, not expired */

struct km_kleader {
    struct km_kleader_opts o; /* its strings point to the arrays below */
    char ns[254], name[254], identity[KM_KLEASE_MAX_HOLDER];
    char coll[384], path[640]; /* .../namespaces/NS/leases and .../leases/NAME */
    struct km_kube_client k;
    struct km_buf body;
    struct km_kube_pause pause;
    atomic_bool abort; /* the client's stop flag: cuts a candidate's request at stop */
    pthread_t thread;
    bool started;
    /* The thread's. */
    json_t *lease;               /* the object last read or written */
    struct km_klease_record obs; /* the record observed last, */
    int64_t obs_ns;              /* and when (monotonic) it last changed */
    bool warned_forbidden;
    struct km_log_limit err_log;
    uint64_t rnd;
    /* Shared. */
    atomic_bool leading;
    atomic_int_fast64_t until_ns; /* leads until then (monotonic) unless renewed */
    atomic_uint_fast64_t transitions;
};

/* splitmix64: jitter, and identities when getrandom fails. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void km_kleader_default_identity(char *out, size_t size)
{
    char host[256] = "", hex[33];
    uint64_t r[2];

    if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
        snprintf(host, sizeof(host), "kmon");
    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        uint64_t seed = (uint64_t)km_time_now_ns() ^ ((uint64_t)getpid() << 32);

        r[0] = next_rand(&seed);
        r[1] = next_rand(&seed);
    }
    snprintf(hex, sizeof(hex), "%016llx%016llx", (unsigned long long)r[0],
             (unsigned long long)r[1]);
    snprintf(out, size, "%s_%s", host, hex);
}

/* ---- what we observed ------------------------------------------------------------------ */

static bool ours(const struct km_kleader *l)
{
    return strcmp(l->obs.holder, l->identity) == 0;
}

/* client-go's isLeaseValid: by our clock, from when we saw the record change. */
static bool valid(const struct km_kleader *l, int64_t now_ns)
{
    return l->obs_ns + l->obs.duration_s * 1000 * NS_PER_MS > now_ns;
}

static void observe(struct km_kleader *l, const struct km_klease_record *r)
{
    l->obs = *r;
    l->obs_ns = km_time_mono_ns();
}

/* ---- requests -------------------------------------------------------------------------- */

/* method (NULL: GET) path with `send` as the body; a 2xx answer's object into *got (the
 * caller's), other statuses as R_* or KM_EIO, each with a sentence. */
static int request(struct km_kleader *l, const char *method, const char *path, const json_t *send,
                   long timeout_s, json_t **got)
{
    const char *verb = method ? method : "GET";
    char *text = NULL, msg[512];
    long status;
    int rc;

    *got = NULL;
    if (send && !(text = json_dumps(send, JSON_COMPACT)))
        return km_err_set(KM_ENOMEM, "out of memory");
    rc = km_kube_send(&l->k, method, path, text, text ? strlen(text) : 0, &l->body, timeout_s,
                      &status);
    free(text);
    if (rc)
        return rc;
    if (status < 200 || status >= 300) {
        rc = status == 403   ? R_FORBIDDEN
             : status == 404 ? R_NOTFOUND
             : status == 409 ? R_CONFLICT
                             : KM_EIO;
        km_err_set(KM_EIO, "%s %s: HTTP %ld: %s", verb, path, status,
                   km_kube_status_message(&l->body, msg, sizeof(msg)));
        return rc;
    }
    if (km_buf_error(&l->body))
        return km_err_set(KM_ELIMIT, "%s %s: an answer larger than %u bytes", verb, path, MAX_BODY);
    *got = json_loadb(l->body.data, l->body.len, 0, NULL);
    if (!*got)
        return km_err_set(KM_EINVAL, "%s %s: the answer is not JSON", verb, path);
    return 0;
}

/* Keep `got` (a Lease the API answered with) as the object to write next, its record in
 * *r. Takes got. */
static int keep(struct km_kleader *l, json_t *got, struct km_klease_record *r)
{
    int rc = km_klease_parse(got, r);

    if (rc) {
        json_decref(got);
        return rc;
    }
    json_decref(l->lease);
    l->lease = got;
    return 0;
}

static int read_lease(struct km_kleader *l, long timeout_s, struct km_klease_record *out)
{
    json_t *got;
    int rc = request(l, NULL, l->path, NULL, timeout_s, &got);

    return rc ? rc : keep(l, got, out);
}

/* POST a new Lease holding r, or PUT r on the object kept; then r is observed. */
static int write_lease(struct km_kleader *l, const struct km_klease_record *r, long timeout_s)
{
    struct km_klease_record back;
    json_t *obj = l->lease ? json_incref(l->lease) : km_klease_new(l->ns, l->name, r), *got;
    int rc = obj ? 0 : km_err_set(KM_ENOMEM, "out of memory");

    if (rc == 0 && l->lease)
        rc = km_klease_set(obj, r);
    if (rc == 0)
        rc = request(l, l->lease ? "PUT" : "POST", l->lease ? l->path : l->coll, obj, timeout_s,
                     &got);
    json_decref(obj);
    if (rc == 0)
        rc = keep(l, got, &back);
    if (rc == 0)
        observe(l, r);
    return rc;
}

/* ---- one attempt ----------------------------------------------------------------------- */

static int try_acquire_or_renew(struct km_kleader *l, long timeout_s)
{
    struct km_klease_record want = { 0 }, cur;
    int rc;

    snprintf(want.holder, sizeof(want.holder), "%s", l->identity);
    want.duration_s = l->o.lease_duration_ms / 1000;
    km_klease_microtime(want.renew, km_time_now_ns());
    memcpy(want.acquire, want.renew, sizeof(want.acquire));
    if (l->lease && ours(l) && valid(l, km_time_mono_ns())) {
        memcpy(want.acquire, l->obs.acquire, sizeof(want.acquire));
        want.transitions = l->obs.transitions;
        rc = write_lease(l, &want, timeout_s);
        if (rc == 0)
            return 0;
        km_log_debug(LOG, "renewing the lease %s/%s: %s; reading it again", l->ns, l->name,
                     km_err_msg());
        memcpy(want.acquire, want.renew, sizeof(want.acquire));
    }
    rc = read_lease(l, timeout_s, &cur);
    if (rc == R_NOTFOUND) {
        json_decref(l->lease);
        l->lease = NULL; /* deleted: created anew */
        return write_lease(l, &want, timeout_s);
    }
    if (rc)
        return rc;
    if (!km_klease_equal(&cur, &l->obs))
        observe(l, &cur);
    if (cur.holder[0] && !ours(l) && valid(l, km_time_mono_ns()))
        return R_HELD;
    if (ours(l))
        memcpy(want.acquire, l->obs.acquire, sizeof(want.acquire));
    want.transitions = l->obs.transitions + (ours(l) ? 0 : 1);
    return write_lease(l, &want, timeout_s);
}

/* ---- the loop -------------------------------------------------------------------------- */

/* A failed attempt, logged at most once a minute; a 403 once until an attempt succeeds. */
static void log_failure(struct km_kleader *l, int rc)
{
    uint64_t held;

    if (rc == R_HELD || atomic_load(&l->abort))
        return;
    if (rc == R_CONFLICT) {
        km_log_debug(LOG, "another replica wrote the lease %s/%s first", l->ns, l->name);
        return;
    }
    if (rc == R_FORBIDDEN) {
        if (!l->warned_forbidden)
            km_log_error(LOG,
                         "forbidden: cannot get, create or update the lease %s/%s (%s); the "
                         "Role in namespace %s needs get,create,update on leases (apiGroups: "
                         "[\"coordination.k8s.io\"]); this replica does not lead",
                         l->ns, l->name, km_err_msg(), l->ns);
        l->warned_forbidden = true;
        return;
    }
    if (km_log_limit_take(&l->err_log, &held))
        km_log_warn(LOG, "lease %s/%s: %s (%llu more since the last message)", l->ns, l->name,
                    km_err_msg(), (unsigned long long)held);
}

static void became(struct km_kleader *l)
{
    atomic_store(&l->leading, true);
    atomic_fetch_add(&l->transitions, 1);
    km_log_info(LOG, "became the leader (lease %s/%s, identity %s)", l->ns, l->name, l->identity);
}

static void lost(struct km_kleader *l)
{
    char d[32];

    atomic_store(&l->leading, false);
    km_duration_format(d, sizeof(d), l->o.renew_deadline_ms);
    if (l->obs.holder[0] && !ours(l))
        km_log_info(LOG, "lost the leadership (lease %s/%s, identity %s): %s holds the lease",
                    l->ns, l->name, l->identity, l->obs.holder);
    else
        km_log_info(LOG,
                    "lost the leadership (lease %s/%s, identity %s): not renewed within the "
                    "renew deadline (%s)",
                    l->ns, l->name, l->identity, d);
}

/* Whole seconds for a request ending by ns from now (at least 1). */
static long request_timeout_s(int64_t ns)
{
    return ns > 1000 * NS_PER_MS ? (long)((ns + 1000 * NS_PER_MS - 1) / (1000 * NS_PER_MS)) : 1;
}

/* client-go's ReleaseOnCancel: no holder, a lease of one second. */
static void release(struct km_kleader *l)
{
    struct km_klease_record r = { .duration_s = 1 };
    long t = request_timeout_s(l->o.renew_deadline_ms * NS_PER_MS);

    atomic_store(&l->leading, false); /* stop acting before the lease is free */
    if (!l->lease || !ours(l))
        return;
    km_klease_microtime(r.renew, km_time_now_ns());
    memcpy(r.acquire, r.renew, sizeof(r.acquire));
    r.transitions = l->obs.transitions;
    if (write_lease(l, &r, t < RELEASE_MAX_S ? t : RELEASE_MAX_S) == 0)
        km_log_info(LOG, "released the lease %s/%s (identity %s)", l->ns, l->name, l->identity);
    else
        km_log_warn(LOG,
                    "could not release the lease %s/%s: %s; another replica takes over when "
                    "it expires",
                    l->ns, l->name, km_err_msg());
}

static int64_t wait_ms(struct km_kleader *l)
{
    double u = (double)(next_rand(&l->rnd) >> 11) / 9007199254740992.0; /* [0, 1) */

    if (atomic_load(&l->leading))
        return l->o.retry_period_ms;
    return l->o.retry_period_ms + (int64_t)(u * JITTER * (double)l->o.retry_period_ms);
}

static void *run(void *arg)
{
    struct km_kleader *l = arg;
    int64_t renew_ns = l->o.renew_deadline_ms * NS_PER_MS;

    while (!km_kube_pause_stopped(&l->pause)) {
        bool leading = atomic_load(&l->leading);
        int64_t t0 = km_time_mono_ns();
        int64_t until = leading ? atomic_load(&l->until_ns) : t0 + renew_ns;
        int rc = try_acquire_or_renew(l, request_timeout_s(until - t0));
        int64_t now = km_time_mono_ns();

        if (leading && now >= until) {
            lost(l); /* the deadline passed during the attempt, whatever its outcome */
            leading = false;
        }
        if (rc == 0 && now < t0 + renew_ns) {
            atomic_store(&l->until_ns, t0 + renew_ns);
            l->warned_forbidden = false;
            if (!leading)
                became(l);
        } else {
            /* A success slower than the renew deadline counts as a failure (the next
             * attempt renews what it wrote). */
            if (rc)
                log_failure(l, rc);
            if (leading && rc == R_HELD)
                lost(l);
        }
        km_kube_pause_sleep(&l->pause, wait_ms(l));
    }
    atomic_store(&l->abort, false); /* set before the stop: the release must go out */
    if (atomic_load(&l->leading))
        release(l);
    return NULL;
}

/* ---- life ------------------------------------------------------------------------------ */

static void leader_free(struct km_kleader *l)
{
    km_kube_client_fini(&l->k);
    km_buf_fini(&l->body);
    km_kube_pause_fini(&l->pause);
    json_decref(l->lease);
    free(l);
}

static int setup(struct km_kleader *l, const struct km_kleader_opts *o)
{
    l->o = *o;
    if (!l->o.lease_duration_ms)
        l->o.lease_duration_ms = 15000;
    if (!l->o.renew_deadline_ms)
        l->o.renew_deadline_ms = 10000;
    if (!l->o.retry_period_ms)
        l->o.retry_period_ms = 2000;
    if (l->o.retry_period_ms <= 0 || l->o.retry_period_ms >= l->o.renew_deadline_ms ||
        l->o.renew_deadline_ms >= l->o.lease_duration_ms || l->o.lease_duration_ms % 1000)
        return km_err_set(KM_EINVAL, "leader election needs a retry period shorter than the "
                                     "renew deadline, and that shorter than the lease duration "
                                     "(whole seconds)");
    if (!o->ns || !*o->ns || !o->name || !*o->name || strlen(o->ns) >= sizeof(l->ns) ||
        strlen(o->name) >= sizeof(l->name))
        return km_err_set(KM_EINVAL, "leader election needs a lease namespace and name");
    snprintf(l->ns, sizeof(l->ns), "%s", o->ns);
    snprintf(l->name, sizeof(l->name), "%s", o->name);
    if (o->identity && *o->identity) {
        if (strlen(o->identity) >= sizeof(l->identity))
            return km_err_set(KM_EINVAL, "a leader-election identity longer than %zu bytes",
                              sizeof(l->identity) - 1);
        snprintf(l->identity, sizeof(l->identity), "%s", o->identity);
    } else {
        km_kleader_default_identity(l->identity, sizeof(l->identity));
    }
    snprintf(l->coll, sizeof(l->coll), "/apis/coordination.k8s.io/v1/namespaces/%s/leases", l->ns);
    snprintf(l->path, sizeof(l->path), "%s/%s", l->coll, l->name);
    l->o.ns = l->ns;
    l->o.name = l->name;
    l->o.identity = l->identity;
    return 0;
}

int km_kleader_start(struct km_kleader **out, const struct km_kube_config *cfg,
                     const struct km_kleader_opts *o)
{
    struct km_kleader *l = calloc(1, sizeof(*l));
    int rc;

    *out = NULL;
    if (!l)
        return km_err_set(KM_ENOMEM, "out of memory");
    km_kube_pause_init(&l->pause);
    km_buf_init(&l->body, MAX_BODY);
    atomic_init(&l->abort, false);
    atomic_init(&l->leading, false);
    atomic_init(&l->until_ns, 0);
    atomic_init(&l->transitions, 0);
    l->err_log.period_ns = 60 * 1000 * NS_PER_MS;
    l->rnd = (uint64_t)km_time_mono_ns() ^ (uintptr_t)l;
    rc = setup(l, o);
    if (rc == 0)
        rc = km_kube_client_init(&l->k, cfg, &l->abort);
    if (rc == 0)
        rc = km_kube_thread_start(&l->thread, run, l, "the leader-election thread");
    if (rc)
        goto out_free;
    l->started = true;
    *out = l;
    return 0;

out_free:
    leader_free(l);
    return rc;
}

bool km_kleader_is_leader(const struct km_kleader *l)
{
    return atomic_load(&l->leading) && km_time_mono_ns() < atomic_load(&l->until_ns);
}

const char *km_kleader_identity(const struct km_kleader *l)
{
    return l->identity;
}

void km_kleader_metrics(const struct km_kleader *l, struct km_mset *m)
{
    km_mset_add(m,
                km_mset_family(m, "kmon_cluster_state_leader",
                               "1 while this replica holds the leader-election Lease (and emits "
                               "the cluster state), else 0.",
                               KM_MT_GAUGE, 0),
                NULL, 0, km_kleader_is_leader(l) ? 1.0 : 0.0);
    km_mset_add(m,
                km_mset_family(m, "kmon_cluster_state_leader_transitions_total",
                               "Times this replica became the leader.", KM_MT_COUNTER, 0),
                NULL, 0, (double)atomic_load(&l->transitions));
}

void km_kleader_stop(struct km_kleader *l)
{
    if (!l)
        return;
    /* A candidate has nothing to release: cut its request in flight. A leader's renewal
     * finishes (bounded by its deadline) so that the release can follow. Set before the
     * stop flag, which the thread reads before clearing it. */
    if (!atomic_load(&l->leading))
        atomic_store(&l->abort, true);
    km_kube_pause_stop(&l->pause);
    if (l->started)
        pthread_join(l->thread, NULL);
    leader_free(l);
}
