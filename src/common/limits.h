/*
 * limits — every hard cap in kmon, named in one place (as curl does for its buffers).
 * A buffer or table that grows from outside input is bounded by one of these.
 */
#ifndef KMON_COMMON_LIMITS_H
#define KMON_COMMON_LIMITS_H

/* Default cap of a km_buf when its owner names none. */
#define KM_LIMIT_BUF_DEFAULT (64u * 1024 * 1024)

/* A single /proc or /sys file read into memory (mountinfo on a host with many mounts is
 * the largest we expect; /proc/stat on a 1024-CPU host is ~150 KiB). */
#define KM_LIMIT_PROCFILE (16u * 1024 * 1024)

/* A rendered /metrics page or JSON snapshot. */
#define KM_LIMIT_RENDER (256u * 1024 * 1024)

/* Samples and families in one collector's batch. */
#define KM_LIMIT_BATCH_SAMPLES  (4u * 1024 * 1024)
#define KM_LIMIT_BATCH_FAMILIES (256u * 1024)

/* Strings of one batch (names, label values). */
#define KM_LIMIT_BATCH_ARENA (256u * 1024 * 1024)

/* Labels on one series. */
#define KM_LIMIT_LABELS_PER_SERIES 256

/* A YAML configuration file. */
#define KM_LIMIT_CONFIG_FILE (4u * 1024 * 1024)

/* Default HTTP request body cap. */
#define KM_LIMIT_HTTP_BODY (16u * 1024 * 1024)

/* An HTTP request's target (path and query, as sent) and head (request line and
 * headers; header fields and query arguments counted together): past these kmon
 * answers 414 and 431 in JSON. libmicrohttpd keeps a head in one pool per connection of
 * KM_LIMIT_HTTP_CONN_MEMORY (its parsed fields cost ~56 bytes each there), twice the
 * head cap so that it never refuses on its own, in HTML, a head kmon would accept. */
#define KM_LIMIT_HTTP_URI         (16u * 1024)
#define KM_LIMIT_HTTP_HEAD        (32u * 1024)
#define KM_LIMIT_HTTP_HEAD_FIELDS 256
#define KM_LIMIT_HTTP_CONN_MEMORY (64u * 1024)

/* Bytes of a refused (413) body read and dropped, unbuffered, so that a client that
 * sends its whole body before reading gets the answer instead of a reset. */
#define KM_LIMIT_HTTP_DISCARD (256u * 1024 * 1024)

/* A PromQL query kmon parses: its length in bytes, the nesting depth of its syntax tree
 * (parentheses, operands of operators, arguments; the parser, the printer and the
 * evaluator recurse that deep) and the nodes in that tree. Prometheus has no such
 * bounds; real queries stay far below them (the kube-prometheus mixin's deepest is ~15). */
#define KM_LIMIT_PROMQL_QUERY (4u * 1024 * 1024)
#define KM_LIMIT_PROMQL_DEPTH 1000
#define KM_LIMIT_PROMQL_NODES 200000

/* An alert template (src/rules/template.h): its text in bytes, the nesting of its
 * actions and parentheses (the parser recurses that deep); per expansion the output in
 * bytes, the depth of walking (nested actions and {{template}} calls, where Go allows
 * 100000), the steps of work (nodes walked and range iterations: a recursive template
 * must not run for ever), the `query` calls, and the bytes of the values it makes on the
 * way. Prometheus has none but Go's depth; real rule templates stay far below them. */
#define KM_LIMIT_TMPL_TEXT    (256u * 1024)
#define KM_LIMIT_TMPL_NESTING 100
#define KM_LIMIT_TMPL_OUTPUT  (1024u * 1024)
#define KM_LIMIT_TMPL_DEPTH   200
#define KM_LIMIT_TMPL_STEPS   1000000u
#define KM_LIMIT_TMPL_QUERIES 1000
#define KM_LIMIT_TMPL_MEMORY  (64u * 1024 * 1024)

/* Form bodies (application/x-www-form-urlencoded) decoded into request arguments: past
 * either the request is answered 413. Go's net/http caps form bodies at 10 MB too. */
#define KM_LIMIT_HTTP_FORM_BODY   (10u * 1024 * 1024)
#define KM_LIMIT_HTTP_FORM_FIELDS 65536

/* A streamed answer: bytes made and waiting for a slow client before the producer is
 * held (or a push write refused), and what one produce step may add on top. */
#define KM_LIMIT_HTTP_STREAM_BUF  (256u * 1024)
#define KM_LIMIT_HTTP_STREAM_STEP (64u * 1024 * 1024)

/* A TLS certificate, key or CA file. */
#define KM_LIMIT_TLS_FILE (1024u * 1024)

/* match[] selectors one /api/v1/series, labels or label values request may give. */
#define KM_LIMIT_PROM_MATCHES 1024

/* /federate: matching series with a label name that sorts before __name__ (an
 * uppercase first letter), which it holds in memory to put them in their families
 * (every other series streams through). Past it the request is refused. */
#define KM_LIMIT_FEDERATE_HELD 100000u

/* Metric metadata (TYPE, HELP, UNIT) the embedded store keeps for /api/v1/metadata:
 * metric names (a new name past this is refused and counted), distinct (type, help,
 * unit) per name (past this the least recently seen gives way, counted), bytes of one
 * help or unit text (longer ones are cut at a character boundary, counted), and bytes
 * of all of it with its bookkeeping (past this new entries are refused, counted). The
 * file it is kept in is read at open only up to twice that. */
#define KM_LIMIT_METADATA_FAMILIES 65536
#define KM_LIMIT_METADATA_VARIANTS 16
#define KM_LIMIT_METADATA_TEXT     (4u * 1024)
#define KM_LIMIT_METADATA_BYTES    (64u * 1024 * 1024)

/* A server's answer to `kmon query --server`, held whole to be printed, and the most
 * that command writes at once. */
#define KM_LIMIT_QUERY_ANSWER (1024u * 1024 * 1024)

/* Mounts the filesystem collector tracks at once. */
#define KM_LIMIT_MOUNTS 16384

#endif
