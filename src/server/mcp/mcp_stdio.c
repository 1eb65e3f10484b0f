/*
 * mcp_stdio — `kmon mcp --server URL`: MCP's stdio transport for desktop clients (Claude
 * Desktop and the like start it as a child process). Each line of standard input is one
 * JSON-RPC message; it is POSTed to URL/mcp (libcurl, the --ca-file/--token-file
 * settings of `kmon query`) and the answer, if any, is written to standard output as one
 * line. Logs go to standard error only: standard output carries nothing but messages.
 *
 * The session id the server gives at initialize is sent with every later message, and
 * the protocol version it agreed in MCP-Protocol-Version. When the server cannot be
 * reached or refuses a request outright, the request is answered here with a JSON-RPC
 * error (so the client never waits for an answer that will not come). Standard input's
 * end ends the command (status 0) after a DELETE of the session.
 */
#include "mcp.h"

#include "common/buf.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/httpc_auth.h"
#include "query/query.h"
#include "version.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ANSWER_MAX  (16u * 1024 * 1024)
#define LINE_MAX_IN (4u * 1024 * 1024)

struct stdio_opts {
    char *server;
    struct km_query_client client;
};

struct conn {
    const char *url; /* URL/mcp */
    struct km_httpc_auth *auth;
    CURL *curl;
    char session[128];
    char version[32];
};

struct reply {
    struct km_buf body;
    char session[128];
    char ctype[128];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;

    km_buf_append(&r->body, p, size * n);
    return km_buf_error(&r->body) ? 0 : size * n;
}

/* A header of the answer: keep Mcp-Session-Id and Content-Type. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = size * n;
    struct {
        const char *name;
        char *out;
    } keep[] = { { "mcp-session-id:", r->session }, { "content-type:", r->ctype } };

    for (size_t i = 0; i < 2; i++) {
        size_t nl = strlen(keep[i].name), vl;
        const char *v;

        if (len <= nl || strncasecmp(p, keep[i].name, nl) != 0)
            continue;
        v = p + nl + strspn(p + nl, " \t");
        vl = (size_t)(p + len - v);
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl < 128) {
            memcpy(keep[i].out, v, vl);
            keep[i].out[vl] = '\0';
        }
    }
    return len;
}

/* Send one request (method POST or DELETE); *status is the HTTP status. */
static int send_one(struct conn *c, const char *method, const char *body, size_t len,
                    struct reply *r, long *status)
{
    struct curl_slist *base = NULL, *headers = NULL;
    char h[200], errbuf[CURL_ERROR_SIZE] = "";
    CURLcode cc;
    int rc;

    base = curl_slist_append(base, "Content-Type: application/json");
    base = curl_slist_append(base, "Accept: application/json, text/event-stream");
    if (c->session[0]) {
        snprintf(h, sizeof(h), "Mcp-Session-Id: %s", c->session);
        base = curl_slist_append(base, h);
    }
    if (c->version[0]) {
        snprintf(h, sizeof(h), "MCP-Protocol-Version: %s", c->version);
        base = curl_slist_append(base, h);
    }
    curl_easy_reset(c->curl);
    rc = km_httpc_auth_headers(c->auth, c->curl, base, &headers);
    if (rc == KM_ENOMEM)
        goto out_free;
    rc = 0;
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 300000L);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "kmon-mcp/" KMON_VERSION);
    cc = curl_easy_perform(c->curl);
    if (cc != CURLE_OK)
        rc = km_err_set(KM_EIO, "cannot reach %s: %s", c->url,
                        errbuf[0] ? errbuf : curl_easy_strerror(cc));
    else
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
out_free:
    curl_slist_free_all(headers);
    curl_slist_free_all(base);
    return rc;
}

static void write_line(json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);

    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    free(s);
}

/* Answer a request the server did not answer, so the client is not left waiting. */
static void answer_error(json_t *req, const char *why)
{
    json_t *id = json_object_get(req, "id");
    json_t *e;

    if (!id || !json_object_get(req, "method"))
        return;
    e = json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id, "error", "code", -32603,
                  "message", why);
    if (e)
        write_line(e);
    json_decref(e);
}

/* Remember what initialize agreed. */
static void note_answer(struct conn *c, json_t *ans)
{
    const char *v =
        json_string_value(json_object_get(json_object_get(ans, "result"), "protocolVersion"));

    if (v && strlen(v) < sizeof(c->version))
        snprintf(c->version, sizeof(c->version), "%s", v);
}

/* Write the messages of an answer: a JSON body (one message or an array), or an event
 * stream whose data lines are messages. */
static int relay(struct conn *c, const struct reply *r)
{
    const char *b = r->body.data ? r->body.data : "";
    json_t *j;

    if (strncasecmp(r->ctype, "text/event-stream", 17) == 0) {
        for (const char *p = b; *p;) {
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p) : strlen(p);

            if (n > 5 && strncmp(p, "data:", 5) == 0 && (j = json_loadb(p + 5, n - 5, 0, NULL))) {
                note_answer(c, j);
                write_line(j);
                json_decref(j);
            }
            p += n + (e ? 1 : 0);
        }
        return 0;
    }
    j = json_loadb(b, r->body.len, 0, NULL);
    if (!j)
        return km_err_set(KM_EINVAL, "the server's answer is not JSON");
    note_answer(c, j);
    write_line(j);
    json_decref(j);
    return 0;
}

static bool is_jsonrpc(const struct reply *r)
{
    json_t *j = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
    bool yes = json_object_get(j, "jsonrpc") != NULL;

    json_decref(j);
    return yes;
}

/* What a refusal says: a JSON-RPC error's message, kmon's {"error": "…"}, or the body. */
static const char *refusal_of(struct reply *r)
{
    static _Thread_local char msg[320];
    json_t *j = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
    json_t *e = json_object_get(j, "error");
    const char *m =
        json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "message"));

    snprintf(msg, sizeof(msg), "%s", m ? m : r->body.data ? km_buf_cstr(&r->body) : "");
    json_decref(j);
    return msg;
}

static void handle_line(struct conn *c, const char *line, size_t len)
{
    struct reply r = { 0 };
    json_t *req = json_loadb(line, len, 0, NULL);
    char why[512];
    long status = 0;
    int rc;

    km_buf_init(&r.body, ANSWER_MAX);
    rc = send_one(c, "POST", line, len, &r, &status);
    if (rc) {
        snprintf(why, sizeof(why), "kmon mcp: %s", km_err_msg());
        fprintf(stderr, "%s\n", why);
        answer_error(req, why);
        goto out_free;
    }
    if (r.session[0] && strcmp(r.session, c->session) != 0)
        snprintf(c->session, sizeof(c->session), "%s", r.session);
    if (status == 404 && c->session[0]) {
        fprintf(stderr, "kmon mcp: the server forgot the session; the client must initialize "
                        "again\n");
        c->session[0] = '\0';
    }
    if (status == 202 || (status >= 200 && status < 300 && r.body.len == 0))
        goto out_free;
    if (status >= 400 && !json_object_get(req, "id") && is_jsonrpc(&r)) {
        relay(c, &r); /* e.g. the server's parse error, with its null id */
    } else if (status >= 400) {
        snprintf(why, sizeof(why), "kmon mcp: the server answered HTTP %ld: %.300s", status,
                 refusal_of(&r));
        fprintf(stderr, "%s\n", why);
        answer_error(req, why);
    } else if (relay(c, &r) != 0) {
        snprintf(why, sizeof(why), "kmon mcp: the server answered HTTP %ld: %.200s", status,
                 r.body.data ? km_buf_cstr(&r.body) : "");
        fprintf(stderr, "%s\n", why);
        answer_error(req, why);
    }
out_free:
    km_buf_fini(&r.body);
    json_decref(req);
}

static int run(const struct stdio_opts *o)
{
    struct conn c = { 0 };
    struct km_buf url;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc;

    km_buf_init(&url, 0);
    km_buf_puts(&url, o->server);
    while (url.len && url.data[url.len - 1] == '/')
        url.len--;
    km_buf_puts(&url, "/mcp");
    c.url = km_buf_cstr(&url);
    rc = km_httpc_auth_create(&c.auth,
                              &(struct km_httpc_auth_opts){ .ca_file = o->client.ca_file,
                                                            .cert_file = o->client.cert_file,
                                                            .key_file = o->client.key_file,
                                                            .token_file = o->client.token_file });
    if (rc)
        goto out_free_url;
    c.curl = curl_easy_init();
    if (!c.curl) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out_free_auth;
    }
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;

        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        if (len > LINE_MAX_IN) {
            fprintf(stderr, "kmon mcp: a message of %zu bytes was dropped (at most %u)\n", len,
                    LINE_MAX_IN);
            continue;
        }
        handle_line(&c, line, len);
    }
    if (c.session[0]) {
        struct reply r = { 0 };
        long status = 0;

        km_buf_init(&r.body, 4096);
        send_one(&c, "DELETE", NULL, 0, &r, &status);
        km_buf_fini(&r.body);
    }
    free(line);
    curl_easy_cleanup(c.curl);
out_free_auth:
    km_httpc_auth_destroy(c.auth);
out_free_url:
    km_buf_fini(&url);
    return rc;
}

static const struct km_cfg_field stdio_fields[] = {
    { .name = "server",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct stdio_opts, server),
      .metavar = "URL",
      .help = "the kmon server's base URL (e.g. https://kmon.example:5000); messages go to "
              "URL/mcp" },
    KM_CFG_FIELDS_END,
};

int km_mcp_stdio_main(int argc, char **argv)
{
    static const char *const other_commands[] = {
        "server", "agent", "demo", "query", "logs", NULL
    };
    struct stdio_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_field general[8];
    struct km_cfg_cmd cmd = {
        .name = "mcp",
        .usage = "kmon mcp --server URL [flags]",
        .summary = "Speak the Model Context Protocol's stdio transport for desktop MCP clients\n"
                   "(Claude Desktop and others start it as a child process): each line of\n"
                   "standard input is a JSON-RPC message, forwarded to the kmon server's\n"
                   "/mcp endpoint; each answer is written to standard output as one line.\n"
                   "Logs go to standard error. Ends with status 0 at the end of standard\n"
                   "input. See docs/mcp.md.",
        .other_commands = other_commands,
    };
    int rc, status = 2;

    km_query_general_fields(general, sizeof(general) / sizeof(general[0]));
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "MCP", stdio_fields, &o };
    cmd.sections[cmd.nsections++] =
        (struct km_cfg_section){ "Server connection", km_query_client_fields, &o.client };
    cmd.sections[cmd.nsections++] = (struct km_cfg_section){ "General", general, &common };
    rc = km_cfg_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc == KM_CFG_HELP) {
        km_cfg_help(&cmd, stdout);
        status = 0;
        goto out_free_config;
    }
    if (rc == 0 && (!o.server || !*o.server))
        rc = km_err_set(KM_EINVAL, "--server URL is required");
    if (rc) {
        fprintf(stderr, "kmon mcp: %s\nRun 'kmon mcp --help' for the flags.\n", km_err_msg());
        goto out_free_config;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = run(&o);
    curl_global_cleanup();
    if (rc)
        fprintf(stderr, "kmon mcp: %s\n", km_err_msg());
    status = rc ? 1 : 0;
out_free_config:
    km_cfg_free(&cmd);
    return status;
}
