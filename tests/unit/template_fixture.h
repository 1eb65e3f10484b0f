/*
 * template_fixture — the data the template tests expand with, the same that
 * tests/tools/tmpl_oracle.py gives promtool: the alert's series up{instance="host:9090",
 * job="node"} with the value 1234567, no external labels or URL, time 0, and `query`
 * answering from node_load1{instance="b:9100"} 0.25, {instance="a:9100"} 1.5 and
 * {instance="c:9100", job="other"} 3 (in that order, as Prometheus returned them), the
 * scalar 1+1, nothing for other queries, and Prometheus' parse error for "up(".
 * Header-only, for test_rules_template, its out-of-memory test and the fuzz target.
 */
#ifndef KMON_TESTS_TEMPLATE_FIXTURE_H
#define KMON_TESTS_TEMPLATE_FIXTURE_H

#include "common/buf.h"
#include "common/err.h"
#include "common/labels.h"
#include "rules/template.h"

#include <string.h>

static inline int fixture_add(struct km_tmpl_query_result *out, const struct km_label *l, size_t n,
                              double v)
{
    struct km_labels *ls = NULL;
    int rc = km_labels_create(&ls, l, n);

    if (rc == 0)
        rc = km_tmpl_query_result_add(out, ls, v);
    km_labels_destroy(ls);
    return rc;
}

static inline int fixture_query(void *ctx, const char *promql, int64_t at_ms,
                                struct km_tmpl_query_result *out, struct km_buf *err)
{
    static const char *const instance[] = { "b:9100", "a:9100", "c:9100" };
    static const char *const job[] = { "node", "node", "other" };
    static const double value[] = { 0.25, 1.5, 3 };
    int rc = 0;

    (void)ctx;
    (void)at_ms;
    if (strcmp(promql, "node_load1") == 0) {
        for (int i = 0; i < 3 && rc == 0; i++) {
            struct km_label l[] = { { "__name__", "node_load1" },
                                    { "instance", instance[i] },
                                    { "job", job[i] } };

            rc = fixture_add(out, l, 3, value[i]);
        }
        return rc;
    }
    if (strcmp(promql, "up") == 0) {
        struct km_label l[] = { { "__name__", "up" },
                                { "instance", "host:9090" },
                                { "job", "node" } };

        return fixture_add(out, l, 3, 1234567);
    }
    if (strcmp(promql, "1+1") == 0)
        return km_tmpl_query_result_add(out, NULL, 2);
    if (strcmp(promql, "up(") == 0) {
        km_buf_puts(err, "1:4: parse error: unclosed left parenthesis");
        return KM_EINVAL;
    }
    return 0;
}

struct fixture {
    struct km_labels *labels;
    struct km_tmpl_data d;
};

static inline int fixture_init(struct fixture *f)
{
    struct km_label l[] = { { "__name__", "up" }, { "instance", "host:9090" }, { "job", "node" } };
    int rc;

    memset(f, 0, sizeof(*f));
    f->d.value = 1234567;
    f->d.query = fixture_query;
    rc = km_labels_create(&f->labels, l, 3);
    f->d.labels = f->labels;
    return rc;
}

static inline void fixture_fini(struct fixture *f)
{
    km_labels_destroy(f->labels);
}

/* Parse text[0..n) as the template `name` and expand it with d: 0 with the output in out,
 * or the code of the failure with its message in out. */
static inline int fixture_run(const struct km_tmpl_data *d, const char *name, const char *text,
                              size_t n, struct km_buf *out)
{
    struct km_tmpl *t = NULL;
    struct km_buf err;
    int rc;

    km_buf_init(&err, 0);
    rc = km_tmpl_parse(&t, name, text, n, &err);
    if (rc == 0)
        rc = km_tmpl_expand(t, d, out, &err);
    if (rc) {
        km_buf_reset(out);
        km_buf_append(out, err.data ? err.data : "", err.len);
        if (km_buf_error(out))
            rc = km_buf_error(out);
    }
    km_tmpl_destroy(t);
    km_buf_fini(&err);
    return rc;
}

#endif
