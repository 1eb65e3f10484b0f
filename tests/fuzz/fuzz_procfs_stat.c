/*
 * fuzz_procfs_stat — km_parse_stat() (/proc/stat) over arbitrary bytes.
 *
 * The input is copied into a heap buffer of exactly its size (no NUL after it), so
 * AddressSanitizer reports any read past the end. The callback reads every field it is
 * given and checks what procfs.h promises about it.
 */
#include "fuzz_common.h"
#include "hostfs/procfs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;

static void on_cpu(void *ud, const struct km_stat_cpu *c)
{
    size_t *count = ud;

    CHECK(c->nfields >= 4 && c->nfields <= KM_CPU_NMODES);
    CHECK(c->cpu >= -1 && c->cpu <= (1 << 20));
    for (unsigned i = 0; i < KM_CPU_NMODES; i++) {
        CHECK(i < c->nfields || c->ticks[i] == 0); /* absent columns are 0 */
        sink += c->ticks[i];
    }
    (*count)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    struct km_stat st;
    size_t count = 0;
    int bad;

    if (!buf)
        return 0;
    bad = km_parse_stat(buf, size, &st, on_cpu, &count);
    CHECK(bad >= 0);
    CHECK(count + (size_t)bad <= fuzz_count_lines(buf, size));
    CHECK((st.have &
           ~(unsigned)(KM_STAT_CTXT | KM_STAT_BTIME | KM_STAT_PROCESSES | KM_STAT_PROCS_RUNNING |
                       KM_STAT_PROCS_BLOCKED | KM_STAT_INTR | KM_STAT_SOFTIRQ)) == 0);
    /* A field whose line was not found stays 0. */
    CHECK((st.have & KM_STAT_CTXT) || st.ctxt == 0);
    CHECK((st.have & KM_STAT_BTIME) || st.btime == 0);
    CHECK((st.have & KM_STAT_PROCESSES) || st.processes == 0);
    CHECK((st.have & KM_STAT_PROCS_RUNNING) || st.procs_running == 0);
    CHECK((st.have & KM_STAT_PROCS_BLOCKED) || st.procs_blocked == 0);
    CHECK((st.have & KM_STAT_INTR) || st.intr == 0);
    CHECK((st.have & KM_STAT_SOFTIRQ) || st.softirq == 0);
    sink += st.ctxt + st.btime + st.processes + st.procs_running + st.procs_blocked + st.intr +
            st.softirq;
    free(buf);
    return 0;
}
