/*
 * test_mcp_rpc — the MCP endpoint's JSON-RPC 2.0 framing (server/mcp/mcp_rpc.h): requests,
 * notifications and responses told apart; every malformed message and body answered with
 * JSON-RPC's code for it; batches only where the revision takes them; the answers' shape.
 */
#include "server/mcp/mcp_rpc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct km_mcp_body *parse(const char *text, bool batch)
{
    struct km_mcp_body *b = malloc(sizeof(*b));

    assert_non_null(b);
    km_mcp_body_parse(b, text, strlen(text), batch);
    return b;
}

static void done(struct km_mcp_body *b)
{
    km_mcp_body_fini(b);
    free(b);
}

static void test_request_and_notification(void **state)
{
    struct km_mcp_body *b =
        parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":{}}", false);

    (void)state;
    assert_int_equal(b->code, 0);
    assert_false(b->batch);
    assert_int_equal(b->n, 1);
    assert_int_equal(b->m[0].kind, KM_MCP_REQUEST);
    assert_string_equal(b->m[0].method, "tools/list");
    assert_int_equal(json_integer_value(b->m[0].id), 7);
    assert_true(json_is_object(b->m[0].params));
    done(b);

    b = parse("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", false);
    assert_int_equal(b->m[0].kind, KM_MCP_NOTIFICATION);
    assert_null(b->m[0].id);
    assert_null(b->m[0].params);
    done(b);

    b = parse("{\"jsonrpc\":\"2.0\",\"id\":\"s-1\",\"result\":{}}", false);
    assert_int_equal(b->m[0].kind, KM_MCP_RESPONSE);
    assert_string_equal(json_string_value(b->m[0].id), "s-1");
    done(b);
}

static void test_invalid_messages(void **state)
{
    static const char *const bad[] = {
        "5",
        "{\"id\":1,\"method\":\"ping\"}",                        /* no jsonrpc */
        "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",    /* wrong version */
        "{\"jsonrpc\":\"2.0\",\"id\":1}",                        /* neither method nor result */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":3}",           /* method not a string */
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", /* MCP forbids a null id */
        "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[1]}",
        "{\"jsonrpc\":\"2.0\",\"result\":{}}", /* a response without an id */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct km_mcp_body *b = parse(bad[i], false);

        assert_int_equal(b->code, 0);
        assert_int_equal(b->n, 1);
        assert_int_equal(b->m[0].kind, KM_MCP_INVALID);
        assert_int_equal(b->m[0].code, KM_MCP_INVALID_REQUEST);
        assert_non_null(b->m[0].msg);
        done(b);
    }
    /* The id is kept when it could be read, for the error's answer. */
    {
        struct km_mcp_body *b =
            parse("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"x\",\"params\":7}", false);

        assert_int_equal(json_integer_value(b->m[0].id), 4);
        done(b);
    }
}

static void test_whole_body_errors(void **state)
{
    struct km_mcp_body *b = parse("{\"jsonrpc\": \"2.0\", \"id\": 1,", false);

    (void)state;
    assert_int_equal(b->code, KM_MCP_PARSE_ERROR);
    assert_non_null(strstr(b->msg, "Parse error"));
    assert_int_equal(b->n, 0);
    done(b);

    b = parse("", true);
    assert_int_equal(b->code, KM_MCP_PARSE_ERROR);
    done(b);

    b = parse("[]", true);
    assert_int_equal(b->code, KM_MCP_INVALID_REQUEST);
    done(b);

    /* 2025-06-18 takes no batches. */
    b = parse("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", false);
    assert_int_equal(b->code, KM_MCP_INVALID_REQUEST);
    assert_non_null(strstr(b->msg, "2025-06-18"));
    done(b);
}

static void test_batches(void **state)
{
    struct km_mcp_body *b = parse("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                                  "{\"jsonrpc\":\"2.0\",\"method\":\"n\"},"
                                  "\"x\"]",
                                  true);
    char big[16 + (KM_MCP_MAX_BATCH + 1) * 4];
    size_t n = 0;

    (void)state;
    assert_int_equal(b->code, 0);
    assert_true(b->batch);
    assert_int_equal(b->n, 3);
    assert_int_equal(b->m[0].kind, KM_MCP_REQUEST);
    assert_int_equal(b->m[1].kind, KM_MCP_NOTIFICATION);
    assert_int_equal(b->m[2].kind, KM_MCP_INVALID);
    done(b);

    /* Past KM_MCP_MAX_BATCH messages: the whole body is refused. */
    big[n++] = '[';
    for (int i = 0; i <= KM_MCP_MAX_BATCH; i++)
        n += (size_t)sprintf(big + n, "%s1", i ? "," : "");
    big[n++] = ']';
    big[n] = '\0';
    b = parse(big, true);
    assert_int_equal(b->code, KM_MCP_INVALID_REQUEST);
    done(b);
}

static void test_answers(void **state)
{
    json_t *id = json_string("q");
    json_t *r = km_mcp_result(id, json_pack("{s:i}", "x", 1));
    char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);

    (void)state;
    assert_string_equal(s, "{\"id\":\"q\",\"jsonrpc\":\"2.0\",\"result\":{\"x\":1}}");
    free(s);
    json_decref(r);

    r = km_mcp_error(NULL, KM_MCP_METHOD_NOT_FOUND, "Method not found: x");
    s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"error\":{\"code\":-32601,\"message\":\"Method not found: x\"},"
                           "\"id\":null,\"jsonrpc\":\"2.0\"}");
    free(s);
    json_decref(r);

    /* A failed result (NULL) is no answer, and nothing leaks. */
    assert_null(km_mcp_result(id, NULL));
    json_decref(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_and_notification),
        cmocka_unit_test(test_invalid_messages),
        cmocka_unit_test(test_whole_body_errors),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_answers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
