/*
 * devices.c - the device-section checks: versions against a destination's
 * -dump-vmstate, and the section set against a destination's own stream
 * (see devices.h for when each can run).  One paragraph per check, each
 * finding naming the section, both values and the destination's range;
 * messages repeat QEMU 7.2's own words where QEMU has them.
 */
#include "devices.h"

#include <string.h>
#include "protocol.h"

static void section_clear(gpointer p)
{
    g_free(((MpSectionRef *)p)->idstr);
}

GArray *mp_section_list_new(void)
{
    GArray *a = g_array_new(FALSE, TRUE, sizeof(MpSectionRef));

    g_array_set_clear_func(a, section_clear);
    return a;
}

void mp_section_list_add(GArray *list, const char *idstr, uint32_t instance,
                         uint32_t version, uint32_t section_id, uint8_t type)
{
    MpSectionRef r = { .idstr = g_strdup(idstr), .instance = instance,
                       .version = version, .section_id = section_id, .type = type };

    g_array_append_val(list, r);
}

/* "idstr" or "idstr instance N" as QEMU names a section in its messages. */
static char *section_subject(const MpSectionRef *s)
{
    return s->instance ? g_strdup_printf("%s instance %u", s->idstr, s->instance)
                       : g_strdup(s->idstr);
}

static char *key_of(const MpSectionRef *s)
{
    return g_strdup_printf("%u:%s", s->instance, s->idstr);
}

guint mp_check_section_versions(MpReport *report, const GArray *sections,
                                const MpVmstateDump *dump)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GString) unchecked = g_string_new(NULL);
    guint checked = 0, n_unchecked = 0;

    for (guint i = 0; i < sections->len; i++) {
        const MpSectionRef *s = &g_array_index(sections, MpSectionRef, i);
        const char *vmsd = mp_vmstate_vmsd_of_idstr(s->idstr);
        const GPtrArray *cands;
        g_autofree char *subject = section_subject(s);
        g_autofree char *src = NULL;
        g_autoptr(GString) ranges = g_string_new(NULL);
        guint fits = 0;
        const MpVmstateEntry *over = NULL;

        if (!g_hash_table_add(seen, key_of(s))) {
            continue;           /* a START's END/FULL repeats the header */
        }
        cands = mp_vmstate_dump_lookup(dump, vmsd);
        if (!cands) {
            g_string_append_printf(unchecked, "%s%s", n_unchecked ? ", " : "", subject);
            n_unchecked++;
            continue;
        }
        checked++;
        for (guint k = 0; k < cands->len; k++) {
            const MpVmstateEntry *e = cands->pdata[k];

            g_string_append_printf(ranges, "%s%s: %u..%u", k ? ", " : "", e->qom_type,
                                   e->minimum_version_id, e->version_id);
            if (s->version >= e->minimum_version_id && s->version <= e->version_id) {
                fits++;
            } else if (s->version > e->version_id) {
                over = e;
            }
        }
        src = g_strdup_printf("version %u", s->version);
        if (fits == cands->len) {
            continue;
        }
        if (fits) {
            mp_report_add(report, "section-version-ambiguous", subject, src, ranges->str,
                          "several device types share this vmsd name; only the one "
                          "the destination's configuration creates counts",
                          "section '%s' version %u fits some of the destination's "
                          "descriptions named '%s' but not all (%s)",
                          subject, s->version, vmsd, ranges->str);
        } else if (over) {
            mp_report_add(report, "section-version-too-new", subject, src, ranges->str,
                          "use a destination QEMU at least as new as the source, or a "
                          "source machine type the destination supports",
                          "savevm: unsupported version %u for '%s' v%u: the source "
                          "sends version %u, the destination loads '%s' versions %s",
                          s->version, s->idstr, over->version_id, s->version, vmsd,
                          ranges->str);
        } else {
            const MpVmstateEntry *e = cands->pdata[0];

            mp_report_add(report, "section-version-too-old", subject, src, ranges->str,
                          "the destination no longer loads this version; migrate "
                          "through an intermediate QEMU version",
                          "%s: incoming version_id %u is too old for local minimum "
                          "version_id %u (destination range %s)",
                          vmsd, s->version, e->minimum_version_id, ranges->str);
        }
    }
    if (n_unchecked) {
        mp_report_add(report, "section-version-unchecked", "sections", unchecked->str, NULL,
                      "-dump-vmstate lists device classes only; these are registered "
                      "otherwise (RAM, CPU, timers, ...)",
                      "%u section(s) have no entry in the destination's -dump-vmstate: %s",
                      n_unchecked, unchecked->str);
    }
    return checked;
}

/* A problem found in one destination entry, before it becomes a finding. */
typedef struct {
    const char *code;
    char *path;                 /* "cpu/async_pf_msr" or "dev.field/sub" */
    uint32_t version;
    bool has_range;
    uint32_t min, max;
} SubProblem;

static void sub_problem_free(gpointer p)
{
    g_free(((SubProblem *)p)->path);
    g_free(p);
}

static JsonArray *array_member(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static JsonObject *object_at(JsonArray *a, guint i)
{
    JsonNode *n = json_array_get_element(a, i);

    return JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static bool int_member(JsonObject *o, const char *name, uint32_t *out)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0 || json_node_get_int(n) > UINT32_MAX) {
        return false;
    }
    *out = (uint32_t)json_node_get_int(n);
    return true;
}

/* A VMDESCRIPTION field name without the "[n]" QEMU adds to repeated names. */
static char *base_field_name(const char *name)
{
    const char *b = strrchr(name, '[');
    size_t n = strlen(name);

    if (b && n > 2 && name[n - 1] == ']' && b + 1 < name + n - 1 &&
        strspn(b + 1, "0123456789") == (size_t)(name + n - 1 - (b + 1))) {
        return g_strndup(name, (size_t)(b - name));
    }
    return g_strdup(name);
}

/*
 * Compare one VMDESCRIPTION level @src (fields + subsections sent) with a
 * -dump-vmstate Description @dst; append problems to @out.  @depth bounds
 * the recursion (both trees are depth-limited when parsed).
 */
static guint compare_level(JsonObject *src, JsonObject *dst, const char *path,
                           GPtrArray *out, guint depth)
{
    JsonArray *subs = array_member(src, "subsections");
    JsonArray *fields = array_member(src, "fields");
    JsonArray *dsubs = array_member(dst, "Subsections");
    JsonArray *dfields = array_member(dst, "Fields");
    guint compared = 0;

    if (depth > MIG_LIMIT_JSON_DEPTH) {
        return 0;
    }
    for (guint i = 0; subs && i < json_array_get_length(subs); i++) {
        JsonObject *sub = object_at(subs, i), *match = NULL;
        const char *name = sub ? json_object_get_string_member_with_default(sub, "vmsd_name",
                                                                            NULL) : NULL;
        uint32_t ver = 0, min = 0, max = 0;

        if (!name || !int_member(sub, "version", &ver)) {
            continue;
        }
        for (guint k = 0; dsubs && k < json_array_get_length(dsubs) && !match; k++) {
            JsonObject *d = object_at(dsubs, k);

            if (d && !g_strcmp0(json_object_get_string_member_with_default(d, "name", NULL),
                                name)) {
                match = d;
            }
        }
        compared++;
        if (!match) {
            SubProblem *p = g_new0(SubProblem, 1);

            p->code = "subsection-unknown";
            p->path = g_strdup(name);
            p->version = ver;
            g_ptr_array_add(out, p);
            continue;
        }
        if (int_member(match, "version_id", &max) &&
            int_member(match, "minimum_version_id", &min) && (ver > max || ver < min)) {
            SubProblem *p = g_new0(SubProblem, 1);

            p->code = "subsection-version";
            p->path = g_strdup(name);
            p->version = ver;
            p->has_range = true;
            p->min = min;
            p->max = max;
            g_ptr_array_add(out, p);
        }
        compared += compare_level(sub, match, name, out, depth + 1);
    }
    /* nested structs carry their own subsections */
    for (guint i = 0; fields && i < json_array_get_length(fields); i++) {
        JsonObject *f = object_at(fields, i), *st;
        JsonNode *sn;
        g_autofree char *fname = NULL;

        if (!f || !(sn = json_object_get_member(f, "struct")) || !JSON_NODE_HOLDS_OBJECT(sn)) {
            continue;
        }
        st = json_node_get_object(sn);
        if (!array_member(st, "subsections")) {
            continue;
        }
        fname = base_field_name(json_object_get_string_member_with_default(f, "name", ""));
        for (guint k = 0; dfields && k < json_array_get_length(dfields); k++) {
            JsonObject *d = object_at(dfields, k);
            JsonNode *dn = d ? json_object_get_member(d, "Description") : NULL;

            if (dn && JSON_NODE_HOLDS_OBJECT(dn) &&
                !g_strcmp0(json_object_get_string_member_with_default(d, "field", NULL),
                           fname)) {
                g_autofree char *p = g_strdup_printf("%s.%s", path, fname);

                compared += compare_level(st, json_node_get_object(dn), p, out, depth + 1);
                break;
            }
        }
    }
    return compared;
}

guint mp_check_subsections(MpReport *report, const GArray *sections,
                           const MigVmstateDesc *vmdesc, const MpVmstateDump *dump)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    guint compared = 0;

    for (guint i = 0; i < sections->len; i++) {
        const MpSectionRef *s = &g_array_index(sections, MpSectionRef, i);
        const char *vmsd = mp_vmstate_vmsd_of_idstr(s->idstr);
        const GPtrArray *cands = mp_vmstate_dump_lookup(dump, vmsd);
        JsonObject *src = mig_vmstate_desc_lookup(vmdesc, s->idstr, s->instance);
        g_autoptr(GPtrArray) first = NULL;
        g_autofree char *subject = NULL;
        bool all_fail = true;

        if (s->type != QEMU_VM_SECTION_FULL || !cands || !src ||
            !g_hash_table_add(seen, key_of(s))) {
            continue;
        }
        for (guint k = 0; k < cands->len; k++) {
            const MpVmstateEntry *e = cands->pdata[k];
            g_autoptr(GPtrArray) probs = g_ptr_array_new_with_free_func(sub_problem_free);
            guint n = compare_level(src, e->description, vmsd, probs, 0);

            if (k == 0) {
                compared += n;
            }
            if (!probs->len) {
                all_fail = false;
            } else if (!first) {
                first = g_steal_pointer(&probs);
            }
        }
        if (!all_fail || !first) {
            continue;
        }
        subject = section_subject(s);
        for (guint k = 0; k < first->len; k++) {
            const SubProblem *p = first->pdata[k];
            g_autofree char *sv = g_strdup_printf("%s version %u", p->path, p->version);

            if (strcmp(p->code, "subsection-unknown") == 0) {
                mp_report_add(report, p->code, subject, sv, NULL,
                              "the source's device state needs a newer destination, or a "
                              "source machine type whose compat settings do not send it",
                              "VM subsection '%s' in '%s' does not exist at the destination "
                              "(QEMU 7.2 fails the load with \"No such file or directory\")",
                              p->path, s->idstr);
            } else {
                g_autofree char *dv = g_strdup_printf("%s versions %u..%u", p->path,
                                                      p->min, p->max);
                mp_report_add(report, p->code, subject, sv, dv,
                              "use a destination QEMU that loads this subsection version",
                              "%s: incoming version_id %u is outside the destination's "
                              "range %u..%u (section '%s')", p->path, p->version,
                              p->min, p->max, s->idstr);
            }
        }
    }
    return compared;
}

/* (instance, idstr) -> first MpSectionRef with it (borrowed). */
static GHashTable *index_sections(const GArray *list)
{
    GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (guint i = 0; i < list->len; i++) {
        const MpSectionRef *s = &g_array_index(list, MpSectionRef, i);
        char *k = key_of(s);

        if (g_hash_table_contains(h, k)) {
            g_free(k);
        } else {
            g_hash_table_insert(h, k, (gpointer)s);
        }
    }
    return h;
}

/* The finding for source section @s against destination section @d (NULL: none). */
static bool check_one(MpReport *report, const MpSectionRef *s, const MpSectionRef *d)
{
    g_autofree char *subject = section_subject(s);

    if (!d) {
        g_autofree char *sv = g_strdup_printf("instance %u, version %u",
                                              s->instance, s->version);
        mp_report_add(report, "device-missing", subject, sv, NULL,
                      "start the destination with the source's devices (same "
                      "-device options and -smp), including hotplugged ones",
                      "Unknown savevm section or instance '%s' %u: the source "
                      "sends it, the destination's configuration has no such "
                      "section", s->idstr, s->instance);
        return false;
    }
    if (s->version > d->version) {
        g_autofree char *sv = g_strdup_printf("version %u", s->version);
        g_autofree char *dv = g_strdup_printf("version %u", d->version);
        mp_report_add(report, "device-version-newer", subject, sv, dv,
                      "use a destination QEMU at least as new as the source",
                      "savevm: unsupported version %u for '%s' v%u",
                      s->version, s->idstr, d->version);
        return false;
    }
    return true;
}

bool mp_check_section_known(MpReport *report, const char *idstr, uint32_t instance,
                            uint32_t version, const GArray *destination)
{
    MpSectionRef s = { .idstr = (char *)idstr, .instance = instance, .version = version };

    for (guint i = 0; i < destination->len; i++) {
        const MpSectionRef *d = &g_array_index(destination, MpSectionRef, i);

        if (d->instance == instance && strcmp(d->idstr, idstr) == 0) {
            return check_one(report, &s, d);
        }
    }
    return check_one(report, &s, NULL);
}

void mp_check_device_set(MpReport *report, const GArray *source, const GArray *destination)
{
    g_autoptr(GHashTable) src = index_sections(source);
    g_autoptr(GHashTable) dst = index_sections(destination);
    g_autoptr(GHashTable) done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (guint i = 0; i < source->len; i++) {
        const MpSectionRef *s = &g_array_index(source, MpSectionRef, i);
        g_autofree char *k = key_of(s);

        if (g_hash_table_add(done, g_strdup(k))) {
            check_one(report, s, g_hash_table_lookup(dst, k));
        }
    }
    for (guint i = 0; i < destination->len; i++) {
        const MpSectionRef *d = &g_array_index(destination, MpSectionRef, i);
        g_autofree char *k = key_of(d);
        g_autofree char *subject = section_subject(d);

        if (g_hash_table_contains(src, k) || !g_hash_table_add(done, g_strdup(k))) {
            continue;
        }
        {
            g_autofree char *dv = g_strdup_printf("instance %u, version %u",
                                                  d->instance, d->version);
            mp_report_add(report, "device-extra", subject, NULL, dv,
                          "the device keeps its reset state at the destination; add it "
                          "to the source or remove it from the destination",
                          "the destination has section '%s' %u, the source does not "
                          "send it", d->idstr, d->instance);
        }
    }
}
