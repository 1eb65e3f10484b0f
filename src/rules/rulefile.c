/*
 * rulefile — the checks Prometheus' rulefmt makes after decoding (RuleGroups.Validate and
 * RuleNode.Validate, in their order and with their messages), the loaded rules built from
 * what passed, promtool's duplicate-rules lint, and reading a file from disk.
 */
#include "rules/rulefile.h"

#include "common/array.h"
#include "common/err.h"
#include "common/labels.h"
#include "common/numfmt.h"
#include "promql/ast.h"
#include "promql/parse.h"
#include "rules/rulefile_internal.h"
#include "rules/template.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK (64u << 10)
#define ARENA_MAX   (256u << 20)

static void free_pairs(struct km_rule_pair *p, size_t n);

struct checker {
    const char *path;
    struct km_buf *errs;
    size_t nerrs;
};

/* One error line: "PATH: " then the message. */
static void file_error(struct checker *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void file_error(struct checker *c, const char *fmt, ...)
{
    va_list ap;

    if (c->errs->len)
        km_buf_putc(c->errs, '\n');
    km_buf_printf(c->errs, "%s: ", c->path);
    va_start(ap, fmt);
    km_buf_vprintf(c->errs, fmt, ap);
    va_end(ap);
    c->nerrs++;
}

/* rulefmt.Error: "[L:C: [L:C: ]]group "g", rule N, "name": message". */
static void rule_error(struct checker *c, const struct rf_group *g, size_t i,
                       const struct rf_pos *at, const struct rf_pos *alt, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void rule_error(struct checker *c, const struct rf_group *g, size_t i,
                       const struct rf_pos *at, const struct rf_pos *alt, const char *fmt, ...)
{
    const struct rf_rule *r = &g->rules[i];
    va_list ap;

    if (c->errs->len)
        km_buf_putc(c->errs, '\n');
    km_buf_printf(c->errs, "%s: ", c->path);
    if (at)
        km_buf_printf(c->errs, "%u:%u: ", at->line, at->col);
    if (at && alt)
        km_buf_printf(c->errs, "%u:%u: ", alt->line, alt->col);
    km_buf_printf(c->errs, "group \"%s\", rule %zu, \"%s\": ", g->name.v, i + 1,
                  *r->alert.v ? r->alert.v : r->record.v);
    va_start(ap, fmt);
    km_buf_vprintf(c->errs, fmt, ap);
    va_end(ap);
    c->nerrs++;
}

static bool utf8_valid(const char *s)
{
    size_t n = strlen(s);

    for (size_t i = 0; i < n;) {
        size_t k = km_utf8_seq_len((const unsigned char *)s + i, n - i);

        if (!k)
            return false;
        i += k;
    }
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct km_rule_pair *)a)->name, ((const struct km_rule_pair *)b)->name);
}

/* Parse one label's or annotation's template as Prometheus' testTemplateParsing does
 * (the template named "__alert_<rule>"); the parsed template is kept in the pair. */
static int check_template(struct checker *c, const struct rf_group *g, size_t i,
                          struct km_rule_pair *p, const char *what)
{
    const struct rf_rule *r = &g->rules[i];
    struct km_buf name, err;
    int rc;

    km_buf_init(&name, 0);
    km_buf_init(&err, 8192);
    km_buf_printf(&name, "__alert_%s", r->alert.v);
    rc = km_buf_error(&name)
             ? KM_ENOMEM
             : km_tmpl_parse(&p->tmpl, km_buf_cstr(&name), p->value, strlen(p->value), &err);
    if (rc == KM_EINVAL || rc == KM_ELIMIT) {
        rule_error(c, g, i, NULL, NULL, "%s \"%s\": %s", what, p->name, km_buf_cstr(&err));
        rc = 0;
    }
    km_buf_fini(&err);
    km_buf_fini(&name);
    return rc;
}

static int check_templates(struct checker *c, const struct rf_group *g, size_t i)
{
    const struct rf_rule *r = &g->rules[i];
    int rc = 0;

    for (size_t k = 0; rc == 0 && k < r->nlabels; k++)
        rc = check_template(c, g, i, &r->labels[k], "label");
    for (size_t k = 0; rc == 0 && k < r->nannotations; k++)
        rc = check_template(c, g, i, &r->annotations[k], "annotation");
    return rc;
}

/* RuleNode.Validate, with the parsed expression kept for the rule (NULL when it fails). */
static int check_rule(struct checker *c, const struct rf_group *g, size_t i,
                      struct km_promql_expr **expr)
{
    const struct rf_rule *r = &g->rules[i];
    const struct rf_pos *rec = &r->record.pos;
    struct km_promql_error perr;
    int rc;

    *expr = NULL;
    if (*r->record.v && *r->alert.v)
        rule_error(c, g, i, rec, &r->alert.pos, "only one of 'record' and 'alert' must be set");
    if (!*r->record.v && !*r->alert.v)
        rule_error(c, g, i, rec, NULL, "one of 'record' or 'alert' must be set");
    if (!*r->expr.v) {
        rule_error(c, g, i, &r->expr.pos, NULL, "field 'expr' must be set in rule");
    } else {
        rc = km_promql_parse(r->expr.v, strlen(r->expr.v), expr, &perr);
        if (rc == KM_ENOMEM)
            return rc;
        if (rc)
            rule_error(c, g, i, &r->expr.pos, NULL, "could not parse expression: %s", perr.msg);
    }
    if (*r->record.v) {
        if (r->nannotations)
            rule_error(c, g, i, rec, NULL, "invalid field 'annotations' in recording rule");
        if (r->for_ms)
            rule_error(c, g, i, rec, NULL, "invalid field 'for' in recording rule");
        if (r->keep_firing_for_ms)
            rule_error(c, g, i, rec, NULL, "invalid field 'keep_firing_for' in recording rule");
        if (!km_metric_name_valid(r->record.v, strlen(r->record.v)))
            rule_error(c, g, i, rec, NULL, "invalid recording rule name: %s", r->record.v);
    }
    for (size_t k = 0; k < r->nlabels; k++) {
        const struct km_rule_pair *l = &r->labels[k];

        if (!km_label_name_valid(l->name, strlen(l->name)) ||
            strcmp(l->name, KM_METRIC_NAME_LABEL) == 0)
            rule_error(c, g, i, NULL, NULL, "invalid label name: %s", l->name);
        if (!utf8_valid(l->value))
            rule_error(c, g, i, NULL, NULL, "invalid label value: %s", l->value);
    }
    for (size_t k = 0; k < r->nannotations; k++) {
        const struct km_rule_pair *a = &r->annotations[k];

        if (!km_label_name_valid(a->name, strlen(a->name)))
            rule_error(c, g, i, NULL, NULL, "invalid annotation name: %s", a->name);
    }
    if (*r->alert.v)
        return check_templates(c, g, i);
    return 0;
}

static int check_doc(struct checker *c, const struct rf_doc *doc, struct km_promql_expr **exprs)
{
    size_t at = 0;
    int rc;

    for (size_t j = 0; j < doc->ngroups; j++) {
        const struct rf_group *g = &doc->groups[j];

        if (!*g->name.v)
            file_error(c, "%u:%u: Groupname must not be empty", g->pos.line, g->pos.col);
        for (size_t e = 0; e < j; e++) {
            if (strcmp(doc->groups[e].name.v, g->name.v) == 0) {
                file_error(c, "%u:%u: groupname: \"%s\" is repeated in the same file", g->pos.line,
                           g->pos.col, g->name.v);
                break;
            }
        }
        for (size_t i = 0; i < g->nrules; i++) {
            /* The maps are sorted first, so messages come in a stable order (Go's map
             * order is random). */
            km_sort(g->rules[i].labels, g->rules[i].nlabels, sizeof(struct km_rule_pair), by_name);
            km_sort(g->rules[i].annotations, g->rules[i].nannotations, sizeof(struct km_rule_pair),
                    by_name);
            rc = check_rule(c, g, i, &exprs[at++]);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static void *zalloc(struct km_arena *a, size_t n, size_t size, size_t align)
{
    void *p = km_arena_alloc(a, (n + 1) * size, align);

    if (p)
        memset(p, 0, (n + 1) * size);
    return p;
}

/* The loaded file from a document that passed: the rules point into the arena. */
static int build(struct km_rulefile *f, const struct rf_doc *doc, struct km_promql_expr **exprs)
{
    struct km_arena *a = &f->mem->arena;
    size_t at = 0;

    f->groups = zalloc(a, doc->ngroups, sizeof(*f->groups), _Alignof(struct km_rule_group));
    if (!f->groups)
        return KM_ENOMEM;
    for (size_t j = 0; j < doc->ngroups; j++) {
        const struct rf_group *rg = &doc->groups[j];
        struct km_rule_group *g = &f->groups[j];

        g->name = rg->name.v;
        g->interval_ms = rg->interval_ms;
        g->limit = rg->limit;
        g->rules = zalloc(a, rg->nrules, sizeof(*g->rules), _Alignof(struct km_rule));
        if (!g->rules)
            return KM_ENOMEM;
        for (size_t i = 0; i < rg->nrules; i++) {
            const struct rf_rule *rr = &rg->rules[i];
            struct km_rule *r = &g->rules[i];

            r->kind = *rr->alert.v ? KM_RULE_ALERT : KM_RULE_RECORD;
            r->name = *rr->alert.v ? rr->alert.v : rr->record.v;
            r->expr_text = rr->expr.v;
            r->expr = exprs[at];
            exprs[at++] = NULL;
            r->for_ms = rr->for_ms;
            r->keep_firing_for_ms = rr->keep_firing_for_ms;
            r->labels = rr->labels;
            r->nlabels = rr->nlabels;
            r->annotations = rr->annotations;
            r->nannotations = rr->nannotations;
            r->line = rr->line;
            g->nrules++;
            f->nrules++;
        }
        f->ngroups++;
    }
    return 0;
}

int km_rulefile_parse(struct km_rulefile **out, const char *path, const char *text, size_t len,
                      struct km_buf *errs)
{
    struct checker c = { .path = path, .errs = errs };
    struct km_rulefile *f;
    struct km_promql_expr **exprs = NULL;
    struct rf_doc doc;
    struct km_buf msg;
    size_t nrules = 0;
    int rc;

    if (len > KM_RULEFILE_MAX_BYTES) {
        file_error(&c, "the file is larger than %u bytes", KM_RULEFILE_MAX_BYTES);
        return KM_ELIMIT;
    }
    f = calloc(1, sizeof(*f));
    if (!f)
        return KM_ENOMEM;
    f->mem = calloc(1, sizeof(*f->mem));
    f->path = strdup(path);
    if (!f->mem || !f->path) {
        rc = KM_ENOMEM;
        goto out_destroy;
    }
    km_arena_init(&f->mem->arena, ARENA_CHUNK, ARENA_MAX);
    km_buf_init(&msg, 1u << 20);
    rc = km_rf_decode(&doc, &f->mem->arena, text, len, &msg);
    if (rc == KM_EINVAL || rc == KM_ELIMIT)
        file_error(&c, "%s", km_buf_cstr(&msg));
    km_buf_fini(&msg);
    if (rc)
        goto out_destroy;
    for (size_t j = 0; j < doc.ngroups; j++)
        nrules += doc.groups[j].nrules;
    exprs = calloc(nrules + 1, sizeof(*exprs));
    if (!exprs) {
        rc = KM_ENOMEM;
        goto out_destroy;
    }
    rc = check_doc(&c, &doc, exprs);
    if (rc == 0 && c.nerrs)
        rc = KM_EINVAL;
    if (rc == 0)
        rc = build(f, &doc, exprs);
    if (rc == 0 && km_buf_error(errs))
        rc = KM_ENOMEM;
    if (rc)
        goto out_free_exprs;
    free(exprs);
    *out = f;
    return 0;

out_free_exprs:
    for (size_t i = 0; i < nrules; i++)
        km_promql_expr_destroy(exprs[i]);
    free(exprs);
    /* The templates, parsed into the document's pairs (which built rules share: freeing
     * sets them to NULL, so the file's destruction finds none left). */
    for (size_t j = 0; j < doc.ngroups; j++) {
        for (size_t i = 0; i < doc.groups[j].nrules; i++) {
            free_pairs(doc.groups[j].rules[i].labels, doc.groups[j].rules[i].nlabels);
            free_pairs(doc.groups[j].rules[i].annotations, doc.groups[j].rules[i].nannotations);
        }
    }
out_destroy:
    km_rulefile_destroy(f);
    return rc;
}

int km_rulefile_load(struct km_rulefile **out, const char *path, struct km_buf *errs)
{
    struct km_buf text;
    char chunk[65536];
    FILE *fp;
    size_t n;
    int rc = 0;

    fp = fopen(path, "rb");
    if (!fp) {
        rc = errno == ENOENT ? KM_ENOTFOUND : KM_EIO;
        if (errs->len)
            km_buf_putc(errs, '\n');
        km_buf_printf(errs, "%s: open %s: %s", path, path, strerror(errno));
        return rc;
    }
    km_buf_init(&text, KM_RULEFILE_MAX_BYTES + 1);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (km_buf_append(&text, chunk, n))
            break;
    }
    if (ferror(fp)) {
        if (errs->len)
            km_buf_putc(errs, '\n');
        km_buf_printf(errs, "%s: read %s: %s", path, path, strerror(errno));
        rc = KM_EIO;
    } else if (km_buf_error(&text) == KM_ELIMIT) {
        if (errs->len)
            km_buf_putc(errs, '\n');
        km_buf_printf(errs, "%s: the file is larger than %u bytes", path, KM_RULEFILE_MAX_BYTES);
        rc = KM_ELIMIT;
    } else if (km_buf_error(&text)) {
        rc = KM_ENOMEM;
    }
    fclose(fp);
    if (rc == 0)
        rc = km_rulefile_parse(out, path, text.data ? text.data : "", text.len, errs);
    km_buf_fini(&text);
    return rc;
}

static void free_pairs(struct km_rule_pair *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        km_tmpl_destroy(p[k].tmpl);
        p[k].tmpl = NULL;
    }
}

void km_rulefile_destroy(struct km_rulefile *f)
{
    if (!f)
        return;
    for (size_t j = 0; j < f->ngroups; j++) {
        for (size_t i = 0; i < f->groups[j].nrules; i++) {
            struct km_rule *r = &f->groups[j].rules[i];

            km_promql_expr_destroy(r->expr);
            free_pairs(r->labels, r->nlabels);
            free_pairs(r->annotations, r->nannotations);
        }
    }
    if (f->mem)
        km_arena_fini(&f->mem->arena);
    free(f->mem);
    free(f->path);
    free(f);
}

/* ---- promtool's duplicate-rules lint -------------------------------------------------------- */

static bool same_labels(const struct km_rule *a, const struct km_rule *b)
{
    if (a->nlabels != b->nlabels)
        return false;
    for (size_t k = 0; k < a->nlabels; k++) {
        if (strcmp(a->labels[k].name, b->labels[k].name) != 0 ||
            strcmp(a->labels[k].value, b->labels[k].value) != 0)
            return false;
    }
    return true;
}

size_t km_rulefile_lint_duplicates(const struct km_rulefile *f, struct km_buf *out)
{
    const struct km_rule **rec;
    size_t n = 0, dups = 0;
    struct km_buf body;

    rec = calloc(f->nrules + 1, sizeof(*rec));
    if (!rec)
        return 0;
    for (size_t j = 0; j < f->ngroups; j++) {
        for (size_t i = 0; i < f->groups[j].nrules; i++)
            rec[n++] = &f->groups[j].rules[i];
    }
    km_buf_init(&body, 0);
    for (size_t i = 0; i < n; i++) {
        bool first = true;

        for (size_t k = 0; k < i; k++) {
            if (strcmp(rec[k]->name, rec[i]->name) == 0 && same_labels(rec[k], rec[i])) {
                first = false;
                break;
            }
        }
        if (!first)
            continue;
        for (size_t k = i + 1; k < n; k++) {
            if (strcmp(rec[k]->name, rec[i]->name) == 0 && same_labels(rec[k], rec[i])) {
                km_buf_printf(&body, "Metric: %s\nLabel(s):\n", rec[i]->name);
                for (size_t l = 0; l < rec[i]->nlabels; l++)
                    km_buf_printf(&body, "\t%s: %s\n", rec[i]->labels[l].name,
                                  rec[i]->labels[l].value);
                dups++;
                break;
            }
        }
    }
    if (dups) {
        km_buf_printf(out, "%zu duplicate rule(s) found.\n", dups);
        km_buf_append(out, body.data, body.len);
        km_buf_puts(out, "Might cause inconsistency while recording expressions\n");
    }
    km_buf_fini(&body);
    free(rec);
    return dups;
}
