/*
 * render — a query's result as the Prometheus HTTP API's JSON: the `data` object
 * ({"resultType": …, "result": …}) with values as strings formatted as Go formats them
 * and timestamps as seconds, series' labels as objects in label order. The caller
 * writes the envelope around it. Streaming: a large matrix is written series by series
 * into the buffer, which the caller may flush between calls.
 */
#ifndef KMON_PROMQL_RENDER_H
#define KMON_PROMQL_RENDER_H

#include "common/jsonw.h"
#include "promql/eval.h"

/* Write {"resultType": …, "result": …} for r. */
void km_pq_render_data(struct km_jsonw *w, const struct km_pq_result *r);

/* A label set as a JSON object. */
void km_pq_render_labels(struct km_jsonw *w, const struct km_labels *l);

/* [<time>, "<value>"] */
void km_pq_render_point(struct km_jsonw *w, int64_t t, double v);

/* The Prometheus name of a result type: "scalar", "string", "vector", "matrix". */
const char *km_pq_result_type_name(enum km_pq_result_type t);

#endif
