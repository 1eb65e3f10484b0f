/*
 * forward — the destinations together (see forward.h).
 */
#include "server/forward/forward.h"

#include "common/buf.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mset.h"
#include "server/forward/fwd_config.h"
#include "server/forward/fwd_dest.h"
#include "server/forward/relabel.h"
#include "storage/sample.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct km_forward {
    struct km_fwd_config cfg;
    struct km_fwd_dest **dest;
    size_t n;
    pthread_key_t scratch_key; /* per ingesting thread: a struct km_relabel_scratch */
};

static void scratch_free(void *p)
{
    if (p) {
        km_relabel_scratch_fini(p);
        free(p);
    }
}

static int load(struct km_fwd_config *c, const struct km_forward_opts *o)
{
    int rc = 0;

    if (o->urls && o->urls[0]) {
        char *list = strdup(o->urls), *items[64];
        size_t n;

        if (!list)
            return km_err_set(KM_ENOMEM, "out of memory");
        n = km_cfg_split_list(list, items, 64);
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = km_fwd_config_add_url(c, items[i]);
        free(list);
    }
    if (rc == 0 && o->config_file && o->config_file[0])
        rc = km_fwd_config_load(c, o->config_file);
    if (rc == 0)
        rc = km_fwd_config_finish(c);
    return rc;
}

int km_forward_create(struct km_forward **out, const struct km_forward_opts *o)
{
    struct km_forward *f = calloc(1, sizeof(*f));
    struct km_buf dir;
    int rc;

    *out = NULL;
    if (!f)
        return km_err_set(KM_ENOMEM, "out of memory");
    rc = load(&f->cfg, o);
    if (rc || f->cfg.n == 0) {
        km_fwd_config_free(&f->cfg);
        free(f);
        return rc;
    }
    if (pthread_key_create(&f->scratch_key, scratch_free) != 0) {
        km_fwd_config_free(&f->cfg);
        free(f);
        return km_err_set(KM_ENOMEM, "out of thread-specific keys");
    }
    f->dest = calloc(f->cfg.n, sizeof(*f->dest));
    if (!f->dest)
        rc = km_err_set(KM_ENOMEM, "out of memory");
    km_buf_init(&dir, 0);
    for (size_t i = 0; rc == 0 && i < f->cfg.n; i++) {
        const struct km_fwd_dest_cfg *d = &f->cfg.d[i];

        km_buf_reset(&dir);
        km_buf_printf(&dir, "%s/forward/%s", o->data_dir, d->name);
        rc = km_buf_error(&dir) ? KM_ENOMEM : km_mkdir_p(km_buf_cstr(&dir), 0750);
        if (rc == 0)
            rc = km_fwd_dest_start(&f->dest[i], d, km_buf_cstr(&dir), o->spool_max);
        if (rc == 0) {
            f->n++;
            km_log_info("forward", "forwarding to %s (%s) through %s", d->url_label, d->name,
                        km_buf_cstr(&dir));
        }
    }
    km_buf_fini(&dir);
    if (rc) {
        km_forward_destroy(f);
        return rc;
    }
    *out = f;
    return 0;
}

void km_forward_destroy(struct km_forward *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        km_fwd_dest_stop(f->dest[i]);
    free(f->dest);
    scratch_free(pthread_getspecific(f->scratch_key));
    pthread_key_delete(f->scratch_key);
    km_fwd_config_free(&f->cfg);
    free(f);
}

void km_forward_push(void *ud, const struct km_sample *s, size_t n, const enum km_sample_status *st)
{
    struct km_forward *f = ud;
    struct km_relabel_scratch *sc = pthread_getspecific(f->scratch_key);

    if (!sc) {
        sc = malloc(sizeof(*sc));
        if (!sc)
            return;
        km_relabel_scratch_init(sc);
        if (pthread_setspecific(f->scratch_key, sc) != 0) {
            scratch_free(sc);
            return;
        }
    }
    for (size_t d = 0; d < f->n; d++)
        km_fwd_dest_push(f->dest[d], s, n, st, sc);
}

void km_forward_metrics(struct km_forward *f, struct km_mset *m)
{
    static const struct {
        const char *name, *help;
        enum km_mtype type;
    } fams[KM_FWD_F_COUNT] = {
        { "kmon_forward_samples_sent_total", "Samples the destination accepted.", KM_MT_COUNTER },
        { "kmon_forward_samples_failed_total",
          "Samples in requests that failed (retried later, unless rejected).", KM_MT_COUNTER },
        { "kmon_forward_samples_dropped_total",
          "Samples never to be sent, by reason: relabel (write_relabel_configs dropped them), "
          "queue_full, spool_full (the oldest dropped past --remote-write-spool-max), rejected "
          "(a 4xx answer other than 429), spool_error.",
          KM_MT_COUNTER },
        { "kmon_forward_retries_total", "Requests that failed and are retried.", KM_MT_COUNTER },
        { "kmon_forward_queue_samples", "Samples waiting in memory.", KM_MT_GAUGE },
        { "kmon_forward_queue_capacity_samples", "The in-memory queue's capacity.", KM_MT_GAUGE },
        { "kmon_forward_spool_bytes", "Bytes waiting in the disk spool.", KM_MT_GAUGE },
        { "kmon_forward_spool_samples", "Samples waiting in the disk spool.", KM_MT_GAUGE },
        { "kmon_forward_last_send_timestamp_seconds", "When a request last succeeded.",
          KM_MT_GAUGE },
        { "kmon_forward_highest_sent_timestamp_seconds",
          "The newest sample timestamp the destination accepted.", KM_MT_GAUGE },
        { "kmon_forward_highest_queued_timestamp_seconds",
          "The newest sample timestamp handed to the destination's queue (minus the highest "
          "sent: the lag).",
          KM_MT_GAUGE },
    };
    int fam[KM_FWD_F_COUNT];

    if (!f)
        return;
    for (int i = 0; i < KM_FWD_F_COUNT; i++)
        fam[i] = km_mset_family(m, fams[i].name, fams[i].help, fams[i].type, 0);
    for (size_t d = 0; d < f->n; d++)
        km_fwd_dest_metrics(f->dest[d], m, fam);
}
