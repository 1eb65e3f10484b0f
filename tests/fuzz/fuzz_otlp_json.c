/*
 * fuzz_otlp_json — the OTLP JSON decoders (ExportMetricsServiceRequest and
 * ExportLogsServiceRequest) on arbitrary bytes (OTLP's JSON encoding): an error, or a tree whose
 * counts add up and whose Prometheus and log-stream mappings keep their invariants
 * (fuzz_otlp_common.h). The corpus starts from the JS SDK's exporter output.
 */
#include "fuzz_otlp_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = fuzz_copy(data, size);
    struct km_otlp_metrics_req m = { 0 };
    struct km_otlp_logs_req l = { 0 };

    if (!copy)
        return 0;
    if (km_otlp_metrics_decode_json(&m, copy, size) == 0)
        fuzz_otlp_check_metrics(&m);
    if (km_otlp_logs_decode_json(&l, copy, size) == 0)
        fuzz_otlp_check_logs(&l);
    km_otlp_metrics_fini(&m);
    km_otlp_logs_fini(&l);
    free(copy);
    return 0;
}
