/*
 * render — query results as the Prometheus API's JSON (see render.h).
 */
#include "promql/render.h"

#include "promql/fmt.h"

#include <string.h>

const char *km_pq_result_type_name(enum km_pq_result_type t)
{
    switch (t) {
    case KM_PQ_RESULT_SCALAR:
        return "scalar";
    case KM_PQ_RESULT_STRING:
        return "string";
    case KM_PQ_RESULT_VECTOR:
        return "vector";
    default:
        return "matrix";
    }
}

void km_pq_render_labels(struct km_jsonw *w, const struct km_labels *l)
{
    km_jsonw_obj_begin(w);
    for (size_t i = 0; i < l->n; i++) {
        km_jsonw_key(w, l->v[i].name);
        km_jsonw_str(w, l->v[i].value);
    }
    km_jsonw_obj_end(w);
}

static void render_time(struct km_jsonw *w, int64_t t)
{
    char buf[KM_PQ_FMT_MAX];
    size_t n = km_pq_fmt_time(buf, sizeof(buf), t);

    km_jsonw_raw(w, buf, n);
}

void km_pq_render_point(struct km_jsonw *w, int64_t t, double v)
{
    char buf[KM_PQ_FMT_MAX];
    size_t n = km_pq_fmt_value(buf, sizeof(buf), v);

    km_jsonw_arr_begin(w);
    render_time(w, t);
    km_jsonw_strn(w, buf, n);
    km_jsonw_arr_end(w);
}

static void render_series_steps(struct km_jsonw *w, const struct km_pq_series *s,
                                const struct km_pq_grid *g)
{
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "metric");
    km_pq_render_labels(w, s->labels);
    km_jsonw_key(w, "values");
    km_jsonw_arr_begin(w);
    for (size_t i = 0; i < g->n; i++) {
        if (km_pq_has(s, i))
            km_pq_render_point(w, km_pq_grid_time(g, i), s->v[i]);
    }
    km_jsonw_arr_end(w);
    km_jsonw_obj_end(w);
}

void km_pq_render_data(struct km_jsonw *w, const struct km_pq_result *r)
{
    km_jsonw_obj_begin(w);
    km_jsonw_key(w, "resultType");
    km_jsonw_str(w, km_pq_result_type_name(r->type));
    km_jsonw_key(w, "result");
    switch (r->type) {
    case KM_PQ_RESULT_SCALAR: {
        /* A scalar is written as Prometheus' Scalar type marshals itself: the time as a
         * JSON float, the value in 'f' form always. */
        char t[KM_PQ_FMT_MAX], val[KM_PQ_FMT_MAX];
        size_t tn = km_pq_fmt_json_float(t, sizeof(t), (double)r->grid.start / 1e3);
        size_t vn = km_pq_fmt_float_f(val, sizeof(val), r->scalar[0]);

        km_jsonw_arr_begin(w);
        km_jsonw_raw(w, t, tn);
        km_jsonw_strn(w, val, vn);
        km_jsonw_arr_end(w);
        break;
    }
    case KM_PQ_RESULT_STRING: {
        char t[KM_PQ_FMT_MAX];
        size_t tn = km_pq_fmt_json_float(t, sizeof(t), (double)r->grid.start / 1e3);

        km_jsonw_arr_begin(w);
        km_jsonw_raw(w, t, tn);
        km_jsonw_str(w, r->string);
        km_jsonw_arr_end(w);
        break;
    }
    case KM_PQ_RESULT_VECTOR:
        km_jsonw_arr_begin(w);
        for (size_t i = 0; i < r->vec.n; i++) {
            km_jsonw_obj_begin(w);
            km_jsonw_key(w, "metric");
            km_pq_render_labels(w, r->vec.s[i].labels);
            km_jsonw_key(w, "value");
            km_pq_render_point(w, r->grid.start, r->vec.s[i].v[0]);
            km_jsonw_obj_end(w);
        }
        km_jsonw_arr_end(w);
        break;
    case KM_PQ_RESULT_MATRIX:
        km_jsonw_arr_begin(w);
        if (r->range_form) {
            for (size_t i = 0; i < r->range.n; i++) {
                const struct km_pq_rseries *s = &r->range.s[i];

                km_jsonw_obj_begin(w);
                km_jsonw_key(w, "metric");
                km_pq_render_labels(w, s->labels);
                km_jsonw_key(w, "values");
                km_jsonw_arr_begin(w);
                for (size_t k = 0; k < s->n; k++)
                    km_pq_render_point(w, s->t[k], s->v[k]);
                km_jsonw_arr_end(w);
                km_jsonw_obj_end(w);
            }
        } else {
            for (size_t i = 0; i < r->vec.n; i++)
                render_series_steps(w, &r->vec.s[i], &r->grid);
        }
        km_jsonw_arr_end(w);
        break;
    }
    km_jsonw_obj_end(w);
}
