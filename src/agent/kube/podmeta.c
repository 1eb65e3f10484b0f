/*
 * podmeta — Pod objects as the agent keeps them (see podmeta.h).
 */
#include "podmeta.h"

#include "common/array.h"
#include "common/err.h"
#include "common/timefmt.h"

#include <stdlib.h>
#include <string.h>

static const char *str_at(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int dup_into(char **dst, const char *s)
{
    if (!s) {
        *dst = NULL;
        return 0;
    }
    *dst = strdup(s);
    return *dst ? 0 : km_err_set(KM_ENOMEM, "out of memory");
}

void km_pod_meta_fini(struct km_pod_meta *m)
{
    free(m->uid);
    free(m->ns);
    free(m->name);
    free(m->node);
    free(m->qos);
    free(m->owner_kind);
    free(m->owner_name);
    free(m->template_hash);
    free(m->rv);
    for (size_t i = 0; i < m->nc; i++) {
        free(m->c[i].id);
        free(m->c[i].name);
    }
    free(m->c);
    for (size_t i = 0; i < m->nlabels; i++) {
        free(m->labels[i].name);
        free(m->labels[i].value);
    }
    free(m->labels);
    memset(m, 0, sizeof(*m));
}

/* The controlling owner: the ownerReference with controller: true. */
static int parse_owner(const json_t *meta, struct km_pod_meta *out)
{
    const json_t *refs = json_object_get(meta, "ownerReferences"), *r;
    size_t i;

    if (refs && !json_is_array(refs))
        return km_err_set(KM_EINVAL, "metadata.ownerReferences is not a list");
    json_array_foreach(refs, i, r)
    {
        if (json_is_true(json_object_get(r, "controller")) && str_at(r, "kind") &&
            str_at(r, "name")) {
            int rc = dup_into(&out->owner_kind, str_at(r, "kind"));

            return rc ? rc : dup_into(&out->owner_name, str_at(r, "name"));
        }
    }
    return 0;
}

/* An RFC 3339 time as seconds since the epoch; 0 when absent or malformed. */
static int64_t time_at(const json_t *o, const char *key)
{
    const char *v = str_at(o, key);
    int64_t ns;

    return v && km_time_parse_rfc3339(v, &ns) == 0 && ns > 0 ? ns / 1000000000 : 0;
}

static int parse_labels(const json_t *meta, const char *const *allow, size_t nallow,
                        struct km_pod_meta *out)
{
    const json_t *labels = json_object_get(meta, "labels");
    size_t cap = 0;
    int rc = 0;

    if (!labels)
        return 0;
    if (!json_is_object(labels))
        return km_err_set(KM_EINVAL, "metadata.labels is not a map");
    rc = dup_into(&out->template_hash, str_at(labels, "pod-template-hash"));
    for (size_t i = 0; rc == 0 && i < nallow; i++) {
        const char *v = str_at(labels, allow[i]);
        struct km_pod_label *l;

        if (!v)
            continue;
        rc = km_array_grow((void **)&out->labels, &cap, out->nlabels + 1, sizeof(*l), 8,
                           "keeping pod labels");
        if (rc)
            break;
        l = &out->labels[out->nlabels];
        memset(l, 0, sizeof(*l));
        out->nlabels++;
        rc = dup_into(&l->name, allow[i]);
        if (rc == 0)
            rc = dup_into(&l->value, v);
    }
    return rc;
}

/* status.containerStatuses, initContainerStatuses and ephemeralContainerStatuses:
 * "containerd://<id>" → name. Containers not started yet have no containerID. An entry
 * without a name is skipped: its series would be the pod total's (container=""); the
 * container is then named from the log layout or left out as unnamed. */
static int parse_containers(const json_t *status, struct km_pod_meta *out)
{
    static const char *const lists[] = { "containerStatuses", "initContainerStatuses",
                                         "ephemeralContainerStatuses" };
    size_t cap = 0;
    int rc = 0;

    for (size_t k = 0; rc == 0 && k < sizeof(lists) / sizeof(lists[0]); k++) {
        const json_t *arr = json_object_get(status, lists[k]), *cs;
        size_t i;

        if (arr && !json_is_array(arr))
            return km_err_set(KM_EINVAL, "status.%s is not a list", lists[k]);
        json_array_foreach(arr, i, cs)
        {
            const char *id = str_at(cs, "containerID"), *name = str_at(cs, "name"), *sep;
            struct km_pod_container *c;

            if (!id || !name || !*name)
                continue;
            sep = strstr(id, "://");
            id = sep ? sep + 3 : id;
            if (!*id)
                continue;
            rc = km_array_grow((void **)&out->c, &cap, out->nc + 1, sizeof(*c), 4,
                               "keeping container names");
            if (rc)
                break;
            c = &out->c[out->nc];
            memset(c, 0, sizeof(*c));
            c->started_s =
                time_at(json_object_get(json_object_get(cs, "state"), "running"), "startedAt");
            out->nc++;
            rc = dup_into(&c->id, id);
            if (rc == 0)
                rc = dup_into(&c->name, name);
            if (rc)
                break;
        }
    }
    return rc;
}

int km_pod_meta_parse(const json_t *pod, const char *const *allow, size_t nallow,
                      struct km_pod_meta *out)
{
    const json_t *meta = json_object_get(pod, "metadata"), *spec = json_object_get(pod, "spec"),
                 *status = json_object_get(pod, "status");
    const char *uid = str_at(meta, "uid"), *ns = str_at(meta, "namespace"),
               *name = str_at(meta, "name");
    int rc;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(pod) || !json_is_object(meta))
        return km_err_set(KM_EINVAL, "a Pod without metadata");
    if (!uid || !*uid || !ns || !*ns || !name || !*name)
        return km_err_set(KM_EINVAL, "a Pod without metadata.uid, .namespace or .name");
    rc = dup_into(&out->uid, uid);
    if (rc == 0)
        rc = dup_into(&out->ns, ns);
    if (rc == 0)
        rc = dup_into(&out->name, name);
    if (rc == 0)
        rc = dup_into(&out->rv, str_at(meta, "resourceVersion"));
    if (rc == 0)
        rc = dup_into(&out->node, str_at(spec, "nodeName"));
    if (rc == 0)
        rc = dup_into(&out->qos, str_at(status, "qosClass") ? str_at(status, "qosClass") : "");
    out->host_network = json_is_true(json_object_get(spec, "hostNetwork"));
    out->started_s = time_at(status, "startTime");
    if (rc == 0)
        rc = parse_owner(meta, out);
    if (rc == 0)
        rc = parse_labels(meta, allow, nallow, out);
    if (rc == 0 && json_is_object(status))
        rc = parse_containers(status, out);
    if (rc)
        km_pod_meta_fini(out);
    return rc;
}

const struct km_pod_container *km_pod_meta_container(const struct km_pod_meta *m, const char *id)
{
    for (size_t i = 0; i < m->nc; i++) {
        if (strcmp(m->c[i].id, id) == 0)
            return &m->c[i];
    }
    return NULL;
}
