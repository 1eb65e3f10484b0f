/*
 * rulefile_decode — a rule file's YAML (libyaml's document) decoded into the fields of
 * rulefmt.RuleGroups the way Go's yaml.v3 decodes it with known fields only, so the
 * messages are the ones promtool prints:
 *
 *   - type mismatches and unknown or repeated keys are collected, in document order, into
 *     one "yaml: unmarshal errors:" message, a "\n  line N: …" per error;
 *   - a duration that does not parse stops the decoding with model.ParseDuration's
 *     message alone ("not a valid duration string: \"5x\"");
 *   - a syntax error is libyaml's problem with yaml.v3's line ("yaml: line 1: did not
 *     find expected node content").
 *
 * Scalars are resolved to the tags yaml.v3 gives them (!!null, !!bool, !!int, !!float,
 * !!str) only to name them in messages and to decode `limit`; any non-null scalar decodes
 * into a string as written, and null into "".
 */
#include "common/err.h"
#include "promql/literal.h"
#include "rules/rulefile_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct decoder {
    yaml_document_t *doc;
    struct km_arena *arena;
    struct km_buf *terrors; /* "\n  line N: …" per type error */
    size_t nterrors;
    struct km_buf *msg;
    size_t visits;
    int fatal; /* a duration error or a limit: stop at once */
};

/* ---- tags, as yaml.v3 resolves plain scalars --------------------------------------------- */

static bool is_null_text(const char *s)
{
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static bool is_bool_text(const char *s)
{
    static const char *const words[] = { "true", "True", "TRUE", "false", "False", "FALSE" };

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcmp(s, words[i]) == 0)
            return true;
    }
    return false;
}

static bool is_int_text(const char *s)
{
    const char *p = s;

    if (*p == '-' || *p == '+')
        p++;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b') && p[2]) {
        for (p += 2; *p; p++) {
            if (!isxdigit((unsigned char)*p) && *p != '_')
                return false;
        }
        return true;
    }
    if (!*p)
        return false;
    for (; *p; p++) {
        if (!isdigit((unsigned char)*p) && *p != '_')
            return false;
    }
    return true;
}

static bool is_float_text(const char *s)
{
    static const char *const words[] = { ".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf", "+.INF",
                                         "-.inf", "-.Inf", "-.INF", ".nan",  ".NaN",  ".NAN" };
    char *end;

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcmp(s, words[i]) == 0)
            return true;
    }
    if (!*s || strpbrk(s, "xXpPnNiI"))
        return false;
    errno = 0;
    (void)strtod(s, &end);
    return *end == '\0';
}

/* The short tag yaml.v3 names a node by: "!!seq", "!!map", "!!int", an explicit "!foo". */
static const char *short_tag(const yaml_node_t *n)
{
    const char *tag = (const char *)n->tag;
    const char *s;
    static const char prefix[] = "tag:yaml.org,2002:";

    if (n->type == YAML_SEQUENCE_NODE)
        return "!!seq";
    if (n->type == YAML_MAPPING_NODE)
        return "!!map";
    if (tag && strcmp(tag, YAML_DEFAULT_SCALAR_TAG) != 0) {
        if (strncmp(tag, prefix, sizeof(prefix) - 1) == 0) {
            if (strcmp(tag + sizeof(prefix) - 1, "str") == 0)
                return "!!str";
            if (strcmp(tag + sizeof(prefix) - 1, "int") == 0)
                return "!!int";
            if (strcmp(tag + sizeof(prefix) - 1, "binary") == 0)
                return "!!binary";
            if (strcmp(tag + sizeof(prefix) - 1, "float") == 0)
                return "!!float";
            if (strcmp(tag + sizeof(prefix) - 1, "bool") == 0)
                return "!!bool";
            if (strcmp(tag + sizeof(prefix) - 1, "null") == 0)
                return "!!null";
        }
        return tag;
    }
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return "!!str";
    s = (const char *)n->data.scalar.value;
    if (is_null_text(s))
        return "!!null";
    if (is_bool_text(s))
        return "!!bool";
    if (is_int_text(s))
        return "!!int";
    if (is_float_text(s))
        return "!!float";
    return "!!str";
}

static bool is_null(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && strcmp(short_tag(n), "!!null") == 0;
}

static struct rf_pos pos_of(const yaml_node_t *n)
{
    return (struct rf_pos){ (unsigned)n->start_mark.line + 1, (unsigned)n->start_mark.column + 1 };
}

/* yaml.v3's "cannot unmarshal !!int `5` into int" (values over 10 bytes cut to 7 + "…"). */
static void type_error(struct decoder *d, const yaml_node_t *n, const char *into)
{
    const char *tag = short_tag(n);

    km_buf_printf(d->terrors, "\n  line %u: cannot unmarshal %s", pos_of(n).line, tag);
    if (n->type == YAML_SCALAR_NODE) {
        size_t len = n->data.scalar.length;

        if (len > 10)
            km_buf_printf(d->terrors, " `%.7s...`", (const char *)n->data.scalar.value);
        else
            km_buf_printf(d->terrors, " `%s`", (const char *)n->data.scalar.value);
    }
    km_buf_printf(d->terrors, " into %s", into);
    d->nterrors++;
}

static yaml_node_t *node_at(struct decoder *d, int id)
{
    if (d->fatal)
        return NULL;
    if (++d->visits > KM_RULEFILE_MAX_NODES) {
        d->fatal = KM_ELIMIT;
        km_buf_puts(d->msg, "yaml: document contains excessive aliasing");
        return NULL;
    }
    return yaml_document_get_node(d->doc, id);
}

static int oom(struct decoder *d)
{
    d->fatal = KM_ENOMEM;
    return KM_ENOMEM;
}

/* ---- scalars ------------------------------------------------------------------------------ */

/* A string field: any scalar as written, null as "" (and its position kept). */
static int decode_string(struct decoder *d, const yaml_node_t *n, struct rf_str *out)
{
    out->pos = pos_of(n);
    if (n->type != YAML_SCALAR_NODE) {
        type_error(d, n, "string");
        return 0;
    }
    if (is_null(n)) {
        out->v = "";
        return 0;
    }
    out->v = km_arena_strndup(d->arena, (const char *)n->data.scalar.value, n->data.scalar.length);
    return out->v ? 0 : oom(d);
}

/* model.Duration: a string through model.ParseDuration; its error ends the decoding. */
static int decode_duration(struct decoder *d, const yaml_node_t *n, int64_t *ms)
{
    struct km_buf why;
    int rc;

    if (is_null(n))
        return 0;
    if (n->type != YAML_SCALAR_NODE) {
        type_error(d, n, "string");
        return 0;
    }
    km_buf_init(&why, 512);
    rc = km_promql_config_duration_parse((const char *)n->data.scalar.value, n->data.scalar.length,
                                         ms, &why);
    if (rc) {
        if (strcmp(km_buf_cstr(&why), "duration out of range") == 0)
            km_buf_puts(d->msg, km_buf_cstr(&why));
        else
            km_buf_printf(d->msg, "not a valid duration string: \"%s\"",
                          (const char *)n->data.scalar.value);
        d->fatal = KM_EINVAL;
    }
    km_buf_fini(&why);
    return d->fatal;
}

static int decode_int(struct decoder *d, const yaml_node_t *n, int64_t *v)
{
    const char *s;
    char *end;
    long long x;

    if (is_null(n))
        return 0;
    if (n->type != YAML_SCALAR_NODE || strcmp(short_tag(n), "!!int") != 0) {
        type_error(d, n, "int");
        return 0;
    }
    s = (const char *)n->data.scalar.value;
    errno = 0;
    x = strtoll(s, &end, 0);
    if (errno || *end) {
        type_error(d, n, "int");
        return 0;
    }
    *v = x;
    return 0;
}

/* ---- mappings ----------------------------------------------------------------------------- */

/* The key of a pair as a string, or NULL (a type error noted) when it is not a scalar. */
static const char *key_of(struct decoder *d, const yaml_node_t *k)
{
    if (k->type != YAML_SCALAR_NODE) {
        type_error(d, k, "string");
        return NULL;
    }
    return (const char *)k->data.scalar.value;
}

/* yaml.v3 refuses a key given twice in one mapping: "mapping key "x" already defined at
 * line N". True when the pair at `p` repeats an earlier key. */
static bool repeated_key(struct decoder *d, const yaml_node_t *map, const yaml_node_pair_t *p)
{
    const yaml_node_t *k = yaml_document_get_node(d->doc, p->key);

    if (!k || k->type != YAML_SCALAR_NODE)
        return false;
    for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
        const yaml_node_t *e = yaml_document_get_node(d->doc, q->key);

        if (e && e->type == YAML_SCALAR_NODE && e->data.scalar.length == k->data.scalar.length &&
            memcmp(e->data.scalar.value, k->data.scalar.value, k->data.scalar.length) == 0) {
            km_buf_printf(d->terrors, "\n  line %u: mapping key \"%s\" already defined at line %u",
                          pos_of(k).line, (const char *)k->data.scalar.value, pos_of(e).line);
            d->nterrors++;
            return true;
        }
    }
    return false;
}

static void unknown_field(struct decoder *d, const yaml_node_t *k, const char *key,
                          const char *type)
{
    km_buf_printf(d->terrors, "\n  line %u: field %s not found in type %s", pos_of(k).line, key,
                  type);
    d->nterrors++;
}

static size_t pairs_of(const yaml_node_t *map)
{
    return (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
}

static size_t items_of(const yaml_node_t *seq)
{
    return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

/* map[string]string: labels and annotations, in file order. */
static int decode_string_map(struct decoder *d, const yaml_node_t *n, struct km_rule_pair **out,
                             size_t *count)
{
    struct km_rule_pair *v;
    size_t k = 0;

    if (is_null(n))
        return 0;
    if (n->type != YAML_MAPPING_NODE) {
        type_error(d, n, "map[string]string");
        return 0;
    }
    v = km_arena_alloc(d->arena, (pairs_of(n) + 1) * sizeof(*v), _Alignof(struct km_rule_pair));
    if (!v)
        return oom(d);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(d, p->key), *vn = node_at(d, p->value);
        struct rf_str val = { 0 };
        const char *key;

        if (!kn || !vn)
            return d->fatal;
        if (repeated_key(d, n, p) || !(key = key_of(d, kn)))
            continue;
        if (decode_string(d, vn, &val))
            return d->fatal;
        if (vn->type != YAML_SCALAR_NODE)
            continue;
        v[k].name = km_arena_strndup(d->arena, key, kn->data.scalar.length);
        v[k].value = val.v;
        v[k].tmpl = NULL;
        if (!v[k].name)
            return oom(d);
        k++;
    }
    *out = v;
    *count = k;
    return 0;
}

/* ---- rules, groups, the file -------------------------------------------------------------- */

/* A struct's fields, as yaml.v3 decodes a mapping into a Go struct with known fields. */
enum field_kind { F_STRING, F_DURATION, F_INT, F_MAP, F_RULES, F_GROUPS };

struct field {
    const char *key;
    enum field_kind kind;
    size_t off, count_off; /* where in the struct; F_MAP: the pairs and their count */
};

static int decode_rules(struct decoder *d, const yaml_node_t *n, struct rf_group *g);
static int decode_groups(struct decoder *d, const yaml_node_t *n, struct rf_doc *doc);

static int decode_field(struct decoder *d, const struct field *f, const yaml_node_t *v, char *base)
{
    switch (f->kind) {
    case F_STRING:
        return decode_string(d, v, (struct rf_str *)(base + f->off));
    case F_DURATION:
        return decode_duration(d, v, (int64_t *)(base + f->off));
    case F_INT:
        return decode_int(d, v, (int64_t *)(base + f->off));
    case F_MAP:
        return decode_string_map(d, v, (struct km_rule_pair **)(base + f->off),
                                 (size_t *)(base + f->count_off));
    case F_RULES:
        return decode_rules(d, v, (struct rf_group *)base);
    case F_GROUPS:
        return decode_groups(d, v, (struct rf_doc *)base);
    }
    return 0;
}

/* The mapping n into the struct at base: null is an empty struct, another kind a type
 * error; unknown and repeated keys are noted and skipped. */
static int decode_struct(struct decoder *d, const yaml_node_t *n, const char *type,
                         const struct field *fields, size_t nfields, void *base)
{
    if (n->type != YAML_MAPPING_NODE) {
        if (!is_null(n))
            type_error(d, n, type);
        return 0;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(d, p->key), *vn = node_at(d, p->value);
        const struct field *f = NULL;
        const char *key;

        if (!kn || !vn)
            return d->fatal;
        if (repeated_key(d, n, p) || !(key = key_of(d, kn)))
            continue;
        for (size_t i = 0; i < nfields && !f; i++)
            f = strcmp(fields[i].key, key) == 0 ? &fields[i] : NULL;
        if (!f)
            unknown_field(d, kn, key, type);
        else if (decode_field(d, f, vn, base))
            return d->fatal ? d->fatal : KM_ENOMEM;
    }
    return 0;
}

static const struct field rule_fields[] = {
    { "record", F_STRING, offsetof(struct rf_rule, record), 0 },
    { "alert", F_STRING, offsetof(struct rf_rule, alert), 0 },
    { "expr", F_STRING, offsetof(struct rf_rule, expr), 0 },
    { "for", F_DURATION, offsetof(struct rf_rule, for_ms), 0 },
    { "keep_firing_for", F_DURATION, offsetof(struct rf_rule, keep_firing_for_ms), 0 },
    { "labels", F_MAP, offsetof(struct rf_rule, labels), offsetof(struct rf_rule, nlabels) },
    { "annotations", F_MAP, offsetof(struct rf_rule, annotations),
      offsetof(struct rf_rule, nannotations) },
};

static const struct field group_fields[] = {
    { "name", F_STRING, offsetof(struct rf_group, name), 0 },
    { "interval", F_DURATION, offsetof(struct rf_group, interval_ms), 0 },
    { "limit", F_INT, offsetof(struct rf_group, limit), 0 },
    { "rules", F_RULES, 0, 0 },
};

static const struct field file_fields[] = {
    { "groups", F_GROUPS, 0, 0 },
};

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

/* A sequence of n's items, each decoded by `one` into elements of `size` bytes at *out
 * (in the arena); *count of them. Null is none, another kind a type error. */
static int decode_seq(struct decoder *d, const yaml_node_t *n, const char *type, size_t size,
                      size_t align, int (*one)(struct decoder *, const yaml_node_t *, void *),
                      void **out, size_t *count)
{
    char *v;

    if (is_null(n))
        return 0;
    if (n->type != YAML_SEQUENCE_NODE) {
        type_error(d, n, type);
        return 0;
    }
    v = km_arena_alloc(d->arena, (items_of(n) + 1) * size, align);
    if (!v)
        return oom(d);
    *out = v;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *e = node_at(d, *it);

        if (!e)
            return d->fatal;
        if (one(d, e, v + *count * size))
            return d->fatal ? d->fatal : KM_ENOMEM;
        (*count)++;
    }
    return 0;
}

static int decode_rule(struct decoder *d, const yaml_node_t *n, void *out)
{
    struct rf_rule *r = out;

    memset(r, 0, sizeof(*r));
    r->record.v = r->alert.v = r->expr.v = "";
    r->line = pos_of(n).line;
    return decode_struct(d, n, "rulefmt.RuleNode", rule_fields, NFIELDS(rule_fields), r);
}

static int decode_rules(struct decoder *d, const yaml_node_t *n, struct rf_group *g)
{
    return decode_seq(d, n, "[]rulefmt.RuleNode", sizeof(struct rf_rule), _Alignof(struct rf_rule),
                      decode_rule, (void **)&g->rules, &g->nrules);
}

static int decode_group(struct decoder *d, const yaml_node_t *n, void *out)
{
    struct rf_group *g = out;

    memset(g, 0, sizeof(*g));
    g->name.v = "";
    g->pos = pos_of(n);
    return decode_struct(d, n, "rulefmt.RuleGroup", group_fields, NFIELDS(group_fields), g);
}

static int decode_groups(struct decoder *d, const yaml_node_t *n, struct rf_doc *doc)
{
    return decode_seq(d, n, "[]rulefmt.RuleGroup", sizeof(struct rf_group),
                      _Alignof(struct rf_group), decode_group, (void **)&doc->groups,
                      &doc->ngroups);
}

static int decode_root(struct decoder *d, const yaml_node_t *root, struct rf_doc *doc)
{
    return decode_struct(d, root, "rulefmt.RuleGroups", file_fields, NFIELDS(file_fields), doc);
}

/* yaml.v3's line for a parser error: the context's, else the problem's (+1 for a scanner
 * error, whose marks count from 0 as libyaml's do). */
static void syntax_error(const yaml_parser_t *p, struct km_buf *msg)
{
    size_t line = 0;

    if (p->context_mark.line != 0)
        line = p->context_mark.line + (p->error == YAML_SCANNER_ERROR);
    else if (p->problem_mark.line != 0)
        line = p->problem_mark.line + (p->error == YAML_SCANNER_ERROR);
    km_buf_puts(msg, "yaml: ");
    if (line)
        km_buf_printf(msg, "line %zu: ", line);
    km_buf_puts(msg, p->problem ? p->problem : "unknown problem parsing YAML content");
}

int km_rf_decode(struct rf_doc *doc, struct km_arena *arena, const char *text, size_t len,
                 struct km_buf *msg)
{
    yaml_parser_t parser;
    yaml_document_t ydoc;
    yaml_node_t *root;
    struct km_buf terrors;
    struct decoder d = { .doc = &ydoc, .arena = arena, .terrors = &terrors, .msg = msg };
    int rc = 0;

    memset(doc, 0, sizeof(*doc));
    if (!yaml_parser_initialize(&parser))
        return km_err_set(KM_ENOMEM, "out of memory initialising the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &ydoc)) {
        if (parser.error == YAML_MEMORY_ERROR) {
            rc = KM_ENOMEM;
        } else {
            syntax_error(&parser, msg);
            rc = KM_EINVAL;
        }
        goto out_parser;
    }
    km_buf_init(&terrors, 1u << 20);
    root = yaml_document_get_root_node(&ydoc);
    if (root)
        rc = decode_root(&d, root, doc);
    if (rc == 0)
        rc = d.fatal;
    if (rc == 0 && d.nterrors) {
        km_buf_puts(msg, "yaml: unmarshal errors:");
        km_buf_append(msg, terrors.data, terrors.len);
        rc = KM_EINVAL;
    }
    if (rc == 0 && (km_buf_error(&terrors) || km_buf_error(msg)))
        rc = KM_ENOMEM;
    km_buf_fini(&terrors);
    yaml_document_delete(&ydoc);
out_parser:
    yaml_parser_delete(&parser);
    return rc;
}
