/*
 * promql_bench — the PromQL engine in process (no HTTP) over a data directory opened
 * read-only: each query of a TSV file (name<TAB>expr, as ../shared/bench/queries.tsv)
 * evaluated as a range query at each step, repeated, timing evaluation and JSON
 * rendering apart in CPU time. What the HTTP API adds on top is the harness's to measure.
 *
 *   build/bench/promql_bench DIR QUERIES.tsv START END [STEPS] [RUNS] [SUBST]
 *
 * START and END are unix seconds; STEPS a comma-separated list of seconds (15,60); RUNS
 * per query and step after one warm-up (10); SUBST replaces {{NODE0}} (k8s-node-000).
 * Prints one line per query and step: median and best CPU ms of evaluation and of
 * rendering, series and points in the result, bytes of JSON, peak points held.
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "promql/eval.h"
#include "promql/parse.h"
#include "promql/render.h"
#include "tsdb/tsdb_storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The query text with {{NODE0}} replaced. */
static char *substitute(const char *q, const char *node0)
{
    const char *mark = strstr(q, "{{NODE0}}");
    size_t n = strlen(q) + strlen(node0) + 1;
    char *out = malloc(n);

    if (!out)
        return NULL;
    if (!mark) {
        snprintf(out, n, "%s", q);
        return out;
    }
    snprintf(out, n, "%.*s%s%s", (int)(mark - q), q, node0, mark + strlen("{{NODE0}}"));
    return out;
}

static void run(struct km_storage *store, const char *name, const struct km_promql_expr *e,
                int64_t start, int64_t end, int64_t step, int runs)
{
    double ev[64], rd[64];
    size_t series = 0, points = 0, bytes = 0;
    uint64_t peak = 0;
    struct km_pq_opts o;

    km_pq_opts_default(&o);
    for (int r = -1; r < runs; r++) {
        struct km_pq_result res;
        struct km_buf b;
        struct km_jsonw w;
        double t0 = cpu_ms(), t1, t2;
        int rc = km_pq_eval_range(store, e, start, end, step, &o, &res);

        t1 = cpu_ms();
        if (rc) {
            printf("%-20s %3llds  error: %s\n", name, (long long)step / 1000, km_err_msg());
            return;
        }
        km_buf_init(&b, 0);
        km_jsonw_init(&w, &b);
        km_pq_render_data(&w, &res);
        t2 = cpu_ms();
        if (r >= 0) {
            ev[r] = t1 - t0;
            rd[r] = t2 - t1;
        }
        series = res.vec.n;
        points = 0;
        for (size_t i = 0; i < res.vec.n; i++) {
            for (size_t k = 0; k < res.vec.nsteps; k++)
                points += km_pq_has(&res.vec.s[i], k);
        }
        peak = res.peak_samples;
        bytes = b.len;
        km_buf_fini(&b);
        km_pq_result_fini(&res);
    }
    qsort(ev, (size_t)runs, sizeof(double), cmp_double);
    qsort(rd, (size_t)runs, sizeof(double), cmp_double);
    printf("%-20s %3llds  eval %7.2f ms (best %7.2f)  render %6.2f ms  %5zu series %8zu "
           "points %9zu bytes  peak %llu points\n",
           name, (long long)step / 1000, ev[runs / 2], ev[0], rd[runs / 2], series, points, bytes,
           (unsigned long long)peak);
}

int main(int argc, char **argv)
{
    struct km_tsdb_opts to;
    struct km_storage *store = NULL;
    char line[8192], steps[256];
    const char *node0 = argc > 7 ? argv[7] : "k8s-node-000";
    int runs = argc > 6 ? atoi(argv[6]) : 10;
    int64_t start, end;
    FILE *f;

    if (argc < 5) {
        fprintf(stderr, "usage: promql_bench DIR QUERIES.tsv START END [STEPS] [RUNS] [SUBST]\n");
        return 2;
    }
    if (runs < 1 || runs > 64)
        runs = 10;
    start = atoll(argv[3]) * 1000;
    end = atoll(argv[4]) * 1000;
    snprintf(steps, sizeof(steps), "%s", argc > 5 ? argv[5] : "15,60");
    km_tsdb_opts_default(&to);
    to.dir = argv[1];
    to.read_only = true;
    to.no_background = true;
    to.retention_ms = KM_TSDB_MAX_SPAN_MS;
    if (km_tsdb_storage_open(&store, &to)) {
        fprintf(stderr, "promql_bench: cannot open %s: %s\n", argv[1], km_err_msg());
        return 1;
    }
    f = fopen(argv[2], "r");
    if (!f) {
        fprintf(stderr, "promql_bench: cannot read %s\n", argv[2]);
        km_storage_close(store);
        return 1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *tab = strchr(line, '\t'), *q, *nl;
        struct km_promql_expr *e;
        struct km_promql_error err;
        char stepbuf[256], *save = NULL;

        if (line[0] == '#' || !tab)
            continue;
        *tab = '\0';
        nl = strchr(tab + 1, '\n');
        if (nl)
            *nl = '\0';
        q = substitute(tab + 1, node0);
        if (!q || km_promql_parse(q, strlen(q), &e, &err)) {
            printf("%-20s parse error: %s\n", line, q ? err.msg : "out of memory");
            free(q);
            continue;
        }
        snprintf(stepbuf, sizeof(stepbuf), "%s", steps);
        for (char *s = strtok_r(stepbuf, ",", &save); s; s = strtok_r(NULL, ",", &save))
            run(store, line, e, start, end, atoll(s) * 1000, runs);
        km_promql_expr_destroy(e);
        free(q);
    }
    fclose(f);
    km_storage_close(store);
    return 0;
}
