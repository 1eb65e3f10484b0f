/*
 * logsource — dispatch of the log source interface (see logsource.h) to a store's ops.
 */
#include "logs/logsource.h"

#include "common/err.h"

#include <stdlib.h>

struct km_log_set {
    const struct km_log_source_ops *ops;
    void *set;
};

int km_log_select(const struct km_log_source *s, const struct km_log_select *sel,
                  struct km_log_set **out)
{
    struct km_log_set *set;
    int rc;

    *out = NULL;
    if (sel->nm == 0)
        return km_err_set(KM_EINVAL, "a stream selector needs at least one matcher");
    set = calloc(1, sizeof(*set));
    if (!set)
        return km_err_set(KM_ENOMEM, "out of memory selecting log streams");
    set->ops = s->ops;
    rc = s->ops->select(s->ctx, sel, &set->set);
    if (rc < 0) {
        free(set);
        return rc;
    }
    *out = set;
    return 0;
}

bool km_log_set_next(struct km_log_set *set)
{
    return set->ops->set_next(set->set);
}

const struct km_labels *km_log_set_labels(struct km_log_set *set)
{
    return set->ops->set_labels(set->set);
}

bool km_log_set_batch(struct km_log_set *set, struct km_log_batch *b)
{
    return set->ops->set_batch(set->set, b);
}

int km_log_set_error(struct km_log_set *set)
{
    return set->ops->set_error(set->set);
}

void km_log_set_close(struct km_log_set *set)
{
    if (!set)
        return;
    set->ops->set_close(set->set);
    free(set);
}

int km_log_label_names(const struct km_log_source *s, struct km_matcher *const *m, size_t nm,
                       int64_t start_ns, int64_t end_ns, km_str_fn fn, void *ud)
{
    return s->ops->label_names(s->ctx, m, nm, start_ns, end_ns, fn, ud);
}

int km_log_label_values(const struct km_log_source *s, const char *name,
                        struct km_matcher *const *m, size_t nm, int64_t start_ns, int64_t end_ns,
                        km_str_fn fn, void *ud)
{
    return s->ops->label_values(s->ctx, name, m, nm, start_ns, end_ns, fn, ud);
}

int km_log_series(const struct km_log_source *s, struct km_matcher *const *m, size_t nm,
                  int64_t start_ns, int64_t end_ns, km_log_labels_fn fn, void *ud)
{
    return s->ops->series(s->ctx, m, nm, start_ns, end_ns, fn, ud);
}

int km_log_stats(const struct km_log_source *s, struct km_matcher *const *m, size_t nm,
                 int64_t start_ns, int64_t end_ns, struct km_log_stats *out)
{
    return s->ops->stats(s->ctx, m, nm, start_ns, end_ns, out);
}
