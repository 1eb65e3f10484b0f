/*
 * netclass — interface state from /sys/class/net/<dev>/, as node-exporter's netclass
 * collector names it: node_network_up (operstate is "up"), node_network_carrier,
 * node_network_mtu_bytes, node_network_speed_bytes (when the driver reports a speed),
 * node_network_info{device,address,operstate,duplex}.
 *
 * Each interface keeps its attribute files open between collections; an interface that
 * disappears is forgotten at the end of the collection that no longer sees it.
 */
#include "agent/collector.h"
#include "common/err.h"
#include "common/procfile.h"
#include "common/regex.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum attr { A_OPERSTATE, A_CARRIER, A_MTU, A_SPEED, A_ADDRESS, A_DUPLEX, A_COUNT };

static const char *const attr_files[A_COUNT] = {
    "operstate", "carrier", "mtu", "speed", "address", "duplex",
};

struct iface {
    struct iface *next;
    char name[64];
    bool seen;
    struct km_procfile attr[A_COUNT];
};

struct netclass_ctx {
    char *exclude;
    char dir[PATH_MAX];
    struct km_regex *exclude_re;
    struct iface *ifaces;
};

static const struct km_cfg_field netclass_cfg[] = {
    { .name = "collector.netclass.device-exclude",
      .type = KM_CFG_STRING,
      .offset = offsetof(struct netclass_ctx, exclude),
      .metavar = "REGEX",
      .help = "network interfaces whose state to leave out" },
    KM_CFG_FIELDS_END,
};

static int netclass_init(void *vctx, const struct km_host *host)
{
    struct netclass_ctx *ctx = vctx;
    int rc;

    if (ctx->exclude && *ctx->exclude) {
        rc = km_regex_compile(&ctx->exclude_re, ctx->exclude, 0);
        if (rc)
            return km_err_wrap(rc, "--collector.netclass.device-exclude");
    }
    return km_path_join(ctx->dir, sizeof(ctx->dir), host->sys, "class/net");
}

static void iface_free(struct iface *i)
{
    for (int a = 0; a < A_COUNT; a++)
        km_procfile_fini(&i->attr[a]);
    free(i);
}

static struct iface *iface_get(struct netclass_ctx *ctx, const char *name)
{
    char dir[PATH_MAX];
    struct iface *i;

    for (i = ctx->ifaces; i; i = i->next) {
        if (strcmp(i->name, name) == 0)
            return i;
    }
    i = calloc(1, sizeof(*i));
    if (!i)
        return NULL;
    snprintf(i->name, sizeof(i->name), "%s", name);
    if (km_path_join(dir, sizeof(dir), ctx->dir, name) != 0) {
        free(i);
        return NULL;
    }
    for (int a = 0; a < A_COUNT; a++) {
        if (km_procfile_init(&i->attr[a], dir, attr_files[a]) != 0) {
            iface_free(i);
            return NULL;
        }
    }
    i->next = ctx->ifaces;
    ctx->ifaces = i;
    return i;
}

/* Read one attribute as text without its newline; NULL when unreadable (speed of a
 * virtual device fails with EINVAL, which is normal). */
static const char *attr_text(struct iface *i, enum attr a)
{
    const char *data;
    size_t len;

    if (km_procfile_read(&i->attr[a], &data, &len) != 0)
        return NULL;
    while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
        ((char *)data)[--len] = '\0';
    return data;
}

static bool attr_num(struct iface *i, enum attr a, double *out)
{
    const char *t = attr_text(i, a);
    char *end;
    double v;

    if (!t || !*t)
        return false;
    v = strtod(t, &end);
    if (*end)
        return false;
    *out = v;
    return true;
}

static void netclass_collect(void *vctx, struct km_collect *c)
{
    struct netclass_ctx *ctx = vctx;
    struct iface **pp, *i;
    struct dirent *de;
    DIR *d;
    int f_up, f_carrier, f_mtu, f_speed, f_info;

    d = opendir(ctx->dir);
    if (!d) {
        km_collect_error(c, "cannot list %s", ctx->dir);
        return;
    }
    f_up = km_mset_family(c->out, "node_network_up",
                          "Value is 1 if operstate is 'up', 0 otherwise.", KM_MT_GAUGE, 0);
    f_carrier = km_mset_family(c->out, "node_network_carrier", "Network device property: carrier.",
                               KM_MT_GAUGE, 0);
    f_mtu = km_mset_family(c->out, "node_network_mtu_bytes", "Network device property: mtu_bytes.",
                           KM_MT_GAUGE, 0);
    f_speed = km_mset_family(c->out, "node_network_speed_bytes",
                             "Network device property: speed_bytes.", KM_MT_GAUGE, 0);
    f_info = km_mset_family(c->out, "node_network_info",
                            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
                            KM_MT_GAUGE, 0);
    for (i = ctx->ifaces; i; i = i->next)
        i->seen = false;
    while ((de = readdir(d)) != NULL) {
        const char *oper, *addr, *duplex;
        struct km_label l = { "device", de->d_name };
        double v;

        if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(i->name))
            continue;
        if (ctx->exclude_re && km_regex_match(ctx->exclude_re, de->d_name, strlen(de->d_name)))
            continue;
        i = iface_get(ctx, de->d_name);
        if (!i) {
            km_collect_error(c, "out of memory tracking interface %s", de->d_name);
            continue;
        }
        i->seen = true;
        oper = attr_text(i, A_OPERSTATE);
        if (!oper)
            continue; /* vanished between readdir and read */
        km_mset_add(c->out, f_up, &l, 1, strcmp(oper, "up") == 0 ? 1 : 0);
        {
            /* Each attribute has its own buffer, so these strings stay valid together. */
            struct km_label info[4] = {
                { "address", "" }, { "device", de->d_name }, { "duplex", "" }, { "operstate", oper }
            };

            addr = attr_text(i, A_ADDRESS);
            info[0].value = addr ? addr : "";
            duplex = attr_text(i, A_DUPLEX);
            info[2].value = duplex ? duplex : "";
            km_mset_add(c->out, f_info, info, 4, 1);
        }
        if (attr_num(i, A_CARRIER, &v))
            km_mset_add(c->out, f_carrier, &l, 1, v);
        if (attr_num(i, A_MTU, &v))
            km_mset_add(c->out, f_mtu, &l, 1, v);
        if (attr_num(i, A_SPEED, &v) && v >= 0)
            km_mset_add(c->out, f_speed, &l, 1, v * 1000000.0 / 8.0);
    }
    closedir(d);
    /* Forget interfaces that are gone. */
    for (pp = &ctx->ifaces; *pp;) {
        i = *pp;
        if (!i->seen) {
            *pp = i->next;
            iface_free(i);
        } else {
            pp = &i->next;
        }
    }
}

static void netclass_fini(void *vctx)
{
    struct netclass_ctx *ctx = vctx;

    while (ctx->ifaces) {
        struct iface *i = ctx->ifaces;

        ctx->ifaces = i->next;
        iface_free(i);
    }
    km_regex_destroy(ctx->exclude_re);
}

const struct km_collector_ops km_collector_netclass = {
    .version = KM_COLLECTOR_OPS_V1,
    .name = "netclass",
    .help = "network interface state: up, carrier, MTU, speed, address (/sys/class/net)",
    .cfg = netclass_cfg,
    .ctx_size = sizeof(struct netclass_ctx),
    .init = netclass_init,
    .collect = netclass_collect,
    .fini = netclass_fini,
};
