/*
 * expfmt — Prometheus text format 0.0.4 writer (see expfmt.h).
 */
#include "expfmt.h"

#include "numfmt.h"

#include <string.h>

/* Append s with '\' → "\\", '\n' → "\n", and '"' → "\"" when `quote` is set; invalid
 * UTF-8 bytes become U+FFFD. Copies unchanged runs in one append. */
static void escape(struct km_buf *b, const char *s, bool quote)
{
    const unsigned char *p = (const unsigned char *)s, *run = p;
    size_t left = strlen(s);

    while (left) {
        unsigned char c = *p;
        const char *rep = NULL;
        size_t l = 1;

        if (c == '\\')
            rep = "\\\\";
        else if (c == '\n')
            rep = "\\n";
        else if (c == '"' && quote)
            rep = "\\\"";
        else if (c >= 0x80 && (l = km_utf8_seq_len(p, left)) == 0)
            rep = "\xef\xbf\xbd";
        if (!rep) {
            p += l;
            left -= l;
            continue;
        }
        km_buf_append(b, run, (size_t)(p - run));
        km_buf_puts(b, rep);
        p++;
        left--;
        run = p;
    }
    km_buf_append(b, run, (size_t)(p - run));
}

void km_expfmt_escape_help(struct km_buf *b, const char *s)
{
    escape(b, s, false);
}

void km_expfmt_escape_label_value(struct km_buf *b, const char *s)
{
    escape(b, s, true);
}

void km_expfmt_family(struct km_buf *b, const char *name, const char *help, const char *type)
{
    if (help) {
        km_buf_append(b, "# HELP ", 7);
        km_buf_puts(b, name);
        km_buf_putc(b, ' ');
        escape(b, help, false);
        km_buf_putc(b, '\n');
    }
    km_buf_append(b, "# TYPE ", 7);
    km_buf_puts(b, name);
    km_buf_putc(b, ' ');
    km_buf_puts(b, type);
    km_buf_putc(b, '\n');
}

void km_expfmt_sample(struct km_buf *b, const char *name, const struct km_label *labels,
                      size_t nlabels, double value, bool with_ts, int64_t ts_ms)
{
    char num[KM_FMT_DOUBLE_MAX];
    size_t n;

    km_buf_puts(b, name);
    if (nlabels) {
        km_buf_putc(b, '{');
        for (size_t i = 0; i < nlabels; i++) {
            if (i)
                km_buf_putc(b, ',');
            km_buf_puts(b, labels[i].name);
            km_buf_append(b, "=\"", 2);
            escape(b, labels[i].value, true);
            km_buf_putc(b, '"');
        }
        km_buf_putc(b, '}');
    }
    km_buf_putc(b, ' ');
    n = km_fmt_double(num, value);
    km_buf_append(b, num, n);
    if (with_ts) {
        km_buf_putc(b, ' ');
        km_buf_put_i64(b, ts_ms);
    }
    km_buf_putc(b, '\n');
}
