/*
 * kma_select — Kubernetes label selectors (`app=web,tier!=db,env in (a,b),!canary`) as
 * PromQL matchers on kube-state-metrics' kube_<kind>_labels series, whose label names
 * are the keys sanitised with a label_ prefix (or, for the external metrics API, on any
 * series' own labels, keys sanitised). Kubernetes' grammar and rules for keys
 * and values (apimachinery's labels.Parse); `>`/`<` (only used by node affinity) are
 * refused. Known approximation: PromQL cannot tell a label with an empty value from a
 * missing one, so `key` (exists) selects objects whose value is not empty.
 */
#include "kma.h"

#include "common/err.h"
#include "kstate/allowlist.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#define KMA_NAME_MAX   63
#define KMA_PREFIX_MAX 253
#define KMA_KEY_MAX    (KMA_PREFIX_MAX + 1 + KMA_NAME_MAX)

struct kma_lex {
    const char *p;
};

static void skip_space(struct kma_lex *l)
{
    while (*l->p == ' ' || *l->p == '\t')
        l->p++;
}

static bool is_word(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '/';
}

/* A word (key or value) into out; its length (0: none there). */
static size_t take_word(struct kma_lex *l, char *out, size_t size)
{
    size_t n = 0;

    skip_space(l);
    while (is_word(l->p[n]))
        n++;
    if (n >= size)
        n = size - 1;
    memcpy(out, l->p, n);
    out[n] = '\0';
    l->p += n;
    return n;
}

/* A name segment: at most 63 of [-A-Za-z0-9_.], beginning and ending alphanumeric. */
static bool valid_name(const char *s, size_t n, bool allow_empty)
{
    if (n == 0)
        return allow_empty;
    if (n > KMA_NAME_MAX || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    }
    return true;
}

/* A key: [prefix/]name, the prefix a DNS subdomain. */
static int check_key(const char *k)
{
    const char *slash = strchr(k, '/');
    const char *name = slash ? slash + 1 : k;

    if (slash) {
        size_t pn = (size_t)(slash - k);

        if (pn == 0 || pn > KMA_PREFIX_MAX || strchr(name, '/'))
            return km_err_set(KM_EINVAL, "unable to parse requirement: invalid label key \"%s\"",
                              k);
        for (size_t i = 0; i < pn; i++) {
            char c = k[i];

            if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' || c == '.'))
                return km_err_set(KM_EINVAL,
                                  "unable to parse requirement: invalid label key \"%s\": a "
                                  "prefix must be a lowercase DNS subdomain",
                                  k);
        }
    }
    if (!valid_name(name, strlen(name), false))
        return km_err_set(KM_EINVAL,
                          "unable to parse requirement: invalid label key \"%s\": name part must "
                          "consist of alphanumeric characters, '-', '_' or '.', and must start and "
                          "end with an alphanumeric character (at most 63)",
                          k);
    return 0;
}

static int check_value(const char *v)
{
    if (strchr(v, '/') || !valid_name(v, strlen(v), true))
        return km_err_set(KM_EINVAL,
                          "unable to parse requirement: invalid label value \"%s\": must be 63 "
                          "characters or less and consist of alphanumeric characters, '-', '_' "
                          "or '.', starting and ending with an alphanumeric character",
                          v);
    return 0;
}

/* value with '.' escaped for a regex inside a PromQL string ("\\."). */
static int put_regex_value(struct km_buf *out, const char *v)
{
    int rc = 0;

    for (; *v && rc == 0; v++)
        rc = *v == '.' ? km_buf_puts(out, "\\\\.") : km_buf_putc(out, *v);
    return rc;
}

/* key in (v, …) / notin: the values as one alternation. */
static int parse_set(struct kma_lex *l, struct km_buf *out, const char *label, bool in)
{
    char v[KMA_NAME_MAX + 2];
    int rc, nvals = 0;

    skip_space(l);
    if (*l->p != '(')
        return km_err_set(KM_EINVAL, "unable to parse requirement: expected '(' after %s",
                          in ? "in" : "notin");
    l->p++;
    rc = km_buf_printf(out, ",%s%s\"", label, in ? "=~" : "!~");
    for (;;) {
        if (rc)
            return rc;
        take_word(l, v, sizeof(v));
        if ((rc = check_value(v)) != 0)
            return rc;
        if (nvals++ > 0)
            rc = km_buf_putc(out, '|');
        if (rc == 0)
            rc = put_regex_value(out, v);
        skip_space(l);
        if (*l->p == ',') {
            l->p++;
            continue;
        }
        if (*l->p == ')') {
            l->p++;
            break;
        }
        return km_err_set(KM_EINVAL, "unable to parse requirement: expected ',' or ')' in a set");
    }
    return rc ? rc : km_buf_putc(out, '"');
}

/* One requirement. */
static int parse_req(struct kma_lex *l, struct km_buf *out, const char *prefix)
{
    char key[KMA_KEY_MAX + 2], v[KMA_NAME_MAX + 2], label[KMA_KEY_MAX + 16], op[8];
    bool negated = false;
    size_t n;
    int rc;

    skip_space(l);
    if (*l->p == '!') {
        negated = true;
        l->p++;
    }
    if (take_word(l, key, sizeof(key)) == 0)
        return km_err_set(KM_EINVAL,
                          "unable to parse requirement: found '%.1s', expected: "
                          "identifier",
                          *l->p ? l->p : "end of string");
    if ((rc = check_key(key)) != 0)
        return rc;
    km_allow_label_name(label, sizeof(label), prefix, key);
    skip_space(l);
    if (negated || *l->p == ',' || *l->p == '\0')
        return km_buf_printf(out, ",%s%s\"\"", label, negated ? "=" : "!=");
    if (strncmp(l->p, "==", 2) == 0 || strncmp(l->p, "!=", 2) == 0) {
        memcpy(op, l->p, 2);
        op[2] = '\0';
        l->p += 2;
    } else if (*l->p == '=') {
        strcpy(op, "=");
        l->p++;
    } else if (*l->p == '>' || *l->p == '<') {
        return km_err_set(KM_EINVAL,
                          "unable to parse requirement: operator %c is not supported "
                          "in a metrics label selector",
                          *l->p);
    } else {
        n = take_word(l, op, sizeof(op));
        if (n == 2 && strcmp(op, "in") == 0)
            return parse_set(l, out, label, true);
        if (n == 5 && strcmp(op, "notin") == 0)
            return parse_set(l, out, label, false);
        return km_err_set(KM_EINVAL,
                          "unable to parse requirement: found '%s', expected: in, "
                          "notin, =, ==, !=, gt, lt",
                          n ? op : l->p);
    }
    take_word(l, v, sizeof(v));
    if ((rc = check_value(v)) != 0)
        return rc;
    return km_buf_printf(out, ",%s%s\"%s\"", label, op[0] == '!' ? "!=" : "=", v);
}

int km_kma_selector_matchers(struct km_buf *out, const char *sel, const char *prefix)
{
    struct kma_lex l = { sel ? sel : "" };
    int rc;

    skip_space(&l);
    if (*l.p == '\0')
        return 0;
    for (;;) {
        if ((rc = parse_req(&l, out, prefix)) != 0)
            return rc;
        skip_space(&l);
        if (*l.p == '\0')
            return 0;
        if (*l.p != ',')
            return km_err_set(KM_EINVAL,
                              "unable to parse requirement: found '%.20s', expected: "
                              "',' or 'end of string'",
                              l.p);
        l.p++;
    }
}
