/*
 * logmeta — names from the kubelet's log layout (see logmeta.h).
 */
#include "logmeta.h"

#include "common/array.h"
#include "common/err.h"
#include "hostfs/cgparse.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void km_logmeta_init(struct km_logmeta *m, const char *root)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->pods_dir, sizeof(m->pods_dir), "%s/var/log/pods",
             strcmp(root, "/") == 0 ? "" : root);
    snprintf(m->containers_dir, sizeof(m->containers_dir), "%s/var/log/containers",
             strcmp(root, "/") == 0 ? "" : root);
}

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
    return km_array_grow(v, cap, need, elem, 64, "reading the kubelet's log directories");
}

/* True (and *mtime updated) when dir changed since *mtime; a missing dir changed once. */
static bool changed(const char *dir, struct timespec *mtime, bool *exists)
{
    struct stat st;

    *exists = stat(dir, &st) == 0;
    if (!*exists) {
        bool was = mtime->tv_sec || mtime->tv_nsec;

        mtime->tv_sec = mtime->tv_nsec = 0;
        return was;
    }
    if (st.st_mtim.tv_sec == mtime->tv_sec && st.st_mtim.tv_nsec == mtime->tv_nsec)
        return false;
    *mtime = st.st_mtim;
    return true;
}

static int cmp_pod(const void *a, const void *b)
{
    return strcmp(((const struct km_log_pod *)a)->uid, ((const struct km_log_pod *)b)->uid);
}

static int cmp_container(const void *a, const void *b)
{
    return strcmp(((const struct km_log_container *)a)->id,
                  ((const struct km_log_container *)b)->id);
}

static int read_pods(struct km_logmeta *m)
{
    struct dirent *de;
    DIR *d = opendir(m->pods_dir);
    int rc = 0;

    m->npod = 0;
    if (!d)
        return 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char uid[KM_KUBE_NAME_MAX];
        struct km_log_pod *p;

        if (de->d_name[0] == '.')
            continue;
        rc = grow((void **)&m->pod, &m->cappod, m->npod + 1, sizeof(*m->pod));
        if (rc)
            break;
        p = &m->pod[m->npod];
        if (km_kube_pod_log_dir(de->d_name, p->ns, p->name, uid, sizeof(uid)) &&
            strlen(uid) < sizeof(p->uid)) {
            memcpy(p->uid, uid, strlen(uid) + 1);
            m->npod++;
        }
    }
    closedir(d);
    if (m->npod)
        km_sort(m->pod, m->npod, sizeof(*m->pod), cmp_pod);
    return rc;
}

static int read_containers(struct km_logmeta *m)
{
    char pod[KM_KUBE_NAME_MAX], ns[KM_KUBE_NAME_MAX], id[KM_KUBE_NAME_MAX];
    struct dirent *de;
    DIR *d = opendir(m->containers_dir);
    int rc = 0;

    m->nc = 0;
    if (!d)
        return 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        struct km_log_container *c;

        if (de->d_name[0] == '.')
            continue;
        rc = grow((void **)&m->c, &m->capc, m->nc + 1, sizeof(*m->c));
        if (rc)
            break;
        c = &m->c[m->nc];
        if (km_kube_container_log(de->d_name, pod, ns, c->name, id, sizeof(c->name))) {
            memcpy(c->id, id, 65);
            m->nc++;
        }
    }
    closedir(d);
    if (m->nc)
        km_sort(m->c, m->nc, sizeof(*m->c), cmp_container);
    return rc;
}

int km_logmeta_refresh(struct km_logmeta *m)
{
    bool exists;
    int rc = 0;

    if (changed(m->pods_dir, &m->pods_mtime, &exists)) {
        m->refreshes++;
        rc = exists ? read_pods(m) : (m->npod = 0, 0);
    }
    if (rc == 0 && changed(m->containers_dir, &m->containers_mtime, &exists)) {
        m->refreshes++;
        rc = exists ? read_containers(m) : (m->nc = 0, 0);
    }
    return rc;
}

const struct km_log_pod *km_logmeta_pod(const struct km_logmeta *m, const char *uid)
{
    struct km_log_pod key;

    if (!m->npod || strlen(uid) >= sizeof(key.uid))
        return NULL;
    strcpy(key.uid, uid);
    return bsearch(&key, m->pod, m->npod, sizeof(*m->pod), cmp_pod);
}

const char *km_logmeta_container(const struct km_logmeta *m, const char *id)
{
    struct km_log_container key, *c;

    if (!m->nc || strlen(id) >= sizeof(key.id))
        return NULL;
    strcpy(key.id, id);
    c = bsearch(&key, m->c, m->nc, sizeof(*m->c), cmp_container);
    return c ? c->name : NULL;
}

void km_logmeta_fini(struct km_logmeta *m)
{
    free(m->pod);
    free(m->c);
    m->pod = NULL;
    m->c = NULL;
    m->npod = m->nc = m->cappod = m->capc = 0;
}
