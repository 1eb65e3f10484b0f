/*
 * agent_bench — the node agent's cost per collection, in process: runs every collector
 * over the real /proc and /sys, renders /metrics, N times, and reports CPU time per
 * iteration, samples and bytes rendered, kmon's own heap allocations per steady-state
 * iteration (malloc/calloc/realloc are wrapped with the linker's --wrap), and RSS.
 *
 *   build/bench/agent_bench [ITERATIONS]          → one JSON line on stdout
 *   build/bench/agent_bench [ITERATIONS] --dump   → and the last rendering on stderr
 */
#include "agent/collector.h"
#include "agent/runtime.h"
#include "common/buf.h"
#include "common/log.h"

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

int main(int argc, char **argv)
{
    struct km_host host = { "/proc", "/sys", "/", "bench-node", "self" };
    int iterations = argc > 1 ? atoi(argv[1]) : 1000;
    unsigned long long a0, a1;
    struct km_agent *a;
    struct km_buf out;
    size_t samples = 0, bytes = 0;
    double c0, c1;

    km_log_set_level(KM_LOG_WARN);
    if (iterations < 10)
        iterations = 10;
    if (km_agent_create(&a, km_node_collectors) || km_agent_start(a, &host, NULL)) {
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
        km_agent_collect(a);
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
           "\"samples\":%zu,\"bytes\":%zu,\"kmon_allocs_per_iteration\":%.3f,"
           "\"rss_kb\":%ld,\"hwm_kb\":%ld}\n",
           iterations, (c1 - c0) * 1000.0 / iterations, samples, bytes,
           (double)(a1 - a0) / iterations, status_kb("VmRSS"), status_kb("VmHWM"));
    if (argc > 2 && strcmp(argv[2], "--dump") == 0)
        fwrite(out.data, 1, out.len, stderr);
    km_buf_fini(&out);
    km_agent_destroy(a);
    return 0;
}
