/*
 * test-diff.c - policy/diff.c on hand-made configurations: each finding of
 * the device-field comparison (which real QEMU pairs of one version hardly
 * ever produce), capabilities announced by one stream only, page sizes,
 * and a profile on either side, with and without its layouts.  The real-QEMU cases are in
 * offline-qemu72.sh.
 */
#include <string.h>
#include "devices.h"
#include "diff.h"
#include "protocol.h"

/* A stream configuration of machine pc-i440fx-7.2 with one RAM block, one
 * FULL section "dev" (version @version) described by @fields and @subs
 * (JSON array texts). */
static MpVmConfig *stream(uint32_t version, const char *fields, const char *subs)
{
    MpVmConfig *c = mp_vmconfig_new(MP_VMCONFIG_STREAM);
    g_autofree char *json = g_strdup_printf(
        "{\"page_size\":4096,\"devices\":[{\"name\":\"dev\",\"instance_id\":0,"
        "\"vmsd_name\":\"dev\",\"version\":%u,\"fields\":%s%s%s}]}",
        version, fields, subs ? ",\"subsections\":" : "", subs ? subs : "");
    g_autoptr(GError) err = NULL;
    MpRamBlock *rb;

    c->facts->has_header = true;
    c->facts->magic = QEMU_VM_FILE_MAGIC;
    c->facts->version = QEMU_VM_FILE_VERSION;
    c->facts->has_configuration = true;
    c->facts->machine = g_strdup("pc-i440fx-7.2");
    rb = mp_facts_add_ramblock(c->facts, "pc.ram", 64 << 20);
    rb->has_page_size = true;
    rb->page_size = 4096;
    c->facts->ramblocks_complete = true;
    mp_section_list_add(c->sections, "ram", 0, 4, 2, QEMU_VM_SECTION_START);
    mp_section_list_add(c->sections, "dev", 0, version, 3, QEMU_VM_SECTION_FULL);
    c->vmdesc = mig_vmstate_desc_parse(json, strlen(json), &err);
    g_assert_no_error(err);
    return c;
}

#define BASE "[{\"name\":\"a\",\"type\":\"uint32\",\"size\":4}," \
             "{\"name\":\"b\",\"type\":\"uint16\",\"size\":2}," \
             "{\"name\":\"buf\",\"type\":\"buffer\",\"size\":8}," \
             "{\"name\":\"s\",\"type\":\"struct\",\"size\":1,\"struct\":{\"vmsd_name\":\"s\"," \
               "\"version\":1,\"fields\":[{\"name\":\"x\",\"type\":\"uint8\",\"size\":1}]}}]"

static MpReport *diff(const MpVmConfig *a, const MpVmConfig *b)
{
    MpReport *r = mp_report_new();

    mp_diff_configs(r, a, b);
    for (guint i = 0; i < mp_report_count(r); i++) {
        const MpFinding *f = mp_report_get(r, i);

        g_test_message("%s %s: %s", mp_severity_name(f->severity), f->code, f->message);
    }
    return r;
}

static int cmp_strp(gconstpointer x, gconstpointer y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The findings' "code subject" pairs, sorted, joined by ", ". */
static char *codes(const MpReport *r)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < mp_report_count(r); i++) {
        const MpFinding *f = mp_report_get(r, i);

        g_ptr_array_add(list, g_strdup_printf("%s %s", f->code, f->subject));
    }
    g_ptr_array_sort(list, cmp_strp);
    g_ptr_array_add(list, NULL);
    return g_strjoinv(", ", (char **)list->pdata);
}

static void expect(const MpVmConfig *a, const MpVmConfig *b, const char *want,
                   MpVerdict verdict)
{
    g_autoptr(MpReport) r = diff(a, b);
    g_autofree char *got = codes(r);

    g_assert_cmpstr(got, ==, want);
    g_assert_cmpint(mp_report_verdict(r), ==, verdict);
}

static void test_identical(void)
{
    g_autoptr(MpVmConfig) a = stream(3, BASE, NULL);
    g_autoptr(MpVmConfig) b = stream(3, BASE, NULL);

    expect(a, b, "", MP_VERDICT_ACCEPT);
}

static void test_field_type(void)
{
    g_autoptr(MpVmConfig) a = stream(3, BASE, NULL);
    g_autoptr(MpVmConfig) b = stream(3,
        "[{\"name\":\"a\",\"type\":\"uint32\",\"size\":4},"
        "{\"name\":\"b\",\"type\":\"uint32\",\"size\":4},"
        "{\"name\":\"buf\",\"type\":\"buffer\",\"size\":8},"
        "{\"name\":\"s\",\"type\":\"struct\",\"size\":2,\"struct\":{\"vmsd_name\":\"s\","
        "\"version\":1,\"fields\":[{\"name\":\"x\",\"type\":\"uint16\",\"size\":2}]}}]", NULL);
    g_autoptr(MpReport) r = diff(a, b);
    const MpFinding *f = mp_report_get(r, 0);

    expect(a, b, "device-field-differs dev.b, device-field-differs dev.s.x", MP_VERDICT_REJECT);
    g_assert_cmpstr(f->subject, ==, "dev.b");
    g_assert_cmpstr(f->source, ==, "uint16, 2 bytes");
    g_assert_cmpstr(f->destination, ==, "uint32, 4 bytes");
}

static void test_field_missing_extra(void)
{
    g_autoptr(MpVmConfig) a = stream(3, BASE, NULL);
    g_autoptr(MpVmConfig) b = stream(3,
        "[{\"name\":\"a\",\"type\":\"uint32\",\"size\":4},"
        "{\"name\":\"c\",\"type\":\"uint64\",\"size\":8},"
        "{\"name\":\"buf\",\"type\":\"buffer\",\"size\":8},"
        "{\"name\":\"s\",\"type\":\"struct\",\"size\":1,\"struct\":{\"vmsd_name\":\"s\","
        "\"version\":1,\"fields\":[{\"name\":\"x\",\"type\":\"uint8\",\"size\":1}]}}]", NULL);

    expect(a, b, "device-field-extra dev.c, device-field-missing dev.b", MP_VERDICT_REJECT);
}

static void test_field_order_and_length(void)
{
    g_autoptr(MpVmConfig) a = stream(3, BASE, NULL);
    g_autoptr(MpVmConfig) order = stream(3,
        "[{\"name\":\"b\",\"type\":\"uint16\",\"size\":2},"
        "{\"name\":\"a\",\"type\":\"uint32\",\"size\":4},"
        "{\"name\":\"buf\",\"type\":\"buffer\",\"size\":8},"
        "{\"name\":\"s\",\"type\":\"struct\",\"size\":1,\"struct\":{\"vmsd_name\":\"s\","
        "\"version\":1,\"fields\":[{\"name\":\"x\",\"type\":\"uint8\",\"size\":1}]}}]", NULL);
    g_autoptr(MpVmConfig) length = stream(3,
        "[{\"name\":\"a\",\"type\":\"uint32\",\"size\":4,\"array_len\":2},"
        "{\"name\":\"b\",\"type\":\"uint16\",\"size\":2},"
        "{\"name\":\"buf\",\"type\":\"buffer\",\"size\":16},"
        "{\"name\":\"s\",\"type\":\"struct\",\"size\":1,\"struct\":{\"vmsd_name\":\"s\","
        "\"version\":1,\"fields\":[{\"name\":\"x\",\"type\":\"uint8\",\"size\":1}]}}]", NULL);

    expect(a, order, "device-field-order dev", MP_VERDICT_REJECT);
    expect(a, length, "device-field-length dev.a, device-field-length dev.buf",
           MP_VERDICT_REJECT);
}

static void test_subsections(void)
{
    g_autoptr(MpVmConfig) a = stream(3, BASE,
        "[{\"vmsd_name\":\"dev/one\",\"version\":2,\"fields\":[{\"name\":\"y\","
        "\"type\":\"uint8\",\"size\":1}]},"
        "{\"vmsd_name\":\"dev/two\",\"version\":1,\"fields\":[]},"
        "{\"vmsd_name\":\"dev/three\",\"version\":1,\"fields\":[]},"
        "{\"vmsd_name\":\"dev/four\",\"version\":1,\"fields\":[{\"name\":\"z\","
        "\"type\":\"uint8\",\"size\":1}]}]");
    g_autoptr(MpVmConfig) b = stream(3, BASE,
        "[{\"vmsd_name\":\"dev/one\",\"version\":1,\"fields\":[]},"
        "{\"vmsd_name\":\"dev/three\",\"version\":2,\"fields\":[]},"
        "{\"vmsd_name\":\"dev/four\",\"version\":1,\"fields\":[{\"name\":\"z\","
        "\"type\":\"uint16\",\"size\":2}]},"
        "{\"vmsd_name\":\"dev/five\",\"version\":1,\"fields\":[]}]");

    expect(a, b, "device-field-differs dev:dev/four.z, section-version-differs dev:dev/three, "
           "subsection-extra dev:dev/five, subsection-not-shown dev:dev/two, "
           "subsection-version dev:dev/one", MP_VERDICT_REJECT);
}

static void test_versions_differ(void)
{
    g_autoptr(MpVmConfig) old = stream(2, BASE, NULL);
    g_autoptr(MpVmConfig) new = stream(3, "[]", NULL);

    /* no field comparison across versions: the destination gates fields by version */
    expect(old, new, "device-fields-unchecked device fields, section-version-differs dev",
           MP_VERDICT_ACCEPT);
    expect(new, old, "device-fields-unchecked device fields, device-version-newer dev",
           MP_VERDICT_REJECT);
}

static void test_no_vmdesc(void)
{
    g_autoptr(MpVmConfig) a = stream(3, BASE, NULL);
    g_autoptr(MpVmConfig) b = stream(3, "[]", NULL);

    g_clear_pointer(&b->vmdesc, mig_vmstate_desc_free);
    expect(a, b, "device-fields-unchecked device fields", MP_VERDICT_ACCEPT);
}

static void test_caps_and_page_size(void)
{
    g_autoptr(MpVmConfig) a = stream(3, BASE, NULL);
    g_autoptr(MpVmConfig) b = stream(3, BASE, NULL);
    MpRamBlock *rb = g_ptr_array_index(b->facts->ramblocks, 0);

    g_ptr_array_add(a->facts->announced_caps, g_strdup("x-ignore-shared"));
    rb->page_size = 2 << 20;
    expect(a, b, "capability-mismatch x-ignore-shared, ramblock-page-size-differs pc.ram",
           MP_VERDICT_REJECT);
}

static JsonNode *values_of(const char *json)
{
    g_autoptr(GError) err = NULL;
    JsonNode *n = json_from_string(json, &err);

    g_assert_no_error(err);
    return n;
}

static void test_equal_values(void)
{
    const char *fields =
        "[{\"name\":\"n\",\"type\":\"int32 equal\",\"size\":4},"
        "{\"name\":\"v\",\"type\":\"uint32\",\"size\":4},"
        "{\"name\":\"s\",\"type\":\"struct\",\"size\":1,\"struct\":{\"vmsd_name\":\"s\","
        "\"version\":1,\"fields\":[{\"name\":\"k\",\"type\":\"uint8 equal\",\"size\":1}]}}]";
    g_autoptr(MpVmConfig) a = stream(3, fields, NULL);
    g_autoptr(MpVmConfig) b = stream(3, fields, NULL);
    g_autoptr(MpVmConfig) c = stream(3, fields, NULL);
    g_autoptr(MpVmConfig) none = stream(3, fields, NULL);

    /* section 1 is "dev"; only an equal field makes its values needed */
    g_assert_false(mp_vmconfig_needs_values(a, 0));
    mp_vmconfig_set_values(a, 1, values_of("{\"n\":\"0x00000004\",\"v\":\"0x00000001\","
                                           "\"s\":{\"k\":\"0x02\"}}"));
    mp_vmconfig_set_values(b, 1, values_of("{\"n\":\"0x00000004\",\"v\":\"0x00000009\","
                                           "\"s\":{\"k\":\"0x02\"}}"));
    mp_vmconfig_set_values(c, 1, values_of("{\"n\":\"0x00000008\",\"v\":\"0x00000001\","
                                           "\"s\":{\"k\":\"0x03\"}}"));
    /* other values may differ; equal ones may not */
    expect(a, b, "", MP_VERDICT_ACCEPT);
    expect(a, c, "device-field-equal dev.n, device-field-equal dev.s.k", MP_VERDICT_REJECT);
    /* without the values of one side nothing is said */
    expect(a, none, "", MP_VERDICT_ACCEPT);
}

static const char profile_text[] =
    "{\"migproxy_profile\":1,\"machine\":\"pc-i440fx-7.2\",\"parameters\":{},\"capabilities\":"
    "{\"x-ignore-shared\":false,\"mapped-ram\":true,\"multifd\":false},\"cpus\":1,"
    "\"pci_devices\":[\"0000:00:00.0\"],\"ramblocks\":[{\"name\":\"pc.ram\","
    "\"used_length\":67108864,\"max_length\":67108864,\"page_size\":4096}]}";

static void test_profile(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MpVmConfig) p = mp_vmconfig_from_profile(profile_text, -1, &err);
    g_autoptr(MpVmConfig) a = stream(3, BASE, NULL);

    g_assert_no_error(err);
    /* a profile announces, as its stream would, the validated caps it has on */
    g_assert_cmpuint(p->facts->announced_caps->len, ==, 1);
    g_assert_cmpstr(p->facts->announced_caps->pdata[0], ==, "mapped-ram");
    g_assert_null(p->sections);

    mp_section_list_add(a->sections, "cpu", 1, 12, 4, QEMU_VM_SECTION_FULL);
    mp_section_list_add(a->sections, "0000:00:03.0/e1000", 0, 2, 5, QEMU_VM_SECTION_FULL);
    mp_section_list_add(a->sections, "0000:00:00.0/I440FX", 0, 3, 6, QEMU_VM_SECTION_FULL);
    expect(a, p, "capability-mismatch mapped-ram, diff-partial device sections, "
           "section-unknown-late 0000:00:03.0/e1000, section-unknown-late cpu, "
           "source-facts-partial source capabilities", MP_VERDICT_REJECT);
    /* the other way round: facts only */
    expect(p, a, "capability-mismatch mapped-ram, diff-partial device sections",
           MP_VERDICT_REJECT);
    expect(p, p, "diff-partial device sections", MP_VERDICT_ACCEPT);
}

/* A profile of @fields' configuration, with its section list and, when
 * @layouts, the layouts `probe --sections-from` keeps. */
static MpVmConfig *sections_profile(const char *fields, bool layouts)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = g_strdup_printf(
        "{\"migproxy_profile\":1,\"machine\":\"pc-i440fx-7.2\",\"parameters\":{},"
        "\"capabilities\":{},\"cpus\":1,\"pci_devices\":[],\"ramblocks\":[{\"name\":"
        "\"pc.ram\",\"used_length\":67108864,\"max_length\":67108864,\"page_size\":4096}],"
        "\"sections\":[{\"idstr\":\"ram\",\"instance\":0,\"version\":4},"
        "{\"idstr\":\"dev\",\"instance\":0,\"version\":3}]%s%s%s}",
        layouts ? ",\"layouts\":{\"page_size\":4096,\"devices\":[{\"name\":\"dev\","
                  "\"instance_id\":0,\"vmsd_name\":\"dev\",\"version\":3,\"fields\":" : "",
        layouts ? fields : "", layouts ? "}]}" : "");
    MpVmConfig *p = mp_vmconfig_from_profile(text, -1, &err);

    g_assert_no_error(err);
    g_assert_nonnull(p->sections);
    g_assert_true((mp_vmconfig_layouts(p) != NULL) == layouts);
    return p;
}

/* A profile's layouts stand for its stream's VMDESCRIPTION, either side. */
static void test_profile_layouts(void)
{
    const char *shorter = "[{\"name\":\"a\",\"type\":\"uint32\",\"size\":4}]";
    g_autoptr(MpVmConfig) same = sections_profile(BASE, true);
    g_autoptr(MpVmConfig) other = sections_profile(shorter, true);
    g_autoptr(MpVmConfig) bare = sections_profile(BASE, false);
    g_autoptr(MpVmConfig) a = stream(3, BASE, NULL);
    g_autoptr(MpReport) r = NULL;

    expect(a, same, "source-facts-partial source capabilities", MP_VERDICT_ACCEPT);
    expect(a, other, "device-field-missing dev.b, device-field-missing dev.buf, "
           "device-field-missing dev.s, source-facts-partial source capabilities",
           MP_VERDICT_REJECT);
    expect(other, a, "device-field-extra dev.b, device-field-extra dev.buf, "
           "device-field-extra dev.s", MP_VERDICT_REJECT);
    /* without layouts nothing is compared, and the hint says how to get them */
    r = diff(a, bare);
    g_assert_cmpuint(mp_report_count(r), ==, 2);
    g_assert_cmpstr(mp_report_get(r, 1)->code, ==, "device-fields-unchecked");
    g_assert_nonnull(strstr(mp_report_get(r, 1)->message, "B does not carry"));
    g_assert_nonnull(strstr(mp_report_get(r, 1)->hint, "--sections-from"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/diff/identical", test_identical);
    g_test_add_func("/diff/field-type", test_field_type);
    g_test_add_func("/diff/field-missing-extra", test_field_missing_extra);
    g_test_add_func("/diff/field-order-length", test_field_order_and_length);
    g_test_add_func("/diff/subsections", test_subsections);
    g_test_add_func("/diff/versions-differ", test_versions_differ);
    g_test_add_func("/diff/no-vmdesc", test_no_vmdesc);
    g_test_add_func("/diff/caps-page-size", test_caps_and_page_size);
    g_test_add_func("/diff/equal-values", test_equal_values);
    g_test_add_func("/diff/profile", test_profile);
    g_test_add_func("/diff/profile-layouts", test_profile_layouts);
    return g_test_run();
}
