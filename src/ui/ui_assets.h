/*
 * ui_assets — the dashboard's files as the build embedded them (see embed.c): each as
 * it is and gzip-compressed (NULL when that was not smaller), with its type and ETag.
 */
#ifndef KMON_UI_ASSETS_H
#define KMON_UI_ASSETS_H

#include <stddef.h>

struct km_ui_asset {
    const char *path; /* under /ui/: "index.html", "vendor/uPlot.esm.js" */
    const char *content_type;
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* NULL: serve data as it is */
    size_t gzlen;
    const char *etag; /* quoted, as sent */
};

extern const struct km_ui_asset km_ui_assets[];
extern const size_t km_ui_nassets;

#endif
