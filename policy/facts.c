/*
 * facts.c - construction of MpFacts, the parser of HMP "info ramblock" and
 * the JSON profile format that `migproxy probe` writes.
 */
#include "facts.h"
#include "dest-sections.h"

#include <json-glib/json-glib.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "vmstate.h"
#include "wire-limits.h"

G_DEFINE_QUARK(mp-facts-error-quark, mp_facts_error)

static void ramblock_free(gpointer p)
{
    MpRamBlock *rb = p;

    g_free(rb->name);
    g_free(rb);
}

MpFacts *mp_facts_new(MpFactsOrigin origin)
{
    MpFacts *f = g_new0(MpFacts, 1);

    f->origin = origin;
    f->caps = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    f->ramblocks = g_ptr_array_new_with_free_func(ramblock_free);
    f->announced_caps = g_ptr_array_new_with_free_func(g_free);
    f->pci_devices = g_ptr_array_new_with_free_func(g_free);
    f->prefix_certain = true;
    return f;
}

void mp_facts_free(MpFacts *facts)
{
    if (!facts) {
        return;
    }
    g_free(facts->machine);
    g_free(facts->multifd_compression);
    g_hash_table_unref(facts->caps);
    g_ptr_array_unref(facts->ramblocks);
    g_ptr_array_unref(facts->announced_caps);
    g_ptr_array_unref(facts->pci_devices);
    if (facts->sections) {
        g_array_free(facts->sections, TRUE);
    }
    mig_vmstate_desc_free(facts->layouts);
    g_free(facts);
}

void mp_facts_set_cap(MpFacts *facts, const char *name, bool on)
{
    g_hash_table_replace(facts->caps, g_strdup(name), GINT_TO_POINTER(on ? 1 : 0));
}

bool mp_facts_get_cap(const MpFacts *facts, const char *name, bool *on)
{
    gpointer value;

    if (g_hash_table_lookup_extended(facts->caps, name, NULL, &value)) {
        *on = GPOINTER_TO_INT(value) != 0;
        return true;
    }
    if (facts->caps_complete) {
        *on = false;
        return true;
    }
    return false;
}

MpRamBlock *mp_facts_add_ramblock(MpFacts *facts, const char *name,
                                  uint64_t used_length)
{
    MpRamBlock *rb = g_new0(MpRamBlock, 1);

    rb->name = g_strdup(name);
    rb->used_length = used_length;
    g_ptr_array_add(facts->ramblocks, rb);
    return rb;
}

const MpRamBlock *mp_facts_find_ramblock(const MpFacts *facts,
                                         const char *name)
{
    for (guint i = 0; i < facts->ramblocks->len; i++) {
        const MpRamBlock *rb = g_ptr_array_index(facts->ramblocks, i);

        if (strcmp(rb->name, name) == 0) {
            return rb;
        }
    }
    return NULL;
}

bool mp_facts_lacks_pci_device(const MpFacts *facts, const char *idstr,
                               char **device)
{
    static GRegex *path_re;
    g_autoptr(GMatchInfo) match = NULL;
    g_autofree char *path = NULL;

    if (g_once_init_enter(&path_re)) {
        GRegex *re = g_regex_new("^([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]"
                                 "(:[0-9a-f]{2}\\.[0-7])*)/", G_REGEX_OPTIMIZE, 0, NULL);

        g_once_init_leave(&path_re, re);
    }
    if (!facts->has_pci_devices || !g_regex_match(path_re, idstr, 0, &match)) {
        return false;
    }
    path = g_match_info_fetch(match, 1);
    for (guint i = 0; i < facts->pci_devices->len; i++) {
        if (strcmp(g_ptr_array_index(facts->pci_devices, i), path) == 0) {
            return false;
        }
    }
    if (device) {
        *device = g_steal_pointer(&path);
    }
    return true;
}

uint64_t mp_facts_ram_size(const MpFacts *facts)
{
    uint64_t sum = 0;

    for (guint i = 0; i < facts->ramblocks->len; i++) {
        const MpRamBlock *rb = g_ptr_array_index(facts->ramblocks, i);

        sum += rb->used_length;
    }
    return sum;
}

/* "4 KiB", "2 MiB", "1 GiB" as HMP's size_to_str prints page sizes. */
static bool parse_hmp_size(const char *number, const char *unit, uint64_t *out)
{
    static const struct { const char *unit; uint64_t mult; } units[] = {
        { "B", 1 }, { "KiB", 1ull << 10 }, { "MiB", 1ull << 20 },
        { "GiB", 1ull << 30 }, { "TiB", 1ull << 40 },
    };
    char *end;
    double value = g_ascii_strtod(number, &end);

    if (end == number || *end != '\0' || value <= 0) {
        return false;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(units); i++) {
        if (strcmp(unit, units[i].unit) == 0) {
            *out = (uint64_t)(value * (double)units[i].mult + 0.5);
            return true;
        }
    }
    return false;
}

static bool parse_hex(const char *text, uint64_t *out)
{
    char *end;

    if (!g_str_has_prefix(text, "0x")) {
        return false;
    }
    errno = 0;
    *out = g_ascii_strtoull(text + 2, &end, 16);
    return errno == 0 && end != text + 2 && *end == '\0';
}

bool mp_facts_parse_info_ramblock(MpFacts *facts, const char *text,
                                  GError **error)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    bool header_seen = false;

    for (guint i = 0; lines[i]; i++) {
        g_autofree char *line = g_strstrip(g_strdup(lines[i]));
        g_auto(GStrv) cols = NULL;
        const char *field[6];
        guint n = 0;
        uint64_t psize, offset, used, total;
        MpRamBlock *rb;

        if (!*line) {
            continue;
        }
        if (g_str_has_prefix(line, "Block Name")) {
            header_seen = true;
            continue;
        }
        if (!header_seen) {
            continue;
        }
        /*
         * Block names never contain spaces (they are idstrs); so a row is
         * exactly: name, size number, size unit, offset, used, total.
         */
        cols = g_strsplit_set(line, " \t", -1);
        for (guint j = 0; cols[j] && n < G_N_ELEMENTS(field); j++) {
            if (*cols[j]) {
                field[n++] = cols[j];
            }
        }
        if (n < G_N_ELEMENTS(field) ||
            !parse_hmp_size(field[1], field[2], &psize) ||
            !parse_hex(field[3], &offset) || !parse_hex(field[4], &used) ||
            !parse_hex(field[5], &total)) {
            g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE,
                        "info ramblock: cannot read row %u: '%s'", i, line);
            return false;
        }
        rb = mp_facts_add_ramblock(facts, field[0], used);
        rb->has_max_length = true;
        rb->max_length = total;
        rb->has_page_size = true;
        rb->page_size = psize;
    }
    if (!header_seen) {
        g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE,
                    "info ramblock: no 'Block Name' header in the reply");
        return false;
    }
    facts->ramblocks_complete = true;
    return true;
}

static void add_u64_or_null(JsonBuilder *b, const char *name, bool has,
                            uint64_t value)
{
    json_builder_set_member_name(b, name);
    if (has) {
        json_builder_add_int_value(b, (gint64)value);
    } else {
        json_builder_add_null_value(b);
    }
}

char *mp_facts_to_json(const MpFacts *facts)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GList) names = g_hash_table_get_keys(facts->caps);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "migproxy_profile");
    json_builder_add_int_value(b, 1);
    json_builder_set_member_name(b, "machine");
    if (facts->machine) {
        json_builder_add_string_value(b, facts->machine);
    } else {
        json_builder_add_null_value(b);
    }
    add_u64_or_null(b, "target_page_bits", facts->has_page_bits, facts->page_bits);
    add_u64_or_null(b, "host_page_size", facts->has_host_page_size,
                    facts->host_page_size);

    names = g_list_sort(names, (GCompareFunc)strcmp);
    json_builder_set_member_name(b, "capabilities");
    json_builder_begin_object(b);
    for (GList *l = names; l; l = l->next) {
        bool on = false;

        mp_facts_get_cap(facts, l->data, &on);
        json_builder_set_member_name(b, l->data);
        json_builder_add_boolean_value(b, on);
    }
    json_builder_end_object(b);

    json_builder_set_member_name(b, "parameters");
    json_builder_begin_object(b);
    if (facts->has_multifd_channels) {
        json_builder_set_member_name(b, "multifd-channels");
        json_builder_add_int_value(b, facts->multifd_channels);
    }
    if (facts->multifd_compression) {
        json_builder_set_member_name(b, "multifd-compression");
        json_builder_add_string_value(b, facts->multifd_compression);
    }
    json_builder_end_object(b);

    add_u64_or_null(b, "cpus", facts->has_cpus, facts->cpus);
    json_builder_set_member_name(b, "pci_devices");
    if (facts->has_pci_devices) {
        json_builder_begin_array(b);
        for (guint i = 0; i < facts->pci_devices->len; i++) {
            json_builder_add_string_value(b, g_ptr_array_index(facts->pci_devices, i));
        }
        json_builder_end_array(b);
    } else {
        json_builder_add_null_value(b);
    }

    if (facts->sections) {
        mp_sections_to_json(b, facts->sections);
    }
    if (facts->layouts) {
        json_builder_set_member_name(b, "layouts");
        json_builder_add_value(b, json_node_copy(mig_vmstate_desc_root(facts->layouts)));
    }
    json_builder_set_member_name(b, "ramblocks");
    json_builder_begin_array(b);
    for (guint i = 0; i < facts->ramblocks->len; i++) {
        const MpRamBlock *rb = g_ptr_array_index(facts->ramblocks, i);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, rb->name);
        add_u64_or_null(b, "used_length", true, rb->used_length);
        add_u64_or_null(b, "max_length", rb->has_max_length, rb->max_length);
        add_u64_or_null(b, "page_size", rb->has_page_size, rb->page_size);
        add_u64_or_null(b, "addr", rb->has_addr, rb->addr);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);

    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    return json_generator_to_data(gen, NULL);
}

/*
 * An optional member of JSON type @type (JSON_NODE_OBJECT or _ARRAY): *out
 * is NULL when it is absent or null; FALSE when it has another type (the
 * json-glib getters would only complain on the console and return NULL).
 */
static bool get_container_member(JsonObject *obj, const char *name, JsonNodeType type,
                                 JsonNode **out, GError **error)
{
    JsonNode *n = json_object_get_member(obj, name);

    *out = NULL;
    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        return true;
    }
    if (JSON_NODE_TYPE(n) != type) {
        g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE,
                    "profile: \"%s\" must be %s", name,
                    type == JSON_NODE_OBJECT ? "an object" : "an array");
        return false;
    }
    *out = n;
    return true;
}

/* A member's string, or NULL when it is absent or not a string (json-glib's
 * _with_default getters complain on the console about other types). */
static const char *string_member(JsonObject *obj, const char *name)
{
    JsonNode *n = json_object_get_member(obj, name);

    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
           ? json_node_get_string(n) : NULL;
}

/* Reads an optional non-negative integer member; FALSE when malformed. */
static bool get_u64_member(JsonObject *obj, const char *name, bool *has,
                           uint64_t *out, GError **error)
{
    JsonNode *node = json_object_get_member(obj, name);

    *has = false;
    if (!node || JSON_NODE_HOLDS_NULL(node)) {
        return true;
    }
    if (!JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_INT64 ||
        json_node_get_int(node) < 0) {
        g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE,
                    "profile: member '%s' must be a non-negative integer or null",
                    name);
        return false;
    }
    *has = true;
    *out = (uint64_t)json_node_get_int(node);
    return true;
}

MpFacts *mp_facts_load(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;
    gsize length;
    GStatBuf st;
    MpFacts *facts;

    if (g_stat(path, &st) == 0 && (guint64)st.st_size > MP_FACTS_PROFILE_MAX) {
        g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE,
                    "%s: %" G_GUINT64_FORMAT " bytes, more than a profile has (%u): not read",
                    path, (guint64)st.st_size, MP_FACTS_PROFILE_MAX);
        return NULL;
    }
    if (!g_file_get_contents(path, &text, &length, error)) {
        return NULL;
    }
    facts = mp_facts_from_json(text, (gssize)length, &local);
    if (!facts) {
        g_set_error(error, local->domain, local->code, "%s: %s", path, local->message);
    }
    return facts;
}

bool mp_facts_is_profile_text(const uint8_t *head, size_t len)
{
    size_t i = 0;

    while (i < len && g_ascii_isspace(head[i])) {
        i++;
    }
    return i < len && head[i] == '{';
}

MpFacts *mp_facts_from_json(const char *text, gssize length, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(MpFacts) facts = mp_facts_new(MP_FACTS_FROM_PROFILE);
    JsonNode *root;
    JsonObject *obj, *caps, *params;
    JsonArray *blocks;
    JsonNode *node;
    uint64_t value;
    bool has;

    if (length < 0) {
        length = (gssize)strlen(text);
    }
    /* json-glib recurses per level: a hostile file must not exhaust the stack */
    if (!mig_json_nesting_ok(text, (size_t)length, MIG_LIMIT_JSON_DEPTH)) {
        g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE,
                    "profile: JSON nested deeper than %u levels", MIG_LIMIT_JSON_DEPTH);
        return NULL;
    }
    if (!json_parser_load_from_data(parser, text, length, error)) {
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE,
                    "profile: the top level must be a JSON object");
        return NULL;
    }
    obj = json_node_get_object(root);
    if (!get_u64_member(obj, "migproxy_profile", &has, &value, NULL) || !has || value != 1) {
        g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE,
                    "profile: \"migproxy_profile\": 1 missing (not a profile written by migproxy probe?)");
        return NULL;
    }
    if (json_object_has_member(obj, "machine") &&
        !JSON_NODE_HOLDS_NULL(json_object_get_member(obj, "machine"))) {
        const char *m = string_member(obj, "machine");

        if (!m) {
            g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE,
                        "profile: \"machine\" must be a string");
            return NULL;
        }
        facts->machine = g_strdup(m);
    }
    if (!get_u64_member(obj, "target_page_bits", &has, &value, error)) {
        return NULL;
    }
    facts->has_page_bits = has;
    facts->page_bits = (uint32_t)value;
    if (!get_u64_member(obj, "host_page_size", &has, &value, error)) {
        return NULL;
    }
    facts->has_host_page_size = has;
    facts->host_page_size = value;

    if (!get_container_member(obj, "capabilities", JSON_NODE_OBJECT, &node, error)) {
        return NULL;
    }
    caps = node ? json_node_get_object(node) : NULL;
    if (caps) {
        g_autoptr(GList) members = json_object_get_members(caps);

        for (GList *l = members; l; l = l->next) {
            JsonNode *n = json_object_get_member(caps, l->data);

            if (!JSON_NODE_HOLDS_VALUE(n) ||
                json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
                g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE,
                            "profile: capability '%s' must be true or false",
                            (const char *)l->data);
                return NULL;
            }
            mp_facts_set_cap(facts, l->data, json_node_get_boolean(n));
        }
        facts->caps_complete = true;
    }
    if (!get_container_member(obj, "parameters", JSON_NODE_OBJECT, &node, error)) {
        return NULL;
    }
    params = node ? json_node_get_object(node) : NULL;
    if (params) {
        if (!get_u64_member(params, "multifd-channels", &has, &value, error)) {
            return NULL;
        }
        facts->has_multifd_channels = has;
        facts->multifd_channels = (uint32_t)value;
        facts->multifd_compression = g_strdup(
            string_member(params, "multifd-compression"));
    }
    if (!get_u64_member(obj, "cpus", &has, &value, error)) {
        return NULL;
    }
    facts->has_cpus = has;
    facts->cpus = (uint32_t)value;
    if (!get_container_member(obj, "pci_devices", JSON_NODE_ARRAY, &node, error)) {
        return NULL;
    }
    if (node) {
        JsonArray *pci = json_node_get_array(node);

        for (guint i = 0; i < json_array_get_length(pci); i++) {
            JsonNode *e = json_array_get_element(pci, i);
            const char *dev = JSON_NODE_HOLDS_VALUE(e) &&
                              json_node_get_value_type(e) == G_TYPE_STRING
                              ? json_node_get_string(e) : NULL;

            if (!dev) {
                g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE,
                            "profile: pci_devices[%u] must be a string", i);
                return NULL;
            }
            g_ptr_array_add(facts->pci_devices, g_strdup(dev));
        }
        facts->has_pci_devices = true;
    }
    if (!mp_sections_from_json(obj, &facts->sections, error)) {
        return NULL;
    }
    if (!get_container_member(obj, "layouts", JSON_NODE_OBJECT, &node, error)) {
        return NULL;
    }
    if (node) {
        g_autoptr(GError) lerr = NULL;

        facts->layouts = mig_vmstate_desc_from_node(node, &lerr);
        if (!facts->layouts) {
            g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE, "profile: \"layouts\": %s",
                        lerr->message);
            return NULL;
        }
    }
    if (!get_container_member(obj, "ramblocks", JSON_NODE_ARRAY, &node, error)) {
        return NULL;
    }
    blocks = node ? json_node_get_array(node) : NULL;
    if (blocks) {
        for (guint i = 0; i < json_array_get_length(blocks); i++) {
            JsonNode *e = json_array_get_element(blocks, i);
            JsonObject *bo = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
            const char *name;
            MpRamBlock *rb;

            name = bo ? string_member(bo, "name") : NULL;
            if (!name || !get_u64_member(bo, "used_length", &has, &value, error) || !has) {
                if (error && !*error) {
                    g_set_error(error, MP_FACTS_ERROR, MP_FACTS_ERROR_PARSE,
                                "profile: ramblocks[%u] needs \"name\" and \"used_length\"", i);
                }
                return NULL;
            }
            rb = mp_facts_add_ramblock(facts, name, value);
            if (!get_u64_member(bo, "max_length", &rb->has_max_length,
                                &rb->max_length, error) ||
                !get_u64_member(bo, "page_size", &rb->has_page_size,
                                &rb->page_size, error) ||
                !get_u64_member(bo, "addr", &rb->has_addr, &rb->addr, error)) {
                return NULL;
            }
        }
        facts->ramblocks_complete = true;
    }
    return g_steal_pointer(&facts);
}

void mp_facts_from_stream_event(MpFacts *f, const MigEvent *ev, bool in_prefix)
{
    if (in_prefix && !ev->certain) {
        f->prefix_certain = false;
    }
    switch (ev->type) {
    case MIG_EV_HEADER:
        f->has_header = true;
        f->magic = ev->u.header.magic;
        f->version = ev->u.header.version;
        break;
    case MIG_EV_CONFIGURATION:
        f->has_configuration = true;
        g_free(f->machine);
        f->machine = g_strdup(ev->u.config.machine);
        f->has_page_bits = ev->u.config.has_page_bits;
        f->page_bits = ev->u.config.page_bits;
        for (guint i = 0; i < ev->u.config.n_caps; i++) {
            g_ptr_array_add(f->announced_caps, g_strdup(ev->u.config.caps[i]));
            mp_facts_set_cap(f, ev->u.config.caps[i], true);
        }
        break;
    case MIG_EV_COMMAND:
        if (ev->u.command.cmd == MIG_CMD_OPEN_RETURN_PATH) {
            f->return_path_opened = true;
        } else if (ev->u.command.cmd == MIG_CMD_POSTCOPY_ADVISE && in_prefix &&
                   !f->has_postcopy_advise) {
            const uint8_t *d = ev->u.command.data;

            f->has_postcopy_advise = true;
            f->postcopy_advise_length = ev->u.command.length;
            if (ev->u.command.length == 16) {
                for (int i = 0; i < 8; i++) {
                    f->advise_page_summary = f->advise_page_summary << 8 | d[i];
                    f->advise_target_page_size = f->advise_target_page_size << 8 | d[8 + i];
                }
            }
        }
        break;
    case MIG_EV_RAM_TOTAL:
        if (in_prefix) {
            f->has_ram_total = true;
            f->ram_total = ev->u.ram_total.total;
        }
        break;
    case MIG_EV_RAMBLOCK:
        if (in_prefix) {
            MpRamBlock *rb = mp_facts_add_ramblock(f, ev->u.ramblock.idstr,
                                                   ev->u.ramblock.used_length);

            rb->has_page_size = ev->u.ramblock.has_page_size;
            rb->page_size = ev->u.ramblock.page_size;
            rb->has_addr = ev->u.ramblock.has_addr;
            rb->addr = ev->u.ramblock.addr;
        }
        break;
    case MIG_EV_RAMBLOCK_LIST_END:
        if (in_prefix) {
            f->ramblocks_complete = true;
        }
        break;
    default:
        break;
    }
}
