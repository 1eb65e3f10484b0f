/*
 * kma_rules — what the custom and external metrics APIs serve, read from the YAML file of
 * --k8s-metrics-config (the role prometheus-adapter's rules play): each metric a name
 * and a PromQL query with `$__matchers` where the request's matchers go, custom ones
 * attached to a kind of Kubernetes object. Errors are "FILE:LINE: sentence".
 *
 *   custom:
 *     - name: http_requests_per_second
 *       resource: pods                  # pods, nodes, namespaces, deployments, services, …
 *       label: pod                      # the label naming the object (default: singular)
 *       query: sum by (namespace, pod) (rate(http_requests_total{$__matchers}[2m]))
 *   external:
 *     - name: queue_messages_ready
 *       query: sum by (queue) (rabbitmq_queue_messages_ready{$__matchers})
 *       namespaced: false               # true: namespace="<the request's>" is a matcher
 */
#include "kma.h"

#include "common/err.h"
#include "common/fsutil.h"
#include "promql/parse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define KMA_RULES_MAX      1024
#define KMA_RULES_FILE_MAX (4u << 20)

struct kma_parser {
    yaml_document_t *doc;
    const char *path;
};

static int at(const struct kma_parser *p, const yaml_node_t *n, const char *fmt, const char *a)
{
    char msg[512];

    snprintf(msg, sizeof(msg), fmt, a ? a : "");
    return km_err_set(KM_EINVAL, "%s:%lu: %s", p->path, (unsigned long)n->start_mark.line + 1, msg);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool valid_name(const char *s)
{
    if (!*s || strlen(s) > 200)
        return false;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.' && *s != ':')
            return false;
    }
    return true;
}

int km_kma_singular(char *out, size_t size, const char *resource)
{
    size_t n = strlen(resource);

    if (n >= size)
        return KM_EINVAL;
    memcpy(out, resource, n + 1);
    if (n > 3 && strcmp(out + n - 3, "ses") == 0)
        out[n - 2] = '\0'; /* statuses, ingresses → …s */
    else if (n > 1 && out[n - 1] == 's')
        out[n - 1] = '\0';
    return 0;
}

/* The query with a sample expansion parses (an early, clear error for a typo). */
static int check_query(const struct kma_parser *p, const yaml_node_t *n, const char *q)
{
    struct km_buf b;
    struct km_promql_expr *e = NULL;
    struct km_promql_error perr;
    char msg[400];
    int rc;

    if (!strstr(q, "$__matchers"))
        return at(p, n,
                  "the query has no $__matchers: the request's objects and selector "
                  "could not narrow it",
                  NULL);
    km_buf_init(&b, 0);
    rc = km_kma_expand(&b, q, "namespace=\"default\"");
    if (rc == 0 && km_promql_parse(b.data, b.len, &e, &perr) != 0) {
        snprintf(msg, sizeof(msg), "the query does not parse: %s", km_err_msg());
        rc = at(p, n, "%s", msg);
    }
    km_promql_expr_destroy(e);
    km_buf_fini(&b);
    return rc;
}

static int rule(const struct kma_parser *p, yaml_node_t *m, bool custom, struct km_kma_rule *r)
{
    const char *name = NULL, *resource = NULL, *label = NULL, *query = NULL, *ns = NULL;
    yaml_node_t *qn = m;
    int rc;

    if (m->type != YAML_MAPPING_NODE)
        return at(p, m, "a metric is a mapping (name, query%s)", custom ? ", resource" : "");
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(p->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(p->doc, pr->value);
        const char *k = scalar(kn), *v = scalar(vn);

        if (!k)
            return at(p, kn, "a key must be a plain name", NULL);
        if (!v)
            return at(p, vn, "%s must be a single value", k);
        if (strcmp(k, "name") == 0)
            name = v;
        else if (strcmp(k, "query") == 0)
            query = v, qn = vn;
        else if (custom && strcmp(k, "resource") == 0)
            resource = v;
        else if (custom && strcmp(k, "label") == 0)
            label = v;
        else if (!custom && strcmp(k, "namespaced") == 0)
            ns = v;
        else
            return at(p, kn, "unknown key \"%s\"", k);
    }
    if (!name || !valid_name(name))
        return at(p, m, "a metric needs a name of letters, digits and _-.: (got \"%s\")", name);
    if (!query)
        return at(p, m, "metric \"%s\" has no query", name);
    if (custom && (!resource || !valid_name(resource)))
        return at(p, m, "metric \"%s\" needs a resource (pods, nodes, namespaces, …)", name);
    if (ns && strcmp(ns, "true") != 0 && strcmp(ns, "false") != 0)
        return at(p, m, "namespaced is true or false", NULL);
    if ((rc = check_query(p, qn, query)) != 0)
        return rc;
    r->name = strdup(name);
    r->query = strdup(query);
    r->resource = strdup(custom ? resource : "");
    r->namespaced = ns && strcmp(ns, "true") == 0;
    if (custom) {
        char one[128];

        if (!label && km_kma_singular(one, sizeof(one), resource) != 0)
            return at(p, m, "resource \"%s\" is too long", resource);
        r->label = strdup(label ? label : one);
        /* Objects of every resource but nodes and namespaces live in a namespace. */
        r->namespaced = strcmp(resource, "nodes") != 0 && strcmp(resource, "namespaces") != 0;
    } else {
        r->label = strdup("");
    }
    if (!r->name || !r->query || !r->resource || !r->label)
        return km_err_set(KM_ENOMEM, "out of memory");
    return 0;
}

static int rule_list(const struct kma_parser *p, yaml_node_t *seq, bool custom,
                     struct km_kma_rules *out)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return at(p, seq, "%s is a list of metrics", custom ? "custom" : "external");
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        struct km_kma_rule *r;
        int rc;

        if (out->n >= KMA_RULES_MAX)
            return at(p, seq, "more than %s metrics", "1024");
        r = realloc(out->v, (out->n + 1) * sizeof(*r));
        if (!r)
            return km_err_set(KM_ENOMEM, "out of memory");
        out->v = r;
        r = &out->v[out->n++];
        memset(r, 0, sizeof(*r));
        r->external = !custom;
        rc = rule(p, yaml_document_get_node(p->doc, *it), custom, r);
        if (rc)
            return rc;
        for (size_t i = 0; i + 1 < out->n; i++) {
            if (out->v[i].external == r->external && strcmp(out->v[i].name, r->name) == 0 &&
                strcmp(out->v[i].resource, r->resource) == 0)
                return at(p, yaml_document_get_node(p->doc, *it), "metric \"%s\" is defined twice",
                          r->name);
        }
    }
    return 0;
}

static int root(const struct kma_parser *p, yaml_node_t *r, struct km_kma_rules *out)
{
    if (r->type != YAML_MAPPING_NODE)
        return at(p, r, "expected a mapping with custom: and external:", NULL);
    for (yaml_node_pair_t *pr = r->data.mapping.pairs.start; pr < r->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(p->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(p->doc, pr->value);
        const char *k = scalar(kn);
        int rc;

        if (k && strcmp(k, "custom") == 0)
            rc = rule_list(p, vn, true, out);
        else if (k && strcmp(k, "external") == 0)
            rc = rule_list(p, vn, false, out);
        else
            rc = at(p, kn, "unknown key \"%s\" (custom or external)", k);
        if (rc)
            return rc;
    }
    return 0;
}

void km_kma_rules_fini(struct km_kma_rules *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].name);
        free(r->v[i].query);
        free(r->v[i].resource);
        free(r->v[i].label);
    }
    free(r->v);
    memset(r, 0, sizeof(*r));
}

int km_kma_rules_parse(struct km_kma_rules *out, const char *text, size_t len, const char *path)
{
    struct kma_parser p = { .path = path };
    yaml_parser_t yp;
    yaml_document_t doc;
    yaml_node_t *r;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!yaml_parser_initialize(&yp))
        return km_err_set(KM_ENOMEM, "out of memory initialising the YAML parser");
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    if (!yaml_parser_load(&yp, &doc)) {
        rc = km_err_set(KM_EINVAL, "%s:%lu: %s", path, (unsigned long)yp.problem_mark.line + 1,
                        yp.problem ? yp.problem : "malformed YAML");
        yaml_parser_delete(&yp);
        return rc;
    }
    p.doc = &doc;
    r = yaml_document_get_root_node(&doc);
    if (r)
        rc = root(&p, r, out);
    yaml_document_delete(&doc);
    yaml_parser_delete(&yp);
    if (rc)
        km_kma_rules_fini(out);
    return rc;
}

int km_kma_rules_load(struct km_kma_rules *out, const char *path)
{
    struct km_buf b;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = km_file_read(path, KMA_RULES_FILE_MAX, &b);
    if (rc)
        km_err_wrap(rc, "--k8s-metrics-config");
    else
        rc = km_kma_rules_parse(out, b.data ? b.data : "", b.len, path);
    km_buf_fini(&b);
    return rc;
}

int km_kma_expand(struct km_buf *out, const char *query, const char *matchers)
{
    const char *p = query, *hit;
    int rc = 0;

    while (rc == 0 && (hit = strstr(p, "$__matchers")) != NULL) {
        rc = km_buf_append(out, p, (size_t)(hit - p));
        if (rc == 0)
            rc = km_buf_puts(out, matchers);
        p = hit + strlen("$__matchers");
    }
    return rc ? rc : km_buf_puts(out, p);
}
