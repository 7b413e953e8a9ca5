/*
 * test-devgate.c - the destination's section list in a profile
 * (policy/dest-sections.c) and the device-state gate and hold
 * (proxy/devgate.c), on hand-made facts and events: what each check
 * finds, and when the gate holds, releases and cuts.
 */
#include <glib.h>
#include <string.h>

#include "dest-sections.h"
#include "devgate.h"
#include "protocol.h"

static MpFacts *dst_with_sections(void)
{
    MpFacts *f = mp_facts_new(MP_FACTS_FROM_PROFILE);
    MpSectionRef *s;

    f->machine = g_strdup("pc-i440fx-7.2");
    f->sections = mp_section_list_new();
    mp_section_list_add(f->sections, "ram", 0, 4, 2, QEMU_VM_SECTION_START);
    mp_section_list_add(f->sections, "timer", 0, 2, 0, QEMU_VM_SECTION_FULL);
    mp_section_list_add(f->sections, "cpu_common", 0, 1, 0, QEMU_VM_SECTION_FULL);
    mp_section_list_add(f->sections, "0000:00:00.0/I440FX", 0, 3, 0, QEMU_VM_SECTION_FULL);
    mp_section_list_add(f->sections, "mc146818rtc", 0, 3, 0, QEMU_VM_SECTION_FULL);
    s = &g_array_index(f->sections, MpSectionRef, f->sections->len - 1);
    s->has_range = true;
    s->min_version = 2;
    s->max_version = 3;
    return f;
}

static guint count_code(const MpReport *r, const char *code, MpSeverity *sev)
{
    guint n = 0;

    for (guint i = 0; i < mp_report_count(r); i++) {
        if (strcmp(mp_report_get(r, i)->code, code) == 0) {
            if (sev) {
                *sev = mp_report_get(r, i)->severity;
            }
            n++;
        }
    }
    return n;
}

static void test_profile_round_trip(void)
{
    g_autoptr(MpFacts) f = dst_with_sections();
    g_autofree char *json = mp_facts_to_json(f);
    g_autoptr(GError) err = NULL;
    g_autoptr(MpFacts) back = mp_facts_from_json(json, -1, &err);
    const MpSectionRef *last;

    g_assert_no_error(err);
    g_assert_nonnull(back->sections);
    g_assert_cmpuint(back->sections->len, ==, 5);
    last = &g_array_index(back->sections, MpSectionRef, 4);
    g_assert_cmpstr(last->idstr, ==, "mc146818rtc");
    g_assert_true(last->has_range);
    g_assert_cmpuint(last->min_version, ==, 2);
    g_assert_cmpuint(last->max_version, ==, 3);
    g_assert_false(g_array_index(back->sections, MpSectionRef, 1).has_range);

    /* no list: unknown, not empty */
    {
        g_autoptr(MpFacts) empty = mp_facts_new(MP_FACTS_FROM_QMP);
        g_autofree char *text = mp_facts_to_json(empty);
        g_autoptr(MpFacts) none = mp_facts_from_json(text, -1, &err);

        g_assert_no_error(err);
        g_assert_null(none->sections);
    }
}

/* the members every profile has, before "sections" */
#define P "{\"migproxy_profile\":1,\"capabilities\":{},\"parameters\":{},\"ramblocks\":[],"

static void test_profile_malformed(void)
{
    static const char *const bad[] = {
        P "\"sections\":{}}",
        P "\"sections\":[{\"idstr\":\"a\",\"instance\":0}]}",
        P "\"sections\":[{\"idstr\":\"a\",\"instance\":0,\"version\":1,"
        "\"minimum_version\":1}]}",
        P "\"sections\":[{\"idstr\":\"a\",\"instance\":0,\"version\":1,"
        "\"minimum_version\":3,\"maximum_version\":2}]}",
        P "\"sections\":[{\"idstr\":\"a\",\"instance\":-1,\"version\":1}]}",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(MpFacts) f = mp_facts_from_json(bad[i], -1, &err);

        g_assert_null(f);
        g_assert_nonnull(err);
    }
}

/* A destination with its section list and the layout of one 8-byte "timer" section. */
static MpFacts *dst_with_timer_layout(void)
{
    static const char vmdesc[] =
        "{\"devices\":[{\"name\":\"timer\",\"instance_id\":0,\"vmsd_name\":\"timer\","
        "\"version\":1,\"fields\":[{\"name\":\"t\",\"type\":\"int64\",\"size\":8}]}]}";
    MpFacts *f = dst_with_sections();
    g_autoptr(GError) err = NULL;

    f->layouts = mig_vmstate_desc_parse(vmdesc, strlen(vmdesc), &err);
    g_assert_no_error(err);
    return f;
}

/* "layouts": a reference VMDESCRIPTION kept in the profile, read back whole */
static void test_profile_layouts(void)
{
    static const char vmdesc[] =
        "{\"page_size\":4096,\"devices\":[{\"name\":\"timer\",\"instance_id\":0,"
        "\"vmsd_name\":\"timer\",\"version\":2,\"fields\":[{\"name\":\"t\","
        "\"type\":\"int64\",\"size\":8}]}]}";
    static const char *const bad[] = {
        P "\"layouts\":[]}",
        P "\"layouts\":{\"devices\":{}}}",
        P "\"layouts\":{\"devices\":[{\"name\":\"a\"}]}}",
        P "\"layouts\":{\"devices\":[{\"name\":7,\"instance_id\":0}]}}",
    };
    static const uint8_t payload[8] = { 0, 0, 0, 0, 0, 0, 0, 9 };
    g_autoptr(MpFacts) f = dst_with_sections();
    g_autoptr(MpFacts) back = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) v = NULL;
    g_autofree char *json = NULL;
    JsonObject *timer;

    f->layouts = mig_vmstate_desc_parse(vmdesc, strlen(vmdesc), &err);
    g_assert_no_error(err);
    json = mp_facts_to_json(f);
    back = mp_facts_from_json(json, -1, &err);
    g_assert_no_error(err);
    g_assert_nonnull(back->layouts);
    g_assert_cmpuint(mig_vmstate_desc_page_size(back->layouts), ==, 4096);
    timer = mig_vmstate_desc_lookup(back->layouts, "timer", 0);
    g_assert_nonnull(timer);
    v = mig_vmstate_walk_foreign(timer, 2, payload, sizeof(payload), 0, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(v), "t"), ==,
                    "0x0000000000000009");
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;
        g_autoptr(MpFacts) b = mp_facts_from_json(bad[i], -1, &e);

        g_assert_null(b);
        g_assert_error(e, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE);
    }
}

static void test_apply_dump(void)
{
    static const char dump_text[] =
        "{\"vmschkmachine\":{\"Name\":\"pc-i440fx-7.2\"},"
        "\"mc146818rtc\":{\"Description\":{\"name\":\"mc146818rtc\",\"version_id\":3,"
          "\"minimum_version_id\":1}},"
        "\"ne2k_pci\":{\"Description\":{\"name\":\"ne2000\",\"version_id\":3,"
          "\"minimum_version_id\":3}},"
        "\"ne2k_isa\":{\"Description\":{\"name\":\"ne2000\",\"version_id\":3,"
          "\"minimum_version_id\":0}}}";
    g_autoptr(GError) err = NULL;
    g_autoptr(MpVmstateDump) dump = mp_vmstate_dump_parse(dump_text, strlen(dump_text), &err);
    g_autoptr(GArray) list = mp_section_list_new();

    g_assert_no_error(err);
    mp_section_list_add(list, "mc146818rtc", 0, 3, 1, QEMU_VM_SECTION_FULL);
    mp_section_list_add(list, "0000:00:03.0/ne2000", 0, 3, 2, QEMU_VM_SECTION_FULL);
    mp_section_list_add(list, "timer", 0, 2, 3, QEMU_VM_SECTION_FULL);
    g_assert_cmpuint(mp_sections_apply_dump(list, dump), ==, 1);
    g_assert_true(g_array_index(list, MpSectionRef, 0).has_range);
    g_assert_cmpuint(g_array_index(list, MpSectionRef, 0).min_version, ==, 1);
    /* two types share "ne2000" with different minimums: no range */
    g_assert_false(g_array_index(list, MpSectionRef, 1).has_range);
    g_assert_false(g_array_index(list, MpSectionRef, 2).has_range);
}

static void test_arriving(void)
{
    g_autoptr(MpFacts) dst = dst_with_sections();
    g_autoptr(MpReport) r = mp_report_new();

    g_assert_null(mp_check_section_arriving(dst, "timer", 0, 2, "here", r));
    g_assert_cmpstr(mp_check_section_arriving(dst, "cpu_common", 1, 1, "here", r)->code, ==,
                    "device-missing");
    g_assert_cmpstr(mp_check_section_arriving(dst, "timer", 0, 3, "here", r)->code, ==,
                    "device-version-newer");
    g_assert_cmpstr(mp_check_section_arriving(dst, "mc146818rtc", 0, 1, "here", r)->code, ==,
                    "section-version-too-old");
    g_assert_null(mp_check_section_arriving(dst, "mc146818rtc", 0, 2, "here", r));
    g_assert_cmpuint(mp_report_count(r), ==, 3);
    /* no list: nothing to say */
    g_clear_pointer(&dst->sections, g_array_unref);
    g_assert_null(mp_check_section_arriving(dst, "anything", 7, 1, "here", r));
}

static void test_at_start(void)
{
    g_autoptr(MpFacts) dst = dst_with_sections();
    g_autoptr(MpFacts) src = mp_facts_new(MP_FACTS_FROM_QMP);
    g_autoptr(MpReport) r = mp_report_new();

    src->has_pci_devices = true;
    g_ptr_array_add(src->pci_devices, g_strdup("0000:00:00.0"));
    g_ptr_array_add(src->pci_devices, g_strdup("0000:00:03.0"));
    src->has_cpus = true;
    src->cpus = 2;
    g_assert_cmpuint(mp_check_sections_at_start(src, dst, NULL, r), ==, 2);
    g_assert_cmpstr(mp_report_get(r, 0)->subject, ==, "0000:00:03.0");
    g_assert_cmpstr(mp_report_get(r, 1)->subject, ==, "cpu_common");

    /* what pci-device-missing and cpu-count said already is not repeated */
    {
        g_autoptr(MpReport) r2 = mp_report_new();

        mp_report_add(r2, "pci-device-missing", "0000:00:03.0", NULL, NULL, NULL, "x");
        mp_report_add(r2, "cpu-count", "CPUs", NULL, NULL, NULL, "x");
        g_assert_cmpuint(mp_check_sections_at_start(src, dst, NULL, r2), ==, 0);
    }
    /* a source list: the whole set */
    {
        g_autoptr(MpReport) r3 = mp_report_new();
        g_autoptr(GArray) s = mp_section_list_new();

        mp_section_list_add(s, "timer", 0, 2, 0, QEMU_VM_SECTION_FULL);
        mp_section_list_add(s, "isa-serial", 0, 3, 0, QEMU_VM_SECTION_FULL);
        mp_check_sections_at_start(src, dst, s, r3);
        g_assert_cmpuint(count_code(r3, "device-missing", NULL), ==, 1);
        g_assert_cmpuint(count_code(r3, "device-extra", NULL), ==, 4);
    }
}

/* ---- the gate */

typedef struct {
    guint emitted;
} Sink;

static void on_emit(const MpFinding *f, void *opaque)
{
    ((Sink *)opaque)->emitted++;
}

static uint64_t offset;

static void section(MpDevGate *g, uint8_t type, const char *idstr, uint32_t instance,
                    uint32_t id, bool certain)
{
    MigEvent ev = { .type = MIG_EV_SECTION, .offset = offset, .end = offset + 20,
                    .certain = certain };

    ev.u.section.type = type;
    ev.u.section.idstr = idstr;
    ev.u.section.instance_id = instance;
    ev.u.section.version_id = 1;
    ev.u.section.section_id = id;
    offset += 100;
    mp_devgate_event(g, &ev);
}

static void simple(MpDevGate *g, MigEventType type, bool certain)
{
    MigEvent ev = { .type = type, .offset = offset, .end = offset + 1, .certain = certain };

    mp_devgate_event(g, &ev);
}

static void checked(MpDevGate *g, guint scanned, guint confirmed)
{
    MigEvent ev = { .type = MIG_EV_BOUNDARIES_CHECKED, .offset = offset, .end = offset };

    ev.u.check.scanned_sections = scanned;
    ev.u.check.confirmed = confirmed;
    ev.u.check.mismatched = scanned - confirmed;
    mp_devgate_event(g, &ev);
}

/* the RAM setup: START ram, its end */
static void ram_setup(MpDevGate *g)
{
    MigEvent end = { .type = MIG_EV_SECTION_END, .certain = true };

    section(g, QEMU_VM_SECTION_START, "ram", 0, 2, true);
    end.u.section.section_id = 2;
    mp_devgate_event(g, &end);
}

static void test_hold_all_released(void)
{
    g_autoptr(MpFacts) dst = dst_with_sections();
    g_autoptr(MpFacts) src = mp_facts_new(MP_FACTS_FROM_STREAM);
    g_autoptr(MpReport) r = mp_report_new();
    Sink sink = { 0 };
    MpDevGate *g = mp_devgate_new(true, NULL, on_emit, &sink);
    guint8 chunk[64] = { 0 };
    g_autoptr(GByteArray) held = NULL;
    uint64_t from, from_end, bytes;
    gint64 start;
    bool certain;

    ram_setup(g);
    mp_devgate_gate(g, src, dst, NULL, 0, r);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_PASS);
    section(g, QEMU_VM_SECTION_FULL, "timer", 0, 3, true);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_HOLD);
    mp_devgate_keep(g, chunk, sizeof(chunk));
    section(g, QEMU_VM_SECTION_FULL, "cpu_common", 0, 4, false);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_HOLD);
    mp_devgate_keep(g, chunk, sizeof(chunk));
    simple(g, MIG_EV_EOF, false);           /* guessed: wait for the VMDESCRIPTION */
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_HOLD);
    checked(g, 1, 1);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_RELEASE);
    mp_devgate_keep(g, chunk, 10);
    held = mp_devgate_take_held(g);
    g_assert_cmpuint(held->len, ==, 2 * sizeof(chunk) + 10);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_PASS);
    g_assert_true(mp_devgate_hold_info(g, &from, &from_end, &start, &bytes, &certain));
    g_assert_true(certain);
    g_assert_cmpuint(sink.emitted, ==, 0);
    mp_devgate_free(g);
}

static void test_suspicion_cut_or_release(gconstpointer data)
{
    bool confirmed = GPOINTER_TO_INT(data);
    g_autoptr(MpFacts) dst = dst_with_sections();
    g_autoptr(MpFacts) src = mp_facts_new(MP_FACTS_FROM_STREAM);
    g_autoptr(MpReport) r = mp_report_new();
    Sink sink = { 0 };
    MpDevGate *g = mp_devgate_new(false, NULL, on_emit, &sink);
    MpSeverity sev;

    ram_setup(g);
    mp_devgate_gate(g, src, dst, NULL, 0, r);
    section(g, QEMU_VM_SECTION_FULL, "timer", 0, 3, true);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_PASS);   /* nothing held: all is well */
    section(g, QEMU_VM_SECTION_FULL, "cpu_common", 0, 4, false);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_PASS);
    section(g, QEMU_VM_SECTION_FULL, "cpu_common", 1, 5, false);  /* not at the destination */
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_HOLD);
    g_assert_cmpuint(sink.emitted, ==, 0);                      /* not yet: a guess */
    simple(g, MIG_EV_EOF, false);
    checked(g, 2, confirmed ? 2 : 1);
    g_assert_cmpint(mp_devgate_poll(g), ==, confirmed ? MP_DEVGATE_CUT : MP_DEVGATE_RELEASE);
    g_assert_cmpuint(count_code(r, "device-missing", &sev), ==, 1);
    g_assert_cmpint(sev, ==, confirmed ? MP_SEVERITY_ERROR : MP_SEVERITY_WARNING);
    g_assert_cmpuint(sink.emitted, ==, 1);
    if (confirmed) {
        g_assert_nonnull(strstr(mp_devgate_cut_reason(g), "cpu_common"));
    }
    mp_devgate_free(g);
}

static void test_certain_header_cuts_at_once(void)
{
    g_autoptr(MpFacts) dst = dst_with_sections();
    g_autoptr(MpFacts) src = mp_facts_new(MP_FACTS_FROM_STREAM);
    g_autoptr(MpReport) r = mp_report_new();
    MpDevGate *g = mp_devgate_new(false, NULL, NULL, NULL);

    ram_setup(g);
    mp_devgate_gate(g, src, dst, NULL, 0, r);
    section(g, QEMU_VM_SECTION_FULL, "0000:00:05.0/virtio-rng", 0, 3, true);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_CUT);
    mp_devgate_free(g);
}

/* Postcopy: the PACKAGED blob is held whole and judged at its end, whose
 * length confirms the boundaries found in it. */
static void test_package(gconstpointer data)
{
    bool bad = GPOINTER_TO_INT(data);
    g_autoptr(MpFacts) dst = dst_with_sections();
    g_autoptr(MpFacts) src = mp_facts_new(MP_FACTS_FROM_STREAM);
    g_autoptr(MpReport) r = mp_report_new();
    Sink sink = { 0 };
    MpDevGate *g = mp_devgate_new(false, NULL, on_emit, &sink);
    MpSeverity sev;

    ram_setup(g);
    mp_devgate_gate(g, src, dst, NULL, 0, r);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_PASS);
    simple(g, MIG_EV_PACKAGED_BEGIN, true);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_HOLD);
    section(g, QEMU_VM_SECTION_FULL, "timer", 0, 3, true);
    section(g, QEMU_VM_SECTION_FULL, "cpu_common", bad ? 1 : 0, 4, false);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_HOLD);
    g_assert_cmpuint(sink.emitted, ==, 0);
    simple(g, MIG_EV_PACKAGED_END, false);
    g_assert_cmpint(mp_devgate_poll(g), ==, bad ? MP_DEVGATE_CUT : MP_DEVGATE_RELEASE);
    g_assert_cmpuint(count_code(r, "device-missing", &sev), ==, bad ? 1 : 0);
    if (bad) {
        g_assert_cmpint(sev, ==, MP_SEVERITY_ERROR);
    }
    mp_devgate_free(g);
}


/* A FULL section header at @at whose payload starts 10 bytes later, and its end. */
static void full_at(MpDevGate *g, const char *idstr, uint32_t id, uint64_t at, uint64_t len)
{
    MigEvent ev = { .type = MIG_EV_SECTION, .offset = at, .end = at + 10, .certain = false };
    MigEvent end = { .type = MIG_EV_SECTION_END, .offset = at + 10 + len,
                     .end = at + 10 + len + 5 };

    ev.u.section.type = QEMU_VM_SECTION_FULL;
    ev.u.section.idstr = idstr;
    ev.u.section.version_id = 1;
    ev.u.section.section_id = id;
    mp_devgate_event(g, &ev);
    end.u.section.type = QEMU_VM_SECTION_FULL;
    end.u.section.section_id = id;
    end.u.section.payload_length = len;
    end.u.section.scanned = true;
    mp_devgate_event(g, &end);
}

/*
 * --hold-device-state with the destination's layouts: at the hold's end
 * every FULL section held is walked by them.  0: fits; 1: one byte too
 * many for the timer's layout (cut, device-layout); 2: fits, and a
 * section without a layout is an info finding only; 3: as 1, with a
 * policy that makes device-layout a warning (released).
 */
static void test_layout_walk(gconstpointer data)
{
    int mode = GPOINTER_TO_INT(data);
    g_autoptr(MpFacts) dst = dst_with_timer_layout();
    g_autoptr(MpFacts) src = mp_facts_new(MP_FACTS_FROM_STREAM);
    static const char lenient[] = "[severity]\ndevice-layout=warning\n";
    g_autoptr(MpPolicy) policy = mode == 3 ? mp_policy_load_data(lenient, strlen(lenient), NULL)
                                           : NULL;
    g_autoptr(MpReport) r = policy ? mp_policy_new_report(policy) : mp_report_new();
    Sink sink = { 0 };
    MpDevGate *g = mp_devgate_new(true, policy, on_emit, &sink);
    guint8 chunk[64] = { 0 };
    bool bad = mode == 1 || mode == 3;
    MpSeverity sev;

    g_assert_true(mode != 3 || policy);
    ram_setup(g);
    mp_devgate_gate(g, src, dst, NULL, 0, r);
    mp_devgate_fed(g, 1000);                    /* RAM: forwarded, not held */
    mp_devgate_fed(g, sizeof(chunk));           /* 1000..1064: the timer */
    full_at(g, "timer", 3, 1000, bad ? 9 : 8);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_HOLD);
    mp_devgate_keep(g, chunk, sizeof(chunk));
    mp_devgate_fed(g, sizeof(chunk));           /* 1064..1128: the rest */
    if (mode == 2) {
        full_at(g, "cpu_common", 4, 1064, 12);
    }
    simple(g, MIG_EV_EOF, false);
    checked(g, mode == 2 ? 2 : 1, mode == 2 ? 2 : 1);
    if (mode == 2) {
        /* resolved, but cpu_common's payload is in the chunk not yet kept */
        g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_HOLD);
        g_assert_cmpuint(mp_report_count(r), ==, 0);
        mp_devgate_keep(g, chunk, sizeof(chunk));
    }
    g_assert_cmpint(mp_devgate_poll(g), ==, mode == 1 ? MP_DEVGATE_CUT : MP_DEVGATE_RELEASE);
    g_assert_cmpuint(count_code(r, "device-layout", &sev), ==, bad ? 1 : 0);
    if (mode == 3) {
        g_assert_cmpint(sev, ==, MP_SEVERITY_WARNING);
    }
    if (mode == 1) {
        g_assert_cmpint(sev, ==, MP_SEVERITY_ERROR);
        g_assert_nonnull(strstr(mp_devgate_cut_reason(g), "timer does not fit"));
        g_assert_nonnull(strstr(mp_devgate_cut_reason(g), "offset 1018"));
        g_assert_nonnull(strstr(mp_devgate_cut_reason(g), "Missing section footer"));
    }
    g_assert_cmpuint(count_code(r, "device-layout-unchecked", &sev), ==, mode == 2 ? 1 : 0);
    if (mode == 2) {
        g_assert_cmpint(sev, ==, MP_SEVERITY_INFO);
    }
    g_assert_cmpuint(sink.emitted, ==, mp_report_count(r));
    mp_devgate_free(g);
}


/* Postcopy: the FULL sections inside the held PACKAGED blob are walked at its end. */
static void test_layout_package(gconstpointer data)
{
    bool bad = GPOINTER_TO_INT(data);
    g_autoptr(MpFacts) dst = dst_with_timer_layout();
    g_autoptr(MpFacts) src = mp_facts_new(MP_FACTS_FROM_STREAM);
    g_autoptr(MpReport) r = mp_report_new();
    MpDevGate *g = mp_devgate_new(false, NULL, NULL, NULL);
    MigEvent begin = { .type = MIG_EV_PACKAGED_BEGIN, .offset = 990, .end = 1000,
                       .certain = true };
    MigEvent end = { .type = MIG_EV_PACKAGED_END, .offset = 1040, .end = 1040,
                     .certain = true };
    MigEvent sec = { .type = MIG_EV_SECTION, .offset = 1000, .end = 1010, .certain = true };
    MigEvent send = { .type = MIG_EV_SECTION_END, .offset = 1018, .end = 1023 };
    guint8 chunk[64] = { 0 };

    ram_setup(g);
    mp_devgate_gate(g, src, dst, NULL, 0, r);
    mp_devgate_fed(g, 990 + sizeof(chunk));     /* 990..1054: the whole blob */
    mp_devgate_event(g, &begin);
    sec.u.section.type = QEMU_VM_SECTION_FULL;
    sec.u.section.idstr = "timer";
    sec.u.section.version_id = 1;
    sec.u.section.section_id = 3;
    sec.u.section.in_packaged = true;
    mp_devgate_event(g, &sec);
    send.u.section.type = QEMU_VM_SECTION_FULL;
    send.u.section.section_id = 3;
    send.u.section.payload_length = bad ? 7 : 8;
    send.u.section.in_packaged = true;
    mp_devgate_event(g, &send);
    mp_devgate_event(g, &end);
    /* the chunk holding the blob is not kept yet: wait for it */
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_HOLD);
    mp_devgate_keep(g, chunk, sizeof(chunk));
    g_assert_cmpint(mp_devgate_poll(g), ==, bad ? MP_DEVGATE_CUT : MP_DEVGATE_RELEASE);
    g_assert_cmpuint(count_code(r, "device-layout", NULL), ==, bad ? 1 : 0);
    if (bad) {
        g_assert_nonnull(strstr(mp_devgate_cut_reason(g), "runs past the payload's end"));
    }
    mp_devgate_free(g);
}

static void test_over_limit(gconstpointer data)
{
    bool as_error = GPOINTER_TO_INT(data);
    g_autoptr(MpFacts) dst = dst_with_sections();
    g_autoptr(MpFacts) src = mp_facts_new(MP_FACTS_FROM_STREAM);
    g_autoptr(MpReport) r = mp_report_new();
    g_autoptr(MpPolicy) policy = NULL;
    g_autoptr(GError) err = NULL;
    MpDevGate *g;
    g_autofree guint8 *chunk = g_malloc0(1024 * 1024);
    MpSeverity sev;
    MpDevGateAction a = MP_DEVGATE_HOLD;

    const char *text = as_error ? "[severity]\ndevice-state-over-limit=error\n" : "";

    policy = mp_policy_load_data(text, strlen(text), &err);
    g_assert_no_error(err);
    g_clear_pointer(&r, mp_report_free);
    r = mp_policy_new_report(policy);
    g = mp_devgate_new(true, policy, NULL, NULL);
    ram_setup(g);
    mp_devgate_gate(g, src, dst, NULL, 0, r);
    section(g, QEMU_VM_SECTION_FULL, "timer", 0, 3, true);
    for (guint i = 0; i < 10 && a == MP_DEVGATE_HOLD; i++) {
        mp_devgate_keep(g, chunk, 1024 * 1024);
        a = mp_devgate_poll(g);
    }
    g_assert_cmpint(a, ==, as_error ? MP_DEVGATE_CUT : MP_DEVGATE_RELEASE);
    g_assert_cmpuint(count_code(r, "device-state-over-limit", &sev), ==, 1);
    g_assert_cmpint(sev, ==, as_error ? MP_SEVERITY_ERROR : MP_SEVERITY_WARNING);
    mp_devgate_free(g);
}

static void test_with_the_prefix(void)
{
    g_autoptr(MpFacts) dst = dst_with_sections();
    g_autoptr(MpFacts) src = mp_facts_new(MP_FACTS_FROM_STREAM);
    g_autoptr(MpReport) r = mp_report_new();
    MpDevGate *g = mp_devgate_new(false, NULL, NULL, NULL);

    /* a small guest: the device state arrives before the verdict */
    ram_setup(g);
    g_assert_false(mp_devgate_pending(g));
    section(g, QEMU_VM_SECTION_FULL, "timer", 0, 3, true);
    section(g, QEMU_VM_SECTION_FULL, "cpu_common", 1, 4, false);
    g_assert_true(mp_devgate_pending(g));       /* the verdict waits for its end */
    simple(g, MIG_EV_EOF, false);
    checked(g, 1, 1);
    g_assert_false(mp_devgate_pending(g));
    mp_devgate_gate(g, src, dst, NULL, 0, r);
    g_assert_cmpint(mp_report_verdict(r), ==, MP_VERDICT_REJECT);
    g_assert_cmpuint(count_code(r, "device-missing", NULL), ==, 1);
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_PASS);
    mp_devgate_free(g);
}


/* The device state came with the prefix: walked with the layouts at the gate. */
static void test_layout_with_the_prefix(gconstpointer data)
{
    bool bad = GPOINTER_TO_INT(data);
    g_autoptr(MpFacts) dst = dst_with_timer_layout();
    g_autoptr(MpFacts) src = mp_facts_new(MP_FACTS_FROM_STREAM);
    g_autoptr(MpReport) r = mp_report_new();
    Sink sink = { 0 };
    MpDevGate *g = mp_devgate_new(false, NULL, on_emit, &sink);
    guint8 prefix[1100] = { 'Q', 'E', 'V', 'M' };   /* the stream from its first byte */

    ram_setup(g);
    full_at(g, "timer", 3, 1000, bad ? 9 : 8);
    simple(g, MIG_EV_EOF, false);
    checked(g, 1, 1);
    mp_devgate_gate(g, src, dst, prefix, sizeof(prefix), r);
    g_assert_cmpint(mp_report_verdict(r), ==, bad ? MP_VERDICT_REJECT : MP_VERDICT_ACCEPT);
    g_assert_cmpuint(count_code(r, "device-layout", NULL), ==, bad ? 1 : 0);
    g_assert_cmpuint(sink.emitted, ==, 0);      /* the caller emits the gate's report */
    g_assert_cmpint(mp_devgate_poll(g), ==, MP_DEVGATE_PASS);
    mp_devgate_free(g);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dest-sections/profile-round-trip", test_profile_round_trip);
    g_test_add_func("/dest-sections/profile-malformed", test_profile_malformed);
    g_test_add_func("/dest-sections/profile-layouts", test_profile_layouts);
    g_test_add_func("/dest-sections/apply-dump", test_apply_dump);
    g_test_add_func("/dest-sections/arriving", test_arriving);
    g_test_add_func("/dest-sections/at-start", test_at_start);
    g_test_add_func("/devgate/hold-all-released", test_hold_all_released);
    g_test_add_data_func("/devgate/layout-fits", GINT_TO_POINTER(0), test_layout_walk);
    g_test_add_data_func("/devgate/layout-does-not-fit", GINT_TO_POINTER(1), test_layout_walk);
    g_test_add_data_func("/devgate/layout-unknown-section", GINT_TO_POINTER(2),
                         test_layout_walk);
    g_test_add_data_func("/devgate/layout-policy-warning", GINT_TO_POINTER(3),
                         test_layout_walk);
    g_test_add_data_func("/devgate/layout-package-fits", GINT_TO_POINTER(0),
                         test_layout_package);
    g_test_add_data_func("/devgate/layout-package-does-not-fit", GINT_TO_POINTER(1),
                         test_layout_package);
    g_test_add_data_func("/devgate/suspicion-confirmed-cut", GINT_TO_POINTER(1),
                         test_suspicion_cut_or_release);
    g_test_add_data_func("/devgate/suspicion-unconfirmed-released", GINT_TO_POINTER(0),
                         test_suspicion_cut_or_release);
    g_test_add_func("/devgate/certain-header-cuts", test_certain_header_cuts_at_once);
    g_test_add_data_func("/devgate/over-limit-warning", GINT_TO_POINTER(0), test_over_limit);
    g_test_add_data_func("/devgate/over-limit-error", GINT_TO_POINTER(1), test_over_limit);
    g_test_add_func("/devgate/with-the-prefix", test_with_the_prefix);
    g_test_add_data_func("/devgate/layout-with-the-prefix-fits", GINT_TO_POINTER(0),
                         test_layout_with_the_prefix);
    g_test_add_data_func("/devgate/layout-with-the-prefix-does-not-fit", GINT_TO_POINTER(1),
                         test_layout_with_the_prefix);
    g_test_add_data_func("/devgate/package-cut", GINT_TO_POINTER(1), test_package);
    g_test_add_data_func("/devgate/package-released", GINT_TO_POINTER(0), test_package);
    return g_test_run();
}
