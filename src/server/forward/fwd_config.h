/*
 * fwd_config — where the server forwards what it ingests: destinations from
 * --remote-write-url (defaults for everything) and from --remote-write-config, a YAML
 * file in Prometheus' own `remote_write:` format (url, name, remote_timeout, headers,
 * write_relabel_configs, bearer_token_file, authorization.credentials_file, tls_config,
 * queue_config), so a Prometheus configuration can be copied as it is. An unknown key is
 * an error naming its line; keys Prometheus has that kmon does not need (max_shards,
 * metadata_config, ...) are accepted and ignored; the ones that would change whom kmon
 * trusts or how it authenticates and that kmon lacks (basic_auth, oauth2, sigv4,
 * inline secrets) are errors.
 */
#ifndef KMON_SERVER_FORWARD_FWD_CONFIG_H
#define KMON_SERVER_FORWARD_FWD_CONFIG_H

#include "server/forward/relabel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct km_fwd_dest_cfg {
    char *name;      /* unique; names the spool directory and the metrics' remote_name */
    char *url;       /* as configured (may hold credentials) */
    char *url_label; /* without user:password, for metrics and logs */
    struct km_relabel **relabel;
    size_t nrelabel;
    char **headers; /* "Name: value" */
    size_t nheaders;
    char *token_file, *ca_file, *cert_file, *key_file;
    uint64_t capacity;             /* samples held in memory */
    uint64_t max_samples_per_send; /* per request */
    int64_t batch_send_deadline_ms, min_backoff_ms, max_backoff_ms, remote_timeout_ms;
};

struct km_fwd_config {
    struct km_fwd_dest_cfg *d;
    size_t n;
};

/* Defaults (docs/forwarding.md). */
#define KM_FWD_DEF_CAPACITY       100000
#define KM_FWD_DEF_MAX_PER_SEND   2000
#define KM_FWD_DEF_DEADLINE_MS    5000
#define KM_FWD_DEF_MIN_BACKOFF_MS 30
#define KM_FWD_DEF_MAX_BACKOFF_MS 5000
#define KM_FWD_DEF_TIMEOUT_MS     30000

/* Add a destination with default settings. KM_EINVAL for a URL that is not http(s). */
int km_fwd_config_add_url(struct km_fwd_config *c, const char *url);

/* Add the destinations of a YAML text (`path` names it in messages) / of a file. */
int km_fwd_config_parse(struct km_fwd_config *c, const char *text, size_t len, const char *path);
int km_fwd_config_load(struct km_fwd_config *c, const char *path);

/* Give unnamed destinations a name from their URL and check names are unique. */
int km_fwd_config_finish(struct km_fwd_config *c);

void km_fwd_config_free(struct km_fwd_config *c);

#endif
