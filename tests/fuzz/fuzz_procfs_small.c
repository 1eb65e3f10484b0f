/*
 * fuzz_procfs_small — the one-line parsers over the same arbitrary bytes:
 * km_parse_loadavg, km_parse_filenr, km_parse_uptime, km_parse_pressure and
 * km_parse_pidstat.
 *
 * The input is copied into a heap buffer of exactly its size (no NUL after it), so
 * AddressSanitizer reports any read past the end. Every field each parser fills is read.
 */
#include "fuzz_common.h"
#include "hostfs/procfs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;
static volatile double dsink;

static void read_pressure_line(const struct km_pressure_line *l)
{
    dsink += l->avg10 + l->avg60 + l->avg300;
    sink += l->total_us + l->present;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    struct km_loadavg la;
    struct km_filenr fnr;
    struct km_uptime up;
    struct km_pressure pr;
    struct km_pidstat ps;
    int r;

    if (!buf)
        return 0;

    r = km_parse_loadavg(buf, size, &la);
    CHECK(r == 0 || r == 1);
    CHECK(r == 0 || la.running == 0);
    dsink += la.load1 + la.load5 + la.load15;
    sink += la.running + la.total;

    r = km_parse_filenr(buf, size, &fnr);
    CHECK(r == 0 || r == 1);
    sink += fnr.allocated + fnr.unused + fnr.maximum;

    r = km_parse_uptime(buf, size, &up);
    CHECK(r == 0 || r == 1);
    dsink += up.uptime + up.idle;

    r = km_parse_pressure(buf, size, &pr);
    CHECK(r >= 0);
    CHECK((size_t)r + pr.some.present + pr.full.present <= fuzz_count_lines(buf, size));
    read_pressure_line(&pr.some);
    read_pressure_line(&pr.full);

    r = km_parse_pidstat(buf, size, &ps);
    CHECK(r == 0 || r == 1);
    CHECK(r == 1 || memchr(buf, ')', size) != NULL); /* a comm was found */
    sink += (unsigned char)ps.state + ps.utime + ps.stime + ps.starttime + ps.vsize +
            (uint64_t)ps.rss_pages + (uint64_t)ps.num_threads;

    free(buf);
    return 0;
}
