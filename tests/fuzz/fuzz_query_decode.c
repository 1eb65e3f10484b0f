/*
 * fuzz_query_decode — what `kmon query --server` reads from a server (query_decode.c)
 * over arbitrary bytes: a clean refusal with a message, or an answer that renders as the
 * API's JSON which reads back to the same answer (rendering it again gives the same
 * bytes), and that the table and CSV printers print.
 */
#include "common/err.h"
#include "common/jsonw.h"
#include "fuzz_common.h"
#include "promql/render.h"
#include "query/query.h"

static void render(const struct km_pq_result *r, struct km_buf *b)
{
    struct km_jsonw w;

    km_buf_init(b, 0);
    km_buf_puts(b, "{\"status\":\"success\",\"data\":");
    km_jsonw_init(&w, b);
    km_pq_render_data(&w, r);
    km_buf_putc(b, '}');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_query_answer a, again;
    struct km_buf one, two;
    char *copy = fuzz_copy(data, size);
    FILE *null;

    if (!copy)
        return 0;
    if (km_query_decode(copy, size, &a) != 0) {
        CHECK(km_err_msg()[0] != '\0');
        CHECK(a.warnings == NULL);
        free(copy);
        return 0;
    }
    render(&a.r, &one);
    CHECK(km_buf_error(&one) == 0);
    CHECK(km_query_decode(one.data, one.len, &again) == 0);
    render(&again.r, &two);
    CHECK(one.len == two.len && memcmp(one.data, two.data, one.len) == 0);
    null = fopen("/dev/null", "w");
    if (null) {
        CHECK(km_query_print(null, &a.r, KM_QUERY_OUTPUT_TABLE) == 0);
        CHECK(km_query_print(null, &a.r, KM_QUERY_OUTPUT_CSV) == 0);
        fclose(null);
    }
    km_buf_fini(&two);
    km_buf_fini(&one);
    km_query_answer_fini(&again);
    km_query_answer_fini(&a);
    free(copy);
    return 0;
}
