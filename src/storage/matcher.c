/*
 * matcher — label matchers (=, !=, =~, !~) as Prometheus defines them (storage/sample.h),
 * shared by every store and by the query engine: regexes are fully
 * anchored, and a matcher is evaluated on the empty string for series that lack the
 * label (so `foo=""` selects series without foo, and `foo!="bar"` includes them).
 */
#include "common/err.h"
#include "common/regex.h"
#include "storage/sample.h"

#include <stdlib.h>
#include <string.h>

int km_matcher_create(struct km_matcher **out, enum km_match_type type, const char *name,
                      const char *value)
{
    struct km_matcher *m;
    int rc;

    if (!km_label_name_valid(name, strlen(name)))
        return km_err_set(KM_EINVAL, "invalid label name \"%s\" in a matcher", name);
    m = calloc(1, sizeof(*m));
    if (!m)
        return km_err_set(KM_ENOMEM, "out of memory");
    m->type = type;
    m->name = strdup(name);
    m->value = strdup(value);
    if (!m->name || !m->value) {
        km_matcher_destroy(m);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    if (type == KM_MATCH_RE || type == KM_MATCH_NRE) {
        rc = km_regex_compile(&m->re, value, KM_REGEX_ANCHORED | KM_REGEX_JIT);
        if (rc) {
            km_matcher_destroy(m);
            return rc;
        }
    }
    m->matches_empty = km_matcher_matches(m, "");
    *out = m;
    return 0;
}

void km_matcher_destroy(struct km_matcher *m)
{
    if (!m)
        return;
    km_regex_destroy(m->re);
    free(m->name);
    free(m->value);
    free(m);
}

bool km_matcher_matches(const struct km_matcher *m, const char *value)
{
    switch (m->type) {
    case KM_MATCH_EQ:
        return strcmp(value, m->value) == 0;
    case KM_MATCH_NEQ:
        return strcmp(value, m->value) != 0;
    case KM_MATCH_RE:
        return km_regex_match(m->re, value, strlen(value));
    case KM_MATCH_NRE:
        return !km_regex_match(m->re, value, strlen(value));
    }
    return false;
}

const char *km_matcher_name(const struct km_matcher *m)
{
    return m->name;
}
