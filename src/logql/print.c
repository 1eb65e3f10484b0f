/*
 * print — a parsed LogQL expression written back in canonical form (close to Loki's
 * String()): strings quoted as Go's %q, numbers and durations as written, one space
 * around operators. What it prints parses back to the same tree. Pure; thread-safe.
 */
#include "common/err.h"
#include "logql/logql_internal.h"
#include "promql/quote.h"

#include <string.h>

static const char *cmp_str(enum lq_cmp c)
{
    static const char *const s[] = { "=", "!=", "=~", "!~", ">", ">=", "<", "<=", "==" };

    return s[c];
}

static void quote(struct km_buf *b, const char *s, size_t n)
{
    km_promql_quote_expr(b, s, n);
}

static void print_lf(struct km_buf *b, const struct lq_lf *f)
{
    if (f->paren)
        km_buf_putc(b, '(');
    switch (f->k) {
    case LQ_LF_AND:
    case LQ_LF_OR:
        print_lf(b, f->l);
        km_buf_puts(b, f->k == LQ_LF_OR ? " or " : f->comma ? ", " : " and ");
        print_lf(b, f->r);
        break;
    case LQ_LF_STR:
        km_buf_printf(b, "%s%s", f->name, cmp_str(f->op));
        quote(b, f->s, strlen(f->s));
        break;
    default:
        km_buf_printf(b, "%s%s%s", f->name, cmp_str(f->op), f->s);
    }
    if (f->paren)
        km_buf_putc(b, ')');
}

static void print_params(struct km_buf *b, const struct lq_stage *st)
{
    for (size_t i = 0; i < st->np; i++) {
        const struct lq_param *pr = &st->p[i];

        km_buf_puts(b, i ? ", " : " ");
        km_buf_puts(b, pr->name);
        if (!pr->has_expr)
            continue;
        if (st->k == LQ_S_DROP || st->k == LQ_S_KEEP)
            km_buf_puts(b, cmp_str(pr->cmp));
        else
            km_buf_putc(b, '=');
        if (st->k == LQ_S_LABEL_FMT && !pr->is_template)
            km_buf_puts(b, pr->expr);
        else
            quote(b, pr->expr, strlen(pr->expr));
    }
}

static void print_stage(struct km_buf *b, const struct lq_stage *st)
{
    static const char *const fops[] = { "|=", "!=", "|~", "!~" };

    switch (st->k) {
    case LQ_S_LINE:
        km_buf_printf(b, " %s ", fops[st->lf.op]);
        for (size_t i = 0; i < st->lf.nalt; i++) {
            if (i)
                km_buf_puts(b, " or ");
            quote(b, st->lf.alt[i].s, st->lf.alt[i].n);
        }
        return;
    case LQ_S_JSON:
        km_buf_puts(b, " | json");
        print_params(b, st);
        return;
    case LQ_S_LOGFMT:
        km_buf_puts(b, " | logfmt");
        if (st->strict)
            km_buf_puts(b, " --strict");
        if (st->keep_empty)
            km_buf_puts(b, " --keep-empty");
        print_params(b, st);
        return;
    case LQ_S_REGEXP:
    case LQ_S_PATTERN:
    case LQ_S_LINE_FMT:
        km_buf_puts(b, st->k == LQ_S_REGEXP    ? " | regexp "
                       : st->k == LQ_S_PATTERN ? " | pattern "
                                               : " | line_format ");
        quote(b, st->text, strlen(st->text));
        return;
    case LQ_S_UNPACK:
        km_buf_puts(b, " | unpack");
        return;
    case LQ_S_DECOLORIZE:
        km_buf_puts(b, " | decolorize");
        return;
    case LQ_S_LABEL_FILTER:
        km_buf_puts(b, " | ");
        print_lf(b, st->filter);
        return;
    case LQ_S_LABEL_FMT:
    case LQ_S_DROP:
    case LQ_S_KEEP:
        km_buf_puts(b, st->k == LQ_S_LABEL_FMT ? " | label_format"
                       : st->k == LQ_S_DROP    ? " | drop"
                                               : " | keep");
        print_params(b, st);
        return;
    }
}

void lq_print_selector(struct km_buf *b, const struct lq_selector *s)
{
    static const char *const mops[] = { "=", "!=", "=~", "!~" };

    km_buf_putc(b, '{');
    for (size_t i = 0; i < s->nm; i++) {
        if (i)
            km_buf_puts(b, ", ");
        km_buf_printf(b, "%s%s", s->m[i]->name, mops[s->m[i]->type]);
        quote(b, s->m[i]->value, strlen(s->m[i]->value));
    }
    km_buf_putc(b, '}');
    for (size_t i = 0; i < s->nst; i++)
        print_stage(b, &s->st[i]);
}

static void print_labels(struct km_buf *b, char *const *v, size_t n)
{
    km_buf_putc(b, '(');
    for (size_t i = 0; i < n; i++) {
        if (i)
            km_buf_puts(b, ", ");
        km_buf_puts(b, v[i]);
    }
    km_buf_putc(b, ')');
}

static void print_grouping(struct km_buf *b, const struct lq_grouping *g)
{
    km_buf_puts(b, g->without ? " without " : " by ");
    print_labels(b, g->labels, g->n);
}

static const char *binop_str(enum km_pq_binop op)
{
    switch (op) {
    case KM_PQ_ADD:
        return "+";
    case KM_PQ_SUB:
        return "-";
    case KM_PQ_MUL:
        return "*";
    case KM_PQ_DIV:
        return "/";
    case KM_PQ_MOD:
        return "%";
    case KM_PQ_POW:
        return "^";
    case KM_PQ_EQL:
        return "==";
    case KM_PQ_NEQ:
        return "!=";
    case KM_PQ_GTR:
        return ">";
    case KM_PQ_LSS:
        return "<";
    case KM_PQ_GTE:
        return ">=";
    case KM_PQ_LTE:
        return "<=";
    case KM_PQ_AND:
        return "and";
    case KM_PQ_OR:
        return "or";
    case KM_PQ_UNLESS:
        return "unless";
    default:
        return "?";
    }
}

static void print_duration(struct km_buf *b, int64_t ns)
{
    /* Go's time.Duration.String() for whole units, enough to read back exactly */
    static const struct {
        const char *u;
        int64_t ns;
    } units[] = { { "h", 3600000000000LL }, { "m", 60000000000LL }, { "s", 1000000000LL },
                  { "ms", 1000000LL },      { "us", 1000LL },       { "ns", 1 } };

    if (ns == 0) {
        km_buf_puts(b, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ns >= units[i].ns) {
            km_buf_printf(b, "%lld%s", (long long)(ns / units[i].ns), units[i].u);
            ns %= units[i].ns;
        }
}

void lq_print_node(struct km_buf *b, const struct lq_node *n)
{
    if (n->paren)
        km_buf_putc(b, '(');
    switch (n->k) {
    case LQ_N_NUM:
        km_buf_puts(b, n->num_text);
        break;
    case LQ_N_VECTOR:
        km_buf_printf(b, "vector(%s)", n->num_text);
        break;
    case LQ_N_RANGE:
        km_buf_printf(b, "%s(", lq_range_name(n->rop));
        if (n->rop == LQ_R_QUANTILE)
            km_buf_printf(b, "%s,", n->param_text);
        lq_print_selector(b, &n->sel);
        if (n->has_unwrap) {
            static const char *const conv[] = { "", "duration", "duration_seconds", "bytes" };

            if (n->conv)
                km_buf_printf(b, " | unwrap %s(%s)", conv[n->conv], n->unwrap_label);
            else
                km_buf_printf(b, " | unwrap %s", n->unwrap_label);
            for (size_t i = 0; i < n->npost; i++) {
                km_buf_puts(b, " | ");
                print_lf(b, n->post[i]);
            }
        }
        km_buf_putc(b, '[');
        print_duration(b, n->range_ns);
        km_buf_putc(b, ']');
        if (n->offset_ns) {
            km_buf_puts(b, " offset ");
            print_duration(b, n->offset_ns);
        }
        km_buf_putc(b, ')');
        if (n->g.present)
            print_grouping(b, &n->g);
        break;
    case LQ_N_VAGG:
        km_buf_puts(b, lq_vagg_name(n->aop));
        if (n->g.present)
            print_grouping(b, &n->g);
        km_buf_putc(b, '(');
        if (n->aop == LQ_A_TOPK || n->aop == LQ_A_BOTTOMK)
            km_buf_printf(b, "%s,", n->param_text);
        lq_print_node(b, n->arg);
        km_buf_putc(b, ')');
        break;
    case LQ_N_BINOP:
        lq_print_node(b, n->l);
        km_buf_printf(b, " %s ", binop_str(n->op));
        if (n->ret_bool)
            km_buf_puts(b, "bool ");
        if (n->has_matching) {
            km_buf_puts(b, n->on ? "on " : "ignoring ");
            print_labels(b, n->mlabels, n->nmlabels);
            if (n->card == KM_PQ_MANY_TO_ONE || n->card == KM_PQ_ONE_TO_MANY) {
                km_buf_puts(b, n->card == KM_PQ_MANY_TO_ONE ? " group_left " : " group_right ");
                print_labels(b, n->include, n->ninclude);
            }
            km_buf_putc(b, ' ');
        }
        lq_print_node(b, n->r);
        break;
    case LQ_N_LABEL_REPLACE:
        km_buf_puts(b, "label_replace(");
        lq_print_node(b, n->arg);
        km_buf_puts(b, ",");
        quote(b, n->lr_dst, strlen(n->lr_dst));
        km_buf_puts(b, ",");
        quote(b, n->lr_repl, strlen(n->lr_repl));
        km_buf_puts(b, ",");
        quote(b, n->lr_src, strlen(n->lr_src));
        km_buf_puts(b, ",");
        quote(b, n->lr_re, strlen(n->lr_re));
        km_buf_putc(b, ')');
        break;
    }
    if (n->paren)
        km_buf_putc(b, ')');
}

int km_logql_print(const struct km_logql_expr *e, struct km_buf *out)
{
    if (e->kind == KM_LOGQL_LOG)
        lq_print_selector(out, e->log);
    else
        lq_print_node(out, e->root);
    return km_buf_error(out);
}
