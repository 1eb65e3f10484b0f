/*
 * mcp_rpc — JSON-RPC 2.0 framing (see mcp_rpc.h).
 *
 * A message is read as JSON-RPC 2.0 and MCP read it: an object with "jsonrpc": "2.0";
 * a request has a string "method" and an "id" that is a string or a number (MCP forbids
 * null); a notification has the method and no id; "params", when present, is an object
 * (MCP never sends positional params). An object with "result" or "error" and an id is
 * a response to something the server asked (kmon asks nothing: it is dropped).
 */
#include "mcp_rpc.h"

#include <stdio.h>
#include <string.h>

static void set_invalid(struct km_mcp_msg *m, int code, const char *msg)
{
    m->kind = KM_MCP_INVALID;
    m->code = code;
    m->msg = msg;
}

static void classify(struct km_mcp_msg *m, json_t *o)
{
    json_t *v, *id, *params;

    memset(m, 0, sizeof(*m));
    if (!json_is_object(o)) {
        set_invalid(m, KM_MCP_INVALID_REQUEST, "a JSON-RPC message must be an object");
        return;
    }
    id = json_object_get(o, "id");
    if (id && (json_is_string(id) || json_is_number(id)))
        m->id = id;
    v = json_object_get(o, "jsonrpc");
    if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0) {
        set_invalid(m, KM_MCP_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"");
        return;
    }
    v = json_object_get(o, "method");
    if (!v) {
        if ((json_object_get(o, "result") || json_object_get(o, "error")) && m->id) {
            m->kind = KM_MCP_RESPONSE;
            return;
        }
        set_invalid(m, KM_MCP_INVALID_REQUEST, "a request needs a \"method\"");
        return;
    }
    if (!json_is_string(v)) {
        set_invalid(m, KM_MCP_INVALID_REQUEST, "\"method\" must be a string");
        return;
    }
    if (id && !m->id) {
        set_invalid(m, KM_MCP_INVALID_REQUEST, "\"id\" must be a string or a number");
        return;
    }
    params = json_object_get(o, "params");
    if (params && !json_is_object(params)) {
        set_invalid(m, KM_MCP_INVALID_REQUEST, "\"params\" must be an object");
        return;
    }
    m->method = json_string_value(v);
    m->params = params;
    m->kind = m->id ? KM_MCP_REQUEST : KM_MCP_NOTIFICATION;
}

void km_mcp_body_parse(struct km_mcp_body *out, const char *body, size_t len, bool allow_batch)
{
    json_error_t err;

    memset(out, 0, sizeof(*out));
    out->root = json_loadb(body, len, JSON_DECODE_ANY, &err);
    if (!out->root) {
        out->code = KM_MCP_PARSE_ERROR;
        snprintf(out->msg, sizeof(out->msg), "Parse error: %.160s (line %d, column %d)", err.text,
                 err.line, err.column);
        return;
    }
    if (!json_is_array(out->root)) {
        out->n = 1;
        classify(&out->m[0], out->root);
        return;
    }
    out->batch = true;
    if (!allow_batch) {
        out->code = KM_MCP_INVALID_REQUEST;
        snprintf(out->msg, sizeof(out->msg),
                 "batches of messages are not accepted by MCP revision 2025-06-18: send one "
                 "message per request");
        return;
    }
    if (json_array_size(out->root) == 0 || json_array_size(out->root) > KM_MCP_MAX_BATCH) {
        out->code = KM_MCP_INVALID_REQUEST;
        snprintf(out->msg, sizeof(out->msg), "a batch must hold 1 to %d messages",
                 KM_MCP_MAX_BATCH);
        return;
    }
    out->n = json_array_size(out->root);
    for (size_t i = 0; i < out->n; i++)
        classify(&out->m[i], json_array_get(out->root, i));
}

void km_mcp_body_fini(struct km_mcp_body *b)
{
    json_decref(b->root);
    b->root = NULL;
    b->n = 0;
}

json_t *km_mcp_result(json_t *id, json_t *result)
{
    /* "o" takes the reference to result, also when packing fails. */
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "result",
                     result);
}

json_t *km_mcp_error(json_t *id, int code, const char *msg)
{
    json_t *e = json_pack("{s:i,s:s}", "code", code, "message", msg);

    if (!e)
        return NULL;
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", e);
}
