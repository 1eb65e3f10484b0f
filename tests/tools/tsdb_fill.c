/*
 * tsdb_fill — writes synthetic series into a database directory through the public API,
 * for the runtime tests of `kmon tsdb inspect` (which need a real data directory).
 *
 *   tsdb_fill DIR SERIES SAMPLES START_MS STEP_MS flush|head
 *
 * Series i is {__name__="fill_metric_<i % 10>", instance="host-<i>", job="fill"}; its
 * samples are a counter growing by i + 1 each step. `flush` cuts everything into a
 * block before closing; `head` leaves the samples in the WAL.
 */
#include "common/err.h"
#include "tsdb/tsdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    struct km_tsdb_opts o;
    struct km_tsdb *db;
    struct km_sample *batch;
    struct km_label *labels;
    char(*names)[32], (*instances)[32];
    long nseries, nsamples;
    long long start, step;
    int status = 1;

    if (argc != 7 || (strcmp(argv[6], "flush") != 0 && strcmp(argv[6], "head") != 0)) {
        fprintf(stderr, "usage: tsdb_fill DIR SERIES SAMPLES START_MS STEP_MS flush|head\n");
        return 2;
    }
    nseries = atol(argv[2]);
    nsamples = atol(argv[3]);
    start = atoll(argv[4]);
    step = atoll(argv[5]);
    if (nseries <= 0 || nsamples <= 0 || step <= 0) {
        fprintf(stderr, "tsdb_fill: SERIES, SAMPLES and STEP_MS must be positive\n");
        return 2;
    }
    batch = calloc((size_t)nseries, sizeof(*batch));
    labels = calloc((size_t)nseries * 3, sizeof(*labels));
    names = calloc((size_t)nseries, sizeof(*names));
    instances = calloc((size_t)nseries, sizeof(*instances));
    if (!batch || !labels || !names || !instances) {
        fprintf(stderr, "tsdb_fill: out of memory\n");
        goto out_free;
    }
    for (long i = 0; i < nseries; i++) {
        snprintf(names[i], sizeof(names[i]), "fill_metric_%ld", i % 10);
        snprintf(instances[i], sizeof(instances[i]), "host-%ld", i);
        labels[i * 3] = (struct km_label){ "__name__", names[i] };
        labels[i * 3 + 1] = (struct km_label){ "instance", instances[i] };
        labels[i * 3 + 2] = (struct km_label){ "job", "fill" };
        batch[i].labels = &labels[i * 3];
        batch[i].nlabels = 3;
    }
    km_tsdb_opts_default(&o);
    o.dir = argv[1];
    o.no_background = true;
    /* Any date the caller gives: history, or a directory as an older version that took
     * samples from the future left it. */
    o.retention_ms = KM_TSDB_MAX_SPAN_MS;
    o.max_future_ms = KM_TSDB_MAX_SPAN_MS;
    if (km_tsdb_open(&db, &o) != 0) {
        fprintf(stderr, "tsdb_fill: %s\n", km_err_msg());
        goto out_free;
    }
    for (long k = 0; k < nsamples; k++) {
        struct km_append_result res = { 0 };

        for (long i = 0; i < nseries; i++) {
            batch[i].t = start + k * step;
            batch[i].v = (double)((start / step + k) * (i + 1));
        }
        if (km_tsdb_append(db, batch, (size_t)nseries, NULL, &res) != 0 ||
            res.appended + res.duplicate != (uint64_t)nseries) {
            fprintf(stderr, "tsdb_fill: append: %s (%llu of %ld stored)\n", km_err_msg(),
                    (unsigned long long)res.appended, nseries);
            goto out_close;
        }
    }
    if (strcmp(argv[6], "flush") == 0 && km_tsdb_flush(db) != 0) {
        fprintf(stderr, "tsdb_fill: flush: %s\n", km_err_msg());
        goto out_close;
    }
    status = 0;

out_close:
    km_tsdb_close(db);
out_free:
    free(instances);
    free(names);
    free(labels);
    free(batch);
    return status;
}
