/*
 * allowlist — kube-state-metrics' --metric-labels-allowlist and
 * --metric-annotations-allowlist syntax: "pods=[app,team],namespaces=[*]" (a kind's
 * plural resource name, then the keys kept as label_<key> / annotation_<key>, or * for
 * all of them), and the sanitising of a key into a Prometheus label name as KSM does it
 * (every character outside [a-zA-Z0-9_] becomes '_'). Immutable once parsed.
 */
#ifndef KMON_KSTATE_ALLOWLIST_H
#define KMON_KSTATE_ALLOWLIST_H

#include <stdbool.h>
#include <stddef.h>

struct km_allow {
    char *kind; /* "pods" */
    bool all;   /* [*] */
    char **keys;
    size_t nkeys;
};

struct km_allowlist {
    struct km_allow *k;
    size_t n;
};

/* Parse spec (NULL or "" is the empty list). KM_EINVAL with a sentence when malformed. */
int km_allowlist_parse(struct km_allowlist *out, const char *spec);
void km_allowlist_fini(struct km_allowlist *a);

/* The entry of a kind, else the entry of kind "*" (every kind), or NULL. */
const struct km_allow *km_allowlist_for(const struct km_allowlist *a, const char *kind);

/* Whether a key is kept. */
bool km_allow_has(const struct km_allow *a, const char *key);

/* prefix + the key sanitised, into out (truncated to size). */
void km_allow_label_name(char *out, size_t size, const char *prefix, const char *key);

#endif
