/*
 * query_time — the times and steps `kmon query` takes (see query.h): the API's forms,
 * and durations relative to now for people at a shell.
 */
#include "query/query.h"

#include "common/err.h"
#include "common/timefmt.h"

#include <string.h>

/* now ± the duration at s ("+5m", "-1h"). */
static int parse_relative(const char *s, int64_t now_ms, int64_t *out_ms)
{
    int64_t d;

    if ((s[0] != '-' && s[0] != '+') || km_duration_parse(s + 1, &d) != 0)
        return KM_EINVAL;
    *out_ms = s[0] == '-' ? now_ms - d : now_ms + d;
    return 0;
}

int km_query_parse_time(const char *s, int64_t now_ms, int64_t *out_ms)
{
    /* A number is seconds since the epoch, as the API reads it: "-3600" is 1969. */
    if (km_time_parse_prom(s, out_ms) == 0)
        return 0;
    if (strcmp(s, "now") == 0) {
        *out_ms = now_ms;
        return 0;
    }
    if (parse_relative(strncmp(s, "now", 3) == 0 ? s + 3 : s, now_ms, out_ms) == 0)
        return 0;
    return km_err_set(KM_EINVAL,
                      "bad time \"%s\" (want RFC 3339 like 2025-06-12T10:25:19Z, seconds since "
                      "the epoch, now, or a duration from now like -1h or now-30m)",
                      s);
}

int64_t km_query_auto_step(int64_t start_ms, int64_t end_ms)
{
    int64_t step = (end_ms - start_ms) / 250 / 1000 * 1000;

    return step < 1000 ? 1000 : step;
}
