/*
 * unittest — promtool's rule unit tests (`promtool test rules`): a YAML file naming rule
 * files, an evaluation interval and test groups, each with input series in the
 * expanding notation, alerts expected at given times (alert_rule_test) and PromQL results
 * expected at given times (promql_expr_test). Each group runs over a fresh embedded TSDB
 * in a scratch directory with the rule manager evaluating every evaluation_interval from
 * time 0, as promtool does.
 */
#ifndef KMON_RULES_UNITTEST_H
#define KMON_RULES_UNITTEST_H

#include <stdio.h>

/* Run the tests of the file at `path`, reporting as promtool does: "Unit Testing:  FILE"
 * and "  SUCCESS" on `out`, or "  FAILED:" and each failure on `errout` (a blank line on
 * `out` after each). Returns 0 when every test passed, 1 when one failed or the file
 * could not be run. */
int km_rules_unittest_run(const char *path, FILE *out, FILE *errout);

#endif
