/*
 * sig — shutdown signals collected synchronously with sigtimedwait() (see sig.h).
 */
#include "sig.h"

#include "err.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

static sigset_t shutdown_set;

int km_sig_init(void)
{
    int rc;

    sigemptyset(&shutdown_set);
    sigaddset(&shutdown_set, SIGTERM);
    sigaddset(&shutdown_set, SIGINT);
    sigaddset(&shutdown_set, SIGHUP);
    rc = pthread_sigmask(SIG_BLOCK, &shutdown_set, NULL);
    if (rc)
        return km_err_set_errno(KM_EIO, rc, "blocking shutdown signals");
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int km_sig_wait(int64_t timeout_ms)
{
    struct timespec ts;
    siginfo_t info;
    int sig;

    if (timeout_ms < 0)
        timeout_ms = 0;
    ts.tv_sec = (time_t)(timeout_ms / 1000);
    ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
    do {
        sig = sigtimedwait(&shutdown_set, &info, &ts);
    } while (sig < 0 && errno == EINTR);
    return sig < 0 ? 0 : sig;
}
