/*
 * print — PromQL syntax trees as text (see print.h).
 *
 * One line: numbers as Go's %v, strings and matcher values as Go's %q, the matchers of a
 * selector sorted as text (the metric name's own matcher is the name), then "@ …" and
 * "offset …"; grouping as "sum by (a, b) (…)"; vector matching only when it says
 * something ("ignoring ()" does not).
 *
 * Formatted: a node whose one-line text is longer than 100 bytes is split: an
 * aggregation or call puts each argument on its own line one level deeper, a binary
 * expression puts its operands on their own lines around the operator, parentheses
 * their content; everything else stays one line. Each level indents two spaces.
 * Prometheus decides by printing every node's one-line text again at every level; here
 * the tree is printed once on one line while the span each node took is noted, so a
 * node's length and text are looked up (linear in the query, not quadratic).
 */
#include "promql/print.h"
#include "common/array.h"

#include "common/err.h"
#include "promql/literal.h"
#include "promql/quote.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPLIT_ABOVE 100 /* bytes of one line before format_query splits it */

/* Where each node's one-line text lies in the one-line text of the whole tree. */
struct span {
    const struct km_promql_expr *e;
    size_t start, end;
};

struct spans {
    struct span *v;
    size_t n, cap;
    int err;
};

static void spans_add(struct spans *s, const struct km_promql_expr *e, size_t start, size_t end)
{
    if (!s || s->err)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct span *v = realloc(s->v, cap * sizeof(*v));

        if (!v) {
            s->err = KM_ENOMEM;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (struct span){ e, start, end };
}

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;

    return x->e < y->e ? -1 : x->e > y->e;
}

static const struct span *span_of(const struct spans *s, const struct km_promql_expr *e)
{
    struct span key = { .e = e };

    return bsearch(&key, s->v, s->n, sizeof(*s->v), span_cmp);
}

void km_promql_print_duration(struct km_buf *out, int64_t ms)
{
    if (ms < 0) {
        km_buf_putc(out, '-');
        ms = -ms;
    }
    km_promql_format_duration(out, ms);
}

static void print_modifiers(struct km_buf *out, const struct km_promql_at *at, int64_t offset_ms)
{
    switch (at->kind) {
    case KM_PROMQL_AT_TIME:
        km_buf_printf(out, " @ %.3f", (double)at->ms / 1000.0);
        break;
    case KM_PROMQL_AT_START:
        km_buf_puts(out, " @ start()");
        break;
    case KM_PROMQL_AT_END:
        km_buf_puts(out, " @ end()");
        break;
    case KM_PROMQL_AT_NONE:
        break;
    }
    if (offset_ms != 0) {
        km_buf_puts(out, " offset ");
        km_promql_print_duration(out, offset_ms);
    }
}

struct matcher_text {
    size_t off, len; /* in the scratch buffer */
    const char *base;
};

static int matcher_text_cmp(const void *a, const void *b)
{
    const struct matcher_text *x = a, *y = b;
    int c = memcmp(x->base + x->off, y->base + y->off, x->len < y->len ? x->len : y->len);

    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static const char *const match_ops[] = {
    [KM_MATCH_EQ] = "=",
    [KM_MATCH_NEQ] = "!=",
    [KM_MATCH_RE] = "=~",
    [KM_MATCH_NRE] = "!~",
};

/* name{matchers sorted as text}, without @ and offset. */
static int print_selector(struct km_buf *out, const struct km_promql_expr *vs)
{
    const char *name = vs->vector.name ? vs->vector.name : "";
    struct matcher_text *texts;
    struct km_buf scratch;
    size_t n = 0;
    int rc;

    km_buf_puts(out, name);
    if (vs->vector.nmatchers == 0)
        return 0;
    texts = calloc(vs->vector.nmatchers, sizeof(*texts));
    if (!texts)
        return KM_ENOMEM;
    km_buf_init(&scratch, 0);
    for (size_t i = 0; i < vs->vector.nmatchers; i++) {
        const struct km_matcher *m = vs->vector.matchers[i];
        size_t off = scratch.len;

        if (m->type == KM_MATCH_EQ && strcmp(m->name, "__name__") == 0 &&
            strcmp(m->value, name) == 0)
            continue;
        km_buf_puts(&scratch, m->name);
        km_buf_puts(&scratch, match_ops[m->type]);
        km_promql_quote_expr(&scratch, m->value, strlen(m->value));
        texts[n++] = (struct matcher_text){ off, scratch.len - off, NULL };
    }
    rc = km_buf_error(&scratch);
    if (!rc && n > 0) {
        for (size_t i = 0; i < n; i++)
            texts[i].base = scratch.data;
        km_sort(texts, n, sizeof(*texts), matcher_text_cmp);
        km_buf_putc(out, '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                km_buf_putc(out, ',');
            km_buf_append(out, scratch.data + texts[i].off, texts[i].len);
        }
        km_buf_putc(out, '}');
    }
    km_buf_fini(&scratch);
    free(texts);
    return rc;
}

static void print_labels(struct km_buf *out, const struct km_promql_labels *l)
{
    km_buf_puts(out, "(");
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            km_buf_puts(out, ", ");
        km_buf_puts(out, l->names[i]);
    }
    km_buf_puts(out, ")");
}

/* "sum", "sum by (a, b) ", "sum without () " */
static void print_aggregate_op(struct km_buf *out, const struct km_promql_expr *e)
{
    km_buf_puts(out, km_promql_aggop_name(e->aggregate.op));
    if (e->aggregate.without) {
        km_buf_puts(out, " without ");
        print_labels(out, &e->aggregate.grouping);
        km_buf_putc(out, ' ');
    } else if (e->aggregate.grouping.n > 0) {
        km_buf_puts(out, " by ");
        print_labels(out, &e->aggregate.grouping);
        km_buf_putc(out, ' ');
    }
}

/* "op[ bool][ on (…)[ group_left (…)]]" */
static void print_binary_op(struct km_buf *out, const struct km_promql_expr *e)
{
    const struct km_promql_matching *m = e->binary.matching;

    km_buf_puts(out, km_promql_binop_name(e->binary.op));
    if (e->binary.return_bool)
        km_buf_puts(out, " bool");
    if (!m || (m->labels.n == 0 && !m->on))
        return;
    km_buf_puts(out, m->on ? " on " : " ignoring ");
    print_labels(out, &m->labels);
    if (m->card == KM_PROMQL_CARD_MANY_TO_ONE || m->card == KM_PROMQL_CARD_ONE_TO_MANY) {
        km_buf_puts(out, m->card == KM_PROMQL_CARD_MANY_TO_ONE ? " group_left " : " group_right ");
        print_labels(out, &m->include);
    }
}

/* "[5m:1m] @ … offset …" */
static void print_subquery_suffix(struct km_buf *out, const struct km_promql_expr *e)
{
    km_buf_putc(out, '[');
    km_promql_format_duration(out, e->subquery.range_ms);
    km_buf_putc(out, ':');
    if (e->subquery.step_ms != 0)
        km_promql_format_duration(out, e->subquery.step_ms);
    km_buf_putc(out, ']');
    print_modifiers(out, &e->subquery.at, e->subquery.offset_ms);
}

static int print_expr(struct km_buf *out, const struct km_promql_expr *e, struct spans *spans)
{
    size_t start = out->len;
    char num[KM_PROMQL_FLOAT_MAX];
    int rc = 0;

    switch (e->kind) {
    case KM_PROMQL_NUMBER:
        km_buf_append(out, num, km_promql_format_float(num, e->number.value));
        break;
    case KM_PROMQL_STRING:
        km_promql_quote_expr(out, e->string.value, e->string.len);
        break;
    case KM_PROMQL_VECTOR_SELECTOR:
        rc = print_selector(out, e);
        print_modifiers(out, &e->vector.at, e->vector.offset_ms);
        break;
    case KM_PROMQL_MATRIX_SELECTOR: {
        const struct km_promql_expr *vs = e->matrix.vector;

        rc = print_selector(out, vs);
        km_buf_putc(out, '[');
        km_promql_format_duration(out, e->matrix.range_ms);
        km_buf_putc(out, ']');
        print_modifiers(out, &vs->vector.at, vs->vector.offset_ms);
        break;
    }
    case KM_PROMQL_SUBQUERY:
        rc = print_expr(out, e->subquery.expr, spans);
        print_subquery_suffix(out, e);
        break;
    case KM_PROMQL_PAREN:
        km_buf_putc(out, '(');
        rc = print_expr(out, e->paren.expr, spans);
        km_buf_putc(out, ')');
        break;
    case KM_PROMQL_UNARY:
        km_buf_puts(out, km_promql_binop_name(e->unary.op));
        rc = print_expr(out, e->unary.expr, spans);
        break;
    case KM_PROMQL_BINARY:
        if (e->binary.op == KM_PROMQL_OP_POW && e->binary.lhs->kind == KM_PROMQL_NUMBER &&
            e->binary.lhs->number.value == INFINITY) {
            /* Go prints +Inf with its sign, and "+Inf ^ 2" reads back as +(Inf ^ 2), which
             * prints as "++Inf ^ 2": without the sign the print reads back as itself. */
            km_buf_puts(out, "Inf");
            spans_add(spans, e->binary.lhs, start, out->len);
        } else {
            rc = print_expr(out, e->binary.lhs, spans);
        }
        km_buf_putc(out, ' ');
        print_binary_op(out, e);
        km_buf_putc(out, ' ');
        if (!rc)
            rc = print_expr(out, e->binary.rhs, spans);
        break;
    case KM_PROMQL_AGGREGATE:
        print_aggregate_op(out, e);
        km_buf_putc(out, '(');
        if (e->aggregate.param) {
            rc = print_expr(out, e->aggregate.param, spans);
            km_buf_puts(out, ", ");
        }
        if (!rc)
            rc = print_expr(out, e->aggregate.expr, spans);
        km_buf_putc(out, ')');
        break;
    case KM_PROMQL_CALL:
        km_buf_puts(out, e->call.func->name);
        km_buf_putc(out, '(');
        for (size_t i = 0; i < e->call.nargs && !rc; i++) {
            if (i)
                km_buf_puts(out, ", ");
            rc = print_expr(out, e->call.args[i], spans);
        }
        km_buf_putc(out, ')');
        break;
    }
    spans_add(spans, e, start, out->len);
    return rc ? rc : km_buf_error(out);
}

int km_promql_print(struct km_buf *out, const struct km_promql_expr *e)
{
    return print_expr(out, e, NULL);
}

/* ---- format_query ---------------------------------------------------------------------- */

struct pretty {
    const char *flat; /* the whole tree on one line */
    struct spans spans;
};

static void indent(struct km_buf *out, int level)
{
    for (int i = 0; i < level; i++)
        km_buf_puts(out, "  ");
}

static void pretty(struct km_buf *out, const struct pretty *c, const struct km_promql_expr *e,
                   int level)
{
    const struct span *s = span_of(&c->spans, e);
    bool split = s->end - s->start > SPLIT_ABOVE;
    size_t child;

    if (e->kind == KM_PROMQL_SUBQUERY && !split) {
        /* Prometheus does not indent a subquery that fits. */
        km_buf_append(out, c->flat + s->start, s->end - s->start);
        return;
    }
    if (e->kind == KM_PROMQL_UNARY) {
        /* The operand at the same level, its indentation moved before the operator. */
        indent(out, level);
        km_buf_puts(out, km_promql_binop_name(e->unary.op));
        child = out->len;
        pretty(out, c, e->unary.expr, level);
        if (!km_buf_error(out)) {
            size_t skip = 0;

            while (child + skip < out->len && out->data[child + skip] == ' ')
                skip++;
            memmove(out->data + child, out->data + child + skip, out->len - child - skip + 1);
            out->len -= skip;
        }
        return;
    }
    if (!split || e->kind == KM_PROMQL_NUMBER || e->kind == KM_PROMQL_STRING ||
        e->kind == KM_PROMQL_VECTOR_SELECTOR || e->kind == KM_PROMQL_MATRIX_SELECTOR) {
        indent(out, level);
        km_buf_append(out, c->flat + s->start, s->end - s->start);
        return;
    }
    switch (e->kind) {
    case KM_PROMQL_AGGREGATE:
        indent(out, level);
        print_aggregate_op(out, e);
        km_buf_puts(out, "(\n");
        if (e->aggregate.param) {
            pretty(out, c, e->aggregate.param, level + 1);
            km_buf_puts(out, ",\n");
        }
        pretty(out, c, e->aggregate.expr, level + 1);
        km_buf_putc(out, '\n');
        indent(out, level);
        km_buf_putc(out, ')');
        break;
    case KM_PROMQL_BINARY:
        pretty(out, c, e->binary.lhs, level + 1);
        km_buf_putc(out, '\n');
        indent(out, level);
        print_binary_op(out, e);
        km_buf_putc(out, '\n');
        pretty(out, c, e->binary.rhs, level + 1);
        break;
    case KM_PROMQL_CALL:
        indent(out, level);
        km_buf_puts(out, e->call.func->name);
        km_buf_puts(out, "(\n");
        for (size_t i = 0; i < e->call.nargs; i++) {
            if (i)
                km_buf_puts(out, ",\n");
            pretty(out, c, e->call.args[i], level + 1);
        }
        km_buf_putc(out, '\n');
        indent(out, level);
        km_buf_putc(out, ')');
        break;
    case KM_PROMQL_PAREN:
        indent(out, level);
        km_buf_puts(out, "(\n");
        pretty(out, c, e->paren.expr, level + 1);
        km_buf_putc(out, '\n');
        indent(out, level);
        km_buf_putc(out, ')');
        break;
    case KM_PROMQL_SUBQUERY:
        pretty(out, c, e->subquery.expr, level);
        print_subquery_suffix(out, e);
        break;
    default:
        break;
    }
}

int km_promql_format(struct km_buf *out, const struct km_promql_expr *e)
{
    struct pretty c = { 0 };
    struct km_buf flat;
    int rc;

    km_buf_init(&flat, out->max);
    rc = print_expr(&flat, e, &c.spans);
    if (!rc)
        rc = c.spans.err;
    if (!rc) {
        c.flat = km_buf_cstr(&flat);
        km_sort(c.spans.v, c.spans.n, sizeof(*c.spans.v), span_cmp);
        pretty(out, &c, e, 0);
        rc = km_buf_error(out);
    }
    free(c.spans.v);
    km_buf_fini(&flat);
    return rc;
}
