/*
 * vmstate.c - walks a device section's payload by its VMDESCRIPTION entry
 * (see vmstate.h for the output shape).
 *
 * How it works: one cursor over (buf, len) and one recursive function per
 * description level.  A level is an object with "fields" and optional
 * "subsections" (the device itself, a nested "struct", a subsection).  A
 * field is read "array_len" times (one entry describes every element of a
 * compressed array, its "size" per element) or once; its "type" says how
 * to show the bytes, its "size" how many there are, except for "struct",
 * whose bytes are its own fields and subsections and whose "size" is then
 * checked against what they took.  After the fields, every listed
 * subsection must follow as QEMU writes it: 0x05, a counted name equal to
 * the description's vmsd_name, a be32 version, then its body.
 *
 * Why a JSON tree: the result is what analyze-migration.py prints, and
 * json-glib is already how the decoder reads the description; the tree is
 * bounded by MIG_LIMIT_VMSTATE_VALUES and by the payload's size (each
 * shown byte costs three characters).
 *
 * Where this follows analyze-migration.py (QEMU 7.2 and later) and where it
 * is stricter: integers by the reader table of that script (so "uint8
 * equal" and "uint16 equal" are shown as signed, as it does); unknown
 * types as hex bytes; fields with "array_len" or "index" become lists,
 * and a repeated field name turns into a list (10.x splits arrays into
 * runs under one name).  Stricter: the description must account for every
 * payload byte, a struct must take the bytes its "size" says, a
 * subsection's name on the wire must be the one described, and nullptr
 * must be the single byte '0'; the script does not check the first three
 * and stops with an assertion on the last.
 */
#include "vmstate.h"
#include "decoder-internal.h"

#include <stdarg.h>
#include <string.h>

struct MigVmstateDesc {
    JsonNode *root;
    GHashTable *devices;        /* "instance:idstr" -> JsonObject (borrowed) */
    uint64_t page_size;
};

typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    uint64_t base;
    guint values;
    bool foreign;               /* mig_vmstate_walk_foreign(): subsections from the stream */
    bool inexact;               /* a field of unknown length took the payload's rest */
    GError **error;
} Walk;

typedef enum {
    SHOW_HEX,                   /* bytes as "00 11 22" */
    SHOW_UNSIGNED,
    SHOW_SIGNED,
    SHOW_BOOL,
    SHOW_NULLPTR,
    SHOW_CAPABILITY,            /* counted string */
    SHOW_STRUCT,
} Show;

/* analyze-migration.py's vmsd_field_readers; anything else is SHOW_HEX. */
static const struct {
    const char *type;
    Show show;
} type_table[] = {
    { "bool", SHOW_BOOL },
    { "int8", SHOW_SIGNED },
    { "int16", SHOW_SIGNED },
    { "int32", SHOW_SIGNED },
    { "int32 equal", SHOW_SIGNED },
    { "int32 le", SHOW_SIGNED },
    { "int64", SHOW_SIGNED },
    { "int64 equal", SHOW_SIGNED },
    { "uint8 equal", SHOW_SIGNED },
    { "uint16 equal", SHOW_SIGNED },
    { "uint8", SHOW_UNSIGNED },
    { "uint16", SHOW_UNSIGNED },
    { "uint32", SHOW_UNSIGNED },
    { "uint32 equal", SHOW_UNSIGNED },
    { "uint64", SHOW_UNSIGNED },
    { "struct", SHOW_STRUCT },
    { "nullptr", SHOW_NULLPTR },
    { "capability", SHOW_CAPABILITY },
};

/* QEMU_VM_SUBSECTION, and the byte VMS_NULLPTR_MARKER writes. */
#define SUBSECTION_MARK 0x05
#define NULLPTR_MARK    0x30

/*
 * Types whose wire length is the same in every stream that has the same
 * description: a reference's "size" for them holds for another stream.
 * The size of any other type (QEMU's "virtio", "qtailq", "gtree", "str"
 * ...) is what its put() wrote in the reference's own stream.  "tmp" and
 * "msix state" write fixed layouts of the device's configuration.
 */
static const char *const fixed_types[] = {
    "buffer", "unused_buffer", "timer", "pci config", "pci irq state", "msix state",
    "tmp", "float64", "CPU_Double_U", "fpreg", "bitmap",
};

static bool fixed_length(const char *type)
{
    for (guint i = 0; type && i < G_N_ELEMENTS(type_table); i++) {
        if (strcmp(type_table[i].type, type) == 0) {
            return true;
        }
    }
    for (guint i = 0; type && i < G_N_ELEMENTS(fixed_types); i++) {
        if (strcmp(fixed_types[i], type) == 0) {
            return true;
        }
    }
    return false;
}

static Show show_of(const char *type)
{
    for (guint i = 0; type && i < G_N_ELEMENTS(type_table); i++) {
        if (strcmp(type_table[i].type, type) == 0) {
            return type_table[i].show;
        }
    }
    return SHOW_HEX;
}

static JsonNode *walk_fail(Walk *w, MigWireErrorCode code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* Sets the error (once) at the cursor's stream offset; returns NULL. */
static JsonNode *walk_fail(Walk *w, MigWireErrorCode code, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (w->error && !*w->error) {
        g_set_error(w->error, MIG_WIRE_ERROR, code, "offset %" G_GUINT64_FORMAT ": %s",
                    w->base + w->pos, msg);
    }
    return NULL;
}

/* Integer member >= 0, or FALSE when absent or not an integer. */
static bool member_u64(JsonObject *o, const char *name, uint64_t *out)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0) {
        return false;
    }
    *out = (uint64_t)json_node_get_int(n);
    return true;
}

static const char *member_str(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(n);
}

static char *hex_bytes(const uint8_t *p, size_t n)
{
    GString *s = g_string_sized_new(n * 3 + 1);

    for (size_t i = 0; i < n; i++) {
        g_string_append_printf(s, i ? " %02x" : "%02x", p[i]);
    }
    return g_string_free(s, FALSE);
}

/*
 * "0x" and the big-endian bytes in hex (that is Python's '0x%0{2n}x' of
 * the unsigned value), plus " (-N)" when @is_signed and the top bit is set.
 * Works for any width: the decimal is computed on the bytes themselves.
 */
static char *format_int(const uint8_t *p, size_t n, bool is_signed)
{
    GString *s = g_string_new("0x");

    for (size_t i = 0; i < n; i++) {
        g_string_append_printf(s, "%02x", p[i]);
    }
    if (is_signed && n && (p[0] & 0x80)) {
        g_autofree uint8_t *mag = g_malloc(n);
        GString *dec = g_string_new(NULL);
        unsigned carry = 1;
        bool nonzero = true;

        /* magnitude = two's complement of the bytes */
        for (size_t i = n; i-- > 0;) {
            unsigned v = (uint8_t)~p[i] + carry;
            mag[i] = (uint8_t)v;
            carry = v >> 8;
        }
        while (nonzero) {
            unsigned rem = 0;

            nonzero = false;
            for (size_t i = 0; i < n; i++) {
                unsigned cur = rem << 8 | mag[i];
                mag[i] = (uint8_t)(cur / 10);
                rem = cur % 10;
                nonzero |= mag[i] != 0;
            }
            g_string_prepend_c(dec, (char)('0' + rem));
        }
        g_string_append_printf(s, " (-%s)", dec->str);
        g_string_free(dec, TRUE);
    }
    return g_string_free(s, FALSE);
}

static JsonNode *walk_level(Walk *w, JsonObject *vmsd, const char *what, guint depth);
static bool read_stream_subsections(Walk *w, JsonObject *out, JsonObject *vmsd,
                                    const char *what, guint depth);

/* One element of field @f (named @name) at the cursor. */
static JsonNode *read_element(Walk *w, JsonObject *f, const char *name, guint depth)
{
    const char *type = member_str(f, "type");
    Show show = show_of(type);
    uint64_t size = 0;
    bool has_size = member_u64(f, "size", &size);
    const uint8_t *p = w->buf + w->pos;
    JsonNode *v;

    if (++w->values > MIG_LIMIT_VMSTATE_VALUES) {
        return walk_fail(w, MIG_WIRE_ERROR_LIMIT, "more than %u values in one section",
                         MIG_LIMIT_VMSTATE_VALUES);
    }
    if (show == SHOW_STRUCT) {
        JsonNode *sn = json_object_get_member(f, "struct");
        size_t start = w->pos;

        if (!sn || !JSON_NODE_HOLDS_OBJECT(sn)) {
            return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                             "VMDESCRIPTION: struct field '%s' has no \"struct\" object", name);
        }
        if (!json_object_has_member(json_node_get_object(sn), "fields")) {
            /*
             * QEMU 7.2 describes an array of pointers to structs by its
             * first element: when that is NULL, the struct is {} and the
             * size is the NULL marker's 1 byte, for every element (seen on
             * s390x "s390_css"; later QEMUs describe NULL runs apart).
             */
            return walk_fail(w, MIG_WIRE_ERROR_UNSUPPORTED,
                             "VMDESCRIPTION: struct field '%s' is described without its "
                             "fields (an array of pointers whose first element is NULL): "
                             "this section cannot be walked by its description", name);
        }
        v = walk_level(w, json_node_get_object(sn), name, depth + 1);
        if (v && has_size && w->pos - start != size) {
            json_node_unref(v);
            return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                             "struct field '%s' took %zu bytes, its description says %"
                             G_GUINT64_FORMAT, name, w->pos - start, size);
        }
        return v;
    }
    if (show == SHOW_CAPABILITY) {
        /* u8 length, then the name (configuration section only) */
        if (w->len - w->pos < 1 || w->len - w->pos - 1 < p[0]) {
            return walk_fail(w, MIG_WIRE_ERROR_TRUNCATED,
                             "capability field '%s' runs past the payload's end", name);
        }
        v = json_node_new(JSON_NODE_VALUE);
        {
            g_autofree char *s = g_strndup((const char *)p + 1, p[0]);
            json_node_set_string(v, s);
        }
        w->pos += 1 + (size_t)p[0];
        return v;
    }
    if (!has_size) {
        return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                         "VMDESCRIPTION: field '%s' has no size", name);
    }
    if (size > w->len - w->pos) {
        return walk_fail(w, MIG_WIRE_ERROR_TRUNCATED,
                         "field '%s' (%s, %" G_GUINT64_FORMAT " bytes) runs past the "
                         "payload's end (%zu bytes left)", name, type ? type : "no type",
                         size, w->len - w->pos);
    }
    v = json_node_new(JSON_NODE_VALUE);
    switch (show) {
    case SHOW_UNSIGNED:
    case SHOW_SIGNED:
        if (size == 0) {
            json_node_unref(v);
            return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                             "VMDESCRIPTION: integer field '%s' has size 0", name);
        } else {
            g_autofree char *s = format_int(p, (size_t)size, show == SHOW_SIGNED);
            json_node_set_string(v, s);
        }
        break;
    case SHOW_BOOL:
        if (size == 0) {
            json_node_unref(v);
            return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                             "VMDESCRIPTION: bool field '%s' has size 0", name);
        }
        json_node_set_boolean(v, p[0] != 0);
        break;
    case SHOW_NULLPTR:
        if (size != 1 || p[0] != NULLPTR_MARK) {
            json_node_unref(v);
            return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                             "field '%s': a NULL pointer is the byte 0x30, found %s",
                             name, size ? "another value" : "no byte");
        }
        json_node_set_string(v, "nullptr");
        break;
    default: {
        g_autofree char *s = hex_bytes(p, (size_t)size);
        json_node_set_string(v, s);
        break;
    }
    }
    w->pos += (size_t)size;
    return v;
}

/*
 * Store @v under @name in @out.  Array elements ("array_len", "index")
 * gather in a list; a second value under a name already used turns it
 * into a list too.  Takes @v.
 */
static void add_value(JsonObject *out, const char *name, JsonNode *v, bool element)
{
    JsonNode *old = json_object_get_member(out, name);
    JsonArray *arr;

    if (old && JSON_NODE_HOLDS_ARRAY(old)) {
        json_array_add_element(json_node_get_array(old), v);
        return;
    }
    if (!old && !element) {
        json_object_set_member(out, name, v);
        return;
    }
    arr = json_array_new();
    if (old) {
        json_array_add_element(arr, json_node_ref(old));
    }
    json_array_add_element(arr, v);
    json_object_set_array_member(out, name, arr);
}

static bool read_subsection(Walk *w, JsonObject *out, JsonObject *sub, guint depth)
{
    const char *want = member_str(sub, "vmsd_name");
    const uint8_t *p = w->buf + w->pos;
    size_t left = w->len - w->pos, n;
    g_autofree char *name = NULL;
    JsonNode *v;

    if (!want) {
        walk_fail(w, MIG_WIRE_ERROR_CORRUPT, "VMDESCRIPTION: a subsection has no vmsd_name");
        return false;
    }
    if (left < 2) {
        walk_fail(w, MIG_WIRE_ERROR_TRUNCATED,
                  "subsection '%s' expected, the payload ends", want);
        return false;
    }
    if (p[0] != SUBSECTION_MARK) {
        walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                  "subsection '%s' expected (0x05), found 0x%02x", want, p[0]);
        return false;
    }
    n = p[1];
    if (left < 2 + n + 4) {
        walk_fail(w, MIG_WIRE_ERROR_TRUNCATED,
                  "subsection '%s': header runs past the payload's end", want);
        return false;
    }
    name = g_strndup((const char *)p + 2, n);
    if (n == 0 || strlen(name) != n || strcmp(name, want) != 0) {
        g_autofree char *shown = g_strescape(name, NULL);
        walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                  "subsection '%s' expected, the stream names '%s'", want, shown);
        return false;
    }
    /* the be32 version that follows is not shown (the script drops it too) */
    w->pos += 2 + n + 4;
    v = walk_level(w, sub, name, depth + 1);
    if (!v) {
        return false;
    }
    json_object_set_member(out, name, v);
    return true;
}

/* One description level: its fields, then its subsections. */
static JsonNode *walk_level(Walk *w, JsonObject *vmsd, const char *what, guint depth)
{
    JsonNode *fn = json_object_get_member(vmsd, "fields");
    JsonNode *sn = json_object_get_member(vmsd, "subsections");
    g_autoptr(JsonObject) out = NULL;
    JsonArray *fields;
    JsonNode *node;

    if (depth > MIG_LIMIT_JSON_DEPTH) {
        return walk_fail(w, MIG_WIRE_ERROR_LIMIT, "'%s' nests deeper than %u levels",
                         what, MIG_LIMIT_JSON_DEPTH);
    }
    if (!fn || !JSON_NODE_HOLDS_ARRAY(fn)) {
        return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                         "VMDESCRIPTION: '%s' has no list of fields", what);
    }
    if (sn && !JSON_NODE_HOLDS_ARRAY(sn)) {
        return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                         "VMDESCRIPTION: subsections of '%s' are not a list", what);
    }
    out = json_object_new();
    fields = json_node_get_array(fn);
    for (guint i = 0; i < json_array_get_length(fields); i++) {
        JsonNode *e = json_array_get_element(fields, i);
        JsonObject *f;
        const char *name;
        uint64_t count = 1;
        bool element;

        if (!JSON_NODE_HOLDS_OBJECT(e)) {
            return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                             "VMDESCRIPTION: field %u of '%s' is not an object", i, what);
        }
        f = json_node_get_object(e);
        name = member_str(f, "name");
        if (!name) {
            return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                             "VMDESCRIPTION: field %u of '%s' has no name", i, what);
        }
        element = json_object_has_member(f, "index");
        if (json_object_has_member(f, "array_len")) {
            if (!member_u64(f, "array_len", &count) || count == 0) {
                return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                                 "VMDESCRIPTION: field '%s' of '%s' has a bad array_len",
                                 name, what);
            }
            element = true;
        }
        if (w->foreign && !fixed_length(member_str(f, "type"))) {
            JsonNode *v;

            /*
             * Its length is known only to the device's own loader.  As the
             * device's last field (virtio devices have just the one) it
             * takes the rest: the values show, the end proves nothing.
             */
            if (depth > 0 || count != 1 || i + 1 != json_array_get_length(fields) ||
                (sn && json_array_get_length(json_node_get_array(sn)) > 0)) {
                return walk_fail(w, MIG_WIRE_ERROR_UNSUPPORTED,
                                 "field '%s' of '%s' is of type '%s', whose length the "
                                 "reference gives only for its own stream", name, what,
                                 member_str(f, "type") ? member_str(f, "type") : "none");
            }
            if (++w->values > MIG_LIMIT_VMSTATE_VALUES) {
                return walk_fail(w, MIG_WIRE_ERROR_LIMIT, "more than %u values in one section",
                                 MIG_LIMIT_VMSTATE_VALUES);
            }
            v = json_node_new(JSON_NODE_VALUE);
            {
                g_autofree char *hex = hex_bytes(w->buf + w->pos, w->len - w->pos);

                json_node_set_string(v, hex);
            }
            w->pos = w->len;
            w->inexact = true;
            add_value(out, name, v, element);
            continue;
        }
        for (uint64_t k = 0; k < count; k++) {
            JsonNode *v = read_element(w, f, name, depth);

            if (!v) {
                return NULL;
            }
            add_value(out, name, v, element);
        }
    }
    if (w->foreign) {
        if (!read_stream_subsections(w, out, vmsd, what, depth)) {
            return NULL;
        }
    } else if (sn) {
        JsonArray *subs = json_node_get_array(sn);

        for (guint i = 0; i < json_array_get_length(subs); i++) {
            JsonNode *e = json_array_get_element(subs, i);

            if (!JSON_NODE_HOLDS_OBJECT(e)) {
                return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                                 "VMDESCRIPTION: subsection %u of '%s' is not an object",
                                 i, what);
            }
            if (!read_subsection(w, out, json_node_get_object(e), depth)) {
                return NULL;
            }
        }
    }
    node = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(node, out);
    return node;
}

/*
 * A foreign walk applies a description only to the version it describes:
 * @vmsd's "version" must be @version, which the stream sends for the
 * section (@sub NULL) or for its subsection @sub.
 */
static bool version_matches(Walk *w, JsonObject *vmsd, uint32_t version, const char *sub)
{
    g_autofree char *prefix = sub ? g_strdup_printf("subsection '%s': ", sub) : g_strdup("");
    const char *sent = sub ? "the stream sends version" : "the section is version";
    uint64_t dv;

    if (!member_u64(vmsd, "version", &dv)) {
        walk_fail(w, MIG_WIRE_ERROR_UNSUPPORTED, "%sthe description gives no version, %s %u",
                  prefix, sent, version);
        return false;
    }
    if (dv != version) {
        walk_fail(w, MIG_WIRE_ERROR_UNSUPPORTED,
                  "%sthe description is of version %" G_GUINT64_FORMAT ", %s %u", prefix, dv,
                  sent, version);
        return false;
    }
    return true;
}

/*
 * The foreign walk's subsections, read as QEMU's vmstate_subsection_load()
 * reads them: while the next byte is 0x05 and a counted name follows that
 * starts with this level's vmsd_name, it is a subsection, looked up by
 * that name; anything else ends the level (and is then the next field of
 * an enclosing level, or bytes left over).  Which subsections follow is
 * the source's needed() decision, so the stream, not the reference,
 * says which are there.
 */
static bool read_stream_subsections(Walk *w, JsonObject *out, JsonObject *vmsd,
                                    const char *what, guint depth)
{
    const char *parent = member_str(vmsd, "vmsd_name");
    size_t plen = parent ? strlen(parent) : 0;
    JsonNode *sn = json_object_get_member(vmsd, "subsections");
    JsonArray *subs = sn ? json_node_get_array(sn) : NULL;

    /* each round consumes at least 7 bytes, so the payload bounds it */
    for (;;) {
        const uint8_t *p = w->buf + w->pos;
        size_t left = w->len - w->pos, n;
        g_autofree char *name = NULL;
        JsonObject *sub = NULL;
                uint32_t version;
        JsonNode *v;

        if (left < 2 || p[0] != SUBSECTION_MARK) {
            return true;
        }
        n = p[1];
        if (n < plen + 1 || n > left - 2 || (plen && memcmp(p + 2, parent, plen) != 0)) {
            return true;        /* QEMU: not a subsection of this level */
        }
        /* QEMU compares the name as a C string, so does this */
        name = g_strndup((const char *)p + 2, n);
        for (guint i = 0; subs && i < json_array_get_length(subs); i++) {
            JsonNode *e = json_array_get_element(subs, i);
            const char *sname;

            if (!JSON_NODE_HOLDS_OBJECT(e)) {
                walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                          "VMDESCRIPTION: subsection %u of '%s' is not an object", i, what);
                return false;
            }
            sname = member_str(json_node_get_object(e), "vmsd_name");
            if (sname && strcmp(sname, name) == 0) {
                sub = json_node_get_object(e);
                break;
            }
        }
        if (!sub) {
            g_autofree char *shown = g_strescape(name, NULL);

            walk_fail(w, MIG_WIRE_ERROR_UNSUPPORTED,
                      "no description of subsection '%s' (the reference stream did not "
                      "send it)", shown);
            return false;
        }
        if (left - 2 - n < 4) {
            walk_fail(w, MIG_WIRE_ERROR_TRUNCATED,
                      "subsection '%s': header runs past the payload's end", name);
            return false;
        }
        version = mig_be32(p + 2 + n);
        if (!version_matches(w, sub, version, name)) {
            return false;
        }
        w->pos += 2 + n + 4;
        v = walk_level(w, sub, name, depth + 1);
        if (!v) {
            return false;
        }
        add_value(out, name, v, false);
    }
}

/* The whole payload by @vmsd: every byte accounted for. */
static JsonNode *walk_top(Walk *w, JsonObject *vmsd)
{
    const char *what = member_str(vmsd, "name");
    JsonNode *v;

    if (!what) {
        what = member_str(vmsd, "vmsd_name");
    }
    v = walk_level(w, vmsd, what ? what : "device", 0);
    if (v && w->pos != w->len) {
        json_node_unref(v);
        return walk_fail(w, MIG_WIRE_ERROR_CORRUPT,
                         "'%s': %zu payload bytes left after every described field "
                         "and subsection", what ? what : "device", w->len - w->pos);
    }
    return v;
}

JsonNode *mig_vmstate_walk(JsonObject *vmsd, const uint8_t *buf, size_t len,
                           uint64_t base_offset, GError **error)
{
    Walk w = { .buf = buf, .len = len, .base = base_offset, .error = error };

    return walk_top(&w, vmsd);
}

JsonNode *mig_vmstate_walk_foreign(JsonObject *vmsd, uint32_t section_version,
                                   const uint8_t *buf, size_t len, uint64_t base_offset,
                                   bool *exact, GError **error)
{
    Walk w = { .buf = buf, .len = len, .base = base_offset, .foreign = true,
               .error = error };
    JsonNode *v;

    if (exact) {
        *exact = false;
    }
    if (!version_matches(&w, vmsd, section_version, NULL)) {
        return NULL;
    }
    v = walk_top(&w, vmsd);
    if (v && exact) {
        *exact = !w.inexact;
    }
    return v;
}

bool mig_json_nesting_ok(const char *s, size_t n, unsigned max)
{
    unsigned depth = 0;
    bool in_str = false, esc = false;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (in_str) {
            if (esc) {
                esc = false;
            } else if (c == '\\') {
                esc = true;
            } else if (c == '"') {
                in_str = false;
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max) {
                return false;
            }
        } else if ((c == '}' || c == ']') && depth) {
            depth--;
        }
    }
    return true;
}

void mig_vmstate_desc_free(MigVmstateDesc *desc)
{
    if (desc) {
        g_hash_table_destroy(desc->devices);
        json_node_unref(desc->root);
        g_free(desc);
    }
}

MigVmstateDesc *mig_vmstate_desc_parse(const char *json, size_t len, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) perr = NULL;

    if (len > MIG_LIMIT_VMDESC) {
        g_set_error(error, MIG_WIRE_ERROR, MIG_WIRE_ERROR_LIMIT,
                    "offset 0: VMDESCRIPTION of %zu bytes is over the limit of %u",
                    len, MIG_LIMIT_VMDESC);
        return NULL;
    }
    if (!mig_json_nesting_ok(json, len, MIG_LIMIT_JSON_DEPTH)) {
        g_set_error(error, MIG_WIRE_ERROR, MIG_WIRE_ERROR_LIMIT,
                    "offset 0: VMDESCRIPTION nests deeper than %u levels",
                    MIG_LIMIT_JSON_DEPTH);
        return NULL;
    }
    parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, json, (gssize)len, &perr)) {
        g_set_error(error, MIG_WIRE_ERROR, MIG_WIRE_ERROR_CORRUPT,
                    "offset 0: VMDESCRIPTION is not JSON: %s", perr->message);
        return NULL;
    }
    return mig_vmstate_desc_from_node(json_parser_get_root(parser), error);
}

MigVmstateDesc *mig_vmstate_desc_from_node(JsonNode *root, GError **error)
{
    MigVmstateDesc *d;
    JsonNode *dn;
    JsonArray *devices;

    dn = root && JSON_NODE_HOLDS_OBJECT(root)
         ? json_object_get_member(json_node_get_object(root), "devices") : NULL;
    if (!dn || !JSON_NODE_HOLDS_ARRAY(dn)) {
        g_set_error(error, MIG_WIRE_ERROR, MIG_WIRE_ERROR_CORRUPT,
                    "offset 0: VMDESCRIPTION is not an object with a \"devices\" list");
        return NULL;
    }
    d = g_new0(MigVmstateDesc, 1);
    d->root = json_node_ref(root);
    d->devices = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    member_u64(json_node_get_object(root), "page_size", &d->page_size);
    devices = json_node_get_array(dn);
    for (guint i = 0; i < json_array_get_length(devices); i++) {
        JsonNode *e = json_array_get_element(devices, i);
        JsonObject *o;
        const char *name;
        uint64_t inst;

        if (!JSON_NODE_HOLDS_OBJECT(e)) {
            continue;
        }
        o = json_node_get_object(e);
        name = member_str(o, "name");
        if (!name || !member_u64(o, "instance_id", &inst) || inst > UINT32_MAX) {
            mig_vmstate_desc_free(d);
            g_set_error(error, MIG_WIRE_ERROR, MIG_WIRE_ERROR_CORRUPT,
                        "offset 0: VMDESCRIPTION device %u has no name or instance_id", i);
            return NULL;
        }
        g_hash_table_insert(d->devices, g_strdup_printf("%" G_GUINT64_FORMAT ":%s",
                                                        inst, name), o);
    }
    return d;
}

JsonNode *mig_vmstate_desc_root(const MigVmstateDesc *desc)
{
    return desc->root;
}

uint64_t mig_vmstate_desc_page_size(const MigVmstateDesc *desc)
{
    return desc->page_size;
}

JsonObject *mig_vmstate_desc_lookup(const MigVmstateDesc *desc, const char *idstr,
                                    uint32_t instance)
{
    g_autofree char *key = g_strdup_printf("%u:%s", instance, idstr);

    return g_hash_table_lookup(desc->devices, key);
}
