/*
 * history — alert transitions in day files of JSON lines (see history.h). Writing: one
 * line per transition, appended with write(2) in one call and fdatasync'ed. Reading: the
 * day files overlapping the range, line by line through jansson, filtered by time and
 * matchers; unreadable lines (a torn write) are counted and skipped.
 *
 * A record:
 *   {"t":1796525111000,"state":"firing","from":"pending","alertname":"KubePodCrashLooping",
 *    "group":"kubernetes-apps","file":"/etc/kmon/rules/apps.yaml","value":3,
 *    "active_at":1796524811000,"labels":{…},"annotations":{…}}
 * "state" is the state entered: pending, firing, or inactive (resolved, or a pending alert
 * that went away before it fired; "from" tells which).
 */
#include "rules/history.h"

#include "common/array.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/mset.h"
#include "common/timefmt.h"
#include "rules/rules_internal.h"
#include "storage/sample.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG    "alert-history"
#define DAY_MS (86400LL * 1000)
#define PREFIX "history-"
#define SUFFIX ".jsonl"

struct km_alert_history {
    char *dir;
    int64_t retention_ms;
    pthread_mutex_t mu;
    int fd;      /* the open day file, or -1 */
    int64_t day; /* its day number (ms / DAY_MS) */
    int64_t swept_ms;
    uint64_t records, write_errors, deleted_files;
    struct km_log_limit fail_log;
};

static void day_path(const struct km_alert_history *h, int64_t day, char *out, size_t size)
{
    time_t secs = (time_t)(day * 86400);
    struct tm tm;

    gmtime_r(&secs, &tm);
    snprintf(out, size, "%s/" PREFIX "%04d%02d%02d" SUFFIX, h->dir, tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday);
}

/* The day number of a file name, or INT64_MIN when it is not a day file. */
static int64_t day_of_name(const char *name)
{
    struct tm tm = { 0 };
    int y, m, d;
    char tail[16];

    if (sscanf(name, PREFIX "%4d%2d%2d%15s", &y, &m, &d, tail) != 4 || strcmp(tail, SUFFIX) != 0)
        return INT64_MIN;
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    return (int64_t)timegm(&tm) / 86400;
}

/* Delete day files wholly older than the retention. */
static void sweep(struct km_alert_history *h, int64_t now_ms)
{
    DIR *d = opendir(h->dir);
    struct dirent *e;
    int64_t oldest_day = (now_ms - h->retention_ms) / DAY_MS;

    h->swept_ms = now_ms;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        int64_t day = day_of_name(e->d_name);
        char path[4096];

        if (day == INT64_MIN || day >= oldest_day)
            continue;
        snprintf(path, sizeof(path), "%s/%s", h->dir, e->d_name);
        if (unlink(path) == 0) {
            h->deleted_files++;
            km_log_info(LOG, "deleted %s (older than the retention)", path);
        }
    }
    closedir(d);
}

int km_alert_history_open(struct km_alert_history **out, const char *dir, int64_t retention_ms)
{
    struct km_alert_history *h = calloc(1, sizeof(*h));
    int rc;

    if (!h)
        return km_err_set(KM_ENOMEM, "out of memory");
    h->dir = strdup(dir);
    if (!h->dir) {
        free(h);
        return km_err_set(KM_ENOMEM, "out of memory");
    }
    rc = km_mkdir_p(dir, 0750);
    if (rc) {
        free(h->dir);
        free(h);
        return km_err_wrap(rc, "alert history directory %s", dir);
    }
    h->retention_ms = retention_ms;
    h->fd = -1;
    h->day = INT64_MIN;
    pthread_mutex_init(&h->mu, NULL);
    h->fail_log = (struct km_log_limit)KM_LOG_LIMIT_INIT(60);
    sweep(h, km_time_now_ns() / 1000000);
    *out = h;
    return 0;
}

void km_alert_history_close(struct km_alert_history *h)
{
    if (!h)
        return;
    if (h->fd >= 0)
        close(h->fd);
    pthread_mutex_destroy(&h->mu);
    free(h->dir);
    free(h);
}

void km_alert_history_record(void *ud, const struct km_rules_transition *t)
{
    struct km_alert_history *h = ud;
    struct km_buf line;
    struct km_jsonw w;
    int64_t day = t->at_ms / DAY_MS;
    const char *alertname = km_labels_get(t->labels, "alertname");
    int rc = 0;

    km_buf_init(&line, 1u << 20);
    km_jsonw_init(&w, &line);
    km_jsonw_obj_begin(&w);
    km_jsonw_key(&w, "t");
    km_jsonw_i64(&w, t->at_ms);
    km_jsonw_key(&w, "state");
    km_jsonw_str(&w, km_alert_state_name(t->to));
    km_jsonw_key(&w, "from");
    km_jsonw_str(&w, km_alert_state_name(t->from));
    km_jsonw_key(&w, "alertname");
    km_jsonw_str(&w, alertname ? alertname : t->rule);
    km_jsonw_key(&w, "group");
    km_jsonw_str(&w, t->group);
    km_jsonw_key(&w, "file");
    km_jsonw_str(&w, t->file);
    km_jsonw_key(&w, "value");
    km_jsonw_double(&w, t->value);
    km_jsonw_key(&w, "active_at");
    km_jsonw_i64(&w, t->active_at_ms);
    km_jsonw_key(&w, "labels");
    km_rules_json_labels(&w, t->labels);
    km_jsonw_key(&w, "annotations");
    km_rules_json_labels(&w, t->annotations);
    km_jsonw_obj_end(&w);
    km_buf_putc(&line, '\n');
    if (km_buf_error(&line)) {
        km_buf_fini(&line);
        return;
    }
    pthread_mutex_lock(&h->mu);
    if (h->fd < 0 || day != h->day) {
        char path[4096];

        if (h->fd >= 0)
            close(h->fd);
        day_path(h, day, path, sizeof(path));
        h->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        h->day = day;
        if (h->fd < 0)
            rc = km_err_set_errno(KM_EIO, errno, "cannot open %s", path);
    }
    if (rc == 0 && write(h->fd, line.data, line.len) != (ssize_t)line.len)
        rc = km_err_set_errno(KM_EIO, errno, "cannot write the alert history");
    if (rc == 0 && fdatasync(h->fd) != 0)
        rc = km_err_set_errno(KM_EIO, errno, "cannot sync the alert history");
    if (rc) {
        uint64_t held;

        h->write_errors++;
        if (km_log_limit_take(&h->fail_log, &held))
            km_log_error(LOG, "%s", km_err_msg());
    } else {
        h->records++;
    }
    if (t->at_ms - h->swept_ms > 3600000)
        sweep(h, t->at_ms);
    pthread_mutex_unlock(&h->mu);
    km_buf_fini(&line);
}

/* ---- reading ------------------------------------------------------------------------------ */

struct hit {
    int64_t t;
    char *line; /* the record as stored */
};

struct hits {
    struct hit *v;
    size_t n, cap, start; /* a ring of the newest `cap` */
    size_t limit;
};

static void keep(struct hits *h, int64_t t, const char *line, size_t len)
{
    char *copy = strndup(line, len);

    if (!copy)
        return;
    if (h->n < h->limit) {
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 256;
            struct hit *p;

            if (cap > h->limit)
                cap = h->limit;
            p = realloc(h->v, cap * sizeof(*p));
            if (!p) {
                free(copy);
                return;
            }
            h->v = p;
            h->cap = cap;
        }
        h->v[h->n++] = (struct hit){ t, copy };
        return;
    }
    /* Full: the oldest goes (records come oldest first). */
    free(h->v[h->start].line);
    h->v[h->start] = (struct hit){ t, copy };
    h->start = (h->start + 1) % h->n;
}

static bool matches(json_t *labels, struct km_matcher *const *m, size_t nm)
{
    for (size_t i = 0; i < nm; i++) {
        json_t *v = json_object_get(labels, m[i]->name);
        const char *s = json_is_string(v) ? json_string_value(v) : "";

        if (!km_matcher_matches(m[i], s))
            return false;
    }
    return true;
}

static void read_day(const char *path, int64_t from, int64_t to, struct km_matcher *const *m,
                     size_t nm, struct hits *out)
{
    FILE *f = fopen(path, "rb");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    if (!f)
        return;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t jerr;
        json_t *rec = json_loadb(line, (size_t)len, 0, &jerr);
        json_t *t = rec ? json_object_get(rec, "t") : NULL;
        json_t *labels = rec ? json_object_get(rec, "labels") : NULL;

        if (json_is_integer(t) && json_is_object(labels)) {
            int64_t ts = (int64_t)json_integer_value(t);

            if (ts >= from && ts <= to && matches(labels, m, nm))
                keep(out, ts, line, (size_t)len - (line[len - 1] == '\n'));
        }
        json_decref(rec);
    }
    free(line);
    fclose(f);
}

static int day_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

int km_alert_history_query(struct km_alert_history *h, int64_t from_ms, int64_t to_ms,
                           struct km_matcher *const *m, size_t nm, size_t limit, struct km_jsonw *w)
{
    struct hits hits = { .limit = limit ? limit : KM_ALERT_HISTORY_MAX_RESULTS };
    int64_t *days = NULL;
    size_t ndays = 0, capdays = 0;
    DIR *d = opendir(h->dir);
    struct dirent *e;

    if (hits.limit > KM_ALERT_HISTORY_MAX_RESULTS)
        hits.limit = KM_ALERT_HISTORY_MAX_RESULTS;
    while (d && (e = readdir(d)) != NULL) {
        int64_t day = day_of_name(e->d_name);

        if (day == INT64_MIN || day < from_ms / DAY_MS - 1 || day > to_ms / DAY_MS + 1)
            continue;
        if (ndays == capdays) {
            size_t cap = capdays ? capdays * 2 : 32;
            int64_t *p = realloc(days, cap * sizeof(*p));

            if (!p)
                break;
            days = p;
            capdays = cap;
        }
        days[ndays++] = day;
    }
    if (d)
        closedir(d);
    km_sort(days, ndays, sizeof(*days), day_cmp);
    for (size_t i = 0; i < ndays; i++) {
        char path[4096];

        day_path(h, days[i], path, sizeof(path));
        read_day(path, from_ms, to_ms, m, nm, &hits);
    }
    km_jsonw_arr_begin(w);
    for (size_t i = 0; i < hits.n; i++) {
        const struct hit *x = &hits.v[(hits.start + i) % hits.n];

        km_jsonw_raw(w, x->line, strlen(x->line));
    }
    km_jsonw_arr_end(w);
    for (size_t i = 0; i < hits.n; i++)
        free(hits.v[i].line);
    free(hits.v);
    free(days);
    return 0;
}

void km_alert_history_metrics(struct km_alert_history *h, struct km_mset *ms)
{
    pthread_mutex_lock(&h->mu);
    km_mset_add(ms,
                km_mset_family(ms, "kmon_alert_history_records_total",
                               "Alert transitions written to the history.", KM_MT_COUNTER, 0),
                NULL, 0, (double)h->records);
    km_mset_add(ms,
                km_mset_family(ms, "kmon_alert_history_write_errors_total",
                               "Alert transitions the history could not write.", KM_MT_COUNTER, 0),
                NULL, 0, (double)h->write_errors);
    km_mset_add(ms,
                km_mset_family(ms, "kmon_alert_history_deleted_files_total",
                               "Day files of the history deleted by the retention.", KM_MT_COUNTER,
                               0),
                NULL, 0, (double)h->deleted_files);
    pthread_mutex_unlock(&h->mu);
}
