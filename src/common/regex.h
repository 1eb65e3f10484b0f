/*
 * regex — compiled regular expressions through pcre2 with JIT, in the RE2-like subset
 * Prometheus and node-exporter users write. A compiled km_regex is immutable and may be
 * shared across threads; matching uses per-thread match data.
 */
#ifndef KMON_COMMON_REGEX_H
#define KMON_COMMON_REGEX_H

#include <stdbool.h>
#include <stddef.h>

struct km_regex;

#define KM_REGEX_ANCHORED                                                                          \
    1u /* the whole subject must match (Prometheus label matchers);                                \
          without it a match anywhere counts (device filters) */
#define KM_REGEX_JIT                                                                               \
    2u /* compile to machine code: for regexes run millions of times                               \
          (queries); small filters skip it to save memory */

/* Compile `pattern` with KM_REGEX_* flags. On success *out is new; free it with
 * km_regex_destroy(). KM_EINVAL with the reason of a syntax error. */
int km_regex_compile(struct km_regex **out, const char *pattern, unsigned flags);

bool km_regex_match(const struct km_regex *re, const char *s, size_t n);

/* Match and report the groups: ov[2g], ov[2g+1] are the byte offsets of group g (0: the
 * whole match), (size_t)-1 for a group that did not take part; at most `max` groups.
 * Returns the number of groups reported (> 0), or 0 when it does not match. */
int km_regex_match_groups(const struct km_regex *re, const char *s, size_t n, size_t *ov, int max);

/* The same for a match that starts at byte `start` or after it (a regex's ^, \b and
 * lookbehind still see what lies before `start`): for finding successive matches. */
int km_regex_match_groups_at(const struct km_regex *re, const char *s, size_t n, size_t start,
                             size_t *ov, int max);

/* The number of groups of a match: the capturing groups plus one (the whole match). */
int km_regex_group_count(const struct km_regex *re);

/* The number of the named group `name`, or -1. */
int km_regex_group_number(const struct km_regex *re, const char *name);

/* The pattern as given. */
const char *km_regex_pattern(const struct km_regex *re);

void km_regex_destroy(struct km_regex *re);

#endif
