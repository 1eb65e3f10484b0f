/*
 * pause — interruptible sleeps for Kubernetes API threads (see pause.h).
 */
#include "pause.h"

#include "common/err.h"

struct timespec km_kube_deadline_in(int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

void km_kube_pause_init(struct km_kube_pause *p)
{
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    atomic_init(&p->stop, false);
}

void km_kube_pause_fini(struct km_kube_pause *p)
{
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
}

void km_kube_pause_sleep(struct km_kube_pause *p, int64_t ms)
{
    struct timespec ts = km_kube_deadline_in(ms);

    pthread_mutex_lock(&p->mu);
    while (!atomic_load(&p->stop) && pthread_cond_timedwait(&p->cond, &p->mu, &ts) == 0)
        ;
    pthread_mutex_unlock(&p->mu);
}

void km_kube_pause_stop(struct km_kube_pause *p)
{
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
}

int km_kube_thread_start(pthread_t *t, void *(*fn)(void *), void *arg, const char *what)
{
    pthread_attr_t attr;
    int rc = 0;

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512u << 10);
    if (pthread_create(t, &attr, fn, arg) != 0)
        rc = km_err_set(KM_ENOMEM, "cannot start %s", what);
    pthread_attr_destroy(&attr);
    return rc;
}
