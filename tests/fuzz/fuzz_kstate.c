/*
 * fuzz_kstate — the cluster-state collector's object parsers: the input is a watch
 * stream (newline-delimited events, cut into chunks at points taken from the first
 * byte); each event's object is put into (or, DELETED, removed from) the store of the
 * kind chosen by the second byte, strings within it also read as quantities; at the end
 * the store is emitted as kube-state-metrics series, relisted to nothing and destroyed.
 *
 * Invariants: the emission is a well-formed metric set (no error, no NULL label value);
 * every interned string is given back; a quantity that parses has a finite value.
 */
#include "common/err.h"
#include "common/mset.h"
#include "fuzz_common.h"
#include "fuzz_watch.h"
#include "kstate/intern.h"
#include "kstate/kinds.h"
#include "kstate/quantity.h"
#include "kstate/store.h"
#include "kube/watch.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
    struct km_kstore *s;
    struct km_kparse p;
};

static void quantities(const json_t *o, int depth)
{
    const char *key;
    const json_t *v;
    size_t i;

    if (depth > 6)
        return;
    if (json_is_string(o)) {
        struct km_qty q;

        if (km_qty_parse(json_string_value(o), &q) == 0) {
            CHECK(isfinite(km_qty_value(&q, true)) || q.exp10 > 100);
            CHECK(!isnan(km_qty_value(&q, false)));
        }
        return;
    }
    json_object_foreach((json_t *)o, key, v) quantities(v, depth + 1);
    json_array_foreach(o, i, v) quantities(v, depth + 1);
}

static int on_event(void *ud, enum km_watch_type type, const json_t *obj)
{
    struct ctx *c = ud;

    if (type == KM_W_DELETED)
        km_kstore_delete(c->s, obj);
    else if (type == KM_W_ADDED || type == KM_W_MODIFIED)
        (void)km_kstore_upsert(c->s, &c->p, obj);
    quantities(obj, 0);
    return 0;
}

static void check_set(const struct km_mset *m)
{
    CHECK(km_mset_error(m) == 0);
    for (size_t i = 0; i < m->nsmp; i++) {
        const struct km_label *l = km_mset_labels(m, &m->smp[i]);

        for (uint32_t j = 0; j < m->smp[i].nlabels; j++)
            CHECK(l[j].name && l[j].value);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_allowlist labels, annots;
    struct km_watch_stream ws;
    struct km_intern *in;
    struct km_mset m;
    struct km_kemit_out out = { .m = &m, .stale_flags = KM_MF_SHIP_ONLY };
    struct km_kemit e;
    struct ctx c;
    size_t cut = size ? data[0] % 64 + 1 : 1, at = 2;
    const struct km_kind *kind = km_kinds[size > 1 ? data[1] % km_nkinds : 0];
    char *buf = fuzz_copy(data, size);
    uint64_t strings, bytes;

    if (!buf)
        return 0;
    if (km_intern_create(&in) != 0) {
        free(buf);
        return 0;
    }
    km_allowlist_parse(&labels, "pods=[*],nodes=[a,b.c/d],namespaces=[*],deployments=[app]");
    km_allowlist_parse(&annots, "pods=[x],replicasets=[*]");
    c.p = (struct km_kparse){ in, km_allowlist_for(&labels, kind->name),
                              km_allowlist_for(&annots, kind->name) };
    CHECK(km_kstore_create(&c.s, kind, in) == 0);
    km_watch_stream_init(&ws, 1 << 16);
    fuzz_watch_feed(&ws, buf, size, at, cut, on_event, &c);
    km_mset_init(&m);
    km_mset_reset(&m, 1);
    e = (struct km_kemit){ .m = &m, .out = &out, .cluster = "c" };
    km_kstore_emit(c.s, &e);
    km_kemit_finish(&e);
    check_set(&m);
    km_kstore_relist_begin(c.s); /* a relist that finds nothing empties the store */
    (void)km_kstore_relist_end(c.s);
    CHECK(km_kstore_count(c.s) == 0);
    /* … and the next emission is only the stale markers of what was emitted. */
    km_mset_reset(&m, 2);
    e = (struct km_kemit){ .m = &m, .out = &out, .cluster = "c" };
    km_kstore_emit(c.s, &e);
    CHECK(km_kemit_finish(&e) == 0 && e.series == 0);
    check_set(&m);
    km_mset_fini(&m);
    km_kstore_destroy(c.s);
    km_intern_stats(in, &strings, &bytes);
    CHECK(strings == 0 && bytes == 0);
    km_intern_destroy(in);
    km_watch_stream_fini(&ws);
    km_allowlist_fini(&labels);
    km_allowlist_fini(&annots);
    free(buf);
    return 0;
}
