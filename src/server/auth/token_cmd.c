/*
 * token_cmd — `kmon token new --name N --scope S [--cluster C | --clusters A,B]`: a fresh
 * random token (32 bytes from GnuTLS' random generator, as 64 hex digits) on stdout, and
 * the entry to add to the server's --tokens file (its SHA-256 digest, never the token) on
 * stderr, so nobody computes digests by hand. Checked as the server checks the file.
 */
#include "auth.h"

#include "common/buf.h"
#include "common/cfg.h"
#include "common/err.h"
#include "common/subcmd.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_BYTES 32

struct new_opts {
    char *name;
    char *scope;
    char *cluster;
    char *clusters;
};

static const struct km_cfg_field new_fields[] = {
    { .name = "name",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct new_opts, name),
      .metavar = "NAME",
      .help = "what logs and metrics call the token (kmon_auth_token_requests_total{token})" },
    { .name = "scope",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct new_opts, scope),
      .def = "read",
      .metavar = "write|read|admin",
      .help = "write: ingest for one cluster; read: queries and the dashboard; admin: all and "
              "reload, flush" },
    { .name = "cluster",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct new_opts, cluster),
      .metavar = "NAME",
      .help = "write: the cluster everything it writes is labelled with (required); read: the "
              "one cluster it sees" },
    { .name = "clusters",
      .type = KM_CFG_LIST,
      .offset = offsetof(struct new_opts, clusters),
      .metavar = "A,B",
      .help = "read: the clusters it sees (default: every one)" },
    KM_CFG_FIELDS_END,
};

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* The entry for the file, as YAML (names quoted as JSON strings, which YAML reads). */
static void entry(struct km_buf *y, const struct new_opts *o, const char *digest)
{
    km_buf_printf(y, "  - name: \"%s\"\n    sha256: %s\n    scope: %s\n", o->name, digest,
                  o->scope);
    if (o->cluster && *o->cluster)
        km_buf_printf(y, "    cluster: \"%s\"\n", o->cluster);
    if (o->clusters && *o->clusters) {
        char *list = strdup(o->clusters), *save = NULL;
        const char *sep = "";

        km_buf_puts(y, "    clusters: [");
        for (char *c = list ? strtok_r(list, ",", &save) : NULL; c;
             c = strtok_r(NULL, ",", &save), sep = ", ")
            km_buf_printf(y, "%s\"%s\"", sep, c);
        km_buf_puts(y, "]\n");
        free(list);
    }
}

static int token_new(int argc, char **argv)
{
    struct new_opts o = { 0 };
    struct km_cfg_common common = { 0 };
    struct km_cfg_cmd c = {
        .name = "token",
        .usage = "kmon token new --name NAME --scope write|read|admin [--cluster NAME]",
        .summary = "Print a new random token on stdout and, on stderr, its entry for the "
                   "server's --tokens file (only the token's SHA-256 is kept there).",
        .sections = { { "Token", new_fields, &o }, { "Common", km_cfg_common_fields, &common } },
        .nsections = 2,
    };
    unsigned char raw[TOKEN_BYTES], dig[KM_AUTH_DIGEST_LEN];
    char tok[2 * TOKEN_BYTES + 1], dhex[2 * KM_AUTH_DIGEST_LEN + 1];
    struct km_auth_token_set check;
    struct km_buf y;
    int status = 1, rc;

    if (!km_cfg_start_command(&c, &common, argc, argv, "kmon token new", &status))
        return status;
    status = 2;
    if (!o.name || !*o.name) {
        fprintf(stderr, "kmon token new: give --name NAME\n");
        goto out_cfg;
    }
    if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)) < 0) {
        fprintf(stderr, "kmon token new: no random bytes from GnuTLS\n");
        status = 1;
        goto out_cfg;
    }
    hex(raw, sizeof(raw), tok);
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, tok, strlen(tok), dig) < 0) {
        fprintf(stderr, "kmon token new: SHA-256 failed\n");
        status = 1;
        goto out_cfg;
    }
    hex(dig, sizeof(dig), dhex);
    km_buf_init(&y, 0);
    km_buf_puts(&y, "tokens:\n");
    entry(&y, &o, dhex);
    /* The entry is checked as the server will check the file. */
    rc = km_auth_tokens_parse(&check, "(the new entry)", y.data, y.len);
    if (rc) {
        fprintf(stderr, "kmon token new: %s\n", km_err_msg());
        goto out_buf;
    }
    km_auth_token_set_fini(&check);
    printf("%s\n", tok);
    fflush(stdout);
    fprintf(stderr, "# add to the server's --tokens file (under tokens:):\n%s",
            km_buf_cstr(&y) + strlen("tokens:\n"));
    status = 0;
out_buf:
    km_buf_fini(&y);
out_cfg:
    km_cfg_free(&c);
    return status;
}

int km_token_main(int argc, char **argv)
{
    static const struct km_subcmd subcommands[] = {
        { "new", "print a new random token, and its entry for the --tokens file", token_new },
    };
    static const struct km_subcmd_set set = {
        .who = "kmon token",
        .usage = "kmon token <command> [flags]",
        .about = "Bearer tokens for the server's --tokens file (docs/security.md).",
        .cmds = subcommands,
        .n = sizeof(subcommands) / sizeof(subcommands[0]),
    };

    return km_subcmd_dispatch(&set, argc, argv);
}
