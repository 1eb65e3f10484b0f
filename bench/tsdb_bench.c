/*
 * tsdb_bench — the embedded TSDB on the benchmark harness's dataset, in process (no
 * HTTP): reads the OpenMetrics text that ../shared/bench/rwgen writes, appends every
 * sample in time order (as remote_write delivers them) from several threads in batches,
 * cuts the head into a block, then queries. Prints two JSON lines (the label path with
 * sizes and queries, then the reference path):
 *
 *   append_samples_per_cpu_s     samples appended per CPU-second, each sample with its
 *                                full label set (as remote_write delivers them)
 *   append_refs_per_cpu_s        the same into a second database by cached series
 *                                reference (labels resolved once per series first)
 *   head_bytes_per_series        the head's own accounting after ingest / series
 *   rss_per_series               RSS growth during ingest / series
 *   heap_used_per_series         malloc'ed bytes growth (glibc mallinfo2) / series
 *   heap_free_per_series         free bytes left inside the heap (holes) / series
 *   bytes_per_sample             the block on disk (index + chunks + meta) / samples
 *   data_bytes_per_sample        the chunks file / samples
 *   index_bytes_per_series       the index file / series
 *   query_head_*, query_block_*  select series by a regex over the whole hour and
 *                                decode all their samples: from the head after ingest,
 *                                then from the block
 *
 *   build/bench/tsdb_bench FILE.om DIR [THREADS] [BATCH]
 */
#include "common/err.h"
#include "tsdb/tsdb.h"

#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct series {
    struct km_label *l;
    size_t n;
};

struct sample {
    uint32_t series;
    int64_t t;
    double v;
};

static struct series *series;
static size_t nseries, capseries;
static struct sample *samples;
static size_t nsamples, capsamples;

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");

    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = atol(line + 6);
    }
    if (f)
        fclose(f);
    return v;
}

/* Parse "name{a="x",b="y"} value ts" (OpenMetrics, timestamps in seconds). The series
 * of consecutive lines repeats, so a line is compared with the previous key first. */
static void load(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, *prev = NULL;
    size_t cap = 0;
    ssize_t len;

    if (!f) {
        fprintf(stderr, "tsdb_bench: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        char *sp, *val, *ts;
        size_t keylen;

        if (line[0] == '#')
            continue;
        line[len - 1] = '\0';
        ts = strrchr(line, ' ');
        *ts++ = '\0';
        val = strrchr(line, ' ');
        *val++ = '\0';
        keylen = strlen(line);
        if (!prev || strcmp(prev, line) != 0) {
            struct series *s;
            char *p, *brace;

            free(prev);
            prev = strdup(line);
            if (nseries == capseries) {
                capseries = capseries ? capseries * 2 : 1024;
                series = realloc(series, capseries * sizeof(*series));
            }
            s = &series[nseries++];
            s->l = calloc(64, sizeof(*s->l));
            s->n = 0;
            p = strdup(line);
            brace = strchr(p, '{');
            if (brace)
                *brace = '\0';
            s->l[s->n++] = (struct km_label){ "__name__", p };
            for (char *q = brace ? brace + 1 : NULL; q && *q && *q != '}';) {
                char *eq = strchr(q, '='), *v, *w;

                *eq = '\0';
                v = w = eq + 2; /* skip =" */
                while (*v != '"') {
                    if (*v == '\\') {
                        v++;
                        *w++ = *v == 'n' ? '\n' : *v;
                        v++;
                    } else {
                        *w++ = *v++;
                    }
                }
                *w = '\0';
                s->l[s->n++] = (struct km_label){ q, eq + 2 };
                q = v + 1;
                if (*q == ',')
                    q++;
            }
        }
        if (nsamples == capsamples) {
            capsamples = capsamples ? capsamples * 2 : 1 << 20;
            samples = realloc(samples, capsamples * sizeof(*samples));
        }
        samples[nsamples++] =
            (struct sample){ (uint32_t)(nseries - 1), (int64_t)llround(strtod(ts, NULL) * 1000.0),
                             strtod(val, NULL) };
        (void)keylen;
        (void)sp;
    }
    free(line);
    free(prev);
    fclose(f);
}

static int cmp_time(const void *a, const void *b)
{
    const struct sample *x = a, *y = b;

    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->series < y->series ? -1 : x->series > y->series;
}

struct worker {
    struct km_tsdb *db;
    unsigned shard, nshards; /* this worker appends series with index % nshards == shard */
    size_t batch;
    uint64_t appended, rejected;
    const uint64_t *refs; /* by reference when set */
};

static void *append_refs(struct worker *w)
{
    struct km_ref_sample *b = malloc(w->batch * sizeof(*b));

    for (size_t i = 0; i < nsamples;) {
        size_t n = 0;
        struct km_append_result r;

        while (i < nsamples && n < w->batch) {
            const struct sample *s = &samples[i++];

            if (s->series % w->nshards == w->shard)
                b[n++] = (struct km_ref_sample){ w->refs[s->series], s->t, s->v };
        }
        if (km_tsdb_append_refs(w->db, b, n, NULL, &r) != 0) {
            fprintf(stderr, "append: %s\n", km_err_msg());
            exit(1);
        }
        w->appended += r.appended;
        w->rejected += r.too_old + r.conflicting + r.stale_refs;
    }
    free(b);
    return NULL;
}

static void *append_range(void *arg)
{
    struct worker *w = arg;
    struct km_sample *b;

    if (w->refs)
        return append_refs(w);
    b = malloc(w->batch * sizeof(*b));
    for (size_t i = 0; i < nsamples;) {
        size_t n = 0;
        struct km_append_result r;

        while (i < nsamples && n < w->batch) {
            const struct sample *s = &samples[i++];

            if (s->series % w->nshards == w->shard)
                b[n++] = (struct km_sample){ series[s->series].l, series[s->series].n, s->t, s->v };
        }
        if (km_tsdb_append(w->db, b, n, NULL, &r) != 0) {
            fprintf(stderr, "append: %s\n", km_err_msg());
            exit(1);
        }
        w->appended += r.appended;
        w->rejected += r.too_old + r.conflicting + r.invalid;
    }
    free(b);
    return NULL;
}

static long long file_size(const char *dir, const char *name, const char *what)
{
    char path[4096];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s/%s", dir, name, what);
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* A regex selecting the container series (~10 000 of them) over the whole hour, every
 * sample decoded; prints query_<where>_* fields. */
static void query(struct km_tsdb *db, const char *where)
{
    struct km_tsdb_query *q;
    struct km_tsdb_series_set *ss;
    struct km_matcher *m;
    size_t ns = 0, nv = 0;
    double c0 = cpu_now(), t0 = wall_now(), wall;
    int64_t t;
    double v, sum = 0;

    km_matcher_create(&m, KM_MATCH_RE, "__name__", "container_.*");
    km_tsdb_query_open(db, INT64_MIN, INT64_MAX, &q);
    km_tsdb_select(q, &m, 1, &ss);
    while (km_tsdb_series_next(ss)) {
        ns++;
        while (km_tsdb_series_sample(ss, &t, &v)) {
            nv++;
            sum += v;
        }
    }
    km_tsdb_series_set_destroy(ss);
    km_tsdb_query_close(q);
    km_matcher_destroy(m);
    wall = wall_now() - t0;
    printf("\"query_%s_series\":%zu,\"query_%s_samples\":%zu,\"query_%s_wall_s\":%.3f,"
           "\"query_%s_cpu_s\":%.3f,\"query_%s_samples_per_s\":%.0f,\"query_%s_checksum\":%g,",
           where, ns, where, nv, where, wall, where, cpu_now() - c0, where, (double)nv / wall,
           where, sum);
}

int main(int argc, char **argv)
{
    struct km_tsdb_opts o;
    struct km_tsdb *db;
    struct km_tsdb_stats st;
    struct worker w[16];
    pthread_t th[16];
    unsigned threads = argc > 3 ? (unsigned)atoi(argv[3]) : 2;
    size_t batch = argc > 4 ? (size_t)atoi(argv[4]) : 5000;
    double c0, c1, t0, t1;
    long rss0, rss1;
    struct mallinfo2 mi0, mi1;
    char blocks[4096], id[256] = "";
    long long idx = 0, chk = 0, meta = 0;

    if (argc < 3 || threads < 1 || threads > 16) {
        fprintf(stderr, "usage: tsdb_bench FILE.om DIR [THREADS 1..16] [BATCH]\n");
        return 2;
    }
    load(argv[1]);
    /* Time order, as a scraper pushes: every series at t, then t + interval, … */
    qsort(samples, nsamples, sizeof(*samples), cmp_time);
    km_tsdb_opts_default(&o);
    o.dir = argv[2];
    o.no_background = true;
    /* The dataset's dates are fixed (the harness's reference day): a retention by the
     * clock must not refuse them. */
    o.retention_ms = KM_TSDB_MAX_SPAN_MS;
    if (km_tsdb_open(&db, &o) != 0) {
        fprintf(stderr, "open: %s\n", km_err_msg());
        return 1;
    }
    mi0 = mallinfo2();
    rss0 = rss_kb();
    c0 = cpu_now();
    t0 = wall_now();
    /* Threads take contiguous slices of the time-ordered stream (like remote-write
     * shards each covering a part of the series at a time). */
    for (unsigned i = 0; i < threads; i++) {
        w[i] = (struct worker){ db, i, threads, batch, 0, 0, NULL };
        pthread_create(&th[i], NULL, append_range, &w[i]);
    }
    for (unsigned i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    c1 = cpu_now();
    t1 = wall_now();
    rss1 = rss_kb();
    mi1 = mallinfo2();
    km_tsdb_stats(db, &st);
    {
        uint64_t appended = 0, rejected = 0;

        for (unsigned i = 0; i < threads; i++) {
            appended += w[i].appended;
            rejected += w[i].rejected;
        }
        if (appended != nsamples) {
            fprintf(stderr, "tsdb_bench: only %llu of %zu samples were stored (%llu refused)\n",
                    (unsigned long long)appended, nsamples, (unsigned long long)rejected);
            return 1;
        }
        printf("{\"series\":%zu,\"samples\":%zu,\"appended\":%llu,\"rejected\":%llu,"
               "\"threads\":%u,\"batch\":%zu,\"append_cpu_s\":%.3f,\"append_wall_s\":%.3f,"
               "\"append_samples_per_cpu_s\":%.0f,\"head_bytes_per_series\":%.0f,"
               "\"rss_per_series\":%.0f,\"heap_used_per_series\":%.0f,"
               "\"heap_free_per_series\":%.0f,",
               nseries, nsamples, (unsigned long long)appended, (unsigned long long)rejected,
               threads, batch, c1 - c0, t1 - t0, (double)appended / (c1 - c0),
               (double)st.head_bytes / (double)st.series,
               (double)(rss1 - rss0) * 1024.0 / (double)nseries,
               ((double)mi1.uordblks - (double)mi0.uordblks) / (double)nseries,
               ((double)mi1.fordblks - (double)mi0.fordblks) / (double)nseries);
    }
    query(db, "head");
    /* Cut everything into one block and measure it. */
    if (km_tsdb_flush(db) != 0) {
        fprintf(stderr, "flush: %s\n", km_err_msg());
        return 1;
    }
    snprintf(blocks, sizeof(blocks), "%s/blocks", argv[2]);
    {
        char cmd[4200];
        FILE *p;

        snprintf(cmd, sizeof(cmd), "ls '%s' | grep -v '\\.' | head -1", blocks);
        p = popen(cmd, "r");
        if (p && fgets(id, sizeof(id), p))
            id[strcspn(id, "\n")] = '\0';
        if (p)
            pclose(p);
    }
    idx = file_size(blocks, id, "index");
    chk = file_size(blocks, id, "chunks");
    meta = file_size(blocks, id, "meta.json");
    printf("\"block_bytes\":%lld,\"bytes_per_sample\":%.3f,\"data_bytes_per_sample\":%.3f,"
           "\"index_bytes_per_series\":%.1f,",
           idx + chk + meta, (double)(idx + chk + meta) / (double)nsamples,
           (double)chk / (double)nsamples, (double)idx / (double)nseries);
    query(db, "block");
    printf("\"block\":\"%s\"}\n", id);
    km_tsdb_close(db);
    /* The reference path, into a fresh database. */
    {
        char dir2[4200];
        uint64_t *refs = malloc(nseries * sizeof(*refs)), appended = 0;
        char cmd[8500];

        snprintf(dir2, sizeof(dir2), "%s-refs", argv[2]);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir2);
        if (system(cmd) != 0)
            return 1;
        o.dir = dir2;
        if (km_tsdb_open(&db, &o) != 0) {
            fprintf(stderr, "open: %s\n", km_err_msg());
            return 1;
        }
        for (size_t i = 0; i < nseries; i++) {
            if (km_tsdb_series_ref(db, series[i].l, series[i].n, &refs[i], NULL) != 0) {
                fprintf(stderr, "series_ref: %s\n", km_err_msg());
                return 1;
            }
        }
        c0 = cpu_now();
        for (unsigned i = 0; i < threads; i++) {
            w[i] = (struct worker){ db, i, threads, batch, 0, 0, refs };
            pthread_create(&th[i], NULL, append_range, &w[i]);
        }
        for (unsigned i = 0; i < threads; i++) {
            pthread_join(th[i], NULL);
            appended += w[i].appended;
        }
        c1 = cpu_now();
        fprintf(stdout,
                "{\"append_refs_samples\":%llu,\"append_refs_cpu_s\":%.3f,"
                "\"append_refs_per_cpu_s\":%.0f}\n",
                (unsigned long long)appended, c1 - c0, (double)appended / (c1 - c0));
        km_tsdb_close(db);
        free(refs);
    }
    return 0;
}
