/*
 * otlp_logs — OTLP log records into log-store streams (otlp_logs.h).
 */
#include "otlp_logs.h"

#include "common/err.h"
#include "otlp_prom.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LEVELS 16 /* distinct levels of one resource; more share the last stream */

const char *km_otlp_log_level(struct km_arena *a, const struct km_otlp_log *l)
{
    static const char *const ranges[] = { "trace", "debug", "info", "warn", "error", "fatal" };

    if (l->severity_text[0]) {
        size_t n = strlen(l->severity_text);
        char *s = km_otlp_strdup(a, l->severity_text, n);

        if (!s)
            return NULL;
        for (size_t i = 0; i < n; i++)
            if (s[i] >= 'A' && s[i] <= 'Z')
                s[i] = (char)(s[i] - 'A' + 'a');
        return s;
    }
    if (l->severity_number >= 1 && l->severity_number <= 24)
        return ranges[(l->severity_number - 1) / 4];
    return "";
}

int km_otlp_to_streams(struct km_otlp_logs_req *r, const char *cluster, int64_t now_ns,
                       struct km_otlp_streams *out)
{
    size_t maxstreams = 0, k = 0;

    for (size_t i = 0; i < r->nresources; i++)
        maxstreams += MAX_LEVELS;
    out->v = calloc(maxstreams ? maxstreams : 1, sizeof(*out->v));
    out->entries = calloc(r->nlogs ? r->nlogs : 1, sizeof(*out->entries));
    out->labels =
        calloc(maxstreams ? maxstreams * (KM_OTLP_RESOURCE_LABELS + 2) : 1, sizeof(*out->labels));
    if (!out->v || !out->entries || !out->labels)
        return km_err_set(KM_ENOMEM, "out of memory mapping OTLP logs");
    for (size_t i = 0; i < r->nresources; i++) {
        const struct km_otlp_resource_logs *rl = &r->resources[i];
        struct km_label res[KM_OTLP_RESOURCE_LABELS];
        size_t nres = km_otlp_resource_labels(&r->arena, rl->attrs, rl->nattrs, true, res);
        const char *levels[MAX_LEVELS];
        size_t nlevels = 0, first = out->n;

        if (cluster && cluster[0]) {
            size_t j = 0;

            while (j < nres && strcmp(res[j].name, "cluster") != 0)
                j++;
            res[j] = (struct km_label){ "cluster", cluster };
            nres += j == nres;
        }
        /* Pass 1: the levels, a stream each. */
        for (size_t s = 0; s < rl->nscopes; s++)
            for (size_t e = 0; e < rl->scopes[s].nlogs; e++) {
                const char *lv = km_otlp_log_level(&r->arena, &rl->scopes[s].logs[e]);
                size_t j = 0;

                if (!lv)
                    return KM_ELIMIT;
                while (j < nlevels && strcmp(levels[j], lv) != 0)
                    j++;
                if (j == nlevels && nlevels < MAX_LEVELS)
                    levels[nlevels++] = lv;
            }
        for (size_t j = 0; j < nlevels; j++) {
            struct km_log_push_stream *st = &out->v[out->n++];
            struct km_label *l = out->labels + k;
            size_t nl = 0;

            for (size_t q = 0; q < nres; q++)
                l[nl++] = res[q];
            if (levels[j][0])
                l[nl++] = (struct km_label){ "level", levels[j] };
            k += nl;
            st->labels = l;
            st->n_labels = nl;
            st->n_entries = 0;
        }
        /* Pass 2: each record into its level's stream (entries grouped by counting). */
        {
            size_t *counts = calloc(nlevels ? nlevels : 1, sizeof(*counts)), base = out->nentries;

            if (!counts)
                return km_err_set(KM_ENOMEM, "out of memory mapping OTLP logs");
            for (int pass = 0; pass < 2; pass++) {
                size_t *pos = counts;

                if (pass == 1) {
                    size_t at = base;

                    for (size_t j = 0; j < nlevels; j++) {
                        size_t c = counts[j];

                        out->v[first + j].entries = out->entries + at;
                        counts[j] = at;
                        at += c;
                    }
                    out->nentries = at;
                }
                for (size_t s = 0; s < rl->nscopes; s++)
                    for (size_t e = 0; e < rl->scopes[s].nlogs; e++) {
                        const struct km_otlp_log *lg = &rl->scopes[s].logs[e];
                        const char *lv = km_otlp_log_level(&r->arena, lg);
                        size_t j = 0;

                        if (!lv) {
                            free(counts);
                            return KM_ELIMIT;
                        }
                        while (j + 1 < nlevels && strcmp(levels[j], lv) != 0)
                            j++;
                        if (pass == 0) {
                            pos[j]++;
                            continue;
                        }
                        out->entries[pos[j]++] = (struct km_log_entry){
                            .ts_ns = lg->time_ns       ? (int64_t)lg->time_ns
                                     : lg->observed_ns ? (int64_t)lg->observed_ns
                                                       : now_ns,
                            .line = lg->body,
                            .len = lg->body_len,
                        };
                        out->v[first + j].n_entries++;
                    }
            }
            free(counts);
        }
    }
    return 0;
}

void km_otlp_streams_fini(struct km_otlp_streams *s)
{
    free(s->v);
    free(s->entries);
    free(s->labels);
    memset(s, 0, sizeof(*s));
}
