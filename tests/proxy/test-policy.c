/*
 * test-policy.c - the gate's checks on hand-made facts: each check alone,
 * with QEMU's own rule where there is one (prefix machine compare, resizable
 * blocks, absent capability subsection = off), the info ramblock parser on
 * QEMU 7.2's real text, the profile round trip, the policy file, and that
 * every finding code is documented in policy/FINDINGS.md.
 */
#include <glib.h>
#include <string.h>

#include "check.h"
#include "facts.h"
#include "findings.h"

/* "info ramblock" of `qemu-system-x86_64 -M pc -m 128M -nodefaults` (7.2) */
static const char info_ramblock_72[] =
    "              Block Name    PSize              Offset               Used              Total\r\n"
    "                  pc.ram    4 KiB  0x0000000000000000 0x0000000008000000 0x0000000008000000\r\n"
    "    /rom@etc/acpi/tables    4 KiB  0x0000000008080000 0x0000000000020000 0x0000000000200000\r\n"
    "                 pc.bios    4 KiB  0x0000000008000000 0x0000000000040000 0x0000000000040000\r\n"
    "                  pc.rom    4 KiB  0x0000000008040000 0x0000000000020000 0x0000000000020000\r\n"
    "   /rom@etc/table-loader    4 KiB  0x0000000008280000 0x0000000000001000 0x0000000000010000\r\n"
    "      /rom@etc/acpi/rsdp    4 KiB  0x00000000082c0000 0x0000000000001000 0x0000000000001000\r\n";

static MpFacts *dest_pc(void)
{
    MpFacts *d = mp_facts_new(MP_FACTS_FROM_QMP);
    const char *caps[] = { "xbzrle", "multifd", "postcopy-ram", "x-ignore-shared",
                           "return-path", "compress", "postcopy-preempt", NULL };

    d->machine = g_strdup("pc-i440fx-7.2");
    for (guint i = 0; caps[i]; i++) {
        mp_facts_set_cap(d, caps[i], false);
    }
    d->caps_complete = true;
    d->has_multifd_channels = true;
    d->multifd_channels = 2;
    d->multifd_compression = g_strdup("none");
    g_assert_true(mp_facts_parse_info_ramblock(d, info_ramblock_72, NULL));
    return d;
}

/* The stream of a source equal to dest_pc(): what the decoder reports. */
static MpFacts *source_pc(void)
{
    MpFacts *s = mp_facts_new(MP_FACTS_FROM_STREAM);
    static const struct { const char *name; uint64_t len; } blocks[] = {
        { "pc.ram", 0x8000000 }, { "/rom@etc/acpi/tables", 0x20000 },
        { "pc.bios", 0x40000 }, { "pc.rom", 0x20000 },
        { "/rom@etc/table-loader", 0x1000 }, { "/rom@etc/acpi/rsdp", 0x1000 },
    };

    s->has_header = true;
    s->magic = 0x5145564d;
    s->version = 3;
    s->has_configuration = true;
    s->machine = g_strdup("pc-i440fx-7.2");
    for (size_t i = 0; i < G_N_ELEMENTS(blocks); i++) {
        mp_facts_add_ramblock(s, blocks[i].name, blocks[i].len);
    }
    s->ramblocks_complete = true;
    s->has_ram_total = true;
    s->ram_total = mp_facts_ram_size(s);
    s->channels_counted = true;
    return s;
}

static MpReport *check(const MpFacts *src, const MpFacts *dst, const MpPolicy *policy)
{
    MpReport *r = mp_policy_new_report(policy);

    mp_check_prefix(src, dst, policy, r);
    return r;
}

static const MpFinding *find(const MpReport *r, const char *code)
{
    for (guint i = 0; i < mp_report_count(r); i++) {
        if (strcmp(mp_report_get(r, i)->code, code) == 0) {
            return mp_report_get(r, i);
        }
    }
    return NULL;
}

static void test_info_ramblock(void)
{
    g_autoptr(MpFacts) d = dest_pc();
    const MpRamBlock *rb = mp_facts_find_ramblock(d, "/rom@etc/acpi/tables");
    g_autoptr(GError) error = NULL;
    g_autoptr(MpFacts) bad = mp_facts_new(MP_FACTS_FROM_QMP);

    g_assert_cmpuint(d->ramblocks->len, ==, 6);
    g_assert_nonnull(rb);
    g_assert_cmphex(rb->used_length, ==, 0x20000);
    g_assert_cmphex(rb->max_length, ==, 0x200000);
    g_assert_cmpuint(rb->page_size, ==, 4096);
    g_assert_false(mp_facts_parse_info_ramblock(bad, "no table here\n", &error));
    g_assert_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE);
    g_clear_error(&error);
    g_assert_false(mp_facts_parse_info_ramblock(bad,
        "Block Name PSize Offset Used Total\npc.ram 4 KiB 0x0 zz 0x1\n", &error));
}

/* json-glib recurses per level: deep nesting is refused before it parses
 * (it crashed on 100,000 levels before the check). */
static void test_profile_deep_nesting(void)
{
    GString *text = g_string_new("{\"migproxy_profile\":1,\"x\":");
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < 100000; i++) {
        g_string_append_c(text, '[');
    }
    g_assert_null(mp_facts_from_json(text->str, (gssize)text->len, &error));
    g_assert_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE);
    g_assert_nonnull(strstr(error->message, "nested deeper"));
    g_string_free(text, TRUE);
}

static void test_profile_round_trip(void)
{
    g_autoptr(MpFacts) d = dest_pc();
    g_autofree char *json = mp_facts_to_json(d);
    g_autoptr(MpFacts) back = mp_facts_from_json(json, -1, NULL);
    g_autofree char *again = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_nonnull(back);
    again = mp_facts_to_json(back);
    g_assert_cmpstr(json, ==, again);
    g_assert_null(mp_facts_from_json("{\"machine\": \"pc\"}", -1, &error));
    g_assert_nonnull(strstr(error->message, "migproxy_profile"));
}

static void test_equal_accepts(void)
{
    g_autoptr(MpFacts) s = source_pc();
    g_autoptr(MpFacts) d = dest_pc();
    g_autoptr(MpReport) r = check(s, d, NULL);

    g_assert_cmpint(mp_report_verdict(r), ==, MP_VERDICT_ACCEPT);
    g_assert_cmpuint(mp_report_count_severity(r, MP_SEVERITY_ERROR), ==, 0);
    g_assert_cmpuint(mp_report_count_severity(r, MP_SEVERITY_WARNING), ==, 0);
}

static void test_ram_size(void)
{
    g_autoptr(MpFacts) s = source_pc();
    g_autoptr(MpFacts) d = dest_pc();
    g_autoptr(MpReport) r = NULL;
    const MpFinding *f;

    ((MpRamBlock *)g_ptr_array_index(s->ramblocks, 0))->used_length = 256u << 20;
    r = check(s, d, NULL);
    f = find(r, "ramblock-size");
    g_assert_nonnull(f);
    g_assert_cmpint(f->severity, ==, MP_SEVERITY_ERROR);
    g_assert_cmpstr(f->subject, ==, "pc.ram");
    g_assert_cmpstr(f->source, ==, "256 MiB (0x10000000)");
    g_assert_cmpstr(f->destination, ==, "128 MiB (0x8000000)");
    g_assert_cmpstr(f->hint, ==, "start the destination with -m 256M");
    g_assert_cmpint(mp_report_verdict(r), ==, MP_VERDICT_REJECT);
}

static void test_resizable(void)
{
    g_autoptr(MpFacts) s = source_pc();
    g_autoptr(MpFacts) d = dest_pc();
    g_autoptr(MpReport) within = NULL;
    g_autoptr(MpReport) beyond = NULL;
    MpRamBlock *acpi = g_ptr_array_index(s->ramblocks, 1);

    /* QEMU resizes a resizable block up to its maximum without complaint */
    acpi->used_length = 0x40000;
    within = check(s, d, NULL);
    g_assert_nonnull(find(within, "ramblock-resized"));
    g_assert_cmpint(mp_report_verdict(within), ==, MP_VERDICT_ACCEPT);
    acpi->used_length = 0x400000;
    beyond = check(s, d, NULL);
    g_assert_nonnull(find(beyond, "ramblock-too-large"));
    g_assert_cmpint(mp_report_verdict(beyond), ==, MP_VERDICT_REJECT);
}

static void test_missing_and_extra_blocks(void)
{
    g_autoptr(MpFacts) s = source_pc();
    g_autoptr(MpFacts) d = dest_pc();
    g_autoptr(MpReport) r = NULL;

    mp_facts_add_ramblock(s, "vga.vram", 16u << 20);
    g_ptr_array_remove_index(s->ramblocks, 3);          /* pc.rom */
    r = check(s, d, NULL);
    g_assert_cmpstr(find(r, "ramblock-missing")->subject, ==, "vga.vram");
    g_assert_cmpstr(find(r, "ramblock-extra")->subject, ==, "pc.rom");
    g_assert_cmpint(find(r, "ramblock-extra")->severity, ==, MP_SEVERITY_WARNING);
}

static void test_machine(void)
{
    g_autoptr(MpFacts) s = source_pc();
    g_autoptr(MpFacts) d = dest_pc();
    g_autoptr(MpReport) prefix = NULL;
    g_autoptr(MpReport) other = NULL;

    /* QEMU compares over the received length only */
    g_free(s->machine);
    s->machine = g_strdup("pc-i440fx");
    prefix = check(s, d, NULL);
    g_assert_null(find(prefix, "machine-type"));
    g_free(s->machine);
    s->machine = g_strdup("pc-q35-7.2");
    other = check(s, d, NULL);
    g_assert_cmpstr(find(other, "machine-type")->source, ==, "pc-q35-7.2");
    g_assert_cmpstr(find(other, "machine-type")->destination, ==, "pc-i440fx-7.2");
}

static void test_ignore_shared(void)
{
    g_autoptr(MpFacts) s = source_pc();
    g_autoptr(MpFacts) d = dest_pc();
    g_autoptr(MpReport) src_only = NULL;
    g_autoptr(MpReport) dst_only = NULL;

    g_ptr_array_add(s->announced_caps, g_strdup("x-ignore-shared"));
    src_only = check(s, d, NULL);
    g_assert_cmpstr(find(src_only, "capability-mismatch")->source, ==, "on");
    g_ptr_array_set_size(s->announced_caps, 0);
    /* an absent capabilities subsection means "off" to QEMU */
    mp_facts_set_cap(d, "x-ignore-shared", true);
    dst_only = check(s, d, NULL);
    g_assert_cmpstr(find(dst_only, "capability-mismatch")->destination, ==, "on");
}

static void test_multifd(void)
{
    g_autoptr(MpFacts) s = source_pc();
    g_autoptr(MpFacts) d = dest_pc();
    g_autoptr(MpReport) one_side = NULL;
    g_autoptr(MpReport) counts = NULL;
    g_autoptr(MpReport) same = NULL;

    s->multifd_connections = 4;
    one_side = check(s, d, NULL);
    g_assert_cmpstr(find(one_side, "multifd-one-side")->source, ==, "on");
    mp_facts_set_cap(d, "multifd", true);
    counts = check(s, d, NULL);
    g_assert_cmpstr(find(counts, "multifd-channels")->source, ==, "4");
    g_assert_cmpstr(find(counts, "multifd-channels")->destination, ==, "2");
    s->multifd_connections = 2;
    same = check(s, d, NULL);
    g_assert_cmpint(mp_report_verdict(same), ==, MP_VERDICT_ACCEPT);
}

static void test_postcopy_advise(void)
{
    g_autoptr(MpFacts) s = source_pc();
    g_autoptr(MpFacts) d = dest_pc();
    g_autoptr(MpReport) off = NULL;
    g_autoptr(MpReport) on = NULL;

    s->has_postcopy_advise = true;
    s->postcopy_advise_length = 16;
    s->advise_page_summary = 4096;
    s->advise_target_page_size = 4096;
    off = check(s, d, NULL);
    g_assert_nonnull(find(off, "postcopy-advise"));
    mp_facts_set_cap(d, "postcopy-ram", true);
    on = check(s, d, NULL);
    g_assert_cmpint(mp_report_verdict(on), ==, MP_VERDICT_ACCEPT);
}

static void test_bad_header(void)
{
    g_autoptr(MpFacts) s = source_pc();
    g_autoptr(MpReport) r = NULL;

    s->magic = 0x47455420;          /* "GET " */
    r = check(s, NULL, NULL);
    g_assert_nonnull(find(r, "stream-not-migration"));
    g_assert_cmpuint(mp_report_count(r), ==, 1);
}

static void test_policy_file(void)
{
    static const char text[] =
        "[policy]\n"
        "allowed-machine-types=pc-q35-*\n"
        "max-ram=64M\n"
        "required-capabilities=return-path\n"
        "forbidden-capabilities=multifd\n"
        "[severity]\n"
        "ramblock-extra=error\n";
    g_autoptr(GError) error = NULL;
    g_autoptr(MpPolicy) p = mp_policy_load_data(text, strlen(text), &error);
    g_autoptr(MpFacts) s = source_pc();
    g_autoptr(MpFacts) d = dest_pc();
    g_autoptr(MpReport) r = NULL;

    g_assert_no_error(error);
    s->multifd_connections = 2;
    mp_facts_set_cap(d, "multifd", true);
    g_ptr_array_remove_index(s->ramblocks, 3);
    r = check(s, d, p);
    g_assert_nonnull(find(r, "policy-machine-type"));
    g_assert_cmpstr(find(r, "policy-ram-size")->destination, ==, "64 MiB (0x4000000)");
    g_assert_cmpstr(find(r, "policy-capability-required")->subject, ==, "return-path");
    g_assert_cmpstr(find(r, "policy-capability-forbidden")->subject, ==, "multifd");
    g_assert_cmpint(find(r, "ramblock-extra")->severity, ==, MP_SEVERITY_ERROR);

    g_assert_null(mp_policy_load_data("[policy]\nmax-ram=lots\n", (gsize)-1, &error));
    g_assert_error(error, MP_POLICY_ERROR, MP_POLICY_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_null(mp_policy_load_data("[severity]\nno-such-code=error\n", (gsize)-1, &error));
    g_assert_nonnull(strstr(error->message, "no-such-code"));
    g_clear_error(&error);
    g_assert_null(mp_policy_load_data("[policy]\ntypo=1\n", (gsize)-1, &error));
}

static void test_pci_paths(void)
{
    g_autoptr(MpFacts) d = dest_pc();
    g_autofree char *device = NULL;

    g_ptr_array_add(d->pci_devices, g_strdup("0000:00:01.0"));
    g_ptr_array_add(d->pci_devices, g_strdup("0000:00:1e.0"));
    g_ptr_array_add(d->pci_devices, g_strdup("0000:00:1e.0:03.0"));
    /* without query-pci facts nothing can be said */
    g_assert_false(mp_facts_lacks_pci_device(d, "0000:00:02.0/virtio-rng", NULL));
    d->has_pci_devices = true;
    g_assert_false(mp_facts_lacks_pci_device(d, "0000:00:01.0/piix3", NULL));
    g_assert_false(mp_facts_lacks_pci_device(d, "0000:00:1e.0:03.0/e1000", NULL));
    g_assert_false(mp_facts_lacks_pci_device(d, "timer", NULL));
    g_assert_false(mp_facts_lacks_pci_device(d, "ram", NULL));
    g_assert_true(mp_facts_lacks_pci_device(d, "0000:00:1e.0:04.0/e1000", &device));
    g_assert_cmpstr(device, ==, "0000:00:1e.0:04.0");
    g_clear_pointer(&device, g_free);
    g_assert_true(mp_facts_lacks_pci_device(d, "0000:00:02.0/virtio-rng", &device));
    g_assert_cmpstr(device, ==, "0000:00:02.0");
}

static void test_late_cpus(void)
{
    g_autoptr(MpFacts) d = dest_pc();
    g_autoptr(MpReport) r = mp_report_new();
    const MpFinding *f;

    g_autoptr(MpReport) guessed = mp_report_new();
    g_autoptr(MpFacts) s = source_pc();
    g_autoptr(MpReport) gate = NULL;

    g_assert_null(mp_check_late_section(d, "cpu_common", 1, true, "here", r));
    d->has_cpus = true;
    d->cpus = 1;
    g_assert_null(mp_check_late_section(d, "cpu", 0, true, "here", r));
    g_assert_null(mp_check_late_section(d, "timer", 3, true, "here", r));
    f = mp_check_late_section(d, "cpu_common", 1, true, "here", r);
    g_assert_nonnull(f);
    g_assert_cmpstr(f->source, ==, "CPU 1");
    g_assert_cmpstr(f->destination, ==, "1 CPU");
    g_assert_cmpint(mp_report_verdict(r), ==, MP_VERDICT_REJECT);
    /* after a guessed boundary: said, never acted on */
    f = mp_check_late_section(d, "cpu_common", 1, false, "here", guessed);
    g_assert_cmpint(f->severity, ==, MP_SEVERITY_WARNING);
    g_assert_cmpint(mp_report_verdict(guessed), ==, MP_VERDICT_ACCEPT);
    /* with the source's QMP facts the gate sees it before anything is sent */
    s->has_cpus = true;
    s->cpus = 2;
    gate = check(s, d, NULL);
    g_assert_cmpstr(find(gate, "cpu-count")->hint, ==, "start the destination with -smp 2");
}

static void test_codes_documented(void)
{
    const char *path = g_getenv("FINDINGS_MD");
    g_autofree char *doc = NULL;

    if (!path) {
        g_test_skip("FINDINGS_MD not set");
        return;
    }
    g_assert_true(g_file_get_contents(path, &doc, NULL, NULL));
    for (const MpFindingCode *c = mp_finding_codes(); c->code; c++) {
        g_autofree char *heading = g_strdup_printf("### `%s`", c->code);

        if (!strstr(doc, heading)) {
            g_test_message("%s is not documented in FINDINGS.md", c->code);
            g_test_fail();
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/policy/info-ramblock", test_info_ramblock);
    g_test_add_func("/policy/profile-round-trip", test_profile_round_trip);
    g_test_add_func("/policy/profile-deep-nesting", test_profile_deep_nesting);
    g_test_add_func("/policy/equal-accepts", test_equal_accepts);
    g_test_add_func("/policy/ram-size", test_ram_size);
    g_test_add_func("/policy/resizable", test_resizable);
    g_test_add_func("/policy/missing-and-extra-blocks", test_missing_and_extra_blocks);
    g_test_add_func("/policy/machine", test_machine);
    g_test_add_func("/policy/ignore-shared", test_ignore_shared);
    g_test_add_func("/policy/multifd", test_multifd);
    g_test_add_func("/policy/postcopy-advise", test_postcopy_advise);
    g_test_add_func("/policy/bad-header", test_bad_header);
    g_test_add_func("/policy/policy-file", test_policy_file);
    g_test_add_func("/policy/pci-paths", test_pci_paths);
    g_test_add_func("/policy/late-cpus", test_late_cpus);
    g_test_add_func("/policy/codes-documented", test_codes_documented);
    return g_test_run();
}
