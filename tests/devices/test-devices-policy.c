/*
 * test-devices-policy.c - policy/vmstate-dump.c and policy/devices.c on
 * hand-made and real inputs: a -dump-vmstate excerpt of real QEMU 7.2
 * output (tests/fuzz/corpus/dump-vmstate), malformed and oversized files,
 * and each finding of the version and device-set checks, with what it
 * names.
 */
#include <string.h>
#include <gio/gio.h>
#include "devices.h"
#include "protocol.h"
#include "wire-limits.h"

static const char dump_text[] =
    "{\"vmschkmachine\":{\"Name\":\"pc-i440fx-7.2\"},"
    "\"virtio-net-device\":{\"Name\":\"virtio-net-device\",\"version_id\":11,"
      "\"minimum_version_id\":11,\"Description\":{\"name\":\"virtio-net\","
      "\"version_id\":11,\"minimum_version_id\":11,\"Fields\":[]}},"
    "\"mc146818rtc\":{\"Name\":\"mc146818rtc\",\"version_id\":3,\"minimum_version_id\":1,"
      "\"Description\":{\"name\":\"mc146818rtc\",\"version_id\":3,\"minimum_version_id\":1}},"
    "\"ne2k_pci\":{\"Description\":{\"name\":\"ne2000\",\"version_id\":3,"
      "\"minimum_version_id\":3}},"
    "\"ne2k_isa\":{\"Description\":{\"name\":\"ne2000\",\"version_id\":2,"
      "\"minimum_version_id\":0}}}";

static MpVmstateDump *load_dump(void)
{
    g_autoptr(GError) err = NULL;
    MpVmstateDump *d = mp_vmstate_dump_parse(dump_text, strlen(dump_text), &err);

    g_assert_no_error(err);
    return d;
}

/* The only finding with @code in @r (asserts there is exactly one). */
static const MpFinding *only(const MpReport *r, const char *code)
{
    const MpFinding *found = NULL;

    for (guint i = 0; i < mp_report_count(r); i++) {
        const MpFinding *f = mp_report_get(r, i);

        if (strcmp(f->code, code) == 0) {
            g_assert_null(found);
            found = f;
        }
    }
    if (!found) {
        g_error("no %s finding", code);
    }
    return found;
}

static void test_dump_parse(void)
{
    g_autoptr(MpVmstateDump) d = load_dump();
    const GPtrArray *ne;
    const MpVmstateEntry *e;

    g_assert_cmpstr(mp_vmstate_dump_machine(d), ==, "pc-i440fx-7.2");
    g_assert_cmpuint(mp_vmstate_dump_count(d), ==, 4);
    e = mp_vmstate_dump_lookup(d, "virtio-net")->pdata[0];
    g_assert_cmpstr(e->qom_type, ==, "virtio-net-device");
    g_assert_cmpuint(e->version_id, ==, 11);
    g_assert_cmpuint(e->minimum_version_id, ==, 11);
    ne = mp_vmstate_dump_lookup(d, "ne2000");
    g_assert_cmpuint(ne->len, ==, 2);
    g_assert_cmpstr(((MpVmstateEntry *)ne->pdata[0])->qom_type, ==, "ne2k_pci");
    g_assert_null(mp_vmstate_dump_lookup(d, "virtio-net-device"));  /* by vmsd name only */
    g_assert_cmpstr(mp_vmstate_vmsd_of_idstr("0000:00:04.0/virtio-net"), ==, "virtio-net");
    g_assert_cmpstr(mp_vmstate_vmsd_of_idstr("0000:00:1e.0:04.0/e1000"), ==, "e1000");
    g_assert_cmpstr(mp_vmstate_vmsd_of_idstr("fw_cfg"), ==, "fw_cfg");
}

static void test_dump_bad(void)
{
    static const char *const bad[] = {
        "", "[]", "{\"x\":1}", "{\"x\":{}}", "{\"x\":{\"Description\":[]}}",
        "{\"x\":{\"Description\":{\"version_id\":1,\"minimum_version_id\":1}}}",
        "{\"x\":{\"Description\":{\"name\":\"n\",\"minimum_version_id\":1}}}",
        "{\"x\":{\"Description\":{\"name\":\"n\",\"version_id\":-1,\"minimum_version_id\":1}}}",
        ("{\"x\":{\"Description\":{\"name\":\"n\",\"version_id\":2147483648,"
         "\"minimum_version_id\":1}}}"),
        "{\"x\":{\"Description\":{\"name\":\"n\",\"version_id\":\"1\",\"minimum_version_id\":1}}}",
        "{\"x\":",
    };
    g_autoptr(GString) deep = g_string_new(NULL);
    g_autoptr(GError) err = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;

        g_assert_null(mp_vmstate_dump_parse(bad[i], strlen(bad[i]), &e));
        g_assert_error(e, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    }
    for (guint i = 0; i <= MIG_LIMIT_JSON_DEPTH; i++) {
        g_string_append(deep, "{\"a\":");
    }
    g_string_append(deep, "1");
    for (guint i = 0; i <= MIG_LIMIT_JSON_DEPTH; i++) {
        g_string_append_c(deep, '}');
    }
    g_assert_null(mp_vmstate_dump_parse(deep->str, deep->len, &err));
    g_assert_nonnull(strstr(err->message, "nests deeper"));
    g_clear_error(&err);
    g_assert_null(mp_vmstate_dump_parse(dump_text, MIG_LIMIT_DUMP_VMSTATE + 1, &err));
    g_assert_nonnull(strstr(err->message, "over the limit"));
    g_clear_error(&err);
    g_assert_null(mp_vmstate_dump_load("/nonexistent/dump.json", &err));
    g_assert_nonnull(err);
}

/* Every proper prefix is refused; every single-byte change parses or is refused. */
static void test_dump_truncated_corrupt(void)
{
    size_t n = strlen(dump_text);
    g_autofree char *buf = g_malloc(n);

    for (size_t cut = 0; cut < n; cut++) {
        g_autoptr(GError) err = NULL;

        g_assert_null(mp_vmstate_dump_parse(dump_text, cut, &err));
        g_assert_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    }
    for (size_t i = 0; i < n; i++) {
        g_autoptr(GError) err = NULL;
        MpVmstateDump *d;

        memcpy(buf, dump_text, n);
        buf[i] ^= 0x20;
        d = mp_vmstate_dump_parse(buf, n, &err);
        g_assert_true((d == NULL) != (err == NULL));
        mp_vmstate_dump_free(d);
    }
}

/* The real excerpt parses, and names what 7.2 says about shared vmsd names. */
static void test_dump_real(void)
{
    const char *path = g_getenv("DUMP_VMSTATE_SAMPLE");
    g_autoptr(GError) err = NULL;
    g_autoptr(MpVmstateDump) d = NULL;
    const GPtrArray *cirrus;

    if (!path) {
        g_test_skip("DUMP_VMSTATE_SAMPLE not set (run through meson test)");
        return;
    }
    d = mp_vmstate_dump_load(path, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(mp_vmstate_dump_machine(d), ==, "pc-i440fx-7.2");
    g_assert_cmpuint(mp_vmstate_dump_lookup(d, "ne2000")->len, ==, 2);
    cirrus = mp_vmstate_dump_lookup(d, "cirrus_vga");
    g_assert_cmpuint(cirrus->len, ==, 2);
    g_assert_cmpuint(((MpVmstateEntry *)mp_vmstate_dump_lookup(d, "mc146818rtc")->pdata[0])
                     ->version_id, ==, 3);
}

static void test_versions(void)
{
    g_autoptr(MpVmstateDump) d = load_dump();
    g_autoptr(GArray) s = mp_section_list_new();
    g_autoptr(MpReport) r = mp_report_new();
    const MpFinding *f;

    mp_section_list_add(s, "ram", 0, 4, 2, QEMU_VM_SECTION_START);
    mp_section_list_add(s, "0000:00:04.0/virtio-net", 0, 12, 30, QEMU_VM_SECTION_FULL);
    mp_section_list_add(s, "mc146818rtc", 0, 3, 17, QEMU_VM_SECTION_FULL);   /* fits */
    mp_section_list_add(s, "mc146818rtc", 0, 3, 17, QEMU_VM_SECTION_FULL);   /* repeated */
    mp_section_list_add(s, "0000:00:05.0/ne2000", 0, 3, 31, QEMU_VM_SECTION_FULL);
    mp_section_list_add(s, "cpu", 0, 12, 5, QEMU_VM_SECTION_FULL);
    g_assert_cmpuint(mp_check_section_versions(r, s, d), ==, 3);
    g_assert_cmpuint(mp_report_count(r), ==, 3);

    f = only(r, "section-version-too-new");
    g_assert_cmpstr(f->subject, ==, "0000:00:04.0/virtio-net");
    g_assert_cmpstr(f->source, ==, "version 12");
    g_assert_cmpstr(f->destination, ==, "virtio-net-device: 11..11");
    g_assert_cmpint(f->severity, ==, MP_SEVERITY_ERROR);
    g_assert_nonnull(strstr(f->message, "savevm: unsupported version 12 for "
                            "'0000:00:04.0/virtio-net' v11"));
    f = only(r, "section-version-ambiguous");
    g_assert_cmpstr(f->subject, ==, "0000:00:05.0/ne2000");
    g_assert_cmpstr(f->destination, ==, "ne2k_pci: 3..3, ne2k_isa: 0..2");
    f = only(r, "section-version-unchecked");
    g_assert_cmpstr(f->source, ==, "ram, cpu");
    g_assert_cmpint(f->severity, ==, MP_SEVERITY_INFO);
    g_assert_cmpint(mp_report_verdict(r), ==, MP_VERDICT_REJECT);
}

static void test_version_too_old(void)
{
    g_autoptr(MpVmstateDump) d = load_dump();
    g_autoptr(GArray) s = mp_section_list_new();
    g_autoptr(MpReport) r = mp_report_new();
    const MpFinding *f;

    mp_section_list_add(s, "0000:00:04.0/virtio-net", 0, 10, 30, QEMU_VM_SECTION_FULL);
    mp_section_list_add(s, "mc146818rtc", 1, 0, 17, QEMU_VM_SECTION_FULL);
    mp_check_section_versions(r, s, d);
    g_assert_cmpuint(mp_report_count(r), ==, 2);
    f = mp_report_get(r, 0);
    g_assert_cmpstr(f->code, ==, "section-version-too-old");
    g_assert_nonnull(strstr(f->message, "virtio-net: incoming version_id 10 is too old for "
                            "local minimum version_id 11"));
    f = mp_report_get(r, 1);
    g_assert_cmpstr(f->code, ==, "section-version-too-old");
    g_assert_cmpstr(f->subject, ==, "mc146818rtc instance 1");
}

static void test_versions_all_fit(void)
{
    g_autoptr(MpVmstateDump) d = load_dump();
    g_autoptr(GArray) s = mp_section_list_new();
    g_autoptr(MpReport) r = mp_report_new();

    mp_section_list_add(s, "0000:00:04.0/virtio-net", 0, 11, 30, QEMU_VM_SECTION_FULL);
    mp_section_list_add(s, "mc146818rtc", 0, 1, 17, QEMU_VM_SECTION_FULL);
    mp_section_list_add(s, "isa/ne2000", 0, 3, 9, QEMU_VM_SECTION_FULL); /* 3..3 and 0..2 */
    mp_check_section_versions(r, s, d);
    g_assert_cmpuint(mp_report_count(r), ==, 1);
    g_assert_cmpstr(mp_report_get(r, 0)->code, ==, "section-version-ambiguous");
    g_clear_pointer(&r, mp_report_free);
    g_array_set_size(s, 2);
    r = mp_report_new();
    mp_check_section_versions(r, s, d);
    g_assert_cmpuint(mp_report_count(r), ==, 0);
}

static void test_device_set(void)
{
    g_autoptr(GArray) src = mp_section_list_new();
    g_autoptr(GArray) dst = mp_section_list_new();
    g_autoptr(MpReport) r = mp_report_new();
    const MpFinding *f;

    mp_section_list_add(src, "ram", 0, 4, 2, QEMU_VM_SECTION_START);
    mp_section_list_add(src, "cpu", 0, 12, 5, QEMU_VM_SECTION_FULL);
    mp_section_list_add(src, "cpu", 1, 12, 6, QEMU_VM_SECTION_FULL);
    mp_section_list_add(src, "0000:00:03.0/virtio-rng", 0, 1, 30, QEMU_VM_SECTION_FULL);
    mp_section_list_add(src, "fw_cfg", 0, 3, 8, QEMU_VM_SECTION_FULL);
    mp_section_list_add(src, "fw_cfg", 0, 3, 8, QEMU_VM_SECTION_FULL);   /* once only */
    mp_section_list_add(dst, "ram", 0, 4, 2, QEMU_VM_SECTION_START);
    mp_section_list_add(dst, "cpu", 0, 12, 5, QEMU_VM_SECTION_FULL);
    mp_section_list_add(dst, "fw_cfg", 0, 2, 8, QEMU_VM_SECTION_FULL);
    mp_section_list_add(dst, "0000:00:04.0/e1000", 0, 2, 29, QEMU_VM_SECTION_FULL);
    mp_check_device_set(r, src, dst);
    g_assert_cmpuint(mp_report_count(r), ==, 4);
    f = mp_report_get(r, 0);
    g_assert_cmpstr(f->code, ==, "device-missing");
    g_assert_cmpstr(f->subject, ==, "cpu instance 1");
    g_assert_nonnull(strstr(f->message, "Unknown savevm section or instance 'cpu' 1"));
    f = mp_report_get(r, 1);
    g_assert_cmpstr(f->code, ==, "device-missing");
    g_assert_cmpstr(f->subject, ==, "0000:00:03.0/virtio-rng");
    f = mp_report_get(r, 2);
    g_assert_cmpstr(f->code, ==, "device-version-newer");
    g_assert_cmpstr(f->source, ==, "version 3");
    g_assert_cmpstr(f->destination, ==, "version 2");
    f = mp_report_get(r, 3);
    g_assert_cmpstr(f->code, ==, "device-extra");
    g_assert_cmpint(f->severity, ==, MP_SEVERITY_WARNING);
    g_assert_cmpstr(f->subject, ==, "0000:00:04.0/e1000");

    /* the same list on both sides: nothing */
    g_clear_pointer(&r, mp_report_free);
    r = mp_report_new();
    mp_check_device_set(r, src, src);
    g_assert_cmpuint(mp_report_count(r), ==, 0);
}

/* Header by header, as a proxy would check them while the stream flows. */
static void test_section_known(void)
{
    g_autoptr(GArray) dst = mp_section_list_new();
    g_autoptr(MpReport) r = mp_report_new();

    mp_section_list_add(dst, "ram", 0, 4, 2, QEMU_VM_SECTION_START);
    mp_section_list_add(dst, "cpu", 0, 12, 5, QEMU_VM_SECTION_FULL);
    g_assert_true(mp_check_section_known(r, "ram", 0, 4, dst));
    g_assert_true(mp_check_section_known(r, "cpu", 0, 11, dst));      /* older loads */
    g_assert_cmpuint(mp_report_count(r), ==, 0);
    g_assert_false(mp_check_section_known(r, "cpu", 1, 12, dst));
    g_assert_false(mp_check_section_known(r, "cpu", 0, 13, dst));
    g_assert_cmpuint(mp_report_count(r), ==, 2);
    g_assert_cmpstr(mp_report_get(r, 0)->code, ==, "device-missing");
    g_assert_cmpstr(mp_report_get(r, 0)->subject, ==, "cpu instance 1");
    g_assert_cmpstr(mp_report_get(r, 1)->code, ==, "device-version-newer");
}

/*
 * Subsections: a VMDESCRIPTION that sent "d/a" v1 and, inside struct
 * field "s[1]", "inner/b" v2, against destinations that lack or restrict
 * them.
 */
static const char vmdesc_text[] =
    "{\"devices\":[{\"name\":\"0000:00:02.0/d\",\"instance_id\":0,\"vmsd_name\":\"d\","
    "\"version\":1,\"fields\":[{\"name\":\"s[1]\",\"type\":\"struct\",\"size\":1,"
    "\"struct\":{\"vmsd_name\":\"inner\",\"version\":1,\"fields\":[],"
    "\"subsections\":[{\"vmsd_name\":\"inner/b\",\"version\":2,\"fields\":[]}]}}],"
    "\"subsections\":[{\"vmsd_name\":\"d/a\",\"version\":1,\"fields\":[]}]}]}";

static MpReport *check_subs(const char *dump, guint *compared)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MigVmstateDesc) vd = mig_vmstate_desc_parse(vmdesc_text, strlen(vmdesc_text),
                                                          &err);
    g_autoptr(MpVmstateDump) d = NULL;
    g_autoptr(GArray) s = mp_section_list_new();
    MpReport *r = mp_report_new();

    g_assert_no_error(err);
    d = mp_vmstate_dump_parse(dump, strlen(dump), &err);
    g_assert_no_error(err);
    mp_section_list_add(s, "0000:00:02.0/d", 0, 1, 9, QEMU_VM_SECTION_FULL);
    mp_section_list_add(s, "0000:00:02.0/d", 0, 1, 9, QEMU_VM_SECTION_FULL);
    *compared = mp_check_subsections(r, s, vd, d);
    return r;
}

#define DUMP_D(A, B) \
    "{\"t\":{\"Description\":{\"name\":\"d\",\"version_id\":1,\"minimum_version_id\":1," \
    "\"Fields\":[{\"field\":\"s\",\"Description\":{\"name\":\"inner\",\"version_id\":1," \
    "\"minimum_version_id\":1,\"Subsections\":[" B "]}}],\"Subsections\":[" A "]}}}"
#define SUB(N, MIN, MAX) \
    "{\"name\":\"" N "\",\"version_id\":" #MAX ",\"minimum_version_id\":" #MIN "}"

static void test_subsections(void)
{
    g_autoptr(MpReport) ok = NULL, unknown = NULL, range = NULL;
    const MpFinding *f;
    guint n = 0;

    ok = check_subs(DUMP_D(SUB("d/a", 1, 1), SUB("inner/b", 1, 2)), &n);
    g_assert_cmpuint(mp_report_count(ok), ==, 0);
    g_assert_cmpuint(n, ==, 2);                 /* d/a and, through s[1], inner/b */

    unknown = check_subs(DUMP_D(SUB("d/x", 1, 1), SUB("inner/b", 1, 2)), &n);
    g_assert_cmpuint(mp_report_count(unknown), ==, 1);
    f = only(unknown, "subsection-unknown");
    g_assert_cmpstr(f->subject, ==, "0000:00:02.0/d");
    g_assert_cmpstr(f->source, ==, "d/a version 1");
    g_assert_nonnull(strstr(f->message, "VM subsection 'd/a' in '0000:00:02.0/d' does not exist"));

    range = check_subs(DUMP_D(SUB("d/a", 1, 1), SUB("inner/b", 0, 1)), &n);
    g_assert_cmpuint(mp_report_count(range), ==, 1);
    f = only(range, "subsection-version");
    g_assert_cmpstr(f->source, ==, "inner/b version 2");
    g_assert_cmpstr(f->destination, ==, "inner/b versions 0..1");
}

/* Two entries share the vmsd name and one of them has the subsection. */
static void test_subsections_shared_name(void)
{
    static const char dump[] =
        "{\"t\":{\"Description\":{\"name\":\"d\",\"version_id\":1,\"minimum_version_id\":1,"
        "\"Subsections\":[]}},"
        "\"u\":{\"Description\":{\"name\":\"d\",\"version_id\":1,\"minimum_version_id\":1,"
        "\"Subsections\":[{\"name\":\"d/a\",\"version_id\":1,\"minimum_version_id\":1}]}}}";
    g_autoptr(MpReport) r = NULL;
    guint n = 0;

    r = check_subs(dump, &n);
    g_assert_cmpuint(mp_report_count(r), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/devices/dump-parse", test_dump_parse);
    g_test_add_func("/devices/dump-bad", test_dump_bad);
    g_test_add_func("/devices/dump-real", test_dump_real);
    g_test_add_func("/devices/dump-truncated-corrupt", test_dump_truncated_corrupt);
    g_test_add_func("/devices/versions", test_versions);
    g_test_add_func("/devices/version-too-old", test_version_too_old);
    g_test_add_func("/devices/versions-all-fit", test_versions_all_fit);
    g_test_add_func("/devices/device-set", test_device_set);
    g_test_add_func("/devices/section-known", test_section_known);
    g_test_add_func("/devices/subsections", test_subsections);
    g_test_add_func("/devices/subsections-shared-name", test_subsections_shared_name);
    return g_test_run();
}
