/*
 * template_builtins — the functions every Go text/template has: and, or (evaluated
 * lazily by the executor), not, len, index, slice, print, printf, println, html, js,
 * urlquery, call and the comparisons eq, ne, lt, le, gt, ge, with Go's rules (eq takes
 * several right-hand sides, ints and floats do not compare, maps do not compare at all)
 * and Go's messages. Pure functions of their arguments; thread-safe.
 */
#include "common/err.h"
#include "common/limits.h"
#include "promql/quote.h"
#include "rules/template_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- Comparisons ---------------------------------------------------------------------- */

enum kind { K_INVALID, K_BOOL, K_COMPLEX, K_INT, K_FLOAT, K_STRING, K_UINT };

#define BAD_COMPARISON_TYPE "invalid type for comparison"
#define BAD_COMPARISON      "incompatible types for comparison"
#define NO_COMPARISON       "missing argument for comparison"

static enum kind basic_kind(const struct tv *v)
{
    switch (v->k) {
    case TV_BOOL:
        return K_BOOL;
    case TV_INT:
        return K_INT;
    case TV_BYTE:
        return K_UINT;
    case TV_FLOAT:
        return K_FLOAT;
    case TV_COMPLEX:
        return K_COMPLEX;
    case TV_STRING:
    case TV_HTML:
        return K_STRING;
    default:
        return K_INVALID;
    }
}

static int str_cmp(const struct tv *a, const struct tv *b)
{
    size_t n = a->s.n < b->s.n ? a->s.n : b->s.n;
    int c = n ? memcmp(a->s.p, b->s.p, n) : 0;

    if (c)
        return c;
    return a->s.n < b->s.n ? -1 : a->s.n > b->s.n;
}

static bool is_nil(const struct tv *v)
{
    return v->k == TV_NIL || (v->k == TV_VECTOR && !v->vec) || (v->k == TV_SAMPLE && !v->sample);
}

static void sprint1(struct km_buf *b, const struct tv *v)
{
    tmpl_sprint(b, v, 1);
}

/* a == b for eq: 1, 0, or KM_EINVAL with the reason. */
static int equal(struct xstate *s, const struct tv *a, const struct tv *b)
{
    enum kind k1 = basic_kind(a), k2 = basic_kind(b);
    struct km_buf m;
    int rc;

    if (k1 != k2) {
        if (k1 == K_INT && k2 == K_UINT)
            return a->i >= 0 && a->i == b->i;
        if (k1 == K_UINT && k2 == K_INT)
            return b->i >= 0 && a->i == b->i;
        if (a->k != TV_NIL && b->k != TV_NIL)
            return tmpl_fn_error(s, BAD_COMPARISON);
        return 0;
    }
    switch (k1) {
    case K_BOOL:
        return a->b == b->b;
    case K_COMPLEX:
        return a->c.re == b->c.re && a->c.im == b->c.im;
    case K_FLOAT:
        return a->f == b->f;
    case K_INT:
    case K_UINT:
        return a->i == b->i;
    case K_STRING:
        return str_cmp(a, b) == 0;
    case K_INVALID:
        break;
    }
    km_buf_init(&m, 4096);
    if (a->k != TV_NIL && b->k != TV_NIL && a->k != b->k) {
        km_buf_puts(&m, "non-comparable types ");
        sprint1(&m, a);
        km_buf_printf(&m, ": %s, %s: ", tmpl_type_name(a), tmpl_type_name(b));
        sprint1(&m, b);
        rc = tmpl_fn_error(s, "%s", km_buf_cstr(&m));
    } else if (is_nil(a) || is_nil(b)) {
        rc = is_nil(a) == is_nil(b);
        km_buf_fini(&m);
        return rc;
    } else if (b->k == TV_SAMPLE) {
        rc = a->sample == b->sample;
    } else if (b->k == TV_TIME) {
        rc = a->ms == b->ms;
    } else {
        km_buf_puts(&m, "non-comparable type ");
        sprint1(&m, b);
        km_buf_printf(&m, ": %s", tmpl_type_name(b));
        rc = tmpl_fn_error(s, "%s", km_buf_cstr(&m));
    }
    tmpl_buf_done(&s->fnerr, &m);
    return rc;
}

/* a < b for lt: 1, 0 or KM_EINVAL. */
static int less(struct xstate *s, const struct tv *a, const struct tv *b)
{
    enum kind k1 = basic_kind(a), k2 = basic_kind(b);

    if (k1 == K_INVALID || k2 == K_INVALID)
        return tmpl_fn_error(s, BAD_COMPARISON_TYPE);
    if (k1 != k2) {
        if (k1 == K_INT && k2 == K_UINT)
            return a->i < 0 || a->i < b->i;
        if (k1 == K_UINT && k2 == K_INT)
            return b->i >= 0 && a->i < b->i;
        return tmpl_fn_error(s, BAD_COMPARISON);
    }
    switch (k1) {
    case K_FLOAT:
        return a->f < b->f;
    case K_INT:
    case K_UINT:
        return a->i < b->i;
    case K_STRING:
        return str_cmp(a, b) < 0;
    default:
        return tmpl_fn_error(s, BAD_COMPARISON_TYPE);
    }
}

static int bool_result(int r, struct tv *out)
{
    if (r < 0)
        return r;
    *out = (struct tv){ .k = TV_BOOL };
    out->b = r != 0;
    return 0;
}

static int b_eq(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    if (argc < 2)
        return tmpl_fn_error(s, NO_COMPARISON);
    for (size_t k = 1; k < argc; k++) {
        int r = equal(s, &argv[0], &argv[k]);

        if (r != 0)
            return bool_result(r, out);
    }
    return bool_result(0, out);
}

static int b_ne(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    int r = equal(s, &argv[0], &argv[1]);

    (void)argc;
    return bool_result(r < 0 ? r : !r, out);
}

static int b_lt(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)argc;
    return bool_result(less(s, &argv[0], &argv[1]), out);
}

/* a <= b: lt, then eq. */
static int less_equal(struct xstate *s, const struct tv *argv)
{
    int r = less(s, &argv[0], &argv[1]);

    return r != 0 ? r : equal(s, &argv[0], &argv[1]);
}

static int b_le(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)argc;
    return bool_result(less_equal(s, argv), out);
}

static int b_gt(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    int r = less_equal(s, argv);

    (void)argc;
    return bool_result(r < 0 ? r : !r, out);
}

static int b_ge(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    int r = less(s, &argv[0], &argv[1]);

    (void)argc;
    return bool_result(r < 0 ? r : !r, out);
}

static int b_not(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)s;
    (void)argc;
    return bool_result(!tmpl_truth(&argv[0]), out);
}

/* ---- len, index, slice, call ---------------------------------------------------------- */

static int b_len(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    const struct tv *v = &argv[0];

    (void)argc;
    *out = (struct tv){ .k = TV_INT };
    switch (v->k) {
    case TV_NIL:
        return tmpl_fn_error(s, "reflect: call of reflect.Value.Type on zero Value");
    case TV_STRING:
    case TV_HTML:
        out->i = (int64_t)v->s.n;
        return 0;
    case TV_LABELS:
        out->i = v->labels ? (int64_t)v->labels->n : 0;
        return 0;
    case TV_ARGS:
        out->i = (int64_t)v->args->n;
        return 0;
    case TV_VECTOR:
        out->i = v->vec ? (int64_t)v->vec->n : 0;
        return 0;
    case TV_SAMPLE:
        if (!v->sample)
            return tmpl_fn_error(s, "len of nil pointer");
        return tmpl_fn_error(s, "len of type template.sample");
    case TV_TIME:
        return tmpl_fn_error(s, "len of type time.Time");
    default:
        return tmpl_fn_error(s, "len of type %s", tmpl_type_name(v));
    }
}

/* An index into something of length `cap`: Go's indexArg. */
static int index_arg(struct xstate *s, const struct tv *v, size_t cap, size_t *out)
{
    if (v->k == TV_NIL)
        return tmpl_fn_error(s, "cannot index slice/array with nil");
    if (v->k != TV_INT && v->k != TV_BYTE)
        return tmpl_fn_error(s, "cannot index slice/array with type %s", tmpl_type_name(v));
    if (v->i < 0 || (uint64_t)v->i > cap)
        return tmpl_fn_error(s, "index out of range: %lld", (long long)v->i);
    *out = (size_t)v->i;
    return 0;
}

/* A map key must be a string: Go's prepareArg. */
static int map_key(struct xstate *s, const struct tv *v)
{
    if (v->k == TV_NIL)
        return tmpl_fn_error(s, "value is nil; should be of type string");
    if (v->k != TV_STRING)
        return tmpl_fn_error(s, "value has type %s; should be string", tmpl_type_name(v));
    return 0;
}

static int b_index(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    struct tv item = argv[0];
    int rc;

    if (item.k == TV_NIL)
        return tmpl_fn_error(s, "index of untyped nil");
    for (size_t k = 1; k < argc; k++) {
        const struct tv *ix = &argv[k];
        size_t x = 0, len;

        switch (item.k) {
        case TV_NIL:
        case TV_SAMPLE:
            if (item.k == TV_NIL || !item.sample)
                return tmpl_fn_error(s, "index of nil pointer");
            return tmpl_fn_error(s, "can't index item of type template.sample");
        case TV_TIME:
            return tmpl_fn_error(s, "can't index item of type time.Time");
        case TV_STRING:
        case TV_HTML:
        case TV_VECTOR:
            len = item.k == TV_VECTOR ? (item.vec ? item.vec->n : 0) : item.s.n;
            rc = index_arg(s, ix, len, &x);
            if (rc)
                return rc;
            if (x == len) /* past indexArg's check, reflect's panic */
                return tmpl_fn_error(s, "reflect: %s index out of range",
                                     item.k == TV_VECTOR ? "slice" : "string");
            if (item.k == TV_VECTOR) {
                item = (struct tv){ .k = TV_SAMPLE, .sample = item.vec->v[x] };
            } else {
                item = (struct tv){ .k = TV_BYTE, .i = (unsigned char)item.s.p[x] };
            }
            break;
        case TV_LABELS: {
            const char *v;

            rc = map_key(s, ix);
            if (rc)
                return rc;
            v = tmpl_label_get(item.labels, ix->s.p, ix->s.n);
            item = (struct tv){ .k = TV_STRING, .s = { v ? v : "", v ? strlen(v) : 0 } };
            break;
        }
        case TV_ARGS: {
            const struct targs *a = item.args;

            rc = map_key(s, ix);
            if (rc)
                return rc;
            item = (struct tv){ .k = TV_NIL };
            for (size_t i = 0; i < a->n; i++) {
                char key[32];
                int n = snprintf(key, sizeof(key), "arg%zu", i);

                if ((size_t)n == ix->s.n && memcmp(key, ix->s.p, ix->s.n) == 0)
                    item = a->v[i];
            }
            break;
        }
        default:
            return tmpl_fn_error(s, "can't index item of type %s", tmpl_type_name(&item));
        }
    }
    *out = item;
    return 0;
}

static int b_slice(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    const struct tv *item = &argv[0];
    size_t idx[3] = { 0, 0, 0 }, cap, nidx = argc - 1;
    int rc = 0;

    if (item->k == TV_NIL)
        return tmpl_fn_error(s, "slice of untyped nil");
    if (nidx > 3)
        return tmpl_fn_error(s, "too many slice indexes: %zu", nidx);
    if (item->k == TV_STRING || item->k == TV_HTML) {
        if (nidx == 3)
            return tmpl_fn_error(s, "cannot 3-index slice a string");
        cap = item->s.n;
    } else if (item->k == TV_VECTOR) {
        cap = item->vec ? item->vec->n : 0;
    } else {
        return tmpl_fn_error(s, "can't slice item of type %s", tmpl_type_name(item));
    }
    idx[1] = cap;
    for (size_t k = 0; k < nidx; k++) {
        rc = index_arg(s, &argv[1 + k], cap, &idx[k]);
        if (rc)
            return rc;
    }
    if (idx[0] > idx[1])
        return tmpl_fn_error(s, "invalid slice index: %zu > %zu", idx[0], idx[1]);
    if (nidx == 3 && idx[1] > idx[2])
        return tmpl_fn_error(s, "invalid slice index: %zu > %zu", idx[1], idx[2]);
    *out = *item;
    if (item->k == TV_VECTOR) {
        struct tvector *v;

        if (!item->vec)
            return 0;
        v = tmpl_xalloc(s, sizeof(*v), &rc);
        if (!v)
            return rc;
        v->v = item->vec->v + idx[0]; /* shares the array, as a Go slice does */
        v->n = idx[1] - idx[0];
        out->vec = v;
    } else {
        out->s.p = item->s.p + idx[0];
        out->s.n = idx[1] - idx[0];
    }
    return 0;
}

static int b_call(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    (void)argc;
    (void)out;
    if (argv[0].k == TV_NIL)
        return tmpl_fn_error(s, "call of nil");
    return tmpl_fn_error(s, "non-function of type %s", tmpl_type_name(&argv[0]));
}

/* ---- Printing and escaping ------------------------------------------------------------ */

static int b_print(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    struct km_buf b;

    km_buf_init(&b, KM_LIMIT_TMPL_OUTPUT);
    tmpl_sprint(&b, argv, argc);
    return tmpl_xstring_buf(s, &b, out);
}

static int b_println(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    struct km_buf b;

    km_buf_init(&b, KM_LIMIT_TMPL_OUTPUT);
    tmpl_sprintln(&b, argv, argc);
    return tmpl_xstring_buf(s, &b, out);
}

static int b_printf(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    struct km_buf b;

    km_buf_init(&b, KM_LIMIT_TMPL_OUTPUT);
    tmpl_sprintf(&b, argv[0].s.p, argv[0].s.n, argv + 1, argc - 1);
    return tmpl_xstring_buf(s, &b, out);
}

/* The text html, js and urlquery escape: one string as it is, else fmt.Sprint. */
static void eval_args(struct km_buf *b, const struct tv *argv, size_t argc)
{
    if (argc == 1 && argv[0].k == TV_STRING)
        km_buf_append(b, argv[0].s.p, argv[0].s.n);
    else
        tmpl_sprint(b, argv, argc);
}

static int b_html(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    struct km_buf in, b;

    km_buf_init(&in, KM_LIMIT_TMPL_OUTPUT);
    km_buf_init(&b, KM_LIMIT_TMPL_OUTPUT);
    eval_args(&in, argv, argc);
    for (size_t k = 0; k < in.len; k++) {
        switch (in.data[k]) {
        case '\0':
            km_buf_puts(&b, "\xef\xbf\xbd");
            break;
        case '"':
            km_buf_puts(&b, "&#34;");
            break;
        case '\'':
            km_buf_puts(&b, "&#39;");
            break;
        case '&':
            km_buf_puts(&b, "&amp;");
            break;
        case '<':
            km_buf_puts(&b, "&lt;");
            break;
        case '>':
            km_buf_puts(&b, "&gt;");
            break;
        default:
            km_buf_putc(&b, in.data[k]);
        }
    }
    if (km_buf_error(&in))
        b.err = km_buf_error(&in);
    km_buf_fini(&in);
    return tmpl_xstring_buf(s, &b, out);
}

static int b_js(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    static const char hex[] = "0123456789ABCDEF";
    struct km_buf in, b;

    km_buf_init(&in, KM_LIMIT_TMPL_OUTPUT);
    km_buf_init(&b, KM_LIMIT_TMPL_OUTPUT);
    eval_args(&in, argv, argc);
    for (size_t k = 0; k < in.len;) {
        unsigned char c = (unsigned char)in.data[k];
        int32_t r;
        size_t w;

        if (c >= 0x80) {
            w = tmpl_utf8_decode(in.data + k, in.len - k, &r);
            if (km_promql_isprint(r))
                km_buf_append(&b, in.data + k, w);
            else
                km_buf_printf(&b, "\\u%04X", (unsigned)r);
            k += w;
            continue;
        }
        switch (c) {
        case '\\':
            km_buf_puts(&b, "\\\\");
            break;
        case '\'':
            km_buf_puts(&b, "\\'");
            break;
        case '"':
            km_buf_puts(&b, "\\\"");
            break;
        case '<':
            km_buf_puts(&b, "\\u003C");
            break;
        case '>':
            km_buf_puts(&b, "\\u003E");
            break;
        case '&':
            km_buf_puts(&b, "\\u0026");
            break;
        case '=':
            km_buf_puts(&b, "\\u003D");
            break;
        default:
            if (c < ' ') {
                km_buf_puts(&b, "\\u00");
                km_buf_putc(&b, hex[c >> 4]);
                km_buf_putc(&b, hex[c & 0xf]);
            } else {
                km_buf_putc(&b, (char)c);
            }
        }
        k++;
    }
    if (km_buf_error(&in))
        b.err = km_buf_error(&in);
    km_buf_fini(&in);
    return tmpl_xstring_buf(s, &b, out);
}

void tmpl_query_escape(struct km_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            km_buf_putc(b, (char)c);
        } else if (c == ' ') {
            km_buf_putc(b, '+');
        } else {
            km_buf_putc(b, '%');
            km_buf_putc(b, hex[c >> 4]);
            km_buf_putc(b, hex[c & 0xf]);
        }
    }
}

static int b_urlquery(struct xstate *s, const struct tv *argv, size_t argc, struct tv *out)
{
    struct km_buf in, b;

    km_buf_init(&in, KM_LIMIT_TMPL_OUTPUT);
    km_buf_init(&b, KM_LIMIT_TMPL_OUTPUT);
    eval_args(&in, argv, argc);
    tmpl_query_escape(&b, in.data ? in.data : "", in.len);
    if (km_buf_error(&in))
        b.err = km_buf_error(&in);
    km_buf_fini(&in);
    return tmpl_xstring_buf(s, &b, out);
}

/* name, fixed parameters, variadic, their types, the variadic type, lazy, function */
const struct tfunc tmpl_builtins[] = {
    { "and", 1, true, { TP_VALUE }, TP_VALUE, true, NULL },
    { "call", 1, true, { TP_VALUE }, TP_VALUE, false, b_call },
    { "eq", 1, true, { TP_VALUE }, TP_VALUE, false, b_eq },
    { "ge", 2, false, { TP_VALUE, TP_VALUE }, TP_VALUE, false, b_ge },
    { "gt", 2, false, { TP_VALUE, TP_VALUE }, TP_VALUE, false, b_gt },
    { "html", 0, true, { TP_ANY }, TP_ANY, false, b_html },
    { "index", 1, true, { TP_VALUE }, TP_VALUE, false, b_index },
    { "js", 0, true, { TP_ANY }, TP_ANY, false, b_js },
    { "le", 2, false, { TP_VALUE, TP_VALUE }, TP_VALUE, false, b_le },
    { "len", 1, false, { TP_VALUE }, TP_VALUE, false, b_len },
    { "lt", 2, false, { TP_VALUE, TP_VALUE }, TP_VALUE, false, b_lt },
    { "ne", 2, false, { TP_VALUE, TP_VALUE }, TP_VALUE, false, b_ne },
    { "not", 1, false, { TP_VALUE }, TP_VALUE, false, b_not },
    { "or", 1, true, { TP_VALUE }, TP_VALUE, true, NULL },
    { "print", 0, true, { TP_ANY }, TP_ANY, false, b_print },
    { "printf", 1, true, { TP_STRING }, TP_ANY, false, b_printf },
    { "println", 0, true, { TP_ANY }, TP_ANY, false, b_println },
    { "slice", 1, true, { TP_VALUE }, TP_VALUE, false, b_slice },
    { "urlquery", 0, true, { TP_ANY }, TP_ANY, false, b_urlquery },
};
const size_t tmpl_nbuiltins = sizeof(tmpl_builtins) / sizeof(tmpl_builtins[0]);

const struct tfunc *tmpl_func_find(const char *name, size_t n)
{
    for (size_t k = 0; k < tmpl_nprom_funcs; k++) {
        if (strlen(tmpl_prom_funcs[k].name) == n && memcmp(tmpl_prom_funcs[k].name, name, n) == 0)
            return &tmpl_prom_funcs[k];
    }
    for (size_t k = 0; k < tmpl_nbuiltins; k++) {
        if (strlen(tmpl_builtins[k].name) == n && memcmp(tmpl_builtins[k].name, name, n) == 0)
            return &tmpl_builtins[k];
    }
    return NULL;
}
