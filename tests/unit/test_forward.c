/*
 * Unit tests: the forwarder's write_relabel_configs (each action with Prometheus'
 * semantics: anchored regexes, defaults, $-expansion as Go's Regexp.Expand, empty results
 * removing a label) and its remote_write YAML (defaults, names, and the errors a user
 * sees, each naming its line).
 */
#include "common/err.h"
#include "server/forward/fwd_config.h"
#include "server/forward/relabel.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- relabelling ------------------------------------------------------------------------ */

#define MAX_RULES 8

/* Rules from a YAML remote_write entry, the way a user writes them. */
static struct km_fwd_config rules_of(const char *yaml_rules)
{
    struct km_fwd_config c = { 0 };
    char text[4096];
    int rc;

    snprintf(text, sizeof(text),
             "remote_write:\n  - url: http://h/api/v1/write\n    write_relabel_configs:\n%s",
             yaml_rules);
    rc = km_fwd_config_parse(&c, text, strlen(text), "t.yml");
    if (rc)
        fail_msg("%s", km_err_msg());
    assert_int_equal(c.n, 1);
    return c;
}

/* Apply the rules to "name=value,name=value" (sorted) and render the result the same
 * way; "DROPPED" when the series is dropped. */
static const char *relabel(const char *yaml_rules, const char *in, char *out, size_t size)
{
    struct km_fwd_config c = rules_of(yaml_rules);
    struct km_relabel_scratch *sc = malloc(sizeof(*sc));
    struct km_label l[16];
    char buf[512], *save = NULL;
    size_t n = 0, k = 0;

    assert_non_null(sc);
    snprintf(buf, sizeof(buf), "%s", in);
    for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(p, '=');

        *eq = '\0';
        l[n++] = (struct km_label){ p, eq + 1 };
    }
    km_labels_sort(l, n);
    km_relabel_scratch_init(sc);
    if (!km_relabel_apply(c.d[0].relabel, c.d[0].nrelabel, l, n, sc)) {
        snprintf(out, size, "DROPPED");
    } else {
        out[0] = '\0';
        for (size_t i = 0; i < sc->n; i++)
            k += (size_t)snprintf(out + k, size - k, "%s%s=%s", i ? "," : "", sc->v[i].name,
                                  sc->v[i].value);
    }
    km_relabel_scratch_fini(sc);
    free(sc);
    km_fwd_config_free(&c);
    return out;
}

#define ASSERT_RELABEL(rules, in, want)                                                            \
    do {                                                                                           \
        char got_[512];                                                                            \
        assert_string_equal(relabel(rules, in, got_, sizeof(got_)), want);                         \
    } while (0)

static void test_replace_defaults(void **state)
{
    (void)state;
    /* Source values joined with ';', default regex (.*), replacement $1. */
    ASSERT_RELABEL("      - source_labels: [a, b]\n        target_label: c\n", "__name__=m,a=x,b=y",
                   "__name__=m,a=x,b=y,c=x;y");
    /* A missing source label is the empty string. */
    ASSERT_RELABEL("      - source_labels: [a, nope]\n        target_label: c\n", "__name__=m,a=x",
                   "__name__=m,a=x,c=x;");
    /* Another separator; an existing target is overwritten. */
    ASSERT_RELABEL("      - source_labels: [a, b]\n        separator: '-'\n"
                   "        target_label: a\n",
                   "__name__=m,a=x,b=y", "__name__=m,a=x-y,b=y");
}

static void test_replace_expansion(void **state)
{
    (void)state;
    /* ${1} and $name (named groups), literal text around them. */
    ASSERT_RELABEL("      - source_labels: [pod]\n        regex: 'p(\\d+)-(?P<zone>[a-z]+)'\n"
                   "        target_label: x\n        replacement: 'n${1}_$zone'\n",
                   "__name__=m,pod=p12-eu", "__name__=m,pod=p12-eu,x=n12_eu");
    /* $1x names group "1x", which does not exist: empty, so the target is removed. */
    ASSERT_RELABEL("      - source_labels: [pod]\n        regex: 'p(\\d+)'\n"
                   "        target_label: pod\n        replacement: '$1x'\n",
                   "__name__=m,pod=p12", "__name__=m");
    /* $$ is a dollar; a $ not followed by a name is text. */
    ASSERT_RELABEL("      - source_labels: [a]\n        target_label: b\n"
                   "        replacement: '$$1 $ $}'\n",
                   "__name__=m,a=v", "__name__=m,a=v,b=$1 $ $}");
    /* The target label is expanded too; an invalid name after expansion: no change. */
    ASSERT_RELABEL("      - source_labels: [a]\n        regex: '(.*)'\n"
                   "        target_label: 'lbl_$1'\n        replacement: yes\n",
                   "__name__=m,a=v", "__name__=m,a=v,lbl_v=yes");
    ASSERT_RELABEL("      - source_labels: [a]\n        target_label: '$1'\n"
                   "        replacement: yes\n",
                   "__name__=m,a=1-bad", "__name__=m,a=1-bad");
}

static void test_replace_anchored_and_empty(void **state)
{
    (void)state;
    /* The regex must match the whole value: "oo" does not match "foo". */
    ASSERT_RELABEL("      - source_labels: [a]\n        regex: oo\n        target_label: b\n"
                   "        replacement: hit\n",
                   "__name__=m,a=foo", "__name__=m,a=foo");
    /* An alternation is anchored as a whole. */
    ASSERT_RELABEL("      - source_labels: [a]\n        regex: 'x|fo'\n        target_label: b\n"
                   "        replacement: hit\n",
                   "__name__=m,a=foo", "__name__=m,a=foo");
    /* An empty result removes the target. */
    ASSERT_RELABEL("      - target_label: team\n        replacement: ''\n", "__name__=m,team=a,z=1",
                   "__name__=m,z=1");
    /* Setting a label to a value sorts it in. */
    ASSERT_RELABEL("      - target_label: b\n        replacement: v\n", "__name__=m,c=1,a=2",
                   "__name__=m,a=2,b=v,c=1");
}

static void test_keep_drop(void **state)
{
    (void)state;
    static const char keep[] = "      - source_labels: [__name__]\n        regex: 'up|node_.*'\n"
                               "        action: keep\n";
    static const char drop[] = "      - source_labels: [env, tier]\n        regex: 'dev;.*'\n"
                               "        action: drop\n";

    ASSERT_RELABEL(keep, "__name__=up,a=1", "__name__=up,a=1");
    ASSERT_RELABEL(keep, "__name__=node_load1", "__name__=node_load1");
    ASSERT_RELABEL(keep, "__name__=upx", "DROPPED");
    ASSERT_RELABEL(drop, "__name__=m,env=dev,tier=web", "DROPPED");
    ASSERT_RELABEL(drop, "__name__=m,env=dev", "DROPPED"); /* "dev;" */
    ASSERT_RELABEL(drop, "__name__=m,env=dev2,tier=web", "__name__=m,env=dev2,tier=web");
    /* keep with the default regex keeps everything; keep of an absent label matches "". */
    ASSERT_RELABEL("      - source_labels: [nope]\n        regex: ''\n        action: keep\n",
                   "__name__=m", "__name__=m");
}

static void test_labeldrop_labelkeep(void **state)
{
    (void)state;
    ASSERT_RELABEL("      - regex: 'secret_.*|pod'\n        action: labeldrop\n",
                   "__name__=m,pod=p,secret_a=1,secret_b=2,zone=z", "__name__=m,zone=z");
    /* The name regex is anchored: "pod" does not drop "pods". */
    ASSERT_RELABEL("      - regex: pod\n        action: labeldrop\n", "__name__=m,pods=1",
                   "__name__=m,pods=1");
    ASSERT_RELABEL("      - regex: '__name__|job'\n        action: labelkeep\n",
                   "__name__=m,instance=i,job=j", "__name__=m,job=j");
    /* Nothing left: dropped. */
    ASSERT_RELABEL("      - regex: 'x'\n        action: labelkeep\n", "__name__=m,a=1", "DROPPED");
}

static void test_other_actions(void **state)
{
    (void)state;
    ASSERT_RELABEL("      - regex: 'meta_(.+)'\n        action: labelmap\n",
                   "__name__=m,meta_team=a,x=1", "__name__=m,meta_team=a,team=a,x=1");
    ASSERT_RELABEL("      - source_labels: [a]\n        target_label: b\n"
                   "        action: lowercase\n",
                   "__name__=m,a=MiXed", "__name__=m,a=MiXed,b=mixed");
    ASSERT_RELABEL("      - source_labels: [a]\n        target_label: a\n"
                   "        action: uppercase\n",
                   "__name__=m,a=MiXed", "__name__=m,a=MIXED");
    ASSERT_RELABEL("      - source_labels: [a]\n        target_label: b\n"
                   "        action: keepequal\n",
                   "__name__=m,a=1,b=2", "DROPPED");
    ASSERT_RELABEL("      - source_labels: [a]\n        target_label: b\n"
                   "        action: dropequal\n",
                   "__name__=m,a=1,b=2", "__name__=m,a=1,b=2");
    /* Rules apply in order: a replace feeds a keep. */
    ASSERT_RELABEL("      - source_labels: [a]\n        target_label: k\n"
                   "        replacement: 'yes'\n"
                   "      - source_labels: [k]\n        regex: 'yes'\n        action: keep\n",
                   "__name__=m,a=1", "__name__=m,a=1,k=yes");
}

/* ---- the YAML ---------------------------------------------------------------------------- */

/* The error parsing `text` gives (a copy), or NULL when it parses. */
static char *parse_error(const char *text)
{
    struct km_fwd_config c = { 0 };
    int rc = km_fwd_config_parse(&c, text, strlen(text), "rw.yml");

    if (rc == 0)
        rc = km_fwd_config_finish(&c);
    km_fwd_config_free(&c);
    return rc ? strdup(km_err_msg()) : NULL;
}

#define ASSERT_ERROR(text, ...)                                                                    \
    do {                                                                                           \
        char *msg_ = parse_error(text);                                                            \
        const char *want_[] = { __VA_ARGS__ };                                                     \
        if (!msg_)                                                                                 \
            fail_msg("no error for:\n%s", text);                                                   \
        for (size_t i_ = 0; i_ < sizeof(want_) / sizeof(want_[0]); i_++)                           \
            if (!strstr(msg_, want_[i_]))                                                          \
                fail_msg("\"%s\" not in: %s", want_[i_], msg_);                                    \
        free(msg_);                                                                                \
    } while (0)

static void test_config_full(void **state)
{
    static const char text[] =
        "global:\n  scrape_interval: 15s\n"
        "remote_write:\n"
        "  - url: https://user:pw@mimir.example:443/api/v1/push\n"
        "    name: mimir\n"
        "    remote_timeout: 10s\n"
        "    headers:\n      X-Scope-OrgID: edge-1\n"
        "    authorization:\n      type: Bearer\n      credentials_file: /run/token\n"
        "    tls_config:\n      ca_file: /ca.pem\n      cert_file: /c.pem\n      key_file: "
        "/k.pem\n"
        "    queue_config:\n      capacity: 5000\n      max_shards: 10\n"
        "      max_samples_per_send: 100\n      batch_send_deadline: 1s\n"
        "      min_backoff: 100ms\n      max_backoff: 10s\n"
        "    metadata_config:\n      send: false\n"
        "  - url: http://10.0.0.1:8428/api/v1/write\n"
        "    bearer_token_file: /t2\n";
    struct km_fwd_config c = { 0 };

    (void)state;
    assert_int_equal(km_fwd_config_parse(&c, text, sizeof(text) - 1, "rw.yml"), 0);
    assert_int_equal(km_fwd_config_add_url(&c, "http://other:9090/api/v1/write"), 0);
    assert_int_equal(km_fwd_config_finish(&c), 0);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.d[0].name, "mimir");
    assert_string_equal(c.d[0].url_label, "https://mimir.example:443/api/v1/push");
    assert_string_equal(c.d[0].token_file, "/run/token");
    assert_string_equal(c.d[0].ca_file, "/ca.pem");
    assert_string_equal(c.d[0].cert_file, "/c.pem");
    assert_string_equal(c.d[0].key_file, "/k.pem");
    assert_int_equal(c.d[0].nheaders, 1);
    assert_string_equal(c.d[0].headers[0], "X-Scope-OrgID: edge-1");
    assert_int_equal(c.d[0].capacity, 5000);
    assert_int_equal(c.d[0].max_samples_per_send, 100);
    assert_int_equal(c.d[0].batch_send_deadline_ms, 1000);
    assert_int_equal(c.d[0].min_backoff_ms, 100);
    assert_int_equal(c.d[0].max_backoff_ms, 10000);
    assert_int_equal(c.d[0].remote_timeout_ms, 10000);
    /* Defaults, and a name made from the URL. */
    assert_string_equal(c.d[1].name, "10.0.0.1_8428_api_v1_write");
    assert_string_equal(c.d[1].token_file, "/t2");
    assert_int_equal(c.d[1].capacity, KM_FWD_DEF_CAPACITY);
    assert_int_equal(c.d[1].max_samples_per_send, KM_FWD_DEF_MAX_PER_SEND);
    assert_int_equal(c.d[1].remote_timeout_ms, KM_FWD_DEF_TIMEOUT_MS);
    assert_string_equal(c.d[2].name, "other_9090_api_v1_write");
    km_fwd_config_free(&c);
}

static void test_config_errors(void **state)
{
    (void)state;
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    queue_config:\n      colour: blue\n",
                 "rw.yml:4:", "unknown key \"colour\" in queue_config");
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    urls: x\n",
                 "rw.yml:3:", "unknown key \"urls\"");
    ASSERT_ERROR("remote_writes:\n  - url: http://h/w\n", "rw.yml:1:", "remote_writes");
    ASSERT_ERROR("remote_write:\n  - name: a\n", "rw.yml:2:", "needs a url");
    ASSERT_ERROR("remote_write:\n  - url: ftp://h/w\n", "rw.yml:2:", "not an http");
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    write_relabel_configs:\n"
                 "      - source_labels: [a]\n        action: replace\n",
                 "rw.yml:4:", "requires a target_label");
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    write_relabel_configs:\n"
                 "      - source_labels: [a]\n        action: labeldrop\n",
                 "rw.yml:4:", "takes only a regex");
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    write_relabel_configs:\n"
                 "      - action: keep\n        regex: '('\n",
                 "rw.yml:4:", "bad regular expression");
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    write_relabel_configs:\n"
                 "      - action: hashmod\n",
                 "rw.yml:4:", "unknown relabel action \"hashmod\"");
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    write_relabel_configs:\n"
                 "      - source_labels: [a]\n        target_label: b\n        colour: x\n",
                 "rw.yml:6:", "unknown key \"colour\"");
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    basic_auth:\n      username: u\n",
                 "rw.yml:3:", "basic_auth is not supported");
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    authorization:\n      credentials: s\n",
                 "rw.yml:4:", "credentials_file");
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    queue_config:\n      capacity: -1\n",
                 "rw.yml:4:", "capacity");
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    remote_timeout: soon\n",
                 "rw.yml:3:", "not a duration");
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    name: a/b\n", "rw.yml:3:", "name");
    ASSERT_ERROR("remote_write:\n  - url: http://h/w\n    name: x\n  - url: http://g/w\n"
                 "    name: x\n",
                 "named \"x\"");
    ASSERT_ERROR("remote_write:\n  - url: [\n", "rw.yml:");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace_defaults),
        cmocka_unit_test(test_replace_expansion),
        cmocka_unit_test(test_replace_anchored_and_empty),
        cmocka_unit_test(test_keep_drop),
        cmocka_unit_test(test_labeldrop_labelkeep),
        cmocka_unit_test(test_other_actions),
        cmocka_unit_test(test_config_full),
        cmocka_unit_test(test_config_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
