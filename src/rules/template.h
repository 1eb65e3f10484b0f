/*
 * template — the text templates of Prometheus' alerting rules: Go's text/template
 * language (actions, pipelines, variables, if/range/with, define/template/block, the
 * builtin functions) with the functions Prometheus adds (query, humanize, reReplaceAll,
 * …), expanded as Prometheus 2.42's template.Expander does for an alert's labels and
 * annotations: same output, same error messages.
 *
 * A template is parsed once (km_tmpl_parse) into an immutable tree, then expanded any
 * number of times, from any number of threads at once, with the data of one alert
 * (km_tmpl_expand). The text is parsed behind Prometheus' definitions
 *     {{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}
 *     {{$externalURL := .ExternalURL}}{{$value := .Value}}
 * (on one line, as Prometheus joins them), so `$labels.x`, `.Labels.x`, `$value` and
 * `.Value` all work, and the line:column of an error counts them as Prometheus does.
 * Missing map keys give the zero value ("" for a label), as with Prometheus'
 * missingkey=zero. Nothing is HTML-escaped (text/template).
 *
 * Bounds (src/common/limits.h, KM_LIMIT_TMPL_*): the text's size, the nesting of its
 * actions and parentheses, and per expansion the output's size, the work done (a budget
 * of steps: nodes walked, range iterations), the depth of {{template}} calls, the queries
 * made and the memory of the values made on the way. A template past one fails with
 * KM_ELIMIT and a message; none can hang or exhaust memory.
 *
 * See docs/internals/templates.md for what is and is not supported.
 */
#ifndef KMON_RULES_TEMPLATE_H
#define KMON_RULES_TEMPLATE_H

#include "common/buf.h"
#include "common/labels.h"

#include <stddef.h>
#include <stdint.h>

/* A parsed template: immutable, safe to expand from many threads at once. */
struct km_tmpl;

/* One sample of a query's answer: its labels (owned by the result) and value. */
struct km_tmpl_sample {
    struct km_labels *labels;
    double value;
};

/* What `query` gives a template: a vector (a scalar is one sample without labels, as
 * Prometheus' rule engine makes it). Filled by a km_tmpl_query_fn with
 * km_tmpl_query_result_add(); owned and freed by the expansion. */
struct km_tmpl_query_result {
    struct km_tmpl_sample *v;
    size_t n, cap;
};

/* Append a sample with a copy of `labels` (NULL: none). 0 or KM_ENOMEM. */
int km_tmpl_query_result_add(struct km_tmpl_query_result *r, const struct km_labels *labels,
                             double value);

/* Free the samples; the result is empty and usable again. */
void km_tmpl_query_result_fini(struct km_tmpl_query_result *r);

/* Evaluate the PromQL `promql` at `at_ms` into `out` (empty when called). 0, or a negative
 * KM_E* code with the reason appended to `err` (Prometheus' text, e.g. "1:4: parse error:
 * unclosed left parenthesis"), which the template reports as "error calling query: …".
 * Called on the expanding thread; `out` is freed by the caller whatever it returns. */
typedef int (*km_tmpl_query_fn)(void *ctx, const char *promql, int64_t at_ms,
                                struct km_tmpl_query_result *out, struct km_buf *err);

/* The data of one expansion. Borrowed for the call. */
struct km_tmpl_data {
    const struct km_labels *labels;   /* $labels, .Labels (NULL: none) */
    const struct km_labels *external; /* $externalLabels, .ExternalLabels (NULL: none) */
    double value;                     /* $value, .Value */
    const char *external_url;         /* $externalURL, externalURL, pathPrefix (NULL: unset,
                                         and those two functions fail as Prometheus' do) */
    int64_t eval_ms;                  /* the time `query` asks about */
    km_tmpl_query_fn query;           /* NULL: `query` fails */
    void *query_ctx;
};

/* Parse `text` (n bytes, NUL bytes allowed) as the template `name` (Prometheus names an
 * alert's "__alert_<rule name>"). On success *out is new; the caller frees it with
 * km_tmpl_destroy(). On failure KM_EINVAL with the error appended to `err` as Go's parser
 * words it ("template: __alert_X:1: function \"foo\" not defined"; Prometheus' rule
 * loader prints it after "annotation \"summary\": "), KM_ELIMIT (a bound above) or
 * KM_ENOMEM. */
int km_tmpl_parse(struct km_tmpl **out, const char *name, const char *text, size_t n,
                  struct km_buf *err);

/* Expand `t` with data `d`, appending the text to `out`. On failure `out` is unchanged,
 * and the code is KM_EINVAL (the template failed, as it would in Prometheus), KM_ELIMIT
 * or KM_ENOMEM, with Prometheus' message appended to `err`: "error executing template
 * __alert_X: template: __alert_X:1:115: executing \"__alert_X\" at <humanize \"abc\">:
 * error calling humanize: strconv.ParseFloat: parsing \"abc\": invalid syntax" (an
 * alert shows it as "<error expanding template: …>"). */
int km_tmpl_expand(const struct km_tmpl *t, const struct km_tmpl_data *d, struct km_buf *out,
                   struct km_buf *err);

/* The name given to km_tmpl_parse(). */
const char *km_tmpl_name(const struct km_tmpl *t);

/* Free a template. NULL is a no-op. */
void km_tmpl_destroy(struct km_tmpl *t);

#endif
