/*
 * kconfig — Kubernetes API connection settings (see kconfig.h). The kubeconfig is read
 * with libyaml's document loader and walked as a tree.
 */
#include "kconfig.h"

#include "common/err.h"
#include "common/procfile.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

void km_kube_config_fini(struct km_kube_config *c)
{
    if (c->tmpdir) {
        char path[4200];
        const char *files[] = { "ca.crt", "client.crt", "client.key" };

        for (size_t i = 0; i < 3; i++) {
            snprintf(path, sizeof(path), "%s/%s", c->tmpdir, files[i]);
            unlink(path);
        }
        rmdir(c->tmpdir);
    }
    free(c->server);
    free(c->ca_file);
    free(c->token);
    free(c->token_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->tmpdir);
    memset(c, 0, sizeof(*c));
}

static char *dup_trimmed_server(const char *s)
{
    size_t n = strlen(s);
    char *d;

    while (n && s[n - 1] == '/')
        n--;
    d = strndup(s, n);
    if (!d)
        km_err_set(KM_ENOMEM, "out of memory");
    return d;
}

int km_kube_config_incluster(struct km_kube_config *c, const char *sa_dir)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    char url[512], path[4200];

    memset(c, 0, sizeof(*c));
    if (!host || !*host || !port || !*port)
        return km_err_set(KM_ENOTFOUND, "not in a cluster (KUBERNETES_SERVICE_HOST unset)");
    /* An IPv6 service address needs brackets in a URL. */
    snprintf(url, sizeof(url), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
    snprintf(path, sizeof(path), "%s/token", sa_dir);
    if (access(path, R_OK) != 0)
        return km_err_set(KM_ENOTFOUND, "no service-account token at %s", path);
    c->server = dup_trimmed_server(url);
    c->token_file = strdup(path);
    snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
    c->ca_file = strdup(path);
    if (!c->server || !c->token_file || !c->ca_file) {
        km_kube_config_fini(c);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    snprintf(c->source, sizeof(c->source), "in-cluster (%s)", sa_dir);
    return 0;
}

/* ---- kubeconfig ------------------------------------------------------------------------ */

static yaml_node_t *get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);

        if (k && k->type == YAML_SCALAR_NODE && strlen(key) == k->data.scalar.length &&
            memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The entry of a named list ("clusters", "users", "contexts") whose name is `name`, and
 * its inner map (key `inner`). */
static yaml_node_t *named(yaml_document_t *d, yaml_node_t *root, const char *list, const char *name,
                          const char *inner)
{
    yaml_node_t *seq = get(d, root, list);

    if (!seq || seq->type != YAML_SEQUENCE_NODE || !name)
        return NULL;
    for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
         i++) {
        yaml_node_t *e = yaml_document_get_node(d, *i);
        const char *n = scalar(get(d, e, "name"));

        if (n && strcmp(n, name) == 0)
            return get(d, e, inner);
    }
    return NULL;
}

/* Write inline base64 data to <tmpdir>/<file> (0600) and return the path. */
static int write_data(struct km_kube_config *c, const char *b64, const char *file, char **path,
                      const char *what)
{
    gnutls_datum_t in = { (unsigned char *)b64, (unsigned)strlen(b64) }, data = { 0 };
    char p[4200];
    ssize_t w;
    int fd;

    if (gnutls_base64_decode2(&in, &data) != GNUTLS_E_SUCCESS)
        return km_err_set(KM_EINVAL, "kubeconfig: %s is not valid base64", what);
    if (!c->tmpdir) {
        char tmpl[] = "/tmp/kmon-kube-XXXXXX";

        if (!mkdtemp(tmpl) || !(c->tmpdir = strdup(tmpl))) {
            gnutls_free(data.data);
            return km_err_set(KM_EIO, "kubeconfig: cannot make a private directory: %s",
                              strerror(errno));
        }
    }
    snprintf(p, sizeof(p), "%s/%s", c->tmpdir, file);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    w = fd >= 0 ? write(fd, data.data, data.size) : -1;
    if (fd >= 0)
        close(fd);
    gnutls_free(data.data);
    if (w != (ssize_t)data.size)
        return km_err_set(KM_EIO, "kubeconfig: cannot write %s", p);
    *path = strdup(p);
    return *path ? 0 : km_err_set(KM_ENOMEM, "out of memory");
}

/* A path setting, relative paths being relative to the kubeconfig's directory. */
static int set_path(char **dst, const char *v, const char *kubeconfig)
{
    const char *slash = strrchr(kubeconfig, '/');
    char p[4200];

    if (v[0] == '/' || !slash)
        snprintf(p, sizeof(p), "%s", v);
    else
        snprintf(p, sizeof(p), "%.*s/%s", (int)(slash - kubeconfig), kubeconfig, v);
    *dst = strdup(p);
    return *dst ? 0 : km_err_set(KM_ENOMEM, "out of memory");
}

static int from_document(struct km_kube_config *c, yaml_document_t *d, const char *path)
{
    yaml_node_t *root = yaml_document_get_root_node(d), *ctx, *cluster, *user;
    const char *cur = scalar(get(d, root, "current-context")), *v;
    int rc = 0;

    if (!cur || !*cur)
        return km_err_set(KM_EINVAL, "kubeconfig %s: no current-context", path);
    ctx = named(d, root, "contexts", cur, "context");
    if (!ctx)
        return km_err_set(KM_EINVAL, "kubeconfig %s: context \"%s\" not found", path, cur);
    cluster = named(d, root, "clusters", scalar(get(d, ctx, "cluster")), "cluster");
    user = named(d, root, "users", scalar(get(d, ctx, "user")), "user");
    if (!cluster || !(v = scalar(get(d, cluster, "server"))))
        return km_err_set(KM_EINVAL, "kubeconfig %s: context \"%s\" has no cluster server", path,
                          cur);
    if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0)
        return km_err_set(KM_EINVAL, "kubeconfig %s: server \"%s\" is not an http(s) URL", path, v);
    c->server = dup_trimmed_server(v);
    if (!c->server)
        return KM_ENOMEM;
    c->insecure =
        (v = scalar(get(d, cluster, "insecure-skip-tls-verify"))) && strcmp(v, "true") == 0;
    if ((v = scalar(get(d, cluster, "certificate-authority-data"))))
        rc = write_data(c, v, "ca.crt", &c->ca_file, "certificate-authority-data");
    else if ((v = scalar(get(d, cluster, "certificate-authority"))))
        rc = set_path(&c->ca_file, v, path);
    if (rc == 0 && (v = scalar(get(d, user, "token"))))
        c->token = strdup(v);
    else if (rc == 0 && (v = scalar(get(d, user, "tokenFile"))))
        rc = set_path(&c->token_file, v, path);
    if (rc == 0 && (v = scalar(get(d, user, "client-certificate-data"))))
        rc = write_data(c, v, "client.crt", &c->cert_file, "client-certificate-data");
    else if (rc == 0 && (v = scalar(get(d, user, "client-certificate"))))
        rc = set_path(&c->cert_file, v, path);
    if (rc == 0 && (v = scalar(get(d, user, "client-key-data"))))
        rc = write_data(c, v, "client.key", &c->key_file, "client-key-data");
    else if (rc == 0 && (v = scalar(get(d, user, "client-key"))))
        rc = set_path(&c->key_file, v, path);
    if (rc == 0 && get(d, user, "exec"))
        rc = km_err_set(KM_EINVAL,
                        "kubeconfig %s: user of context \"%s\" uses an exec credential plugin, "
                        "which kmon does not run; give a token or a client certificate",
                        path, cur);
    if (rc == 0 && !!c->cert_file != !!c->key_file)
        rc = km_err_set(KM_EINVAL, "kubeconfig %s: a client certificate needs its key", path);
    snprintf(c->source, sizeof(c->source), "kubeconfig %s (context %s)", path, cur);
    return rc;
}

int km_kube_config_kubeconfig(struct km_kube_config *c, const char *path)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    FILE *f;
    int rc;

    memset(c, 0, sizeof(*c));
    f = fopen(path, "r");
    if (!f)
        return km_err_set(errno == ENOENT ? KM_ENOTFOUND : KM_EIO, "kubeconfig %s: %s", path,
                          strerror(errno));
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = km_err_set(KM_EINVAL, "kubeconfig %s: line %zu: %s", path,
                        parser.problem_mark.line + 1, parser.problem ? parser.problem : "not YAML");
        goto out_parser;
    }
    rc = from_document(c, &doc, path);
    yaml_document_delete(&doc);
out_parser:
    yaml_parser_delete(&parser);
    fclose(f);
    if (rc)
        km_kube_config_fini(c);
    return rc;
}

bool km_kube_config_token(const struct km_kube_config *c, char *out, unsigned size)
{
    long n;

    if (c->token) {
        snprintf(out, size, "%s", c->token);
        return true;
    }
    if (!c->token_file)
        return false;
    n = km_read_small_file(c->token_file, out, size);
    if (n <= 0)
        return false;
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        out[--n] = '\0';
    return n > 0;
}
