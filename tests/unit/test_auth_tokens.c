/*
 * test_auth_tokens — the token file's parser (what it loads, and the message naming the
 * line for each thing it refuses) and the digest lookup (constant-time compare, every
 * digest visited).
 */
#include "common/err.h"
#include "server/auth/auth.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* SHA-256 of "t1" and of "t2", in hex. */
static void hex_of(const char *tok, char *out)
{
    unsigned char h[32];

    assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA256, tok, strlen(tok), h), 0);
    for (size_t i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

static int parse(struct km_auth_token_set *s, const char *text)
{
    return km_auth_tokens_parse(s, "t.yaml", text, strlen(text));
}

static void expect_error(const char *text, const char *want)
{
    struct km_auth_token_set s;

    assert_int_equal(parse(&s, text), KM_EINVAL);
    assert_int_equal(s.n, 0);
    if (!strstr(km_err_msg(), want))
        fail_msg("got \"%s\", want \"%s\"", km_err_msg(), want);
}

static void test_loads_every_scope(void **state)
{
    char h1[65], h2[65], h3[65], h4[65], text[1024];
    struct km_auth_token_set s;

    (void)state;
    hex_of("t1", h1);
    hex_of("t2", h2);
    hex_of("t3", h3);
    hex_of("t4", h4);
    snprintf(text, sizeof(text),
             "tokens:\n"
             "  - {name: edge-a, sha256: %s, scope: write, cluster: a}\n"
             "  - name: viewer\n    sha256: %s\n    scope: read\n    clusters: [a, \"b.c\"]\n"
             "  - name: ops\n    sha256: %s\n    scope: admin\n"
             "  - {name: all, sha256: %s, scope: read}\n",
             h1, h2, h3, h4);
    assert_int_equal(parse(&s, text), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.t[0].name, "edge-a");
    assert_int_equal(s.t[0].scope, KM_AUTH_WRITE);
    assert_int_equal(s.t[0].nclusters, 1);
    assert_string_equal(s.t[0].clusters[0], "a");
    assert_int_equal(s.t[1].scope, KM_AUTH_READ);
    assert_int_equal(s.t[1].nclusters, 2);
    assert_string_equal(s.t[1].clusters[1], "b.c");
    assert_int_equal(s.t[1].line, 3);
    assert_int_equal(s.t[2].scope, KM_AUTH_ADMIN);
    assert_int_equal(s.t[2].nclusters, 0);
    assert_int_equal(s.t[3].nclusters, 0);

    assert_int_equal(km_auth_token_find(&s, "t1", 2), 0);
    assert_int_equal(km_auth_token_find(&s, "t2", 2), 1);
    assert_int_equal(km_auth_token_find(&s, "t4", 2), 3);
    assert_int_equal(km_auth_token_find(&s, "t5", 2), -1);
    assert_int_equal(km_auth_token_find(&s, "t", 1), -1);
    assert_int_equal(km_auth_token_find(&s, "", 0), -1);
    km_auth_token_set_fini(&s);
}

static void test_upper_case_hex_and_one_read_cluster(void **state)
{
    char h[65], text[256];
    struct km_auth_token_set s;

    (void)state;
    hex_of("tok", h);
    for (char *c = h; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    snprintf(text, sizeof(text), "tokens:\n- {name: r, sha256: %s, scope: read, cluster: x}\n", h);
    assert_int_equal(parse(&s, text), 0);
    assert_int_equal(s.t[0].nclusters, 1);
    assert_int_equal(km_auth_token_find(&s, "tok", 3), 0);
    km_auth_token_set_fini(&s);
}

static void test_refuses_with_the_line(void **state)
{
    char h[65], h2[65], text[1024];

    (void)state;
    hex_of("t1", h);
    hex_of("t2", h2);
    expect_error("", "t.yaml: line 1: the file is empty");
    expect_error("tokens: [\n", "t.yaml: line 2:");
    expect_error("tokens: {}\n", "\"tokens\" must be a list");
    expect_error("tokens: []\n", "no tokens");
    expect_error("users: []\n", "line 1: unknown key \"users\"");
    expect_error("tokens:\n  - name: a\n    sha256: abc\n    scope: read\n",
                 "t.yaml: line 3: sha256 must be 64 hexadecimal digits");
    snprintf(text, sizeof(text), "tokens:\n  - name: a\n    sha256: %.63sg\n    scope: read\n", h);
    expect_error(text, "line 3: sha256 holds a character that is not a hexadecimal digit");
    snprintf(text, sizeof(text), "tokens:\n  - name: a\n    sha256: %s\n    scope: root\n", h);
    expect_error(text, "line 2: token \"a\": unknown scope \"root\"");
    snprintf(text, sizeof(text), "tokens:\n  - name: a\n    sha256: %s\n    scope: write\n", h);
    expect_error(text, "line 2: token \"a\": a write token is bound to one cluster");
    snprintf(text, sizeof(text),
             "tokens:\n  - name: a\n    sha256: %s\n    scope: write\n    clusters: [a]\n", h);
    expect_error(text, "a write token is bound to one cluster");
    snprintf(text, sizeof(text),
             "tokens:\n  - name: a\n    sha256: %s\n    scope: admin\n    cluster: a\n", h);
    expect_error(text, "an admin token reads and writes every cluster");
    snprintf(text, sizeof(text),
             "tokens:\n  - name: a\n    sha256: %s\n    scope: read\n    tenant: x\n", h);
    expect_error(text, "line 5: unknown key \"tenant\"");
    snprintf(text, sizeof(text),
             "tokens:\n  - name: a\n    sha256: %s\n    scope: read\n    clusters: []\n", h);
    expect_error(text, "an empty clusters list");
    snprintf(text, sizeof(text),
             "tokens:\n  - name: a\n    sha256: %s\n    scope: read\n    clusters: [a, a]\n", h);
    expect_error(text, "cluster \"a\" listed twice");
    snprintf(text, sizeof(text),
             "tokens:\n  - {name: a, sha256: %s, scope: read}\n"
             "  - {name: a, sha256: %s, scope: read}\n",
             h, h2);
    expect_error(text, "t.yaml: line 3: duplicate token name \"a\" (first at line 2)");
    snprintf(text, sizeof(text),
             "tokens:\n  - {name: a, sha256: %s, scope: read}\n"
             "  - {name: b, sha256: %s, scope: read}\n",
             h, h);
    expect_error(text, "line 3: token \"b\" has the same sha256 as the token at line 2");
    snprintf(text, sizeof(text), "tokens:\n  - {sha256: %s, scope: read}\n", h);
    expect_error(text, "line 2: a token needs a name");
    expect_error("tokens:\n  - {name: a, scope: read}\n", "token \"a\" needs sha256");
    snprintf(text, sizeof(text), "tokens:\n  - {name: a, sha256: %s}\n", h);
    expect_error(text, "token \"a\" needs a scope");
    snprintf(text, sizeof(text), "tokens:\n  - {name: a, name: b, sha256: %s, scope: read}\n", h);
    expect_error(text, "key \"name\" given twice");
    expect_error("tokens:\n  - just-a-string\n", "line 2: a token must be a mapping");
}

static void test_load_names_a_missing_file(void **state)
{
    struct km_auth_token_set s;

    (void)state;
    assert_int_equal(km_auth_tokens_load(&s, "/nonexistent/tokens.yaml"), KM_EIO);
    assert_non_null(strstr(km_err_msg(), "/nonexistent/tokens.yaml"));
}

static void test_digest_compare(void **state)
{
    unsigned char a[KM_AUTH_DIGEST_LEN], b[KM_AUTH_DIGEST_LEN];

    (void)state;
    memset(a, 0x5a, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_true(km_auth_digest_equal(a, b));
    for (size_t i = 0; i < KM_AUTH_DIGEST_LEN; i++) {
        b[i] ^= 1;
        assert_false(km_auth_digest_equal(a, b));
        b[i] ^= 1;
    }
    b[KM_AUTH_DIGEST_LEN - 1] = 0;
    assert_false(km_auth_digest_equal(a, b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_every_scope),
        cmocka_unit_test(test_upper_case_hex_and_one_read_cluster),
        cmocka_unit_test(test_refuses_with_the_line),
        cmocka_unit_test(test_load_names_a_missing_file),
        cmocka_unit_test(test_digest_compare),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
