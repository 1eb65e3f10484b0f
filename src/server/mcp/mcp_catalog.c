/*
 * mcp_catalog — the MCP endpoint's resources (kmon://metrics: the metric catalogue with
 * TYPE and HELP; kmon://rules: the recording and alerting rules loaded, the default pack
 * among them) and its prompts ("investigate-pod", "node-pressure").
 */
#include "mcp_internal.h"
#include "mcp_rpc.h"

#include "common/jsonw.h"
#include "rules/manager.h"
#include "server/server_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- resources -------------------------------------------------------------------------- */

int km_mcp_resources_list(json_t **out)
{
    *out = json_pack(
        "{s:[{s:s,s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s}]}", "resources", "uri", "kmon://metrics",
        "name", "metrics", "title", "Metric catalogue", "description",
        "Every metric name kmon holds recent data for, one a line, with its TYPE and HELP",
        "mimeType", "text/plain", "uri", "kmon://rules", "name", "rules", "title", "Rules",
        "description",
        "The recording and alerting rules kmon evaluates (its default pack and --rules files): "
        "group, name, query, for, severity, summary and state",
        "mimeType", "application/json");
    return *out ? 0 : KM_MCP_INTERNAL_ERROR;
}

static int read_metrics(struct km_mcp_call *c, struct km_buf *text, struct km_buf *err)
{
    json_t *names, *name;
    size_t i;
    int rc = km_mcp_metric_names(c, NULL, &names, err);

    if (rc)
        return rc;
    json_array_foreach(names, i, name)
    {
        json_t *md = km_mcp_metric_meta(c, json_string_value(name));
        const char *type = json_string_value(json_object_get(md, "type"));
        const char *help = json_string_value(json_object_get(md, "help"));

        km_buf_printf(text, "%s %s%s%s\n", json_string_value(name), type ? type : "unknown",
                      help && *help ? " " : "", help ? help : "");
        json_decref(md);
    }
    json_decref(names);
    return 0;
}

/* The rules' groups, each rule cut to what a model needs. */
static int read_rules(struct km_mcp_call *c, struct km_buf *text)
{
    struct km_rules *rules = __atomic_load_n(&c->s->api.rules, __ATOMIC_ACQUIRE);
    struct km_buf b;
    struct km_jsonw w;
    json_t *groups = NULL, *g, *out = json_array();
    size_t i;
    char *s;

    km_buf_init(&b, 0);
    km_jsonw_init(&w, &b);
    if (rules) {
        km_rules_write_groups(rules, NULL, &w);
        groups = km_buf_error(&b) ? NULL : json_loadb(b.data ? b.data : "", b.len, 0, NULL);
    }
    km_buf_fini(&b);
    json_array_foreach(groups, i, g)
    {
        json_t *rs = json_array(), *r;
        size_t k;

        json_array_foreach(json_object_get(g, "rules"), k, r)
        {
            json_t *ann = json_object_get(r, "annotations");

            json_array_append_new(
                rs,
                json_pack("{s:O?,s:O?,s:O?,s:O?,s:O?,s:O?,s:O?}", "name",
                          json_object_get(r, "name"), "type", json_object_get(r, "type"), "query",
                          json_object_get(r, "query"), "for", json_object_get(r, "duration"),
                          "labels", json_object_get(r, "labels"), "summary",
                          json_object_get(ann, "summary"), "state", json_object_get(r, "state")));
        }
        json_array_append_new(out, json_pack("{s:O?,s:O?,s:o}", "group", json_object_get(g, "name"),
                                             "file", json_object_get(g, "file"), "rules", rs));
    }
    json_decref(groups);
    s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (!s)
        return KM_MCP_INTERNAL_ERROR;
    km_buf_puts(text, s);
    free(s);
    return 0;
}

int km_mcp_resource_read(struct km_mcp_call *c, json_t *params, json_t **out, struct km_buf *err)
{
    const char *uri = json_string_value(json_object_get(params, "uri"));
    const char *mime = "text/plain";
    struct km_buf text;
    int rc;

    if (!uri) {
        km_buf_puts(err, "resources/read needs params.uri");
        return KM_MCP_INVALID_PARAMS;
    }
    km_buf_init(&text, 0);
    if (strcmp(uri, "kmon://metrics") == 0) {
        rc = read_metrics(c, &text, err) ? KM_MCP_INTERNAL_ERROR : 0;
    } else if (strcmp(uri, "kmon://rules") == 0) {
        mime = "application/json";
        rc = read_rules(c, &text);
    } else {
        km_buf_printf(err, "Resource not found: %.100s (resources/list names them)", uri);
        rc = KM_MCP_NO_RESOURCE;
    }
    if (rc == 0 && km_buf_error(&text))
        rc = KM_MCP_INTERNAL_ERROR;
    if (rc == 0)
        *out = json_pack("{s:[{s:s,s:s,s:s%}]}", "contents", "uri", uri, "mimeType", mime, "text",
                         text.data ? text.data : "", text.len);
    km_buf_fini(&text);
    if (rc == 0 && !*out)
        rc = KM_MCP_INTERNAL_ERROR;
    return rc;
}

/* ---- prompts ------------------------------------------------------------------------------ */

static const struct prompt {
    const char *name, *title, *description;
    const char *args[2];
    const char *arg_help[2];
    const char *text; /* a format taking the arguments in order */
} prompts[] = {
    { "investigate-pod",
      "Investigate a pod",
      "Find out why a pod is unhealthy (crashing, pending, slow) from its state, restarts, "
      "events, logs, resource use and alerts.",
      { "namespace", "pod" },
      { "the pod's namespace", "the pod's name" },
      "Investigate the pod %2$s in namespace %1$s with kmon's tools. First call describe_pod "
      "(namespace \"%1$s\", pod \"%2$s\") for its phase, owner, containers, restarts, "
      "termination reasons and events. Then search_logs with {namespace=\"%1$s\", "
      "pod=\"%2$s\"} (add |= \"error\" if there are many lines) and "
      "{source=\"kubernetes-events\", namespace=\"%1$s\", name=\"%2$s\"}. Compare its CPU and "
      "memory with its requests and limits (promql_range over "
      "container_memory_working_set_bytes{namespace=\"%1$s\", pod=\"%2$s\"} and "
      "rate(container_cpu_usage_seconds_total{namespace=\"%1$s\", pod=\"%2$s\"}[5m])), and "
      "check active_alerts for alerts naming it. Say what is wrong, the evidence for it, and "
      "what to change." },
    { "node-pressure",
      "Why is this node under pressure",
      "Explain CPU, memory, disk or PID pressure on a node: its conditions, usage, and the pods "
      "that cause it.",
      { "node", NULL },
      { "the node's name", NULL },
      "Find out why the node %1$s is under pressure with kmon's tools. Check its conditions "
      "(promql_query kube_node_status_condition{node=\"%1$s\"} == 1), its CPU and memory over "
      "the last hours (promql_range of 1 - avg(rate(node_cpu_seconds_total{node=\"%1$s\", "
      "mode=\"idle\"}[5m])) and node_memory_MemAvailable_bytes{node=\"%1$s\"}), its "
      "filesystems (node_filesystem_avail_bytes{node=\"%1$s\"}), the pods on it that use the "
      "most (promql_query topk(10, sum by (namespace, pod) "
      "(container_memory_working_set_bytes{node=\"%1$s\", container!=\"\"})) and the same for "
      "CPU), their restarts and OOM kills (container_oom_events_total), and its events "
      "(search_logs {source=\"kubernetes-events\", kind=\"Node\", name=\"%1$s\"}). Say which "
      "resource is short, which pods take it, and what to do." },
};

int km_mcp_prompts_list(json_t **out)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < sizeof(prompts) / sizeof(prompts[0]); i++) {
        json_t *args = json_array();

        for (size_t k = 0; args && k < 2 && prompts[i].args[k]; k++)
            json_array_append_new(args,
                                  json_pack("{s:s,s:s,s:b}", "name", prompts[i].args[k],
                                            "description", prompts[i].arg_help[k], "required", 1));
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:o}", "name", prompts[i].name, "title",
                                           prompts[i].title, "description", prompts[i].description,
                                           "arguments", args));
    }
    *out = json_pack("{s:o}", "prompts", a);
    return *out ? 0 : KM_MCP_INTERNAL_ERROR;
}

int km_mcp_prompt_get(json_t *params, json_t **out, struct km_buf *err)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    const char *v[2] = { NULL, NULL };
    const struct prompt *p = NULL;
    struct km_buf text;

    for (size_t i = 0; name && i < sizeof(prompts) / sizeof(prompts[0]); i++)
        if (strcmp(prompts[i].name, name) == 0)
            p = &prompts[i];
    if (!p) {
        km_buf_printf(err, "Unknown prompt: %.80s (prompts/list names them)",
                      name ? name : "(none)");
        return KM_MCP_INVALID_PARAMS;
    }
    for (size_t k = 0; k < 2 && p->args[k]; k++) {
        v[k] = json_string_value(json_object_get(args, p->args[k]));
        if (!v[k] || !*v[k] || strpbrk(v[k], "\"\\\n") || strlen(v[k]) > 253) {
            km_buf_printf(err, "the prompt %s needs the argument \"%s\" (%s)", p->name, p->args[k],
                          p->arg_help[k]);
            return KM_MCP_INVALID_PARAMS;
        }
    }
    km_buf_init(&text, 0);
    km_buf_printf(&text, p->text, v[0], v[1] ? v[1] : "");
    *out = km_buf_error(&text)
               ? NULL
               : json_pack("{s:s,s:[{s:s,s:{s:s,s:s}}]}", "description", p->description, "messages",
                           "role", "user", "content", "type", "text", "text", km_buf_cstr(&text));
    km_buf_fini(&text);
    return *out ? 0 : KM_MCP_INTERNAL_ERROR;
}
