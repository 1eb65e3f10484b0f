/*
 * template_funcs — the functions Prometheus 2.42 adds to its templates
 * (template/template.go): query and what works on its answers (first, label, value,
 * strvalue, sortByLabel), the number formatters humanize, humanize1024,
 * humanizeDuration, humanizePercentage, humanizeTimestamp and toTime, the string ones
 * (reReplaceAll, match, title, toUpper, toLower, safeHtml, stripPort, stripDomain),
 * links (graphLink, tableLink, externalURL, pathPrefix), args and parseDuration — each
 * with Prometheus' output and error messages. `query` calls the caller's function;
 * everything else is pure. Regular expressions go through common/regex (PCRE2), after
 * the RE2 syntax check PromQL uses, so a pattern Go refuses fails here with Go's message.
 */
#include "common/array.h"
#include "common/err.h"
#include "common/limits.h"
#include "common/regex.h"
#include "promql/literal.h"
#include "promql/quote.h"
#include "promql/re2syntax.h"
#include "rules/template_internal.h"

#include <arpa/inet.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#define NIL_DEREF "runtime error: invalid memory address or nil pointer dereference"

/* A NUL-terminated copy of a string value, in the expansion's arena. */
static const char *cstr(struct xstate *s, const struct tv *v, int *rc)
{
    char *c;

    if (v->s.p[v->s.n] == '\0' && !memchr(v->s.p, '\0', v->s.n))
        return v->s.p;
    c = tmpl_xalloc(s, v->s.n + 1, rc);
    if (c) {
        memcpy(c, v->s.p, v->s.n);
        c[v->s.n] = '\0';
    }
    return c;
}

static int string_result(const char *p, size_t n, struct tv *out)
{
    *out = (struct tv){ .k = TV_STRING };
    out->s.p = p;
    out->s.n = n;
    return 0;
}

/* ---- query and its answers ------------------------------------------------------------ */

static int f_query(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    struct km_tmpl_query_result *r;
    struct tsample *samples;
    struct tvector *vec;
    const char *q;
    int rc = 0;

    (void)argc;
    if (!s->d->query)
        return tmpl_fn_error(s, NIL_DEREF);
    if (++s->queries > KM_LIMIT_TMPL_QUERIES) {
        km_buf_printf(&s->fnerr, "template makes more than %d queries", KM_LIMIT_TMPL_QUERIES);
        return KM_ELIMIT;
    }
    q = cstr(s, &argv[0], &rc);
    if (!q)
        return rc;
    if (km_array_grow((void **)&s->results, &s->capresults, s->nresults + 1, sizeof(*s->results), 4,
                      "query results") != 0) {
        km_buf_puts(&s->fnerr, "out of memory");
        return KM_ENOMEM;
    }
    r = &s->results[s->nresults++];
    memset(r, 0, sizeof(*r));
    rc = s->d->query(s->d->query_ctx, q, s->d->eval_ms, r, &s->fnerr);
    if (rc) {
        if (s->fnerr.len == 0)
            km_buf_puts(&s->fnerr, km_err_msg());
        return rc == KM_ENOMEM ? KM_ENOMEM : KM_EINVAL;
    }
    vec = tmpl_xalloc(s, sizeof(*vec), &rc);
    if (!vec)
        return rc;
    samples = tmpl_xalloc(s, r->n * sizeof(*samples), &rc);
    vec->v = samples ? tmpl_xalloc(s, r->n * sizeof(*vec->v), &rc) : NULL;
    if (!vec->v)
        return rc;
    for (size_t k = 0; k < r->n; k++) {
        samples[k].labels = r->v[k].labels;
        samples[k].value = r->v[k].value;
        samples[k].ord = k;
        vec->v[k] = &samples[k];
    }
    vec->n = r->n;
    *out = (struct tv){ .k = TV_VECTOR };
    out->vec = vec;
    return 0;
}

static int f_first(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)argc;
    if (!argv[0].vec || argv[0].vec->n == 0)
        return tmpl_fn_error(s, "first() called on vector with no elements");
    *out = (struct tv){ .k = TV_SAMPLE };
    out->sample = argv[0].vec->v[0];
    return 0;
}

static int f_label(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    const char *v;

    (void)argc;
    if (!argv[1].sample)
        return tmpl_fn_error(s, NIL_DEREF);
    v = tmpl_label_get(argv[1].sample->labels, argv[0].s.p, argv[0].s.n);
    return string_result(v ? v : "", v ? strlen(v) : 0, out);
}

static int f_value(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)argc;
    if (!argv[0].sample)
        return tmpl_fn_error(s, NIL_DEREF);
    *out = (struct tv){ .k = TV_FLOAT };
    out->f = argv[0].sample->value;
    return 0;
}

static int f_strvalue(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    const char *v;

    (void)argc;
    if (!argv[0].sample)
        return tmpl_fn_error(s, NIL_DEREF);
    v = tmpl_label_get(argv[0].sample->labels, "__value__", 9);
    return string_result(v ? v : "", v ? strlen(v) : 0, out);
}

struct sort_key {
    const char *key;
    size_t ord;
    struct tsample *sample;
};

static int sort_key_cmp(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    if (c)
        return c;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* Sort the vector in place (Go's sort.Stable on the slice, shared with whoever holds it)
 * by the value of a label, "" where it is missing. */
static int f_sort_by_label(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    struct tvector *vec = argv[1].vec;
    struct sort_key *keys;
    int rc = 0;

    (void)argc;
    *out = argv[1];
    if (!vec || vec->n < 2)
        return 0;
    keys = tmpl_xalloc(s, vec->n * sizeof(*keys), &rc);
    if (!keys)
        return rc;
    for (size_t k = 0; k < vec->n; k++) {
        const char *v = tmpl_label_get(vec->v[k]->labels, argv[0].s.p, argv[0].s.n);

        keys[k].key = v ? v : "";
        keys[k].ord = k;
        keys[k].sample = vec->v[k];
    }
    km_sort(keys, vec->n, sizeof(*keys), sort_key_cmp);
    for (size_t k = 0; k < vec->n; k++)
        vec->v[k] = keys[k].sample;
    return 0;
}

static int args_order_cmp(const void *a, const void *b)
{
    char ka[32], kb[32];

    snprintf(ka, sizeof(ka), "%zu", *(const size_t *)a);
    snprintf(kb, sizeof(kb), "%zu", *(const size_t *)b);
    return strcmp(ka, kb);
}

static int f_args(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    struct targs *a;
    int rc = 0;

    a = tmpl_xalloc(s, sizeof(*a), &rc);
    if (a) {
        a->v = tmpl_xalloc(s, (argc ? argc : 1) * sizeof(*a->v), &rc);
        a->order = a->v ? tmpl_xalloc(s, (argc ? argc : 1) * sizeof(*a->order), &rc) : NULL;
    }
    if (!a || !a->v || !a->order)
        return rc;
    a->n = argc;
    for (size_t k = 0; k < argc; k++) {
        a->v[k] = argv[k];
        a->v[k].iface = argv[k].k == TV_NIL; /* the map's values are interfaces */
        a->order[k] = k;
    }
    km_sort(a->order, argc, sizeof(*a->order), args_order_cmp);
    *out = (struct tv){ .k = TV_ARGS };
    out->args = a;
    return 0;
}

/* ---- Regular expressions -------------------------------------------------------------- */

/* Compile a pattern as Go's regexp.Compile would take it; KM_EINVAL with Go's message
 * ("error parsing regexp: …") appended to msg. */
static int compile(struct xstate *s, const struct tv *pattern, struct km_regex **re,
                   struct km_buf *msg)
{
    const char *p;
    int rc = 0;

    p = cstr(s, pattern, &rc);
    if (!p)
        return rc;
    if (memchr(pattern->s.p, '\0', pattern->s.n)) {
        km_buf_puts(msg, "error parsing regexp: invalid character NUL in pattern");
        return KM_EINVAL;
    }
    rc = km_promql_re2_check(pattern->s.p, pattern->s.n, msg);
    if (rc)
        return rc == KM_ENOMEM ? KM_ENOMEM : KM_EINVAL;
    rc = km_regex_compile(re, p, 0);
    if (rc == KM_EINVAL)
        km_buf_printf(msg, "error parsing regexp: %s", km_err_msg());
    return rc;
}

/* Go's quote() in regexp's messages: `p` when it can be backquoted, else "p". */
static void regexp_quote(struct km_buf *b, const char *p, size_t n)
{
    bool backquote = true;

    for (size_t k = 0; k < n && backquote;) {
        int32_t r;
        size_t w = tmpl_utf8_decode(p + k, n - k, &r);

        backquote = !((w == 1 && r == KM_PROMQL_RUNE_ERROR) || r == '`' || r == 0xfeff ||
                      r == 0x7f || (r < ' ' && r != '\t'));
        k += w;
    }
    if (backquote) {
        km_buf_putc(b, '`');
        km_buf_append(b, p, n);
        km_buf_putc(b, '`');
    } else {
        tmpl_quote(b, p, n);
    }
}

static bool name_char(unsigned char c)
{
    return c == '_' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
           c >= 0x80;
}

/* Append the replacement template with $1, ${1}, $name, ${name} and $$ expanded (Go's
 * Regexp.Expand): a name is the longest run of letters, digits and '_'; a number with a
 * leading zero is a name; unknown groups give nothing; a malformed '$' stays as it is. */
static void expand(struct km_buf *b, const struct km_regex *re, const char *t, size_t tn,
                   const char *src, const size_t *ov, int ngroups)
{
    size_t i = 0;

    while (i < tn) {
        const char *dollar = memchr(t + i, '$', tn - i);
        size_t start, end, after;
        bool brace;
        long num = 0;
        int g = -1;

        if (!dollar) {
            km_buf_append(b, t + i, tn - i);
            return;
        }
        km_buf_append(b, t + i, (size_t)(dollar - t) - i);
        i = (size_t)(dollar - t) + 1;
        if (i < tn && t[i] == '$') {
            km_buf_putc(b, '$');
            i++;
            continue;
        }
        brace = i < tn && t[i] == '{';
        start = end = i + brace;
        while (end < tn && name_char((unsigned char)t[end]))
            end++;
        after = end;
        if (end == start || (brace && (end >= tn || t[end] != '}'))) {
            km_buf_putc(b, '$'); /* malformed: the '$' as text */
            continue;
        }
        if (brace)
            after++;
        for (size_t k = start; k < end; k++) {
            if (t[k] < '0' || t[k] > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (t[k] - '0');
        }
        if (t[start] == '0' && end - start > 1)
            num = -1;
        if (num >= 0) {
            g = (int)num;
        } else {
            char name[256];

            if (end - start < sizeof(name)) {
                memcpy(name, t + start, end - start);
                name[end - start] = '\0';
                g = km_regex_group_number(re, name);
            }
        }
        if (g >= 0 && g < ngroups && ov[2 * g] != (size_t)-1)
            km_buf_append(b, src + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
        i = after;
    }
}

static int f_re_replace_all(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    const struct tv *repl = &argv[1], *text = &argv[2];
    struct km_regex *re = NULL;
    struct km_buf msg, b;
    size_t *ov = NULL, search = 0, last_end = 0;
    int rc, ngroups;

    (void)argc;
    km_buf_init(&msg, 4096);
    rc = compile(s, &argv[0], &re, &msg);
    if (rc) {
        if (rc == KM_EINVAL) {
            km_buf_puts(&s->fnerr, "regexp: Compile(");
            regexp_quote(&s->fnerr, argv[0].s.p, argv[0].s.n);
            km_buf_printf(&s->fnerr, "): %s", km_buf_cstr(&msg));
        } else if (s->fnerr.len == 0) {
            km_buf_puts(&s->fnerr, "out of memory");
        }
        tmpl_buf_done(&s->fnerr, &msg);
        return rc;
    }
    km_buf_fini(&msg);
    ngroups = km_regex_group_count(re);
    ov = tmpl_xalloc(s, 2 * (size_t)ngroups * sizeof(*ov), &rc);
    if (!ov)
        goto out_free_re;
    km_buf_init(&b, KM_LIMIT_TMPL_OUTPUT);
    /* Go's replaceAll: successive matches; an empty match right after a match is not
     * replaced; the search moves on by at least one character. */
    while (search <= text->s.n && !km_buf_error(&b)) {
        int m = km_regex_match_groups_at(re, text->s.p, text->s.n, search, ov, ngroups);
        int32_t r;
        size_t width;

        if (m <= 0)
            break;
        km_buf_append(&b, text->s.p + last_end, ov[0] - last_end);
        if (ov[1] > last_end || ov[0] == 0)
            expand(&b, re, repl->s.p, repl->s.n, text->s.p, ov, m);
        last_end = ov[1];
        width =
            search < text->s.n ? tmpl_utf8_decode(text->s.p + search, text->s.n - search, &r) : 0;
        if (search + width > ov[1])
            search += width;
        else if (search + 1 > ov[1])
            search++;
        else
            search = ov[1];
    }
    km_buf_append(&b, text->s.p + last_end, text->s.n - last_end);
    rc = tmpl_xstring_buf(s, &b, out);
out_free_re:
    km_regex_destroy(re);
    return rc;
}

static int f_match(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    struct km_regex *re = NULL;
    struct km_buf msg;
    int rc;

    (void)argc;
    km_buf_init(&msg, 4096);
    rc = compile(s, &argv[0], &re, &msg);
    if (rc) {
        km_buf_puts(&s->fnerr, rc == KM_EINVAL ? km_buf_cstr(&msg) : "out of memory");
        tmpl_buf_done(&s->fnerr, &msg);
        return rc;
    }
    km_buf_fini(&msg);
    *out = (struct tv){ .k = TV_BOOL };
    out->b = km_regex_match(re, argv[1].s.p, argv[1].s.n);
    km_regex_destroy(re);
    return 0;
}

/* ---- Strings -------------------------------------------------------------------------- */

static int f_safe_html(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)s;
    (void)argc;
    *out = argv[0];
    out->k = TV_HTML; /* the same string, of another type */
    return 0;
}

enum case_map { TO_UPPER, TO_LOWER, TO_TITLE };

/* Go's unicode.IsLetter or IsDigit, by the locale's classes. */
static bool letter_or_digit(int32_t r, locale_t loc)
{
    if (r < 0x80)
        return name_char((unsigned char)r) && r != '_';
    return loc && (iswalpha_l((wint_t)r, loc) || iswdigit_l((wint_t)r, loc));
}

/* strings.Title's separators: not letters, digits or '_'; past ASCII only spaces. */
static bool separator(int32_t r, locale_t loc)
{
    if (r < 0x80)
        return !name_char((unsigned char)r);
    if (letter_or_digit(r, loc))
        return false;
    /* Go's unicode.IsSpace past ASCII */
    return r == 0x85 || r == 0xa0 || r == 0x1680 || (r >= 0x2000 && r <= 0x200a) || r == 0x2028 ||
           r == 0x2029 || r == 0x202f || r == 0x205f || r == 0x3000;
}

/* Map the case of every rune (strings.ToUpper, ToLower, Title); an invalid byte becomes
 * U+FFFD as in Go. Cases past ASCII come from the C.UTF-8 locale's tables. */
static int map_case(struct xstate *s, const struct tv *v, enum case_map how, struct tv *out)
{
    struct km_buf b;
    int32_t prev = ' ';
    locale_t loc;

    if (!s->ctype)
        s->ctype = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    loc = (locale_t)s->ctype;
    km_buf_init(&b, KM_LIMIT_TMPL_OUTPUT);
    for (size_t k = 0; k < v->s.n;) {
        int32_t r, m;
        size_t w = tmpl_utf8_decode(v->s.p + k, v->s.n - k, &r);

        m = r;
        if (how == TO_LOWER || (how == TO_UPPER) || separator(prev, loc)) {
            bool up = how != TO_LOWER;

            if (r < 0x80)
                m = up ? (r >= 'a' && r <= 'z' ? r - 32 : r) : (r >= 'A' && r <= 'Z' ? r + 32 : r);
            else if (loc)
                m = up ? (int32_t)towupper_l((wint_t)r, loc) : (int32_t)towlower_l((wint_t)r, loc);
        }
        if (how == TO_TITLE && separator(prev, loc) && m >= 0x1c4 && m <= 0x1f3) {
            /* the digraphs whose title case is not their upper case: ǅ ǈ ǋ ǲ */
            if (m == 0x1c4 || m == 0x1c7 || m == 0x1ca || m == 0x1f1)
                m++;
        }
        if (how == TO_TITLE)
            prev = r;
        km_promql_utf8_append(&b, m);
        k += w;
    }
    return tmpl_xstring_buf(s, &b, out);
}

static int f_title(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)argc;
    return map_case(s, &argv[0], TO_TITLE, out);
}

static int f_to_upper(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)argc;
    return map_case(s, &argv[0], TO_UPPER, out);
}

static int f_to_lower(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)argc;
    return map_case(s, &argv[0], TO_LOWER, out);
}

static int link(struct xstate *s, const struct tv *expr, int tab, struct tv *out)
{
    struct km_buf b;

    km_buf_init(&b, KM_LIMIT_TMPL_OUTPUT);
    km_buf_puts(&b, "/graph?g0.expr=");
    tmpl_query_escape(&b, expr->s.p, expr->s.n);
    km_buf_printf(&b, "&g0.tab=%d", tab);
    return tmpl_xstring_buf(s, &b, out);
}

static int f_graph_link(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)argc;
    return link(s, &argv[0], 0, out);
}

static int f_table_link(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)argc;
    return link(s, &argv[0], 1, out);
}

/* Go's net.SplitHostPort: the host and port of "host:port" or "[host]:port". */
static bool split_host_port(const char *s, size_t n, size_t *host, size_t *host_len, size_t *port)
{
    const char *last = NULL;
    size_t j = 0, k = 0, i;

    for (size_t x = 0; x < n; x++) {
        if (s[x] == ':')
            last = s + x;
    }
    if (!last)
        return false;
    i = (size_t)(last - s);
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        size_t end;

        if (!close)
            return false;
        end = (size_t)(close - s);
        if (end + 1 != i)
            return false; /* no port after the ']', or more colons */
        *host = 1;
        *host_len = end - 1;
        j = 1;
        k = end + 1;
    } else {
        if (memchr(s, ':', i))
            return false; /* too many colons */
        *host = 0;
        *host_len = i;
    }
    if (memchr(s + j, '[', n - j) || memchr(s + k, ']', n - k))
        return false;
    *port = i + 1;
    return true;
}

static int f_strip_port(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    size_t host, host_len, port;

    (void)s;
    (void)argc;
    if (!split_host_port(argv[0].s.p, argv[0].s.n, &host, &host_len, &port)) {
        *out = argv[0];
        return 0;
    }
    return string_result(argv[0].s.p + host, host_len, out);
}

/* Go's net.ParseIP: a dotted IPv4 or an IPv6 address. */
static bool parse_ip(const char *s, size_t n)
{
    unsigned char addr[16];
    char c[64];

    if (n >= sizeof(c) || memchr(s, '\0', n))
        return false;
    memcpy(c, s, n);
    c[n] = '\0';
    return inet_pton(AF_INET, c, addr) == 1 || inet_pton(AF_INET6, c, addr) == 1;
}

static int f_strip_domain(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    const char *p = argv[0].s.p, *dot;
    size_t n = argv[0].s.n, host = 0, host_len = n, port = n, first;
    struct km_buf b;

    (void)argc;
    if (!split_host_port(p, n, &host, &host_len, &port)) {
        host = 0;
        host_len = n;
        port = n;
    }
    if (parse_ip(p + host, host_len)) {
        *out = argv[0];
        return 0;
    }
    dot = memchr(p + host, '.', host_len);
    first = dot ? (size_t)(dot - (p + host)) : host_len;
    if (port >= n)
        return string_result(p + host, first, out);
    /* net.JoinHostPort: brackets around a host with a colon. */
    km_buf_init(&b, KM_LIMIT_TMPL_OUTPUT);
    if (memchr(p + host, ':', first))
        km_buf_putc(&b, '[');
    km_buf_append(&b, p + host, first);
    if (memchr(p + host, ':', first))
        km_buf_putc(&b, ']');
    km_buf_putc(&b, ':');
    km_buf_append(&b, p + port, n - port);
    return tmpl_xstring_buf(s, &b, out);
}

/* ---- Numbers -------------------------------------------------------------------------- */

/* Prometheus' convertToFloat: a float64, an int or a string that parses as one. */
static int to_float(struct xstate *s, const struct tv *v, double *out)
{
    int rc;

    switch (v->k) {
    case TV_FLOAT:
        *out = v->f;
        return 0;
    case TV_INT:
        *out = (double)v->i;
        return 0;
    case TV_STRING:
        rc = tmpl_parse_float(v->s.p, v->s.n, out);
        if (rc == 0)
            return 0;
        if (rc == KM_ENOMEM) {
            km_buf_puts(&s->fnerr, "out of memory");
            return rc;
        }
        km_buf_puts(&s->fnerr, "strconv.ParseFloat: parsing ");
        tmpl_quote(&s->fnerr, v->s.p, v->s.n);
        km_buf_puts(&s->fnerr, rc == KM_ELIMIT ? ": value out of range" : ": invalid syntax");
        return KM_EINVAL;
    default:
        return tmpl_fn_error(s, "can't convert %s to float", tmpl_type_name(v));
    }
}

/* Go's int64(v) on amd64: truncation, and the minimum for what does not fit. */
static int64_t go_int64(double v)
{
    if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0))
        return INT64_MIN;
    return (int64_t)v;
}

/* Scale v by `base` through the prefixes until it is below base. */
static void scale_up(double *v, double base, const char *const *prefixes, const char **prefix)
{
    *prefix = "";
    for (size_t k = 0; prefixes[k]; k++) {
        if (fabs(*v) < base)
            break;
        *prefix = prefixes[k];
        *v /= base;
    }
}

static void scale_down(double *v, const char **prefix)
{
    static const char *const small[] = { "m", "u", "n", "p", "f", "a", "z", "y", NULL };

    *prefix = "";
    for (size_t k = 0; small[k]; k++) {
        if (fabs(*v) >= 1)
            break;
        *prefix = small[k];
        *v *= 1000;
    }
}

static int number_result(struct xstate *s, double v, const char *suffix, struct tv *out)
{
    struct km_buf b;

    km_buf_init(&b, 256);
    tmpl_fmt_g(&b, v, 4);
    km_buf_puts(&b, suffix);
    return tmpl_xstring_buf(s, &b, out);
}

/* humanize (SI prefixes, and m, u, n… below 1) and humanize1024 (binary prefixes). */
static int humanize_scaled(struct xstate *s, const struct tv *arg, bool binary, struct tv *out)
{
    static const char *const si[] = { "k", "M", "G", "T", "P", "E", "Z", "Y", NULL };
    static const char *const iec[] = { "ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi", NULL };
    const char *prefix = "";
    double v;
    int rc;

    rc = to_float(s, arg, &v);
    if (rc)
        return rc;
    if (isnan(v) || isinf(v) || (binary ? fabs(v) <= 1 : v == 0))
        return number_result(s, v, "", out);
    if (binary || fabs(v) >= 1)
        scale_up(&v, binary ? 1024 : 1000, binary ? iec : si, &prefix);
    else
        scale_down(&v, &prefix);
    return number_result(s, v, prefix, out);
}

static int f_humanize(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)argc;
    return humanize_scaled(s, &argv[0], false, out);
}

static int f_humanize1024(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)argc;
    return humanize_scaled(s, &argv[0], true, out);
}

static int f_humanize_duration(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    const char *prefix, *sign = "";
    struct km_buf b;
    double v;
    int rc;

    (void)argc;
    rc = to_float(s, &argv[0], &v);
    if (rc)
        return rc;
    if (isnan(v) || isinf(v))
        return number_result(s, v, "", out);
    if (v == 0)
        return number_result(s, v, "s", out);
    if (fabs(v) >= 1) {
        int64_t d, seconds, minutes, hours, days;

        if (v < 0) {
            sign = "-";
            v = -v;
        }
        d = go_int64(v);
        seconds = d % 60;
        minutes = (d / 60) % 60;
        hours = (d / 60 / 60) % 24;
        days = d / 60 / 60 / 24;
        km_buf_init(&b, 256);
        if (days != 0)
            km_buf_printf(&b, "%s%lldd %lldh %lldm %llds", sign, (long long)days, (long long)hours,
                          (long long)minutes, (long long)seconds);
        else if (hours != 0)
            km_buf_printf(&b, "%s%lldh %lldm %llds", sign, (long long)hours, (long long)minutes,
                          (long long)seconds);
        else if (minutes != 0)
            km_buf_printf(&b, "%s%lldm %llds", sign, (long long)minutes, (long long)seconds);
        else {
            km_buf_puts(&b, sign);
            tmpl_fmt_g(&b, v, 4);
            km_buf_putc(&b, 's');
        }
        return tmpl_xstring_buf(s, &b, out);
    }
    scale_down(&v, &prefix);
    km_buf_init(&b, 256);
    tmpl_fmt_g(&b, v, 4);
    km_buf_printf(&b, "%ss", prefix);
    return tmpl_xstring_buf(s, &b, out);
}

static int f_humanize_percentage(struct xstate *s, const struct tv *argv, size_t argc,
                                 struct tv *out)
{
    double v;
    int rc;

    (void)argc;
    rc = to_float(s, &argv[0], &v);
    return rc ? rc : number_result(s, v * 100, "%", out);
}

/* Prometheus' floatToTime: seconds to a time, at millisecond precision. 1 for NaN or
 * ±Inf (not a time), 0, or KM_EINVAL when out of range. */
static int float_to_time(struct xstate *s, double v, int64_t *ms)
{
    double ns = v * 1e9;

    if (isnan(v) || isinf(v))
        return 1;
    if (ns > 9223372036854775807.0 || ns < -9223372036854775808.0) {
        struct km_buf b;

        km_buf_init(&b, 64);
        tmpl_fmt_v(&b, v);
        tmpl_fn_error(s,
                      "%s cannot be represented as a nanoseconds timestamp since it overflows "
                      "int64",
                      km_buf_cstr(&b));
        tmpl_buf_done(&s->fnerr, &b);
        return KM_EINVAL;
    }
    *ms = go_int64(ns) / 1000000;
    return 0;
}

static int f_humanize_timestamp(struct xstate *s, const struct tv *argv, size_t argc,
                                struct tv *out)
{
    struct km_buf b;
    int64_t ms;
    double v;
    int rc;

    (void)argc;
    rc = to_float(s, &argv[0], &v);
    if (rc)
        return rc;
    rc = float_to_time(s, v, &ms);
    if (rc == 1)
        return number_result(s, v, "", out);
    if (rc)
        return rc;
    km_buf_init(&b, 256);
    tmpl_fmt_time(&b, ms);
    return tmpl_xstring_buf(s, &b, out);
}

static int f_to_time(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    int64_t ms;
    double v;
    int rc;

    (void)argc;
    rc = to_float(s, &argv[0], &v);
    if (rc)
        return rc;
    rc = float_to_time(s, v, &ms);
    if (rc == 1) /* Prometheus returns a nil time and its error errNaNOrInf */
        return tmpl_fn_error(s, "value is NaN or Inf");
    if (rc)
        return rc;
    *out = (struct tv){ .k = TV_TIME };
    out->ms = ms;
    return 0;
}

static int f_parse_duration(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    const struct tv *d = &argv[0];
    struct km_buf msg;
    int64_t ms = 0;
    int rc;

    (void)argc;
    *out = (struct tv){ .k = TV_FLOAT };
    out->f = 0;
    if (d->s.n == 0)
        return tmpl_fn_error(s, "empty duration string");
    if (d->s.n == 1 && d->s.p[0] == '0')
        return 0;
    km_buf_init(&msg, 4096);
    rc = km_promql_duration_parse(d->s.p, d->s.n, &ms, &msg);
    if (rc && strcmp(km_buf_cstr(&msg), "duration must be greater than 0") != 0)
        tmpl_fn_error(s, "%s", km_buf_cstr(&msg));
    else
        out->f = (double)ms / 1000;
    rc = rc && strcmp(km_buf_cstr(&msg), "duration must be greater than 0") != 0 ? KM_EINVAL : 0;
    tmpl_buf_done(&s->fnerr, &msg);
    return rc;
}

/* ---- The external URL ----------------------------------------------------------------- */

static int f_external_url(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    const char *u = s->d->external_url;

    (void)argv;
    (void)argc;
    if (!u)
        return tmpl_fn_error(s, NIL_DEREF);
    return string_result(u, strlen(u), out);
}

/* The path of the external URL, unescaped (Go's url.URL.Path). */
static int f_path_prefix(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    const char *u = s->d->external_url, *p, *end;
    struct km_buf b;

    (void)argv;
    (void)argc;
    if (!u)
        return tmpl_fn_error(s, NIL_DEREF);
    p = strstr(u, "://");
    if (p) {
        p += 3;
        p += strcspn(p, "/?#");
    } else {
        p = u;
    }
    end = p + strcspn(p, "?#");
    km_buf_init(&b, KM_LIMIT_TMPL_OUTPUT);
    for (; p < end; p++) {
        int hi, lo;

        if (*p == '%' && end - p >= 3 && (hi = km_promql_hexval(p[1])) >= 0 &&
            (lo = km_promql_hexval(p[2])) >= 0) {
            km_buf_putc(&b, (char)(hi * 16 + lo));
            p += 2;
        } else {
            km_buf_putc(&b, *p);
        }
    }
    return tmpl_xstring_buf(s, &b, out);
}

/* name, fixed parameters, variadic, their types, the variadic type, lazy, function */
const struct tfunc tmpl_prom_funcs[] = {
    { "args", 0, true, { TP_ANY }, TP_ANY, false, f_args },
    { "externalURL", 0, false, { TP_ANY }, TP_ANY, false, f_external_url },
    { "first", 1, false, { TP_VECTOR }, TP_ANY, false, f_first },
    { "graphLink", 1, false, { TP_STRING }, TP_ANY, false, f_graph_link },
    { "humanize", 1, false, { TP_ANY }, TP_ANY, false, f_humanize },
    { "humanize1024", 1, false, { TP_ANY }, TP_ANY, false, f_humanize1024 },
    { "humanizeDuration", 1, false, { TP_ANY }, TP_ANY, false, f_humanize_duration },
    { "humanizePercentage", 1, false, { TP_ANY }, TP_ANY, false, f_humanize_percentage },
    { "humanizeTimestamp", 1, false, { TP_ANY }, TP_ANY, false, f_humanize_timestamp },
    { "label", 2, false, { TP_STRING, TP_SAMPLE }, TP_ANY, false, f_label },
    { "match", 2, false, { TP_STRING, TP_STRING }, TP_ANY, false, f_match },
    { "parseDuration", 1, false, { TP_STRING }, TP_ANY, false, f_parse_duration },
    { "pathPrefix", 0, false, { TP_ANY }, TP_ANY, false, f_path_prefix },
    { "query", 1, false, { TP_STRING }, TP_ANY, false, f_query },
    { "reReplaceAll",
      3,
      false,
      { TP_STRING, TP_STRING, TP_STRING },
      TP_ANY,
      false,
      f_re_replace_all },
    { "safeHtml", 1, false, { TP_STRING }, TP_ANY, false, f_safe_html },
    { "sortByLabel", 2, false, { TP_STRING, TP_VECTOR }, TP_ANY, false, f_sort_by_label },
    { "stripDomain", 1, false, { TP_STRING }, TP_ANY, false, f_strip_domain },
    { "stripPort", 1, false, { TP_STRING }, TP_ANY, false, f_strip_port },
    { "strvalue", 1, false, { TP_SAMPLE }, TP_ANY, false, f_strvalue },
    { "tableLink", 1, false, { TP_STRING }, TP_ANY, false, f_table_link },
    { "title", 1, false, { TP_STRING }, TP_ANY, false, f_title },
    { "toLower", 1, false, { TP_STRING }, TP_ANY, false, f_to_lower },
    { "toTime", 1, false, { TP_ANY }, TP_ANY, false, f_to_time },
    { "toUpper", 1, false, { TP_STRING }, TP_ANY, false, f_to_upper },
    { "value", 1, false, { TP_SAMPLE }, TP_ANY, false, f_value },
};
const size_t tmpl_nprom_funcs = sizeof(tmpl_prom_funcs) / sizeof(tmpl_prom_funcs[0]);
