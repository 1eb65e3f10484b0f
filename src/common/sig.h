/*
 * sig — graceful shutdown on SIGTERM, SIGINT and SIGHUP.
 *
 * km_sig_init() blocks those signals in the calling thread before it creates any other
 * thread, so every thread inherits the mask and the signals stay pending until the main
 * loop collects them with km_sig_wait(). SIGPIPE is ignored (sockets report EPIPE).
 */
#ifndef KMON_COMMON_SIG_H
#define KMON_COMMON_SIG_H

#include <stdint.h>

/* Call once from main() before starting threads. */
int km_sig_init(void);

/* Wait up to timeout_ms (0: just poll) for a shutdown signal. Returns its number, or 0
 * when the time ran out. */
int km_sig_wait(int64_t timeout_ms);

#endif
