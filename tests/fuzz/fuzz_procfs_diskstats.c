/*
 * fuzz_procfs_diskstats — km_parse_diskstats() (/proc/diskstats) over arbitrary bytes.
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

struct ctx {
    bool has_nul; /* the input holds a NUL byte */
    size_t count;
};

static void on_disk(void *ud, const struct km_diskstat *d)
{
    struct ctx *c = ud;
    size_t nl;

    CHECK(d->nstats == 11 || d->nstats == 15 || d->nstats == 17);
    CHECK(memchr(d->name, '\0', sizeof(d->name)) != NULL);
    nl = strlen(d->name);
    /* Only a NUL byte in the input (never in a kernel's file) can make it shorter than
     * the word it was copied from, down to empty. */
    CHECK(nl > 0 || c->has_nul);
    for (size_t i = 0; i < nl; i++) {
        CHECK(d->name[i] != ' ' && d->name[i] != '\t' && d->name[i] != '\n');
        sink += (unsigned char)d->name[i];
    }
    for (unsigned i = 0; i < KM_DISK_NSTATS; i++) {
        CHECK(i < d->nstats || d->v[i] == 0);
        sink += d->v[i];
    }
    sink += d->major + d->minor;
    c->count++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    struct ctx c;
    int bad;

    if (!buf)
        return 0;
    c.has_nul = memchr(buf, '\0', size) != NULL;
    c.count = 0;
    bad = km_parse_diskstats(buf, size, on_disk, &c);
    CHECK(bad >= 0);
    CHECK(c.count + (size_t)bad <= fuzz_count_lines(buf, size));
    free(buf);
    return 0;
}
