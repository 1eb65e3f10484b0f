/*
 * fuzz_kube_watch — the Kubernetes watch-event stream as it arrives from the network:
 * the input is cut into chunks at points taken from its first bytes (so events straddle
 * chunk boundaries as they do over TCP), fed to km_watch_stream_feed, and every event's
 * object is parsed as a Pod with km_pod_meta_parse (labels allowlisted).
 *
 * Invariants: the stream never holds more than its maximum; a parsed Pod has a uid,
 * namespace and name; every container id and name is a non-empty string.
 */
#include "agent/kube/podmeta.h"
#include "common/err.h"
#include "fuzz_common.h"
#include "kube/watch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile size_t sink;

static int on_event(void *ud, enum km_watch_type type, const json_t *obj)
{
    static const char *const allow[] = { "app", "team", "pod-template-hash" };
    struct km_pod_meta m;

    (void)ud;
    sink += (size_t)type;
    if (km_pod_meta_parse(obj, allow, 3, &m) == 0) {
        CHECK(m.uid && m.uid[0] && m.ns && m.ns[0] && m.name && m.name[0]);
        for (size_t i = 0; i < m.nc; i++) {
            CHECK(m.c[i].id[0] && m.c[i].name[0]);
            CHECK(km_pod_meta_container(&m, m.c[i].id) != NULL);
            sink += (size_t)m.c[i].started_s;
        }
        for (size_t i = 0; i < m.nlabels; i++)
            sink += strlen(m.labels[i].value);
        km_pod_meta_fini(&m);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_watch_stream s;
    size_t cut = size ? data[0] % 64 + 1 : 1, at = 1;
    char *buf = fuzz_copy(data, size);

    if (!buf)
        return 0;
    km_watch_stream_init(&s, 4096);
    while (at < size) {
        size_t n = size - at < cut ? size - at : cut;
        int rc = km_watch_stream_feed(&s, buf + at, n, on_event, NULL);

        CHECK(s.len <= s.max);
        if (rc) {
            km_watch_stream_reset(&s); /* the agent drops the connection and starts over */
            CHECK(rc == KM_EINVAL || rc == KM_ELIMIT);
        }
        at += n;
        cut = cut * 7 % 61 + 1;
    }
    km_watch_stream_fini(&s);
    free(buf);
    return 0;
}
