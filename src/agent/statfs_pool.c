/*
 * statfs_pool — statvfs() with a deadline on worker threads (see statfs_pool.h).
 *
 * Ownership: `struct shared` (mutex, condition, stuck list) is reference-counted by the
 * pool and by every worker thread alive. A worker is owned by the pool while it is the
 * pool's current worker (the pool joins and frees it); once abandoned after a timeout it
 * is detached and owns itself: when its call returns it removes its path from the stuck
 * list, frees itself and drops its reference.
 */
#include "statfs_pool.h"

#include "common/err.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct shared {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    unsigned refs;
    char *stuck[KM_STATFS_MAX_STUCK];
    size_t nstuck;
    km_statvfs_fn fn;
};

struct worker {
    struct shared *sh;
    pthread_t th;
    bool has_job, done, quit, abandoned;
    char path[PATH_MAX];
    struct statvfs st;
    int err; /* errno of a failed call */
};

struct km_statfs_pool {
    struct shared *sh;
    struct worker *w; /* the current (not stuck) worker, or NULL */
    int64_t timeout_ms;
};

static void shared_release(struct shared *sh)
{
    bool last;

    pthread_mutex_lock(&sh->mu);
    last = --sh->refs == 0;
    pthread_mutex_unlock(&sh->mu);
    if (!last)
        return;
    for (size_t i = 0; i < sh->nstuck; i++)
        free(sh->stuck[i]);
    pthread_cond_destroy(&sh->cv);
    pthread_mutex_destroy(&sh->mu);
    free(sh);
}

/* Under sh->mu. */
static void unstick(struct shared *sh, const char *path)
{
    for (size_t i = 0; i < sh->nstuck; i++) {
        if (strcmp(sh->stuck[i], path) == 0) {
            free(sh->stuck[i]);
            sh->stuck[i] = sh->stuck[--sh->nstuck];
            return;
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    bool abandoned = false;

    pthread_mutex_lock(&sh->mu);
    for (;;) {
        struct statvfs st = { 0 };
        int rc, err;

        while (!w->has_job && !w->quit)
            pthread_cond_wait(&sh->cv, &sh->mu);
        if (w->quit)
            break;
        pthread_mutex_unlock(&sh->mu);
        rc = sh->fn(w->path, &st);
        err = rc ? errno : 0;
        pthread_mutex_lock(&sh->mu);
        w->st = st;
        w->err = rc ? (err ? err : EIO) : 0;
        w->has_job = false;
        w->done = true;
        if (w->abandoned) {
            unstick(sh, w->path);
            abandoned = true;
            break;
        }
        pthread_cond_broadcast(&sh->cv);
    }
    pthread_mutex_unlock(&sh->mu);
    if (abandoned) {
        free(w);
        shared_release(sh);
    }
    return NULL;
}

static int default_statvfs(const char *path, struct statvfs *st)
{
    return statvfs(path, st);
}

int km_statfs_pool_create(struct km_statfs_pool **out, int64_t timeout_ms, km_statvfs_fn fn)
{
    struct km_statfs_pool *p;
    struct shared *sh;
    pthread_condattr_t ca;

    p = calloc(1, sizeof(*p));
    sh = calloc(1, sizeof(*sh));
    if (!p || !sh) {
        free(p);
        free(sh);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&sh->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sh->cv, &ca);
    pthread_condattr_destroy(&ca);
    sh->refs = 1;
    sh->fn = fn ? fn : default_statvfs;
    p->sh = sh;
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    *out = p;
    return 0;
}

/* Under sh->mu: start a worker thread. */
static int start_worker(struct km_statfs_pool *p)
{
    pthread_attr_t attr;
    struct worker *w;
    int rc;

    w = calloc(1, sizeof(*w));
    if (!w)
        return km_err_set(KM_ENOMEM, "out of memory");
    w->sh = p->sh;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    rc = pthread_create(&w->th, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    if (rc) {
        free(w);
        return km_err_set_errno(KM_EIO, rc, "starting a statfs worker thread");
    }
    p->sh->refs++;
    p->w = w;
    return 0;
}

int km_statfs_pool_stat(struct km_statfs_pool *p, const char *path, struct statvfs *st)
{
    struct shared *sh = p->sh;
    struct timespec deadline;
    struct worker *w;
    int rc = 0;

    if (strlen(path) >= PATH_MAX)
        return km_err_set(KM_ELIMIT, "path too long: %s", path);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += p->timeout_ms / 1000;
    deadline.tv_nsec += (p->timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&sh->mu);
    for (size_t i = 0; i < sh->nstuck; i++) {
        if (strcmp(sh->stuck[i], path) == 0) {
            rc = km_err_set(KM_EAGAIN, "statfs %s: still hanging since an earlier call", path);
            goto out_unlock;
        }
    }
    if (sh->nstuck == KM_STATFS_MAX_STUCK) {
        rc = km_err_set(KM_ELIMIT, "statfs %s: %d mounts are hanging; not starting another", path,
                        KM_STATFS_MAX_STUCK);
        goto out_unlock;
    }
    if (!p->w) {
        rc = start_worker(p);
        if (rc)
            goto out_unlock;
    }
    w = p->w;
    memcpy(w->path, path, strlen(path) + 1);
    w->done = false;
    w->has_job = true;
    pthread_cond_broadcast(&sh->cv);
    while (!w->done) {
        if (pthread_cond_timedwait(&sh->cv, &sh->mu, &deadline) == ETIMEDOUT && !w->done) {
            char *copy = strdup(path);

            /* Abandon the worker: it frees itself when (if ever) the call returns. */
            w->abandoned = true;
            pthread_detach(w->th);
            p->w = NULL;
            if (copy)
                sh->stuck[sh->nstuck++] = copy;
            rc = km_err_set(KM_ETIMEDOUT, "statfs %s: no answer within %lld ms", path,
                            (long long)p->timeout_ms);
            goto out_unlock;
        }
    }
    if (w->err)
        rc = km_err_set_errno(KM_EIO, w->err, "statfs %s", path);
    else
        *st = w->st;
out_unlock:
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

size_t km_statfs_pool_nstuck(struct km_statfs_pool *p)
{
    size_t n;

    pthread_mutex_lock(&p->sh->mu);
    n = p->sh->nstuck;
    pthread_mutex_unlock(&p->sh->mu);
    return n;
}

void km_statfs_pool_destroy(struct km_statfs_pool *p)
{
    struct worker *w;

    if (!p)
        return;
    w = p->w;
    if (w) {
        pthread_mutex_lock(&p->sh->mu);
        w->quit = true;
        pthread_cond_broadcast(&p->sh->cv);
        pthread_mutex_unlock(&p->sh->mu);
        pthread_join(w->th, NULL);
        free(w);
        shared_release(p->sh); /* the worker's reference */
    }
    shared_release(p->sh); /* the pool's reference */
    free(p);
}
