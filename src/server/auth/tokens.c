/*
 * tokens — the token file (see auth.h): YAML read with libyaml's document loader, every
 * entry checked strictly (a message naming the line), only digests kept; and the lookup
 * of a presented token, hashed and compared with every digest in constant time.
 */
#include "auth.h"

#include "common/buf.h"
#include "common/err.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_FILE_BYTES (4u << 20)
#define MAX_NAME_BYTES 128

struct parser {
    yaml_document_t *doc;
    const char *path;
    struct km_auth_token_set *set;
};

static unsigned line_of(const yaml_node_t *n)
{
    return (unsigned)n->start_mark.line + 1;
}

static int fail(const struct parser *p, const yaml_node_t *n, const char *fmt, const char *a,
                const char *b)
{
    char msg[512];

    snprintf(msg, sizeof(msg), fmt, a ? a : "", b ? b : "");
    return km_err_set(KM_EINVAL, "%s: line %u: %s", p->path, n ? line_of(n) : 1, msg);
}

static const char *scalar_of(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int parse_digest(const struct parser *p, const yaml_node_t *n, unsigned char *out)
{
    const char *s = scalar_of(n);

    if (!s || strlen(s) != 2 * KM_AUTH_DIGEST_LEN)
        return fail(p, n,
                    "sha256 must be 64 hexadecimal digits (the SHA-256 of the token: printf %%s "
                    "\"$TOKEN\" | sha256sum)%s%s",
                    NULL, NULL);
    for (size_t i = 0; i < KM_AUTH_DIGEST_LEN; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return fail(p, n, "sha256 holds a character that is not a hexadecimal digit%s%s", NULL,
                        NULL);
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static bool valid_text(const char *s)
{
    if (!*s || strlen(s) > MAX_NAME_BYTES)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

static int add_cluster(const struct parser *p, struct km_auth_token *t, const yaml_node_t *n)
{
    const char *v = scalar_of(n);
    char **c;

    if (!v || !valid_text(v))
        return fail(p, n, "a cluster must be a non-empty name (at most 128 bytes)%s%s", NULL, NULL);
    for (size_t i = 0; i < t->nclusters; i++)
        if (strcmp(t->clusters[i], v) == 0)
            return fail(p, n, "cluster \"%s\" listed twice%s", v, NULL);
    c = realloc(t->clusters, (t->nclusters + 1) * sizeof(*c));
    if (!c)
        return km_err_set(KM_ENOMEM, "out of memory reading %s", p->path);
    t->clusters = c;
    c[t->nclusters] = strdup(v);
    if (!c[t->nclusters])
        return km_err_set(KM_ENOMEM, "out of memory reading %s", p->path);
    t->nclusters++;
    return 0;
}

static void token_fini(struct km_auth_token *t)
{
    free(t->name);
    for (size_t i = 0; i < t->nclusters; i++)
        free(t->clusters[i]);
    free(t->clusters);
    memset(t, 0, sizeof(*t));
}

/* One entry's keys, each once, none unknown. */
static int parse_keys(const struct parser *p, const yaml_node_t *e, struct km_auth_token *t,
                      const yaml_node_t **cluster, const yaml_node_t **clusters, bool *have_digest,
                      const char **scope)
{
    const char *seen[8];
    size_t nseen = 0;

    for (yaml_node_pair_t *kv = e->data.mapping.pairs.start; kv < e->data.mapping.pairs.top; kv++) {
        const yaml_node_t *k = yaml_document_get_node(p->doc, kv->key);
        const yaml_node_t *v = yaml_document_get_node(p->doc, kv->value);
        const char *key = scalar_of(k);
        int rc = 0;

        if (!key)
            return fail(p, k, "a key must be a plain name%s%s", NULL, NULL);
        for (size_t i = 0; i < nseen; i++)
            if (strcmp(seen[i], key) == 0)
                return fail(p, k, "key \"%s\" given twice%s", key, NULL);
        if (nseen < sizeof(seen) / sizeof(seen[0]))
            seen[nseen++] = key;
        if (strcmp(key, "name") == 0) {
            const char *s = scalar_of(v);

            if (!s || !valid_text(s))
                return fail(p, v,
                            "name must be a non-empty string of at most 128 printable bytes%s%s",
                            NULL, NULL);
            t->name = strdup(s);
            if (!t->name)
                return km_err_set(KM_ENOMEM, "out of memory reading %s", p->path);
        } else if (strcmp(key, "sha256") == 0) {
            rc = parse_digest(p, v, t->sha256);
            *have_digest = rc == 0;
        } else if (strcmp(key, "scope") == 0) {
            *scope = scalar_of(v);
            if (!*scope)
                return fail(p, v, "scope must be write, read or admin%s%s", NULL, NULL);
        } else if (strcmp(key, "cluster") == 0) {
            *cluster = v;
        } else if (strcmp(key, "clusters") == 0) {
            *clusters = v;
        } else {
            return fail(p, k,
                        "unknown key \"%s\" (a token has name, sha256, scope, and cluster or "
                        "clusters)%s",
                        key, NULL);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_token(const struct parser *p, const yaml_node_t *e, struct km_auth_token *t)
{
    const yaml_node_t *cluster = NULL, *clusters = NULL;
    const char *scope = NULL;
    bool have_digest = false;
    int rc;

    t->line = line_of(e);
    if (e->type != YAML_MAPPING_NODE)
        return fail(p, e, "a token must be a mapping {name, sha256, scope, cluster}%s%s", NULL,
                    NULL);
    rc = parse_keys(p, e, t, &cluster, &clusters, &have_digest, &scope);
    if (rc)
        return rc;
    if (!t->name)
        return fail(p, e, "a token needs a name%s%s", NULL, NULL);
    if (!have_digest)
        return fail(p, e, "token \"%s\" needs sha256 (the SHA-256 of the token, in hex)%s", t->name,
                    NULL);
    if (!scope)
        return fail(p, e, "token \"%s\" needs a scope: write, read or admin%s", t->name, NULL);
    if (strcmp(scope, "write") == 0)
        t->scope = KM_AUTH_WRITE;
    else if (strcmp(scope, "read") == 0)
        t->scope = KM_AUTH_READ;
    else if (strcmp(scope, "admin") == 0)
        t->scope = KM_AUTH_ADMIN;
    else
        return fail(p, e, "token \"%s\": unknown scope \"%s\" (write, read or admin)", t->name,
                    scope);
    if (cluster && clusters)
        return fail(p, e, "token \"%s\": give cluster or clusters, not both%s", t->name, NULL);
    if (t->scope == KM_AUTH_ADMIN && (cluster || clusters))
        return fail(p, e,
                    "token \"%s\": an admin token reads and writes every cluster: no "
                    "cluster%s",
                    t->name, NULL);
    if (t->scope == KM_AUTH_WRITE && !cluster)
        return fail(p, e,
                    "token \"%s\": a write token is bound to one cluster: give cluster: NAME%s",
                    t->name, NULL);
    if (cluster)
        return add_cluster(p, t, cluster);
    if (clusters) {
        if (clusters->type != YAML_SEQUENCE_NODE)
            return fail(p, clusters, "token \"%s\": clusters must be a list of names%s", t->name,
                        NULL);
        for (yaml_node_item_t *i = clusters->data.sequence.items.start;
             i < clusters->data.sequence.items.top; i++) {
            rc = add_cluster(p, t, yaml_document_get_node(p->doc, *i));
            if (rc)
                return rc;
        }
        if (t->nclusters == 0)
            return fail(p, clusters,
                        "token \"%s\": an empty clusters list (leave it out to read every "
                        "cluster)%s",
                        t->name, NULL);
    }
    return 0;
}

/* Names and digests are each unique: a token must say who it is. */
static int check_unique(const struct parser *p, const yaml_node_t *e, const struct km_auth_token *t)
{
    char other[32];

    for (size_t i = 0; i < p->set->n; i++) {
        const struct km_auth_token *o = &p->set->t[i];

        snprintf(other, sizeof(other), "%u", o->line);
        if (strcmp(o->name, t->name) == 0)
            return fail(p, e, "duplicate token name \"%s\" (first at line %s)", t->name, other);
        if (km_auth_digest_equal(o->sha256, t->sha256))
            return fail(p, e, "token \"%s\" has the same sha256 as the token at line %s", t->name,
                        other);
    }
    return 0;
}

static int parse_root(struct parser *p)
{
    yaml_node_t *root = yaml_document_get_root_node(p->doc), *list = NULL;

    if (!root)
        return fail(p, NULL, "the file is empty: it needs \"tokens:\", a list of tokens%s%s", NULL,
                    NULL);
    if (root->type != YAML_MAPPING_NODE)
        return fail(p, root, "the file must be a mapping with \"tokens:\"%s%s", NULL, NULL);
    for (yaml_node_pair_t *kv = root->data.mapping.pairs.start; kv < root->data.mapping.pairs.top;
         kv++) {
        yaml_node_t *k = yaml_document_get_node(p->doc, kv->key);
        const char *key = scalar_of(k);

        if (!key || strcmp(key, "tokens") != 0)
            return fail(p, k, "unknown key \"%s\" (the file holds only \"tokens:\")%s",
                        key ? key : "?", NULL);
        if (list)
            return fail(p, k, "\"tokens\" given twice%s%s", NULL, NULL);
        list = yaml_document_get_node(p->doc, kv->value);
    }
    if (!list || list->type != YAML_SEQUENCE_NODE)
        return fail(p, list ? list : root, "\"tokens\" must be a list of tokens%s%s", NULL, NULL);
    for (yaml_node_item_t *i = list->data.sequence.items.start; i < list->data.sequence.items.top;
         i++) {
        yaml_node_t *e = yaml_document_get_node(p->doc, *i);
        struct km_auth_token t = { 0 }, *grown;
        int rc = parse_token(p, e, &t);

        if (rc == 0)
            rc = check_unique(p, e, &t);
        if (rc == 0 && !(grown = realloc(p->set->t, (p->set->n + 1) * sizeof(*grown))))
            rc = km_err_set(KM_ENOMEM, "out of memory reading %s", p->path);
        if (rc) {
            token_fini(&t);
            return rc;
        }
        p->set->t = grown;
        p->set->t[p->set->n++] = t;
    }
    if (p->set->n == 0)
        return fail(p, list,
                    "no tokens: every request that needs one would be refused (run without "
                    "--tokens to serve without authentication)%s%s",
                    NULL, NULL);
    return 0;
}

int km_auth_tokens_parse(struct km_auth_token_set *out, const char *path, const char *text,
                         size_t len)
{
    yaml_parser_t yp;
    yaml_document_t doc;
    struct parser p = { .doc = &doc, .path = path, .set = out };
    int rc;

    memset(out, 0, sizeof(*out));
    if (!yaml_parser_initialize(&yp))
        return km_err_set(KM_ENOMEM, "out of memory reading %s", path);
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    if (!yaml_parser_load(&yp, &doc)) {
        rc = km_err_set(KM_EINVAL, "%s: line %zu: %s", path, yp.problem_mark.line + 1,
                        yp.problem ? yp.problem : "invalid YAML");
        goto out_parser;
    }
    rc = parse_root(&p);
    yaml_document_delete(&doc);
    if (rc)
        km_auth_token_set_fini(out);
out_parser:
    yaml_parser_delete(&yp);
    return rc;
}

int km_auth_tokens_load(struct km_auth_token_set *out, const char *path)
{
    FILE *f = fopen(path, "rb");
    struct km_buf b;
    char chunk[8192];
    size_t n;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!f)
        return km_err_set_errno(KM_EIO, errno, "reading the token file %s", path);
    km_buf_init(&b, MAX_FILE_BYTES);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        km_buf_append(&b, chunk, n);
    if (ferror(f))
        rc = km_err_set_errno(KM_EIO, errno, "reading the token file %s", path);
    else if (km_buf_error(&b))
        rc = km_err_set(KM_EINVAL, "%s: larger than %u bytes", path, MAX_FILE_BYTES);
    fclose(f);
    if (rc == 0)
        rc = km_auth_tokens_parse(out, path, b.data ? b.data : "", b.len);
    km_buf_fini(&b);
    return rc;
}

void km_auth_token_set_fini(struct km_auth_token_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        token_fini(&s->t[i]);
    free(s->t);
    memset(s, 0, sizeof(*s));
}

bool km_auth_digest_equal(const unsigned char *a, const unsigned char *b)
{
    volatile unsigned char d = 0;

    for (size_t i = 0; i < KM_AUTH_DIGEST_LEN; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

long km_auth_token_find(const struct km_auth_token_set *s, const char *token, size_t len)
{
    unsigned char h[KM_AUTH_DIGEST_LEN];
    long found = -1;

    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, token, len, h) < 0)
        return -1;
    for (size_t i = 0; i < s->n; i++) {
        /* All ones when equal, zero otherwise: the index is picked without a branch. */
        long eq = -(long)km_auth_digest_equal(s->t[i].sha256, h);

        found = (found & ~eq) | ((long)i & eq);
    }
    return found;
}
