/*
 * template_exec — expands a parsed template: walks its tree as Go's text/template
 * executor does (exec.go), with the same evaluation of pipelines, commands, fields,
 * variables and function arguments, the same checks of argument types, and an error
 * reported at the node Go would name ("template: NAME:LINE:COL: executing \"NAME\" at
 * <node>: reason"). Everything an expansion makes lives in its arena, freed at its end;
 * the output is built in a buffer of its own, capped, and handed to the caller only on
 * success. The bounds of KM_LIMIT_TMPL_* are enforced here. Thread-safe: the template
 * is only read.
 */
#include "common/array.h"
#include "common/err.h"
#include "common/limits.h"
#include "rules/template_internal.h"

#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What walk() returns besides 0 and errors: {{break}} and {{continue}} on their way to
 * their range. */
#define WALK_BREAK    1
#define WALK_CONTINUE 2

/* ---- Errors --------------------------------------------------------------------------- */

/* Fail the expansion with Go's message for the node being evaluated. Returns rc. */
__attribute__((format(printf, 3, 4))) static int xfail(struct xstate *s, int rc, const char *fmt,
                                                       ...)
{
    struct km_buf *e = s->err;
    const struct tnode *n = s->node;
    va_list ap;

    if (rc == KM_ENOMEM) {
        km_buf_puts(e, "out of memory");
        return rc;
    }
    if (!n) {
        km_buf_printf(e, "template: %s: ", s->cur->name);
    } else {
        const char *text = s->t->text;
        uint32_t line = 1, col = n->pos;
        struct km_buf ctx;

        for (uint32_t k = 0; k < n->pos; k++) {
            if (text[k] == '\n') {
                line++;
                col = n->pos - k - 1;
            }
        }
        km_buf_init(&ctx, 0);
        tmpl_node_string(&ctx, n);
        km_buf_printf(e, "template: %s:%u:%u: executing ", s->t->name, line, col);
        tmpl_quote(e, s->cur->name, s->cur->name_len);
        km_buf_puts(e, " at <");
        km_buf_append(e, ctx.data ? ctx.data : "", ctx.len);
        km_buf_puts(e, ">: ");
        tmpl_buf_done(e, &ctx);
    }
    va_start(ap, fmt);
    km_buf_vprintf(e, fmt, ap);
    va_end(ap);
    if (km_buf_error(&s->fnerr) == KM_ENOMEM && !e->err)
        e->err = KM_ENOMEM; /* a function's reason, cut short, went into the message */
    return rc;
}

/* A value as %v prints it, for messages. */
static const char *sprint1(struct xstate *s, struct km_buf *b, const struct tv *v)
{
    (void)s;
    km_buf_init(b, 4096);
    tmpl_sprint(b, v, 1);
    return km_buf_cstr(b);
}

static int check_output(struct xstate *s)
{
    if (!km_buf_error(&s->out))
        return 0;
    if (s->out.err == KM_ENOMEM)
        return xfail(s, KM_ENOMEM, "out of memory");
    return xfail(s, KM_ELIMIT, "template output exceeds the limit of %u bytes",
                 KM_LIMIT_TMPL_OUTPUT);
}

static int step(struct xstate *s)
{
    if (++s->steps > KM_LIMIT_TMPL_STEPS)
        return xfail(s, KM_ELIMIT, "template expansion exceeds the limit of %u steps",
                     KM_LIMIT_TMPL_STEPS);
    return 0;
}

static int enter(struct xstate *s)
{
    if (s->depth >= KM_LIMIT_TMPL_DEPTH)
        return xfail(s, KM_ELIMIT, "exceeded maximum template depth (%d)", KM_LIMIT_TMPL_DEPTH);
    s->depth++;
    return 0;
}

/* ---- Memory of the expansion ---------------------------------------------------------- */

void *tmpl_xalloc(struct xstate *s, size_t n, int *rc)
{
    void *p;

    if (n > KM_LIMIT_TMPL_MEMORY - s->mem) {
        km_buf_printf(&s->fnerr, "template values exceed the limit of %u bytes",
                      KM_LIMIT_TMPL_MEMORY);
        *rc = KM_ELIMIT;
        return NULL;
    }
    p = km_arena_alloc(&s->arena, n ? n : 1, _Alignof(max_align_t));
    if (!p) {
        km_buf_puts(&s->fnerr, "out of memory");
        *rc = KM_ENOMEM;
        return NULL;
    }
    s->mem += n;
    return p;
}

int tmpl_xstring(struct xstate *s, const char *p, size_t n, struct tv *out)
{
    int rc = 0;
    char *c = tmpl_xalloc(s, n + 1, &rc);

    if (!c)
        return rc;
    if (n)
        memcpy(c, p, n);
    c[n] = '\0';
    *out = (struct tv){ .k = TV_STRING };
    out->s.p = c;
    out->s.n = n;
    return 0;
}

int tmpl_xstring_buf(struct xstate *s, struct km_buf *b, struct tv *out)
{
    int rc = km_buf_error(b);

    if (rc == KM_ENOMEM)
        km_buf_puts(&s->fnerr, "out of memory");
    else if (rc)
        km_buf_printf(&s->fnerr, "a template value exceeds the limit of %zu bytes", b->max);
    else
        rc = tmpl_xstring(s, b->data ? b->data : "", b->len, out);
    km_buf_fini(b);
    return rc;
}

int tmpl_fn_error(struct xstate *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    km_buf_vprintf(&s->fnerr, fmt, ap);
    va_end(ap);
    return KM_EINVAL;
}

/* A function's or an allocation's failure (reason in s->fnerr) as the expansion's. */
static int fn_failed(struct xstate *s, int rc)
{
    return xfail(s, rc, "%s", km_buf_cstr(&s->fnerr));
}

/* ---- Truth and variables -------------------------------------------------------------- */

bool tmpl_truth(const struct tv *v)
{
    switch (v->k) {
    case TV_NIL:
        return false;
    case TV_BOOL:
        return v->b;
    case TV_INT:
    case TV_BYTE:
        return v->i != 0;
    case TV_FLOAT:
        return v->f != 0;
    case TV_COMPLEX:
        return v->c.re != 0 || v->c.im != 0;
    case TV_STRING:
    case TV_HTML:
        return v->s.n > 0;
    case TV_LABELS:
        return v->labels && v->labels->n > 0;
    case TV_ARGS:
        return v->args->n > 0;
    case TV_VECTOR:
        return v->vec && v->vec->n > 0;
    case TV_SAMPLE:
        return v->sample != NULL;
    case TV_TIME:
    case TV_DATA:
        return true;
    }
    return false;
}

static int push_var(struct xstate *s, const char *name, const struct tv *v)
{
    if (km_array_grow((void **)&s->vars, &s->capvars, s->nvars + 1, sizeof(*s->vars), 16,
                      "template variables") != 0)
        return xfail(s, KM_ENOMEM, "out of memory");
    s->vars[s->nvars].name = name;
    s->vars[s->nvars].v = *v;
    s->nvars++;
    return 0;
}

static struct tvar *find_var(struct xstate *s, const char *name)
{
    for (size_t k = s->nvars; k > s->var_base; k--) {
        if (strcmp(s->vars[k - 1].name, name) == 0)
            return &s->vars[k - 1];
    }
    return NULL;
}

static int set_var(struct xstate *s, const char *name, const struct tv *v)
{
    struct tvar *var = find_var(s, name);

    if (!var)
        return xfail(s, KM_EINVAL, "undefined variable: %s", name);
    var->v = *v;
    return 0;
}

/* ---- Evaluation ----------------------------------------------------------------------- */

static int eval_pipeline(struct xstate *s, const struct tv *dot, const struct tnode *pipe,
                         struct tv *out);
static int eval_arg(struct xstate *s, const struct tv *dot, enum tparam type, const struct tnode *n,
                    struct tv *out);
static int walk(struct xstate *s, const struct tv *dot, const struct tnode *n);

static const char *param_type_name(enum tparam t)
{
    switch (t) {
    case TP_STRING:
        return "string";
    case TP_SAMPLE:
        return "*template.sample";
    case TP_VECTOR:
        return "template.queryResult";
    case TP_VALUE:
        return "reflect.Value";
    case TP_NONE:
    case TP_ANY:
        break;
    }
    return "interface {}";
}

/* Go's validateType: may v be passed as a parameter of type t? */
static int validate_type(struct xstate *s, const struct tv *v, enum tparam t, struct tv *out)
{
    if (v->k == TV_NIL) {
        *out = *v;
        switch (t) {
        case TP_SAMPLE:
            *out = (struct tv){ .k = TV_SAMPLE };
            out->sample = NULL;
            return 0;
        case TP_VECTOR:
            *out = (struct tv){ .k = TV_VECTOR };
            out->vec = NULL;
            return 0;
        case TP_STRING:
            return xfail(s, KM_EINVAL, "invalid value; expected string");
        default:
            return 0;
        }
    }
    if ((t == TP_STRING && v->k != TV_STRING) || (t == TP_SAMPLE && v->k != TV_SAMPLE) ||
        (t == TP_VECTOR && v->k != TV_VECTOR))
        return xfail(s, KM_EINVAL, "wrong type for value; expected %s; got %s", param_type_name(t),
                     tmpl_type_name(v));
    *out = *v;
    return 0;
}

static bool is_hex_int(const char *s, size_t n)
{
    return n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && !memchr(s, 'p', n) &&
           !memchr(s, 'P', n);
}

/* A number constant where no type asks for one: Go's idealConstant. */
static int ideal_constant(struct xstate *s, const struct tnode *n, struct tv *out)
{
    const struct tnum *v = &n->num.v;
    const char *text = n->num.text;
    size_t len = n->num.len;
    bool floaty = false;

    s->node = n;
    for (size_t k = 0; k < len; k++)
        floaty |= strchr(".eEpP", text[k]) != NULL && text[k];
    if (v->is_complex) {
        *out = (struct tv){ .k = TV_COMPLEX };
        out->c.re = v->f;
        out->c.im = v->imag;
        return 0;
    }
    if (v->is_float && !is_hex_int(text, len) && !v->is_char && floaty) {
        *out = (struct tv){ .k = TV_FLOAT };
        out->f = v->f;
        return 0;
    }
    if (v->is_int) {
        *out = (struct tv){ .k = TV_INT };
        out->i = v->i;
        return 0;
    }
    if (v->is_uint)
        return xfail(s, KM_EINVAL, "%.*s overflows int", (int)len, text);
    *out = (struct tv){ .k = TV_NIL };
    return 0;
}

static int node_string_fail(struct xstate *s, const char *fmt, const struct tnode *n,
                            const char *extra)
{
    struct km_buf b;
    int rc;

    km_buf_init(&b, 0);
    tmpl_node_string(&b, n);
    rc = xfail(s, KM_EINVAL, fmt, km_buf_cstr(&b), extra);
    tmpl_buf_done(s->err, &b);
    return rc;
}

/* A command that is not a function must have no arguments. */
static int not_a_function(struct xstate *s, const struct tnode *cmd, const struct tv *final)
{
    if (cmd && (cmd->list.n > 1 || final))
        return node_string_fail(s, "can't give argument to non-function %s%s", cmd->list.first, "");
    return 0;
}

/* ---- Calls ---------------------------------------------------------------------------- */

static int call_failed(struct xstate *s, const struct tnode *at, const char *name, int rc)
{
    s->node = at;
    if (rc == KM_EINVAL)
        return xfail(s, rc, "error calling %s: %s", name, km_buf_cstr(&s->fnerr));
    return fn_failed(s, rc);
}

/* Call fn with the arguments after the command's first word (args: that word, or NULL for
 * none) and the pipeline's value `final` (NULL: none). `at` is where a failure of the
 * function itself is reported. */
static int eval_call(struct xstate *s, const struct tv *dot, const struct tfunc *fn,
                     const struct tnode *at, const struct tnode *args, const struct tv *final,
                     struct tv *out)
{
    const struct tnode *a = args ? args->next : NULL;
    size_t nargs = 0, num_in, num_fixed, i = 0;
    struct tv *argv;
    int rc = 0;

    for (const struct tnode *k = a; k; k = k->next)
        nargs++;
    num_in = nargs + (final ? 1 : 0);
    num_fixed = nargs;
    if (fn->variadic) {
        num_fixed = fn->nfixed;
        if (num_in < num_fixed)
            return xfail(s, KM_EINVAL, "wrong number of args for %s: want at least %u got %zu",
                         fn->name, fn->nfixed, nargs);
    } else if (num_in != fn->nfixed) {
        return xfail(s, KM_EINVAL, "wrong number of args for %s: want %u got %zu", fn->name,
                     fn->nfixed, num_in);
    }
    if (fn->short_circuit) {
        /* and, or: the first argument that decides, evaluated no further. */
        bool is_or = fn->name[0] == 'o';
        struct tv v = { .k = TV_NIL };

        for (; a; a = a->next) {
            rc = eval_arg(s, dot, TP_VALUE, a, &v);
            if (rc)
                return rc;
            if (tmpl_truth(&v) == is_or) {
                *out = v;
                return 0;
            }
        }
        if (final)
            v = *final;
        *out = v;
        return 0;
    }
    argv = tmpl_xalloc(s, (num_in ? num_in : 1) * sizeof(*argv), &rc);
    if (!argv)
        return fn_failed(s, rc);
    for (; i < num_fixed && a; i++, a = a->next) {
        rc = eval_arg(s, dot, fn->params[i], a, &argv[i]);
        if (rc)
            return rc;
    }
    for (; fn->variadic && a; i++, a = a->next) {
        rc = eval_arg(s, dot, fn->vtype, a, &argv[i]);
        if (rc)
            return rc;
    }
    if (final) {
        enum tparam t = fn->variadic ? (num_in - 1 < num_fixed ? fn->params[num_in - 1] : fn->vtype)
                                     : fn->params[fn->nfixed - 1];

        rc = validate_type(s, final, t, &argv[i]);
        if (rc)
            return rc;
    }
    km_buf_reset(&s->fnerr);
    rc = fn->call(s, argv, num_in, out);
    if (rc)
        return call_failed(s, at, fn->name, rc);
    return 0;
}

static int eval_function(struct xstate *s, const struct tv *dot, const struct tnode *ident,
                         const struct tnode *cmd, const struct tv *final, struct tv *out)
{
    s->node = ident;
    return eval_call(s, dot, ident->ident.fn, cmd ? cmd : ident, cmd ? cmd->list.first : NULL,
                     final, out);
}

/* ---- Fields --------------------------------------------------------------------------- */

/* A method of *time.Time: those without arguments. */
static int time_method(struct xstate *s, const struct tv *recv, const char *name,
                       const struct tnode *args, const struct tv *final, struct tv *out,
                       bool *found)
{
    enum m {
        UNIX,
        UNIX_MILLI,
        UNIX_MICRO,
        UNIX_NANO,
        IS_ZERO,
        STRING,
        UTC,
        LOCAL,
        YEAR,
        YEAR_DAY,
        MONTH,
        WEEKDAY,
        DAY,
        HOUR,
        MINUTE,
        SECOND,
        NANOSECOND,
        NMETHODS
    };
    static const char *const methods[NMETHODS] = {
        "Unix", "UnixMilli", "UnixMicro", "UnixNano", "IsZero",     "String",
        "UTC",  "Local",     "Year",      "YearDay",  "Month",      "Weekday",
        "Day",  "Hour",      "Minute",    "Second",   "Nanosecond",
    };
    int64_t ms = recv->ms;
    size_t nargs = (args ? args->list.n - 1 : 0) + (final ? 1 : 0);
    struct tmpl_civil c;
    unsigned m;

    *found = false;
    for (m = 0; m < NMETHODS && strcmp(methods[m], name) != 0; m++)
        ;
    if (m == NMETHODS)
        return 0;
    *found = true;
    if (nargs != 0)
        return xfail(s, KM_EINVAL, "wrong number of args for %s: want 0 got %zu", name, nargs);
    if (m == IS_ZERO) {
        *out = (struct tv){ .k = TV_BOOL, .b = false };
        return 0;
    }
    if (m == UTC || m == LOCAL) {
        *out = *recv; /* the same time: kmon keeps times in UTC */
        return 0;
    }
    if (m == STRING) {
        struct km_buf b;
        int rc;

        km_buf_init(&b, 0);
        tmpl_fmt_time(&b, ms);
        rc = km_buf_error(&b) ? KM_ENOMEM : tmpl_xstring(s, b.data ? b.data : "", b.len, out);
        km_buf_fini(&b);
        return rc ? fn_failed(s, rc) : 0;
    }
    tmpl_civil_time(ms, &c);
    {
        /* ms is a time Go can hold in nanoseconds: none of these overflows */
        const int64_t field[NMETHODS] = {
            [UNIX] = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000), /* floor, as Go's */
            [UNIX_MILLI] = ms,
            [UNIX_MICRO] = ms * 1000,
            [UNIX_NANO] = ms * 1000000,
            [YEAR] = c.year,
            [YEAR_DAY] = c.yday,
            [MONTH] = c.month,
            [WEEKDAY] = c.wday,
            [DAY] = c.day,
            [HOUR] = c.hour,
            [MINUTE] = c.min,
            [SECOND] = c.sec,
            [NANOSECOND] = (int64_t)c.msec * 1000000,
        };

        *out = (struct tv){ .k = TV_INT, .i = field[m] };
        out->it = m <= UNIX_NANO ? IT_INT64
                  : m == MONTH   ? IT_MONTH
                  : m == WEEKDAY ? IT_WEEKDAY
                                 : IT_INT;
    }
    return 0;
}

const char *tmpl_label_get(const struct km_labels *l, const char *name, size_t n)
{
    for (size_t k = 0; l && k < l->n; k++) {
        if (strlen(l->v[k].name) == n && memcmp(l->v[k].name, name, n) == 0)
            return l->v[k].value;
    }
    return NULL;
}

static int lookup_label(struct xstate *s, const struct km_labels *l, const char *name,
                        struct tv *out)
{
    const char *v = tmpl_label_get(l, name, strlen(name));

    (void)s;
    *out = (struct tv){ .k = TV_STRING };
    out->s.p = v ? v : "";
    out->s.n = v ? strlen(v) : 0;
    return 0;
}

/* Go's evalField: the field, map key or method `name` of recv. args: the command whose
 * first word this is (it may have arguments), or NULL. */
static int eval_field(struct xstate *s, const struct tv *dot, const char *name,
                      const struct tnode *args, const struct tv *final, const struct tv *recv,
                      struct tv *out)
{
    bool has_args = (args && args->list.n > 1) || final, found;
    struct tv r = *recv;
    int rc;

    (void)dot;
    switch (r.k) {
    case TV_NIL:
        if (r.iface) /* calling a method on a nil interface can't work */
            return xfail(s, KM_EINVAL, "nil pointer evaluating interface {}.%s", name);
        *out = (struct tv){ .k = TV_NIL };
        return 0;
    case TV_TIME:
        rc = time_method(s, &r, name, args, final, out, &found);
        if (rc || found)
            return rc;
        break;
    case TV_DATA:
        if (strcmp(name, "Labels") == 0 || strcmp(name, "ExternalLabels") == 0 ||
            strcmp(name, "ExternalURL") == 0 || strcmp(name, "Value") == 0) {
            if (has_args)
                return xfail(s, KM_EINVAL, "%s has arguments but cannot be invoked as function",
                             name);
            if (strcmp(name, "Labels") == 0 || strcmp(name, "ExternalLabels") == 0) {
                *out = (struct tv){ .k = TV_LABELS };
                out->labels = name[0] == 'L' ? r.data->labels : r.data->external;
            } else if (strcmp(name, "Value") == 0) {
                *out = (struct tv){ .k = TV_FLOAT };
                out->f = r.data->value;
            } else {
                const char *u = r.data->external_url ? r.data->external_url : "";

                *out = (struct tv){ .k = TV_STRING };
                out->s.p = u;
                out->s.n = strlen(u);
            }
            return 0;
        }
        break;
    case TV_SAMPLE:
        if (strcmp(name, "Labels") != 0 && strcmp(name, "Value") != 0)
            break;
        if (!r.sample)
            return xfail(s, KM_EINVAL, "nil pointer evaluating *template.sample.%s", name);
        if (has_args)
            return xfail(s, KM_EINVAL, "%s has arguments but cannot be invoked as function", name);
        if (name[0] == 'L') {
            *out = (struct tv){ .k = TV_LABELS };
            out->labels = r.sample->labels;
        } else {
            *out = (struct tv){ .k = TV_FLOAT };
            out->f = r.sample->value;
        }
        return 0;
    case TV_LABELS:
        if (has_args)
            return xfail(s, KM_EINVAL, "%s is not a method but has arguments", name);
        return lookup_label(s, r.labels, name, out);
    case TV_ARGS:
        if (has_args)
            return xfail(s, KM_EINVAL, "%s is not a method but has arguments", name);
        *out = (struct tv){ .k = TV_NIL, .iface = true }; /* a missing key: interface {}'s zero */
        if (strncmp(name, "arg", 3) == 0 && name[3] >= '0' && name[3] <= '9' &&
            (name[3] != '0' || name[4] == '\0')) {
            char *end;
            unsigned long long k = strtoull(name + 3, &end, 10);

            if (*end == '\0' && k < r.args->n)
                *out = r.args->v[k];
        }
        return 0;
    default:
        break;
    }
    return xfail(s, KM_EINVAL, "can't evaluate field %s in type %s", name, tmpl_type_name(&r));
}

static int eval_field_chain(struct xstate *s, const struct tv *dot, const struct tv *recv,
                            const char *const *idents, size_t n, const struct tnode *args,
                            const struct tv *final, struct tv *out)
{
    struct tv r = *recv;
    int rc;

    for (size_t k = 0; k + 1 < n; k++) {
        rc = eval_field(s, dot, idents[k], NULL, NULL, &r, &r);
        if (rc)
            return rc;
    }
    return eval_field(s, dot, idents[n - 1], args, final, &r, out);
}

static int eval_field_node(struct xstate *s, const struct tv *dot, const struct tnode *field,
                           const struct tnode *args, const struct tv *final, struct tv *out)
{
    s->node = field;
    return eval_field_chain(s, dot, dot, field->field.idents, field->field.n, args, final, out);
}

static int eval_chain_node(struct xstate *s, const struct tv *dot, const struct tnode *chain,
                           const struct tnode *args, const struct tv *final, struct tv *out)
{
    struct tv recv;
    int rc;

    s->node = chain;
    if (chain->field.node->kind == TN_NIL)
        return node_string_fail(s, "indirection through explicit nil in %s%s", chain, "");
    rc = eval_arg(s, dot, TP_NONE, chain->field.node, &recv);
    if (rc)
        return rc;
    return eval_field_chain(s, dot, &recv, chain->field.idents, chain->field.n, args, final, out);
}

static int eval_variable_node(struct xstate *s, const struct tv *dot, const struct tnode *var,
                              const struct tnode *args, const struct tv *final, struct tv *out)
{
    const struct tvar *v;
    int rc;

    s->node = var;
    v = find_var(s, var->field.idents[0]);
    if (!v)
        return xfail(s, KM_EINVAL, "undefined variable: %s", var->field.idents[0]);
    if (var->field.n == 1) {
        rc = not_a_function(s, args, final);
        if (rc)
            return rc;
        *out = v->v;
        return 0;
    }
    return eval_field_chain(s, dot, &v->v, var->field.idents + 1, var->field.n - 1, args, final,
                            out);
}

/* ---- Arguments ------------------------------------------------------------------------ */

/* An argument of the parameter type `type`: Go's evalArg. */
static int eval_arg(struct xstate *s, const struct tv *dot, enum tparam type, const struct tnode *n,
                    struct tv *out)
{
    struct tv v;
    int rc;

    s->node = n;
    switch (n->kind) {
    case TN_DOT:
        return validate_type(s, dot, type, out);
    case TN_NIL:
        if (type == TP_STRING)
            return xfail(s, KM_EINVAL, "cannot assign nil to string");
        v = (struct tv){ .k = TV_NIL };
        return validate_type(s, &v, type, out);
    case TN_FIELD:
        rc = eval_field_node(s, dot, n, NULL, NULL, &v);
        break;
    case TN_VARIABLE:
        rc = eval_variable_node(s, dot, n, NULL, NULL, &v);
        break;
    case TN_PIPE:
        rc = eval_pipeline(s, dot, n, &v);
        break;
    case TN_IDENT:
        rc = eval_function(s, dot, n, NULL, NULL, &v);
        break;
    case TN_CHAIN:
        rc = eval_chain_node(s, dot, n, NULL, NULL, &v);
        break;
    default:
        switch (type) {
        case TP_STRING:
            if (n->kind != TN_STRING)
                return node_string_fail(s, "expected string; found %s%s", n, "");
            *out = (struct tv){ .k = TV_STRING };
            out->s.p = n->str.p;
            out->s.n = n->str.n;
            return 0;
        case TP_SAMPLE:
        case TP_VECTOR:
            return node_string_fail(s, "can't handle %s for arg of type %s", n,
                                    param_type_name(type));
        default:
            break;
        }
        if (n->kind == TN_BOOL) {
            *out = (struct tv){ .k = TV_BOOL };
            out->b = n->b;
            return 0;
        }
        if (n->kind == TN_NUMBER)
            return ideal_constant(s, n, out);
        if (n->kind == TN_STRING) {
            *out = (struct tv){ .k = TV_STRING };
            out->s.p = n->str.p;
            out->s.n = n->str.n;
            return 0;
        }
        return node_string_fail(s, "can't handle assignment of %s to empty interface argument%s", n,
                                "");
    }
    if (rc)
        return rc;
    return validate_type(s, &v, type, out);
}

/* ---- Commands and pipelines ----------------------------------------------------------- */

static int eval_command(struct xstate *s, const struct tv *dot, const struct tnode *cmd,
                        const struct tv *final, struct tv *out)
{
    const struct tnode *first = cmd->list.first;
    int rc;

    rc = step(s);
    if (rc)
        return rc;
    switch (first->kind) {
    case TN_FIELD:
        return eval_field_node(s, dot, first, cmd, final, out);
    case TN_CHAIN:
        return eval_chain_node(s, dot, first, cmd, final, out);
    case TN_IDENT:
        return eval_function(s, dot, first, cmd, final, out);
    case TN_PIPE:
        rc = not_a_function(s, cmd, final);
        return rc ? rc : eval_pipeline(s, dot, first, out);
    case TN_VARIABLE:
        return eval_variable_node(s, dot, first, cmd, final, out);
    default:
        break;
    }
    s->node = first;
    rc = not_a_function(s, cmd, final);
    if (rc)
        return rc;
    switch (first->kind) {
    case TN_BOOL:
        *out = (struct tv){ .k = TV_BOOL };
        out->b = first->b;
        return 0;
    case TN_DOT:
        *out = *dot;
        return 0;
    case TN_NIL:
        return xfail(s, KM_EINVAL, "nil is not a command");
    case TN_NUMBER:
        return ideal_constant(s, first, out);
    case TN_STRING:
        *out = (struct tv){ .k = TV_STRING };
        out->s.p = first->str.p;
        out->s.n = first->str.n;
        return 0;
    default:
        return node_string_fail(s, "can't evaluate command %s%s", first, "");
    }
}

static int eval_pipeline(struct xstate *s, const struct tv *dot, const struct tnode *pipe,
                         struct tv *out)
{
    struct tv value = { .k = TV_NIL };
    bool have = false;
    int rc;

    if (!pipe) {
        *out = value;
        return 0;
    }
    s->node = pipe;
    rc = enter(s);
    if (rc)
        return rc;
    for (const struct tnode *cmd = pipe->pipe.cmds; cmd; cmd = cmd->next) {
        struct tv prev = value;

        rc = eval_command(s, dot, cmd, have ? &prev : NULL, &value);
        if (rc)
            goto out_leave;
        have = true;
        value.iface = false; /* Go digs into an interface {} after each command */
    }
    for (size_t k = 0; k < pipe->pipe.ndecl; k++) {
        const char *name = pipe->pipe.decl[k]->field.idents[0];

        rc = pipe->pipe.assign ? set_var(s, name, &value) : push_var(s, name, &value);
        if (rc)
            goto out_leave;
    }
    *out = value;
out_leave:
    s->depth--;
    return rc;
}

/* ---- Walking -------------------------------------------------------------------------- */

static int walk_if_with(struct xstate *s, const struct tv *dot, const struct tnode *n)
{
    size_t mark = s->nvars;
    struct tv v;
    int rc;

    rc = eval_pipeline(s, dot, n->ctl.pipe, &v);
    if (rc == 0) {
        if (tmpl_truth(&v))
            rc = walk(s, n->kind == TN_WITH ? &v : dot, n->ctl.list);
        else if (n->ctl.else_list)
            rc = walk(s, dot, n->ctl.else_list);
    }
    s->nvars = mark;
    return rc;
}

/* One turn of a range: the variables set, the body walked. 0, WALK_BREAK or an error. */
static int range_turn(struct xstate *s, const struct tnode *r, const struct tv *index,
                      const struct tv *elem, size_t mark)
{
    const struct tnode *pipe = r->ctl.pipe;
    int rc = 0;

    if (pipe->pipe.ndecl > 0) {
        if (pipe->pipe.assign)
            rc = set_var(s, pipe->pipe.decl[pipe->pipe.ndecl - 1]->field.idents[0], elem);
        else
            s->vars[s->nvars - 1].v = *elem;
    }
    if (rc == 0 && pipe->pipe.ndecl > 1) {
        if (pipe->pipe.assign)
            rc = set_var(s, pipe->pipe.decl[0]->field.idents[0], index);
        else
            s->vars[s->nvars - 2].v = *index;
    }
    if (rc == 0)
        rc = step(s);
    if (rc == 0)
        rc = walk(s, elem, r->ctl.list);
    s->nvars = mark;
    return rc == WALK_CONTINUE ? 0 : rc;
}

static int walk_range(struct xstate *s, const struct tv *dot, const struct tnode *r)
{
    size_t outer = s->nvars, mark;
    struct tv val, index, elem;
    bool done = false;
    int rc;

    s->node = r;
    rc = eval_pipeline(s, dot, r->ctl.pipe, &val);
    if (rc)
        goto out_pop;
    mark = s->nvars;
    switch (val.k) {
    case TV_VECTOR:
        for (size_t k = 0; val.vec && k < val.vec->n && rc == 0; k++) {
            index = (struct tv){ .k = TV_INT, .i = (int64_t)k };
            elem = (struct tv){ .k = TV_SAMPLE, .sample = val.vec->v[k] };
            rc = range_turn(s, r, &index, &elem, mark);
            done = true;
        }
        break;
    case TV_LABELS:
        for (size_t k = 0; val.labels && k < val.labels->n && rc == 0; k++) {
            const struct km_label *l = &val.labels->v[k];

            index = (struct tv){ .k = TV_STRING, .s = { l->name, strlen(l->name) } };
            elem = (struct tv){ .k = TV_STRING, .s = { l->value, strlen(l->value) } };
            rc = range_turn(s, r, &index, &elem, mark);
            done = true;
        }
        break;
    case TV_ARGS:
        for (size_t k = 0; k < val.args->n && rc == 0; k++) {
            size_t i = val.args->order[k];
            char key[32];
            int n = snprintf(key, sizeof(key), "arg%zu", i);

            rc = tmpl_xstring(s, key, (size_t)n, &index);
            if (rc) {
                rc = fn_failed(s, rc);
                break;
            }
            rc = range_turn(s, r, &index, &val.args->v[i], mark);
            done = true;
        }
        break;
    case TV_NIL:
        break;
    default: {
        struct km_buf b;

        rc = xfail(s, KM_EINVAL, "range can't iterate over %s", sprint1(s, &b, &val));
        tmpl_buf_done(s->err, &b);
        goto out_pop;
    }
    }
    if (rc == WALK_BREAK)
        rc = 0;
    if (rc == 0 && !done && r->ctl.else_list)
        rc = walk(s, dot, r->ctl.else_list);
out_pop:
    s->nvars = outer;
    return rc;
}

static int walk_template(struct xstate *s, const struct tv *dot, const struct tnode *n)
{
    const struct tdef *def, *cur = s->cur;
    size_t base = s->var_base, mark;
    struct tv newdot;
    int rc;

    s->node = n;
    def = tmpl_lookup(s->t, n->call.name, n->call.name_len);
    if (!def) {
        struct km_buf q;

        km_buf_init(&q, 0);
        tmpl_quote(&q, n->call.name, n->call.name_len);
        rc = xfail(s, KM_EINVAL, "template %s not defined", km_buf_cstr(&q));
        tmpl_buf_done(s->err, &q);
        return rc;
    }
    rc = eval_pipeline(s, dot, n->call.pipe, &newdot);
    if (rc)
        return rc;
    /* The pipeline's variables persist; the template sees only "$". */
    mark = s->nvars;
    s->var_base = s->nvars;
    s->cur = def;
    rc = push_var(s, "$", &newdot);
    if (rc == 0)
        rc = walk(s, &newdot, def->root);
    s->cur = cur;
    s->var_base = base;
    s->nvars = mark;
    return rc;
}

static int walk(struct xstate *s, const struct tv *dot, const struct tnode *n)
{
    struct tv v;
    int rc;

    s->node = n;
    rc = step(s);
    if (rc)
        return rc;
    switch (n->kind) {
    case TN_ACTION:
        rc = eval_pipeline(s, dot, n->action, &v);
        if (rc || n->action->pipe.ndecl > 0)
            return rc;
        s->node = n;
        tmpl_print_action(&s->out, &v);
        return check_output(s);
    case TN_BREAK:
        return WALK_BREAK;
    case TN_CONTINUE:
        return WALK_CONTINUE;
    case TN_LIST:
        for (const struct tnode *c = n->list.first; c; c = c->next) {
            rc = walk(s, dot, c);
            if (rc)
                return rc;
        }
        return 0;
    case TN_TEXT:
        km_buf_append(&s->out, n->text.p, n->text.n);
        return check_output(s);
    case TN_IF:
    case TN_WITH:
    case TN_RANGE:
    case TN_TEMPLATE:
        rc = enter(s);
        if (rc)
            return rc;
        rc = n->kind == TN_RANGE      ? walk_range(s, dot, n)
             : n->kind == TN_TEMPLATE ? walk_template(s, dot, n)
                                      : walk_if_with(s, dot, n);
        s->depth--;
        return rc;
    default:
        return node_string_fail(s, "unknown node: %s%s", n, "");
    }
}

/* ---- The public entry ----------------------------------------------------------------- */

int km_tmpl_query_result_add(struct km_tmpl_query_result *r, const struct km_labels *labels,
                             double value)
{
    struct km_labels *copy = NULL;
    int rc;

    rc = km_array_grow((void **)&r->v, &r->cap, r->n + 1, sizeof(*r->v), 8, "query samples");
    if (rc)
        return rc;
    rc = labels ? km_labels_dup(&copy, labels) : km_labels_create(&copy, NULL, 0);
    if (rc)
        return rc;
    r->v[r->n].labels = copy;
    r->v[r->n].value = value;
    r->n++;
    return 0;
}

void km_tmpl_query_result_fini(struct km_tmpl_query_result *r)
{
    for (size_t k = 0; k < r->n; k++)
        km_labels_destroy(r->v[k].labels);
    free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
}

int km_tmpl_expand(const struct km_tmpl *t, const struct km_tmpl_data *d, struct km_buf *out,
                   struct km_buf *err)
{
    struct xstate s = { .t = t, .d = d };
    struct km_buf msg;
    struct tv dot = { .k = TV_DATA, .data = d };
    int err_before = km_buf_error(err), rc;

    km_buf_init(&msg, 64 * 1024);
    km_buf_init(&s.out, KM_LIMIT_TMPL_OUTPUT);
    km_buf_init(&s.fnerr, 64 * 1024);
    km_arena_init(&s.arena, 4096, (size_t)KM_LIMIT_TMPL_MEMORY * 2);
    s.err = &msg;
    s.cur = tmpl_lookup(t, t->name, strlen(t->name));
    rc = push_var(&s, "$", &dot);
    if (rc == 0)
        rc = walk(&s, &dot, s.cur->root);
    if (rc == 0) {
        size_t len = out->len;

        km_buf_append(out, s.out.data ? s.out.data : "", s.out.len);
        rc = km_buf_error(out);
        if (rc) {
            /* out keeps its sticky error, so its owner sees it too */
            out->len = len;
            if (out->data)
                out->data[len] = '\0';
            km_buf_printf(err, "error executing template %s: the output does not fit", t->name);
        }
    } else {
        if (km_buf_error(&msg) == KM_ENOMEM) {
            /* the message is not whole: running out of memory is what went wrong */
            rc = KM_ENOMEM;
            km_buf_reset(&msg);
            km_buf_puts(&msg, "out of memory");
        }
        km_buf_printf(err, "error executing template %s: %s", t->name, km_buf_cstr(&msg));
        if (km_buf_error(err) == KM_ENOMEM && err_before != KM_ENOMEM)
            rc = KM_ENOMEM; /* the message could not be given */
    }
    for (size_t k = 0; k < s.nresults; k++)
        km_tmpl_query_result_fini(&s.results[k]);
    free(s.results);
    if (s.ctype)
        freelocale((locale_t)s.ctype);
    free(s.vars);
    km_arena_fini(&s.arena);
    km_buf_fini(&s.fnerr);
    km_buf_fini(&s.out);
    km_buf_fini(&msg);
    return rc;
}
