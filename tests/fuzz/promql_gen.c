/*
 * promql_gen — PromQL from the fuzzer's bytes (see promql_gen.h).
 *
 * gen_expr(type) writes an expression of a PromQL type: scalar, instant vector, range
 * vector or string. Each node picks a form among those of its type (the first form of
 * every type is a leaf, and past the depth or node limit only leaves are picked), then
 * fills it in: a function's arguments by the types functions.h declares, an
 * aggregation's parameter by its operator, a binary operator's modifiers by what the
 * parser accepts between those operand types. Operands are parenthesised so that the
 * tree written is the tree parsed; the literal pools hold the values that matter (the
 * dataset's names and label values, NaN and the infinities, durations up to the largest,
 * @ times from before the epoch to the end of int64).
 */
#include "promql_gen.h"

#include "common/err.h"
#include "promql/functions.h"

#include <string.h>

#define GEN_MAX_DEPTH 7
#define GEN_MAX_NODES 48

#define N(a) (sizeof(a) / sizeof((a)[0]))

uint8_t fz_byte(struct fz_bytes *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

struct gen {
    struct fz_bytes *in;
    struct km_buf *b;
    unsigned nodes;
};

static unsigned pick(struct gen *g, size_t n)
{
    return n ? (unsigned)(fz_byte(g->in) % n) : 0;
}

static const char *pick_s(struct gen *g, const char *const *pool, size_t n)
{
    return pool[pick(g, n)];
}

static void put(struct gen *g, const char *s)
{
    km_buf_puts(g->b, s);
}

/* ---- pools ---------------------------------------------------------------------------- */

static const char *const metrics[] = {
    "fz_requests_total",
    "fz_temp_celsius",
    "fz_latency_seconds_bucket",
    "fz_up",
    "fz_latency_seconds_sum",
    "fz_latency_seconds_count",
    "fz_sparse",
    "fz_weird",
    "fz_x",
    "fz_y",
    "fz_stale",
    "fz_missing",
};

/* Matchers that do not match the empty value: a selector may consist of these alone. */
static const char *const strong_matchers[] = {
    "job=\"api\"",
    "instance=~\"i[0-2]\"",
    "__name__=~\"fz_.*\"",
    "__name__=~\"fz_(x|y)\"",
    "a=\"1\"",
    "path=~\".+\"",
    "le=\"+Inf\"",
    "kind!=\"\"",
    "code=~\"5..\"",
    "re=`(x|y)+[z]{2}`",
    "path=`^$\\.|?*+()[]{}`",
    "__name__=\"fz_up\"",
};

static const char *const matchers[] = {
    "job=\"api\"",
    "job!=\"web\"",
    "job=~\"a.*\"",
    "job!~\"api|web\"",
    "instance=~\"i[0-2]\"",
    "code=~\"5..\"",
    "le=\"+Inf\"",
    "le!=\"1\"",
    "path=~`.*\\?.*`",
    "re=~`\\(x\\|y\\).*`",
    "instance=\"\"",
    "instance!=\"\"",
    "a=\"1\"",
    "__name__!=\"fz_up\"",
    "kind=~\"(?i)SEVEN\"",
    "room=~\"\"",
    "path=~\"x|\"",
    "path=\"line\\nbreak\\t\\\"quoted\\\"\"",
    "re=~\"\\\\d.*\"",
    "path=~\"\\u00fc.*\"",
    "nope=\"\"",
    "le=~\"1(\\\\.0)?\"",
};

static const char *const label_names[] = {
    "job", "instance", "code", "le", "room", "kind", "path", "a", "nope", "__name__", "re",
};

/* String literals for label_replace, label_join and count_values. */
static const char *const name_strings[] = {
    "\"dst\"", "\"job\"",  "\"instance\"", "\"le\"", "\"__name__\"", "\"a\"",
    "\"\"",    "\"1bad\"", "\"x-y\"",      "'path'", "`re`",         "\"__x\"",
};
static const char *const replacement_strings[] = {
    "\"$1\"",   "\"${1}x\"", "\"$2$1\"", "\"\"",    "\"a\"",       "\"$name\"",
    "\"${n}\"", "\"$$\"",    "\"$\"",    "`$1-$2`", "\"\\u00e9\"", "\"${1\"",
};
static const char *const regex_strings[] = {
    "\"(.*)\"", "\"i(.)\"", "\"\"",   "\"(\"",     "\".+\"",        "\"(?P<n>.)(.*)\"",
    "\"[\"",    "\"a|b\"",  "`\\d+`", "`(?i)API`", "`(.*)\\.(.*)`", "`\\`",
};
static const char *const separator_strings[] = {
    "\",\"", "\"\"", "\"-\"", "\"\\n\"", "`$1`",
};

static const char *const numbers[] = {
    "0",      "1",     "-1",     "0.5",     "2",    "3",    "10",   "100",
    "-0",     "1e308", "-1e308", "NaN",     "Inf",  "-Inf", "+Inf", "0x10",
    "1e-320", "0.1",   "9.3e18", "-9.3e18", "1e6",  "0.9",  "0.99", "1.5",
    "20000",  "11000", "5e-324", "0.25",    "-2.5", "1e-3", "60",   "300",
};

static const char *const offsets[] = {
    "1m", "5m",  "-5m", "1h",    "15s",  "1ms",  "-1h30m", "1d",
    "1y", "-1y", "30m", "7m30s", "100y", "292y", "-292y",  "37s",
};

static const char *const at_times[] = {
    "0",
    "100",
    "1800",
    "2250",
    "4500",
    "-100",
    "start()",
    "end()",
    "1e9",
    "0.001",
    "1800.5",
    "-1e-3",
    "9.3e15",
    "1e18",
    "9223372036854775",
    "-9223372036854775",
    "2249.999",
    "4485",
    "-9223309901257.974",
    "9223309901257.974",
};

static const char *const ranges[] = {
    "1ms", "1s", "15s", "1m", "5m", "10m", "1h", "2h", "1d", "1y", "292y", "30s", "90s", "16s",
};

static const char *const sub_steps[] = {
    "", "1ms", "1s", "7s", "15s", "1m", "5m", "1h", "1d", "", "", "30s",
};

static const char *const aggregations[] = {
    "sum",    "avg",    "count", "min",     "max",      "group",
    "stddev", "stdvar", "topk",  "bottomk", "quantile", "count_values",
};

static const char *const arith_ops[] = { "+", "-", "*", "/", "%", "^", "atan2" };
static const char *const cmp_ops[] = { "==", "!=", ">", "<", ">=", "<=" };
static const char *const set_ops[] = { "and", "or", "unless" };

/* histogram_quantile's usual argument, so that it sees buckets. */
static const char *const bucket_exprs[] = {
    "rate(fz_latency_seconds_bucket[5m])",
    "sum by (le) (rate(fz_latency_seconds_bucket[10m]))",
    "fz_latency_seconds_bucket",
    "sum without (instance) (fz_latency_seconds_bucket)",
    "{__name__=~\"fz_latency_seconds_bucket|fz_weird\"}",
    "label_replace(fz_latency_seconds_bucket, \"le\", \"1e0\", \"le\", \"1\")",
};

/* ---- expressions ----------------------------------------------------------------------- */

static void gen_expr(struct gen *g, enum km_promql_type t, unsigned depth);

static bool leaf_only(const struct gen *g, unsigned depth)
{
    return depth >= GEN_MAX_DEPTH || g->nodes >= GEN_MAX_NODES;
}

/* Nothing, offset, @, or both in either order. */
static void gen_modifiers(struct gen *g)
{
    unsigned m = pick(g, 5);

    for (unsigned k = 0; k < 2; k++) {
        bool at = (m == 2 || m == 4) ? k == 0 : k == 1;

        if (m == 0 || ((m == 1 || m == 2) && k == 1))
            break;
        if (at) {
            put(g, " @ ");
            put(g, pick_s(g, at_times, N(at_times)));
        } else {
            put(g, " offset ");
            put(g, pick_s(g, offsets, N(offsets)));
        }
    }
}

static void gen_selector(struct gen *g)
{
    unsigned form = pick(g, 4), nm = pick(g, 3);

    if (form != 3) {
        put(g, pick_s(g, metrics, N(metrics)));
        if (nm || form == 2) {
            put(g, "{");
            for (unsigned i = 0; i < nm; i++) {
                const char *m = pick_s(g, matchers, N(matchers));

                /* The name written before the braces may not be matched again. */
                put(g, i ? ", " : "");
                put(g, strncmp(m, "__name__", 8) == 0 ? "instance!=\"i9\"" : m);
            }
            put(g, "}");
        }
        return;
    }
    put(g, "{");
    put(g, pick_s(g, strong_matchers, N(strong_matchers)));
    for (unsigned i = 0; i < nm; i++) {
        put(g, ", ");
        put(g, pick_s(g, matchers, N(matchers)));
    }
    put(g, "}");
}

static void gen_grouping_list(struct gen *g, const char *skip[], size_t nskip, const char **out,
                              size_t *nout)
{
    unsigned n = pick(g, 4);

    put(g, "(");
    *nout = 0;
    for (unsigned i = 0; i < n; i++) {
        const char *l = pick_s(g, label_names, N(label_names));
        bool dup = false;

        for (size_t k = 0; k < nskip; k++)
            dup |= strcmp(skip[k], l) == 0;
        if (dup)
            continue;
        put(g, *nout ? ", " : "");
        put(g, l);
        if (out)
            out[(*nout)] = l;
        (*nout)++;
    }
    put(g, ")");
}

static void gen_matrix(struct gen *g, unsigned depth)
{
    unsigned form = leaf_only(g, depth) ? 0 : pick(g, 4);

    if (form < 2) {
        gen_selector(g);
        put(g, "[");
        put(g, pick_s(g, ranges, N(ranges)));
        put(g, "]");
        if (form == 1)
            gen_modifiers(g);
        return;
    }
    /* A subquery: of a selector as written, or of any instant vector in parentheses. */
    if (form == 2) {
        gen_selector(g);
    } else {
        put(g, "(");
        gen_expr(g, KM_PROMQL_TYPE_VECTOR, depth + 1);
        put(g, ")");
    }
    put(g, "[");
    put(g, pick_s(g, ranges, N(ranges)));
    put(g, ":");
    put(g, pick_s(g, sub_steps, N(sub_steps)));
    put(g, "]");
    gen_modifiers(g);
}

static void gen_string_arg(struct gen *g, const char *fn, size_t i)
{
    if (strcmp(fn, "label_replace") == 0) {
        static const char *const *const pools[] = { name_strings, replacement_strings, name_strings,
                                                    regex_strings };
        static const size_t sizes[] = { N(name_strings), N(replacement_strings), N(name_strings),
                                        N(regex_strings) };

        put(g, pick_s(g, pools[(i - 1) % 4], sizes[(i - 1) % 4]));
    } else if (strcmp(fn, "label_join") == 0 && i == 2) {
        put(g, pick_s(g, separator_strings, N(separator_strings)));
    } else {
        put(g, pick_s(g, name_strings, N(name_strings)));
    }
}

static void gen_call(struct gen *g, enum km_promql_type t, unsigned depth)
{
    const struct km_promql_func *cand[KM_PROMQL_FN_COUNT_], *f;
    size_t nc = 0, nargs;

    for (int id = 0; id < KM_PROMQL_FN_COUNT_; id++) {
        const struct km_promql_func *fn = km_promql_func_get((enum km_promql_func_id)id);

        if (fn->ret == t)
            cand[nc++] = fn;
    }
    f = cand[pick(g, nc)];
    nargs = f->min_args;
    if (f->max_args > f->min_args)
        nargs += pick(g, f->max_args == SIZE_MAX ? 4 : f->max_args - f->min_args + 1);
    put(g, f->name);
    put(g, "(");
    for (size_t i = 0; i < nargs; i++) {
        enum km_promql_type at = f->arg_types[i < f->nargs ? i : f->nargs - 1];

        put(g, i ? ", " : "");
        if (at == KM_PROMQL_TYPE_STRING)
            gen_string_arg(g, f->name, i);
        else if (f->id == KM_PROMQL_FN_HISTOGRAM_QUANTILE && i == 1 && pick(g, 2))
            put(g, pick_s(g, bucket_exprs, N(bucket_exprs)));
        else
            gen_expr(g, at, depth + 1);
    }
    put(g, ")");
}

static void gen_aggregate(struct gen *g, unsigned depth)
{
    unsigned op = pick(g, N(aggregations)), where = pick(g, 3), grouping = pick(g, 3);
    size_t n;

    put(g, aggregations[op]);
    if (where == 1 && grouping) {
        put(g, grouping == 1 ? " by " : " without ");
        gen_grouping_list(g, NULL, 0, NULL, &n);
    }
    put(g, " (");
    if (strcmp(aggregations[op], "count_values") == 0) {
        put(g, pick_s(g, name_strings, N(name_strings)));
        put(g, ", ");
    } else if (op >= 8) {
        gen_expr(g, KM_PROMQL_TYPE_SCALAR, depth + 1);
        put(g, ", ");
    }
    gen_expr(g, KM_PROMQL_TYPE_VECTOR, depth + 1);
    put(g, ")");
    if (where == 2 && grouping) {
        put(g, grouping == 1 ? " by " : " without ");
        gen_grouping_list(g, NULL, 0, NULL, &n);
    }
}

/* lhs op rhs between the types given (at least one of them a vector when vector). */
static void gen_binary(struct gen *g, enum km_promql_type lt, enum km_promql_type rt,
                       unsigned depth)
{
    bool vv = lt == KM_PROMQL_TYPE_VECTOR && rt == KM_PROMQL_TYPE_VECTOR;
    unsigned kind = pick(g, vv ? 3 : 2);
    const char *op;

    put(g, "(");
    gen_expr(g, lt, depth + 1);
    put(g, ") ");
    if (kind == 0) {
        op = pick_s(g, arith_ops, N(arith_ops));
        put(g, op);
    } else if (kind == 1) {
        op = pick_s(g, cmp_ops, N(cmp_ops));
        put(g, op);
        /* Between scalars a comparison must say bool. */
        if (!(lt == KM_PROMQL_TYPE_VECTOR || rt == KM_PROMQL_TYPE_VECTOR) || pick(g, 2))
            put(g, " bool");
    } else {
        op = pick_s(g, set_ops, N(set_ops));
        put(g, " ");
        put(g, op);
    }
    if (vv) {
        unsigned m = pick(g, 6);

        if (m >= 1 && m <= 4) {
            const char *on_labels[8];
            size_t non = 0;

            put(g, m % 2 ? " on " : " ignoring ");
            gen_grouping_list(g, NULL, 0, on_labels, &non);
            if (kind != 2 && m >= 3) {
                size_t ni;

                put(g, pick(g, 2) ? " group_left " : " group_right ");
                /* A label may not be both in on() and in the group clause. */
                gen_grouping_list(g, m % 2 ? on_labels : NULL, m % 2 ? non : 0, NULL, &ni);
            }
        }
    }
    put(g, " (");
    gen_expr(g, rt, depth + 1);
    put(g, ")");
}

static void gen_scalar(struct gen *g, unsigned depth)
{
    switch (leaf_only(g, depth) ? 0 : pick(g, 6)) {
    case 0:
    case 1:
        put(g, pick_s(g, numbers, N(numbers)));
        break;
    case 2:
        gen_call(g, KM_PROMQL_TYPE_SCALAR, depth);
        break;
    case 3:
        gen_binary(g, KM_PROMQL_TYPE_SCALAR, KM_PROMQL_TYPE_SCALAR, depth);
        break;
    case 4:
        put(g, pick(g, 2) ? "-(" : "+(");
        gen_expr(g, KM_PROMQL_TYPE_SCALAR, depth + 1);
        put(g, ")");
        break;
    default:
        km_buf_printf(g->b, "%u", (unsigned)fz_byte(g->in) * 37u);
        break;
    }
}

static void gen_vector(struct gen *g, unsigned depth)
{
    switch (leaf_only(g, depth) ? 0 : pick(g, 12)) {
    case 0:
        gen_selector(g);
        break;
    case 1:
        gen_selector(g);
        gen_modifiers(g);
        break;
    case 2:
    case 3:
    case 4:
        gen_call(g, KM_PROMQL_TYPE_VECTOR, depth);
        break;
    case 5:
    case 6:
        gen_aggregate(g, depth);
        break;
    case 7:
    case 8:
        gen_binary(g, KM_PROMQL_TYPE_VECTOR, KM_PROMQL_TYPE_VECTOR, depth);
        break;
    case 9:
        if (pick(g, 2))
            gen_binary(g, KM_PROMQL_TYPE_VECTOR, KM_PROMQL_TYPE_SCALAR, depth);
        else
            gen_binary(g, KM_PROMQL_TYPE_SCALAR, KM_PROMQL_TYPE_VECTOR, depth);
        break;
    case 10:
        put(g, pick(g, 2) ? "-(" : "+(");
        gen_expr(g, KM_PROMQL_TYPE_VECTOR, depth + 1);
        put(g, ")");
        break;
    default:
        put(g, "(");
        gen_expr(g, KM_PROMQL_TYPE_VECTOR, depth + 1);
        put(g, ")");
        break;
    }
}

static void gen_expr(struct gen *g, enum km_promql_type t, unsigned depth)
{
    g->nodes++;
    switch (t) {
    case KM_PROMQL_TYPE_SCALAR:
        gen_scalar(g, depth);
        break;
    case KM_PROMQL_TYPE_MATRIX:
        gen_matrix(g, depth);
        break;
    case KM_PROMQL_TYPE_STRING:
        put(g, pick_s(g, name_strings, N(name_strings)));
        break;
    default:
        gen_vector(g, depth);
        break;
    }
}

int fz_gen_query(struct fz_bytes *in, struct km_buf *out)
{
    static const enum km_promql_type top[] = {
        KM_PROMQL_TYPE_VECTOR, KM_PROMQL_TYPE_VECTOR, KM_PROMQL_TYPE_VECTOR, KM_PROMQL_TYPE_VECTOR,
        KM_PROMQL_TYPE_VECTOR, KM_PROMQL_TYPE_SCALAR, KM_PROMQL_TYPE_MATRIX, KM_PROMQL_TYPE_STRING,
    };
    struct gen g = { .in = in, .b = out };

    gen_expr(&g, top[pick(&g, N(top))], 0);
    return km_buf_error(out) ? KM_ENOMEM : 0;
}
