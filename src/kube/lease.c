/*
 * lease — a Lease's leader-election record, to and from JSON (see lease.h).
 */
#include "lease.h"

#include "common/err.h"
#include "common/timefmt.h"

#include <stdio.h>
#include <string.h>

/* Copy the string at o[key] (or "") into out; false when it does not fit. */
static bool copy_str(char *out, size_t size, const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    const char *s = json_is_string(v) ? json_string_value(v) : "";

    if (strlen(s) >= size)
        return false;
    memcpy(out, s, strlen(s) + 1);
    return true;
}

static int64_t get_int(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

int km_klease_parse(const json_t *lease, struct km_klease_record *out)
{
    const json_t *spec = json_object_get(lease, "spec");
    const json_t *rv = json_object_get(json_object_get(lease, "metadata"), "resourceVersion");

    memset(out, 0, sizeof(*out));
    if (!json_is_object(lease) || !json_is_string(rv))
        return km_err_set(KM_EINVAL, "not a Lease object with a metadata.resourceVersion");
    if (!copy_str(out->holder, sizeof(out->holder), spec, "holderIdentity") ||
        !copy_str(out->acquire, sizeof(out->acquire), spec, "acquireTime") ||
        !copy_str(out->renew, sizeof(out->renew), spec, "renewTime"))
        return km_err_set(KM_EINVAL, "a Lease's spec with a field too long for a record");
    out->duration_s = get_int(spec, "leaseDurationSeconds");
    out->transitions = get_int(spec, "leaseTransitions");
    return 0;
}

bool km_klease_equal(const struct km_klease_record *a, const struct km_klease_record *b)
{
    return strcmp(a->holder, b->holder) == 0 && a->duration_s == b->duration_s &&
           strcmp(a->acquire, b->acquire) == 0 && strcmp(a->renew, b->renew) == 0 &&
           a->transitions == b->transitions;
}

/* The spec client-go's LeaseLock writes (holderIdentity "" when released). */
static json_t *spec_of(const struct km_klease_record *r)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:I}", "holderIdentity", r->holder,
                     "leaseDurationSeconds", (json_int_t)r->duration_s, "acquireTime", r->acquire,
                     "renewTime", r->renew, "leaseTransitions", (json_int_t)r->transitions);
}

int km_klease_set(json_t *lease, const struct km_klease_record *r)
{
    json_t *spec = spec_of(r);

    if (!spec || json_object_set_new(lease, "spec", spec) != 0)
        return km_err_set(KM_ENOMEM, "out of memory");
    return 0;
}

json_t *km_klease_new(const char *ns, const char *name, const struct km_klease_record *r)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "coordination.k8s.io/v1",
                     "kind", "Lease", "metadata", "name", name, "namespace", ns, "spec",
                     spec_of(r));
}

void km_klease_microtime(char out[KM_KLEASE_MAX_TIME], int64_t ns)
{
    km_time_format_rfc3339(out, KM_KLEASE_MAX_TIME, ns, 6);
}
