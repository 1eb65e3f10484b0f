/*
 * logline — CRI and Docker json-file line parsers (see logline.h).
 */
#include "agent/logs/logline.h"

#include "common/err.h"

#include <string.h>

static bool digits(const char *p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int km_logline_parse_ts(const char *p, size_t n, int64_t *out_ns)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h, mi, s, oh = 0, om = 0;
    int64_t frac = 0, ns;
    size_t i = 19;
    int nd = 0;

    if (n < 20 || !digits(p, 4, &y) || p[4] != '-' || !digits(p + 5, 2, &mo) || p[7] != '-' ||
        !digits(p + 8, 2, &d) || (p[10] != 'T' && p[10] != 't' && p[10] != ' ') ||
        !digits(p + 11, 2, &h) || p[13] != ':' || !digits(p + 14, 2, &mi) || p[16] != ':' ||
        !digits(p + 17, 2, &s))
        return km_err_set(KM_EINVAL, "malformed timestamp");
    if (y < 1678 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || s > 60)
        return km_err_set(KM_EINVAL, "timestamp out of range");
    if (i < n && p[i] == '.') {
        for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
            if (nd < 9) {
                frac = frac * 10 + (p[i] - '0');
                nd++;
            }
        }
        if (nd == 0)
            return km_err_set(KM_EINVAL, "malformed timestamp fraction");
        for (; nd < 9; nd++)
            frac *= 10;
    }
    if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
        i++;
    } else if (i + 6 <= n && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':' &&
               digits(p + i + 1, 2, &oh) && digits(p + i + 4, 2, &om) && oh < 24 && om < 60) {
        if (p[i] == '+') {
            oh = -oh;
            om = -om;
        }
        i += 6;
    } else {
        return km_err_set(KM_EINVAL, "malformed timestamp zone");
    }
    if (i != n)
        return km_err_set(KM_EINVAL, "trailing bytes after the timestamp");
    ns = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s + oh * 3600 + om * 60;
    *out_ns = ns * 1000000000 + frac;
    return 0;
}

int km_logline_parse_cri(const char *p, size_t n, struct km_logline *out)
{
    const char *sp = memchr(p, ' ', n < 64 ? n : 64);
    struct km_logline l;
    size_t i;

    if (!sp)
        return km_err_set(KM_EINVAL, "not a CRI log line: no timestamp");
    if (km_logline_parse_ts(p, (size_t)(sp - p), &l.ts_ns) != 0)
        return km_err_wrap(KM_EINVAL, "not a CRI log line");
    i = (size_t)(sp - p) + 1;
    if (n - i >= 7 && memcmp(p + i, "stdout ", 7) == 0)
        l.stream = KM_LOGLINE_STDOUT;
    else if (n - i >= 7 && memcmp(p + i, "stderr ", 7) == 0)
        l.stream = KM_LOGLINE_STDERR;
    else
        return km_err_set(KM_EINVAL, "not a CRI log line: the stream is not stdout or stderr");
    i += 7;
    /* The tag: P or F, possibly followed by other ':'-separated tags (none defined). */
    if (i >= n || (p[i] != 'P' && p[i] != 'F'))
        return km_err_set(KM_EINVAL, "not a CRI log line: the tag is not P or F");
    l.partial = p[i] == 'P';
    while (i < n && p[i] != ' ')
        i++;
    if (i < n)
        i++; /* an empty F line may end right after its tag */
    l.text = p + i;
    l.len = n - i;
    *out = l;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool hex4(const char *p, size_t n, size_t i, unsigned *out)
{
    unsigned v = 0;

    if (i + 4 > n)
        return false;
    for (size_t k = 0; k < 4; k++) {
        int h = hexval(p[i + k]);

        if (h < 0)
            return false;
        v = v * 16 + (unsigned)h;
    }
    *out = v;
    return true;
}

static void put_utf8(struct km_buf *b, unsigned cp)
{
    char u[4];
    size_t k;

    if (cp < 0x80) {
        u[0] = (char)cp;
        k = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        k = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    km_buf_append(b, u, k);
}

/* A JSON string at p[*i] (the opening quote). With `b`, its unescaped bytes are
 * appended there; else *s and *len give the raw (escaped) contents. */
static int json_string(const char *p, size_t n, size_t *i, struct km_buf *b, const char **s,
                       size_t *len)
{
    size_t j = *i + 1, run = j;

    if (*i >= n || p[*i] != '"')
        return km_err_set(KM_EINVAL, "expected a JSON string");
    for (;;) {
        if (j >= n)
            return km_err_set(KM_EINVAL, "unterminated JSON string");
        if (p[j] == '"')
            break;
        if ((unsigned char)p[j] < 0x20)
            return km_err_set(KM_EINVAL, "control character in a JSON string");
        if (p[j] != '\\') {
            j++;
            continue;
        }
        if (b)
            km_buf_append(b, p + run, j - run);
        if (j + 1 >= n)
            return km_err_set(KM_EINVAL, "unterminated JSON escape");
        switch (p[j + 1]) {
        case '"':
        case '\\':
        case '/':
            if (b)
                km_buf_putc(b, p[j + 1]);
            j += 2;
            break;
        case 'n':
        case 't':
        case 'r':
        case 'b':
        case 'f':
            if (b)
                km_buf_putc(b, p[j + 1] == 'n'   ? '\n'
                               : p[j + 1] == 't' ? '\t'
                               : p[j + 1] == 'r' ? '\r'
                               : p[j + 1] == 'b' ? '\b'
                                                 : '\f');
            j += 2;
            break;
        case 'u': {
            unsigned cp, lo;

            if (!hex4(p, n, j + 2, &cp))
                return km_err_set(KM_EINVAL, "malformed \\u escape");
            j += 6;
            if (cp >= 0xD800 && cp < 0xDC00 && j + 1 < n && p[j] == '\\' && p[j + 1] == 'u' &&
                hex4(p, n, j + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                j += 6;
            } else if (cp >= 0xD800 && cp < 0xE000) {
                cp = 0xFFFD; /* a lone surrogate */
            }
            if (b)
                put_utf8(b, cp);
            break;
        }
        default:
            return km_err_set(KM_EINVAL, "unknown JSON escape");
        }
        run = j;
    }
    if (b)
        km_buf_append(b, p + run, j - run);
    else {
        *s = p + *i + 1;
        *len = j - *i - 1;
    }
    *i = j + 1;
    return 0;
}

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i;
}

int km_logline_parse_docker(const char *p, size_t n, struct km_buf *scratch, struct km_logline *out)
{
    struct km_logline l = { 0 };
    bool have_log = false, have_stream = false, have_time = false;
    size_t i = skip_ws(p, n, 0);

    km_buf_reset(scratch);
    if (i >= n || p[i] != '{')
        return km_err_set(KM_EINVAL, "not a Docker json-file line: no JSON object");
    i = skip_ws(p, n, i + 1);
    while (i < n && p[i] != '}') {
        const char *k, *v;
        size_t klen, vlen;

        if (json_string(p, n, &i, NULL, &k, &klen) != 0)
            return km_err_wrap(KM_EINVAL, "not a Docker json-file line");
        i = skip_ws(p, n, i);
        if (i >= n || p[i] != ':')
            return km_err_set(KM_EINVAL, "not a Docker json-file line: expected ':'");
        i = skip_ws(p, n, i + 1);
        if (klen == 3 && memcmp(k, "log", 3) == 0 && !have_log) {
            if (json_string(p, n, &i, scratch, NULL, NULL) != 0)
                return km_err_wrap(KM_EINVAL, "not a Docker json-file line: log");
            if (km_buf_error(scratch))
                return km_err_set(KM_ELIMIT, "the log text is over the line cap");
            have_log = true;
        } else if (json_string(p, n, &i, NULL, &v, &vlen) != 0) {
            /* Other fields ("attrs") are objects: not in the json-file driver's lines
             * kmon reads; refuse rather than guess. */
            return km_err_wrap(KM_EINVAL, "not a Docker json-file line");
        } else if (klen == 6 && memcmp(k, "stream", 6) == 0) {
            if (vlen == 6 && memcmp(v, "stdout", 6) == 0)
                l.stream = KM_LOGLINE_STDOUT;
            else if (vlen == 6 && memcmp(v, "stderr", 6) == 0)
                l.stream = KM_LOGLINE_STDERR;
            else
                return km_err_set(KM_EINVAL,
                                  "not a Docker json-file line: stream is not stdout or stderr");
            have_stream = true;
        } else if (klen == 4 && memcmp(k, "time", 4) == 0) {
            if (km_logline_parse_ts(v, vlen, &l.ts_ns) != 0)
                return km_err_wrap(KM_EINVAL, "not a Docker json-file line: time");
            have_time = true;
        }
        i = skip_ws(p, n, i);
        if (i < n && p[i] == ',')
            i = skip_ws(p, n, i + 1);
        else if (i < n && p[i] != '}')
            return km_err_set(KM_EINVAL, "not a Docker json-file line: expected ',' or '}'");
    }
    if (i >= n)
        return km_err_set(KM_EINVAL, "not a Docker json-file line: unterminated object");
    if (skip_ws(p, n, i + 1) != n)
        return km_err_set(KM_EINVAL, "not a Docker json-file line: bytes after the object");
    if (!have_log || !have_stream || !have_time)
        return km_err_set(KM_EINVAL, "not a Docker json-file line: log, stream or time missing");
    l.text = scratch->data ? scratch->data : "";
    l.len = scratch->len;
    if (l.len && l.text[l.len - 1] == '\n')
        l.len--;
    else
        l.partial = true;
    *out = l;
    return 0;
}
