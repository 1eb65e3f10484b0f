/*
 * ui — the dashboard's files under /ui/ (see ui.h): lookup, revalidation (ETag,
 * If-None-Match → 304), gzip by Accept-Encoding, the page's security headers, and the
 * development mode that reads the files from a directory.
 */
#include "ui/ui.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/mset.h"
#include "ui/mime.h"
#include "ui/ui_assets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct km_ui {
    char *dir; /* NULL: the embedded files */
};

/* What the page may do: its own scripts, styles, images and API calls, nothing else
 * (no inline script, no other host: clusters run offline). */
#define UI_CSP                                                                                     \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "                  \
    "form-action 'self'; frame-ancestors 'none'"

int km_ui_create(struct km_ui **out, const char *dir)
{
    struct km_ui *ui = calloc(1, sizeof(*ui));

    if (!ui)
        return km_err_set(KM_ENOMEM, "out of memory");
    if (dir && *dir) {
        ui->dir = strdup(dir);
        if (!ui->dir) {
            free(ui);
            return km_err_set(KM_ENOMEM, "out of memory");
        }
    }
    *out = ui;
    return 0;
}

void km_ui_destroy(struct km_ui *ui)
{
    if (!ui)
        return;
    free(ui->dir);
    free(ui);
}

void km_ui_metrics(struct km_mset *m)
{
    size_t bytes = 0, gz = 0;
    int f;

    for (size_t i = 0; i < km_ui_nassets; i++) {
        bytes += km_ui_assets[i].len;
        gz += km_ui_assets[i].gz ? km_ui_assets[i].gzlen : km_ui_assets[i].len;
    }
    km_mset_gauge(m, "kmon_ui_files", "Files of the dashboard built into the binary.",
                  (double)km_ui_nassets);
    f = km_mset_family(m, "kmon_ui_bytes",
                       "Size of the dashboard's built-in files, as they are and gzip-compressed.",
                       KM_MT_GAUGE, 0);
    km_mset_add(m, f, &(struct km_label){ "encoding", "identity" }, 1, (double)bytes);
    km_mset_add(m, f, &(struct km_label){ "encoding", "gzip" }, 1, (double)gz);
}

bool km_ui_wants_page(const struct km_http_req *req)
{
    const char *a = km_http_req_header(req, "Accept");

    return a && strstr(a, "text/html") != NULL;
}

int km_ui_redirect(struct km_http_req *req)
{
    static const char body[] = "the dashboard is at /ui/\n";

    km_http_req_add_header(req, "Location", "/ui/");
    return km_http_respond_static(req, 302, "text/plain; charset=utf-8", body, sizeof(body) - 1);
}

/* ---- lookup ---------------------------------------------------------------------------- */

/* A path under /ui/ made only of safe characters and no "." or ".." segment. */
static bool path_ok(const char *p)
{
    const char *seg = p;

    if (strlen(p) > 200)
        return false;
    for (const char *c = p;; c++) {
        if (*c == '/' || *c == '\0') {
            size_t n = (size_t)(c - seg);

            if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
                return false;
            if (!*c)
                return true;
            seg = c + 1;
            continue;
        }
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-' || *c == '_'))
            return false;
    }
}

/* The file a path names: itself when its last segment has a dot, else the app's page. */
static const char *file_of(const char *rest)
{
    const char *last = strrchr(rest, '/');

    last = last ? last + 1 : rest;
    return strchr(last, '.') ? rest : "index.html";
}

static const struct km_ui_asset *find_embedded(const char *path)
{
    for (size_t i = 0; i < km_ui_nassets; i++) {
        if (strcmp(km_ui_assets[i].path, path) == 0)
            return &km_ui_assets[i];
    }
    return NULL;
}

static int read_all(const char *path, struct km_buf *b)
{
    FILE *f = fopen(path, "rb");
    char chunk[16384];
    size_t n;

    if (!f)
        return KM_ENOTFOUND;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        km_buf_append(b, chunk, n);
    fclose(f);
    return km_buf_error(b) ? KM_ENOMEM : 0;
}

/* Development: the file from the directory (vendor/ files also from the npm package). */
static int read_dev(const struct km_ui *ui, const char *file, struct km_buf *b)
{
    char path[4096];
    int rc;

    snprintf(path, sizeof(path), "%s/%s", ui->dir, file);
    rc = read_all(path, b);
    if (rc == KM_ENOTFOUND && strncmp(file, "vendor/", 7) == 0) {
        snprintf(path, sizeof(path), "%s/../node_modules/uplot/dist/%s", ui->dir, file + 7);
        rc = read_all(path, b);
    }
    return rc;
}

/* ---- handlers -------------------------------------------------------------------------- */

static void add_page_headers(struct km_http_req *req, const char *etag)
{
    km_http_req_add_header(req, "Content-Security-Policy", UI_CSP);
    km_http_req_add_header(req, "X-Content-Type-Options", "nosniff");
    km_http_req_add_header(req, "Referrer-Policy", "no-referrer");
    km_http_req_add_header(req, "X-Frame-Options", "DENY");
    /* Revalidated at each use: an upgrade of kmon is seen at once, and an unchanged file
     * costs a 304. */
    km_http_req_add_header(req, "Cache-Control", "no-cache");
    km_http_req_add_header(req, "Vary", "Accept-Encoding");
    km_http_req_add_header(req, "ETag", etag);
}

static void serve_dev(struct km_http_req *req, const struct km_ui *ui, const char *file)
{
    struct km_buf b;
    char etag[24];
    int rc;

    km_buf_init(&b, 0);
    rc = read_dev(ui, file, &b);
    if (rc) {
        km_buf_fini(&b);
        if (rc == KM_ENOTFOUND)
            km_http_respond_error(req, 404, "no file /ui/%s", file);
        else
            km_http_respond_error(req, 500, "out of memory");
        return;
    }
    snprintf(etag, sizeof(etag), "\"%016llx\"", (unsigned long long)XXH3_64bits(b.data, b.len));
    add_page_headers(req, etag);
    if (km_http_req_etag_matches(req, etag))
        km_http_respond_static(req, 304, NULL, "", 0);
    else
        km_http_respond_buf(req, 200, km_ui_content_type(file), &b);
    km_buf_fini(&b);
}

static void on_ui(struct km_http_req *req, void *ud)
{
    const struct km_ui *ui = ud;
    const char *rest = km_http_req_param(req, "*"), *file;
    const struct km_ui_asset *a;

    if (!rest)
        rest = "";
    /* "/ui" → "/ui/": the page's relative URLs resolve under /ui/. */
    if (strcmp(km_http_req_path(req), "/ui") == 0) {
        km_ui_redirect(req);
        return;
    }
    if (!path_ok(rest)) {
        km_http_respond_error(req, 404, "no such file under /ui/");
        return;
    }
    file = file_of(rest);
    if (ui->dir) {
        serve_dev(req, ui, file);
        return;
    }
    a = find_embedded(file);
    if (!a) {
        km_http_respond_error(req, 404, "no file /ui/%s", file);
        return;
    }
    add_page_headers(req, a->etag);
    if (km_http_req_etag_matches(req, a->etag)) {
        km_http_respond_static(req, 304, NULL, "", 0);
    } else if (a->gz && km_http_req_accepts_gzip(req)) {
        km_http_req_add_header(req, "Content-Encoding", "gzip");
        km_http_respond_static(req, 200, a->content_type, a->gz, a->gzlen);
    } else {
        km_http_respond_static(req, 200, a->content_type, a->data, a->len);
    }
}

/* Anything but GET under /ui/ is a client with a wrong base URL (`kmon query --server
 * http://host/ui`): "no such endpoint", as for any unknown path, not 405. */
static void on_ui_other(struct km_http_req *req, void *ud)
{
    (void)ud;
    km_http_respond_error(req, 404, "no such endpoint: %s", km_http_req_path(req));
}

const struct km_http_route km_ui_routes[] = {
    { "POST", "/ui/*", on_ui_other, KM_ROUTE_INLINE },
    /* On the polling thread: a file in memory is answered at once, never behind a
     * queue of slow queries. */
    { "GET", "/ui/*", on_ui, KM_ROUTE_INLINE },
};
const size_t km_ui_nroutes = sizeof(km_ui_routes) / sizeof(km_ui_routes[0]);
