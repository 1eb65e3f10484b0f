/*
 * view — read scoping (see auth.h): a store and a log source seen through a read token
 * limited to clusters. Each is a wrapper with the interface's ops table that adds the
 * matcher cluster="a" (cluster=~"a|b" for several, each name regex-quoted) to every
 * selection and label lookup, and passes everything else through. Queriers, series sets
 * and log sets opened through a view own what they need (the matcher, the base's ops),
 * so they may outlive the request's view, as a federate stream or a tail does.
 */
#include "auth.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/http_server.h"
#include "logs/logsource.h"

#include <stdlib.h>
#include <string.h>

bool km_auth_read_limited(const struct km_http_req *r)
{
    const struct km_auth_id *id = km_auth_id_of(r);

    return id && id->scope == KM_AUTH_READ && id->nclusters > 0;
}

/* cluster="a", or cluster=~"a|b" with each name quoted for the regex. */
static int cluster_matcher(const struct km_auth_id *id, struct km_matcher **out)
{
    struct km_buf re;
    int rc;

    if (id->nclusters == 1)
        return km_matcher_create(out, KM_MATCH_EQ, "cluster", id->clusters[0]);
    km_buf_init(&re, 0);
    for (size_t i = 0; i < id->nclusters; i++) {
        if (i)
            km_buf_putc(&re, '|');
        for (const char *c = id->clusters[i]; *c; c++) {
            if (strchr("\\.+*?()|[]{}^$", *c))
                km_buf_putc(&re, '\\');
            km_buf_putc(&re, *c);
        }
    }
    rc = km_buf_error(&re) ? km_err_set(KM_ENOMEM, "out of memory")
                           : km_matcher_create(out, KM_MATCH_RE, "cluster", km_buf_cstr(&re));
    km_buf_fini(&re);
    return rc;
}

/* m[0..nm) and c, in a new array (free it). */
static struct km_matcher **with_cluster(struct km_matcher *const *m, size_t nm,
                                        struct km_matcher *c)
{
    struct km_matcher **all = malloc((nm + 1) * sizeof(*all));

    if (!all) {
        km_err_set(KM_ENOMEM, "out of memory");
        return NULL;
    }
    if (nm)
        memcpy(all, m, nm * sizeof(*all));
    all[nm] = c;
    return all;
}

/* ---- the store --------------------------------------------------------------------------- */

struct vquerier {
    const struct km_storage_ops *bops;
    void *q;
    struct km_matcher *cluster;
};

struct vset {
    const struct km_storage_ops *bops;
    void *set;
    struct km_matcher **m;
};

static struct km_storage *base_of(void *ctx)
{
    return ((struct km_auth_view *)ctx)->base;
}

static void v_time_window(void *ctx, int64_t *lo, int64_t *hi)
{
    km_storage_time_window(base_of(ctx), lo, hi);
}

static int v_append(void *ctx, const struct km_sample *s, size_t n, enum km_sample_status *status,
                    struct km_append_result *res)
{
    return km_storage_append(base_of(ctx), s, n, status, res);
}

static int v_series_ref(void *ctx, const struct km_label *l, size_t n, uint64_t *ref, bool *created)
{
    return km_storage_series_ref(base_of(ctx), l, n, ref, created);
}

static int v_append_refs(void *ctx, const struct km_ref_sample *s, size_t n,
                         enum km_sample_status *status, struct km_append_result *res)
{
    return km_storage_append_refs(base_of(ctx), s, n, status, res);
}

static int v_querier_open(void *ctx, int64_t mint, int64_t maxt, void **out)
{
    struct km_auth_view *v = ctx;
    struct vquerier *q = calloc(1, sizeof(*q));
    int rc;

    if (!q)
        return km_err_set(KM_ENOMEM, "out of memory");
    q->bops = v->base->ops;
    rc = cluster_matcher(v->id, &q->cluster);
    if (rc == 0)
        rc = q->bops->querier_open(v->base->ctx, mint, maxt, &q->q);
    if (rc) {
        km_matcher_destroy(q->cluster);
        free(q);
        return rc;
    }
    *out = q;
    return 0;
}

static void v_querier_close(void *p)
{
    struct vquerier *q = p;

    q->bops->querier_close(q->q);
    km_matcher_destroy(q->cluster);
    free(q);
}

static int v_select(void *p, struct km_matcher *const *m, size_t nm,
                    const struct km_select_hints *hints, void **out)
{
    struct vquerier *q = p;
    struct vset *s = calloc(1, sizeof(*s));
    int rc;

    if (!s || !(s->m = with_cluster(m, nm, q->cluster))) {
        free(s);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    s->bops = q->bops;
    rc = q->bops->select(q->q, s->m, nm + 1, hints, &s->set);
    if (rc) {
        free(s->m);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static bool v_set_next(void *p)
{
    struct vset *s = p;

    return s->bops->set_next(s->set);
}

static const struct km_labels *v_set_labels(void *p)
{
    struct vset *s = p;

    return s->bops->set_labels(s->set);
}

static bool v_set_batch(void *p, struct km_sample_batch *b)
{
    struct vset *s = p;

    return s->bops->set_batch(s->set, b);
}

static int v_set_error(void *p)
{
    struct vset *s = p;

    return s->bops->set_error(s->set);
}

static void v_set_close(void *p)
{
    struct vset *s = p;

    s->bops->set_close(s->set);
    free(s->m);
    free(s);
}

static int v_label_names(void *p, struct km_matcher *const *m, size_t nm, km_str_fn fn, void *ud)
{
    struct vquerier *q = p;
    struct km_matcher **all = with_cluster(m, nm, q->cluster);
    int rc;

    if (!all)
        return KM_ENOMEM;
    rc = q->bops->label_names(q->q, all, nm + 1, fn, ud);
    free(all);
    return rc;
}

static int v_label_values(void *p, const char *name, struct km_matcher *const *m, size_t nm,
                          km_str_fn fn, void *ud)
{
    struct vquerier *q = p;
    struct km_matcher **all = with_cluster(m, nm, q->cluster);
    int rc;

    if (!all)
        return KM_ENOMEM;
    rc = q->bops->label_values(q->q, name, all, nm + 1, fn, ud);
    free(all);
    return rc;
}

static void v_info(void *ctx, struct km_storage_info *out)
{
    km_storage_info(base_of(ctx), out);
}

static int v_cardinality(void *ctx, size_t top, struct km_storage_cardinality *out)
{
    return km_storage_cardinality(base_of(ctx), top, out);
}

static int v_flush(void *ctx)
{
    return km_storage_flush(base_of(ctx));
}

static void v_metrics(void *ctx, struct km_mset *m)
{
    km_storage_metrics(base_of(ctx), m);
}

static void v_close(void *ctx)
{
    (void)ctx; /* a view closes nothing: the base is the server's */
}

static int v_metadata_put(void *ctx, const struct km_metadata *md, size_t n)
{
    return km_storage_metadata_put(base_of(ctx), md, n);
}

static int v_metadata_list(void *ctx, const char *metric, km_metadata_fn fn, void *ud)
{
    return km_storage_metadata_list(base_of(ctx), metric, fn, ud);
}

static const struct km_storage_ops view_ops = {
    .version = KM_STORAGE_OPS_V2,
    .name = "auth-view",
    .time_window = v_time_window,
    .append = v_append,
    .series_ref = v_series_ref,
    .append_refs = v_append_refs,
    .querier_open = v_querier_open,
    .querier_close = v_querier_close,
    .select = v_select,
    .set_next = v_set_next,
    .set_labels = v_set_labels,
    .set_batch = v_set_batch,
    .set_error = v_set_error,
    .set_close = v_set_close,
    .label_names = v_label_names,
    .label_values = v_label_values,
    .info = v_info,
    .cardinality = v_cardinality,
    .flush = v_flush,
    .metrics = v_metrics,
    .close = v_close,
    .metadata_put = v_metadata_put,
    .metadata_list = v_metadata_list,
};

struct km_storage *km_auth_storage(const struct km_http_req *r, struct km_storage *base,
                                   struct km_auth_view *tmp)
{
    if (!km_auth_read_limited(r))
        return base;
    tmp->base = base;
    tmp->id = km_auth_id_of(r);
    tmp->st.ops = &view_ops;
    tmp->st.ctx = tmp;
    return &tmp->st;
}

/* ---- the log source ----------------------------------------------------------------------- */

struct lset {
    const struct km_log_source_ops *bops;
    void *set;
    struct km_matcher **m;
    struct km_matcher *made; /* the cluster matcher, when made for this set */
};

/* The view's cluster matcher: its own (a view that outlives its request) or one made now
 * from the request's identity (*made: destroy it after). */
static int lview_matcher(struct km_auth_log_view *v, struct km_matcher **c,
                         struct km_matcher **made)
{
    *made = NULL;
    *c = v->cluster;
    if (*c)
        return 0;
    int rc = cluster_matcher(v->id, made);

    *c = *made;
    return rc;
}

static int l_select(void *ctx, const struct km_log_select *sel, void **out)
{
    struct km_auth_log_view *v = ctx;
    struct lset *s = calloc(1, sizeof(*s));
    struct km_log_select mine = *sel;
    struct km_matcher *c;
    int rc;

    if (!s)
        return km_err_set(KM_ENOMEM, "out of memory");
    rc = lview_matcher(v, &c, &s->made);
    if (rc == 0 && !(s->m = with_cluster(sel->m, sel->nm, c)))
        rc = KM_ENOMEM;
    if (rc == 0) {
        s->bops = v->base.ops;
        mine.m = s->m;
        mine.nm = sel->nm + 1;
        rc = s->bops->select(v->base.ctx, &mine, &s->set);
    }
    if (rc < 0) {
        km_matcher_destroy(s->made);
        free(s->m);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static bool l_set_next(void *p)
{
    struct lset *s = p;

    return s->bops->set_next(s->set);
}

static const struct km_labels *l_set_labels(void *p)
{
    struct lset *s = p;

    return s->bops->set_labels(s->set);
}

static bool l_set_batch(void *p, struct km_log_batch *b)
{
    struct lset *s = p;

    return s->bops->set_batch(s->set, b);
}

static int l_set_error(void *p)
{
    struct lset *s = p;

    return s->bops->set_error(s->set);
}

static void l_set_close(void *p)
{
    struct lset *s = p;

    s->bops->set_close(s->set);
    km_matcher_destroy(s->made);
    free(s->m);
    free(s);
}

/* The matchers of a lookup with the view's cluster matcher added. */
struct lookup {
    struct km_matcher **all;
    struct km_matcher *made;
};

static int lookup_begin(struct km_auth_log_view *v, struct km_matcher *const *m, size_t nm,
                        struct lookup *lk)
{
    struct km_matcher *c;
    int rc = lview_matcher(v, &c, &lk->made);

    lk->all = NULL;
    if (rc == 0 && !(lk->all = with_cluster(m, nm, c)))
        rc = KM_ENOMEM;
    if (rc)
        km_matcher_destroy(lk->made);
    return rc;
}

static int lookup_end(struct lookup *lk, int rc)
{
    km_matcher_destroy(lk->made);
    free(lk->all);
    return rc;
}

static int l_label_names(void *ctx, struct km_matcher *const *m, size_t nm, int64_t start_ns,
                         int64_t end_ns, km_str_fn fn, void *ud)
{
    struct km_auth_log_view *v = ctx;
    struct lookup lk;
    int rc = lookup_begin(v, m, nm, &lk);

    if (rc)
        return rc;
    rc = km_log_label_names(&v->base, lk.all, nm + 1, start_ns, end_ns, fn, ud);
    return lookup_end(&lk, rc);
}

static int l_label_values(void *ctx, const char *name, struct km_matcher *const *m, size_t nm,
                          int64_t start_ns, int64_t end_ns, km_str_fn fn, void *ud)
{
    struct km_auth_log_view *v = ctx;
    struct lookup lk;
    int rc = lookup_begin(v, m, nm, &lk);

    if (rc)
        return rc;
    rc = km_log_label_values(&v->base, name, lk.all, nm + 1, start_ns, end_ns, fn, ud);
    return lookup_end(&lk, rc);
}

static int l_series(void *ctx, struct km_matcher *const *m, size_t nm, int64_t start_ns,
                    int64_t end_ns, km_log_labels_fn fn, void *ud)
{
    struct km_auth_log_view *v = ctx;
    struct lookup lk;
    int rc = lookup_begin(v, m, nm, &lk);

    if (rc)
        return rc;
    rc = km_log_series(&v->base, lk.all, nm + 1, start_ns, end_ns, fn, ud);
    return lookup_end(&lk, rc);
}

static int l_stats(void *ctx, struct km_matcher *const *m, size_t nm, int64_t start_ns,
                   int64_t end_ns, struct km_log_stats *out)
{
    struct km_auth_log_view *v = ctx;
    struct lookup lk;
    int rc = lookup_begin(v, m, nm, &lk);

    if (rc)
        return rc;
    rc = km_log_stats(&v->base, lk.all, nm + 1, start_ns, end_ns, out);
    return lookup_end(&lk, rc);
}

static const struct km_log_source_ops lview_ops = {
    .version = KM_LOG_SOURCE_V1,
    .name = "auth-view",
    .select = l_select,
    .set_next = l_set_next,
    .set_labels = l_set_labels,
    .set_batch = l_set_batch,
    .set_error = l_set_error,
    .set_close = l_set_close,
    .label_names = l_label_names,
    .label_values = l_label_values,
    .series = l_series,
    .stats = l_stats,
};

const struct km_log_source *km_auth_logs(const struct km_http_req *r,
                                         const struct km_log_source *base,
                                         struct km_auth_log_view *tmp)
{
    if (!km_auth_read_limited(r))
        return base;
    memset(tmp, 0, sizeof(*tmp));
    tmp->base = *base;
    tmp->id = km_auth_id_of(r);
    tmp->src.ops = &lview_ops;
    tmp->src.ctx = tmp;
    return &tmp->src;
}

int km_auth_log_source(const struct km_http_req *r, const struct km_log_source *base,
                       struct km_log_source *out)
{
    struct km_auth_log_view *v;
    int rc;

    *out = *base;
    if (!km_auth_read_limited(r))
        return 0;
    v = calloc(1, sizeof(*v));
    if (!v)
        return km_err_set(KM_ENOMEM, "out of memory");
    v->base = *base;
    rc = cluster_matcher(km_auth_id_of(r), &v->cluster);
    if (rc) {
        free(v);
        return rc;
    }
    v->src.ops = &lview_ops;
    v->src.ctx = v;
    *out = v->src;
    return 0;
}

void km_auth_log_source_fini(struct km_log_source *s)
{
    struct km_auth_log_view *v;

    if (!s || s->ops != &lview_ops)
        return;
    v = s->ctx;
    km_matcher_destroy(v->cluster);
    free(v);
    s->ops = NULL;
    s->ctx = NULL;
}
