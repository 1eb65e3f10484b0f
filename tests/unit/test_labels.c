/*
 * Unit tests: label sets (sorting, validation, hashing, identity) and regexes.
 */
#include "common/err.h"
#include "common/labels.h"
#include "common/limits.h"
#include "common/lset.h"
#include "common/regex.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

static void test_names(void **state)
{
    (void)state;
    assert_true(km_label_name_valid("__name__", 8));
    assert_true(km_label_name_valid("a1_B", 4));
    assert_false(km_label_name_valid("1a", 2));
    assert_false(km_label_name_valid("a-b", 3));
    assert_false(km_label_name_valid("a:b", 3));
    assert_false(km_label_name_valid("", 0));
    assert_true(km_metric_name_valid("job:rate5m:sum", 14));
    assert_true(km_metric_name_valid(":x", 2));
    assert_false(km_metric_name_valid("5x", 2));
    assert_false(km_metric_name_valid("a b", 3));
}

static void test_create_sorts_and_hashes(void **state)
{
    struct km_label in1[] = { { "mode", "idle" }, { "__name__", "cpu" }, { "cpu", "0" } };
    struct km_label in2[] = { { "cpu", "0" }, { "mode", "idle" }, { "__name__", "cpu" } };
    struct km_labels *a, *b, *c;

    (void)state;
    assert_int_equal(km_labels_create(&a, in1, 3), 0);
    assert_int_equal(km_labels_create(&b, in2, 3), 0);
    assert_string_equal(a->v[0].name, "__name__");
    assert_string_equal(a->v[1].name, "cpu");
    assert_string_equal(a->v[2].name, "mode");
    assert_int_equal(a->hash, b->hash);
    assert_int_equal(km_labels_cmp(a, b), 0);
    assert_string_equal(km_labels_get(a, "mode"), "idle");
    assert_null(km_labels_get(a, "nope"));
    assert_int_equal(km_labels_dup(&c, a), 0);
    assert_int_equal(km_labels_cmp(a, c), 0);
    assert_int_equal(c->hash, a->hash);
    km_labels_destroy(a);
    km_labels_destroy(b);
    km_labels_destroy(c);
    km_labels_destroy(NULL);
}

/* The empty set from no array at all, as the PromQL evaluator makes a series without
 * labels (a scalar's range query, vector(), absent()): memcpy must not see the NULL
 * (UndefinedBehaviorSanitizer in the sanitizer build; found by fuzz_promql_eval). */
static void test_create_empty(void **state)
{
    struct km_labels *l, *d;

    (void)state;
    assert_int_equal(km_labels_create(&l, NULL, 0), 0);
    assert_int_equal(l->n, 0);
    assert_int_equal(km_labels_dup(&d, l), 0);
    assert_int_equal(km_labels_cmp(l, d), 0);
    km_labels_destroy(d);
    assert_int_equal(km_labels_create_sorted(&d, NULL, 0), 0);
    assert_int_equal(km_labels_cmp(l, d), 0);
    assert_int_equal(d->hash, l->hash);
    km_labels_destroy(l);
    km_labels_destroy(d);
}

static void test_hash_separates_boundaries(void **state)
{
    struct km_label x[] = { { "a", "bc" } }, y[] = { { "ab", "c" } };
    struct km_label p[] = { { "a", "1" }, { "b", "2" } }, q[] = { { "a", "1b" } };

    (void)state;
    assert_true(km_labels_hash(x, 1) != km_labels_hash(y, 1));
    assert_true(km_labels_hash(p, 2) != km_labels_hash(q, 1));
    assert_true(km_labels_cmp_arrays(x, 1, y, 1) != 0);
}

static void test_rejects_bad_sets(void **state)
{
    struct km_label dup[] = { { "a", "1" }, { "a", "2" } };
    struct km_label bad[] = { { "a-b", "1" } };
    struct km_label unsorted[] = { { "b", "1" }, { "a", "2" } };
    struct km_labels *l;

    (void)state;
    assert_int_equal(km_labels_create(&l, dup, 2), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "duplicate"));
    assert_int_equal(km_labels_create(&l, bad, 1), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "a-b"));
    assert_int_equal(km_labels_check(unsorted, 2), KM_EINVAL);
    assert_int_equal(km_labels_create(&l, unsorted, 2), 0); /* create sorts */
    km_labels_destroy(l);
}

static void test_too_many_labels(void **state)
{
    static struct km_label many[KM_LIMIT_LABELS_PER_SERIES + 1];
    static char names[KM_LIMIT_LABELS_PER_SERIES + 1][16];
    struct km_labels *l;

    (void)state;
    for (int i = 0; i <= KM_LIMIT_LABELS_PER_SERIES; i++) {
        snprintf(names[i], sizeof(names[i]), "l%04d", i);
        many[i].name = names[i];
        many[i].value = "v";
    }
    assert_int_equal(km_labels_create(&l, many, KM_LIMIT_LABELS_PER_SERIES + 1), KM_ELIMIT);
    assert_int_equal(km_labels_create(&l, many, KM_LIMIT_LABELS_PER_SERIES), 0);
    assert_int_equal(l->n, KM_LIMIT_LABELS_PER_SERIES);
    km_labels_destroy(l);
}

static void test_regex(void **state)
{
    struct km_regex *re;

    (void)state;
    assert_int_equal(km_regex_compile(&re, "ram|loop", KM_REGEX_ANCHORED | KM_REGEX_JIT), 0);
    assert_true(km_regex_match(re, "ram", 3));
    assert_true(km_regex_match(re, "loop", 4));
    assert_false(km_regex_match(re, "loop0", 5)); /* anchored: whole subject */
    assert_false(km_regex_match(re, "xram", 4));
    assert_string_equal(km_regex_pattern(re), "ram|loop");
    km_regex_destroy(re);
    assert_int_equal(
        km_regex_compile(&re, "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$", 0), 0);
    assert_true(km_regex_match(re, "loop0", 5));
    assert_true(km_regex_match(re, "sda1", 4));
    assert_true(km_regex_match(re, "nvme0n1p2", 9));
    assert_false(km_regex_match(re, "sda", 3));
    assert_false(km_regex_match(re, "nvme0n1", 7));
    km_regex_destroy(re);
    assert_int_equal(km_regex_compile(&re, "vd", 0), 0); /* unanchored: anywhere */
    assert_true(km_regex_match(re, "xvda", 4));
    assert_false(km_regex_match(re, "v\xff", 2)); /* invalid UTF-8 subject: no match */
    km_regex_destroy(re);
    assert_int_equal(km_regex_compile(&re, "(unclosed", 0), KM_EINVAL);
    assert_non_null(strstr(km_err_msg(), "(unclosed"));
    km_regex_destroy(NULL);
}

/* The set finds equal label sets, keeps one of each, and tells apart sets whose hashes
 * collide (forced here) by their labels. */
static void test_lset(void **state)
{
    struct km_label a[] = { { "__name__", "x" }, { "i", "1" } };
    struct km_label b[] = { { "__name__", "x" }, { "i", "2" } };
    struct km_labels *la, *la2, *lb;
    struct km_lset s;

    (void)state;
    assert_int_equal(km_labels_create(&la, a, 2), 0);
    assert_int_equal(km_labels_create(&la2, a, 2), 0);
    assert_int_equal(km_labels_create(&lb, b, 2), 0);
    lb->hash = la->hash; /* a collision */
    assert_int_equal(km_lset_init(&s, 3), 0);
    assert_null(km_lset_find(&s, la));
    assert_null(km_lset_add(&s, la));
    assert_ptr_equal(km_lset_add(&s, la2), la);
    assert_ptr_equal(km_lset_find(&s, la2), la);
    assert_null(km_lset_find(&s, lb));
    assert_null(km_lset_add(&s, lb));
    assert_ptr_equal(km_lset_find(&s, lb), lb);
    km_lset_fini(&s);
    /* An empty set from a count of zero still answers. */
    assert_int_equal(km_lset_init(&s, 0), 0);
    assert_null(km_lset_find(&s, la));
    km_lset_fini(&s);
    km_labels_destroy(la);
    km_labels_destroy(la2);
    km_labels_destroy(lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_create_sorts_and_hashes),
        cmocka_unit_test(test_create_empty),
        cmocka_unit_test(test_hash_separates_boundaries),
        cmocka_unit_test(test_rejects_bad_sets),
        cmocka_unit_test(test_too_many_labels),
        cmocka_unit_test(test_regex),
        cmocka_unit_test(test_lset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
