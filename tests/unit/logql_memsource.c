/*
 * logql_memsource — see logql_memsource.h.
 */
#include "logql_memsource.h"

#include "common/array.h"
#include "common/err.h"
#include "common/labels.h"
#include "storage/sample.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct mstream {
    struct km_labels *labels;
    struct km_log_entry *e;
    size_t n, cap;
    bool sorted;
};

struct memsource {
    struct mstream *s;
    size_t n, cap;
    size_t batch;
    size_t left_early;
    char *last_must;
    size_t nmust;
};

struct mset {
    struct memsource *m;
    size_t *idx; /* selected streams, in label order */
    size_t n, cur;
    bool started;
    int64_t start, end;
    bool backward;
    size_t lo, hi, pos; /* the current stream's entries in range: [lo, hi); pos read so far */
    struct km_log_entry *buf;
};

struct memsource *memsource_create(size_t batch)
{
    struct memsource *m = calloc(1, sizeof(*m));

    if (m)
        m->batch = batch ? batch : 1;
    return m;
}

void memsource_destroy(struct memsource *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        for (size_t k = 0; k < m->s[i].n; k++)
            free((char *)m->s[i].e[k].line);
        free(m->s[i].e);
        km_labels_destroy(m->s[i].labels);
    }
    free(m->s);
    free(m->last_must);
    free(m);
}

int memsource_add(struct memsource *m, const char *labels, int64_t ts, const char *line, size_t len)
{
    struct km_label lv[32];
    char tmp[1024], *save = NULL, *tok;
    size_t n = 0, i;
    struct km_labels *l;
    struct mstream *s = NULL;
    char *c;
    int rc;

    strncpy(tmp, labels, sizeof(tmp) - 1);
    tmp[sizeof(tmp) - 1] = '\0';
    for (tok = strtok_r(tmp, ",", &save); tok && n < 32; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');

        if (!eq)
            return KM_EINVAL;
        *eq = '\0';
        lv[n++] = (struct km_label){ tok, eq + 1 };
    }
    if ((rc = km_labels_create(&l, lv, n)))
        return rc;
    for (i = 0; i < m->n; i++)
        if (km_labels_cmp(m->s[i].labels, l) == 0) {
            s = &m->s[i];
            km_labels_destroy(l);
            break;
        }
    if (!s) {
        if ((rc = km_array_grow((void **)&m->s, &m->cap, m->n + 1, sizeof(*m->s), 8, "streams"))) {
            km_labels_destroy(l);
            return rc;
        }
        s = &m->s[m->n++];
        memset(s, 0, sizeof(*s));
        s->labels = l;
        /* keep streams in label order */
        for (i = m->n - 1; i > 0 && km_labels_cmp(m->s[i - 1].labels, m->s[i].labels) > 0; i--) {
            struct mstream t = m->s[i];

            m->s[i] = m->s[i - 1];
            m->s[i - 1] = t;
        }
        s = &m->s[i];
    }
    if ((rc = km_array_grow((void **)&s->e, &s->cap, s->n + 1, sizeof(*s->e), 16, "entries")))
        return rc;
    c = malloc(len + 1);
    if (!c)
        return KM_ENOMEM;
    memcpy(c, line, len);
    c[len] = '\0';
    /* insert in time order, after equal timestamps */
    i = s->n;
    while (i > 0 && s->e[i - 1].ts_ns > ts) {
        s->e[i] = s->e[i - 1];
        i--;
    }
    s->e[i] = (struct km_log_entry){ ts, c, len };
    s->n++;
    return 0;
}

static bool stream_matches(const struct mstream *s, struct km_matcher *const *m, size_t nm)
{
    for (size_t i = 0; i < nm; i++) {
        const char *v = km_labels_get(s->labels, m[i]->name);

        if (!km_matcher_matches(m[i], v ? v : ""))
            return false;
    }
    return true;
}

static int ms_select(void *ctx, const struct km_log_select *sel, void **out)
{
    struct memsource *m = ctx;
    struct mset *set = calloc(1, sizeof(*set));
    size_t total = 0;

    if (!set)
        return KM_ENOMEM;
    set->idx = calloc(m->n + 1, sizeof(*set->idx));
    if (!set->idx) {
        free(set);
        return KM_ENOMEM;
    }
    for (size_t i = 0; i < m->n; i++)
        if (stream_matches(&m->s[i], sel->m, sel->nm))
            set->idx[set->n++] = i;
    free(m->last_must);
    m->last_must = NULL;
    m->nmust = sel->n_must_contain;
    for (size_t i = 0; i < sel->n_must_contain; i++)
        total += sel->must_contain_len[i] + 1;
    if (sel->n_must_contain) {
        m->last_must = calloc(1, total + 1);
        if (m->last_must)
            memcpy(m->last_must, sel->must_contain[0], sel->must_contain_len[0]);
    }
    set->m = m;
    set->start = sel->start_ns;
    set->end = sel->end_ns;
    set->backward = sel->backward;
    set->buf = calloc(m->batch, sizeof(*set->buf));
    if (!set->buf) {
        free(set->idx);
        free(set);
        return KM_ENOMEM;
    }
    *out = set;
    return 0;
}

static bool ms_next(void *p)
{
    struct mset *set = p;
    const struct mstream *s;

    if (set->started && set->cur < set->n && set->pos < set->hi - set->lo)
        set->m->left_early++;
    if (set->started)
        set->cur++;
    set->started = true;
    if (set->cur >= set->n)
        return false;
    s = &set->m->s[set->idx[set->cur]];
    set->lo = 0;
    while (set->lo < s->n && s->e[set->lo].ts_ns < set->start)
        set->lo++;
    set->hi = set->lo;
    while (set->hi < s->n && s->e[set->hi].ts_ns < set->end)
        set->hi++;
    set->pos = 0;
    return true;
}

static const struct km_labels *ms_labels(void *p)
{
    struct mset *set = p;

    return set->m->s[set->idx[set->cur]].labels;
}

static bool ms_batch(void *p, struct km_log_batch *b)
{
    struct mset *set = p;
    const struct mstream *s = &set->m->s[set->idx[set->cur]];
    size_t k = 0, total = set->hi - set->lo;

    while (k < set->m->batch && set->pos < total) {
        size_t i = set->backward ? set->hi - 1 - set->pos : set->lo + set->pos;

        set->buf[k++] = s->e[i];
        set->pos++;
    }
    if (!k)
        return false;
    b->e = set->buf;
    b->n = k;
    return true;
}

static int ms_error(void *p)
{
    (void)p;
    return 0;
}

static void ms_close(void *p)
{
    struct mset *set = p;

    free(set->idx);
    free(set->buf);
    free(set);
}

static const struct km_log_source_ops ms_ops = {
    .version = KM_LOG_SOURCE_V1,
    .name = "memsource",
    .select = ms_select,
    .set_next = ms_next,
    .set_labels = ms_labels,
    .set_batch = ms_batch,
    .set_error = ms_error,
    .set_close = ms_close,
};

struct km_log_source memsource_source(struct memsource *m)
{
    return (struct km_log_source){ &ms_ops, m };
}

size_t memsource_left_early(const struct memsource *m)
{
    return m->left_early;
}

size_t memsource_last_must(const struct memsource *m, const char **first)
{
    *first = m->last_must;
    return m->nmust;
}
