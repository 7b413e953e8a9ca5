/*
 * dest-sections.c - the device-section list of a profile: read from a
 * stream file, ranged from -dump-vmstate, stored as JSON, and checked at
 * the gate and at the switchover (see dest-sections.h for why).
 */
#include "dest-sections.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "decoder.h"
#include "stream-file.h"

typedef struct {
    GArray *sections;
    GHashTable *seen;           /* "instance:idstr" */
    char *machine;
    guint mismatched;
    GByteArray *vmdesc;         /* NULL: not wanted */
    bool has_vmdesc;
} StreamRead;

static void on_stream_event(const MigEvent *ev, void *opaque)
{
    StreamRead *r = opaque;

    if (ev->type == MIG_EV_CONFIGURATION && !r->machine) {
        r->machine = g_strdup(ev->u.config.machine);
    } else if (ev->type == MIG_EV_SECTION && ev->u.section.idstr &&
               (ev->u.section.type == QEMU_VM_SECTION_START ||
                ev->u.section.type == QEMU_VM_SECTION_FULL)) {
        char *key = g_strdup_printf("%u:%s", ev->u.section.instance_id, ev->u.section.idstr);

        if (g_hash_table_add(r->seen, key)) {
            mp_section_list_add(r->sections, ev->u.section.idstr, ev->u.section.instance_id,
                                ev->u.section.version_id, ev->u.section.section_id,
                                ev->u.section.type);
        }
    } else if (ev->type == MIG_EV_BOUNDARIES_CHECKED) {
        r->mismatched += ev->u.check.mismatched;
    } else if (ev->type == MIG_EV_VMDESC && r->vmdesc) {
        /* the decoder holds at most MIG_LIMIT_VMDESC bytes of it */
        g_byte_array_set_size(r->vmdesc, 0);
        g_byte_array_append(r->vmdesc, (const guint8 *)ev->u.vmdesc.json,
                            ev->u.vmdesc.length);
        r->has_vmdesc = true;
    }
}

typedef struct {
    int fd;
    const char *path;
} FileFeed;

static bool feed_file(MigDecoder *dec, void *opaque, GError **error)
{
    FileFeed *f = opaque;

    return mp_stream_file_decode(f->fd, f->path, dec, MP_STREAM_FILE_CHUNK, error) ==
           MP_STREAM_FILE_OK;
}

/*
 * The section list of the stream @feed gives (@name in messages), also its
 * VMDESCRIPTION into *@vmdesc when not NULL (NULL: none).
 */
static GArray *read_stream(const char *name, MpStreamFeedFn feed, void *opaque, char **machine,
                           GByteArray **vmdesc, GError **error)
{
    MigDecoderConfig cfg = { .channel = MIG_CHANNEL_MAIN, .target_page_size = 4096 };
    StreamRead r = { .vmdesc = vmdesc ? g_byte_array_new() : NULL };
    MigDecoder *dec;
    bool ok;

    r.sections = mp_section_list_new();
    r.seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    dec = mig_decoder_new(&cfg, on_stream_event, &r);
    ok = feed(dec, opaque, error);
    mig_decoder_free(dec);
    g_hash_table_destroy(r.seen);
    if (ok && r.mismatched) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s: %u section boundaries disagree with the stream's VMDESCRIPTION; "
                    "its section list cannot be trusted", name, r.mismatched);
        ok = false;
    }
    if (ok && r.sections->len == 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: no section", name);
        ok = false;
    }
    if (!ok) {
        if (error && *error && !g_str_has_prefix((*error)->message, name)) {
            g_prefix_error(error, "%s: ", name);
        }
        g_array_free(r.sections, TRUE);
        g_free(r.machine);
        if (r.vmdesc) {
            g_byte_array_unref(r.vmdesc);
        }
        return NULL;
    }
    if (machine) {
        *machine = r.machine;
    } else {
        g_free(r.machine);
    }
    if (vmdesc) {
        *vmdesc = r.has_vmdesc ? r.vmdesc : NULL;
        if (!r.has_vmdesc) {
            g_byte_array_unref(r.vmdesc);
        }
    }
    return r.sections;
}

/* The same for the stream file at @path, refused when larger than the limit. */
static GArray *read_stream_file(const char *path, char **machine, GByteArray **vmdesc,
                                GError **error)
{
    FileFeed f = { .path = path };
    struct stat st;
    GArray *list;

    f.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f.fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", path,
                    g_strerror(errno));
        return NULL;
    }
    if (fstat(f.fd, &st) == 0 && (uint64_t)st.st_size > MP_LIMIT_SECTIONS_STREAM) {
        close(f.fd);
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s: larger than %llu bytes, not read", path,
                    (unsigned long long)MP_LIMIT_SECTIONS_STREAM);
        return NULL;
    }
    list = read_stream(path, feed_file, &f, machine, vmdesc, error);
    close(f.fd);
    return list;
}

GArray *mp_sections_from_stream_file(const char *path, char **machine, GError **error)
{
    return read_stream_file(path, machine, NULL, error);
}

/*
 * The layouts of a profile from the stream's VMDESCRIPTION.  One level
 * less than the decoder's nesting limit: the profile adds one around it
 * and its reader has the same limit.
 */
static MigVmstateDesc *layouts_of(const char *path, const GByteArray *vmdesc, GError **error)
{
    g_autoptr(GError) err = NULL;
    MigVmstateDesc *d;

    if (!mig_json_nesting_ok((const char *)vmdesc->data, vmdesc->len,
                             MIG_LIMIT_JSON_DEPTH - 1)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s: VMDESCRIPTION nests deeper than %u levels: a profile could not "
                    "be read back with it", path, MIG_LIMIT_JSON_DEPTH - 1);
        return NULL;
    }
    d = mig_vmstate_desc_parse((const char *)vmdesc->data, vmdesc->len, &err);
    if (!d) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", path, err->message);
    }
    return d;
}

guint mp_sections_apply_dump(GArray *sections, const MpVmstateDump *dump)
{
    guint ranged = 0;

    for (guint i = 0; i < sections->len; i++) {
        MpSectionRef *s = &g_array_index(sections, MpSectionRef, i);
        const GPtrArray *cands = mp_vmstate_dump_lookup(dump, mp_vmstate_vmsd_of_idstr(s->idstr));
        bool found = false, agree = true;
        uint32_t min = 0;

        for (guint k = 0; cands && k < cands->len; k++) {
            const MpVmstateEntry *e = cands->pdata[k];

            if (e->version_id != s->version) {
                continue;
            }
            if (found && e->minimum_version_id != min) {
                agree = false;
            }
            min = e->minimum_version_id;
            found = true;
        }
        if (found && agree) {
            s->has_range = true;
            s->min_version = min;
            s->max_version = s->version;
            ranged++;
        }
    }
    return ranged;
}

/* Set @facts' sections (taking @list, freed on failure) and layouts from @stream's. */
static bool add_sections(MpFacts *facts, const char *stream, GArray *list, const char *machine,
                         const GByteArray *vmdesc, const char *dump_path, guint *ranged,
                         GError **error)
{
    g_autoptr(MigVmstateDesc) layouts = NULL;

    if (vmdesc && !(layouts = layouts_of(stream, vmdesc, error))) {
        g_array_free(list, TRUE);
        return false;
    }
    if (facts->machine && machine && strcmp(facts->machine, machine) != 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s: written by machine type '%s', the destination is '%s': not a "
                    "stream of the destination's configuration", stream, machine, facts->machine);
        g_array_free(list, TRUE);
        return false;
    }
    if (dump_path) {
        g_autoptr(MpVmstateDump) dump = mp_vmstate_dump_load(dump_path, error);
        guint n;

        if (!dump) {
            g_array_free(list, TRUE);
            return false;
        }
        n = mp_sections_apply_dump(list, dump);
        if (ranged) {
            *ranged = n;
        }
    }
    if (facts->sections) {
        g_array_free(facts->sections, TRUE);
    }
    facts->sections = list;
    mig_vmstate_desc_free(facts->layouts);
    facts->layouts = g_steal_pointer(&layouts);
    return true;
}

bool mp_facts_add_sections_from(MpFacts *facts, const char *stream, const char *dump_path,
                                guint *ranged, GError **error)
{
    g_autofree char *machine = NULL;
    g_autoptr(GByteArray) vmdesc = NULL;
    GArray *list = read_stream_file(stream, &machine, &vmdesc, error);

    return list && add_sections(facts, stream, list, machine, vmdesc, dump_path, ranged, error);
}

bool mp_facts_add_sections_from_feed(MpFacts *facts, const char *name, MpStreamFeedFn feed,
                                     void *opaque, const char *dump_path, guint *ranged,
                                     GError **error)
{
    g_autofree char *machine = NULL;
    g_autoptr(GByteArray) vmdesc = NULL;
    GArray *list = read_stream(name, feed, opaque, &machine, &vmdesc, error);

    return list && add_sections(facts, name, list, machine, vmdesc, dump_path, ranged, error);
}

void mp_sections_to_json(JsonBuilder *b, const GArray *sections)
{
    json_builder_set_member_name(b, "sections");
    if (!sections) {
        json_builder_add_null_value(b);
        return;
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < sections->len; i++) {
        const MpSectionRef *s = &g_array_index(sections, MpSectionRef, i);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "idstr");
        json_builder_add_string_value(b, s->idstr);
        json_builder_set_member_name(b, "instance");
        json_builder_add_int_value(b, s->instance);
        json_builder_set_member_name(b, "version");
        json_builder_add_int_value(b, s->version);
        json_builder_set_member_name(b, "minimum_version");
        if (s->has_range) {
            json_builder_add_int_value(b, s->min_version);
        } else {
            json_builder_add_null_value(b);
        }
        json_builder_set_member_name(b, "maximum_version");
        if (s->has_range) {
            json_builder_add_int_value(b, s->max_version);
        } else {
            json_builder_add_null_value(b);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

/* A member that must be an integer 0..UINT32_MAX; *@has FALSE for null/absent. */
static bool u32_member(JsonObject *o, const char *name, bool *has, uint32_t *out)
{
    JsonNode *n = json_object_get_member(o, name);

    *has = false;
    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        return true;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0 || json_node_get_int(n) > UINT32_MAX) {
        return false;
    }
    *has = true;
    *out = (uint32_t)json_node_get_int(n);
    return true;
}

bool mp_sections_from_json(JsonObject *obj, GArray **out, GError **error)
{
    JsonNode *node = json_object_get_member(obj, "sections");
    JsonArray *a;
    g_autoptr(GArray) list = NULL;

    *out = NULL;
    if (!node || JSON_NODE_HOLDS_NULL(node)) {
        return true;
    }
    if (!JSON_NODE_HOLDS_ARRAY(node)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "profile: \"sections\" must be an array or null");
        return false;
    }
    a = json_node_get_array(node);
    list = mp_section_list_new();
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *en = json_array_get_element(a, i);
        JsonObject *e = JSON_NODE_HOLDS_OBJECT(en) ? json_node_get_object(en) : NULL;
        const char *idstr = e ? json_object_get_string_member_with_default(e, "idstr", NULL)
                              : NULL;
        bool has_i, has_v, has_min, has_max;
        uint32_t inst = 0, ver = 0, min = 0, max = 0;
        MpSectionRef *s;

        if (!idstr || !u32_member(e, "instance", &has_i, &inst) || !has_i ||
            !u32_member(e, "version", &has_v, &ver) || !has_v ||
            !u32_member(e, "minimum_version", &has_min, &min) ||
            !u32_member(e, "maximum_version", &has_max, &max) || has_min != has_max ||
            (has_min && min > max)) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        "profile: sections[%u] needs \"idstr\", \"instance\", \"version\" "
                        "and both or neither of \"minimum_version\" <= \"maximum_version\"", i);
            return false;
        }
        mp_section_list_add(list, idstr, inst, ver, 0, QEMU_VM_SECTION_FULL);
        s = &g_array_index(list, MpSectionRef, list->len - 1);
        s->has_range = has_min;
        s->min_version = min;
        s->max_version = max;
    }
    *out = g_steal_pointer(&list);
    return true;
}

static const MpSectionRef *find_section(const GArray *list, const char *idstr, uint32_t instance)
{
    for (guint i = 0; i < list->len; i++) {
        const MpSectionRef *d = &g_array_index(list, MpSectionRef, i);

        if (d->instance == instance && strcmp(d->idstr, idstr) == 0) {
            return d;
        }
    }
    return NULL;
}

/* The range check the profile allows beyond mp_check_section_known(). */
static const MpFinding *check_range(const MpSectionRef *d, const char *idstr, uint32_t instance,
                                    uint32_t version, const char *where, MpReport *report)
{
    g_autofree char *subject = instance ? g_strdup_printf("%s instance %u", idstr, instance)
                                        : g_strdup(idstr);
    g_autofree char *sv = g_strdup_printf("version %u", version);
    g_autofree char *dv = NULL;

    if (!d || !d->has_range || (version >= d->min_version && version <= d->max_version)) {
        return NULL;
    }
    dv = g_strdup_printf("versions %u..%u", d->min_version, d->max_version);
    if (version < d->min_version) {
        return mp_report_add(report, "section-version-too-old", subject, sv, dv,
                             "the destination no longer loads this version; migrate "
                             "through an intermediate QEMU version",
                             "%s: incoming version_id %u is too old for local minimum "
                             "version_id %u (%s)", idstr, version, d->min_version, where);
    }
    return mp_report_add(report, "section-version-too-new", subject, sv, dv,
                         "use a destination QEMU at least as new as the source",
                         "savevm: unsupported version %u for '%s' v%u (%s)",
                         version, idstr, d->max_version, where);
}

const MpFinding *mp_check_section_arriving(const MpFacts *dst, const char *idstr,
                                           uint32_t instance, uint32_t version,
                                           const char *where, MpReport *report)
{
    guint before;

    if (!dst || !dst->sections || !idstr) {
        return NULL;
    }
    before = mp_report_count(report);
    if (!mp_check_section_known(report, idstr, instance, version, dst->sections)) {
        return mp_report_count(report) > before ? mp_report_get(report, before) : NULL;
    }
    return check_range(find_section(dst->sections, idstr, instance), idstr, instance, version,
                       where, report);
}

static bool reported(const MpReport *report, const char *code, const char *subject)
{
    for (guint i = 0; i < mp_report_count(report); i++) {
        const MpFinding *f = mp_report_get(report, i);

        if (strcmp(f->code, code) == 0 && (!subject || !g_strcmp0(f->subject, subject))) {
            return true;
        }
    }
    return false;
}

/* Does the list carry a section under the qdev path @path ("0000:00:03.0")? */
static bool has_path(const GArray *list, const char *path, bool *any_pci)
{
    size_t n = strlen(path);
    bool found = false;

    *any_pci = false;
    for (guint i = 0; i < list->len; i++) {
        const char *idstr = g_array_index(list, MpSectionRef, i).idstr;
        const char *slash = strchr(idstr, '/');

        if (slash && slash - idstr >= 12 && idstr[4] == ':') {
            *any_pci = true;
        }
        if (strncmp(idstr, path, n) == 0 && idstr[n] == '/') {
            found = true;
        }
    }
    return found;
}

guint mp_check_sections_at_start(const MpFacts *src, const MpFacts *dst,
                                 const GArray *src_sections, MpReport *report)
{
    guint before = mp_report_count(report);

    if (!dst || !dst->sections) {
        return 0;
    }
    if (src_sections) {
        mp_check_device_set(report, src_sections, dst->sections);
        for (guint i = 0; i < src_sections->len; i++) {
            const MpSectionRef *s = &g_array_index(src_sections, MpSectionRef, i);
            const MpSectionRef *d = find_section(dst->sections, s->idstr, s->instance);

            if (d && s->version <= d->version) {
                check_range(d, s->idstr, s->instance, s->version, "source profile", report);
            }
        }
        return mp_report_count(report) - before;
    }
    if (src->has_pci_devices) {
        for (guint i = 0; i < src->pci_devices->len; i++) {
            const char *dev = g_ptr_array_index(src->pci_devices, i);
            bool any_pci;

            if (has_path(dst->sections, dev, &any_pci) || !any_pci ||
                reported(report, "pci-device-missing", dev)) {
                continue;
            }
            mp_report_add(report, "device-missing", dev, "PCI device (query-pci)",
                          "no section with this path",
                          "start the destination with the source's devices (same "
                          "-device options), including hotplugged ones",
                          "the source has a PCI device at %s and the destination's section "
                          "list has no section '%s/...'; QEMU would fail with \"Unknown savevm "
                          "section or instance\" after all of RAM", dev, dev);
        }
    }
    if (src->has_cpus && find_section(dst->sections, "cpu_common", 0) &&
        !reported(report, "cpu-count", NULL)) {
        for (uint32_t c = 0; c < src->cpus; c++) {
            g_autofree char *sv = NULL, *hint = NULL;

            if (find_section(dst->sections, "cpu_common", c)) {
                continue;
            }
            sv = g_strdup_printf("%u CPUs (query-cpus-fast)", src->cpus);
            hint = g_strdup_printf("start the destination with -smp %u", src->cpus);
            mp_report_add(report, "device-missing", "cpu_common", sv,
                          "no section 'cpu_common' for every CPU", hint,
                          "the source has %u CPUs; the destination's section list has no "
                          "'cpu_common' instance %u: QEMU would fail with \"Unknown savevm "
                          "section or instance 'cpu_common' %u\" after all of RAM",
                          src->cpus, c, c);
            break;
        }
    }
    return mp_report_count(report) - before;
}
