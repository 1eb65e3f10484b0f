/*
 * fuzz_procfs_mountinfo — km_parse_mountinfo() (/proc/<pid>/mountinfo) over arbitrary
 * bytes.
 *
 * The input is copied into a heap buffer of exactly its size (no NUL after it), so
 * AddressSanitizer reports any read past the end. The callback checks that every string
 * is NUL-terminated within KM_MOUNT_FIELD_MAX and reads all of it.
 */
#include "fuzz_common.h"
#include "hostfs/procfs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;

static void read_string(const char *s)
{
    size_t len;

    CHECK(s != NULL);
    CHECK(memchr(s, '\0', KM_MOUNT_FIELD_MAX) != NULL);
    len = strlen(s);
    for (size_t i = 0; i < len; i++) {
        /* Decoded escapes can yield any byte but NUL; a raw newline ends the line. */
        sink += (unsigned char)s[i];
    }
}

static void on_mount(void *ud, const struct km_mount *m)
{
    size_t *count = ud;

    read_string(m->root);
    read_string(m->mountpoint);
    read_string(m->options);
    read_string(m->fstype);
    read_string(m->source);
    read_string(m->super_options);
    sink += m->major + m->minor;
    (*count)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    size_t count = 0;
    int bad;

    if (!buf)
        return 0;
    bad = km_parse_mountinfo(buf, size, on_mount, &count);
    CHECK(bad >= 0);
    CHECK(count + (size_t)bad <= fuzz_count_lines(buf, size));
    free(buf);
    return 0;
}
