/*
 * kinds — the table of kinds (see kinds.h).
 */
#include "kinds.h"

#include <string.h>

const struct km_kind *const km_kinds[] = {
    &km_kind_pods,           &km_kind_nodes,        &km_kind_namespaces, &km_kind_deployments,
    &km_kind_replicasets,    &km_kind_statefulsets, &km_kind_daemonsets, &km_kind_jobs,
    &km_kind_cronjobs,       &km_kind_hpas,         &km_kind_pvcs,       &km_kind_services,
    &km_kind_resourcequotas,
};
const size_t km_nkinds = sizeof(km_kinds) / sizeof(km_kinds[0]);

const struct km_kind *km_kind_find(const char *name)
{
    for (size_t i = 0; i < km_nkinds; i++) {
        if (strcmp(km_kinds[i]->name, name) == 0)
            return km_kinds[i];
    }
    return NULL;
}
