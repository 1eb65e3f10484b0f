/*
 * uname — the node's identity: node_uname_info{domainname,machine,nodename,release,
 * sysname,version} as node-exporter has it, and kmon_node_info{node,machine_id,boot_id}
 * with the name kmon files the node under (--node-name, NODE_NAME, or the hostname),
 * the machine id (<root>/etc/machine-id, else the DMI product UUID) and the boot id.
 * All of it is read once at start: it does not change while the agent runs (a reboot
 * restarts the agent).
 */
#include "agent/collector.h"
#include "common/err.h"
#include "common/procfile.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

struct uname_ctx {
    struct utsname u;
    char node[256];
    char machine_id[128];
    char boot_id[64];
};

static int uname_init(void *vctx, const struct km_host *host)
{
    struct uname_ctx *ctx = vctx;
    char path[4096];

    if (uname(&ctx->u) != 0)
        return km_err_set(KM_EIO, "uname() failed");
    snprintf(ctx->node, sizeof(ctx->node), "%s", host->node_name);
    km_path_join(path, sizeof(path), host->root, "etc/machine-id");
    if (km_read_small_file(path, ctx->machine_id, sizeof(ctx->machine_id)) < 0) {
        km_path_join(path, sizeof(path), host->sys, "class/dmi/id/product_uuid");
        if (km_read_small_file(path, ctx->machine_id, sizeof(ctx->machine_id)) < 0)
            ctx->machine_id[0] = '\0';
    }
    km_path_join(path, sizeof(path), host->proc, "sys/kernel/random/boot_id");
    if (km_read_small_file(path, ctx->boot_id, sizeof(ctx->boot_id)) < 0)
        ctx->boot_id[0] = '\0';
    return 0;
}

static void uname_collect(void *vctx, struct km_collect *c)
{
    struct uname_ctx *ctx = vctx;
    struct km_label u[6] = {
        { "domainname", ctx->u.domainname }, { "machine", ctx->u.machine },
        { "nodename", ctx->u.nodename },     { "release", ctx->u.release },
        { "sysname", ctx->u.sysname },       { "version", ctx->u.version },
    };
    struct km_label k[3] = {
        { "boot_id", ctx->boot_id },
        { "machine_id", ctx->machine_id },
        { "node", ctx->node },
    };

    km_mset_add(c->out,
                km_mset_family(c->out, "node_uname_info",
                               "Labeled system information as provided by the uname system "
                               "call.",
                               KM_MT_GAUGE, 0),
                u, 6, 1);
    km_mset_add(c->out,
                km_mset_family(c->out, "kmon_node_info",
                               "The node's identity: the name kmon files it under, its machine "
                               "id and boot id.",
                               KM_MT_GAUGE, 0),
                k, 3, 1);
}

static void uname_fini(void *vctx)
{
    (void)vctx;
}

const struct km_collector_ops km_collector_uname = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "uname",
    .help = "the node's identity: kernel, hostname, node name, machine id, boot id",
    .ctx_size = sizeof(struct uname_ctx),
    .init = uname_init,
    .collect = uname_collect,
    .fini = uname_fini,
};
