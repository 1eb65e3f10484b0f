/*
 * regex — pcre2 (8-bit, UTF, JIT) behind a small interface (see regex.h). Anchoring is
 * done by wrapping the pattern in ^(?:…)$ so alternations anchor as a whole. Match data
 * is one small block per thread, made on first use, reused, and freed when the thread
 * exits (an HTTP pool thread that matched must not leak it).
 */
#include "regex.h"

#include "err.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct km_regex {
    pcre2_code *code;
    char *pattern;
};

static _Thread_local pcre2_match_data *thread_md;
static pthread_once_t md_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t md_key; /* its destructor frees a thread's match data */
static bool md_key_ok;

static void md_free(void *md)
{
    pcre2_match_data_free(md);
}

static void md_key_create(void)
{
    md_key_ok = pthread_key_create(&md_key, md_free) == 0;
}

/* This thread's match data, made on first use. */
static pcre2_match_data *match_data(void)
{
    if (thread_md)
        return thread_md;
    pthread_once(&md_key_once, md_key_create);
    if (!md_key_ok)
        return NULL;
    thread_md = pcre2_match_data_create(1, NULL);
    if (thread_md && pthread_setspecific(md_key, thread_md) != 0) {
        pcre2_match_data_free(thread_md);
        thread_md = NULL;
    }
    return thread_md;
}

int km_regex_compile(struct km_regex **out, const char *pattern, unsigned flags)
{
    struct km_regex *re;
    PCRE2_SIZE erroff;
    size_t plen = strlen(pattern);
    char *wrapped = NULL;
    int errcode;

    re = calloc(1, sizeof(*re));
    if (!re)
        return km_err_set(KM_ENOMEM, "out of memory");
    re->pattern = strdup(pattern);
    if (!re->pattern)
        goto out_nomem;
    if (flags & KM_REGEX_ANCHORED) {
        wrapped = malloc(plen + 8);
        if (!wrapped)
            goto out_nomem;
        snprintf(wrapped, plen + 8, "^(?:%s)$", pattern);
    }
    re->code = pcre2_compile((PCRE2_SPTR)(wrapped ? wrapped : pattern), PCRE2_ZERO_TERMINATED,
                             PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &errcode, &erroff, NULL);
    free(wrapped);
    if (!re->code) {
        PCRE2_UCHAR msg[256];

        pcre2_get_error_message(errcode, msg, sizeof(msg));
        km_regex_destroy(re);
        return km_err_set(KM_EINVAL, "bad regular expression \"%s\": %s", pattern,
                          (const char *)msg);
    }
    if (flags & KM_REGEX_JIT)
        pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); /* else: the interpreter */
    *out = re;
    return 0;

out_nomem:
    km_regex_destroy(re);
    return km_err_set(KM_ENOMEM, "out of memory");
}

bool km_regex_match(const struct km_regex *re, const char *s, size_t n)
{
    pcre2_match_data *md = match_data();

    return md && pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, 0, md, NULL) >= 0;
}

int km_regex_match_groups(const struct km_regex *re, const char *s, size_t n, size_t *ov, int max)
{
    return km_regex_match_groups_at(re, s, n, 0, ov, max);
}

int km_regex_match_groups_at(const struct km_regex *re, const char *s, size_t n, size_t start,
                             size_t *ov, int max)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    PCRE2_SIZE *v;
    int rc, k;

    if (!md)
        return 0;
    rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, 0, md, NULL);
    if (rc < 0) {
        pcre2_match_data_free(md);
        return 0;
    }
    /* rc counts up to the highest group that took part; the pattern may have more. */
    k = (int)pcre2_get_ovector_count(md);
    k = k < max ? k : max;
    v = pcre2_get_ovector_pointer(md);
    for (int g = 0; g < k; g++) {
        bool set = g < rc && v[2 * g] != PCRE2_UNSET;

        ov[2 * g] = set ? (size_t)v[2 * g] : (size_t)-1;
        ov[2 * g + 1] = set ? (size_t)v[2 * g + 1] : (size_t)-1;
    }
    pcre2_match_data_free(md);
    return k;
}

int km_regex_group_count(const struct km_regex *re)
{
    uint32_t n = 0;

    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &n);
    return (int)n + 1;
}

int km_regex_group_number(const struct km_regex *re, const char *name)
{
    int n = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)name);

    return n > 0 ? n : -1;
}

const char *km_regex_pattern(const struct km_regex *re)
{
    return re->pattern;
}

void km_regex_destroy(struct km_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    free(re->pattern);
    free(re);
}
