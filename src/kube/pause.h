/*
 * pause — an interruptible sleep for the threads that talk to the Kubernetes API: a
 * backoff or a re-probe waits on a condition variable that stopping the thread wakes at
 * once, and the stop flag is the one libcurl's progress callback reads (kclient.h), so
 * a request in flight ends too. Threads: one sleeper, any number of stoppers. And how
 * such a thread is started.
 */
#ifndef KMON_KUBE_PAUSE_H
#define KMON_KUBE_PAUSE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct km_kube_pause {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    atomic_bool stop;
};

void km_kube_pause_init(struct km_kube_pause *p);
void km_kube_pause_fini(struct km_kube_pause *p);

/* Sleep up to ms, returning early when stopped. */
void km_kube_pause_sleep(struct km_kube_pause *p, int64_t ms);

/* Set the stop flag and wake the sleeper. */
void km_kube_pause_stop(struct km_kube_pause *p);

static inline bool km_kube_pause_stopped(struct km_kube_pause *p)
{
    return atomic_load(&p->stop);
}

/* Start fn(arg) on a thread with the stack a Kubernetes API thread needs (libcurl and
 * TLS: 512 KiB, not glibc's 8 MiB). 0, or KM_ENOMEM with "cannot start <what>". */
int km_kube_thread_start(pthread_t *t, void *(*fn)(void *), void *arg, const char *what);

/* The CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
struct timespec km_kube_deadline_in(int64_t ms);

#endif
