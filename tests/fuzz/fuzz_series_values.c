/*
 * fuzz_series_values — promtool's expanding notation (src/rules/series_values.c) over
 * arbitrary bytes: either values (never more than the cap) or a message saying where;
 * nothing may crash, hang or leak.
 */
#include "common/buf.h"
#include "common/err.h"
#include "fuzz_common.h"
#include "rules/series_values.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_series_value *v = NULL;
    struct km_buf err;
    char *text;
    size_t n = 0;
    int rc;

    if (size > 4096)
        return 0;
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    km_buf_init(&err, 4096);
    rc = km_series_values_parse(text, &v, &n, &err);
    if (rc == 0) {
        CHECK(n <= KM_SERIES_VALUES_MAX);
        CHECK(n == 0 || v != NULL);
    } else {
        CHECK(rc == KM_EINVAL || rc == KM_ELIMIT || rc == KM_ENOMEM);
        CHECK(err.len > 0);
    }
    free(v);
    km_buf_fini(&err);
    free(text);
    return 0;
}
