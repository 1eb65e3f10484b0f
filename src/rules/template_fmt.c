/*
 * template_fmt — the parts of Go's fmt and strconv that a template's output goes
 * through: printing a value ({{ . }}, print, println), printf's verbs, flags, widths and
 * precisions (with Go's "%!d(string=x)" for a verb that does not fit, "%!d(MISSING)",
 * "%!(EXTRA …)"), Go's float formats (%v's shortest digits, %.4g, %e, %f, %x), quoting,
 * time.Time's String() and strconv.ParseFloat. Pure; thread-safe.
 *
 * Not reproduced: the address Go prints for a pointer inside a slice (a vector prints
 * its samples as "&{…}" instead), %#v beyond strings and maps, %+q's ASCII escapes,
 * and the fields of a time with a verb that is not v, s, x, X or q.
 */
#include "common/err.h"
#include "promql/dtoa.h"
#include "promql/literal.h"
#include "promql/quote.h"
#include "rules/template_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Go's fmt flags of one verb. */
struct fmtf {
    bool plus, minus, sharp, space, zero, plus_v, sharp_v;
    bool wid_present, prec_present;
    int wid, prec;
};

struct pp {
    struct km_buf *buf;
    struct fmtf f;
};

static void print_arg(struct pp *p, const struct tv *v, int verb);
static void print_value(struct pp *p, const struct tv *v, int verb, int depth);

/* ---- Small pieces --------------------------------------------------------------------- */

size_t tmpl_utf8_decode(const char *s, size_t n, int32_t *r)
{
    return km_promql_utf8_decode(s, n, r);
}

void tmpl_quote(struct km_buf *out, const char *s, size_t n)
{
    km_promql_quote(out, s, n);
}

void tmpl_quote_prefix(struct km_buf *out, const char *s, size_t n, size_t runes)
{
    km_promql_quote_prefix(out, s, n, runes);
}

static size_t rune_count(const char *s, size_t n)
{
    size_t runes = 0;

    for (size_t k = 0; k < n; runes++) {
        int32_t r;

        k += tmpl_utf8_decode(s + k, n - k, &r);
    }
    return runes;
}

/* The first `runes` runes of s[0..n): their length in bytes. */
static size_t rune_prefix(const char *s, size_t n, size_t runes)
{
    size_t k = 0;

    for (size_t count = 0; k < n && count < runes; count++) {
        int32_t r;

        k += tmpl_utf8_decode(s + k, n - k, &r);
    }
    return k;
}

/* Go's strconv.CanBackquote. */
static bool can_backquote(const char *s, size_t n)
{
    for (size_t k = 0; k < n;) {
        int32_t r;
        size_t w = tmpl_utf8_decode(s + k, n - k, &r);

        if ((w == 1 && r == KM_PROMQL_RUNE_ERROR) || r == '`' || r == 0xfeff || r == 0x7f ||
            (r < ' ' && r != '\t'))
            return false;
        k += w;
    }
    return true;
}

const char *tmpl_int_name(const struct tv *v)
{
    static const char *const months[] = { "January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December" };
    static const char *const days[] = { "Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday" };

    if (v->k != TV_INT)
        return NULL;
    if (v->it == IT_MONTH && v->i >= 1 && v->i <= 12)
        return months[v->i - 1];
    if (v->it == IT_WEEKDAY && v->i >= 0 && v->i <= 6)
        return days[v->i];
    return NULL;
}

const char *tmpl_type_name(const struct tv *v)
{
    if (v->k == TV_INT && v->it != IT_INT)
        return v->it == IT_INT64 ? "int64" : v->it == IT_MONTH ? "time.Month" : "time.Weekday";
    switch (v->k) {
    case TV_NIL:
        return "<nil>";
    case TV_BOOL:
        return "bool";
    case TV_INT:
        return "int";
    case TV_BYTE:
        return "uint8";
    case TV_FLOAT:
        return "float64";
    case TV_COMPLEX:
        return "complex128";
    case TV_STRING:
        return "string";
    case TV_HTML:
        return "template.HTML";
    case TV_LABELS:
        return "map[string]string";
    case TV_ARGS:
        return "map[string]interface {}";
    case TV_VECTOR:
        return "template.queryResult";
    case TV_SAMPLE:
        return "*template.sample";
    case TV_TIME:
        return "*time.Time";
    case TV_DATA:
        return "struct { Labels map[string]string; ExternalLabels map[string]string; "
               "ExternalURL string; Value float64 }";
    }
    return "?";
}

/* ---- strconv.ParseFloat --------------------------------------------------------------- */

static bool underscores_between_digits(const char *s, size_t n, bool hex)
{
    char saw = '^';
    size_t i = 0;

    if (n > 0 && (s[0] == '+' || s[0] == '-'))
        i = 1;
    if (hex) {
        i += 2;
        saw = '0';
    }
    for (; i < n; i++) {
        char c = s[i];

        if ((c >= '0' && c <= '9') || (hex && km_promql_hexval((unsigned char)c) >= 0)) {
            saw = '0';
        } else if (c == '_') {
            if (saw != '0')
                return false;
            saw = '_';
        } else {
            if (saw == '_')
                return false;
            saw = '!';
        }
    }
    return saw != '_';
}

static size_t prefix_ci(const char *s, size_t n, const char *word)
{
    size_t k = 0;

    while (k < n && word[k] && (s[k] | 0x20) == word[k])
        k++;
    return k;
}

int tmpl_parse_float(const char *s, size_t n, double *out)
{
    char small[128], *copy;
    size_t i = 0, k = 0;
    bool hex = false, digits = false, dot = false, underscores = false;
    double v;

    /* Infinity and NaN, in any case, signed or not (NaN unsigned). */
    if (n > 0) {
        size_t sign = (s[0] == '+' || s[0] == '-') ? 1 : 0,
               m = prefix_ci(s + sign, n - sign, "infinity");

        if ((m == 3 || m == 8) && sign + m == n) {
            *out = s[0] == '-' ? -INFINITY : INFINITY;
            return 0;
        }
        if (n == 3 && prefix_ci(s, n, "nan") == 3) {
            *out = NAN;
            return 0;
        }
    }
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i + 2 < n && s[i] == '0' && (s[i + 1] | 0x20) == 'x') {
        hex = true;
        i += 2;
    }
    for (; i < n; i++) {
        char c = s[i];

        if (c == '_') {
            underscores = true;
        } else if (c == '.') {
            if (dot)
                break;
            dot = true;
        } else if ((c >= '0' && c <= '9') || (hex && km_promql_hexval((unsigned char)c) >= 0)) {
            digits = true;
        } else {
            break;
        }
    }
    if (!digits)
        return KM_EINVAL;
    if (i < n && (s[i] | 0x20) == (hex ? 'p' : 'e')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return KM_EINVAL;
        while (i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            underscores |= s[i++] == '_';
    } else if (hex) {
        return KM_EINVAL; /* a hexadecimal mantissa needs a 'p' exponent */
    }
    if (i != n || (underscores && !underscores_between_digits(s, n, hex)))
        return KM_EINVAL;
    /* strtod reads the same text without its underscores (an exponent past its range
     * saturates there as in Go). */
    copy = n < sizeof(small) ? small : malloc(n + 1);
    if (!copy)
        return KM_ENOMEM;
    for (size_t j = 0; j < n; j++) {
        if (s[j] != '_')
            copy[k++] = s[j];
    }
    copy[k] = '\0';
    v = strtod(copy, NULL);
    if (copy != small)
        free(copy);
    *out = v;
    return isinf(v) ? KM_ELIMIT : 0;
}

/* ---- Floats --------------------------------------------------------------------------- */

void tmpl_fmt_v(struct km_buf *out, double v)
{
    char s[KM_PROMQL_FLOAT_MAX];

    km_buf_append(out, s, km_promql_format_float(s, v));
}

void tmpl_fmt_g(struct km_buf *out, double v, int prec)
{
    if (isnan(v))
        km_buf_puts(out, "NaN");
    else if (isinf(v))
        km_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else
        km_buf_printf(out, "%.*g", prec, v);
}

/* strconv.AppendFloat(v, verb, prec) for a finite v (prec -1: the shortest). */
static void append_float(struct km_buf *out, double v, int verb, int prec)
{
    char fmtbuf[16];

    if (verb == 'b') {
        uint64_t bits;
        int64_t exp;
        uint64_t mant;

        memcpy(&bits, &v, sizeof(bits));
        exp = (int64_t)((bits >> 52) & 0x7ff);
        mant = bits & ((1ull << 52) - 1);
        if (exp == 0)
            exp++;
        else
            mant |= 1ull << 52;
        exp += -1023 - 52;
        km_buf_printf(out, "%s%llup%s%lld", signbit(v) ? "-" : "", (unsigned long long)mant,
                      exp >= 0 ? "+" : "", (long long)exp);
        return;
    }
    if ((verb == 'g' || verb == 'G') && prec < 0) {
        char s[KM_PROMQL_FLOAT_MAX];
        size_t n = km_promql_format_float(s, v);

        for (size_t k = 0; k < n; k++)
            km_buf_putc(out, verb == 'G' && s[k] == 'e' ? 'E' : s[k]);
        return;
    }
    if (verb == 'x' || verb == 'X') {
        /* C's %a with Go's two-digit exponent: 0x1.8p+00. */
        char s[64], *p;
        int len = prec < 0 ? snprintf(s, sizeof(s), verb == 'x' ? "%a" : "%A", v)
                           : snprintf(s, sizeof(s), verb == 'x' ? "%.*a" : "%.*A", prec, v);

        p = strchr(s, verb == 'x' ? 'p' : 'P');
        if (!p || len <= 0) {
            km_buf_puts(out, s);
            return;
        }
        km_buf_append(out, s, (size_t)(p - s) + 2);
        if (strlen(p + 2) < 2)
            km_buf_putc(out, '0');
        km_buf_puts(out, p + 2);
        return;
    }
    if (verb == 'F')
        verb = 'f';
    snprintf(fmtbuf, sizeof(fmtbuf), "%%.*%c", verb);
    km_buf_printf(out, fmtbuf, prec < 0 ? 6 : prec, v);
}

/* The '#' flag on a float (num: sign, then the number): a decimal point always, and for
 * %g and %x the zeros that make `prec` (6 when not given) significant digits. */
static void sharp_float(struct km_buf *num, int verb, int prec)
{
    int digits = strchr("vgGx", verb) && verb ? (prec < 0 ? 6 : prec) : 0;
    bool point = false, nonzero = false;
    char tail[16] = "";
    size_t end = num->len;

    for (size_t i = 1; i < num->len; i++) {
        char c = num->data[i];

        if (c == '.') {
            point = true;
        } else if (c == 'p' || c == 'P' || ((c == 'e' || c == 'E') && verb != 'x' && verb != 'X')) {
            snprintf(tail, sizeof(tail), "%s", num->data + i);
            end = i;
            break;
        } else {
            nonzero |= c != '0';
            if (nonzero)
                digits--;
        }
    }
    num->len = end;
    if (!point) {
        if (end == 2 && num->data[1] == '0')
            digits--;
        km_buf_putc(num, '.');
    }
    for (; digits > 0; digits--)
        km_buf_putc(num, '0');
    km_buf_puts(num, tail);
}

/* ---- Go's fmt: padding and the basic kinds --------------------------------------------- */

static void write_padding(struct pp *p, int n)
{
    for (int k = 0; k < n; k++)
        km_buf_putc(p->buf, p->f.zero ? '0' : ' ');
}

static void pad(struct pp *p, const char *s, size_t n)
{
    int width;

    if (!p->f.wid_present || p->f.wid == 0) {
        km_buf_append(p->buf, s, n);
        return;
    }
    width = p->f.wid - (int)rune_count(s, n);
    if (!p->f.minus) {
        write_padding(p, width);
        km_buf_append(p->buf, s, n);
    } else {
        km_buf_append(p->buf, s, n);
        write_padding(p, width);
    }
}

static void pad_nozero(struct pp *p, const char *s, size_t n)
{
    bool zero = p->f.zero;

    p->f.zero = false;
    pad(p, s, n);
    p->f.zero = zero;
}

static void bad_verb(struct pp *p, int verb, const struct tv *v)
{
    km_buf_puts(p->buf, "%!");
    km_promql_utf8_append(p->buf, verb);
    km_buf_putc(p->buf, '(');
    if (v->k == TV_NIL) {
        km_buf_puts(p->buf, "<nil>");
    } else {
        km_buf_puts(p->buf, tmpl_type_name(v));
        km_buf_putc(p->buf, '=');
        print_arg(p, v, 'v');
    }
    km_buf_putc(p->buf, ')');
}

static void fmt_integer(struct pp *p, uint64_t u, bool is_signed, int verb, const struct tv *v)
{
    static const char ldigits[] = "0123456789abcdefx", udigits[] = "0123456789ABCDEFX";
    const char *digits = verb == 'X' ? udigits : ldigits;
    bool negative = is_signed && (int64_t)u < 0;
    unsigned base;
    char tmp[80], *buf = tmp;
    size_t cap = sizeof(tmp), i;
    int prec = 0;

    switch (verb) {
    case 'v':
    case 'd':
        base = 10;
        break;
    case 'b':
        base = 2;
        break;
    case 'o':
    case 'O':
        base = 8;
        break;
    case 'x':
    case 'X':
        base = 16;
        break;
    case 'c': {
        struct km_buf r;

        km_buf_init(&r, 16);
        km_promql_utf8_append(&r, u > 0x10ffff ? KM_PROMQL_RUNE_ERROR : (int32_t)u);
        pad(p, r.data ? r.data : "", r.len);
        tmpl_buf_done(p->buf, &r);
        return;
    }
    case 'q': {
        struct km_buf r;

        km_buf_init(&r, 32);
        km_promql_quote_rune(&r, u > 0x10ffff ? KM_PROMQL_RUNE_ERROR : (int32_t)u);
        pad(p, r.data ? r.data : "", r.len);
        tmpl_buf_done(p->buf, &r);
        return;
    }
    case 'U': {
        struct km_buf r;

        km_buf_init(&r, 64);
        if (p->f.prec_present && p->f.prec > 4)
            km_buf_printf(&r, "U+%0*llX", p->f.prec > 64 ? 64 : p->f.prec, (unsigned long long)u);
        else
            km_buf_printf(&r, "U+%04llX", (unsigned long long)u);
        if (p->f.sharp && u <= 0x10ffff && km_promql_isprint((int32_t)u)) {
            km_buf_puts(&r, " '");
            km_promql_utf8_append(&r, (int32_t)u);
            km_buf_putc(&r, '\'');
        }
        pad_nozero(p, r.data ? r.data : "", r.len);
        tmpl_buf_done(p->buf, &r);
        return;
    }
    default:
        bad_verb(p, verb, v);
        return;
    }
    if (negative)
        u = 0 - u;
    if (p->f.wid_present || p->f.prec_present) {
        size_t width = 3 + (size_t)p->f.wid + (size_t)p->f.prec;

        if (width > cap) {
            buf = malloc(width);
            if (!buf) {
                if (!p->buf->err)
                    p->buf->err = KM_ENOMEM;
                return;
            }
            cap = width;
        }
    }
    if (p->f.prec_present) {
        prec = p->f.prec;
        if (prec == 0 && u == 0) {
            bool zero = p->f.zero;

            p->f.zero = false;
            write_padding(p, p->f.wid);
            p->f.zero = zero;
            goto out_free;
        }
    } else if (p->f.zero && p->f.wid_present) {
        prec = p->f.wid;
        if (negative || p->f.plus || p->f.space)
            prec--;
    }
    i = cap;
    while (u >= base) {
        buf[--i] = digits[u % base];
        u /= base;
    }
    buf[--i] = digits[u];
    while (i > 0 && prec > (int)(cap - i))
        buf[--i] = '0';
    if (p->f.sharp) {
        if (base == 2) {
            buf[--i] = 'b';
            buf[--i] = '0';
        } else if (base == 8 && buf[i] != '0') {
            buf[--i] = '0';
        } else if (base == 16) {
            buf[--i] = digits[16];
            buf[--i] = '0';
        }
    }
    if (verb == 'O') {
        buf[--i] = 'o';
        buf[--i] = '0';
    }
    if (negative)
        buf[--i] = '-';
    else if (p->f.plus)
        buf[--i] = '+';
    else if (p->f.space)
        buf[--i] = ' ';
    pad_nozero(p, buf + i, cap - i);
out_free:
    if (buf != tmp)
        free(buf);
}

static void fmt_float(struct pp *p, double v, int verb, const struct tv *arg)
{
    struct km_buf num;
    int prec;

    switch (verb) {
    case 'v':
        verb = 'g';
        prec = -1;
        break;
    case 'b':
    case 'g':
    case 'G':
    case 'x':
    case 'X':
        prec = -1;
        break;
    case 'f':
    case 'e':
    case 'E':
    case 'F':
        prec = 6;
        break;
    default:
        bad_verb(p, verb, arg);
        return;
    }
    if (p->f.prec_present)
        prec = p->f.prec;
    km_buf_init(&num, 0);
    /* num holds the sign, always: '+' for a positive number. */
    if (isnan(v)) {
        km_buf_puts(&num, "+NaN");
    } else if (isinf(v)) {
        km_buf_puts(&num, v > 0 ? "+Inf" : "-Inf");
    } else {
        if (!signbit(v))
            km_buf_putc(&num, '+');
        append_float(&num, v, verb, prec);
        if (p->f.sharp && verb != 'b')
            sharp_float(&num, verb, prec);
    }
    if (km_buf_error(&num)) {
        tmpl_buf_done(p->buf, &num);
        return;
    }
    if (p->f.space && num.data[0] == '+' && !p->f.plus)
        num.data[0] = ' ';
    if (num.data[1] == 'I' || num.data[1] == 'N') {
        size_t skip = num.data[1] == 'N' && !p->f.space && !p->f.plus ? 1 : 0;

        pad_nozero(p, num.data + skip, num.len - skip);
    } else if (p->f.plus || num.data[0] != '+') {
        if (p->f.zero && p->f.wid_present && p->f.wid > (int)num.len) {
            km_buf_putc(p->buf, num.data[0]);
            write_padding(p, p->f.wid - (int)num.len);
            km_buf_append(p->buf, num.data + 1, num.len - 1);
        } else {
            pad(p, num.data, num.len);
        }
    } else {
        pad(p, num.data + 1, num.len - 1);
    }
    km_buf_fini(&num);
}

static void fmt_complex(struct pp *p, double re, double im, int verb, const struct tv *arg)
{
    bool plus = p->f.plus;

    if (!strchr("vbgGxXfFeE", verb) || !verb) {
        bad_verb(p, verb, arg);
        return;
    }
    km_buf_putc(p->buf, '(');
    fmt_float(p, re, verb, arg);
    p->f.plus = true;
    fmt_float(p, im, verb, arg);
    km_buf_puts(p->buf, "i)");
    p->f.plus = plus;
}

static void fmt_string(struct pp *p, const char *s, size_t n, int verb, const struct tv *arg)
{
    static const char ldigits[] = "0123456789abcdefx", udigits[] = "0123456789ABCDEFX";
    struct km_buf q;

    if (verb == 'v' && p->f.sharp_v)
        verb = 'q';
    switch (verb) {
    case 'v':
    case 's':
        if (p->f.prec_present)
            n = rune_prefix(s, n, (size_t)p->f.prec);
        pad(p, s, n);
        return;
    case 'q':
        if (p->f.prec_present)
            n = rune_prefix(s, n, (size_t)p->f.prec);
        km_buf_init(&q, 0);
        if (p->f.sharp && can_backquote(s, n)) {
            km_buf_putc(&q, '`');
            km_buf_append(&q, s, n);
            km_buf_putc(&q, '`');
        } else {
            tmpl_quote(&q, s, n);
        }
        pad(p, q.data ? q.data : "", q.len);
        tmpl_buf_done(p->buf, &q);
        return;
    case 'x':
    case 'X': {
        const char *digits = verb == 'X' ? udigits : ldigits;
        size_t length = n;
        int width;

        if (p->f.prec_present && (size_t)p->f.prec < length)
            length = (size_t)p->f.prec;
        width = 2 * (int)length;
        if (width == 0) {
            if (p->f.wid_present)
                write_padding(p, p->f.wid);
            return;
        }
        if (p->f.space) {
            if (p->f.sharp)
                width *= 2;
            width += (int)length - 1;
        } else if (p->f.sharp) {
            width += 2;
        }
        if (p->f.wid_present && p->f.wid > width && !p->f.minus)
            write_padding(p, p->f.wid - width);
        if (p->f.sharp) {
            km_buf_putc(p->buf, '0');
            km_buf_putc(p->buf, digits[16]);
        }
        for (size_t k = 0; k < length; k++) {
            unsigned char c = (unsigned char)s[k];

            if (p->f.space && k > 0) {
                km_buf_putc(p->buf, ' ');
                if (p->f.sharp) {
                    km_buf_putc(p->buf, '0');
                    km_buf_putc(p->buf, digits[16]);
                }
            }
            km_buf_putc(p->buf, digits[c >> 4]);
            km_buf_putc(p->buf, digits[c & 0xf]);
        }
        if (p->f.wid_present && p->f.wid > width && p->f.minus)
            write_padding(p, p->f.wid - width);
        return;
    }
    default:
        bad_verb(p, verb, arg);
    }
}

/* ---- Go's fmt: composite values -------------------------------------------------------- */

static void print_key(struct pp *p, const char *s, int verb)
{
    struct tv k = { .k = TV_STRING, .s = { s, strlen(s) } };

    print_value(p, &k, verb, 1);
}

static void print_labels(struct pp *p, const struct km_labels *l, int verb)
{
    km_buf_puts(p->buf, p->f.sharp_v ? "map[string]string{" : "map[");
    for (size_t k = 0; l && k < l->n; k++) {
        if (k > 0)
            km_buf_puts(p->buf, p->f.sharp_v ? ", " : " ");
        print_key(p, l->v[k].name, verb);
        km_buf_putc(p->buf, ':');
        print_key(p, l->v[k].value, verb);
    }
    km_buf_putc(p->buf, p->f.sharp_v ? '}' : ']');
}

static void print_sample(struct pp *p, const struct tsample *s, int verb)
{
    struct tv v = { .k = TV_FLOAT, .f = s->value };

    km_buf_putc(p->buf, '{');
    if (p->f.plus_v)
        km_buf_puts(p->buf, "Labels:");
    print_labels(p, s->labels, verb);
    km_buf_putc(p->buf, ' ');
    if (p->f.plus_v)
        km_buf_puts(p->buf, "Value:");
    print_value(p, &v, verb, 1);
    km_buf_putc(p->buf, '}');
}

static void print_time(struct pp *p, int64_t ms, int verb, const struct tv *arg)
{
    struct km_buf t;

    if (!strchr("vsxXq", verb) || !verb) {
        bad_verb(p, verb, arg);
        return;
    }
    km_buf_init(&t, 0);
    tmpl_fmt_time(&t, ms);
    fmt_string(p, t.data ? t.data : "", t.len, verb, arg);
    tmpl_buf_done(p->buf, &t);
}

static void print_value(struct pp *p, const struct tv *v, int verb, int depth)
{
    switch (v->k) {
    case TV_NIL:
        if (depth == 0 && verb != 'v' && verb != 'T')
            bad_verb(p, verb, v);
        else
            pad(p, "<nil>", 5);
        return;
    case TV_BOOL:
        if (verb == 't' || verb == 'v')
            pad(p, v->b ? "true" : "false", v->b ? 4 : 5);
        else
            bad_verb(p, verb, v);
        return;
    case TV_INT:
        if (tmpl_int_name(v) && strchr("vsxXq", verb) && verb) {
            /* a Stringer */
            fmt_string(p, tmpl_int_name(v), strlen(tmpl_int_name(v)), verb, v);
            return;
        }
        fmt_integer(p, (uint64_t)v->i, true, verb, v);
        return;
    case TV_BYTE:
        fmt_integer(p, (uint64_t)v->i, false, verb, v);
        return;
    case TV_FLOAT:
        fmt_float(p, v->f, verb, v);
        return;
    case TV_COMPLEX:
        fmt_complex(p, v->c.re, v->c.im, verb, v);
        return;
    case TV_STRING:
    case TV_HTML:
        fmt_string(p, v->s.p, v->s.n, verb, v);
        return;
    case TV_LABELS:
        print_labels(p, v->labels, verb);
        return;
    case TV_ARGS:
        km_buf_puts(p->buf, "map[");
        for (size_t k = 0; k < v->args->n; k++) {
            size_t i = v->args->order[k];
            char key[32];

            if (k > 0)
                km_buf_putc(p->buf, ' ');
            snprintf(key, sizeof(key), "arg%zu", i);
            print_key(p, key, verb);
            km_buf_putc(p->buf, ':');
            print_value(p, &v->args->v[i], verb, depth + 1);
        }
        km_buf_putc(p->buf, ']');
        return;
    case TV_VECTOR:
        km_buf_putc(p->buf, '[');
        for (size_t k = 0; v->vec && k < v->vec->n; k++) {
            if (k > 0)
                km_buf_putc(p->buf, ' ');
            km_buf_putc(p->buf, '&');
            print_sample(p, v->vec->v[k], verb);
        }
        km_buf_putc(p->buf, ']');
        return;
    case TV_SAMPLE:
        if (!v->sample) {
            pad(p, "<nil>", 5);
            return;
        }
        km_buf_putc(p->buf, '&');
        print_sample(p, v->sample, verb);
        return;
    case TV_TIME:
        print_time(p, v->ms, verb, v);
        return;
    case TV_DATA: {
        struct tv url = { .k = TV_STRING,
                          .s = { v->data->external_url ? v->data->external_url : "",
                                 v->data->external_url ? strlen(v->data->external_url) : 0 } };
        struct tv value = { .k = TV_FLOAT, .f = v->data->value };

        km_buf_putc(p->buf, '{');
        km_buf_puts(p->buf, p->f.plus_v ? "Labels:" : "");
        print_labels(p, v->data->labels, verb);
        km_buf_puts(p->buf, p->f.plus_v ? " ExternalLabels:" : " ");
        print_labels(p, v->data->external, verb);
        km_buf_puts(p->buf, p->f.plus_v ? " ExternalURL:" : " ");
        print_value(p, &url, verb, depth + 1);
        km_buf_puts(p->buf, p->f.plus_v ? " Value:" : " ");
        print_value(p, &value, verb, depth + 1);
        km_buf_putc(p->buf, '}');
        return;
    }
    }
}

static void print_arg(struct pp *p, const struct tv *v, int verb)
{
    if (verb == 'T') {
        const char *t = tmpl_type_name(v);

        pad(p, t, strlen(t));
        return;
    }
    print_value(p, v, verb, 0);
}

void tmpl_print_action(struct km_buf *out, const struct tv *v)
{
    struct pp p = { .buf = out };

    if (v->k == TV_NIL) {
        km_buf_puts(out, v->iface ? "<nil>" : "<no value>");
    } else if (v->k == TV_SAMPLE && v->sample) {
        print_sample(&p, v->sample, 'v');
    } else if (v->k == TV_TIME) {
        tmpl_fmt_time(out, v->ms);
    } else {
        print_arg(&p, v, 'v');
    }
}

static bool is_stringish(const struct tv *v)
{
    return v->k == TV_STRING || v->k == TV_HTML;
}

void tmpl_sprint(struct km_buf *out, const struct tv *argv, size_t argc)
{
    struct pp p = { .buf = out };
    bool prev_string = false;

    for (size_t k = 0; k < argc; k++) {
        bool is_string = is_stringish(&argv[k]);

        if (k > 0 && !is_string && !prev_string)
            km_buf_putc(out, ' ');
        print_arg(&p, &argv[k], 'v');
        prev_string = is_string;
    }
}

void tmpl_sprintln(struct km_buf *out, const struct tv *argv, size_t argc)
{
    struct pp p = { .buf = out };

    for (size_t k = 0; k < argc; k++) {
        if (k > 0)
            km_buf_putc(out, ' ');
        print_arg(&p, &argv[k], 'v');
    }
    km_buf_putc(out, '\n');
}

/* ---- Printf --------------------------------------------------------------------------- */

#define TOO_LARGE(x) ((x) > 1000000 || (x) < -1000000)

/* A decimal number in s[start, end): Go's parsenum. */
static bool parse_num(const char *s, size_t start, size_t end, int *num, size_t *newi)
{
    bool isnum = false;
    size_t i;

    *num = 0;
    if (start >= end) {
        *newi = end;
        return false;
    }
    for (i = start; i < end && s[i] >= '0' && s[i] <= '9'; i++) {
        if (TOO_LARGE(*num)) {
            *num = 0;
            *newi = end;
            return false;
        }
        *num = *num * 10 + (s[i] - '0');
        isnum = true;
    }
    *newi = i;
    return isnum;
}

struct printf_state {
    size_t argnum;
    bool reordered, good_argnum;
};

/* An argument index "[n]" at s[i]: Go's argNumber. */
static bool arg_number(struct printf_state *st, const char *s, size_t end, size_t *i, size_t nargs)
{
    size_t close, newi;
    int index;
    bool ok;

    if (*i >= end || s[*i] != '[')
        return false;
    st->reordered = true;
    if (end - *i < 3) {
        *i += 1;
        st->good_argnum = false;
        return false;
    }
    for (close = *i + 1; close < end && s[close] != ']'; close++)
        ;
    if (close >= end) {
        *i += 1;
        st->good_argnum = false;
        return false;
    }
    ok = parse_num(s, *i + 1, close, &index, &newi) && newi == close;
    *i = close + 1;
    if (ok && index >= 1 && (size_t)(index - 1) < nargs) {
        st->argnum = (size_t)(index - 1);
        return true;
    }
    st->good_argnum = false;
    return ok;
}

/* An int argument for '*': Go's intFromArg. */
static bool int_from_arg(const struct tv *argv, size_t argc, size_t *argnum, int *num)
{
    bool ok = false;

    *num = 0;
    if (*argnum < argc) {
        const struct tv *v = &argv[*argnum];

        if (v->k == TV_INT || v->k == TV_BYTE) {
            *num = (int)v->i;
            ok = v->i >= -2147483647 && v->i <= 2147483647;
        }
        (*argnum)++;
        if (!ok || TOO_LARGE(*num)) {
            *num = 0;
            ok = false;
        }
    }
    return ok;
}

void tmpl_sprintf(struct km_buf *out, const char *s, size_t end, const struct tv *argv, size_t argc)
{
    struct pp p = { .buf = out };
    struct printf_state st = { 0 };
    size_t i = 0;

    while (i < end) {
        size_t last = i;
        bool after_index = false;
        int32_t verb;

        st.good_argnum = true;
        while (i < end && s[i] != '%')
            i++;
        if (i > last)
            km_buf_append(out, s + last, i - last);
        if (i >= end)
            break;
        i++;
        memset(&p.f, 0, sizeof(p.f));
        for (; i < end; i++) {
            char c = s[i];

            if (c == '#') {
                p.f.sharp = true;
            } else if (c == '0') {
                p.f.zero = !p.f.minus;
            } else if (c == '+') {
                p.f.plus = true;
            } else if (c == '-') {
                p.f.minus = true;
                p.f.zero = false;
            } else if (c == ' ') {
                p.f.space = true;
            } else {
                break;
            }
        }
        after_index = arg_number(&st, s, end, &i, argc);
        if (i < end && s[i] == '*') {
            i++;
            p.f.wid_present = int_from_arg(argv, argc, &st.argnum, &p.f.wid);
            if (!p.f.wid_present)
                km_buf_puts(out, "%!(BADWIDTH)");
            if (p.f.wid < 0) {
                p.f.wid = -p.f.wid;
                p.f.minus = true;
                p.f.zero = false;
            }
            after_index = false;
        } else {
            p.f.wid_present = parse_num(s, i, end, &p.f.wid, &i);
            if (after_index && p.f.wid_present)
                st.good_argnum = false;
        }
        if (i + 1 < end && s[i] == '.') {
            i++;
            if (after_index)
                st.good_argnum = false;
            after_index = arg_number(&st, s, end, &i, argc);
            if (i < end && s[i] == '*') {
                i++;
                p.f.prec_present = int_from_arg(argv, argc, &st.argnum, &p.f.prec);
                if (p.f.prec < 0) {
                    p.f.prec = 0;
                    p.f.prec_present = false;
                }
                if (!p.f.prec_present)
                    km_buf_puts(out, "%!(BADPREC)");
                after_index = false;
            } else {
                p.f.prec_present = parse_num(s, i, end, &p.f.prec, &i);
                if (!p.f.prec_present) {
                    p.f.prec = 0;
                    p.f.prec_present = true;
                }
            }
        }
        if (!after_index)
            after_index = arg_number(&st, s, end, &i, argc);
        if (i >= end) {
            km_buf_puts(out, "%!(NOVERB)");
            break;
        }
        i += tmpl_utf8_decode(s + i, end - i, &verb);
        if (verb == '%') {
            km_buf_putc(out, '%');
        } else if (!st.good_argnum) {
            km_buf_puts(out, "%!");
            km_promql_utf8_append(out, verb);
            km_buf_puts(out, "(BADINDEX)");
        } else if (st.argnum >= argc) {
            km_buf_puts(out, "%!");
            km_promql_utf8_append(out, verb);
            km_buf_puts(out, "(MISSING)");
        } else {
            if (verb == 'v') {
                p.f.sharp_v = p.f.sharp;
                p.f.sharp = false;
                p.f.plus_v = p.f.plus;
                p.f.plus = false;
            }
            print_arg(&p, &argv[st.argnum], verb);
            st.argnum++;
        }
    }
    if (!st.reordered && st.argnum < argc) {
        memset(&p.f, 0, sizeof(p.f));
        km_buf_puts(out, "%!(EXTRA ");
        for (size_t k = st.argnum; k < argc; k++) {
            if (k > st.argnum)
                km_buf_puts(out, ", ");
            if (argv[k].k == TV_NIL) {
                km_buf_puts(out, "<nil>");
            } else {
                km_buf_puts(out, tmpl_type_name(&argv[k]));
                km_buf_putc(out, '=');
                print_arg(&p, &argv[k], 'v');
            }
        }
        km_buf_putc(out, ')');
    }
}

/* ---- time.Time.String() --------------------------------------------------------------- */

void tmpl_civil_time(int64_t ms, struct tmpl_civil *c)
{
    int64_t days = ms / 86400000, rem = ms % 86400000, z, era, doe, yoe, doy, mp;

    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    /* days to a date: eras of 400 years from 0000-03-01 */
    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    c->day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    c->month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    c->year = yoe + era * 400 + (c->month <= 2);
    if (c->month >= 3) {
        bool leap = (c->year % 4 == 0 && c->year % 100 != 0) || c->year % 400 == 0;

        c->yday = (unsigned)(doy + 60 + leap);
    } else {
        c->yday = (unsigned)(doy - 305);
    }
    c->wday = (unsigned)(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    c->msec = (unsigned)(rem % 1000);
    rem /= 1000;
    c->hour = (unsigned)(rem / 3600);
    c->min = (unsigned)(rem / 60 % 60);
    c->sec = (unsigned)(rem % 60);
}

void tmpl_fmt_time(struct km_buf *out, int64_t ms)
{
    struct tmpl_civil c;

    tmpl_civil_time(ms, &c);
    if (c.year < 0)
        km_buf_printf(out, "-%04lld", (long long)-c.year);
    else
        km_buf_printf(out, "%04lld", (long long)c.year);
    km_buf_printf(out, "-%02u-%02u %02u:%02u:%02u", c.month, c.day, c.hour, c.min, c.sec);
    if (c.msec) {
        char frac[16];
        int k;

        snprintf(frac, sizeof(frac), "%03u", c.msec);
        for (k = 2; k > 0 && frac[k] == '0'; k--)
            frac[k] = '\0';
        km_buf_printf(out, ".%s", frac);
    }
    km_buf_puts(out, " +0000 UTC");
}
