/*
 * fuzz_json_metrics — the prototype's JSON metrics documents (POST /api/nodes/<n>/metrics
 * and the pod endpoint) over arbitrary bytes: a clean refusal with a message, or figures
 * that are finite and not negative with at least one present.
 */
#include "fuzz_common.h"
#include "server/json_metrics.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_json_metrics m;
    char err[256];
    char *copy = fuzz_copy(data, size);
    bool any = false;

    if (!copy)
        return 0;
    err[0] = '\0';
    if (km_json_metrics_parse(copy, size, 1000, &m, err, sizeof(err)) == 0) {
        for (int i = 0; i < KM_JM_COUNT; i++) {
            if (m.has[i]) {
                any = true;
                CHECK(isfinite(m.v[i]) && m.v[i] >= 0);
            }
        }
        CHECK(any);
        CHECK(!m.node || m.node[0]);
        km_json_metrics_fini(&m);
    } else {
        CHECK(err[0] != '\0');
        CHECK(m.doc == NULL);
    }
    free(copy);
    return 0;
}
