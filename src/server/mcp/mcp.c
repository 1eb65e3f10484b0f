/*
 * mcp — the Streamable HTTP transport of MCP and its methods (see mcp.h).
 *
 * Every POST carries one JSON-RPC message (or, under revision 2025-03-26, a batch); the
 * answer is one application/json body (the transport lets a server answer so whenever
 * the client accepts JSON) or, when the POST held only notifications and responses, 202
 * with no body. GET /mcp (a stream of server-initiated messages) is not offered: 405.
 *
 * Sessions: initialize answers with an Mcp-Session-Id, 32 random hex digits and 16 more
 * that are a keyed hash of them under a secret drawn at start; a later request may send
 * it and a forged or stale one (another server process issued it) is answered 404, which
 * tells the client to initialize again. Nothing is stored per session (DELETE answers
 * 204 and forgets nothing, having nothing). Requests without the header are served too.
 *
 * Versions: initialize answers the client's protocolVersion when kmon speaks it, else
 * the newest kmon speaks. Later requests name theirs in MCP-Protocol-Version: one kmon
 * does not speak is 400; without the header the 2025-03-26 rules apply (batches).
 */
#include "mcp.h"
#include "mcp_internal.h"
#include "mcp_rpc.h"

#include "common/err.h"
#include "common/timefmt.h"
#include "server/server_internal.h"
#include "version.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Newest first: an unknown version asked for gets the first. */
static const char *const versions[] = { "2025-06-18", "2025-03-26", NULL };

#define SESSION_LEN 48

static const char instructions[] =
    "kmon monitors a Kubernetes cluster: node metrics (node_*), per-container cgroup metrics "
    "(container_*, labels namespace, pod, container, node), cluster state in "
    "kube-state-metrics form (kube_*), Kubernetes events and container logs (LogQL), and "
    "alerting rules. Start with cluster_overview, then top_pods/top_nodes, describe_pod and "
    "search_logs; promql_query and list_metrics answer anything else.";

/* ---- sessions ---------------------------------------------------------------------------- */

static uint64_t session_secret;
static pthread_once_t session_once = PTHREAD_ONCE_INIT;

static void session_init(void)
{
    if (getrandom(&session_secret, sizeof(session_secret), 0) != sizeof(session_secret))
        session_secret = (uint64_t)km_time_now_ns() ^ ((uint64_t)getpid() << 32);
}

static void session_sign(const char *rand_hex, char *out)
{
    pthread_once(&session_once, session_init);
    snprintf(out, 17, "%016llx", (unsigned long long)XXH64(rand_hex, 32, session_secret));
}

/* A new session id into out[SESSION_LEN + 1]. */
static void session_new(char *out)
{
    unsigned char r[16];
    char sig[17];

    if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
        uint64_t t = (uint64_t)km_time_now_ns();

        memcpy(r, &t, 8);
        memcpy(r + 8, &t, 8);
    }
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    session_sign(out, sig);
    memcpy(out + 32, sig, 17);
}

static bool session_valid(const char *id)
{
    char sig[17];

    if (strlen(id) != SESSION_LEN || strspn(id, "0123456789abcdef") != SESSION_LEN)
        return false;
    session_sign(id, sig);
    return memcmp(id + 32, sig, 16) == 0;
}

/* ---- answering --------------------------------------------------------------------------- */

static void respond_json(struct km_http_req *req, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    if (!text)
        km_http_respond_error(req, 500, "out of memory");
    else
        km_http_respond(req, status, "application/json", text, strlen(text));
    free(text);
}

/* An HTTP-level refusal, with a JSON-RPC error body (null id). */
static void respond_refusal(struct km_http_req *req, unsigned status, int code, const char *msg)
{
    json_t *e = km_mcp_error(NULL, code, msg);

    respond_json(req, status, e);
    json_decref(e);
}

/* ---- methods ------------------------------------------------------------------------------ */

static json_t *on_initialize(json_t *id, json_t *params)
{
    const char *want = json_string_value(json_object_get(params, "protocolVersion"));
    const char *v = versions[0];

    if (!want)
        return km_mcp_error(id, KM_MCP_INVALID_PARAMS,
                            "initialize needs params.protocolVersion (a string)");
    for (size_t i = 0; versions[i]; i++)
        if (strcmp(want, versions[i]) == 0)
            v = versions[i];
    return km_mcp_result(id,
                         json_pack("{s:s,s:{s:{s:b},s:{s:b,s:b},s:{s:b}},s:{s:s,s:s,s:s},s:s}",
                                   "protocolVersion", v, "capabilities", "tools", "listChanged", 0,
                                   "resources", "subscribe", 0, "listChanged", 0, "prompts",
                                   "listChanged", 0, "serverInfo", "name", "kmon", "title", "kmon",
                                   "version", KMON_VERSION, "instructions", instructions));
}

static json_t *tool_json(const struct km_mcp_tool *t)
{
    json_error_t e;
    json_t *schema = json_loads(t->schema, 0, &e);

    if (!schema)
        return NULL;
    return json_pack("{s:s,s:s,s:s,s:o}", "name", t->name, "title", t->title, "description",
                     t->description, "inputSchema", schema);
}

static const struct {
    const struct km_mcp_tool *t;
    const size_t *n;
} tables[] = {
    { km_mcp_tools_prom, &km_mcp_ntools_prom },
    { km_mcp_tools_k8s, &km_mcp_ntools_k8s },
    { km_mcp_tools_ops, &km_mcp_ntools_ops },
};

const struct km_mcp_tool *km_mcp_tool_find(const char *name)
{
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        for (size_t k = 0; k < *tables[i].n; k++)
            if (strcmp(tables[i].t[k].name, name) == 0)
                return &tables[i].t[k];
    return NULL;
}

static json_t *on_tools_list(json_t *id)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < sizeof(tables) / sizeof(tables[0]); i++) {
        for (size_t k = 0; k < *tables[i].n; k++) {
            json_t *t = tool_json(&tables[i].t[k]);

            if (!t || json_array_append_new(a, t)) {
                json_decref(a);
                return km_mcp_error(id, KM_MCP_INTERNAL_ERROR, "a tool's schema is broken");
            }
        }
    }
    return km_mcp_result(id, json_pack("{s:o}", "tools", a));
}

static void call_init(struct km_mcp_call *c, struct km_server *s, struct km_http_req *req)
{
    memset(c, 0, sizeof(*c));
    c->s = s;
    c->req = req;
    c->store = km_auth_storage(req, s->api.store, &c->av);
    c->now_ms = km_time_now_ns() / 1000000;
}

static json_t *tool_result(const char *text, bool is_error)
{
    return json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", text, "isError",
                     is_error);
}

static json_t *on_tools_call(json_t *id, json_t *params, struct km_server *s,
                             struct km_http_req *req)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    const struct km_mcp_tool *t;
    struct km_mcp_call c;
    struct km_buf err;
    json_t *out = NULL, *res;
    char *text;
    int rc;

    if (!name)
        return km_mcp_error(id, KM_MCP_INVALID_PARAMS, "tools/call needs params.name");
    t = km_mcp_tool_find(name);
    if (!t) {
        char msg[160];

        snprintf(msg, sizeof(msg), "Unknown tool: %.80s (tools/list names them)", name);
        return km_mcp_error(id, KM_MCP_INVALID_PARAMS, msg);
    }
    if (args && !json_is_object(args))
        return km_mcp_error(id, KM_MCP_INVALID_PARAMS, "params.arguments must be an object");
    if (!args)
        args = json_object();
    else
        json_incref(args);
    call_init(&c, s, req);
    km_buf_init(&err, 0);
    rc = t->call(&c, args, &out, &err);
    json_decref(args);
    if (rc) {
        res = tool_result(err.len ? km_buf_cstr(&err) : km_err_name(rc), true);
    } else {
        text = out ? json_dumps(out, JSON_COMPACT) : NULL;
        res = text ? tool_result(text, false) : NULL;
        free(text);
    }
    json_decref(out);
    km_buf_fini(&err);
    if (!res)
        return km_mcp_error(id, KM_MCP_INTERNAL_ERROR, "out of memory");
    return km_mcp_result(id, res);
}

/* The resources and prompts methods: their functions give a result or an error code. */
static json_t *answer(json_t *id, int rc, json_t *out, struct km_buf *err)
{
    json_t *r;

    if (rc)
        r = km_mcp_error(id, rc, err && err->len ? km_buf_cstr(err) : "internal error");
    else
        r = km_mcp_result(id, out);
    if (err)
        km_buf_fini(err);
    return r;
}

static json_t *dispatch(const struct km_mcp_msg *m, struct km_server *s, struct km_http_req *req)
{
    const char *me = m->method;
    json_t *p = m->params ? m->params : NULL;
    struct km_mcp_call c;
    struct km_buf err;
    json_t *out = NULL;

    if (strcmp(me, "initialize") == 0)
        return on_initialize(m->id, p);
    if (strcmp(me, "ping") == 0)
        return km_mcp_result(m->id, json_object());
    if (strcmp(me, "tools/list") == 0)
        return on_tools_list(m->id);
    if (strcmp(me, "tools/call") == 0)
        return on_tools_call(m->id, p, s, req);
    if (strcmp(me, "resources/list") == 0) {
        int rc = km_mcp_resources_list(&out);

        return answer(m->id, rc, out, NULL);
    }
    if (strcmp(me, "resources/templates/list") == 0)
        return km_mcp_result(m->id, json_pack("{s:[]}", "resourceTemplates"));
    if (strcmp(me, "prompts/list") == 0) {
        int rc = km_mcp_prompts_list(&out);

        return answer(m->id, rc, out, NULL);
    }
    km_buf_init(&err, 0);
    if (strcmp(me, "resources/read") == 0) {
        int rc;

        call_init(&c, s, req);
        rc = km_mcp_resource_read(&c, p, &out, &err);
        return answer(m->id, rc, out, &err);
    }
    if (strcmp(me, "prompts/get") == 0) {
        int rc = km_mcp_prompt_get(p, &out, &err);

        return answer(m->id, rc, out, &err);
    }
    km_buf_fini(&err);
    {
        char msg[160];

        snprintf(msg, sizeof(msg), "Method not found: %.100s", me);
        return km_mcp_error(m->id, KM_MCP_METHOD_NOT_FOUND, msg);
    }
}

/* ---- the transport ------------------------------------------------------------------------ */

/* A header naming a media type among a list ("application/json, text/event-stream"). */
static bool header_has(const char *h, const char *type)
{
    size_t n = strlen(type);

    for (const char *p = h; p && *p;) {
        p += strspn(p, " \t,");
        if (strncasecmp(p, type, n) == 0 && (p[n] == '\0' || strchr(" \t,;", p[n])))
            return true;
        p = strchr(p, ',');
    }
    return false;
}

/* The checks of the transport before the body is read; false after answering. */
static bool transport_ok(struct km_http_req *req, bool *allow_batch, bool *has_session)
{
    const char *accept = km_http_req_header(req, "Accept");
    const char *ctype = km_http_req_header(req, "Content-Type");
    const char *ver = km_http_req_header(req, "MCP-Protocol-Version");
    const char *sid = km_http_req_header(req, "Mcp-Session-Id");
    bool known = false;

    if (accept && !header_has(accept, "application/json") && !header_has(accept, "*/*") &&
        !header_has(accept, "application/*")) {
        respond_refusal(req, 406, KM_MCP_INVALID_REQUEST,
                        "Not Acceptable: kmon answers MCP with application/json; the Accept "
                        "header must allow it");
        return false;
    }
    if (!ctype || !header_has(ctype, "application/json")) {
        respond_refusal(req, 415, KM_MCP_INVALID_REQUEST,
                        "Unsupported Media Type: MCP messages are sent as application/json");
        return false;
    }
    for (size_t i = 0; ver && versions[i]; i++)
        known |= strcmp(ver, versions[i]) == 0;
    if (ver && !known) {
        char msg[200];

        snprintf(msg, sizeof(msg),
                 "Bad Request: unsupported MCP-Protocol-Version %.40s (kmon speaks %s and %s)", ver,
                 versions[0], versions[1]);
        respond_refusal(req, 400, KM_MCP_INVALID_REQUEST, msg);
        return false;
    }
    if (sid && !session_valid(sid)) {
        respond_refusal(req, 404, KM_MCP_INVALID_REQUEST,
                        "Session not found: initialize again for a new Mcp-Session-Id");
        return false;
    }
    *allow_batch = !ver || strcmp(ver, "2025-03-26") == 0;
    *has_session = sid != NULL;
    return true;
}

static void on_post(struct km_http_req *req, void *ud)
{
    struct km_server *s = ud;
    struct km_mcp_body *b = NULL;
    const char *body;
    size_t len;
    bool allow_batch, has_session, initialized = false;
    json_t *out = NULL;

    if (!transport_ok(req, &allow_batch, &has_session))
        return;
    body = km_http_req_body(req, &len);
    b = malloc(sizeof(*b));
    if (!b) {
        km_http_respond_error(req, 500, "out of memory");
        return;
    }
    km_mcp_body_parse(b, body, len, allow_batch);
    if (b->code) {
        respond_refusal(req, 400, b->code, b->msg);
        goto out_free_body;
    }
    out = b->batch ? json_array() : NULL;
    for (size_t i = 0; i < b->n; i++) {
        const struct km_mcp_msg *m = &b->m[i];
        json_t *r = NULL;

        if (m->kind == KM_MCP_INVALID)
            r = km_mcp_error(m->id, m->code, m->msg);
        else if (m->kind == KM_MCP_REQUEST) {
            r = dispatch(m, s, req);
            if (!r) /* out of memory on the way: the request still gets an answer */
                r = km_mcp_error(m->id, KM_MCP_INTERNAL_ERROR, "out of memory");
            initialized |= strcmp(m->method, "initialize") == 0;
        }
        if (!r)
            continue;
        if (!b->batch)
            out = r;
        else
            json_array_append_new(out, r);
    }
    if (!out || (b->batch && json_array_size(out) == 0)) {
        km_http_respond(req, 202, "application/json", "", 0);
        goto out_free_out;
    }
    if (initialized && !has_session) {
        char sid[SESSION_LEN + 1];

        session_new(sid);
        km_http_req_add_header(req, "Mcp-Session-Id", sid);
    }
    respond_json(req, 200, out);
out_free_out:
    json_decref(out);
out_free_body:
    km_mcp_body_fini(b);
    free(b);
}

static void on_get(struct km_http_req *req, void *ud)
{
    (void)ud;
    km_http_req_add_header(req, "Allow", "POST, DELETE");
    km_http_respond_error(req, 405,
                          "kmon's MCP endpoint offers no server-initiated stream: POST JSON-RPC "
                          "messages to /mcp");
}

static void on_delete(struct km_http_req *req, void *ud)
{
    (void)ud;
    km_http_respond(req, 204, "application/json", "", 0);
}

const struct km_http_route km_mcp_routes[] = {
    { "POST", "/mcp", on_post, KM_ROUTE_NEEDS_READY | KM_ROUTE_READ },
    { "GET", "/mcp", on_get, KM_ROUTE_READ },
    { "DELETE", "/mcp", on_delete, KM_ROUTE_READ },
};

const size_t km_mcp_nroutes = sizeof(km_mcp_routes) / sizeof(km_mcp_routes[0]);
