/*
 * functions — every function PromQL has in Prometheus 2.42: its name, the types of its
 * arguments, how many it takes and what it returns, and an id the evaluator switches on.
 * A read-only table; thread-safe.
 */
#ifndef KMON_PROMQL_FUNCTIONS_H
#define KMON_PROMQL_FUNCTIONS_H

#include <stddef.h>

/* The value types of PromQL expressions. */
enum km_promql_type {
    KM_PROMQL_TYPE_NONE,
    KM_PROMQL_TYPE_SCALAR,
    KM_PROMQL_TYPE_VECTOR, /* instant vector */
    KM_PROMQL_TYPE_MATRIX, /* range vector */
    KM_PROMQL_TYPE_STRING,
};

/* The name Prometheus' messages give a type: "scalar", "instant vector", "range vector",
 * "string", "none". */
const char *km_promql_type_name(enum km_promql_type t);

/* The short name Prometheus uses in a few messages: "scalar", "vector", "matrix",
 * "string", "none". */
const char *km_promql_type_short_name(enum km_promql_type t);

enum km_promql_func_id {
    KM_PROMQL_FN_ABS,
    KM_PROMQL_FN_ABSENT,
    KM_PROMQL_FN_ABSENT_OVER_TIME,
    KM_PROMQL_FN_ACOS,
    KM_PROMQL_FN_ACOSH,
    KM_PROMQL_FN_ASIN,
    KM_PROMQL_FN_ASINH,
    KM_PROMQL_FN_ATAN,
    KM_PROMQL_FN_ATANH,
    KM_PROMQL_FN_AVG_OVER_TIME,
    KM_PROMQL_FN_CEIL,
    KM_PROMQL_FN_CHANGES,
    KM_PROMQL_FN_CLAMP,
    KM_PROMQL_FN_CLAMP_MAX,
    KM_PROMQL_FN_CLAMP_MIN,
    KM_PROMQL_FN_COS,
    KM_PROMQL_FN_COSH,
    KM_PROMQL_FN_COUNT_OVER_TIME,
    KM_PROMQL_FN_DAYS_IN_MONTH,
    KM_PROMQL_FN_DAY_OF_MONTH,
    KM_PROMQL_FN_DAY_OF_WEEK,
    KM_PROMQL_FN_DAY_OF_YEAR,
    KM_PROMQL_FN_DEG,
    KM_PROMQL_FN_DELTA,
    KM_PROMQL_FN_DERIV,
    KM_PROMQL_FN_EXP,
    KM_PROMQL_FN_FLOOR,
    KM_PROMQL_FN_HISTOGRAM_COUNT,
    KM_PROMQL_FN_HISTOGRAM_FRACTION,
    KM_PROMQL_FN_HISTOGRAM_QUANTILE,
    KM_PROMQL_FN_HISTOGRAM_SUM,
    KM_PROMQL_FN_HOLT_WINTERS,
    KM_PROMQL_FN_HOUR,
    KM_PROMQL_FN_IDELTA,
    KM_PROMQL_FN_INCREASE,
    KM_PROMQL_FN_IRATE,
    KM_PROMQL_FN_LABEL_JOIN,
    KM_PROMQL_FN_LABEL_REPLACE,
    KM_PROMQL_FN_LAST_OVER_TIME,
    KM_PROMQL_FN_LN,
    KM_PROMQL_FN_LOG10,
    KM_PROMQL_FN_LOG2,
    KM_PROMQL_FN_MAX_OVER_TIME,
    KM_PROMQL_FN_MIN_OVER_TIME,
    KM_PROMQL_FN_MINUTE,
    KM_PROMQL_FN_MONTH,
    KM_PROMQL_FN_PI,
    KM_PROMQL_FN_PREDICT_LINEAR,
    KM_PROMQL_FN_PRESENT_OVER_TIME,
    KM_PROMQL_FN_QUANTILE_OVER_TIME,
    KM_PROMQL_FN_RAD,
    KM_PROMQL_FN_RATE,
    KM_PROMQL_FN_RESETS,
    KM_PROMQL_FN_ROUND,
    KM_PROMQL_FN_SCALAR,
    KM_PROMQL_FN_SGN,
    KM_PROMQL_FN_SIN,
    KM_PROMQL_FN_SINH,
    KM_PROMQL_FN_SORT,
    KM_PROMQL_FN_SORT_DESC,
    KM_PROMQL_FN_SQRT,
    KM_PROMQL_FN_STDDEV_OVER_TIME,
    KM_PROMQL_FN_STDVAR_OVER_TIME,
    KM_PROMQL_FN_SUM_OVER_TIME,
    KM_PROMQL_FN_TAN,
    KM_PROMQL_FN_TANH,
    KM_PROMQL_FN_TIME,
    KM_PROMQL_FN_TIMESTAMP,
    KM_PROMQL_FN_VECTOR,
    KM_PROMQL_FN_YEAR,
    KM_PROMQL_FN_COUNT_ /* how many there are */
};

#define KM_PROMQL_FUNC_MAX_ARGS 5

/* A function. It takes at least min_args and at most max_args arguments (max_args is
 * SIZE_MAX for label_join); argument i has type arg_types[i], and every argument past the
 * declared ones has the last declared type. `variadic` is Prometheus' own spelling of
 * the same (0: exactly nargs; 1: the last one is optional; -1: the last one repeats),
 * which its messages depend on. */
struct km_promql_func {
    enum km_promql_func_id id;
    const char *name;
    enum km_promql_type ret;
    enum km_promql_type arg_types[KM_PROMQL_FUNC_MAX_ARGS];
    size_t nargs; /* declared argument types */
    int variadic;
    size_t min_args, max_args;
};

/* The function named name[0..len) (case-sensitive), or NULL. */
const struct km_promql_func *km_promql_func_lookup(const char *name, size_t len);

/* The function with this id. */
const struct km_promql_func *km_promql_func_get(enum km_promql_func_id id);

#endif
