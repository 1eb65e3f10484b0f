/*
 * kubepods — scan the kubelet's cgroup tree (see kubepods.h).
 */
#include "kubepods.h"

#include "common/array.h"
#include "common/err.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    return km_array_grow(v, cap, need, elem, 64, "listing pods");
}

/* Sub-directories of root/rel, by name, through fn; a missing directory lists nothing. */
typedef int (*entry_fn)(void *ud, const char *rel, const char *name);

static int list_dirs(const char *root, const char *rel, entry_fn fn, void *ud)
{
    char path[PATH_MAX];
    struct dirent *de;
    DIR *d;
    int rc = 0;

    if (snprintf(path, sizeof(path), "%s/%s", root, rel) >= (int)sizeof(path))
        return 0;
    d = opendir(path);
    if (!d)
        return 0; /* gone, or never there */
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
            continue;
        rc = fn(ud, rel, de->d_name);
    }
    closedir(d);
    return rc;
}

struct walk {
    const char *root;
    struct km_kpods *kp;
    enum km_qos qos;
};

static int on_container(void *ud, const char *rel, const char *name)
{
    struct walk *w = ud;
    struct km_kpods *kp = w->kp;
    struct km_kcontainer *c;
    enum km_runtime rt;
    bool conmon;
    char id[KM_CONTAINER_ID_MAX];
    int rc;

    if (!km_kube_container_dir(name, &rt, id, &conmon) || conmon) {
        kp->skipped++;
        return 0;
    }
    rc = grow((void **)&kp->c, &kp->capc, kp->nc + 1, sizeof(*kp->c));
    if (rc)
        return rc;
    c = &kp->c[kp->nc];
    if (snprintf(c->rel, sizeof(c->rel), "%s/%s", rel, name) >= (int)sizeof(c->rel)) {
        kp->skipped++;
        return 0;
    }
    memcpy(c->id, id, sizeof(id));
    c->rt = rt;
    kp->nc++;
    kp->pod[kp->npod - 1].n++;
    return 0;
}

static int on_pod(void *ud, const char *rel, const char *name)
{
    struct walk *w = ud;
    struct km_kpods *kp = w->kp;
    struct km_kpod *p;
    enum km_qos qos;
    int rc;

    if (w->qos == KM_QOS_GUARANTEED && km_kube_qos_dir(name, &qos)) {
        struct walk sub = { w->root, kp, qos };
        char r[KM_KUBE_REL_MAX];

        if (snprintf(r, sizeof(r), "%s/%s", rel, name) >= (int)sizeof(r))
            return 0;
        return list_dirs(w->root, r, on_pod, &sub);
    }
    rc = grow((void **)&kp->pod, &kp->cappod, kp->npod + 1, sizeof(*kp->pod));
    if (rc)
        return rc;
    p = &kp->pod[kp->npod];
    if (!km_kube_pod_dir(name, p->uid) ||
        snprintf(p->rel, sizeof(p->rel), "%s/%s", rel, name) >= (int)sizeof(p->rel))
        return 0; /* not a pod (a systemd helper unit, say) */
    p->qos = w->qos;
    p->first = kp->nc;
    p->n = 0;
    kp->npod++;
    return list_dirs(w->root, p->rel, on_container, w);
}

int km_kpods_scan(const char *root, struct km_kpods *kp)
{
    static const char *const tops[] = { "kubepods.slice", "kubepods" };
    int rc = 0;

    kp->npod = kp->nc = kp->skipped = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(tops) / sizeof(tops[0]); i++) {
        struct walk w = { root, kp, KM_QOS_GUARANTEED };

        rc = list_dirs(root, tops[i], on_pod, &w);
    }
    return rc;
}

void km_kpods_fini(struct km_kpods *kp)
{
    free(kp->pod);
    free(kp->c);
    memset(kp, 0, sizeof(*kp));
}
