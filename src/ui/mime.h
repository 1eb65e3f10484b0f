/*
 * mime — the content type of a dashboard file by its extension: one table for the
 * build-time embedding (embed.c) and the development mode's files read from disk (ui.c).
 */
#ifndef KMON_UI_MIME_H
#define KMON_UI_MIME_H

#include <string.h>

static inline const char *km_ui_content_type(const char *path)
{
    static const char *const map[][2] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
        { ".json", "application/json" },
        { ".txt", "text/plain; charset=utf-8" },
        { ".woff2", "font/woff2" },
    };
    const char *dot = strrchr(path, '.');

    for (size_t i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(dot, map[i][0]) == 0)
            return map[i][1];
    }
    return "application/octet-stream";
}

#endif
