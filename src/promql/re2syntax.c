/*
 * re2syntax — Go 1.19's regexp/syntax parser (Perl flags), reduced to its verdict (see
 * re2syntax.h).
 *
 * The pattern is read left to right as Go reads it: literals (runes; an invalid UTF-8
 * byte is an error where it is met), groups "(…)", "(?flags:…)", "(?flags)" and
 * "(?P<name>…)", alternation, "^ $ .", classes "[…]" (ranges, [:posix:], \p{…}, \d…),
 * escapes, and the repetitions "* + ?" (each with an optional lazy '?') and "{n}",
 * "{n,}", "{n,m}" (anything else after '{' is a literal '{'). What Go checks:
 *
 * - a repetition needs something repeatable just before it (not a group's start or a
 *   '|'), and may not follow another repetition ("a**", "a{2}{3}");
 * - counts are at most 1000, and nested counted repetitions may not multiply past 1000:
 *   each group and item carries `need`, the bound its counts require, so that
 *   (a{10}){100} passes and (a{100}){100} does not;
 * - groups balance; escapes are the known ones; class ranges go up; Unicode classes
 *   name a category, a script (Unicode 13) or Any; POSIX classes are the known ones.
 *
 * The expression an error quotes is the piece Go quotes: the whole pattern for
 * parentheses, the rest of the pattern from a bad byte or an unclosed class, or the
 * offending piece ("\q", "z-a", "{2}{3}").
 */
#include "promql/re2syntax.h"

#include "common/array.h"
#include "common/err.h"
#include "promql/quote.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NONE       ((size_t)-1)
#define MAX_REPEAT 1000

/* One group being read: whether its last item can be repeated, that item's need, and
 * the largest need of its items before it. */
struct frame {
    bool top_real;
    int top_need, max_need;
};

struct re2 {
    const char *s;
    size_t n;
    struct km_buf *msg;
    struct frame *frames;
    size_t nframes, cap;
};

/* Unicode categories and scripts Go 1.19 knows (Unicode 13), and "Any". */
static const char *const unicode_names[] = {
    "Any",
    "C",
    "Cc",
    "Cf",
    "Co",
    "Cs",
    "L",
    "Ll",
    "Lm",
    "Lo",
    "Lt",
    "Lu",
    "M",
    "Mc",
    "Me",
    "Mn",
    "N",
    "Nd",
    "Nl",
    "No",
    "P",
    "Pc",
    "Pd",
    "Pe",
    "Pf",
    "Pi",
    "Po",
    "Ps",
    "S",
    "Sc",
    "Sk",
    "Sm",
    "So",
    "Z",
    "Zl",
    "Zp",
    "Zs",
    "Adlam",
    "Ahom",
    "Anatolian_Hieroglyphs",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Bassa_Vah",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Canadian_Aboriginal",
    "Carian",
    "Caucasian_Albanian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dives_Akuru",
    "Dogra",
    "Duployan",
    "Egyptian_Hieroglyphs",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gunjala_Gondi",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanifi_Rohingya",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Imperial_Aramaic",
    "Inherited",
    "Inscriptional_Pahlavi",
    "Inscriptional_Parthian",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kayah_Li",
    "Kharoshthi",
    "Khitan_Small_Script",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Linear_A",
    "Linear_B",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Masaram_Gondi",
    "Medefaidrin",
    "Meetei_Mayek",
    "Mende_Kikakui",
    "Meroitic_Cursive",
    "Meroitic_Hieroglyphs",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nandinagari",
    "New_Tai_Lue",
    "Newa",
    "Nko",
    "Nushu",
    "Nyiakeng_Puachue_Hmong",
    "Ogham",
    "Ol_Chiki",
    "Old_Hungarian",
    "Old_Italic",
    "Old_North_Arabian",
    "Old_Permic",
    "Old_Persian",
    "Old_Sogdian",
    "Old_South_Arabian",
    "Old_Turkic",
    "Oriya",
    "Osage",
    "Osmanya",
    "Pahawh_Hmong",
    "Palmyrene",
    "Pau_Cin_Hau",
    "Phags_Pa",
    "Phoenician",
    "Psalter_Pahlavi",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "SignWriting",
    "Sinhala",
    "Sogdian",
    "Sora_Sompeng",
    "Soyombo",
    "Sundanese",
    "Syloti_Nagri",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Tai_Le",
    "Tai_Tham",
    "Tai_Viet",
    "Takri",
    "Tamil",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Ugaritic",
    "Vai",
    "Wancho",
    "Warang_Citi",
    "Yezidi",
    "Yi",
    "Zanabazar_Square",
};

static const char *const posix_names[] = {
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph",
    "lower", "print", "punct", "space", "upper", "word",  "xdigit",
};

static int fail(struct re2 *r, const char *code, size_t start, size_t end)
{
    km_buf_printf(r->msg, "error parsing regexp: %s: `", code);
    km_buf_append(r->msg, r->s + start, end - start);
    km_buf_putc(r->msg, '`');
    return KM_EINVAL;
}

/* The rune at i into *c, its width into *w; an invalid byte fails quoting the rest from
 * it, and past the end *c is U+FFFD of width 0 (as Go reads an empty string). */
static int next_rune(struct re2 *r, size_t i, int32_t *c, size_t *w)
{
    if (i >= r->n) {
        *c = KM_PROMQL_RUNE_ERROR;
        *w = 0;
        return 0;
    }
    *w = km_promql_utf8_decode(r->s + i, r->n - i, c);
    if (*c == KM_PROMQL_RUNE_ERROR && *w == 1)
        return fail(r, "invalid UTF-8", i, r->n);
    return 0;
}

/* Every byte of [start, end) valid UTF-8, else fail quoting from the bad one to end. */
static int check_utf8(struct re2 *r, size_t start, size_t end)
{
    for (size_t i = start; i < end;) {
        int32_t c;
        size_t w = km_promql_utf8_decode(r->s + i, end - i, &c);

        if (c == KM_PROMQL_RUNE_ERROR && w == 1)
            return fail(r, "invalid UTF-8", i, end);
        i += w;
    }
    return 0;
}

static struct frame *top(struct re2 *r)
{
    return &r->frames[r->nframes - 1];
}

static int push_frame(struct re2 *r)
{
    if (km_array_grow((void **)&r->frames, &r->cap, r->nframes + 1, sizeof(*r->frames), 16,
                      "for a regular expression"))
        return KM_ENOMEM;
    r->frames[r->nframes++] = (struct frame){ 0 };
    return 0;
}

/* A new item (literal, class, anchor, group) at the end of the current group. */
static void item(struct re2 *r, int need)
{
    struct frame *f = top(r);

    if (f->top_real && f->top_need > f->max_need)
        f->max_need = f->top_need;
    f->top_real = true;
    f->top_need = need;
}

static bool is_alnum(int32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The escape at *i (a backslash) into *out; *i moves past it. */
static int parse_escape(struct re2 *r, size_t *i, int32_t *out)
{
    size_t t = *i + 1, w;
    int32_t c;
    int rc;

    if (t >= r->n)
        return fail(r, "trailing backslash at end of expression", t, t);
    if ((rc = next_rune(r, t, &c, &w)))
        return rc;
    t += w;
    switch (c) {
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
        if (t >= r->n || r->s[t] < '0' || r->s[t] > '7')
            break; /* a backreference */
        /* fall through */
    case '0':
        *out = c - '0';
        for (int k = 1; k < 3 && t < r->n && r->s[t] >= '0' && r->s[t] <= '7'; k++)
            *out = *out * 8 + (r->s[t++] - '0');
        *i = t;
        return 0;
    case 'x': {
        int x, y;

        if (t >= r->n)
            break;
        if ((rc = next_rune(r, t, &c, &w)))
            return rc;
        t += w;
        if (c == '{') {
            int nhex = 0;
            int32_t v = 0;

            for (;;) {
                if (t >= r->n)
                    goto out_invalid;
                if ((rc = next_rune(r, t, &c, &w)))
                    return rc;
                t += w;
                if (c == '}')
                    break;
                if (km_promql_hexval(c) < 0)
                    goto out_invalid;
                v = v * 16 + km_promql_hexval(c);
                if (v > 0x10ffff)
                    goto out_invalid;
                nhex++;
            }
            if (nhex == 0)
                break;
            *out = v;
            *i = t;
            return 0;
        }
        x = km_promql_hexval(c);
        if ((rc = next_rune(r, t, &c, &w)))
            return rc;
        t += w;
        y = km_promql_hexval(c);
        if (x < 0 || y < 0)
            break;
        *out = x * 16 + y;
        *i = t;
        return 0;
    }
    case 'a':
    case 'f':
    case 'n':
    case 'r':
    case 't':
    case 'v':
        *out = c;
        *i = t;
        return 0;
    default:
        if (c < 0x80 && !is_alnum(c)) {
            *out = c; /* punctuation stands for itself */
            *i = t;
            return 0;
        }
        break;
    }
out_invalid:
    return fail(r, "invalid escape sequence", *i, t);
}

static bool unicode_name_known(const char *name, size_t len)
{
    for (size_t k = 0; k < sizeof(unicode_names) / sizeof(unicode_names[0]); k++) {
        if (strlen(unicode_names[k]) == len && memcmp(unicode_names[k], name, len) == 0)
            return true;
    }
    return false;
}

/* \pX, \p{Name}, \PX, \P{^Name} at *i. */
static int parse_unicode_class(struct re2 *r, size_t *i)
{
    size_t t = *i + 2, w, name, name_end, seq_end;
    int32_t c;
    int rc;

    if ((rc = next_rune(r, t, &c, &w)))
        return rc;
    t += w;
    if (c != '{') {
        name = *i + 2;
        name_end = seq_end = t;
    } else {
        const char *close = memchr(r->s + *i, '}', r->n - *i);

        if (!close) {
            if ((rc = check_utf8(r, *i, r->n)))
                return rc;
            return fail(r, "invalid character class range", *i, r->n);
        }
        name = *i + 3;
        name_end = (size_t)(close - r->s);
        seq_end = name_end + 1;
        if ((rc = check_utf8(r, name, name_end)))
            return rc;
    }
    if (name < name_end && r->s[name] == '^')
        name++;
    if (!unicode_name_known(r->s + name, name_end - name))
        return fail(r, "invalid character class range", *i, seq_end);
    *i = seq_end;
    return 0;
}

static bool perl_class_at(const struct re2 *r, size_t t)
{
    return t + 1 < r->n && r->s[t] == '\\' && strchr("dDsSwW", r->s[t + 1]) && r->s[t + 1];
}

static bool unicode_class_at(const struct re2 *r, size_t t)
{
    return t + 1 < r->n && r->s[t] == '\\' && (r->s[t + 1] == 'p' || r->s[t + 1] == 'P');
}

/* One character of a class at *t (the class began at `start`). */
static int class_char(struct re2 *r, size_t *t, size_t start, int32_t *c)
{
    size_t w;
    int rc;

    if (*t >= r->n)
        return fail(r, "missing closing ]", start, r->n);
    if (r->s[*t] == '\\')
        return parse_escape(r, t, c);
    if ((rc = next_rune(r, *t, c, &w)))
        return rc;
    *t += w;
    return 0;
}

/* "[…]" at *i. */
static int parse_class(struct re2 *r, size_t *i)
{
    size_t start = *i, t = *i + 1;
    bool first = true;
    int rc;

    if (t < r->n && r->s[t] == '^')
        t++;
    while (t >= r->n || r->s[t] != ']' || first) {
        size_t range;
        int32_t lo, hi;

        first = false;
        if (r->n - t > 2 && r->s[t] == '[' && r->s[t + 1] == ':') {
            const char *end = memmem(r->s + t + 2, r->n - t - 2, ":]", 2);

            if (end) {
                size_t name = t + 2, name_end = (size_t)(end - r->s);
                bool known = false;

                if (name < name_end && r->s[name] == '^')
                    name++;
                for (size_t k = 0; k < sizeof(posix_names) / sizeof(posix_names[0]); k++)
                    known |= strlen(posix_names[k]) == name_end - name &&
                             memcmp(posix_names[k], r->s + name, name_end - name) == 0;
                if (!known)
                    return fail(r, "invalid character class range", t, name_end + 2);
                t = name_end + 2;
                continue;
            }
        }
        if (unicode_class_at(r, t)) {
            if ((rc = parse_unicode_class(r, &t)))
                return rc;
            continue;
        }
        if (perl_class_at(r, t)) {
            t += 2;
            continue;
        }
        range = t;
        if ((rc = class_char(r, &t, start, &lo)))
            return rc;
        hi = lo;
        if (r->n - t >= 2 && r->s[t] == '-' && r->s[t + 1] != ']') {
            t++;
            if ((rc = class_char(r, &t, start, &hi)))
                return rc;
            if (hi < lo)
                return fail(r, "invalid character class range", range, t);
        }
    }
    *i = t + 1;
    return 0;
}

/* "(?P<name>", "(?flags:" or "(?flags)" at *i. */
static int parse_perl_flags(struct re2 *r, size_t *i)
{
    size_t t = *i + 2, w;
    bool negative = false, saw_flag = false;
    int32_t c;
    int rc;

    if (r->n - *i > 4 && r->s[*i + 2] == 'P' && r->s[*i + 3] == '<') {
        const char *end = memchr(r->s + *i, '>', r->n - *i);
        size_t name = *i + 4, name_end;

        if (!end) {
            if ((rc = check_utf8(r, *i, r->n)))
                return rc;
            return fail(r, "invalid named capture", *i, r->n);
        }
        name_end = (size_t)(end - r->s);
        if ((rc = check_utf8(r, name, name_end)))
            return rc;
        for (size_t k = name; k < name_end; k++) {
            if (r->s[k] != '_' && !is_alnum((unsigned char)r->s[k]))
                return fail(r, "invalid named capture", *i, name_end + 1);
        }
        if (name == name_end)
            return fail(r, "invalid named capture", *i, name_end + 1);
        *i = name_end + 1;
        return push_frame(r);
    }
    while (t < r->n) {
        if ((rc = next_rune(r, t, &c, &w)))
            return rc;
        t += w;
        if (c == 'i' || c == 'm' || c == 's' || c == 'U') {
            saw_flag = true;
        } else if (c == '-' && !negative) {
            negative = true;
            saw_flag = false;
        } else if ((c == ':' || c == ')') && (!negative || saw_flag)) {
            *i = t;
            return c == ':' ? push_frame(r) : 0;
        } else {
            break;
        }
    }
    return fail(r, "invalid or unsupported Perl syntax", *i, t);
}

/* Go's {n}, {n,}, {n,m}: false when it is not one (then '{' is a literal). */
static bool parse_int(const struct re2 *r, size_t *j, int *v)
{
    size_t k = *j;

    if (k >= r->n || r->s[k] < '0' || r->s[k] > '9')
        return false;
    if (r->n - k >= 2 && r->s[k] == '0' && r->s[k + 1] >= '0' && r->s[k + 1] <= '9')
        return false; /* no leading zeros */
    *v = 0;
    for (; k < r->n && r->s[k] >= '0' && r->s[k] <= '9'; k++) {
        if (*v >= 100000000)
            *v = -1;
        if (*v >= 0)
            *v = *v * 10 + (r->s[k] - '0');
    }
    *j = k;
    return true;
}

static bool parse_repeat(const struct re2 *r, size_t i, int *min, int *max, size_t *after)
{
    size_t j = i + 1;

    if (!parse_int(r, &j, min) || j >= r->n)
        return false;
    if (r->s[j] != ',') {
        *max = *min;
    } else {
        j++;
        if (j >= r->n)
            return false;
        if (r->s[j] == '}') {
            *max = -1;
        } else {
            if (!parse_int(r, &j, max))
                return false;
            if (*max < 0)
                *min = -1;
        }
    }
    if (j >= r->n || r->s[j] != '}')
        return false;
    *after = j + 1;
    return true;
}

/* A repetition from `start` to `after` (past its lazy '?') of the current item; count is
 * 0 for * + ?. */
static int repeat(struct re2 *r, size_t start, size_t after, size_t last_repeat, bool counted,
                  int min, int max)
{
    struct frame *f = top(r);
    int m, need;

    if (last_repeat != NONE)
        return fail(r, "invalid nested repetition operator", last_repeat, after);
    if (!f->top_real)
        return fail(r, "missing argument to repetition operator", start, after);
    if (!counted)
        return 0;
    m = max < 0 ? min : max;
    if (max == 0)
        need = 0;
    else if (m > 0)
        need = f->top_need > 1 ? m * f->top_need : m;
    else
        need = f->top_need;
    if ((min >= 2 || max >= 2) && need > MAX_REPEAT)
        return fail(r, "invalid repeat count", start, after);
    f->top_need = need;
    return 0;
}

static int parse_backslash(struct re2 *r, size_t *i)
{
    const char *end;
    int32_t c;
    int rc;

    if (*i + 1 < r->n) {
        switch (r->s[*i + 1]) {
        case 'A':
        case 'b':
        case 'B':
        case 'z':
            item(r, 0);
            *i += 2;
            return 0;
        case 'C':
            return fail(r, "invalid escape sequence", *i, *i + 2);
        case 'Q':
            /* Literal up to \E or the end. */
            end = memmem(r->s + *i + 2, r->n - *i - 2, "\\E", 2);
            if ((rc = check_utf8(r, *i + 2, end ? (size_t)(end - r->s) : r->n)))
                return rc;
            if ((end ? (size_t)(end - r->s) : r->n) > *i + 2)
                item(r, 0);
            *i = end ? (size_t)(end - r->s) + 2 : r->n;
            return 0;
        default:
            break;
        }
    }
    if (unicode_class_at(r, *i)) {
        if ((rc = parse_unicode_class(r, i)))
            return rc;
    } else if (perl_class_at(r, *i)) {
        *i += 2;
    } else if ((rc = parse_escape(r, i, &c))) {
        return rc;
    }
    item(r, 0);
    return 0;
}

static int parse(struct re2 *r)
{
    size_t i = 0, last_repeat = NONE;
    int rc = push_frame(r);

    while (!rc && i < r->n) {
        size_t this_repeat = NONE, after, w;
        int min, max;
        int32_t c;

        switch (r->s[i]) {
        case '(':
            if (i + 1 < r->n && r->s[i + 1] == '?') {
                rc = parse_perl_flags(r, &i);
            } else {
                rc = push_frame(r);
                i++;
            }
            break;
        case '|':
            item(r, 0);
            top(r)->top_real = false;
            i++;
            break;
        case ')': {
            struct frame closed;

            if (r->nframes < 2)
                return fail(r, "unexpected )", 0, r->n);
            closed = *top(r);
            r->nframes--;
            if (closed.top_real && closed.top_need > closed.max_need)
                closed.max_need = closed.top_need;
            item(r, closed.max_need);
            i++;
            break;
        }
        case '^':
        case '$':
        case '.':
            item(r, 0);
            i++;
            break;
        case '[':
            if (!(rc = parse_class(r, &i)))
                item(r, 0);
            break;
        case '*':
        case '+':
        case '?':
            after = i + 1 < r->n && r->s[i + 1] == '?' ? i + 2 : i + 1;
            rc = repeat(r, i, after, last_repeat, false, 0, 0);
            this_repeat = i;
            i = after;
            break;
        case '{':
            if (!parse_repeat(r, i, &min, &max, &after)) {
                item(r, 0); /* a literal '{' */
                i++;
                break;
            }
            if (min < 0 || min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max))
                return fail(r, "invalid repeat count", i, after);
            if (after < r->n && r->s[after] == '?')
                after++;
            rc = repeat(r, i, after, last_repeat, true, min, max);
            this_repeat = i;
            i = after;
            break;
        case '\\':
            rc = parse_backslash(r, &i);
            break;
        default:
            if (!(rc = next_rune(r, i, &c, &w))) {
                item(r, 0);
                i += w;
            }
            break;
        }
        last_repeat = this_repeat;
    }
    if (!rc && r->nframes != 1)
        rc = fail(r, "missing closing )", 0, r->n);
    return rc;
}

int km_promql_re2_check(const char *re, size_t n, struct km_buf *msg)
{
    struct re2 r = { .s = re, .n = n, .msg = msg };
    int rc = parse(&r);

    free(r.frames);
    if (rc == KM_ENOMEM)
        return km_err_set(KM_ENOMEM, "out of memory checking a regular expression");
    return rc;
}
