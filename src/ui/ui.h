/*
 * ui — serving the web dashboard under /ui/: the files compiled into the binary (or,
 * for development, read from a directory at each request), with ETag revalidation,
 * gzip when the client takes it, and headers that confine the page (a
 * Content-Security-Policy allowing only this origin's scripts, styles and API). A path
 * under /ui/ whose last segment has no dot is a page of the app: it gets index.html, so
 * a shared deep link opens the same view.
 */
#ifndef KMON_UI_H
#define KMON_UI_H

#include "common/http_server.h"

#include <stdbool.h>

struct km_ui;

/* dir: NULL serves the embedded files; else the app's source directory (web/src), with
 * vendor/ files looked up in dir/vendor/ and then dir/../node_modules/uplot/dist/. */
int km_ui_create(struct km_ui **out, const char *dir);
void km_ui_destroy(struct km_ui *ui);

/* The routes: GET /ui and /ui/... (context: the km_ui). */
extern const struct km_http_route km_ui_routes[];
extern const size_t km_ui_nroutes;

/* True when the request comes from a browser navigating (it accepts text/html), which
 * "/" then sends to the dashboard; API clients and probes get JSON. */
bool km_ui_wants_page(const struct km_http_req *req);
/* Answer with a redirect to /ui/. */
int km_ui_redirect(struct km_http_req *req);

struct km_mset;

/* kmon_ui_files and kmon_ui_bytes{encoding="identity"|"gzip"}: the embedded files and
 * what a browser loads of them in all. */
void km_ui_metrics(struct km_mset *m);

#endif
