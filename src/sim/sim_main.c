/*
 * sim_main — `kmon simulate` (see sim_main.h). The controller thread owns the model: it
 * advances it one step per round, then starts one worker per connection; worker w
 * renders, encodes (the agent's encoder, agent/ship/encode.h) and posts the series of
 * nodes w, w + W, w + 2W, … (worker 0 also the cluster-wide state) and is joined before
 * the next step, so workers only read the model. Each worker owns its sets, encoder and
 * connection.
 */
#include "sim/sim_main.h"

#include "agent/ship/encode.h"
#include "common/cfg.h"
#include "common/err.h"
#include "sim/model.h"
#include "sim/push.h"
#include "sim/series.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sim_opts {
    char *url, *cluster;
    int64_t nodes, pods_per_node, replicas, seed, connections, rounds, print_node, retries;
    int64_t interval_ms, duration_ms, backfill_ms;
    bool fast;
    char *rollouts, *leaves, *crashloops; /* rates as text: "0.1" */
};

static const struct km_cfg_field sim_fields[] = {
    { .name = "url",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct sim_opts, url),
      .def = "http://127.0.0.1:5000/api/v1/write",
      .metavar = "URL",
      .help = "the remote_write endpoint to push to" },
    { .name = "nodes",
      .type = KM_CFG_INT,
      .offset = offsetof(struct sim_opts, nodes),
      .def = "10",
      .help = "simulated nodes",
      .min = 1,
      .max = 100000 },
    { .name = "pods-per-node",
      .type = KM_CFG_INT,
      .offset = offsetof(struct sim_opts, pods_per_node),
      .def = "110",
      .help = "application pods per node (the kubelet's default maximum)",
      .min = 1,
      .max = 1000 },
    { .name = "replicas",
      .type = KM_CFG_INT,
      .offset = offsetof(struct sim_opts, replicas),
      .def = "10",
      .help = "pods per deployment",
      .min = 1,
      .max = 1000 },
    { .name = "seed",
      .type = KM_CFG_INT,
      .offset = offsetof(struct sim_opts, seed),
      .def = "1",
      .help = "the same seed and flags give the same cluster, series and values" },
    { .name = "cluster",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct sim_opts, cluster),
      .def = "sim",
      .help = "the cluster label of every series" },
    { .name = "connections",
      .type = KM_CFG_INT,
      .offset = offsetof(struct sim_opts, connections),
      .def = "4",
      .help = "concurrent remote_write connections (nodes are shared among them)",
      .min = 1,
      .max = 256 },
    { .name = "interval",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct sim_opts, interval_ms),
      .def = "15s",
      .help = "time between two rounds (real, or simulated when going as fast "
              "as possible)",
      .min = 1000,
      .max = 3600000 },
    { .name = "as-fast-as-possible",
      .type = KM_CFG_BOOL,
      .offset = offsetof(struct sim_opts, fast),
      .def = "false",
      .help = "do not wait between rounds: timestamps step by --interval and "
              "end now (needs --rounds or --backfill)" },
    { .name = "rounds",
      .type = KM_CFG_INT,
      .offset = offsetof(struct sim_opts, rounds),
      .def = "0",
      .help = "stop after this many rounds (0: run until --duration or a signal)",
      .min = 0,
      .max = 100000000 },
    { .name = "duration",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct sim_opts, duration_ms),
      .def = "0s",
      .help = "stop after this long (real time)" },
    { .name = "backfill",
      .type = KM_CFG_DURATION,
      .offset = offsetof(struct sim_opts, backfill_ms),
      .def = "0s",
      .help = "write this much history ending now, as fast as possible (implies "
              "--as-fast-as-possible; rounds = backfill / interval)" },
    { .name = "rollouts-per-hour",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct sim_opts, rollouts),
      .def = "0.2",
      .metavar = "RATE",
      .help = "rollouts per deployment per hour (each replaces its pods)" },
    { .name = "node-leaves-per-hour",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct sim_opts, leaves),
      .def = "0.01",
      .metavar = "RATE",
      .help = "per node: it leaves (pods rescheduled) and rejoins 10 minutes later renamed" },
    { .name = "crashloop-fraction",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct sim_opts, crashloops),
      .def = "0.005",
      .metavar = "FRACTION",
      .help = "pods whose first container restarts every 1 to 5 minutes" },
    { .name = "retries",
      .type = KM_CFG_INT,
      .offset = offsetof(struct sim_opts, retries),
      .def = "20",
      .help = "retries of a request answered 429 or 503 or not answered",
      .min = 0,
      .max = 1000 },
    { .name = "print-node",
      .type = KM_CFG_INT,
      .offset = offsetof(struct sim_opts, print_node),
      .def = "-1",
      .help = "print node N's agent series and its cluster-state series (text "
              "exposition, as /metrics shows them) for the first round and exit",
      .min = -1,
      .max = 100000 },
    KM_CFG_FIELDS_END,
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

struct worker {
    unsigned id, nworkers;
    const struct km_sim_model *md;
    const char *cluster;
    int64_t ts_ms;
    struct km_sim_push *push;
    struct km_ship_encoder *enc;
    struct km_mset agent, state;
    uint64_t round_samples;
    int err;
    char errmsg[256];
};

static int post(void *ud, const void *body, size_t len, uint32_t samples)
{
    struct worker *w = ud;
    int rc = km_sim_push_post(w->push, body, len, samples);

    if (rc && !w->err) {
        w->err = rc;
        snprintf(w->errmsg, sizeof(w->errmsg), "%s", km_err_msg());
    }
    return 0; /* counted; the round goes on */
}

static void ship(struct worker *w, struct km_mset *m, const char *node)
{
    const struct km_mset *sets[] = { m };
    struct km_label id[] = { { "cluster", w->cluster }, { "node", node } };
    uint64_t n = 0;

    km_ship_encoder_set_identity(w->enc, id, 2);
    if (km_ship_encode_sets(w->enc, sets, 1, false, post, w, &n) && !w->err) {
        w->err = KM_ENOMEM;
        snprintf(w->errmsg, sizeof(w->errmsg), "%s", km_err_msg());
    }
    w->round_samples += n;
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    const struct km_sim_model *md = w->md;

    w->round_samples = 0;
    for (unsigned i = w->id; i < md->nnodes && !stopping; i += w->nworkers) {
        if (!md->node[i].present)
            continue;
        km_mset_reset(&w->agent, w->ts_ms);
        km_sim_node_series(&w->agent, md, i, w->ts_ms);
        ship(w, &w->agent, md->node[i].name);
        km_mset_reset(&w->state, w->ts_ms);
        km_sim_state_series(&w->state, md, i, false, NULL);
        ship(w, &w->state, md->node[0].name);
    }
    if (w->id == 0) {
        km_mset_reset(&w->state, w->ts_ms);
        km_sim_state_series(&w->state, md, 0, true, NULL);
        /* node 0's pods again would double them: only the cluster-wide kinds. */
        ship(w, &w->state, md->node[0].name);
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int print_node(struct km_sim_model *md, unsigned i, int64_t ts_ms)
{
    struct km_mset m;
    struct km_buf b;
    int rc;

    if (i >= md->nnodes)
        return km_err_set(KM_EINVAL, "--print-node %u: there are %u nodes", i, md->nnodes);
    km_mset_init(&m);
    km_buf_init(&b, 0);
    km_mset_reset(&m, ts_ms);
    km_sim_node_series(&m, md, i, ts_ms);
    rc = km_sim_state_series(&m, md, i, i == 0, NULL);
    if (rc == 0)
        rc = km_mset_error(&m);
    if (rc == 0) {
        km_mset_render_prom(&m, &b);
        fwrite(b.data, 1, b.len, stdout);
    }
    km_buf_fini(&b);
    km_mset_fini(&m);
    return rc;
}

static int parse_rate(const char *s, const char *flag, double *out)
{
    char *end;
    double v = strtod(s ? s : "", &end);

    if (!s || end == s || *end || !(v >= 0) || v > 1e6)
        return km_err_set(KM_EINVAL, "--%s: \"%s\" is not a non-negative number", flag, s ? s : "");
    *out = v;
    return 0;
}

static void add_stats(struct km_sim_push_stats *t, const struct km_sim_push_stats *s)
{
    t->requests += s->requests;
    t->samples += s->samples;
    t->bytes += s->bytes;
    t->throttled += s->throttled;
    t->net_errors += s->net_errors;
    t->rejected += s->rejected;
    t->dropped_samples += s->dropped_samples;
}

static int simulate(const struct sim_opts *o, struct km_sim_model *md, int64_t start_ms,
                    int64_t rounds)
{
    unsigned nw = (unsigned)o->connections;
    struct worker *w = calloc(nw, sizeof(*w));
    pthread_t *th = calloc(nw, sizeof(*th));
    struct km_sim_push_stats tot = { 0 };
    double t0 = mono_s(), c0 = cpu_s();
    uint64_t last_series = 0, errors = 0;
    int rc = 0;
    int64_t r;

    if (!w || !th) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free;
    }
    for (unsigned i = 0; i < nw; i++) {
        w[i] = (struct worker){ .id = i, .nworkers = nw, .md = md, .cluster = o->cluster };
        km_mset_init(&w[i].agent);
        km_mset_init(&w[i].state);
        rc = km_sim_push_create(&w[i].push, o->url, (unsigned)o->retries);
        if (rc == 0)
            rc = km_ship_encoder_create(&w[i].enc, NULL, 0);
        if (rc)
            goto out_workers;
    }
    for (r = 0; (rounds == 0 || r < rounds) && !stopping; r++) {
        int64_t ts_ms = start_ms + r * o->interval_ms;
        double rs = mono_s();
        uint64_t samples = 0;

        if (r > 0)
            km_sim_model_step(md, ts_ms / 1000);
        for (unsigned i = 0; i < nw; i++) {
            w[i].ts_ms = ts_ms;
            if (pthread_create(&th[i], NULL, run_worker, &w[i])) {
                rc = km_err_set(KM_EIO, "cannot start a worker thread");
                for (unsigned k = 0; k < i; k++)
                    pthread_join(th[k], NULL);
                goto out_workers;
            }
        }
        for (unsigned i = 0; i < nw; i++) {
            pthread_join(th[i], NULL);
            samples += w[i].round_samples;
            if (w[i].err) {
                errors++;
                fprintf(stderr, "kmon simulate: round %" PRId64 ": %s\n", r + 1, w[i].errmsg);
                w[i].err = 0;
            }
        }
        last_series = samples;
        fprintf(stderr,
                "round %" PRId64 ": %" PRIu64 " series, %u nodes, %" PRIu64 " pods made, %.2f s\n",
                r + 1, samples, md->nnodes, md->pods_created, mono_s() - rs);
        if (!o->fast && (rounds == 0 || r + 1 < rounds)) {
            double wait = (double)(start_ms + (r + 1) * o->interval_ms) / 1000.0 - now_s();

            while (wait > 0 && !stopping) {
                struct timespec ts = { 0, 100000000L };

                nanosleep(&ts, NULL);
                wait -= 0.1;
            }
        }
    }
    for (unsigned i = 0; i < nw; i++)
        add_stats(&tot, km_sim_push_stats(w[i].push));
    {
        double el = mono_s() - t0;

        printf("rounds %" PRId64 "\nnodes %u\npods %u\nseries_last_round %" PRIu64
               "\nsamples %" PRIu64 "\nrequests %" PRIu64 "\nbytes %" PRIu64
               "\nelapsed_s %.3f\nsamples_per_s %.0f\nsimulator_cpu_s %.3f\nthrottled %" PRIu64
               "\nnet_errors %" PRIu64 "\nrejected %" PRIu64 "\ndropped_samples %" PRIu64
               "\nround_errors %" PRIu64 "\npods_created %" PRIu64 "\nrollouts %" PRIu64
               "\nnode_leaves %" PRIu64 "\nnode_joins %" PRIu64 "\n",
               r, md->nnodes, md->npods, last_series, tot.samples, tot.requests, tot.bytes, el,
               el > 0 ? (double)tot.samples / el : 0, cpu_s() - c0, tot.throttled, tot.net_errors,
               tot.rejected, tot.dropped_samples, errors, md->pods_created, md->rollouts,
               md->node_leaves, md->node_joins);
    }
    if (tot.dropped_samples)
        rc = km_err_set(KM_EAGAIN, "%" PRIu64 " samples were not delivered", tot.dropped_samples);
out_workers:
    for (unsigned i = 0; i < nw; i++) {
        km_ship_encoder_destroy(w[i].enc);
        km_sim_push_destroy(w[i].push);
        km_mset_fini(&w[i].agent);
        km_mset_fini(&w[i].state);
    }
out_free:
    free(th);
    free(w);
    return rc;
}

int km_sim_main(int argc, char **argv)
{
    struct sim_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_cmd cmd = {
        .name = "simulate",
        .usage = "kmon simulate [flags]",
        .summary = "Simulate a cluster: N nodes of P pods each, producing the series a kmon "
                   "agent on every node and the cluster-state collector would (with rollouts, "
                   "crash loops, nodes leaving and joining), pushed to a server over "
                   "remote_write. Deterministic from --seed. Prints progress on stderr and a "
                   "summary on stdout.",
        .sections = { { "Simulation", sim_fields, &o },
                      { "General", km_cfg_common_fields, &common } },
        .nsections = 2,
    };
    struct km_sim_model md;
    struct km_sim_opts so;
    int64_t rounds, start_ms;
    int status = 0, rc;

    if (!km_cfg_start_command(&cmd, &common, argc, argv, "kmon simulate", &status))
        goto out_free_config;
    so = (struct km_sim_opts){ .seed = (uint64_t)o.seed,
                               .nodes = (unsigned)o.nodes,
                               .pods_per_node = (unsigned)o.pods_per_node,
                               .replicas = (unsigned)o.replicas,
                               .node_away_s = 600,
                               .interval_s = o.interval_ms / 1000 };
    rc = parse_rate(o.rollouts, "rollouts-per-hour", &so.rollouts_per_hour);
    if (rc == 0)
        rc = parse_rate(o.leaves, "node-leaves-per-hour", &so.node_leaves_per_hour);
    if (rc == 0)
        rc = parse_rate(o.crashloops, "crashloop-fraction", &so.crashloop_fraction);
    if (rc == 0 && so.crashloop_fraction > 1)
        rc = km_err_set(KM_EINVAL, "--crashloop-fraction must be at most 1");
    rounds = o.rounds;
    if (rc == 0 && o.backfill_ms) {
        o.fast = true;
        rounds = o.backfill_ms / o.interval_ms;
        if (rounds < 1)
            rc = km_err_set(KM_EINVAL, "--backfill is shorter than one --interval");
    }
    if (rc == 0 && !rounds && o.duration_ms)
        rounds = (o.duration_ms + o.interval_ms - 1) / o.interval_ms;
    if (rc == 0 && o.fast && !rounds)
        rc = km_err_set(KM_EINVAL, "--as-fast-as-possible needs --rounds, --duration or "
                                   "--backfill");
    if (rc) {
        fprintf(stderr, "kmon simulate: %s\n", km_err_msg());
        status = 2;
        goto out_free_config;
    }
    start_ms = (int64_t)(now_s() * 1000);
    start_ms -= start_ms % 1000;
    if (o.fast)
        start_ms -= (rounds - 1) * o.interval_ms;
    rc = km_sim_model_init(&md, &so, start_ms / 1000);
    if (rc) {
        fprintf(stderr, "kmon simulate: %s\n", km_err_msg());
        status = 2;
        goto out_free_config;
    }
    if (o.print_node >= 0) {
        rc = print_node(&md, (unsigned)o.print_node, start_ms);
        goto out_fini_model;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = simulate(&o, &md, start_ms, rounds);
    curl_global_cleanup();
out_fini_model:
    if (rc) {
        fprintf(stderr, "kmon simulate: %s\n", km_err_msg());
        status = 1;
    }
    km_sim_model_fini(&md);
out_free_config:
    km_cfg_free(&cmd);
    return status;
}
