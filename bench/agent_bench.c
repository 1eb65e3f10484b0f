/*
 * agent_bench — the node agent's cost per collection, in process: runs every collector
 * over the real /proc and /sys, renders /metrics, N times, and reports CPU time per
 * iteration, samples and bytes rendered, kmon's own heap allocations per steady-state
 * iteration (malloc/calloc/realloc are wrapped with the linker's --wrap), and RSS.
 *
 *   build/bench/agent_bench [ITERATIONS]          → one JSON line on stdout
 *   build/bench/agent_bench [ITERATIONS] --dump   → and the last rendering on stderr
 *   … --root DIR         read DIR/proc, DIR/sys and DIR as the host (a captured node)
 *   … --only COLLECTOR   run that collector alone (e.g. pods)
 */
#include "agent/collector.h"
#include "agent/runtime.h"
#include "common/buf.h"
#include "common/log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

static unsigned long long allocs;

void *__wrap_malloc(size_t n)
{
    allocs++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    allocs++;
    return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    allocs++;
    return __real_realloc(p, n);
}

static double cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long status_kb(const char *field)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");

    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, strlen(field)) == 0)
            v = atol(line + strlen(field) + 1);
    }
    if (f)
        fclose(f);
    return v;
}

/* Every collector's name but `only`, comma-separated, into out. */
static void all_but(const char *only, char *out, size_t size)
{
    size_t n = 0;

    out[0] = '\0';
    for (size_t i = 0; km_node_collectors[i]; i++) {
        if (strcmp(km_node_collectors[i]->name, only) != 0 && n < size)
            n += (size_t)snprintf(out + n, size - n, "%s%s", n ? "," : "",
                                  km_node_collectors[i]->name);
    }
}

int main(int argc, char **argv)
{
    struct km_host host = { "/proc", "/sys", "/", "bench-node", "self" };
    int iterations = 1000;
    bool dump = false;
    char proc[4096], sys[4096], disabled[1024] = "";
    unsigned long long a0, a1;
    struct km_agent *a;
    struct km_buf out;
    size_t samples = 0, bytes = 0;
    double c0, c1, collect_s = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dump") == 0) {
            dump = true;
        } else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) {
            snprintf(proc, sizeof(proc), "%s/proc", argv[i + 1]);
            snprintf(sys, sizeof(sys), "%s/sys", argv[i + 1]);
            host.proc = proc;
            host.sys = sys;
            host.root = argv[++i];
            host.host_pid = "1";
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            all_but(argv[++i], disabled, sizeof(disabled));
        } else if (atoi(argv[i]) > 0) {
            iterations = atoi(argv[i]);
        } else {
            fprintf(stderr, "usage: agent_bench [ITERATIONS] [--dump] [--root DIR] "
                            "[--only COLLECTOR]\n");
            return 2;
        }
    }
    km_log_set_level(KM_LOG_WARN);
    if (iterations < 10)
        iterations = 10;
    if (km_agent_create(&a, km_node_collectors) ||
        km_agent_start(a, &host, disabled[0] ? disabled : NULL)) {
        fprintf(stderr, "agent_bench: cannot start the agent\n");
        return 1;
    }
    km_buf_init(&out, 0);
    /* Warm up: buffers reach their steady size. */
    for (int i = 0; i < 5; i++) {
        km_agent_collect(a);
        km_buf_reset(&out);
        km_agent_render_prom(a, &out);
    }
    a0 = allocs;
    c0 = cpu_seconds();
    for (int i = 0; i < iterations; i++) {
        double t = cpu_seconds();

        km_agent_collect(a);
        collect_s += cpu_seconds() - t;
        km_buf_reset(&out);
        km_agent_render_prom(a, &out);
    }
    c1 = cpu_seconds();
    a1 = allocs;
    bytes = out.len;
    for (size_t i = 0; i < out.len; i++) {
        if (out.data[i] == '\n' && i + 1 < out.len && out.data[i + 1] != '#')
            samples++;
    }
    printf("{\"iterations\":%d,\"cpu_ms_per_collection_and_render\":%.4f,"
           "\"cpu_ms_per_collection\":%.4f,\"samples\":%zu,\"bytes\":%zu,\"kmon_allocs_per_"
           "iteration\":%.3f,"
           "\"rss_kb\":%ld,\"hwm_kb\":%ld}\n",
           iterations, (c1 - c0) * 1000.0 / iterations, collect_s * 1000.0 / iterations, samples,
           bytes, (double)(a1 - a0) / iterations, status_kb("VmRSS"), status_kb("VmHWM"));
    if (dump)
        fwrite(out.data, 1, out.len, stderr);
    km_buf_fini(&out);
    km_agent_destroy(a);
    return 0;
}
