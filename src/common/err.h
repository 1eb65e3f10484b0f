/*
 * err — kmon's error codes and the per-thread error message.
 *
 * Every library function returns 0 or a negative KM_E* code; the details go into a
 * message kept per thread (km_err_msg()), and only the top level decides what to print.
 * Thread-safe: each thread has its own message.
 */
#ifndef KMON_COMMON_ERR_H
#define KMON_COMMON_ERR_H

enum km_err {
    KM_OK = 0,
    KM_ENOMEM = -1,     /* out of memory */
    KM_EINVAL = -2,     /* bad argument or input */
    KM_ENOTFOUND = -3,  /* no such file, key or object */
    KM_EIO = -4,        /* an operating system call failed */
    KM_ECORRUPT = -5,   /* data fails its own checks */
    KM_ELIMIT = -6,     /* a configured bound was reached */
    KM_EAGAIN = -7,     /* try again later */
    KM_ETIMEDOUT = -8,  /* an operation took longer than allowed */
    KM_EEXIST = -9,     /* already exists */
    KM_ECANCELED = -10, /* given up: the peer went away or the program stops */
};

/* Set the calling thread's message and return code, so callers can write
 * `return km_err_set(KM_EINVAL, "bad duration %s", s);`. */
int km_err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* As km_err_set(), with ": strerror(errnum)" appended. */
int km_err_set_errno(int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the current message with more context: "reading /proc/stat: <old message>". */
int km_err_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The calling thread's last message; never NULL. */
const char *km_err_msg(void);

/* The errno given to the last km_err_set_errno() (kept by km_err_wrap(), 0 after
 * km_err_set()), so the top level can explain a cause: EADDRINUSE, EACCES, … */
int km_err_errno(void);

/* A short name for a code ("ENOMEM"). */
const char *km_err_name(int code);

#endif
