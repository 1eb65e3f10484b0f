/*
 * inspect — `kmon logs inspect DIR`: what a log store directory holds, as text or JSON.
 * It opens the store read-only (no lock, no writes, no background thread), which reads
 * the streams file, the chunk indexes and the WAL, tolerating the torn tails a running
 * server may be writing; chunk payloads are not read.
 */
#include "logs/lstore.h"

#include "common/array.h"
#include "common/err.h"
#include "common/jsonw.h"
#include "common/timefmt.h"

#include <stdlib.h>
#include <string.h>

struct sstat {
    const struct lstream *st;
    uint64_t chunks, entries, raw, stored;
};

static int cmp_raw(const void *a, const void *b)
{
    const struct sstat *x = a, *y = b;

    return x->raw > y->raw ? -1 : x->raw < y->raw;
}

static void quiet(void *ud, const char *msg)
{
    (void)ud;
    (void)msg;
}

static void fmt_time(char *out, size_t size, int64_t ns)
{
    if (ns == INT64_MAX || ns == INT64_MIN)
        snprintf(out, size, "-");
    else
        km_time_format_rfc3339(out, size, ns, 3);
}

static void labels_text(struct km_buf *b, const struct km_labels *l)
{
    km_buf_putc(b, '{');
    for (size_t i = 0; i < l->n; i++)
        km_buf_printf(b, "%s%s=\"%s\"", i ? ", " : "", l->v[i].name, l->v[i].value);
    km_buf_putc(b, '}');
}

int km_logstore_inspect(const char *dir, bool json, FILE *out)
{
    struct km_logstore_opts o = { .dir = dir, .read_only = true, .progress = quiet };
    struct km_logstore *s;
    struct sstat *ss;
    uint64_t chunks = 0, entries = 0, raw = 0, stored = 0, head_entries = 0, head_raw = 0;
    uint64_t disk = 0;
    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    struct km_buf b;
    char t1[48], t2[48];
    size_t top;
    int rc;

    rc = km_logstore_open(&s, &o);
    if (rc < 0)
        return km_err_wrap(rc, "inspecting %s", dir);
    ss = calloc(s->nst + 1, sizeof(*ss));
    if (!ss) {
        km_logstore_close(s);
        return km_err_set(KM_ENOMEM, "out of memory inspecting %s", dir);
    }
    for (size_t i = 0; i < s->nst; i++) {
        const struct lstream *st = s->st[i];

        ss[i].st = st;
        for (size_t k = 0; k < st->nch; k++) {
            ss[i].chunks++;
            ss[i].entries += st->ch[k]->n;
            ss[i].raw += st->ch[k]->raw;
            ss[i].stored += st->ch[k]->len;
        }
        ss[i].entries += st->hn;
        ss[i].raw += st->hlines.len;
        head_entries += st->hn;
        head_raw += st->hlines.len;
        chunks += ss[i].chunks;
        entries += ss[i].entries;
        raw += ss[i].raw;
        stored += ss[i].stored;
        if (st->mint < mint)
            mint = st->mint;
        if (st->maxt > maxt)
            maxt = st->maxt;
    }
    for (size_t i = 0; i < s->nfiles; i++)
        disk += s->files[i]->dat_size + s->files[i]->idx_size;
    km_sort(ss, s->nst, sizeof(*ss), cmp_raw);
    top = s->nst < 10 ? s->nst : 10;
    fmt_time(t1, sizeof(t1), mint);
    fmt_time(t2, sizeof(t2), maxt);
    km_buf_init(&b, 0);
    if (json) {
        struct km_jsonw w;

        km_jsonw_init(&w, &b);
        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, "dir");
        km_jsonw_str(&w, dir);
        km_jsonw_key(&w, "streams");
        km_jsonw_u64(&w, s->nst);
        km_jsonw_key(&w, "chunk_files");
        km_jsonw_u64(&w, s->nfiles);
        km_jsonw_key(&w, "chunks");
        km_jsonw_u64(&w, chunks);
        km_jsonw_key(&w, "entries");
        km_jsonw_u64(&w, entries);
        km_jsonw_key(&w, "raw_bytes");
        km_jsonw_u64(&w, raw);
        km_jsonw_key(&w, "chunk_bytes");
        km_jsonw_u64(&w, stored);
        km_jsonw_key(&w, "disk_bytes");
        km_jsonw_u64(&w, disk);
        km_jsonw_key(&w, "min_time");
        km_jsonw_str(&w, t1);
        km_jsonw_key(&w, "max_time");
        km_jsonw_str(&w, t2);
        km_jsonw_key(&w, "wal");
        km_jsonw_obj_begin(&w);
        km_jsonw_key(&w, "segments");
        km_jsonw_u64(&w, s->nwal_segs);
        km_jsonw_key(&w, "bytes");
        km_jsonw_u64(&w, s->wal_bytes);
        km_jsonw_key(&w, "entries_not_in_chunks");
        km_jsonw_u64(&w, head_entries);
        km_jsonw_key(&w, "raw_bytes_not_in_chunks");
        km_jsonw_u64(&w, head_raw);
        km_jsonw_obj_end(&w);
        km_jsonw_key(&w, "largest_streams");
        km_jsonw_arr_begin(&w);
        for (size_t i = 0; i < top; i++) {
            km_jsonw_obj_begin(&w);
            km_jsonw_key(&w, "labels");
            km_jsonw_obj_begin(&w);
            for (size_t k = 0; k < ss[i].st->labels->n; k++) {
                km_jsonw_key(&w, ss[i].st->labels->v[k].name);
                km_jsonw_str(&w, ss[i].st->labels->v[k].value);
            }
            km_jsonw_obj_end(&w);
            km_jsonw_key(&w, "chunks");
            km_jsonw_u64(&w, ss[i].chunks);
            km_jsonw_key(&w, "entries");
            km_jsonw_u64(&w, ss[i].entries);
            km_jsonw_key(&w, "raw_bytes");
            km_jsonw_u64(&w, ss[i].raw);
            km_jsonw_key(&w, "chunk_bytes");
            km_jsonw_u64(&w, ss[i].stored);
            km_jsonw_obj_end(&w);
        }
        km_jsonw_arr_end(&w);
        km_jsonw_obj_end(&w);
        km_buf_putc(&b, '\n');
    } else {
        km_buf_printf(&b, "log store %s\n", dir);
        km_buf_printf(&b, "  streams      %zu\n", s->nst);
        km_buf_printf(&b, "  chunk files  %zu (%llu bytes on disk)\n", s->nfiles,
                      (unsigned long long)disk);
        km_buf_printf(&b, "  chunks       %llu\n", (unsigned long long)chunks);
        km_buf_printf(&b, "  entries      %llu\n", (unsigned long long)entries);
        km_buf_printf(&b, "  raw bytes    %llu\n", (unsigned long long)raw);
        km_buf_printf(&b, "  chunk bytes  %llu (%.4f per raw byte of written chunks)\n",
                      (unsigned long long)stored,
                      raw - head_raw ? (double)stored / (double)(raw - head_raw) : 0.0);
        km_buf_printf(&b, "  time range   %s .. %s\n", t1, t2);
        km_buf_printf(&b,
                      "  WAL          %zu segments, %llu bytes; %llu entries (%llu bytes) "
                      "not yet in chunks\n",
                      s->nwal_segs, (unsigned long long)s->wal_bytes,
                      (unsigned long long)head_entries, (unsigned long long)head_raw);
        if (top)
            km_buf_printf(&b, "largest streams (raw bytes, entries, chunks):\n");
        for (size_t i = 0; i < top; i++) {
            km_buf_printf(&b, "  %12llu %10llu %6llu  ", (unsigned long long)ss[i].raw,
                          (unsigned long long)ss[i].entries, (unsigned long long)ss[i].chunks);
            labels_text(&b, ss[i].st->labels);
            km_buf_putc(&b, '\n');
        }
    }
    rc = km_buf_error(&b) ? km_err_set(KM_ENOMEM, "out of memory inspecting %s", dir) : 0;
    if (rc == 0 && fwrite(b.data, 1, b.len, out) != b.len)
        rc = km_err_set(KM_EIO, "writing the inspection of %s", dir);
    km_buf_fini(&b);
    free(ss);
    km_logstore_close(s);
    return rc;
}
