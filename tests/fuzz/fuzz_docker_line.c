/*
 * fuzz_docker_line — the Docker json-file line parser over every line of the input,
 * with a small scratch cap so the over-cap path is reached: no crash, no read past the
 * input, the text within the cap, a line without its final "\n" marked partial.
 */
#include "agent/logs/logline.h"
#include "common/buf.h"
#include "common/err.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_buf scratch;
    size_t i = 0;

    km_buf_init(&scratch, 512);
    while (i < size) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t e = nl ? (size_t)(nl - data) : size;
        char *line = fuzz_copy(data + i, e - i);
        struct km_logline l;
        int rc;

        if (!line)
            break;
        rc = km_logline_parse_docker(line, e - i, &scratch, &l);
        CHECK(rc == 0 || rc == KM_EINVAL || rc == KM_ELIMIT);
        if (rc == 0) {
            CHECK(l.len <= 512);
            CHECK(l.stream == KM_LOGLINE_STDOUT || l.stream == KM_LOGLINE_STDERR);
            CHECK(l.partial == (scratch.len == 0 || scratch.data[scratch.len - 1] != '\n'));
            if (l.len)
                sink += (uint64_t)(l.text[0] + l.text[l.len - 1]);
            sink += (uint64_t)l.ts_ns;
        }
        free(line);
        i = e + 1;
    }
    km_buf_fini(&scratch);
    return 0;
}
