/*
 * Unit tests: alert templates when memory runs out. The allocator is wrapped
 * (oom_wrap.h) so that the n-th allocation fails; each template below is parsed and
 * expanded with its first, second, … allocation failing, until a run needs no more. Each
 * run must end cleanly: the same output or message as with enough memory, or KM_ENOMEM —
 * never a crash, a wrong answer or a leak (the sanitizer build runs this test under
 * LeakSanitizer).
 */
#include "common/buf.h"
#include "common/err.h"
#include "oom_wrap.h"
#include "rules/template.h"
#include "template_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct work {
    const struct km_tmpl_data *d;
    const char *text;
};

static int run(const void *ctx, char *got, size_t size)
{
    const struct work *w = ctx;
    struct km_buf out;
    int rc;

    km_buf_init(&out, 0);
    rc = fixture_run(w->d, "__alert_T", w->text, strlen(w->text), &out);
    snprintf(got, size, "%s", km_buf_cstr(&out));
    km_buf_fini(&out);
    return rc;
}

static void test_every_allocation_fails(void **state)
{
    static const char *const texts[] = {
        "Instance {{ $labels.instance }} of {{ .Labels.job }}: {{ $value | humanize }} "
        "({{ humanize1024 $value }}B, {{ humanizeDuration 90061 }}, {{ 0.1234 | "
        "humanizePercentage }}, {{ humanizeTimestamp 1234.5 }}, {{ toTime 100 }})",
        "{{ range $i, $e := query \"node_load1\" | sortByLabel \"instance\" }}{{ $i }}:{{ "
        "$e.Labels.instance }}={{ $e | value }}{{ if gt $e.Value 1.0 }}!{{ else }}.{{ end "
        "}}{{ end }}|{{ with query \"nothing\" }}x{{ else }}none{{ end }}|{{ query \"1+1\" | "
        "first | value }}",
        "{{ printf \"%5.1f|%d|%s|%q|%x|%v|%g|%%|%-8.2e|%U|%c|%T\" 3.14159 42 \"s\" \"q\" 255 "
        "$labels 1e21 2.0 65 66 . }}{{ printf \"%d %s\" \"x\" }}{{ print 1 2 \"a\" nil }}"
        "{{ println \"a\" (args 1 \"x\") }}",
        "{{ reReplaceAll \"(?P<host>[^:]+):(\\\\d+)\" \"${host}/$2$$\" $labels.instance }}|"
        "{{ match \"^ho\" $labels.instance }}|{{ title \"hello wörld\" }}|{{ toUpper \"ß é\" "
        "}}|{{ toLower \"ÉA\" }}|{{ graphLink \"up == 0\" }}|{{ stripDomain \"a.b.c:1\" }}",
        "{{ define \"t\" }}[{{ .arg0 }}{{ index . \"arg1\" }}]{{ end }}{{ template \"t\" args 1 "
        "\"b\" }}{{ block \"b\" . }}{{ .Value }}{{ end }}{{ $x := 1 }}{{ range $labels }}{{ $x "
        "= . }}{{ end }}{{ $x }}{{ html \"<&>\" }}{{ js \"'\" }}{{ urlquery \"a b\" }}{{ slice "
        "\"abc\" 1 }}{{ len $labels }}{{ eq 1 2 1 }}{{ and 1 0 }}{{ or 0 \"x\" }}",
        "{{ humanize \"abc\" }}",
        "{{ query \"up(\" }}",
        "{{ reReplaceAll \"(\" \"x\" \"y\" }}",
        "{{ eq $labels $labels }}",
        "{{ range 5 }}{{ end }}",
        "{{ template \"nope\" }}",
        "{{ .Labels.job.x }}",
        "{{ if }}{{ end }}",
        "{{ foo \"x\" }}",
        "{{ \"abc }}",
        "{{ $nope }}",
        "{{ 'ab' }} {{ 1e }}",
        "{{ define \"a\" }}a{{ end }}{{ define \"a\" }}b{{ end }}",
        "line 1\n{{ with $x := query \"node_load1\" }}\n{{ len 3 }}{{ end }}",
    };
    struct fixture f;

    (void)state;
    assert_int_equal(fixture_init(&f), 0);
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct work w = { &f.d, texts[i] };
        char why[20000];

        if (!oom_each_allocation(run, &w, why, sizeof(why)))
            fail_msg("%s: %s", texts[i], why);
    }
    fixture_fini(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_fails),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
