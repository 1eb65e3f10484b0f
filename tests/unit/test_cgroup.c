/*
 * Unit tests: the cgroup file parsers (flat keyed files, single values, cpu.max, io.stat,
 * v1 blkio) on the kernel's formats and on broken input, and the kubelet's names (QoS,
 * pod and container directories under both drivers and every runtime, log layout).
 */
#include "hostfs/cgparse.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#define S(x) x, sizeof(x) - 1

static void test_flat(void **state)
{
    static const char *const keys[] = { "usage_usec", "user_usec", "system_usec", "nr_periods" };
    uint64_t v[4] = { 0 }, found;

    (void)state;
    assert_int_equal(km_cg_parse_flat(S("usage_usec 1234567\nuser_usec 1000000\n"
                                        "system_usec 234567\nnr_periods 0\nnr_throttled 0\n"
                                        "throttled_usec 0\nnr_bursts 0\nburst_usec 0\n"),
                                      keys, 4, v, &found),
                     0);
    assert_int_equal(found, 15);
    assert_true(v[0] == 1234567 && v[1] == 1000000 && v[2] == 234567 && v[3] == 0);
    /* Values past 2^32, a key the kernel added, a broken line counted. */
    assert_int_equal(km_cg_parse_flat(S("usage_usec 18446744073709551615\nnew_key 5\n"
                                        "user_usec x\nsystem_usec 1 2\n"),
                                      keys, 4, v, &found),
                     2);
    assert_int_equal(found, 1);
    assert_true(v[0] == UINT64_MAX);
    assert_int_equal(km_cg_parse_flat(S("usage_usec 1\0\n"), keys, 4, v, &found), 1);
    assert_int_equal(km_cg_parse_flat(NULL, 0, keys, 4, v, &found), 0);
    assert_int_equal(found, 0);
}

static void test_values(void **state)
{
    uint64_t v;
    int64_t i;
    bool max;

    (void)state;
    assert_int_equal(km_cg_parse_value(S("268435456\n"), &v, &max), 0);
    assert_true(v == 268435456 && !max);
    assert_int_equal(km_cg_parse_value(S("max\n"), &v, &max), 0);
    assert_true(max);
    assert_int_equal(km_cg_parse_value(S("9223372036854771712\n"), &v, &max), 0);
    assert_true(v == 9223372036854771712ull);
    assert_int_equal(km_cg_parse_value(S(""), &v, &max), 1);
    assert_int_equal(km_cg_parse_value(S("12 13\n"), &v, &max), 1);
    assert_int_equal(km_cg_parse_value(S("12\n13\n"), &v, &max), 1);
    assert_int_equal(km_cg_parse_value(S("-1\n"), &v, &max), 1);
    assert_int_equal(km_cg_parse_signed(S("-1\n"), &i), 0);
    assert_true(i == -1);
    assert_int_equal(km_cg_parse_signed(S("50000\n"), &i), 0);
    assert_true(i == 50000);
    assert_int_equal(km_cg_parse_signed(S("fifty\n"), &i), 1);
}

static void test_cpu_max(void **state)
{
    uint64_t q, p;
    bool has;

    (void)state;
    assert_int_equal(km_cg_parse_cpu_max(S("50000 100000\n"), &has, &q, &p), 0);
    assert_true(has && q == 50000 && p == 100000);
    assert_int_equal(km_cg_parse_cpu_max(S("max 100000\n"), &has, &q, &p), 0);
    assert_true(!has && p == 100000);
    assert_int_equal(km_cg_parse_cpu_max(S("max\n"), &has, &q, &p), 1);
    assert_int_equal(km_cg_parse_cpu_max(S("1 2 3\n"), &has, &q, &p), 1);
    assert_false(has);
}

struct ios {
    struct km_cg_io v[8];
    int n;
};

static void on_io(void *ud, const struct km_cg_io *io)
{
    struct ios *x = ud;

    if (x->n < 8)
        x->v[x->n++] = *io;
}

static void test_io_stat(void **state)
{
    struct ios x = { 0 };

    (void)state;
    assert_int_equal(
        km_cg_parse_io_stat(S("8:0 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 "
                              "dios=0\n259:0 rbytes=90112 wbytes=0 rios=3 wios=0 dbytes=0 dios=0\n"
                              "253:0\n"
                              "8:16 rbytes=x\nbogus line\n"),
                            on_io, &x),
        2);
    assert_int_equal(x.n, 3);
    assert_true(x.v[0].major == 8 && x.v[0].minor == 0 && x.v[0].rbytes == 1459200 &&
                x.v[0].wbytes == 314773504 && x.v[0].rios == 192 && x.v[0].wios == 353);
    assert_true(x.v[1].major == 259 && x.v[1].rbytes == 90112);
    assert_true(x.v[2].major == 253 && x.v[2].rbytes == 0); /* a device with no keys */
    x.n = 0;
    assert_int_equal(km_cg_parse_io_stat(S(""), on_io, &x), 0);
    assert_int_equal(x.n, 0);
}

static void test_blkio(void **state)
{
    struct ios x = { 0 };

    (void)state;
    assert_int_equal(km_cg_parse_blkio(S("8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 8192\n"
                                         "8:0 Async 4096\n8:0 Discard 0\n8:0 Total 12288\n"
                                         "253:1 Read 1\n253:1 Write 2\n253:1 Total 3\n"
                                         "Total 12291\n"),
                                       false, on_io, &x),
                     0);
    assert_int_equal(x.n, 2);
    assert_true(x.v[0].rbytes == 4096 && x.v[0].wbytes == 8192 && x.v[0].rios == 0);
    assert_true(x.v[1].major == 253 && x.v[1].minor == 1 && x.v[1].wbytes == 2);
    x.n = 0;
    assert_int_equal(km_cg_parse_blkio(S("8:0 Read 7\n8:0 Write\nTotal 7\n"), true, on_io, &x), 1);
    assert_int_equal(x.n, 1);
    assert_true(x.v[0].rios == 7);
}

static void test_names(void **state)
{
    char uid[KM_POD_UID_MAX], id[KM_CONTAINER_ID_MAX];
    const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char name[128];
    enum km_runtime rt;
    enum km_qos qos;
    bool conmon;

    (void)state;
    assert_true(km_kube_qos_dir("kubepods-burstable.slice", &qos) && qos == KM_QOS_BURSTABLE);
    assert_true(km_kube_qos_dir("besteffort", &qos) && qos == KM_QOS_BESTEFFORT);
    assert_false(km_kube_qos_dir("kubepods-pod1.slice", &qos));

    assert_true(
        km_kube_pod_dir("kubepods-burstable-pod7e2a3b5c_1d4f_4a6b_9c8d_0e1f2a3b4c5d.slice", uid));
    assert_string_equal(uid, "7e2a3b5c-1d4f-4a6b-9c8d-0e1f2a3b4c5d");
    assert_true(km_kube_pod_dir("kubepods-pod7e2a3b5c_1d4f_4a6b_9c8d_0e1f2a3b4c5d.slice", uid));
    assert_true(
        km_kube_pod_dir("kubepods-besteffort-pod7e2a3b5c_1d4f_4a6b_9c8d_0e1f2a3b4c5d.slice", uid));
    assert_true(km_kube_pod_dir("pod7e2a3b5c-1d4f-4a6b-9c8d-0e1f2a3b4c5d", uid));
    assert_string_equal(uid, "7e2a3b5c-1d4f-4a6b-9c8d-0e1f2a3b4c5d");
    /* A static pod's uid is the manifest's 32-hex hash. */
    assert_true(
        km_kube_pod_dir("kubepods-burstable-pod0123456789abcdef0123456789abcdef.slice", uid));
    assert_false(km_kube_pod_dir("kubepods-burstable.slice", uid));
    assert_false(km_kube_pod_dir("kubepods-pod.slice", uid));
    assert_false(km_kube_pod_dir("podzz", uid));
    assert_false(km_kube_pod_dir("kubepods-burstable-pod7e2a3b5c-1d4f-4a6b-9c8d-0e1f2a3b4c5d."
                                 "slice",
                                 uid)); /* dashes where systemd escapes them */

    snprintf(name, sizeof(name), "cri-containerd-%s.scope", hex);
    assert_true(km_kube_container_dir(name, &rt, id, &conmon) && rt == KM_RT_CONTAINERD && !conmon);
    assert_string_equal(id, hex);
    snprintf(name, sizeof(name), "crio-conmon-%s.scope", hex);
    assert_true(km_kube_container_dir(name, &rt, id, &conmon) && rt == KM_RT_CRIO && conmon);
    snprintf(name, sizeof(name), "crio-%s.scope", hex);
    assert_true(km_kube_container_dir(name, &rt, id, &conmon) && rt == KM_RT_CRIO && !conmon);
    snprintf(name, sizeof(name), "docker-%s.scope", hex);
    assert_true(km_kube_container_dir(name, &rt, id, &conmon) && rt == KM_RT_DOCKER);
    assert_true(km_kube_container_dir(hex, &rt, id, &conmon) && rt == KM_RT_PLAIN);
    assert_false(km_kube_container_dir("cri-containerd-1234.scope", &rt, id, &conmon));
    assert_false(km_kube_container_dir("system.slice", &rt, id, &conmon));
}

static void test_log_names(void **state)
{
    char a[64], b[64], c[64], d[80];
    char name[200];
    const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    (void)state;
    assert_true(km_kube_pod_log_dir("kube-system_coredns-5d78c9869d-x2x9k_"
                                    "7e2a3b5c-1d4f-4a6b-9c8d-0e1f2a3b4c5d",
                                    a, b, d, sizeof(a)));
    assert_string_equal(a, "kube-system");
    assert_string_equal(b, "coredns-5d78c9869d-x2x9k");
    assert_string_equal(d, "7e2a3b5c-1d4f-4a6b-9c8d-0e1f2a3b4c5d");
    assert_false(km_kube_pod_log_dir("a_b", a, b, d, sizeof(a)));
    assert_false(km_kube_pod_log_dir("a__c", a, b, d, sizeof(a)));
    assert_false(km_kube_pod_log_dir("a_b_c_d", a, b, d, sizeof(a)));

    snprintf(name, sizeof(name), "web-0_shop_istio-proxy-%s.log", hex);
    assert_true(km_kube_container_log(name, a, b, c, d, sizeof(d)));
    assert_string_equal(a, "web-0");
    assert_string_equal(b, "shop");
    assert_string_equal(c, "istio-proxy");
    assert_string_equal(d, hex);
    snprintf(name, sizeof(name), "web-0_shop_-%s.log", hex);
    assert_false(km_kube_container_log(name, a, b, c, d, sizeof(d)));
    snprintf(name, sizeof(name), "web-0_shop_app-%s", hex);
    assert_false(km_kube_container_log(name, a, b, c, d, sizeof(d)));
    assert_false(km_kube_container_log("web-0_shop_app-1234.log", a, b, c, d, sizeof(d)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat),      cmocka_unit_test(test_values),
        cmocka_unit_test(test_cpu_max),   cmocka_unit_test(test_io_stat),
        cmocka_unit_test(test_blkio),     cmocka_unit_test(test_names),
        cmocka_unit_test(test_log_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
