/*
 * fwd_config — the forwarding destinations (see fwd_config.h): Prometheus' remote_write
 * YAML read through libyaml's document API, every error "FILE:LINE: sentence".
 */
#include "server/forward/fwd_config.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_RELABEL 256
#define MAX_SOURCE  64

struct parser {
    yaml_document_t *doc;
    const char *path;
};

static int at(const struct parser *p, const yaml_node_t *n, const char *fmt, const char *a,
              const char *b)
{
    char msg[512];

    snprintf(msg, sizeof(msg), fmt, a ? a : "", b ? b : "");
    return km_err_set(KM_EINVAL, "%s:%lu: %s", p->path, (unsigned long)n->start_mark.line + 1, msg);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *node(const struct parser *p, int id)
{
    return yaml_document_get_node(p->doc, id);
}

static int want_scalar(const struct parser *p, const yaml_node_t *v, const char *key,
                       const char **out)
{
    *out = scalar(v);
    return *out ? 0 : at(p, v, "%s must be a single value", key, NULL);
}

static int set_str(const struct parser *p, const yaml_node_t *v, const char *key, char **slot)
{
    const char *s;
    int rc = want_scalar(p, v, key, &s);

    if (rc)
        return rc;
    free(*slot);
    *slot = strdup(s);
    return *slot ? 0 : km_err_set(KM_ENOMEM, "out of memory");
}

static int set_duration(const struct parser *p, const yaml_node_t *v, const char *key,
                        int64_t *slot)
{
    const char *s;
    int rc = want_scalar(p, v, key, &s);

    if (rc == 0 && km_duration_parse(s, slot) != 0)
        rc = at(p, v, "%s: \"%s\" is not a duration (30s, 100ms, 5m)", key, s);
    return rc;
}

static int set_count(const struct parser *p, const yaml_node_t *v, const char *key, uint64_t *slot)
{
    const char *s;
    char *end;
    unsigned long long x;
    int rc = want_scalar(p, v, key, &s);

    if (rc)
        return rc;
    errno = 0;
    x = strtoull(s, &end, 10);
    if (errno || end == s || *end || x == 0 || x > 100000000 || s[0] == '-')
        return at(p, v, "%s: \"%s\" is not a count from 1 to 100000000", key, s);
    *slot = x;
    return 0;
}

/* ---- write_relabel_configs ------------------------------------------------------------------- */

static int relabel_rule(const struct parser *p, yaml_node_t *m, struct km_fwd_dest_cfg *d)
{
    const char *src[MAX_SOURCE];
    struct km_relabel_spec s = { .source_labels = src };
    struct km_relabel **grown;
    int rc;

    if (m->type != YAML_MAPPING_NODE)
        return at(p, m, "a write_relabel_configs entry must be a mapping", NULL, NULL);
    for (yaml_node_pair_t *kv = m->data.mapping.pairs.start; kv < m->data.mapping.pairs.top; kv++) {
        yaml_node_t *kn = node(p, kv->key), *v = node(p, kv->value);
        const char *k = scalar(kn), **slot = NULL;

        if (!k)
            return at(p, kn, "keys must be plain names", NULL, NULL);
        if (strcmp(k, "source_labels") == 0) {
            if (v->type != YAML_SEQUENCE_NODE)
                return at(p, v, "source_labels must be a list of label names", NULL, NULL);
            for (yaml_node_item_t *it = v->data.sequence.items.start;
                 it < v->data.sequence.items.top; it++) {
                if (s.nsource == MAX_SOURCE || !scalar(node(p, *it)))
                    return at(p, v, "source_labels must be a list of label names", NULL, NULL);
                src[s.nsource++] = scalar(node(p, *it));
            }
            continue;
        }
        if (strcmp(k, "separator") == 0)
            slot = &s.separator;
        else if (strcmp(k, "regex") == 0)
            slot = &s.regex;
        else if (strcmp(k, "target_label") == 0)
            slot = &s.target_label;
        else if (strcmp(k, "replacement") == 0)
            slot = &s.replacement;
        else if (strcmp(k, "action") == 0)
            slot = &s.action;
        else if (strcmp(k, "modulus") == 0)
            return at(p, kn, "modulus (the hashmod action) is not supported", NULL, NULL);
        else
            return at(p, kn, "unknown key \"%s\" in a write_relabel_configs entry", k, NULL);
        if ((rc = want_scalar(p, v, k, slot)) != 0)
            return rc;
    }
    if (d->nrelabel == MAX_RELABEL)
        return at(p, m, "too many write_relabel_configs entries", NULL, NULL);
    grown = realloc(d->relabel, (d->nrelabel + 1) * sizeof(*d->relabel));
    if (!grown)
        return km_err_set(KM_ENOMEM, "out of memory");
    d->relabel = grown;
    rc = km_relabel_compile(&d->relabel[d->nrelabel], &s);
    if (rc)
        return at(p, m, "write_relabel_configs: %s", km_err_msg(), NULL);
    d->nrelabel++;
    return 0;
}

/* ---- the nested mappings ------------------------------------------------------------------- */

static int tls_config(const struct parser *p, yaml_node_t *m, struct km_fwd_dest_cfg *d)
{
    if (m->type != YAML_MAPPING_NODE)
        return at(p, m, "tls_config must be a mapping", NULL, NULL);
    for (yaml_node_pair_t *kv = m->data.mapping.pairs.start; kv < m->data.mapping.pairs.top; kv++) {
        yaml_node_t *kn = node(p, kv->key), *v = node(p, kv->value);
        const char *k = scalar(kn);
        char **slot;
        int rc;

        if (!k)
            return at(p, kn, "keys must be plain names", NULL, NULL);
        if (strcmp(k, "ca_file") == 0)
            slot = &d->ca_file;
        else if (strcmp(k, "cert_file") == 0)
            slot = &d->cert_file;
        else if (strcmp(k, "key_file") == 0)
            slot = &d->key_file;
        else if (strcmp(k, "server_name") == 0 || strcmp(k, "min_version") == 0)
            continue; /* the URL's host is verified; TLS 1.2 is curl's minimum already */
        else if (strcmp(k, "insecure_skip_verify") == 0) {
            const char *s = scalar(v);

            if (s && strcmp(s, "false") == 0)
                continue;
            return at(p, kn, "insecure_skip_verify is not supported: give the CA (ca_file)", NULL,
                      NULL);
        } else if (strcmp(k, "ca") == 0 || strcmp(k, "cert") == 0 || strcmp(k, "key") == 0)
            return at(p, kn, "inline \"%s\" is not supported: give %s_file", k, k);
        else
            return at(p, kn, "unknown key \"%s\" in tls_config", k, NULL);
        if ((rc = set_str(p, v, k, slot)) != 0)
            return rc;
    }
    return 0;
}

static int authorization(const struct parser *p, yaml_node_t *m, struct km_fwd_dest_cfg *d)
{
    if (m->type != YAML_MAPPING_NODE)
        return at(p, m, "authorization must be a mapping", NULL, NULL);
    for (yaml_node_pair_t *kv = m->data.mapping.pairs.start; kv < m->data.mapping.pairs.top; kv++) {
        yaml_node_t *kn = node(p, kv->key), *v = node(p, kv->value);
        const char *k = scalar(kn), *s;
        int rc;

        if (!k)
            return at(p, kn, "keys must be plain names", NULL, NULL);
        if (strcmp(k, "type") == 0) {
            if ((rc = want_scalar(p, v, k, &s)) != 0)
                return rc;
            if (strcmp(s, "Bearer") != 0)
                return at(p, v, "authorization type \"%s\" is not supported (Bearer)", s, NULL);
        } else if (strcmp(k, "credentials_file") == 0) {
            if ((rc = set_str(p, v, k, &d->token_file)) != 0)
                return rc;
        } else if (strcmp(k, "credentials") == 0) {
            return at(p, kn,
                      "inline credentials are not supported: put the token in a file "
                      "and give credentials_file",
                      NULL, NULL);
        } else {
            return at(p, kn, "unknown key \"%s\" in authorization", k, NULL);
        }
    }
    return 0;
}

static int queue_config(const struct parser *p, yaml_node_t *m, struct km_fwd_dest_cfg *d)
{
    static const char *const ignored[] = { "max_shards", "min_shards", "retry_on_http_429",
                                           "sample_age_limit", NULL };

    if (m->type != YAML_MAPPING_NODE)
        return at(p, m, "queue_config must be a mapping", NULL, NULL);
    for (yaml_node_pair_t *kv = m->data.mapping.pairs.start; kv < m->data.mapping.pairs.top; kv++) {
        yaml_node_t *kn = node(p, kv->key), *v = node(p, kv->value);
        const char *k = scalar(kn);
        bool skip = false;
        int rc;

        if (!k)
            return at(p, kn, "keys must be plain names", NULL, NULL);
        for (size_t i = 0; ignored[i]; i++)
            skip |= strcmp(k, ignored[i]) == 0;
        if (skip)
            continue; /* one sender per destination; 429 is always retried */
        if (strcmp(k, "capacity") == 0)
            rc = set_count(p, v, k, &d->capacity);
        else if (strcmp(k, "max_samples_per_send") == 0)
            rc = set_count(p, v, k, &d->max_samples_per_send);
        else if (strcmp(k, "batch_send_deadline") == 0)
            rc = set_duration(p, v, k, &d->batch_send_deadline_ms);
        else if (strcmp(k, "min_backoff") == 0)
            rc = set_duration(p, v, k, &d->min_backoff_ms);
        else if (strcmp(k, "max_backoff") == 0)
            rc = set_duration(p, v, k, &d->max_backoff_ms);
        else
            rc = at(p, kn, "unknown key \"%s\" in queue_config", k, NULL);
        if (rc)
            return rc;
    }
    return 0;
}

static int headers(const struct parser *p, yaml_node_t *m, struct km_fwd_dest_cfg *d)
{
    if (m->type != YAML_MAPPING_NODE)
        return at(p, m, "headers must be a mapping of names to values", NULL, NULL);
    for (yaml_node_pair_t *kv = m->data.mapping.pairs.start; kv < m->data.mapping.pairs.top; kv++) {
        const char *k = scalar(node(p, kv->key)), *v = scalar(node(p, kv->value));
        char **grown;
        struct km_buf b;

        if (!k || !v || strpbrk(k, ":\r\n") || strpbrk(v, "\r\n"))
            return at(p, node(p, kv->key), "headers must be a mapping of names to values", NULL,
                      NULL);
        if (strcasecmp(k, "Authorization") == 0 || strcasecmp(k, "Content-Type") == 0 ||
            strcasecmp(k, "Content-Encoding") == 0)
            return at(p, node(p, kv->key), "header \"%s\" is set by kmon itself", k, NULL);
        grown = realloc(d->headers, (d->nheaders + 1) * sizeof(*d->headers));
        if (!grown)
            return km_err_set(KM_ENOMEM, "out of memory");
        d->headers = grown;
        km_buf_init(&b, 0);
        km_buf_printf(&b, "%s: %s", k, v);
        d->headers[d->nheaders] = km_buf_detach(&b, NULL);
        if (!d->headers[d->nheaders])
            return km_err_set(KM_ENOMEM, "out of memory");
        d->nheaders++;
    }
    return 0;
}

/* ---- one destination ---------------------------------------------------------------------- */

static void dest_defaults(struct km_fwd_dest_cfg *d)
{
    memset(d, 0, sizeof(*d));
    d->capacity = KM_FWD_DEF_CAPACITY;
    d->max_samples_per_send = KM_FWD_DEF_MAX_PER_SEND;
    d->batch_send_deadline_ms = KM_FWD_DEF_DEADLINE_MS;
    d->min_backoff_ms = KM_FWD_DEF_MIN_BACKOFF_MS;
    d->max_backoff_ms = KM_FWD_DEF_MAX_BACKOFF_MS;
    d->remote_timeout_ms = KM_FWD_DEF_TIMEOUT_MS;
}

static void dest_free(struct km_fwd_dest_cfg *d)
{
    free(d->name);
    free(d->url);
    free(d->url_label);
    for (size_t i = 0; i < d->nrelabel; i++)
        km_relabel_destroy(d->relabel[i]);
    free(d->relabel);
    for (size_t i = 0; i < d->nheaders; i++)
        free(d->headers[i]);
    free(d->headers);
    free(d->token_file);
    free(d->ca_file);
    free(d->cert_file);
    free(d->key_file);
    memset(d, 0, sizeof(*d));
}

/* The URL checked, and its form without credentials. */
static int set_url(struct km_fwd_dest_cfg *d, const char *url)
{
    const char *host, *at, *slash;
    struct km_buf b;

    if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else
        return km_err_set(KM_EINVAL, "\"%s\" is not an http:// or https:// URL", url);
    if (!host[0] || host[0] == '/')
        return km_err_set(KM_EINVAL, "\"%s\" has no host", url);
    slash = strchr(host, '/');
    at = strchr(host, '@');
    km_buf_init(&b, 0);
    if (at && (!slash || at < slash)) {
        km_buf_append(&b, url, (size_t)(host - url));
        km_buf_puts(&b, at + 1);
    } else {
        km_buf_puts(&b, url);
    }
    d->url = strdup(url);
    d->url_label = km_buf_detach(&b, NULL);
    if (!d->url || !d->url_label)
        return km_err_set(KM_ENOMEM, "out of memory");
    return 0;
}

static int grow_dests(struct km_fwd_config *c)
{
    struct km_fwd_dest_cfg *grown = realloc(c->d, (c->n + 1) * sizeof(*c->d));

    if (!grown)
        return km_err_set(KM_ENOMEM, "out of memory");
    c->d = grown;
    dest_defaults(&c->d[c->n]);
    return 0;
}

int km_fwd_config_add_url(struct km_fwd_config *c, const char *url)
{
    int rc = grow_dests(c);

    if (rc == 0 && (rc = set_url(&c->d[c->n], url)) != 0)
        dest_free(&c->d[c->n]);
    if (rc == 0)
        c->n++;
    return rc ? km_err_wrap(rc, "--remote-write-url") : 0;
}

static int dest_key(const struct parser *p, yaml_node_t *kn, yaml_node_t *v,
                    struct km_fwd_dest_cfg *d)
{
    static const char *const ignored[] = { "metadata_config",        "send_exemplars",
                                           "send_native_histograms", "follow_redirects",
                                           "enable_http2",           NULL };
    static const char *const refused[] = { "basic_auth", "oauth2",       "sigv4", "azuread",
                                           "proxy_url",  "bearer_token", NULL };
    const char *k = scalar(kn), *s;
    int rc;

    if (!k)
        return at(p, kn, "keys must be plain names", NULL, NULL);
    for (size_t i = 0; ignored[i]; i++)
        if (strcmp(k, ignored[i]) == 0)
            return 0;
    for (size_t i = 0; refused[i]; i++)
        if (strcmp(k, refused[i]) == 0)
            return at(p, kn,
                      "%s is not supported (kmon authenticates with bearer_token_file or "
                      "authorization.credentials_file and tls_config)",
                      k, NULL);
    if (strcmp(k, "url") == 0) {
        if ((rc = want_scalar(p, v, k, &s)) != 0)
            return rc;
        free(d->url);
        free(d->url_label);
        d->url = d->url_label = NULL;
        return set_url(d, s) ? at(p, v, "url: %s", km_err_msg(), NULL) : 0;
    }
    if (strcmp(k, "name") == 0) {
        if ((rc = set_str(p, v, k, &d->name)) != 0)
            return rc;
        for (const char *q = d->name; *q; q++)
            if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-' && *q != '.')
                return at(p, v, "name \"%s\" may hold only letters, digits, '_', '-' and '.'",
                          d->name, NULL);
        if (!d->name[0] || d->name[0] == '.')
            return at(p, v, "name must not be empty or start with '.'", NULL, NULL);
        return 0;
    }
    if (strcmp(k, "remote_timeout") == 0)
        return set_duration(p, v, k, &d->remote_timeout_ms);
    if (strcmp(k, "bearer_token_file") == 0)
        return set_str(p, v, k, &d->token_file);
    if (strcmp(k, "authorization") == 0)
        return authorization(p, v, d);
    if (strcmp(k, "tls_config") == 0)
        return tls_config(p, v, d);
    if (strcmp(k, "queue_config") == 0)
        return queue_config(p, v, d);
    if (strcmp(k, "headers") == 0)
        return headers(p, v, d);
    if (strcmp(k, "write_relabel_configs") == 0) {
        if (v->type != YAML_SEQUENCE_NODE)
            return at(p, v, "write_relabel_configs must be a list", NULL, NULL);
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++)
            if ((rc = relabel_rule(p, node(p, *it), d)) != 0)
                return rc;
        return 0;
    }
    return at(p, kn, "unknown key \"%s\" in a remote_write entry", k, NULL);
}

static int dest(const struct parser *p, yaml_node_t *m, struct km_fwd_config *c)
{
    struct km_fwd_dest_cfg *d;
    int rc;

    if (m->type != YAML_MAPPING_NODE)
        return at(p, m, "a remote_write entry must be a mapping", NULL, NULL);
    if ((rc = grow_dests(c)) != 0)
        return rc;
    d = &c->d[c->n];
    for (yaml_node_pair_t *kv = m->data.mapping.pairs.start;
         rc == 0 && kv < m->data.mapping.pairs.top; kv++)
        rc = dest_key(p, node(p, kv->key), node(p, kv->value), d);
    if (rc == 0 && !d->url)
        rc = at(p, m, "a remote_write entry needs a url", NULL, NULL);
    if (rc == 0 && d->max_backoff_ms < d->min_backoff_ms)
        rc = at(p, m, "max_backoff is shorter than min_backoff", NULL, NULL);
    if (rc == 0 && d->remote_timeout_ms <= 0)
        rc = at(p, m, "remote_timeout must be positive", NULL, NULL);
    if (rc) {
        dest_free(d);
        return rc;
    }
    c->n++;
    return 0;
}

static int root(const struct parser *p, yaml_node_t *r, struct km_fwd_config *c)
{
    /* The rest of a prometheus.yml may come along: it is not ours to read. */
    static const char *const others[] = { "global",   "scrape_configs",      "rule_files",
                                          "alerting", "remote_read",         "storage",
                                          "tracing",  "scrape_config_files", NULL };
    int rc;

    if (r->type != YAML_MAPPING_NODE)
        return at(p, r, "expected a mapping with a remote_write list", NULL, NULL);
    for (yaml_node_pair_t *kv = r->data.mapping.pairs.start; kv < r->data.mapping.pairs.top; kv++) {
        yaml_node_t *kn = node(p, kv->key), *v = node(p, kv->value);
        const char *k = scalar(kn);
        bool other = false;

        for (size_t i = 0; k && others[i]; i++)
            other |= strcmp(k, others[i]) == 0;
        if (other)
            continue;
        if (!k || strcmp(k, "remote_write") != 0)
            return at(p, kn, "unknown key \"%s\" (expected remote_write)", k ? k : "?", NULL);
        if (v->type == YAML_SCALAR_NODE && !v->data.scalar.length)
            continue; /* remote_write: (empty) */
        if (v->type != YAML_SEQUENCE_NODE)
            return at(p, v, "remote_write must be a list", NULL, NULL);
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++)
            if ((rc = dest(p, node(p, *it), c)) != 0)
                return rc;
    }
    return 0;
}

int km_fwd_config_parse(struct km_fwd_config *c, const char *text, size_t len, const char *path)
{
    yaml_parser_t yp;
    yaml_document_t doc;
    struct parser p = { .doc = &doc, .path = path };
    yaml_node_t *r;
    int rc = 0;

    if (!yaml_parser_initialize(&yp))
        return km_err_set(KM_ENOMEM, "out of memory initialising the YAML parser");
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    if (!yaml_parser_load(&yp, &doc)) {
        rc = km_err_set(KM_EINVAL, "%s:%lu: %s", path, (unsigned long)yp.problem_mark.line + 1,
                        yp.problem ? yp.problem : "malformed YAML");
        yaml_parser_delete(&yp);
        return rc;
    }
    r = yaml_document_get_root_node(&doc);
    if (r)
        rc = root(&p, r, c);
    yaml_document_delete(&doc);
    yaml_parser_delete(&yp);
    return rc;
}

int km_fwd_config_load(struct km_fwd_config *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    struct km_buf b;
    char chunk[8192];
    size_t n;
    int rc;

    if (!f)
        return km_err_set_errno(KM_EIO, errno, "--remote-write-config: cannot open %s", path);
    km_buf_init(&b, 16u << 20);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (km_buf_append(&b, chunk, n) != 0)
            break;
    rc = ferror(f)          ? km_err_set_errno(KM_EIO, errno, "reading %s", path)
         : km_buf_error(&b) ? km_err_set(KM_ELIMIT, "%s is larger than 16 MiB", path)
                            : 0;
    fclose(f);
    if (rc == 0)
        rc = km_fwd_config_parse(c, b.data ? b.data : "", b.len, path);
    km_buf_fini(&b);
    return rc;
}

/* A name from the URL: host, port and path with anything else as '_'. */
static int name_from_url(struct km_fwd_dest_cfg *d)
{
    const char *s = strstr(d->url_label, "://");
    size_t n;

    s = s ? s + 3 : d->url_label;
    n = strlen(s);
    while (n && s[n - 1] == '/')
        n--;
    d->name = strndup(s, n);
    if (!d->name)
        return km_err_set(KM_ENOMEM, "out of memory");
    for (char *q = d->name; *q; q++)
        if (!isalnum((unsigned char)*q) && *q != '-' && *q != '.')
            *q = '_';
    return 0;
}

int km_fwd_config_finish(struct km_fwd_config *c)
{
    for (size_t i = 0; i < c->n; i++) {
        int rc = c->d[i].name ? 0 : name_from_url(&c->d[i]);

        if (rc)
            return rc;
    }
    for (size_t i = 0; i < c->n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->d[i].name, c->d[j].name) == 0)
                return km_err_set(KM_EINVAL,
                                  "two remote_write destinations are named \"%s\" (%s and %s): "
                                  "give each its own name",
                                  c->d[i].name, c->d[j].url_label, c->d[i].url_label);
    return 0;
}

void km_fwd_config_free(struct km_fwd_config *c)
{
    for (size_t i = 0; i < c->n; i++)
        dest_free(&c->d[i]);
    free(c->d);
    c->d = NULL;
    c->n = 0;
}
