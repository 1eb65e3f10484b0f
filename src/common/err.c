/*
 * err — per-thread error messages for kmon's libraries (see err.h).
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KM_ERR_MSG_MAX 512

static _Thread_local char err_msg[KM_ERR_MSG_MAX];
static _Thread_local int err_errno;

/* Append ": " and `cause` to the message, whose text is `len` bytes long; what does not
 * fit is cut (a message is at most KM_ERR_MSG_MAX - 1 bytes, by design). */
static void append_cause(size_t len, const char *cause)
{
    char *p = err_msg + len, *end = err_msg + sizeof(err_msg) - 1;

    if (len >= sizeof(err_msg) - 1)
        return;
    for (const char *s = ": "; *s && p < end; s++)
        *p++ = *s;
    for (; *cause && p < end; cause++)
        *p++ = *cause;
    *p = '\0';
}

int km_err_set(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
    va_end(ap);
    err_errno = 0;
    return code;
}

int km_err_set_errno(int code, int errnum, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
    va_end(ap);
    if (n >= 0)
        append_cause((size_t)n, strerror(errnum));
    err_errno = errnum;
    return code;
}

int km_err_wrap(int code, const char *fmt, ...)
{
    char old[KM_ERR_MSG_MAX];
    va_list ap;
    int n;

    memcpy(old, err_msg, sizeof(old));
    va_start(ap, fmt);
    n = vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && old[0] != '\0')
        append_cause((size_t)n, old);
    return code;
}

const char *km_err_msg(void)
{
    return err_msg;
}

int km_err_errno(void)
{
    return err_errno;
}

const char *km_err_name(int code)
{
    switch (code) {
    case KM_OK:
        return "OK";
    case KM_ENOMEM:
        return "ENOMEM";
    case KM_EINVAL:
        return "EINVAL";
    case KM_ENOTFOUND:
        return "ENOTFOUND";
    case KM_EIO:
        return "EIO";
    case KM_ECORRUPT:
        return "ECORRUPT";
    case KM_ELIMIT:
        return "ELIMIT";
    case KM_EAGAIN:
        return "EAGAIN";
    case KM_ETIMEDOUT:
        return "ETIMEDOUT";
    case KM_EEXIST:
        return "EEXIST";
    case KM_ECANCELED:
        return "ECANCELED";
    }
    return "EUNKNOWN";
}
