/*
 * diff.c - the offline comparison of two VM configurations (diff.h).
 *
 * Device fields: a FULL section's payload has no field boundaries, so the
 * destination reads it by its own description.  At the same section
 * version both QEMUs should describe the same fields in the same order
 * with the same types and sizes; where they do not, the destination reads
 * the source's bytes as something else and fails at the section footer or
 * later.  At different versions the destination skips or adds fields by
 * their version, which the VMDESCRIPTION does not show, so fields are
 * compared only at equal versions.  Array lengths and buffer sizes count
 * too: the VMDESCRIPTION gives the length that was sent, and although a
 * variable-length array (VMS_VARRAY_*, VMS_VBUFFER) takes its length from
 * a field, that field is mostly set by the destination's own properties
 * (QEMU 7.2's xhci "ports": -device qemu-xhci,p3=8 against p3=4 fails with
 * "Missing section footer") or checked for equality (PCIBUS "nirq").
 */
#include "diff.h"

#include <string.h>
#include "check.h"
#include "devices.h"
#include "protocol.h"
#include "wire-limits.h"

static const char *str_member(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
           ? json_node_get_string(n) : NULL;
}

static bool int_member(JsonObject *o, const char *name, gint64 *out)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) {
        return false;
    }
    *out = json_node_get_int(n);
    return true;
}

static JsonArray *array_member(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static JsonObject *object_member(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static JsonObject *object_at(JsonArray *a, guint i)
{
    JsonNode *n = json_array_get_element(a, i);

    return JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* "idstr" or "idstr instance N", as devices.c names sections. */
static char *section_subject(const MpSectionRef *s)
{
    return s->instance ? g_strdup_printf("%s instance %u", s->idstr, s->instance)
                       : g_strdup(s->idstr);
}

/* A field's identity: QEMU repeats a name for each element it describes
 * separately and tells them apart by "index". */
static char *field_key(JsonObject *f)
{
    const char *name = str_member(f, "name");
    gint64 index;

    if (!name) {
        return NULL;
    }
    return int_member(f, "index", &index) ? g_strdup_printf("%s[index %" G_GINT64_FORMAT "]",
                                                           name, index)
                                          : g_strdup(name);
}

/* "uint32, 4 bytes" or "uint64, 8 bytes x 16" for a message. */
static char *field_text(JsonObject *f)
{
    const char *type = str_member(f, "type");
    gint64 size = -1, len;
    GString *s = g_string_new(type ? type : "?");

    if (int_member(f, "size", &size)) {
        g_string_append_printf(s, ", %" G_GINT64_FORMAT " byte%s", size, size == 1 ? "" : "s");
    }
    if (int_member(f, "array_len", &len)) {
        g_string_append_printf(s, " x %" G_GINT64_FORMAT, len);
    }
    return g_string_free(s, FALSE);
}

static bool is_buffer(const char *type)
{
    return type && (strcmp(type, "buffer") == 0 || strcmp(type, "unused_buffer") == 0);
}

typedef struct {
    MpReport *report;
    const char *idstr;          /* of the section being compared */
    guint compared;             /* fields and subsections compared */
} FieldCtx;

static void compare_level(FieldCtx *c, JsonObject *a, JsonObject *b, const char *path,
                          guint depth);

/* Compare one field both sides describe; @path names it. */
static void compare_field(FieldCtx *c, JsonObject *fa, JsonObject *fb, const char *path,
                          guint depth)
{
    const char *ta = str_member(fa, "type"), *tb = str_member(fb, "type");
    gint64 sa = -1, sb = -1, la = -1, lb = -1;
    g_autofree char *va = field_text(fa);
    g_autofree char *vb = field_text(fb);
    JsonObject *sta = object_member(fa, "struct"), *stb = object_member(fb, "struct");

    int_member(fa, "size", &sa);
    int_member(fb, "size", &sb);
    int_member(fa, "array_len", &la);
    int_member(fb, "array_len", &lb);
    c->compared++;
    if (g_strcmp0(ta, tb) != 0 || (sa != sb && !is_buffer(ta) && !(sta && stb))) {
        mp_report_add(c->report, "device-field-differs", path, va, vb,
                      "give both sides the same QEMU version, machine type and device "
                      "properties",
                      "%s: A sends %s, B reads %s: B would misread this section's bytes",
                      path, va, vb);
        return;
    }
    if (sta && stb) {
        guint before = mp_report_count(c->report);

        compare_level(c, sta, stb, path, depth + 1);
        if (sa == sb && la == lb) {
            return;
        }
        if (mp_report_count(c->report) != before) {
            return;     /* the nested comparison said what differs */
        }
    } else if (sa == sb && la == lb) {
        return;
    }
    mp_report_add(c->report, "device-field-length", path, va, vb,
                  "give both sides the same device properties (queue, port and "
                  "slot counts)",
                  "%s: A sends %s, B's own stream has %s: B reads its own length "
                  "unless the length travels in the stream, and then fails at the "
                  "section footer", path, va, vb);
}

static void compare_fields(FieldCtx *c, JsonArray *fa, JsonArray *fb, const char *path,
                           guint depth)
{
    g_autoptr(GHashTable) bidx = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GHashTable) aidx = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) order_a = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) order_b = g_ptr_array_new_with_free_func(g_free);
    guint na = fa ? json_array_get_length(fa) : 0, nb = fb ? json_array_get_length(fb) : 0;

    for (guint i = 0; i < nb; i++) {
        char *k = field_key(object_at(fb, i));

        if (k && !g_hash_table_contains(bidx, k)) {
            g_hash_table_insert(bidx, k, object_at(fb, i));
        } else {
            g_free(k);
        }
    }
    for (guint i = 0; i < na; i++) {
        JsonObject *f = object_at(fa, i), *g;
        g_autofree char *k = field_key(f);
        g_autofree char *p = NULL;

        if (!k || !g_hash_table_add(aidx, g_strdup(k))) {
            continue;
        }
        p = g_strdup_printf("%s.%s", path, k);
        g = g_hash_table_lookup(bidx, k);
        if (!g) {
            g_autofree char *va = field_text(f);

            mp_report_add(c->report, "device-field-missing", p, va, NULL,
                          "give both sides the same QEMU version, machine type and device "
                          "properties",
                          "%s: A sends this field (%s) and B's description of the same "
                          "section version has no such field: B would misread the section",
                          p, va);
            continue;
        }
        g_ptr_array_add(order_a, g_strdup(k));
        compare_field(c, f, g, p, depth);
    }
    for (guint i = 0; i < nb; i++) {
        JsonObject *g = object_at(fb, i);
        g_autofree char *k = field_key(g);

        if (!k) {
            continue;
        }
        if (g_hash_table_contains(aidx, k)) {
            if (!g_ptr_array_find_with_equal_func(order_b, k, g_str_equal, NULL)) {
                g_ptr_array_add(order_b, g_strdup(k));
            }
        } else {
            g_autofree char *p = g_strdup_printf("%s.%s", path, k);
            g_autofree char *vb = field_text(g);

            g_hash_table_add(aidx, g_strdup(k));    /* once per key */
            mp_report_add(c->report, "device-field-extra", p, NULL, vb,
                          "give both sides the same QEMU version, machine type and device "
                          "properties",
                          "%s: B's description of the same section version has this field "
                          "(%s), A does not send it: B would read the next bytes as it", p, vb);
        }
    }
    for (guint i = 0; i < order_a->len && i < order_b->len; i++) {
        if (strcmp(order_a->pdata[i], order_b->pdata[i]) != 0) {
            mp_report_add(c->report, "device-field-order", path, order_a->pdata[i],
                          order_b->pdata[i], "give both sides the same QEMU version",
                          "%s: the fields come in another order: A sends %s where B "
                          "reads %s", path, (const char *)order_a->pdata[i],
                          (const char *)order_b->pdata[i]);
            break;
        }
    }
}

static JsonObject *find_subsection(JsonArray *subs, const char *name)
{
    for (guint i = 0; subs && i < json_array_get_length(subs); i++) {
        JsonObject *s = object_at(subs, i);

        if (g_strcmp0(str_member(s, "vmsd_name"), name) == 0) {
            return s;
        }
    }
    return NULL;
}

static void compare_subsections(FieldCtx *c, JsonArray *sa, JsonArray *sb, const char *path,
                                guint depth)
{
    for (guint i = 0; sa && i < json_array_get_length(sa); i++) {
        JsonObject *s = object_at(sa, i), *t;
        const char *name = str_member(s, "vmsd_name");
        g_autofree char *p = NULL;
        gint64 va = 0, vb = 0;

        if (!name || find_subsection(sa, name) != s) {
            continue;   /* QEMU sends a subsection once; compare the first */
        }
        p = g_strdup_printf("%s:%s", path, name);
        t = find_subsection(sb, name);
        int_member(s, "version", &va);
        c->compared++;
        if (!t) {
            g_autofree char *sv = g_strdup_printf("version %" G_GINT64_FORMAT, va);

            mp_report_add(c->report, "subsection-not-shown", p, sv, NULL,
                          "check B's binary with --dest-vmstate (its -dump-vmstate "
                          "lists every subsection it loads)",
                          "%s: A sends this subsection, B's stream does not carry it, so "
                          "it cannot show whether B's QEMU loads it (QEMU: \"VM subsection "
                          "'%s' in '%s' does not exist\" if not)", p, name, c->idstr);
            continue;
        }
        int_member(t, "version", &vb);
        if (va != vb) {
            g_autofree char *sv = g_strdup_printf("version %" G_GINT64_FORMAT, va);
            g_autofree char *dv = g_strdup_printf("version %" G_GINT64_FORMAT, vb);

            if (va > vb) {
                mp_report_add(c->report, "subsection-version", p, sv, dv,
                              "use a destination QEMU at least as new as the source",
                              "%s: A sends version %" G_GINT64_FORMAT ", B's QEMU writes "
                              "version %" G_GINT64_FORMAT " and loads none newer",
                              p, va, vb);
            } else {
                mp_report_add(c->report, "section-version-differs", p, sv, dv, NULL,
                              "%s: A sends version %" G_GINT64_FORMAT ", B's QEMU writes "
                              "%" G_GINT64_FORMAT "; B loads older versions down to its "
                              "minimum, which a stream does not show", p, va, vb);
            }
            continue;
        }
        compare_level(c, s, t, p, depth + 1);
    }
    for (guint i = 0; sb && i < json_array_get_length(sb); i++) {
        JsonObject *t = object_at(sb, i);
        const char *name = str_member(t, "vmsd_name");
        g_autofree char *p = NULL;

        if (!name || find_subsection(sa, name)) {
            continue;
        }
        p = g_strdup_printf("%s:%s", path, name);
        mp_report_add(c->report, "subsection-extra", p, NULL, "sent", NULL,
                      "%s: B's device sent this subsection, A's does not need it: B keeps "
                      "its own state for it", p);
    }
}

static void compare_level(FieldCtx *c, JsonObject *a, JsonObject *b, const char *path,
                          guint depth)
{
    if (depth > MIG_LIMIT_JSON_DEPTH) {
        return;         /* both trees were depth-checked when parsed */
    }
    compare_fields(c, array_member(a, "fields"), array_member(b, "fields"), path, depth);
    compare_subsections(c, array_member(a, "subsections"), array_member(b, "subsections"),
                        path, depth);
}

static char *value_text(JsonNode *n)
{
    if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
        return g_strdup(json_node_get_string(n));
    }
    return json_to_string(n, FALSE);
}

/*
 * Fields QEMU compares on load with the destination's own value
 * (VMSTATE_*_EQUAL: "int32 equal" ...): the values both streams carry
 * must be equal, else the load fails there.  @va and @vb are the walked
 * values of the level described by @desc (both streams' same version).
 */
static void compare_equal(FieldCtx *c, JsonObject *desc, JsonObject *va, JsonObject *vb,
                          const char *path, guint depth)
{
    JsonArray *fields = array_member(desc, "fields");
    JsonArray *subs = array_member(desc, "subsections");

    if (depth > MIG_LIMIT_JSON_DEPTH) {
        return;
    }
    for (guint i = 0; fields && i < json_array_get_length(fields); i++) {
        JsonObject *f = object_at(fields, i);
        const char *name = str_member(f, "name"), *type = str_member(f, "type");
        JsonNode *na, *nb;
        gint64 dummy;

        if (!name || int_member(f, "index", &dummy) || int_member(f, "array_len", &dummy)) {
            continue;       /* lists of values: their lengths were compared */
        }
        na = json_object_get_member(va, name);
        nb = json_object_get_member(vb, name);
        if (!na || !nb) {
            continue;
        }
        if (type && g_str_has_suffix(type, " equal") && !json_node_equal(na, nb)) {
            g_autofree char *p = g_strdup_printf("%s.%s", path, name);
            g_autofree char *sa = value_text(na);
            g_autofree char *sb = value_text(nb);

            mp_report_add(c->report, "device-field-equal", p, sa, sb,
                          "give both sides the same device configuration",
                          "%s (%s): QEMU checks on load that the value received equals "
                          "the destination's own: A sends %s, B has %s", p, type, sa, sb);
        } else if (object_member(f, "struct") && JSON_NODE_HOLDS_OBJECT(na) &&
                   JSON_NODE_HOLDS_OBJECT(nb)) {
            g_autofree char *p = g_strdup_printf("%s.%s", path, name);

            compare_equal(c, object_member(f, "struct"), json_node_get_object(na),
                          json_node_get_object(nb), p, depth + 1);
        }
    }
    for (guint i = 0; subs && i < json_array_get_length(subs); i++) {
        JsonObject *sub = object_at(subs, i);
        const char *name = str_member(sub, "vmsd_name");
        JsonObject *sa = name ? object_member(va, name) : NULL;
        JsonObject *sb = name ? object_member(vb, name) : NULL;

        if (sa && sb) {
            g_autofree char *p = g_strdup_printf("%s:%s", path, name);

            compare_equal(c, sub, sa, sb, p, depth + 1);
        }
    }
}

/* (instance, idstr) -> first MpSectionRef (borrowed). */
static GHashTable *index_sections(const GArray *list)
{
    GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (guint i = 0; i < list->len; i++) {
        const MpSectionRef *s = &g_array_index(list, MpSectionRef, i);
        char *k = g_strdup_printf("%u:%s", s->instance, s->idstr);

        if (g_hash_table_contains(h, k)) {
            g_free(k);
        } else {
            g_hash_table_insert(h, k, (gpointer)s);
        }
    }
    return h;
}

static void diff_caps_of_streams(MpReport *r, const MpFacts *a, const MpFacts *b)
{
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GList) list = NULL;

    for (guint i = 0; i < a->announced_caps->len; i++) {
        g_hash_table_add(names, a->announced_caps->pdata[i]);
    }
    for (guint i = 0; i < b->announced_caps->len; i++) {
        g_hash_table_add(names, b->announced_caps->pdata[i]);
    }
    list = g_list_sort(g_hash_table_get_keys(names), (GCompareFunc)strcmp);
    for (GList *l = list; l; l = l->next) {
        const char *name = l->data;
        bool on_a = g_ptr_array_find_with_equal_func(a->announced_caps, name, g_str_equal, NULL);
        bool on_b = g_ptr_array_find_with_equal_func(b->announced_caps, name, g_str_equal, NULL);
        g_autofree char *hint = NULL;

        if (on_a == on_b) {
            continue;
        }
        hint = g_strdup_printf("set %s to the same state on both sides", name);
        mp_report_add(r, "capability-mismatch", name, on_a ? "on" : "off",
                      on_b ? "on" : "off or unknown", hint,
                      "Capability %s is %s, but received capability is %s (A announces "
                      "it %s, B %s)", name, on_b ? "on" : "off", on_a ? "on" : "off",
                      on_a ? "on" : "off", on_b ? "on" : "off or not at all");
    }
}

static bool report_has(const MpReport *r, const char *code, const char *subject)
{
    for (guint i = 0; i < mp_report_count(r); i++) {
        const MpFinding *f = mp_report_get(r, i);

        if (strcmp(f->code, code) == 0 && g_strcmp0(f->subject, subject) == 0) {
            return true;
        }
    }
    return false;
}

static void diff_page_sizes(MpReport *r, const MpFacts *a, const MpFacts *b)
{
    for (guint i = 0; i < a->ramblocks->len; i++) {
        const MpRamBlock *x = g_ptr_array_index(a->ramblocks, i);
        const MpRamBlock *y = mp_facts_find_ramblock(b, x->name);
        g_autofree char *sa = NULL, *sb = NULL;

        if (!y || !x->has_page_size || !y->has_page_size || x->page_size == y->page_size ||
            report_has(r, "ramblock-page-size", x->name)) {
            continue;
        }
        sa = mp_format_size(x->page_size);
        sb = mp_format_size(y->page_size);
        mp_report_add(r, "ramblock-page-size-differs", x->name, sa, sb,
                      "back this block with the same page size on both sides before "
                      "using postcopy",
                      "RAM block %s has %s pages in A and %s in B: fine for precopy, "
                      "refused under postcopy", x->name, sa, sb);
    }
}

/* Sections on both sides: versions that differ without failing, and fields. */
static void diff_sections(MpReport *r, const MpVmConfig *a, const MpVmConfig *b)
{
    g_autoptr(GHashTable) bidx = index_sections(b->sections);
    g_autoptr(GHashTable) done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GString) unchecked = g_string_new(NULL);
    const MigVmstateDesc *desc_a = mp_vmconfig_layouts(a), *desc_b = mp_vmconfig_layouts(b);
    bool fields = desc_a && desc_b;
    guint n_unchecked = 0, n_compared = 0;

    for (guint i = 0; i < a->sections->len; i++) {
        const MpSectionRef *s = &g_array_index(a->sections, MpSectionRef, i);
        g_autofree char *k = g_strdup_printf("%u:%s", s->instance, s->idstr);
        const MpSectionRef *t = g_hash_table_lookup(bidx, k);
        g_autofree char *subject = NULL;
        JsonObject *da, *db;

        if (!t || !g_hash_table_add(done, g_steal_pointer(&k))) {
            continue;
        }
        subject = section_subject(s);
        if (s->version < t->version) {
            g_autofree char *sv = g_strdup_printf("version %u", s->version);
            g_autofree char *dv = g_strdup_printf("version %u", t->version);

            mp_report_add(r, "section-version-differs", subject, sv, dv,
                          "check B's binary with --dest-vmstate for its minimum version",
                          "section '%s': A sends version %u, B's QEMU writes version %u; "
                          "B loads older versions down to its minimum_version_id, which a "
                          "stream does not show", subject, s->version, t->version);
        }
        if (!fields || s->type != QEMU_VM_SECTION_FULL || t->type != QEMU_VM_SECTION_FULL) {
            continue;       /* live sections (ram, ...) are not described */
        }
        da = mig_vmstate_desc_lookup(desc_a, s->idstr, s->instance);
        db = mig_vmstate_desc_lookup(desc_b, t->idstr, t->instance);
        if (!da || !db || s->version != t->version) {
            g_string_append_printf(unchecked, "%s%s", n_unchecked ? ", " : "", subject);
            n_unchecked++;
            continue;
        }
        {
            FieldCtx c = { .report = r, .idstr = s->idstr };
            JsonNode *va = mp_vmconfig_values(a, s->idstr, s->instance);
            JsonNode *vb = mp_vmconfig_values(b, t->idstr, t->instance);

            compare_level(&c, da, db, subject, 0);
            if (va && vb && JSON_NODE_HOLDS_OBJECT(va) && JSON_NODE_HOLDS_OBJECT(vb)) {
                compare_equal(&c, da, json_node_get_object(va), json_node_get_object(vb),
                              subject, 0);
            }
            n_compared++;
        }
    }
    if (!fields) {
        const MpVmConfig *lacking = !desc_a ? a : b;
        const char *which = !desc_a && !desc_b ? "neither side carries"
                            : !desc_a ? "A does not carry" : "B does not carry";
        const char *why = (!desc_a && a->vmdesc_error) ? a->vmdesc_error
                          : (!desc_b && b->vmdesc_error) ? b->vmdesc_error : NULL;

        mp_report_add(r, "device-fields-unchecked", "device fields", NULL, NULL,
                      lacking->kind == MP_VMCONFIG_PROFILE
                          ? "write the profile with probe --sections-from a precopy stream "
                            "of that configuration, which gives it layouts"
                          : "write both streams with precopy (postcopy streams have no "
                            "VMDESCRIPTION)",
                      "device fields not compared: %s a VMDESCRIPTION (a profile: layouts)%s%s",
                      which, why ? ": " : "", why ? why : "");
    } else if (n_unchecked) {
        mp_report_add(r, "device-fields-unchecked", "device fields", unchecked->str, NULL,
                      NULL, "fields of %u section(s) not compared (versions differ, or no "
                      "description): %s; %u compared", n_unchecked, unchecked->str, n_compared);
    }
}

/* A's sections against a profile B without a section list (probe without
 * --sections-from): its PCI devices and CPU count only. */
static void sections_against_profile(MpReport *r, const MpVmConfig *a, const MpVmConfig *b)
{
    g_autoptr(GHashTable) done = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (guint i = 0; i < a->sections->len; i++) {
        const MpSectionRef *s = &g_array_index(a->sections, MpSectionRef, i);
        g_autofree char *where = g_strdup_printf("section %u of A", s->section_id);

        if (g_hash_table_add(done, g_strdup_printf("%u:%s", s->instance, s->idstr))) {
            mp_check_late_section(b->facts, s->idstr, s->instance, true, where, r);
        }
    }
}

void mp_diff_configs(MpReport *report, const MpVmConfig *a, const MpVmConfig *b)
{
    mp_check_facts(a->facts, b->facts, report);
    if (!b->facts->caps_complete) {
        /* B is a stream: only what both configurations announce compares */
        diff_caps_of_streams(report, a->facts, b->facts);
    }
    diff_page_sizes(report, a->facts, b->facts);
    if (a->sections && b->sections) {
        mp_check_device_set(report, a->sections, b->sections);
        diff_sections(report, a, b);
        return;
    }
    if (a->sections) {
        sections_against_profile(report, a, b);
    }
    {
        const MpVmConfig *p = a->sections ? b : a;

        mp_report_add(report, "diff-partial", "device sections", NULL, NULL,
                      "compare with a stream written by that configuration (started with -S, "
                      "migrated to a file) for the whole section list",
                      "%s is a profile without a section list (made without "
                      "probe --sections-from)%s", p == a ? "A" : "B",
                      a->sections ? "; A's sections were checked against B's PCI devices "
                      "and CPU count only" : (b->sections ? "; B's sections were not compared"
                                             : "; no sections compared"));
    }
}
