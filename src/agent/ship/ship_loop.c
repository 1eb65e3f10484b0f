/*
 * ship_loop — collection ticks and handing collections to the shipper (see
 * ship_loop.h).
 */
#include "agent/ship/ship_loop.h"

#include "agent/ship/encode.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sig.h"
#include "common/timefmt.h"

#include <stdlib.h>
#include <string.h>

struct km_ship_loop {
    struct km_agent *a;
    struct km_ship_encoder *enc;
    struct km_shipper *sh;
    struct km_label identity[2];
    int64_t md_interval_ms;
    int64_t md_sent_ms; /* monotonic; INT64_MIN: never */
    bool md_now;        /* this collection carries the families' metadata */
};

static int ship_part(void *ud, const struct km_mset *part);

static void health(void *ud, struct km_mset *m)
{
    struct km_ship_loop *l = ud;

    km_shipper_metrics(l->sh, m);
}

int km_ship_loop_create(struct km_ship_loop **out, struct km_agent *a,
                        const struct km_ship_setup *s)
{
    struct km_ship_loop *l = calloc(1, sizeof(*l));
    int rc = 0;

    if (!l)
        return km_err_set(KM_ENOMEM, "out of memory");
    l->a = a;
    l->md_interval_ms = s->metadata_interval_ms;
    l->md_sent_ms = INT64_MIN;
    if (s->url) {
        struct km_ship_opts o = s->ship;

        l->identity[0] = (struct km_label){ "cluster", s->cluster };
        l->identity[1] = (struct km_label){ "node", s->node };
        o.url = s->url;
        rc = km_ship_encoder_create(&l->enc, l->identity, s->node ? 2 : 1);
        if (rc == 0)
            rc = km_shipper_start(&l->sh, &o);
        if (rc) {
            km_ship_loop_destroy(l, 0);
            return rc;
        }
        km_agent_set_health_hook(a, health, l);
        km_agent_set_ship_hook(a, ship_part, l);
    }
    *out = l;
    return 0;
}

static int submit(void *ud, const void *body, size_t len, uint32_t samples)
{
    struct km_ship_loop *l = ud;

    km_shipper_submit(l->sh, body, len, samples);
    return 0;
}

/* A collector's part shipped during the collection (km_collect.ship). */
static int ship_part(void *ud, const struct km_mset *part)
{
    struct km_ship_loop *l = ud;
    uint64_t samples;

    return km_ship_encode_sets(l->enc, &part, 1, l->md_now, submit, l, &samples);
}

static void ship(struct km_ship_loop *l)
{
    uint64_t samples;

    if (km_ship_encode(l->enc, l->a, l->md_now, submit, l, &samples) != 0)
        km_log_error("agent", "encoding the collection for shipping: %s", km_err_msg());
    if (l->md_now)
        l->md_sent_ms = km_time_mono_ns() / 1000000;
}

int km_ship_loop_run(struct km_ship_loop *l, int64_t interval_ms)
{
    int64_t next = km_time_mono_ns() / 1000000;

    for (;;) {
        int64_t now;
        int sig;

        now = km_time_mono_ns() / 1000000;
        l->md_now = l->md_interval_ms > 0 &&
                    (l->md_sent_ms == INT64_MIN || now - l->md_sent_ms >= l->md_interval_ms);
        km_agent_collect(l->a);
        if (l->sh)
            ship(l);
        next += interval_ms;
        now = km_time_mono_ns() / 1000000;
        if (next <= now) /* collection overran: skip the missed ticks */
            next = now + interval_ms - (now - next) % interval_ms;
        sig = km_sig_wait(next - now);
        while (sig == 0 && (now = km_time_mono_ns() / 1000000) < next)
            sig = km_sig_wait(next - now);
        if (sig) {
            km_log_info("agent", "received %s, shutting down", strsignal(sig));
            return sig;
        }
    }
}

void km_ship_loop_destroy(struct km_ship_loop *l, int64_t grace_ms)
{
    if (!l)
        return;
    if (l->sh)
        km_agent_set_health_hook(l->a, NULL, NULL);
    km_shipper_stop(l->sh, grace_ms);
    km_ship_encoder_destroy(l->enc);
    free(l);
}
