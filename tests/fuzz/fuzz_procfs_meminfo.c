/*
 * fuzz_procfs_meminfo — km_parse_meminfo() (/proc/meminfo) over arbitrary bytes.
 *
 * The input is copied into a heap buffer of exactly its size (no NUL after it), so
 * AddressSanitizer reports any read past the end. The callback reads every byte of the
 * key it is given (which must lie inside the input) and the value.
 */
#include "fuzz_common.h"
#include "hostfs/procfs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;

struct ctx {
    const char *buf;
    size_t size, count;
};

static void on_mem(void *ud, const char *key, size_t keylen, uint64_t value, bool has_unit)
{
    struct ctx *c = ud;

    CHECK(keylen > 0);
    /* The key lies inside the input, and so does the ':' after it. */
    CHECK(key >= c->buf && key + keylen < c->buf + c->size);
    for (size_t i = 0; i < keylen; i++) {
        CHECK(key[i] != '\n' && key[i] != ':'); /* the key ends at the line's first ':' */
        sink += (unsigned char)key[i];
    }
    CHECK(key[keylen] == ':');
    CHECK(!has_unit || value % 1024 == 0);
    sink += value + has_unit;
    c->count++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    struct ctx c;
    int bad;

    if (!buf)
        return 0;
    c.buf = buf;
    c.size = size;
    c.count = 0;
    bad = km_parse_meminfo(buf, size, on_mem, &c);
    CHECK(bad >= 0);
    CHECK(c.count + (size_t)bad <= fuzz_count_lines(buf, size));
    free(buf);
    return 0;
}
