/*
 * filefd — open file handles of the whole node from /proc/sys/fs/file-nr:
 * node_filefd_allocated and node_filefd_maximum.
 */
#include "agent/collector.h"
#include "common/err.h"
#include "common/procfile.h"
#include "hostfs/procfs.h"

struct filefd_ctx {
    struct km_procfile file;
};

static int filefd_init(void *vctx, const struct km_host *host)
{
    struct filefd_ctx *ctx = vctx;

    return km_procfile_init(&ctx->file, host->proc, "sys/fs/file-nr");
}

static void filefd_collect(void *vctx, struct km_collect *c)
{
    struct filefd_ctx *ctx = vctx;
    struct km_filenr f;
    const char *data;
    size_t len;

    if (km_procfile_read(&ctx->file, &data, &len) != 0) {
        km_collect_error(c, "%s", km_err_msg());
        return;
    }
    if (km_parse_filenr(data, len, &f) != 0) {
        km_collect_error(c, "malformed /proc/sys/fs/file-nr");
        return;
    }
    km_mset_gauge(c->out, "node_filefd_allocated", "File descriptor statistics: allocated.",
                  (double)f.allocated);
    km_mset_gauge(c->out, "node_filefd_maximum", "File descriptor statistics: maximum.",
                  (double)f.maximum);
}

static void filefd_fini(void *vctx)
{
    struct filefd_ctx *ctx = vctx;

    km_procfile_fini(&ctx->file);
}

const struct km_collector_ops km_collector_filefd = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "filefd",
    .help = "file handles allocated and the system maximum (/proc/sys/fs/file-nr)",
    .ctx_size = sizeof(struct filefd_ctx),
    .init = filefd_init,
    .collect = filefd_collect,
    .fini = filefd_fini,
};
