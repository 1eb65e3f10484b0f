/*
 * functions — the table of PromQL functions (see functions.h), in id order so that an id
 * indexes it; names are looked up by binary search over a sorted index built once.
 */
#include "promql/functions.h"
#include "common/array.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S KM_PROMQL_TYPE_SCALAR
#define V KM_PROMQL_TYPE_VECTOR
#define M KM_PROMQL_TYPE_MATRIX
#define T KM_PROMQL_TYPE_STRING

/* name, return type, argument types, variadic */
#define FN(id_, name_, ret_, variadic_, ...)                                                       \
    [KM_PROMQL_FN_##id_] = { .id = KM_PROMQL_FN_##id_,                                             \
                             .name = name_,                                                        \
                             .ret = ret_,                                                          \
                             .arg_types = { __VA_ARGS__ },                                         \
                             .variadic = variadic_ }

static struct km_promql_func table[KM_PROMQL_FN_COUNT_] = {
    FN(ABS, "abs", V, 0, V),
    FN(ABSENT, "absent", V, 0, V),
    FN(ABSENT_OVER_TIME, "absent_over_time", V, 0, M),
    FN(ACOS, "acos", V, 0, V),
    FN(ACOSH, "acosh", V, 0, V),
    FN(ASIN, "asin", V, 0, V),
    FN(ASINH, "asinh", V, 0, V),
    FN(ATAN, "atan", V, 0, V),
    FN(ATANH, "atanh", V, 0, V),
    FN(AVG_OVER_TIME, "avg_over_time", V, 0, M),
    FN(CEIL, "ceil", V, 0, V),
    FN(CHANGES, "changes", V, 0, M),
    FN(CLAMP, "clamp", V, 0, V, S, S),
    FN(CLAMP_MAX, "clamp_max", V, 0, V, S),
    FN(CLAMP_MIN, "clamp_min", V, 0, V, S),
    FN(COS, "cos", V, 0, V),
    FN(COSH, "cosh", V, 0, V),
    FN(COUNT_OVER_TIME, "count_over_time", V, 0, M),
    FN(DAYS_IN_MONTH, "days_in_month", V, 1, V),
    FN(DAY_OF_MONTH, "day_of_month", V, 1, V),
    FN(DAY_OF_WEEK, "day_of_week", V, 1, V),
    FN(DAY_OF_YEAR, "day_of_year", V, 1, V),
    FN(DEG, "deg", V, 0, V),
    FN(DELTA, "delta", V, 0, M),
    FN(DERIV, "deriv", V, 0, M),
    FN(EXP, "exp", V, 0, V),
    FN(FLOOR, "floor", V, 0, V),
    FN(HISTOGRAM_COUNT, "histogram_count", V, 0, V),
    FN(HISTOGRAM_FRACTION, "histogram_fraction", V, 0, S, S, V),
    FN(HISTOGRAM_QUANTILE, "histogram_quantile", V, 0, S, V),
    FN(HISTOGRAM_SUM, "histogram_sum", V, 0, V),
    FN(HOLT_WINTERS, "holt_winters", V, 0, M, S, S),
    FN(HOUR, "hour", V, 1, V),
    FN(IDELTA, "idelta", V, 0, M),
    FN(INCREASE, "increase", V, 0, M),
    FN(IRATE, "irate", V, 0, M),
    FN(LABEL_JOIN, "label_join", V, -1, V, T, T, T),
    FN(LABEL_REPLACE, "label_replace", V, 0, V, T, T, T, T),
    FN(LAST_OVER_TIME, "last_over_time", V, 0, M),
    FN(LN, "ln", V, 0, V),
    FN(LOG10, "log10", V, 0, V),
    FN(LOG2, "log2", V, 0, V),
    FN(MAX_OVER_TIME, "max_over_time", V, 0, M),
    FN(MIN_OVER_TIME, "min_over_time", V, 0, M),
    FN(MINUTE, "minute", V, 1, V),
    FN(MONTH, "month", V, 1, V),
    FN(PI, "pi", S, 0, KM_PROMQL_TYPE_NONE),
    FN(PREDICT_LINEAR, "predict_linear", V, 0, M, S),
    FN(PRESENT_OVER_TIME, "present_over_time", V, 0, M),
    FN(QUANTILE_OVER_TIME, "quantile_over_time", V, 0, S, M),
    FN(RAD, "rad", V, 0, V),
    FN(RATE, "rate", V, 0, M),
    FN(RESETS, "resets", V, 0, M),
    FN(ROUND, "round", V, 1, V, S),
    FN(SCALAR, "scalar", S, 0, V),
    FN(SGN, "sgn", V, 0, V),
    FN(SIN, "sin", V, 0, V),
    FN(SINH, "sinh", V, 0, V),
    FN(SORT, "sort", V, 0, V),
    FN(SORT_DESC, "sort_desc", V, 0, V),
    FN(SQRT, "sqrt", V, 0, V),
    FN(STDDEV_OVER_TIME, "stddev_over_time", V, 0, M),
    FN(STDVAR_OVER_TIME, "stdvar_over_time", V, 0, M),
    FN(SUM_OVER_TIME, "sum_over_time", V, 0, M),
    FN(TAN, "tan", V, 0, V),
    FN(TANH, "tanh", V, 0, V),
    FN(TIME, "time", S, 0, KM_PROMQL_TYPE_NONE),
    FN(TIMESTAMP, "timestamp", V, 0, V),
    FN(VECTOR, "vector", V, 0, S),
    FN(YEAR, "year", V, 1, V),
};

#undef FN
#undef S
#undef V
#undef M
#undef T

static const struct km_promql_func *by_name[KM_PROMQL_FN_COUNT_];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static int cmp_name(const void *a, const void *b)
{
    const struct km_promql_func *const *fa = a, *const *fb = b;

    return strcmp((*fa)->name, (*fb)->name);
}

/* Counts (from the declared types) and the sorted name index. */
static void init_table(void)
{
    for (size_t i = 0; i < KM_PROMQL_FN_COUNT_; i++) {
        struct km_promql_func *f = &table[i];

        f->nargs = 0;
        while (f->nargs < KM_PROMQL_FUNC_MAX_ARGS && f->arg_types[f->nargs] != KM_PROMQL_TYPE_NONE)
            f->nargs++;
        f->min_args = f->variadic ? f->nargs - 1 : f->nargs;
        f->max_args = f->variadic < 0 ? SIZE_MAX : f->min_args + (f->variadic ? 1 : 0);
        by_name[i] = f;
    }
    km_sort(by_name, KM_PROMQL_FN_COUNT_, sizeof(by_name[0]), cmp_name);
}

const struct km_promql_func *km_promql_func_lookup(const char *name, size_t len)
{
    size_t lo = 0, hi = KM_PROMQL_FN_COUNT_;

    pthread_once(&init_once, init_table);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *n = by_name[mid]->name;
        int c = strncmp(name, n, len);

        if (c == 0)
            c = n[len] == '\0' ? 0 : -1;
        if (c == 0)
            return by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct km_promql_func *km_promql_func_get(enum km_promql_func_id id)
{
    pthread_once(&init_once, init_table);
    return (unsigned)id < KM_PROMQL_FN_COUNT_ ? &table[id] : NULL;
}

const char *km_promql_type_name(enum km_promql_type t)
{
    switch (t) {
    case KM_PROMQL_TYPE_SCALAR:
        return "scalar";
    case KM_PROMQL_TYPE_VECTOR:
        return "instant vector";
    case KM_PROMQL_TYPE_MATRIX:
        return "range vector";
    case KM_PROMQL_TYPE_STRING:
        return "string";
    case KM_PROMQL_TYPE_NONE:
        break;
    }
    return "none";
}

const char *km_promql_type_short_name(enum km_promql_type t)
{
    switch (t) {
    case KM_PROMQL_TYPE_SCALAR:
        return "scalar";
    case KM_PROMQL_TYPE_VECTOR:
        return "vector";
    case KM_PROMQL_TYPE_MATRIX:
        return "matrix";
    case KM_PROMQL_TYPE_STRING:
        return "string";
    case KM_PROMQL_TYPE_NONE:
        break;
    }
    return "none";
}
