/*
 * series_values — promtool's expanding notation for input series (see series_values.h),
 * read as Prometheus' series-description grammar reads it: terms separated by spaces;
 * "a+bxn" and "axn" give n+1 values, "_xn" gives n missing ones; the messages say where
 * in the text a term went wrong ("1:7: parse error: unexpected end of input in series
 * values").
 */
#include "rules/series_values.h"

#include "common/err.h"
#include "promql/literal.h"

#include <stdlib.h>
#include <string.h>

struct out {
    struct km_series_value *v;
    size_t n, cap;
};

static int push(struct out *o, double v, bool missing)
{
    if (o->n == KM_SERIES_VALUES_MAX)
        return KM_ELIMIT;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        struct km_series_value *p = realloc(o->v, cap * sizeof(*p));

        if (!p)
            return KM_ENOMEM;
        o->v = p;
        o->cap = cap;
    }
    o->v[o->n++] = (struct km_series_value){ v, missing };
    return 0;
}

static int syntax(struct km_buf *err, size_t at, const char *what)
{
    km_buf_printf(err, "1:%zu: parse error: %s in series values", at + 1, what);
    return KM_EINVAL;
}

/* A number at s[0..n): Go's ParseFloat through PromQL's number reader. */
static bool number(const char *s, size_t n, double *v)
{
    struct km_buf ignore;
    bool ok;
    bool neg = false;

    if (n > 1 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s++;
        n--;
    }
    if (n == 0)
        return false;
    km_buf_init(&ignore, 256);
    ok = km_promql_number_parse(s, n, v, &ignore) == 0;
    km_buf_fini(&ignore);
    if (ok && neg)
        *v = -*v;
    return ok;
}

/* The repetition count after 'x': an unsigned decimal. */
static bool count(const char *s, size_t n, uint64_t *c)
{
    uint64_t x = 0;

    if (n == 0 || n > 12)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *c = x;
    return true;
}

/* One term s[0..n) starting at column `at`. */
static int term(struct out *o, const char *s, size_t n, size_t at, struct km_buf *err)
{
    const char *x;
    size_t base_len;
    uint64_t reps;
    double a, b = 0;
    int rc = 0;

    if (n == 5 && memcmp(s, "stale", 5) == 0) {
        union {
            uint64_t u;
            double d;
        } st = { 0x7ff0000000000002ull };
        return push(o, st.d, false);
    }
    x = memchr(s, 'x', n);
    if (s[0] == '_') {
        if (n == 1)
            return push(o, 0, true);
        if (s[1] != 'x')
            return syntax(err, at + 1, "unexpected character after \"_\"");
        if (!count(s + 2, n - 2, &reps))
            return syntax(err, at + n, n == 2 ? "unexpected end of input" : "bad repetition");
        if (reps > KM_SERIES_VALUES_MAX - o->n)
            return KM_ELIMIT;
        for (uint64_t i = 0; rc == 0 && i < reps; i++)
            rc = push(o, 0, true);
        return rc;
    }
    if (!x) {
        if (!number(s, n, &a))
            return syntax(err, at, "unexpected value");
        return push(o, a, false);
    }
    if (!count(x + 1, n - (size_t)(x - s) - 1, &reps))
        return syntax(err, at + n, x + 1 == s + n ? "unexpected end of input" : "bad repetition");
    if (reps >= KM_SERIES_VALUES_MAX - o->n)
        return KM_ELIMIT;
    base_len = (size_t)(x - s);
    /* a+b or a-b: the operator is the first + or - after the first character that is not
     * an exponent's sign. */
    {
        size_t op = 0;

        for (size_t i = 1; i < base_len; i++) {
            if ((s[i] == '+' || s[i] == '-') && s[i - 1] != 'e' && s[i - 1] != 'E') {
                op = i;
                break;
            }
        }
        if (op) {
            if (!number(s, op, &a) || !number(s + op + 1, base_len - op - 1, &b))
                return syntax(err, at + op, "unexpected value");
            if (s[op] == '-')
                b = -b;
        } else if (!number(s, base_len, &a)) {
            return syntax(err, at, "unexpected value");
        }
    }
    for (uint64_t i = 0; rc == 0 && i <= reps; i++)
        rc = push(o, a + (double)i * b, false);
    return rc;
}

int km_series_values_parse(const char *text, struct km_series_value **out, size_t *n,
                           struct km_buf *err)
{
    struct out o = { 0 };
    size_t i = 0, len = strlen(text);
    int rc = 0;

    while (rc == 0 && i < len) {
        size_t start;

        if (text[i] == ' ' || text[i] == '\t' || text[i] == '\n') {
            i++;
            continue;
        }
        start = i;
        while (i < len && text[i] != ' ' && text[i] != '\t' && text[i] != '\n')
            i++;
        rc = term(&o, text + start, i - start, start, err);
    }
    if (rc == KM_ELIMIT)
        km_buf_printf(err, "more than %u values in one series", KM_SERIES_VALUES_MAX);
    else if (rc == KM_ENOMEM)
        km_buf_puts(err, "out of memory");
    if (rc) {
        free(o.v);
        return rc;
    }
    *out = o.v;
    *n = o.n;
    return 0;
}
