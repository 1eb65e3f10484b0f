/*
 * fuzz_procfs_netdev — km_parse_netdev() (/proc/net/dev) over arbitrary bytes.
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

static void on_net(void *ud, const struct km_netdev *d)
{
    struct ctx *c = ud;
    size_t nl;

    CHECK(memchr(d->name, '\0', sizeof(d->name)) != NULL);
    nl = strlen(d->name);
    /* Only a NUL byte in the input (never in a kernel's file) can make it shorter than
     * the word it was copied from, down to empty. */
    CHECK(nl > 0 || c->has_nul);
    /* The name ends at the line's first ':' and starts after the leading blanks. */
    CHECK(d->name[0] != ' ' && d->name[0] != '\t');
    for (size_t i = 0; i < nl; i++) {
        CHECK(d->name[i] != ':' && d->name[i] != '\n');
        sink += (unsigned char)d->name[i];
    }
    for (unsigned i = 0; i < KM_NETDEV_NSTATS; i++)
        sink += d->v[i];
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
    bad = km_parse_netdev(buf, size, on_net, &c);
    CHECK(bad >= 0);
    CHECK(c.count + (size_t)bad <= fuzz_count_lines(buf, size));
    free(buf);
    return 0;
}
