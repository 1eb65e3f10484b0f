/*
 * schema — creates what SCHEMA.md describes, on one node or on every node of a cluster
 * (one statement per node: `ON CLUSTER` needs ZooKeeper), idempotently (IF NOT EXISTS),
 * and records the version applied in kmon_schema_local on each node. A node whose schema
 * is newer than this kmon knows is refused with a clear error (a newer kmon migrated
 * it). Runs at open; while ClickHouse does not answer, the writer thread runs it again
 * until it succeeds (st->schema_ready then). Zstd compression of parts is server
 * configuration (SCHEMA.md), not SQL.
 *
 * Threads: whichever runs it (open, then one writer thread); it only talks to ClickHouse.
 */
#include "chstore/schema.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The rollup views' SELECT for bucket width R (ms). */
#define KM_CH_ROLLUP_SELECT                                                                        \
    "SELECT metric, id, intDiv(t + %lld - 1, %lld) * %lld AS b, countState() AS cnt, "             \
    "sumState(v) AS sm, minState(v) AS mn, maxState(v) AS mx, argMaxState(v, t) AS lastv, "        \
    "maxState(t) AS lastt FROM `%s`.samples%s GROUP BY metric, id, b"

#define KM_CH_ROLLUP_COLUMNS                                                                       \
    "(metric String, id UInt64, b Int64, cnt AggregateFunction(count), "                           \
    "sm AggregateFunction(sum, Float64), mn AggregateFunction(min, Float64), "                     \
    "mx AggregateFunction(max, Float64), lastv AggregateFunction(argMax, Float64, Int64), "        \
    "lastt AggregateFunction(max, Int64)) ENGINE = AggregatingMergeTree "                          \
    "PARTITION BY toDate(intDiv(b, 1000)) ORDER BY (metric, id, b)"

bool km_ch_ident_valid(const char *s)
{
    if (!s || !*s || strlen(s) > 64 ||
        !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

void km_ch_tables_init(struct km_ch_tables *t, const char *db, bool cluster)
{
    const char *sfx = cluster ? "_local" : "";

    snprintf(t->series, sizeof(t->series), "`%s`.series", db);
    snprintf(t->samples, sizeof(t->samples), "`%s`.samples", db);
    snprintf(t->rollup_5m, sizeof(t->rollup_5m), "`%s`.rollup_5m", db);
    snprintf(t->rollup_1h, sizeof(t->rollup_1h), "`%s`.rollup_1h", db);
    snprintf(t->series_local, sizeof(t->series_local), "`%s`.series%s", db, sfx);
    snprintf(t->samples_local, sizeof(t->samples_local), "`%s`.samples%s", db, sfx);
    snprintf(t->log_streams, sizeof(t->log_streams), "`%s`.log_streams", db);
    snprintf(t->logs, sizeof(t->logs), "`%s`.logs", db);
    snprintf(t->log_streams_local, sizeof(t->log_streams_local), "`%s`.log_streams%s", db, sfx);
    snprintf(t->logs_local, sizeof(t->logs_local), "`%s`.logs%s", db, sfx);
}

static int km_ch_run(struct km_ch_client *cl, size_t node, bool no_db, const char *sql)
{
    struct km_ch_request r = { .sql = sql, .no_database = no_db };
    int rc = km_ch_exec(cl, (int)node, &r);

    if (rc != 0)
        km_err_wrap(rc, "creating kmon's schema");
    return rc;
}

/* The version kmon_schema_local records on a node (0: none yet). */
static int km_ch_applied_version(struct km_ch_client *cl, size_t node, const char *db,
                                 unsigned *out)
{
    char sql[256], *txt = NULL;
    int rc;

    snprintf(sql, sizeof(sql), "SELECT max(version) FROM `%s`.kmon_schema_local", db);
    rc = km_ch_exec_text(cl, (int)node, sql, &txt);
    if (rc != 0)
        return rc;
    *out = (unsigned)strtoul(txt, NULL, 10);
    free(txt);
    return 0;
}

static int km_ch_version_sink(void *ud, const void *data, size_t n)
{
    return km_buf_append(ud, data, n);
}

/* Check the server's version (asked without the database, which may not exist yet):
 * 18.16 is the floor. */
static int km_ch_check_version(struct km_ch_client *cl, size_t node)
{
    struct km_buf b;
    struct km_ch_request r = {
        .sql = "SELECT version()", .no_database = true, .sink = km_ch_version_sink, .ud = &b
    };
    const char *v;
    int major = 0, minor = 0, rc;

    km_buf_init(&b, 4096);
    rc = km_ch_exec(cl, (int)node, &r);
    if (rc != 0) {
        km_buf_fini(&b);
        return rc;
    }
    if (b.len && b.data[b.len - 1] == '\n')
        b.data[--b.len] = '\0';
    v = km_buf_cstr(&b);
    if (sscanf(v, "%d.%d", &major, &minor) != 2 || major < 18 || (major == 18 && minor < 16)) {
        rc = km_err_set(KM_EINVAL, "ClickHouse %s is version %s: kmon needs 18.16 or newer",
                        km_ch_client_url(cl, node), v);
    } else {
        km_log_info(KM_CH_LOG, "ClickHouse %s: version %s", km_ch_client_url(cl, node), v);
    }
    km_buf_fini(&b);
    return rc;
}

/* Migration 1 → 2 on one node: the log streams and entries (SCHEMA.md). */
static int km_ch_schema_logs(struct km_ch_client *cl, size_t node, const char *db, const char *sfx)
{
    static const char *const stmt[2] = {
        "CREATE TABLE IF NOT EXISTS `%s`.log_streams%s (stream UInt64, names Array(String), "
        "vals Array(String), first_ns Int64, last_ns Int64) ENGINE = ReplacingMergeTree(last_ns) "
        "PARTITION BY tuple() ORDER BY stream",
        "CREATE TABLE IF NOT EXISTS `%s`.logs%s (stream UInt64, ts Int64, line String) ENGINE = "
        "MergeTree PARTITION BY toDate(intDiv(ts, 1000000000)) ORDER BY (stream, ts)",
    };
    struct km_buf b;
    int rc = 0;

    km_buf_init(&b, 0);
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        km_buf_reset(&b);
        km_buf_printf(&b, stmt[i], db, sfx);
        rc = km_buf_error(&b) ? km_err_set(KM_ENOMEM, "out of memory")
                              : km_ch_run(cl, node, false, b.data);
    }
    km_buf_fini(&b);
    return rc;
}

/* Create everything on one node (version 1's tables, then migration 2's). */
static int km_ch_schema_node(struct km_ch_client *cl, size_t node, const char *db,
                             const char *cluster)
{
    const char *sfx = cluster ? "_local" : "";
    const long long r[2] = { KM_CH_ROLLUP_5M_MS, KM_CH_ROLLUP_1H_MS };
    const char *rn[2] = { "5m", "1h" };
    struct km_buf b;
    unsigned have = 0;
    int rc;

    km_buf_init(&b, 0);
    if ((rc = km_ch_check_version(cl, node)) != 0)
        goto out;
    km_buf_printf(&b, "CREATE DATABASE IF NOT EXISTS `%s`", db);
    if ((rc = km_ch_run(cl, node, true, b.data)) != 0)
        goto out;
    km_buf_reset(&b);
    km_buf_printf(&b,
                  "CREATE TABLE IF NOT EXISTS `%s`.kmon_schema_local (version UInt32, applied_ms "
                  "Int64, by String) ENGINE = TinyLog",
                  db);
    if ((rc = km_ch_run(cl, node, false, b.data)) != 0 ||
        (rc = km_ch_applied_version(cl, node, db, &have)) != 0)
        goto out;
    if (have > KM_CH_SCHEMA_VERSION) {
        rc = km_err_set(KM_EINVAL,
                        "ClickHouse %s: database %s holds kmon schema version %u, newer than "
                        "the %u this kmon knows: run a kmon at least as new as the one that "
                        "created it",
                        km_ch_client_url(cl, node), db, have, KM_CH_SCHEMA_VERSION);
        goto out;
    }
    km_buf_reset(&b);
    km_buf_printf(&b,
                  "CREATE TABLE IF NOT EXISTS `%s`.series%s (metric String, id UInt64, names "
                  "Array(String), vals Array(String), first_ms Int64, last_ms Int64) ENGINE = "
                  "ReplacingMergeTree(last_ms) PARTITION BY tuple() ORDER BY (metric, id)",
                  db, sfx);
    if ((rc = km_ch_run(cl, node, false, b.data)) != 0)
        goto out;
    km_buf_reset(&b);
    km_buf_printf(&b,
                  "CREATE TABLE IF NOT EXISTS `%s`.samples%s (metric String, id UInt64, t Int64, "
                  "v Float64) ENGINE = MergeTree PARTITION BY toDate(intDiv(t, 1000)) ORDER BY "
                  "(metric, id, t)",
                  db, sfx);
    if ((rc = km_ch_run(cl, node, false, b.data)) != 0)
        goto out;
    for (int i = 0; i < 2; i++) {
        km_buf_reset(&b);
        km_buf_printf(&b, "CREATE TABLE IF NOT EXISTS `%s`.rollup_%s%s " KM_CH_ROLLUP_COLUMNS, db,
                      rn[i], sfx);
        if ((rc = km_ch_run(cl, node, false, b.data)) != 0)
            goto out;
        km_buf_reset(&b);
        km_buf_printf(&b,
                      "CREATE MATERIALIZED VIEW IF NOT EXISTS `%s`.rollup_%s_mv TO "
                      "`%s`.rollup_%s%s AS " KM_CH_ROLLUP_SELECT,
                      db, rn[i], db, rn[i], sfx, r[i], r[i], r[i], db, sfx);
        if ((rc = km_ch_run(cl, node, false, b.data)) != 0)
            goto out;
    }
    /* Version 2: the log tables (a version 1 database gets them here, in place). */
    if ((rc = km_ch_schema_logs(cl, node, db, sfx)) != 0)
        goto out;
    if (cluster) {
        const char *tab[6] = {
            "series", "samples", "rollup_5m", "rollup_1h", "log_streams", "logs"
        };
        const char *key[6] = { "id", "id", "id", "id", "stream", "stream" };

        for (int i = 0; i < 6; i++) {
            km_buf_reset(&b);
            km_buf_printf(&b,
                          "CREATE TABLE IF NOT EXISTS `%s`.%s AS `%s`.%s_local ENGINE = "
                          "Distributed(`%s`, `%s`, %s_local, %s)",
                          db, tab[i], db, tab[i], cluster, db, tab[i], key[i]);
            if ((rc = km_ch_run(cl, node, false, b.data)) != 0)
                goto out;
        }
    }
    if (have < KM_CH_SCHEMA_VERSION) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        km_buf_reset(&b);
        km_buf_printf(&b,
                      "INSERT INTO `%s`.kmon_schema_local (version, applied_ms, by) VALUES "
                      "(%u, %lld, 'kmon %s')",
                      db, KM_CH_SCHEMA_VERSION, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
                      KMON_VERSION);
        if ((rc = km_ch_run(cl, node, false, b.data)) != 0)
            goto out;
        km_log_info(KM_CH_LOG, "ClickHouse %s: kmon schema version %u in database %s",
                    km_ch_client_url(cl, node), KM_CH_SCHEMA_VERSION, db);
    }
    if (km_buf_error(&b))
        rc = km_err_set(KM_ENOMEM, "out of memory");
out:
    km_buf_fini(&b);
    return rc;
}

int km_ch_schema_apply(struct km_ch_client *cl, const char *cluster)
{
    const char *db = km_ch_client_database(cl);

    for (size_t i = 0; i < km_ch_client_nodes(cl); i++) {
        int rc = km_ch_schema_node(cl, i, db, cluster);

        if (rc != 0)
            return rc;
    }
    return 0;
}
