/*
 * auth_id — a request's identity as handlers read it (see auth.h): the cluster a write
 * is bound to, the clusters a read may see.
 */
#include "auth.h"

#include "common/http_server.h"

#include <stdlib.h>
#include <string.h>

const struct km_auth_id *km_auth_id_of(const struct km_http_req *r)
{
    return km_http_req_auth(r);
}

const char *km_auth_write_cluster(const struct km_http_req *r)
{
    const struct km_auth_id *id = km_auth_id_of(r);

    if (!id || id->scope == KM_AUTH_ADMIN)
        return NULL;
    return id->cluster;
}

bool km_auth_may_read_cluster(const struct km_http_req *r, const char *cluster)
{
    const struct km_auth_id *id = km_auth_id_of(r);

    if (!id || id->scope == KM_AUTH_ADMIN || id->nclusters == 0)
        return true;
    if (!cluster)
        cluster = "";
    for (size_t i = 0; i < id->nclusters; i++)
        if (strcmp(id->clusters[i], cluster) == 0)
            return true;
    return false;
}

void km_auth_id_free(void *p)
{
    struct km_auth_id *id = p;

    if (!id)
        return;
    free(id->name);
    free(id->cluster);
    for (size_t i = 0; i < id->nclusters; i++)
        free(id->clusters[i]);
    free(id->clusters);
    free(id);
}
