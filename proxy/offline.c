/*
 * offline.c - `migproxy diff A B` and `migproxy check FILE`: read stream
 * files, captures and profiles, hand them to the policy (diff.c, check.c)
 * and print what it found.  The only part of either command that does I/O.
 *
 * An input's kind is taken from its first bytes: '{' (after any white
 * space) is a profile; a capture's magic is a capture, whose first
 * migration's main connection (source side) is read as a stream, page
 * payloads it left out as zeros; anything else goes to the decoder, which
 * reads QEMU's magic "QEVM" or says what it found instead and at which
 * offset.
 */
#include "offline.h"

#include <stdio.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "check.h"
#include "decoder.h"
#include "dest-sections.h"
#include "device-layout.h"
#include "devices.h"
#include "diff.h"
#include "qmp.h"
#include "stream-file.h"
#include "stream-source.h"
#include "vmconfig.h"
#include "vmstate-dump.h"

/*
 * A saved stream announces only some capabilities (wire-format.md), and
 * neither command talks to the source: say how to see the rest.
 */
#define SAVED_STREAM_CAPS_HINT \
    "compare query-migrate-capabilities of the source and the destination"

#define OFFLINE_CHUNK MP_STREAM_FILE_CHUNK

/*
 * One input of diff or check and the configuration read from it: a stream
 * file, a capture or a profile (stream-source.h).
 */
typedef struct {
    const char *path;
    MpVmConfig *config;
    MpStreamSource *src;        /* a stream file or a capture, else NULL */
} Input;

static void input_clear(Input *in)
{
    g_clear_pointer(&in->config, mp_vmconfig_free);
    g_clear_pointer(&in->src, mp_stream_source_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Input, input_clear)

/* A capture's stream, else NULL. */
static const MpCaptureStream *input_capture(const Input *in)
{
    return in->src ? mp_stream_source_capture(in->src) : NULL;
}

static const char *pages_mode_name(Migcap__PagesMode mode)
{
    switch (mode) {
    case MIGCAP__PAGES_MODE__PAGES_FULL: return "full";
    case MIGCAP__PAGES_MODE__PAGES_HASH: return "hash";
    case MIGCAP__PAGES_MODE__PAGES_NONE: return "none";
    default: return "unknown";
    }
}

/* All of @in's stream into its configuration.  FALSE with @error (offset in it). */
static bool decode_input(Input *in, GError **error)
{
    MigDecoderConfig cfg = { .channel = MIG_CHANNEL_MAIN, .target_page_size = 4096 };
    MpVmConfig *c = in->config;
    MigDecoder *dec = mig_decoder_new(&cfg, mp_vmconfig_stream_event, c);
    g_autoptr(GError) local = NULL;
    MpStreamFileResult rc = mp_stream_source_decode(in->src, dec, OFFLINE_CHUNK, &local);

    if (rc == MP_STREAM_FILE_UNDECODABLE) {
        g_set_error(error, local->domain, local->code, "%s: not a stream migproxy can read: %s",
                    in->path, local->message);
    } else if (rc == MP_STREAM_FILE_IO) {
        g_propagate_error(error, g_steal_pointer(&local));     /* names the file */
    }
    c->certain = mig_decoder_certain(dec);
    mig_decoder_free(dec);
    if (rc == MP_STREAM_FILE_OK) {
        mp_vmconfig_stream_done(c);
    }
    return rc == MP_STREAM_FILE_OK;
}

/* A stream file, a capture or a profile at @in->path; FALSE with @error. */
static bool load_input(Input *in, GError **error)
{
    g_autofree char *note = NULL;

    in->src = mp_stream_source_open(in->path, error);
    if (!in->src) {
        return false;
    }
    if (mp_stream_source_kind(in->src) == MP_STREAM_SOURCE_PROFILE) {
        MpFacts *facts = mp_facts_load(in->path, error);

        g_clear_pointer(&in->src, mp_stream_source_free);
        in->config = facts ? mp_vmconfig_from_facts(facts) : NULL;
        return in->config != NULL;
    }
    note = mp_stream_source_note(in->src);
    if (note) {
        fprintf(stderr, "migproxy: %s\n", note);
    }
    in->config = mp_vmconfig_new(MP_VMCONFIG_STREAM);
    return decode_input(in, error);
}

/*
 * The @len bytes at stream offset @offset of @in.  A capture's left-out
 * page payloads are an error here: these bytes are judged.
 */
static bool input_read(Input *in, uint8_t *buf, size_t len, uint64_t offset, GError **error)
{
    return mp_stream_source_read(in->src, offset, buf, len, error);
}

/*
 * Walk the payloads of the sections whose descriptions hold a field QEMU
 * checks for equality (mp_vmconfig_needs_values()), reading them back from
 * @in: the decoder never keeps a payload, and the description arrives
 * only after them.  At most MIG_LIMIT_DEVICE_STATE bytes in all; a payload
 * the walker cannot read is left out (its fields were still compared by
 * type).  FALSE with @error when the input cannot be read again.
 */
static bool read_values(Input *in, GError **error)
{
    MpVmConfig *c = in->config;
    uint64_t held = 0;

    if (c->kind != MP_VMCONFIG_STREAM || !c->vmdesc) {
        return true;
    }
    for (guint i = 0; i < c->sections->len; i++) {
        const MpSectionRef *s = &g_array_index(c->sections, MpSectionRef, i);
        const MpVmPayload *pl = &g_array_index(c->payloads, MpVmPayload, i);
        g_autofree uint8_t *buf = NULL;
        JsonNode *values;

        if (!mp_vmconfig_needs_values(c, i) || pl->length > MIG_LIMIT_DEVICE_STATE - held) {
            continue;
        }
        held += pl->length;
        buf = g_malloc(pl->length ? (size_t)pl->length : 1);
        if (!input_read(in, buf, (size_t)pl->length, pl->offset, error)) {
            g_prefix_error(error, "section '%s': ", s->idstr);
            return false;
        }
        values = mig_vmstate_walk(mig_vmstate_desc_lookup(c->vmdesc, s->idstr, s->instance),
                                  buf, (size_t)pl->length, pl->offset, NULL);
        if (values) {
            mp_vmconfig_set_values(c, i, values);
        }
    }
    return true;
}

/*
 * Walk the FULL section @s of @in, whose payload is @pl, with @layouts;
 * @walked counts the payload bytes walked so far.  Returns the finding
 * added, or NULL; NULL with @error set when @in cannot be read again.
 */
static const MpFinding *walk_with_layout(Input *in, const MigVmstateDesc *layouts,
                                         const MpSectionRef *s, const MpVmPayload *pl,
                                         const char *where, uint64_t *walked, MpReport *report,
                                         GError **error)
{
    g_autofree uint8_t *buf = NULL;

    if (!pl->complete) {
        return mp_device_layout_unchecked(s->idstr, s->instance, where,
                                          "the input ends before the section does", report);
    }
    /* the proxy holds no more device state than this either */
    if (pl->length > MIG_LIMIT_DEVICE_STATE - *walked) {
        return mp_device_layout_unchecked(s->idstr, s->instance, where,
                                          "the device state is over the limit a hold keeps",
                                          report);
    }
    *walked += pl->length;
    buf = g_malloc(pl->length ? (size_t)pl->length : 1);
    if (!input_read(in, buf, (size_t)pl->length, pl->offset, error)) {
        g_prefix_error(error, "section '%s': ", s->idstr);
        return NULL;
    }
    return mp_check_device_layout(layouts, s->idstr, s->instance, s->version, buf,
                                  (size_t)pl->length, pl->offset, where, report);
}

/*
 * The checks the proxy makes on device state, which it meets only after
 * all of RAM (proxy/devgate.c): each section header against the
 * destination's devices and CPUs and its section list, and, when @dst has
 * layouts, each FULL section sent after RAM's setup walked field by field
 * with the destination's layout, its payload read back from @in.  So a
 * dry run says what the proxy would.  FALSE with @error when @in cannot be
 * read again.
 */
static bool check_device_state(Input *in, const MpFacts *dst, MpReport *report, GError **error)
{
    const MpVmConfig *file = in->config;
    g_autoptr(GHashTable) done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    bool walk = dst->layouts != NULL, ram_setup_sent = false;
    uint64_t walked = 0;

    if (walk && !file->certain) {
        /* a payload's end would be a guess: a walk on it proves nothing */
        mp_device_layout_unchecked("device state", 0, "in the file",
                                   "its section boundaries are not confirmed", report);
        walk = false;
    }
    for (guint i = 0; i < file->sections->len; i++) {
        const MpSectionRef *s = &g_array_index(file->sections, MpSectionRef, i);
        const MpVmPayload *pl = &g_array_index(file->payloads, MpVmPayload, i);
        g_autofree char *where = g_strdup_printf(
            "%s section %u '%s' instance %u, its payload at stream offset %" G_GUINT64_FORMAT,
            mig_section_type_name(s->type), s->section_id, s->idstr, s->instance, pl->offset);
        bool refused = false;

        if (g_hash_table_add(done, g_strdup_printf("%u:%s", s->instance, s->idstr))) {
            const MpFinding *late = mp_check_late_section(dst, s->idstr, s->instance,
                                                          file->certain, where, report);
            const MpFinding *arriving = mp_check_section_arriving(dst, s->idstr, s->instance,
                                                                  s->version, where, report);

            /* the proxy cuts on such a header before it holds the payload */
            refused = (late && late->severity == MP_SEVERITY_ERROR) ||
                      (arriving && arriving->severity == MP_SEVERITY_ERROR);
        }
        if (s->type == QEMU_VM_SECTION_START && strcmp(s->idstr, "ram") == 0) {
            ram_setup_sent = true;
        } else if (walk && ram_setup_sent && !refused && s->type == QEMU_VM_SECTION_FULL) {
            g_autoptr(GError) local = NULL;

            walk_with_layout(in, dst->layouts, s, pl, where, &walked, report, &local);
            if (local) {
                g_propagate_error(error, g_steal_pointer(&local));
                return false;
            }
        }
    }
    return true;
}

/* One line saying what an input is. */
static char *describe(const Input *in)
{
    const MpVmConfig *c = in->config;
    const MpFacts *f = c->facts;
    GString *s = g_string_new(NULL);

    if (input_capture(in)) {
        g_string_append_printf(s, "capture, session %u, %s pages, ",
                               mp_capture_stream_session(input_capture(in)),
                               pages_mode_name(mp_capture_stream_pages(input_capture(in))));
    }
    g_string_append(s, mp_vmconfig_kind_name(c->kind));
    g_string_append_printf(s, ", machine %s", f->machine ? f->machine : "unknown");
    g_string_append_printf(s, ", %u RAM block(s)", f->ramblocks->len);
    if (c->sections) {
        g_string_append_printf(s, ", %u section(s)", c->sections->len);
        if (c->kind == MP_VMCONFIG_PROFILE) {
            g_string_append(s, f->layouts ? ", layouts" : ", no layouts");
        } else {
            g_string_append(s, c->vmdesc ? ", VMDESCRIPTION" : ", no VMDESCRIPTION");
        }
    }
    return g_string_free(s, FALSE);
}

static void add_nullable(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value) {
        json_builder_add_string_value(b, value);
    } else {
        json_builder_add_null_value(b);
    }
}

/* @in NULL: the destination's QMP at @path. */
static void add_input(JsonBuilder *b, const char *member, const char *path, const Input *in)
{
    const MpVmConfig *c = in ? in->config : NULL;

    json_builder_set_member_name(b, member);
    json_builder_begin_object(b);
    add_nullable(b, "path", path);
    add_nullable(b, "kind", c ? mp_vmconfig_kind_name(c->kind) : "qmp");
    if (in && input_capture(in)) {
        json_builder_set_member_name(b, "capture_session");
        json_builder_add_int_value(b, mp_capture_stream_session(input_capture(in)));
        add_nullable(b, "capture_pages",
                     pages_mode_name(mp_capture_stream_pages(input_capture(in))));
    }
    if (c) {
        add_nullable(b, "machine", c->facts->machine);
        json_builder_set_member_name(b, "sections");
        if (c->sections) {
            json_builder_add_int_value(b, c->sections->len);
        } else {
            json_builder_add_null_value(b);
        }
        json_builder_set_member_name(b, "vmdescription");
        json_builder_add_boolean_value(b, c->vmdesc != NULL);
        /* device descriptions: the VMDESCRIPTION, or a profile's layouts */
        json_builder_set_member_name(b, "layouts");
        json_builder_add_boolean_value(b, mp_vmconfig_layouts(c) != NULL);
    }
    json_builder_end_object(b);
}

typedef struct {
    const char *what;           /* "diff" or "check" */
    const char *src_label, *dst_label;   /* "A"/"B", or "file"/"destination" */
    const char *src_member, *dst_member; /* JSON names of the two values */
    const char *src_path, *dst_path;
    const Input *src, *dst;              /* dst NULL for --dest-qmp */
} Output;

static int print_report(const Output *o, const MpReport *r, bool json)
{
    bool ok = mp_report_verdict(r) == MP_VERDICT_ACCEPT;
    guint errors = mp_report_count_severity(r, MP_SEVERITY_ERROR);
    guint warnings = mp_report_count_severity(r, MP_SEVERITY_WARNING);
    guint infos = mp_report_count_severity(r, MP_SEVERITY_INFO);

    if (json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *text = NULL;

        json_builder_begin_object(b);
        add_input(b, o->src_member, o->src_path, o->src);
        add_input(b, o->dst_member, o->dst_path, o->dst);
        json_builder_set_member_name(b, "compatible");
        json_builder_add_boolean_value(b, ok);
        add_nullable(b, "verdict", mp_verdict_name(mp_report_verdict(r)));
        json_builder_set_member_name(b, "errors");
        json_builder_add_int_value(b, errors);
        json_builder_set_member_name(b, "warnings");
        json_builder_add_int_value(b, warnings);
        json_builder_set_member_name(b, "findings");
        json_builder_begin_array(b);
        for (guint i = 0; i < mp_report_count(r); i++) {
            JsonNode *node = json_node_alloc();

            json_node_take_object(json_node_init(node, JSON_NODE_OBJECT),
                                  mp_finding_to_json(mp_report_get(r, i),
                                                     o->src_member, o->dst_member));
            json_builder_add_value(b, node);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        json_generator_set_pretty(gen, TRUE);
        text = json_generator_to_data(gen, NULL);
        printf("%s\n", text);
        return ok ? 0 : 1;
    }
    {
        g_autofree char *ds = describe(o->src);
        g_autofree char *dd = o->dst ? describe(o->dst) : g_strdup("QMP");

        printf("%s: %s (%s)\n", o->src_label, o->src_path, ds);
        printf("%s: %s (%s)\n", o->dst_label, o->dst_path, dd);
    }
    for (guint i = 0; i < mp_report_count(r); i++) {
        const MpFinding *f = mp_report_get(r, i);

        printf("%-7s %s: %s\n", mp_severity_name(f->severity), f->code,
               f->subject ? f->subject : "");
        if (f->source || f->destination) {
            printf("        %s: %s\n        %s: %s\n", o->src_label,
                   f->source ? f->source : "-", o->dst_label,
                   f->destination ? f->destination : "-");
        }
        printf("        %s\n", f->message);
        if (f->hint) {
            printf("        hint: %s\n", f->hint);
        }
    }
    printf("%s: %u error(s), %u warning(s), %u note(s)\n",
           ok ? (strcmp(o->what, "diff") ? "can be restored" : "compatible")
              : (strcmp(o->what, "diff") ? "cannot be restored" : "not compatible"),
           errors, warnings, infos);
    return ok ? 0 : 1;
}

/*
 * --dest-vmstate: @src's section versions and subsections against the
 * destination binary's -dump-vmstate (devices.c), which shows the range
 * of versions it loads where a stream shows only the one it writes.
 */
static bool check_dest_vmstate(const char *what, const char *path, const MpVmConfig *src,
                               MpReport *report)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(MpVmstateDump) dump = NULL;

    if (!path || !src->sections) {
        return true;
    }
    dump = mp_vmstate_dump_load(path, &error);
    if (!dump) {
        fprintf(stderr, "migproxy %s: --dest-vmstate %s: %s\n", what, path, error->message);
        return false;
    }
    mp_check_section_versions(report, src->sections, dump);
    if (src->vmdesc) {
        mp_check_subsections(report, src->sections, src->vmdesc, dump);
    }
    return true;
}

int mp_offline_diff(int argc, char **argv)
{
    gboolean json = FALSE;
    g_autofree char *dest_vmstate = NULL;
    g_autofree char *policy_file = NULL;
    GOptionEntry entries[] = {
        { "json", 'j', 0, G_OPTION_ARG_NONE, &json, "one JSON object", NULL },
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &policy_file,
          "a policy file; its [severity] group changes findings' severities", "FILE" },
        { "dest-vmstate", 0, 0, G_OPTION_ARG_FILENAME, &dest_vmstate,
          "also check A's section versions against B's binary (-dump-vmstate FILE)", "FILE" },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "A B - every difference that matters for migrating from A to B");
    g_autoptr(GError) error = NULL;
    g_auto(Input) a = { 0 };
    g_auto(Input) b = { 0 };
    g_autoptr(MpPolicy) policy = NULL;
    g_autoptr(MpReport) report = NULL;
    Output o = { .what = "diff", .src_label = "A", .dst_label = "B",
                 .src_member = "a", .dst_member = "b" };

    g_option_context_set_description(ctx,
        "A and B are stream files (migrate \"exec:cat > FILE\", file:, mapped-ram),\n"
        "captures (migproxy --capture: the main connection of the first migration in it)\n"
        "or profiles (migproxy probe).  A is the source side, B the destination side.\n"
        "Exit status: 0 compatible, 1 not, 2 usage, I/O or an input that does not decode.\n");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 3) {
        fprintf(stderr, "migproxy diff: %s\n", error ? error->message
                : "usage: migproxy diff [--json] [--dest-vmstate FILE] [--policy FILE] A B");
        return 2;
    }
    if (policy_file && !(policy = mp_policy_load_file(policy_file, &error))) {
        fprintf(stderr, "migproxy diff: --policy %s: %s\n", policy_file, error->message);
        return 2;
    }
    a.path = argv[1];
    b.path = argv[2];
    if (!load_input(&a, &error) || !load_input(&b, &error)) {
        fprintf(stderr, "migproxy diff: %s\n", error->message);
        return 2;
    }
    /* values only matter where both sides carry them */
    if (a.config->vmdesc && b.config->vmdesc &&
        (!read_values(&a, &error) || !read_values(&b, &error))) {
        fprintf(stderr, "migproxy diff: %s\n", error->message);
        return 2;
    }
    report = mp_policy_new_report(policy);
    mp_report_override_hint(report, "source-facts-partial", SAVED_STREAM_CAPS_HINT);
    mp_diff_configs(report, a.config, b.config);
    if (!check_dest_vmstate("diff", dest_vmstate, a.config, report)) {
        return 2;
    }
    o.src_path = argv[1];
    o.dst_path = argv[2];
    o.src = &a;
    o.dst = &b;
    return print_report(&o, report, json);
}

int mp_offline_check(int argc, char **argv)
{
    gboolean json = FALSE;
    g_autofree char *dest_qmp = NULL;
    g_autofree char *dest_profile = NULL;
    g_autofree char *policy_file = NULL;
    g_autofree char *dest_vmstate = NULL;
    gint timeout = 5;
    GOptionEntry entries[] = {
        { "dest-qmp", 0, 0, G_OPTION_ARG_STRING, &dest_qmp,
          "QMP of the destination that would restore the file", "ADDR" },
        { "dest-profile", 0, 0, G_OPTION_ARG_FILENAME, &dest_profile,
          "the destination's profile (migproxy probe)", "FILE" },
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &policy_file,
          "the operator's rules, as for the proxy", "FILE" },
        { "dest-vmstate", 0, 0, G_OPTION_ARG_FILENAME, &dest_vmstate,
          "also check section versions against the destination's -dump-vmstate FILE", "FILE" },
        { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "seconds for each QMP step (default 5)",
          "S" },
        { "json", 'j', 0, G_OPTION_ARG_NONE, &json, "one JSON object", NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "FILE - can this saved VM be restored on that destination?");
    g_autoptr(GError) error = NULL;
    g_auto(Input) file = { 0 };
    g_auto(Input) dst = { 0 };
    g_autoptr(MpFacts) qmp_facts = NULL;
    g_autoptr(MpPolicy) policy = NULL;
    g_autoptr(MpReport) report = NULL;
    const MpFacts *dst_facts;
    Output o = { .what = "check", .src_label = "file", .dst_label = "destination",
                 .src_member = "file", .dst_member = "destination" };

    g_option_context_set_description(ctx,
        "FILE is a stream written with migrate \"exec:cat > FILE\" or file:FILE (mapped-ram\n"
        "files of QEMU 9.0+ included), or a capture of a migration (migproxy --capture,\n"
        "any page mode).  The checks are the ones the proxy makes.\n"
        "Exit status: 0 can be restored, 1 cannot, 2 usage, I/O or a file that does not "
        "decode.\n");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 2 ||
        !dest_qmp == !dest_profile || timeout <= 0) {
        fprintf(stderr, "migproxy check: %s\n", error ? error->message
                : "usage: migproxy check FILE (--dest-qmp ADDR | --dest-profile FILE) "
                  "[--policy FILE] [--dest-vmstate FILE] [--json]");
        return 2;
    }
    if (policy_file && !(policy = mp_policy_load_file(policy_file, &error))) {
        fprintf(stderr, "migproxy check: --policy %s: %s\n", policy_file, error->message);
        return 2;
    }
    file.path = argv[1];
    if (!load_input(&file, &error)) {
        fprintf(stderr, "migproxy check: %s\n", error->message);
        return 2;
    }
    if (file.config->kind != MP_VMCONFIG_STREAM) {
        fprintf(stderr, "migproxy check: %s is a profile, not a saved VM (compare two "
                "configurations with migproxy diff)\n", argv[1]);
        return 2;
    }
    if (dest_profile) {
        dst.path = dest_profile;
        if (!load_input(&dst, &error)) {
            fprintf(stderr, "migproxy check: --dest-profile %s\n", error->message);
            return 2;
        }
        if (dst.config->kind != MP_VMCONFIG_PROFILE) {
            fprintf(stderr, "migproxy check: --dest-profile %s is a stream, not a profile "
                    "(compare two streams with migproxy diff)\n", dest_profile);
            return 2;
        }
        dst_facts = dst.config->facts;
    } else {
        g_autoptr(MpQmp) qmp = mp_qmp_connect(dest_qmp, (guint)timeout, &error);

        if (qmp) {
            qmp_facts = mp_qmp_probe(qmp, MP_FACTS_FROM_QMP, &error);
        }
        if (!qmp_facts) {
            fprintf(stderr, "migproxy check: --dest-qmp %s: %s\n", dest_qmp, error->message);
            return 2;
        }
        dst_facts = qmp_facts;
    }
    report = mp_policy_new_report(policy);
    mp_report_override_hint(report, "source-facts-partial", SAVED_STREAM_CAPS_HINT);
    mp_check_prefix(file.config->facts, dst_facts, policy, report);
    if (!check_device_state(&file, dst_facts, report, &error)) {
        fprintf(stderr, "migproxy check: %s\n", error->message);
        return 2;
    }
    if (!check_dest_vmstate("check", dest_vmstate, file.config, report)) {
        return 2;
    }
    o.src_path = argv[1];
    o.dst_path = dest_profile ? dest_profile : dest_qmp;
    o.src = &file;
    o.dst = dest_profile ? &dst : NULL;
    return print_report(&o, report, json);
}
