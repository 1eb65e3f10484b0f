/*
 * mcp_rpc — JSON-RPC 2.0 framing for the MCP endpoint: a request body read into its
 * messages (one object, or a batch array where the protocol revision allows it), each
 * classified as a request, a notification or a response, with the error JSON-RPC gives
 * for what is malformed; and the response objects written back. Pure: no HTTP, no
 * server state, safe from any thread.
 *
 * Ownership: a parsed body owns its JSON (jansson); the messages borrow from it. The
 * response builders return new references the caller owns.
 */
#ifndef KMON_SERVER_MCP_MCP_RPC_H
#define KMON_SERVER_MCP_MCP_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* JSON-RPC's standard error codes, and MCP's "resource not found". */
#define KM_MCP_PARSE_ERROR      (-32700)
#define KM_MCP_INVALID_REQUEST  (-32600)
#define KM_MCP_METHOD_NOT_FOUND (-32601)
#define KM_MCP_INVALID_PARAMS   (-32602)
#define KM_MCP_INTERNAL_ERROR   (-32603)
#define KM_MCP_NO_RESOURCE      (-32002)

/* Messages one batch may hold at most (more: the whole body is an invalid request). */
#define KM_MCP_MAX_BATCH 64

enum km_mcp_kind {
    KM_MCP_REQUEST,      /* method and id: answered */
    KM_MCP_NOTIFICATION, /* method, no id: never answered */
    KM_MCP_RESPONSE,     /* result or error from the client: taken, never answered */
    KM_MCP_INVALID,      /* answered with `code` and `msg` (id when one could be read) */
};

struct km_mcp_msg {
    enum km_mcp_kind kind;
    json_t *id;         /* borrowed; NULL when absent or unreadable */
    const char *method; /* borrowed; NULL unless a request or notification */
    json_t *params;     /* borrowed object; NULL when absent */
    int code;           /* KM_MCP_INVALID: the error */
    const char *msg;
};

struct km_mcp_body {
    json_t *root; /* owned */
    bool batch;   /* the body was an array: answer with an array */
    struct km_mcp_msg m[KM_MCP_MAX_BATCH];
    size_t n;
    /* When the body as a whole is in error (not JSON, an empty or too long batch, a
     * batch where the revision takes none): the one error to answer, with a null id. */
    int code;
    char msg[256];
};

/* Read body[0..len). Returns 0 with out->code 0 and the messages in out->m, or
 * out->code set (KM_MCP_PARSE_ERROR, KM_MCP_INVALID_REQUEST) and out->msg saying why;
 * either way release with km_mcp_body_fini(). allow_batch: the revision in use takes
 * arrays of messages (2025-03-26 does, 2025-06-18 does not). */
void km_mcp_body_parse(struct km_mcp_body *out, const char *body, size_t len, bool allow_batch);
void km_mcp_body_fini(struct km_mcp_body *b);

/* {"jsonrpc":"2.0","id":id,"result":result}; takes the reference to result. NULL on
 * out of memory. */
json_t *km_mcp_result(json_t *id, json_t *result);
/* {"jsonrpc":"2.0","id":id or null,"error":{"code":code,"message":msg}}. */
json_t *km_mcp_error(json_t *id, int code, const char *msg);

#endif
