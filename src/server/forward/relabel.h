/*
 * relabel — Prometheus' write_relabel_configs: a list of rules applied in order to a
 * series' labels before it is forwarded, with Prometheus' semantics (regexes fully
 * anchored, default regex (.*), separator ";", replacement "$1" expanded as Go's
 * Regexp.Expand does: $1, ${1}, $name, ${name}, $$).
 *
 * Actions: replace (an empty result removes the target label; a target that is not a
 * valid label name after expansion leaves the set alone), keep and drop (on the source
 * values joined with the separator), labeldrop and labelkeep (on label names), labelmap,
 * lowercase, uppercase, keepequal and dropequal.
 *
 * Compiled rules are immutable and may be shared by threads; each thread brings its own
 * struct km_relabel_scratch.
 */
#ifndef KMON_SERVER_FORWARD_RELABEL_H
#define KMON_SERVER_FORWARD_RELABEL_H

#include "common/arena.h"
#include "common/labels.h"

#include <stdbool.h>
#include <stddef.h>

enum km_relabel_action {
    KM_RELABEL_REPLACE,
    KM_RELABEL_KEEP,
    KM_RELABEL_DROP,
    KM_RELABEL_LABELDROP,
    KM_RELABEL_LABELKEEP,
    KM_RELABEL_LABELMAP,
    KM_RELABEL_LOWERCASE,
    KM_RELABEL_UPPERCASE,
    KM_RELABEL_KEEPEQUAL,
    KM_RELABEL_DROPEQUAL,
};

/* A rule as written; NULL fields take Prometheus' defaults. */
struct km_relabel_spec {
    const char *const *source_labels;
    size_t nsource;
    const char *separator; /* ";" */
    const char *regex;     /* "(.*)" */
    const char *target_label;
    const char *replacement; /* "$1" */
    const char *action;      /* "replace" */
};

struct km_relabel;

/* Check and compile one rule (the checks Prometheus' config loader makes: a known
 * action, a target_label where the action needs one, labeldrop/labelkeep with nothing
 * but a regex). KM_EINVAL with a sentence. */
int km_relabel_compile(struct km_relabel **out, const struct km_relabel_spec *s);
void km_relabel_destroy(struct km_relabel *r);

/* The most labels a set may have while relabelled. */
#define KM_RELABEL_MAX_LABELS 320

struct km_relabel_scratch {
    struct km_arena strs; /* values the rules made */
    struct km_label v[KM_RELABEL_MAX_LABELS];
    size_t n;
};

void km_relabel_scratch_init(struct km_relabel_scratch *sc);
void km_relabel_scratch_fini(struct km_relabel_scratch *sc);

/* Apply rules[0..n) to the label set in[0..nin) (sorted). True when the series is kept:
 * its labels, sorted, are sc->v[0..sc->n) (pointing into `in`, the rules and sc; valid
 * until the next call with sc). False when a rule dropped it or no label is left. */
bool km_relabel_apply(struct km_relabel *const *rules, size_t n, const struct km_label *in,
                      size_t nin, struct km_relabel_scratch *sc);

#endif
