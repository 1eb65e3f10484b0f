/*
 * retention — what ClickHouse keeps (SCHEMA.md, "Retention"): on every node, the day
 * partitions of samples and rollups wholly older than the retention are dropped (18.16
 * has no TTL), found in system.parts; once a day, series rows whose last_ms is older go
 * too (an ALTER … DELETE mutation). Run by the writer's shard-0 thread hourly.
 *
 * Threads: that one thread.
 */
#include "chstore/writer.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KM_CH_DAY_MS (86400 * 1000LL)

/* Midnight (UTC, ms) after day "YYYY-MM-DD"; -1 when it is not one. */
static int64_t km_ch_day_end(const char *s)
{
    struct tm tm = { 0 };
    int y, m, d;

    if (sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    return (int64_t)timegm(&tm) * 1000 + KM_CH_DAY_MS;
}

/* Drop one node's partitions wholly before cutoff (the logs': before logs_cutoff);
 * *dropped counts them. */
static int km_ch_retention_node(struct km_ch_store *st, size_t node, int64_t cutoff,
                                int64_t logs_cutoff, unsigned *dropped)
{
    const char *db = km_ch_client_database(st->cl), *sfx = st->cluster ? "_local" : "";
    struct km_buf q;
    char *list = NULL, *line, *save = NULL;
    int rc;

    km_buf_init(&q, 0);
    km_buf_puts(&q, "SELECT DISTINCT table, partition FROM system.parts WHERE active AND "
                    "database = ");
    km_ch_quote(&q, db, strlen(db));
    km_buf_printf(&q,
                  " AND table IN ('samples%s', 'rollup_5m%s', 'rollup_1h%s', 'logs%s') FORMAT TSV",
                  sfx, sfx, sfx, sfx);
    if (km_buf_error(&q)) {
        rc = km_err_set(KM_ENOMEM, "out of memory");
        goto out;
    }
    rc = km_ch_exec_text(st->cl, (int)node, q.data, &list);
    if (rc != 0)
        goto out;
    for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(line, '\t');
        int64_t end;

        if (!tab)
            continue;
        *tab = '\0';
        end = km_ch_day_end(tab + 1);
        if (end < 0 || end > (strncmp(line, "logs", 4) == 0 ? logs_cutoff : cutoff))
            continue;
        km_buf_reset(&q);
        km_buf_printf(&q, "ALTER TABLE `%s`.`%s` DROP PARTITION ", db, line);
        km_ch_quote(&q, tab + 1, strlen(tab + 1));
        if (km_buf_error(&q)) {
            rc = km_err_set(KM_ENOMEM, "out of memory");
            goto out;
        }
        rc = km_ch_exec(st->cl, (int)node, &(struct km_ch_request){ .sql = q.data });
        if (rc != 0)
            goto out;
        (*dropped)++;
    }
out:
    free(list);
    km_buf_fini(&q);
    return rc;
}

int km_ch_retention_run(struct km_ch_store *st, bool series)
{
    struct timespec ts;
    int64_t cutoff;
    unsigned dropped = 0;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    cutoff = (int64_t)ts.tv_sec * 1000 - st->retention_ms;
    for (size_t i = 0; i < km_ch_client_nodes(st->cl); i++) {
        rc = km_ch_retention_node(st, i, cutoff,
                                  (int64_t)ts.tv_sec * 1000 - atomic_load(&st->logs_retention_ms),
                                  &dropped);
        if (rc == 0 && series) {
            char sql[256];

            snprintf(sql, sizeof(sql), "ALTER TABLE `%s`.series%s DELETE WHERE last_ms < %lld",
                     km_ch_client_database(st->cl), st->cluster ? "_local" : "", (long long)cutoff);
            rc = km_ch_exec(st->cl, (int)i, &(struct km_ch_request){ .sql = sql });
            snprintf(sql, sizeof(sql),
                     "ALTER TABLE `%s`.log_streams%s DELETE WHERE last_ns < %lld000000",
                     km_ch_client_database(st->cl), st->cluster ? "_local" : "",
                     (long long)((int64_t)ts.tv_sec * 1000 - atomic_load(&st->logs_retention_ms)));
            if (rc == 0)
                rc = km_ch_exec(st->cl, (int)i, &(struct km_ch_request){ .sql = sql });
        }
        if (rc != 0)
            return km_err_wrap(rc, "on %s", km_ch_client_url(st->cl, i));
    }
    if (dropped)
        km_log_info(KM_CH_LOG, "retention: dropped %u day partitions older than the retention",
                    dropped);
    return 0;
}
