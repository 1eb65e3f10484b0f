/*
 * Unit tests: the embedded store's metric metadata (src/tsdb/mdstore.c) — entries kept
 * once each and listed by name, every bound (names, entries per name, text length,
 * bytes) refusing, evicting or cutting and counting without failing, the ttl, the file
 * written and read back, a save that has nothing new writing nothing, a save that cannot
 * write leaving the store as it was, and files that are missing, short, long, of another
 * format or version, with a bad checksum, a bad entry, or any one byte changed: refused
 * whole (KM_ECORRUPT), never a crash, the store then empty.
 */
#include "common/err.h"
#include "tsdb/mdstore.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define NOW 1800000000000ll
#define DAY (86400000ll)

static char dir[128], path[160];

static int setup(void **state)
{
    char cmd[400];

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kmon-test-mdstore-%d", (int)getpid());
    snprintf(path, sizeof(path), "%s/metadata", dir);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[400];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct km_mdstore *create(size_t names, size_t variants, size_t text, size_t bytes,
                                 int64_t ttl)
{
    struct km_mdstore_opts o = { names, variants, text, bytes, ttl };
    struct km_mdstore *s;

    assert_int_equal(km_mdstore_create(&s, &o), 0);
    return s;
}

/* A listing as text: "name|type|help|unit\n" per entry. */
struct listing {
    char text[8192];
    size_t len;
    int n;
};

static int note(void *ud, const struct km_metadata *md)
{
    struct listing *x = ud;

    x->len += (size_t)snprintf(x->text + x->len, sizeof(x->text) - x->len, "%s|%s|%s|%s\n",
                               md->name, km_metric_type_name(md->type), md->help, md->unit);
    x->n++;
    return 0;
}

static const char *list(struct km_mdstore *s, const char *metric, int64_t now)
{
    static struct listing x;

    memset(&x, 0, sizeof(x));
    assert_int_equal(km_mdstore_list(s, metric, now, note, &x), 0);
    return x.text;
}

static void put(struct km_mdstore *s, const char *name, enum km_metric_type t, const char *help,
                const char *unit, int64_t now)
{
    struct km_metadata md = { name, t, help, unit };

    assert_int_equal(km_mdstore_put(s, &md, 1, now), 0);
}

static void test_kept_once_listed_by_name(void **state)
{
    struct km_mdstore *s = create(0, 0, 0, 0, 0);
    struct km_metadata batch[] = {
        { "zeta", KM_METRIC_GAUGE, "Z.", "" },
        { "alpha_total", KM_METRIC_COUNTER, "Requests.", "" },
        { "alpha_total", KM_METRIC_COUNTER, "Requests.", "" },          /* the same: once */
        { "alpha_total", KM_METRIC_COUNTER, "Requests, v2.", "" },      /* another help */
        { "alpha_total", KM_METRIC_GAUGE, "Requests.", "" },            /* another type */
        { "alpha_total", KM_METRIC_COUNTER, "Requests.", "requests" },  /* another unit */
        { "mid", (enum km_metric_type)42, "From a newer sender.", "" }, /* unknown type */
        { "mid", KM_METRIC_UNKNOWN, "From a newer sender.", "" },       /* the same */
    };
    struct km_mdstore_stats st;

    (void)state;
    assert_int_equal(km_mdstore_put(s, batch, sizeof(batch) / sizeof(batch[0]), NOW), 0);
    assert_string_equal(list(s, NULL, NOW), "alpha_total|counter|Requests.|\n"
                                            "alpha_total|counter|Requests, v2.|\n"
                                            "alpha_total|gauge|Requests.|\n"
                                            "alpha_total|counter|Requests.|requests\n"
                                            "mid|unknown|From a newer sender.|\n"
                                            "zeta|gauge|Z.|\n");
    assert_string_equal(list(s, "zeta", NOW), "zeta|gauge|Z.|\n");
    assert_string_equal(list(s, "nothing", NOW), "");
    km_mdstore_stats(s, &st);
    assert_int_equal(st.names, 3);
    assert_int_equal(st.entries, 6);
    assert_true(st.bytes > 0);
    /* Every type name Prometheus uses. */
    assert_string_equal(km_metric_type_name(KM_METRIC_HISTOGRAM), "histogram");
    assert_string_equal(km_metric_type_name(KM_METRIC_GAUGEHISTOGRAM), "gaugehistogram");
    assert_string_equal(km_metric_type_name(KM_METRIC_SUMMARY), "summary");
    assert_string_equal(km_metric_type_name(KM_METRIC_INFO), "info");
    assert_string_equal(km_metric_type_name(KM_METRIC_STATESET), "stateset");
    assert_string_equal(km_metric_type_name((enum km_metric_type)8), "unknown");
    km_mdstore_destroy(s);
    km_mdstore_destroy(NULL);
}

static int stop_after_one(void *ud, const struct km_metadata *md)
{
    (void)md;
    return ++*(int *)ud == 1 ? 7 : 0;
}

static void test_listing_stops_when_asked(void **state)
{
    struct km_mdstore *s = create(0, 0, 0, 0, 0);
    int n = 0;

    (void)state;
    put(s, "a", KM_METRIC_GAUGE, "", "", NOW);
    put(s, "b", KM_METRIC_GAUGE, "", "", NOW);
    assert_int_equal(km_mdstore_list(s, NULL, NOW, stop_after_one, &n), 7);
    assert_int_equal(n, 1);
    km_mdstore_destroy(s);
}

static void test_names_bound(void **state)
{
    struct km_mdstore *s = create(2, 0, 0, 0, 0);
    struct km_mdstore_stats st;

    (void)state;
    put(s, "a", KM_METRIC_GAUGE, "", "", NOW);
    put(s, "b", KM_METRIC_GAUGE, "", "", NOW);
    put(s, "c", KM_METRIC_GAUGE, "", "", NOW);   /* refused */
    put(s, "a", KM_METRIC_COUNTER, "", "", NOW); /* a known name still takes entries */
    assert_string_equal(list(s, NULL, NOW), "a|gauge||\na|counter||\nb|gauge||\n");
    km_mdstore_stats(s, &st);
    assert_int_equal(st.refused_names, 1);
    km_mdstore_destroy(s);
}

static void test_entries_per_name_bound(void **state)
{
    struct km_mdstore *s = create(0, 2, 0, 0, 0);
    struct km_mdstore_stats st;

    (void)state;
    put(s, "m", KM_METRIC_GAUGE, "one", "", NOW);
    put(s, "m", KM_METRIC_GAUGE, "two", "", NOW + 1);
    put(s, "m", KM_METRIC_GAUGE, "one", "", NOW + 2); /* seen again: "two" is now the oldest */
    put(s, "m", KM_METRIC_GAUGE, "three", "", NOW + 3);
    assert_string_equal(list(s, NULL, NOW + 3), "m|gauge|one|\nm|gauge|three|\n");
    km_mdstore_stats(s, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.entries, 2);
    km_mdstore_destroy(s);
}

static void test_text_bound_cuts_at_a_character(void **state)
{
    struct km_mdstore *s = create(0, 0, 5, 0, 0);
    struct km_mdstore_stats st;

    (void)state;
    put(s, "m", KM_METRIC_GAUGE, "abcdefgh", "", NOW);
    put(s, "n", KM_METRIC_GAUGE, "abcd\xc3\xa9", "", NOW); /* é would end at byte 6 */
    put(s, "o", KM_METRIC_GAUGE, "abcde", "unitlong", NOW);
    put(s, "m", KM_METRIC_GAUGE, "abcdeXYZ", "", NOW); /* the same once cut */
    assert_string_equal(list(s, NULL, NOW), "m|gauge|abcde|\nn|gauge|abcd|\no|gauge|abcde|unitl\n");
    km_mdstore_stats(s, &st);
    assert_int_equal(st.truncated, 4);
    assert_int_equal(st.entries, 3);
    km_mdstore_destroy(s);
}

static void test_bytes_bound(void **state)
{
    struct km_mdstore *s = create(0, 0, 0, 400, 0);
    struct km_mdstore_stats st;
    char name[32];

    (void)state;
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "metric_%02d", i);
        put(s, name, KM_METRIC_GAUGE, "Some help text.", "", NOW);
    }
    km_mdstore_stats(s, &st);
    assert_true(st.bytes <= 400);
    assert_true(st.names > 0 && st.names < 50);
    assert_int_equal(st.refused_bytes, 50 - st.names);
    /* A refused entry leaves no name behind. */
    assert_int_equal(st.entries, st.names);
    km_mdstore_destroy(s);
}

static void test_ttl(void **state)
{
    struct km_mdstore *s = create(2, 0, 0, 0, DAY);
    struct km_mdstore_stats st;

    (void)state;
    put(s, "old", KM_METRIC_GAUGE, "", "", NOW);
    put(s, "new", KM_METRIC_GAUGE, "", "", NOW + DAY / 2);
    /* Listed while seen within the ttl, not after. */
    assert_string_equal(list(s, NULL, NOW + DAY), "new|gauge||\nold|gauge||\n");
    assert_string_equal(list(s, NULL, NOW + DAY + 1), "new|gauge||\n");
    /* Seen again, it lives on. */
    put(s, "old", KM_METRIC_GAUGE, "", "", NOW + DAY + 2);
    assert_string_equal(list(s, NULL, NOW + DAY + 2), "new|gauge||\nold|gauge||\n");
    /* The names bound is reached: expired names ("new" by then) make room first. */
    put(s, "third", KM_METRIC_GAUGE, "", "", NOW + DAY + DAY / 2 + 1);
    assert_string_equal(list(s, NULL, NOW + DAY + DAY / 2 + 1), "old|gauge||\nthird|gauge||\n");
    km_mdstore_stats(s, &st);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.refused_names, 0);
    km_mdstore_destroy(s);
}

static void test_saved_and_read_back(void **state)
{
    struct km_mdstore *s = create(0, 0, 0, 0, DAY), *r = create(0, 0, 0, 0, DAY);
    const char *want = "a_total|counter|Total \"things\", \\ and\nnewline, \xc3\xa9.|\n"
                       "a_total|summary|Other.|seconds\n"
                       "b|stateset||\n";
    struct stat st;

    (void)state;
    put(s, "b", KM_METRIC_STATESET, "", "", NOW);
    put(s, "a_total", KM_METRIC_COUNTER, "Total \"things\", \\ and\nnewline, \xc3\xa9.", "", NOW);
    put(s, "a_total", KM_METRIC_SUMMARY, "Other.", "seconds", NOW);
    put(s, "gone", KM_METRIC_GAUGE, "", "", NOW - 2 * DAY); /* past the ttl: not saved */
    assert_int_equal(km_mdstore_save(s, path, NOW), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(km_mdstore_load(r, path, NOW), 0);
    assert_string_equal(list(r, NULL, NOW), want);
    /* Read back, an entry keeps the time it was last seen. */
    assert_string_equal(list(r, NULL, NOW + DAY + 1), "");
    /* Nothing changed since: nothing is written. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(km_mdstore_save(s, path, NOW), 0);
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_equal(km_mdstore_save(r, path, NOW), 0);
    assert_int_not_equal(stat(path, &st), 0);
    /* A change is. */
    put(s, "c", KM_METRIC_INFO, "", "", NOW);
    assert_int_equal(km_mdstore_save(s, path, NOW), 0);
    assert_int_equal(km_mdstore_load(r, path, NOW), 0);
    assert_int_equal(strncmp(list(r, NULL, NOW), want, strlen(want)), 0);
    assert_string_equal(list(r, "c", NOW), "c|info||\n");
    km_mdstore_destroy(s);
    km_mdstore_destroy(r);
}

static void test_save_failure_keeps_the_store(void **state)
{
    struct km_mdstore *s = create(0, 0, 0, 0, 0);
    char bad[400];

    (void)state;
    put(s, "a", KM_METRIC_GAUGE, "", "", NOW);
    snprintf(bad, sizeof(bad), "%s/missing/metadata", dir);
    assert_int_equal(km_mdstore_save(s, bad, NOW), KM_EIO);
    assert_string_equal(list(s, NULL, NOW), "a|gauge||\n");
    /* Still changed: the next save writes. */
    assert_int_equal(km_mdstore_save(s, path, NOW), 0);
    km_mdstore_destroy(s);
}

static void write_bytes(const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static size_t read_bytes(unsigned char *p, size_t max)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    assert_non_null(f);
    n = fread(p, 1, max, f);
    fclose(f);
    return n;
}

/* Load what is at path into a store holding something: refused whole, store empty. */
static void assert_refused(int want)
{
    struct km_mdstore *s = create(0, 0, 0, 0, 0);

    put(s, "before", KM_METRIC_GAUGE, "", "", NOW);
    assert_int_equal(km_mdstore_load(s, path, NOW), want);
    assert_string_equal(list(s, NULL, NOW), "");
    km_mdstore_destroy(s);
}

/* A file whose header and checksum are right around the given payload. */
static void write_with_payload(const unsigned char *payload, size_t n)
{
    unsigned char f[512];
    uint32_t len = (uint32_t)n, sum = (uint32_t)XXH3_64bits(payload, n);

    memcpy(f, "KMMD", 4);
    memcpy(f + 4, "\x01\x00\x00\x00", 4);
    for (int i = 0; i < 4; i++) {
        f[8 + i] = (unsigned char)(len >> (8 * i));
        f[12 + i] = (unsigned char)(sum >> (8 * i));
    }
    memcpy(f + 16, payload, n);
    write_bytes(f, 16 + n);
}

static void test_bad_files_are_refused(void **state)
{
    struct km_mdstore *s = create(0, 0, 0, 0, 0);
    unsigned char good[4096], copy[4096];
    size_t n;

    (void)state;
    /* No file. */
    assert_refused(KM_ENOTFOUND);
    put(s, "a_total", KM_METRIC_COUNTER, "Help.", "", NOW);
    put(s, "b", KM_METRIC_GAUGE, "Other help.", "bytes", NOW);
    assert_int_equal(km_mdstore_save(s, path, NOW), 0);
    n = read_bytes(good, sizeof(good));
    assert_true(n > 16 && n < sizeof(good));

    /* Empty, short, cut, longer, another magic, another version, bad checksum. */
    write_bytes("", 0);
    assert_refused(KM_ECORRUPT);
    write_bytes(good, 10);
    assert_refused(KM_ECORRUPT);
    write_bytes(good, n - 1);
    assert_refused(KM_ECORRUPT);
    memcpy(copy, good, n);
    copy[n] = 0;
    write_bytes(copy, n + 1);
    assert_refused(KM_ECORRUPT);
    memcpy(copy, good, n);
    copy[0] = 'X';
    write_bytes(copy, n);
    assert_refused(KM_ECORRUPT);
    memcpy(copy, good, n);
    copy[4] = 2;
    write_bytes(copy, n);
    assert_refused(KM_ECORRUPT);
    memcpy(copy, good, n);
    copy[n - 1] ^= 1;
    write_bytes(copy, n);
    assert_refused(KM_ECORRUPT);

    /* Any one byte changed, any length cut: refused or (never) read as something else,
     * never a crash. */
    for (size_t i = 0; i < n; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            memcpy(copy, good, n);
            copy[i] ^= (unsigned char)(1u << bit);
            write_bytes(copy, n);
            assert_refused(KM_ECORRUPT);
        }
    }

    /* Right checksums around payloads that break the format's rules. */
    {
        static const struct {
            const char *p;
            size_t n;
        } bad[] = {
            { "\x01\x03"
              "a-b\x02\x00\x00\x00",
              9 },                             /* an invalid metric name */
            { "\x01\x00\x02\x00\x00\x00", 6 }, /* an empty name */
            { "\x01\x01"
              "a\x09\x00\x00\x00",
              7 }, /* type 9 */
            { "\x01\x01"
              "a\x02\x02\xff\xfe\x00\x00",
              9 }, /* help not UTF-8 */
            { "\x01\x01"
              "a\x02\x01\x00\x00\x00",
              8 }, /* a NUL in the help */
            { "\x02\x01"
              "a\x02\x00\x00\x00",
              7 }, /* fewer entries than said */
            { "\x01\x01"
              "a\x02\x00\x00\x00\x00",
              8 }, /* bytes after the entries */
            { "\x01\x01"
              "a\x02\x00\x00\x80",
              7 },                             /* a varint cut short */
            { "\x01\xff\xff\xff\xff\x0f", 6 }, /* a name longer than the file */
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            write_with_payload((const unsigned char *)bad[i].p, bad[i].n);
            assert_refused(KM_ECORRUPT);
        }
        /* And the same framing around a good payload is read. */
        write_with_payload((const unsigned char *)"\x01\x01"
                                                  "a\x02\x00\x00\x00",
                           7);
        assert_int_equal(km_mdstore_load(s, path, NOW), 0);
        assert_string_equal(list(s, NULL, NOW), "a|gauge||\n");
    }
    km_mdstore_destroy(s);
}

/* A file written under bigger bounds is read within the reader's: cut and counted. */
static void test_bounds_apply_when_reading(void **state)
{
    struct km_mdstore *s = create(0, 0, 0, 0, 0), *r = create(2, 1, 3, 0, 0);
    struct km_mdstore_stats st;

    (void)state;
    put(s, "a", KM_METRIC_GAUGE, "long help", "", NOW);
    put(s, "a", KM_METRIC_COUNTER, "x", "", NOW - 1);
    put(s, "b", KM_METRIC_GAUGE, "", "", NOW);
    put(s, "c", KM_METRIC_GAUGE, "", "", NOW);
    assert_int_equal(km_mdstore_save(s, path, NOW), 0);
    assert_int_equal(km_mdstore_load(r, path, NOW), 0);
    assert_string_equal(list(r, NULL, NOW), "a|gauge|lon|\nb|gauge||\n");
    km_mdstore_stats(r, &st);
    assert_int_equal(st.refused_names, 1);
    assert_int_equal(st.truncated, 1);
    assert_int_equal(st.evicted, 1);
    km_mdstore_destroy(s);
    km_mdstore_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kept_once_listed_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing_stops_when_asked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entries_per_name_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_bound_cuts_at_a_character, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bytes_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_saved_and_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_failure_keeps_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds_apply_when_reading, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
