/*
 * vmstate-dump.c - parses a destination's -dump-vmstate file into
 * (QOM type, vmsd name, version_id, minimum_version_id) entries, indexed
 * by vmsd name (see vmstate-dump.h for why by that name).
 *
 * Each entry keeps the version range that vmstate_load_state() checks
 * for the section as a whole, and its whole Description (for the
 * subsection check in devices.c).
 */
#include "vmstate-dump.h"

#include <gio/gio.h>
#include <stdarg.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include "vmstate.h"
#include "wire-limits.h"

struct MpVmstateDump {
    JsonNode *root;
    char *machine;
    GPtrArray *entries;         /* MpVmstateEntry *, owned */
    GHashTable *by_vmsd;        /* vmsd name -> GPtrArray of borrowed entries */
};

static void entry_free(gpointer p)
{
    MpVmstateEntry *e = p;

    g_free(e->qom_type);
    g_free(e->vmsd_name);
    g_free(e);
}

void mp_vmstate_dump_free(MpVmstateDump *dump)
{
    if (dump) {
        g_hash_table_destroy(dump->by_vmsd);
        g_ptr_array_free(dump->entries, TRUE);
        g_free(dump->machine);
        if (dump->root) {
            json_node_unref(dump->root);
        }
        g_free(dump);
    }
}

/* A version number as the file writes it: an integer in 0..INT32_MAX. */
static bool get_version(JsonObject *o, const char *name, uint32_t *out)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0 || json_node_get_int(n) > INT32_MAX) {
        return false;
    }
    *out = (uint32_t)json_node_get_int(n);
    return true;
}

static bool fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool fail(GError **error, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "-dump-vmstate file: %s", msg);
    return false;
}

static bool add_entry(MpVmstateDump *dump, const char *key, JsonNode *node, GError **error)
{
    JsonObject *o, *desc;
    JsonNode *dn;
    const char *name;
    MpVmstateEntry *e;
    GPtrArray *list;

    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        return fail(error, "entry '%s' is not an object", key);
    }
    o = json_node_get_object(node);
    dn = json_object_get_member(o, "Description");
    if (!dn || !JSON_NODE_HOLDS_OBJECT(dn)) {
        return fail(error, "entry '%s' has no Description", key);
    }
    desc = json_node_get_object(dn);
    name = json_object_get_string_member_with_default(desc, "name", NULL);
    e = g_new0(MpVmstateEntry, 1);
    if (!name || !get_version(desc, "version_id", &e->version_id) ||
        !get_version(desc, "minimum_version_id", &e->minimum_version_id)) {
        g_free(e);
        return fail(error, "entry '%s' has no vmsd name or version range", key);
    }
    e->qom_type = g_strdup(key);
    e->description = desc;
    e->vmsd_name = g_strdup(name);
    g_ptr_array_add(dump->entries, e);
    list = g_hash_table_lookup(dump->by_vmsd, name);
    if (!list) {
        list = g_ptr_array_new();
        g_hash_table_insert(dump->by_vmsd, e->vmsd_name, list);
    }
    g_ptr_array_add(list, e);
    return true;
}

MpVmstateDump *mp_vmstate_dump_parse(const char *text, size_t len, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) perr = NULL;
    MpVmstateDump *dump;
    JsonNode *root;
    JsonObjectIter it;
    const char *key;
    JsonNode *member;

    if (len > MIG_LIMIT_DUMP_VMSTATE) {
        fail(error, "%zu bytes, over the limit of %u", len, MIG_LIMIT_DUMP_VMSTATE);
        return NULL;
    }
    if (!mig_json_nesting_ok(text, len, MIG_LIMIT_JSON_DEPTH)) {
        fail(error, "nests deeper than %u levels", MIG_LIMIT_JSON_DEPTH);
        return NULL;
    }
    parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, text, (gssize)len, &perr)) {
        fail(error, "not JSON: %s", perr->message);
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        fail(error, "not a JSON object");
        return NULL;
    }
    dump = g_new0(MpVmstateDump, 1);
    dump->root = json_node_ref(root);
    dump->entries = g_ptr_array_new_with_free_func(entry_free);
    dump->by_vmsd = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify)g_ptr_array_unref);
    json_object_iter_init_ordered(&it, json_node_get_object(root));
    while (json_object_iter_next_ordered(&it, &key, &member)) {
        if (strcmp(key, "vmschkmachine") == 0) {
            if (JSON_NODE_HOLDS_OBJECT(member)) {
                dump->machine = g_strdup(json_object_get_string_member_with_default(
                    json_node_get_object(member), "Name", NULL));
            }
            continue;
        }
        if (!add_entry(dump, key, member, error)) {
            mp_vmstate_dump_free(dump);
            return NULL;
        }
    }
    return dump;
}

MpVmstateDump *mp_vmstate_dump_load(const char *path, GError **error)
{
    g_autoptr(GMappedFile) map = g_mapped_file_new(path, FALSE, error);

    if (!map) {
        return NULL;
    }
    if (g_mapped_file_get_length(map) == 0) {
        fail(error, "%s is empty", path);
        return NULL;
    }
    return mp_vmstate_dump_parse(g_mapped_file_get_contents(map),
                                 g_mapped_file_get_length(map), error);
}

const char *mp_vmstate_dump_machine(const MpVmstateDump *dump)
{
    return dump->machine;
}

guint mp_vmstate_dump_count(const MpVmstateDump *dump)
{
    return dump->entries->len;
}

const GPtrArray *mp_vmstate_dump_lookup(const MpVmstateDump *dump, const char *vmsd_name)
{
    return g_hash_table_lookup(dump->by_vmsd, vmsd_name);
}

const char *mp_vmstate_vmsd_of_idstr(const char *idstr)
{
    const char *slash = strrchr(idstr, '/');

    return slash ? slash + 1 : idstr;
}
