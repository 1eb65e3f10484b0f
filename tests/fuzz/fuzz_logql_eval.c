/*
 * fuzz_logql_eval — the LogQL evaluator on arbitrary queries over a small fixed
 * in-memory dataset (JSON, logfmt, plain and malformed lines): whatever parses must
 * evaluate to an answer or a clean error, as a log query (both directions, a small
 * limit that must hold) and as a metric query (instant and range), render as JSON, and
 * never crash, hang or grow without bound.
 */
#include "fuzz_common.h"

#include "../unit/logql_memsource.c"
#include "common/buf.h"
#include "common/err.h"
#include "logql/logql.h"

#define SEC 1000000000LL
#define T0  (1700000000LL * SEC)

static struct memsource *dataset(void)
{
    static struct memsource *m;
    static const char *const lines[] = {
        "{\"level\":\"info\",\"status\":200,\"latency\":\"15ms\",\"user\":{\"id\":1}}",
        "{\"level\":\"error\",\"status\":500,\"latency\":\"1.5s\",\"msg\":\"a \\\"q\\\" \\u00e9\"}",
        "{\"level\":\"warn\",\"status\":",
        "level=info status=200 duration=1m30s bytes=20MB msg=\"hello world\"",
        "level=warn status=abc duration=oops =bad key\"x",
        "connection from 10.0.0.1 port 5000",
        "ERROR deadlock detected tx=42",
        "\x1b[31mred\x1b[0m plain",
        "{\"_entry\":\"inner line\",\"k\":\"v\",\"n\":[1,2,{\"a\":null}]}",
        "",
    };
    static const char *const streams[] = { "app=api,env=prod", "app=web,env=prod",
                                           "app=db,env=dev" };

    if (m)
        return m;
    m = memsource_create(3);
    for (int i = 0; i < 60; i++)
        memsource_add(m, streams[i % 3], T0 + (int64_t)i * SEC / 2, lines[i % 10],
                      strlen(lines[i % 10]));
    return m;
}

static void check_result(const struct km_logql_result *r, size_t limit)
{
    struct km_buf b;
    size_t n = 0;

    if (r->type == KM_LOGQL_STREAMS) {
        for (size_t i = 0; i < r->nstreams; i++)
            n += r->streams[i].n;
        CHECK(n <= limit);
    }
    km_buf_init(&b, 0);
    CHECK(km_logql_render_data(&b, r) == 0);
    km_buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = fuzz_copy(data, size);
    struct km_logql_expr *e = NULL;
    struct km_logql_result *r = NULL;
    struct km_log_source src;
    struct km_logql_params p;

    if (!q)
        return 0;
    src = memsource_source(dataset());
    if (km_logql_parse(&e, q, size, NULL) != 0) {
        free(q);
        return 0;
    }
    km_logql_params_default(&p);
    p.max_lines = 10000;
    p.max_series = 1000;
    if (km_logql_expr_kind(e) == KM_LOGQL_LOG) {
        for (int dir = 0; dir < 2; dir++) {
            p.start_ns = T0;
            p.end_ns = T0 + 40 * SEC;
            p.direction = dir ? KM_LOGQL_FORWARD : KM_LOGQL_BACKWARD;
            p.limit = 7;
            if (km_logql_eval(e, &src, &p, &r) == 0) {
                check_result(r, 7);
                km_logql_result_destroy(r);
            }
        }
    } else {
        p.end_ns = T0 + 20 * SEC;
        if (km_logql_eval(e, &src, &p, &r) == 0) {
            check_result(r, 0);
            km_logql_result_destroy(r);
        }
        p.start_ns = T0;
        p.end_ns = T0 + 30 * SEC;
        p.step_ns = 5 * SEC;
        if (km_logql_eval(e, &src, &p, &r) == 0) {
            check_result(r, 0);
            CHECK(r->type == KM_LOGQL_MATRIX);
            km_logql_result_destroy(r);
        }
    }
    km_logql_expr_destroy(e);
    free(q);
    return 0;
}
