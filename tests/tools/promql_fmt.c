/*
 * promql_fmt — kmon's PromQL front end over a list of queries, for comparing it with a
 * real Prometheus (tests/tools/promql_oracle.py): reads JSON lines {"q": "<query>"} on
 * stdin and writes {"q": …, "ok": true, "out": "<format_query text>"} or {"q": …, "ok":
 * false, "out": "<parse error>"} for each, as the oracle records Prometheus' answers.
 */
#include "common/buf.h"
#include "common/numfmt.h"
#include "promql/parse.h"
#include "promql/print.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s[0..n) with every byte that is not valid UTF-8 replaced by U+FFFD, as Prometheus'
 * JSON encoder writes it. */
static json_t *json_text(const char *s, size_t n)
{
    struct km_buf b;
    json_t *j;

    km_buf_init(&b, 0);
    for (size_t i = 0; i < n;) {
        size_t w = km_utf8_seq_len((const unsigned char *)s + i, n - i);

        if (w == 0) {
            km_buf_puts(&b, "\xef\xbf\xbd");
            i++;
        } else {
            km_buf_append(&b, s + i, w);
            i += w;
        }
    }
    j = json_stringn(b.data ? b.data : "", b.len);
    km_buf_fini(&b);
    return j;
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_error_t jerr;
        json_t *in = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &jerr), *q, *res;
        struct km_promql_expr *e = NULL;
        struct km_promql_error err;
        struct km_buf out;
        char *s;

        if (!in || !(q = json_object_get(in, "q")) || !json_is_string(q)) {
            fprintf(stderr, "promql_fmt: bad input line: %s", line);
            return 2;
        }
        km_buf_init(&out, 0);
        if (km_promql_parse(json_string_value(q), json_string_length(q), &e, &err) == 0) {
            if (km_promql_format(&out, e)) {
                fprintf(stderr, "promql_fmt: printing failed\n");
                return 1;
            }
            res = json_pack("{s:O,s:b,s:o}", "q", q, "ok", 1, "out", json_text(out.data, out.len));
        } else {
            res = json_pack("{s:O,s:b,s:o}", "q", q, "ok", 0, "out",
                            json_text(err.msg, strlen(err.msg)));
        }
        s = json_dumps(res, JSON_COMPACT | JSON_ENSURE_ASCII);
        puts(s);
        free(s);
        json_decref(res);
        json_decref(in);
        km_buf_fini(&out);
        km_promql_expr_destroy(e);
    }
    free(line);
    return 0;
}
