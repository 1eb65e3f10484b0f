/*
 * re2syntax — which regular expressions Prometheus accepts in a label matcher, and its
 * message for the others. Prometheus compiles `^(?:<value>)$` with Go's regexp package
 * (RE2 syntax with Perl extensions), which refuses much that PCRE2 takes (lookaround,
 * backreferences, possessive and stacked quantifiers, \Z, …) and takes a few things
 * PCRE2 spells differently; kmon matches with PCRE2 but accepts and refuses exactly as
 * Go 1.19 does, checked here before PCRE2 sees the pattern. Pure; thread-safe.
 */
#ifndef KMON_PROMQL_RE2SYNTAX_H
#define KMON_PROMQL_RE2SYNTAX_H

#include "common/buf.h"

#include <stddef.h>

/* 0 when Go's regexp/syntax parses re[0..n) (the anchored pattern, as Prometheus builds
 * it); else KM_EINVAL with Go's message appended to msg: "error parsing regexp: missing
 * closing ): `^(?:(a)$`". */
int km_promql_re2_check(const char *re, size_t n, struct km_buf *msg);

#endif
