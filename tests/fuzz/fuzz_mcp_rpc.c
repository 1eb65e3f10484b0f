/*
 * fuzz_mcp_rpc — the MCP endpoint's JSON-RPC framing (server/mcp/mcp_rpc.h) on arbitrary
 * bodies, with and without batches: it must never crash; a body in error says why with
 * one of JSON-RPC's codes and holds no messages; every message is classified, a request
 * with a method and an id, an invalid one with its code; and the answers built for them
 * are well-formed JSON-RPC.
 */
#include "fuzz_common.h"

#include "server/mcp/mcp_rpc.h"

static void check_body(const struct km_mcp_body *b)
{
    if (b->code) {
        CHECK(b->code == KM_MCP_PARSE_ERROR || b->code == KM_MCP_INVALID_REQUEST);
        CHECK(b->msg[0] != '\0');
        CHECK(b->n == 0);
        return;
    }
    CHECK(b->n >= 1 && b->n <= KM_MCP_MAX_BATCH);
    CHECK(b->batch || b->n == 1);
    for (size_t i = 0; i < b->n; i++) {
        const struct km_mcp_msg *m = &b->m[i];
        json_t *r;

        switch (m->kind) {
        case KM_MCP_REQUEST:
            CHECK(m->method && m->id);
            CHECK(json_is_string(m->id) || json_is_number(m->id));
            CHECK(!m->params || json_is_object(m->params));
            r = km_mcp_result(m->id, json_object());
            CHECK(r && json_equal(json_object_get(r, "id"), m->id));
            json_decref(r);
            break;
        case KM_MCP_NOTIFICATION:
            CHECK(m->method && !m->id);
            break;
        case KM_MCP_RESPONSE:
            CHECK(m->id && !m->method);
            break;
        case KM_MCP_INVALID:
            CHECK(m->code == KM_MCP_INVALID_REQUEST && m->msg);
            r = km_mcp_error(m->id, m->code, m->msg);
            CHECK(r && json_integer_value(json_object_get(json_object_get(r, "error"), "code")) ==
                           m->code);
            json_decref(r);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct km_mcp_body *b = malloc(sizeof(*b));

    if (!b)
        return 0;
    for (int batch = 0; batch < 2; batch++) {
        km_mcp_body_parse(b, (const char *)data, size, batch);
        check_body(b);
        km_mcp_body_fini(b);
    }
    free(b);
    return 0;
}
