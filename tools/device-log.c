/*
 * device-log.c - migdump's record of the device sections of one stream,
 * and `migdump --devices`: every FULL section printed field by field from
 * the stream's own VMDESCRIPTION, as text or in the shape of QEMU's
 * scripts/analyze-migration.py "-d state" output.
 *
 * Why the payloads are read back from the file: the decoder never copies a
 * device payload (it scans it for the footer), and the description that
 * says how to read one comes only after EOF.  The events give each FULL
 * section's payload offset (the header's end) and length, so once the
 * decode is over the payloads are read again from the file or the capture
 * (stream-source.h), one at a time, at most MIG_LIMIT_DEVICE_STATE bytes
 * over all sections.  The price is that --devices needs a file, not a pipe.
 */
#include "device-log.h"

#include <string.h>
#include <json-glib/json-glib.h>
#include "vmstate.h"

typedef struct {
    uint32_t id;
    char *idstr;
    uint32_t instance;
    uint32_t version;
    uint8_t type;               /* of the last START/FULL header */
    bool has_payload;           /* a FULL section's payload was delimited */
    bool scanned;               /* ... by the footer scan (a guess) */
    uint64_t payload_offset;
    uint64_t payload_length;
} Row;

typedef struct {
    char *name;
    uint64_t length;
} Block;

struct DeviceLog {
    GArray *rows;               /* Row, in order of each id's first START/FULL */
    GHashTable *by_id;          /* section id -> index + 1 */
    GArray *sections;           /* MpSectionRef, every START/FULL header */
    GArray *blocks;             /* Block: the RAM block list */
    GByteArray *vmdesc;
    bool has_vmdesc;
    MigVmstateDesc *parsed;     /* device_log_vmdesc() */
    bool parse_tried;
};

static void row_clear(gpointer p)
{
    g_free(((Row *)p)->idstr);
}

static void block_clear(gpointer p)
{
    g_free(((Block *)p)->name);
}

DeviceLog *device_log_new(void)
{
    DeviceLog *log = g_new0(DeviceLog, 1);

    log->rows = g_array_new(FALSE, TRUE, sizeof(Row));
    g_array_set_clear_func(log->rows, row_clear);
    log->by_id = g_hash_table_new(g_direct_hash, g_direct_equal);
    log->sections = mp_section_list_new();
    log->blocks = g_array_new(FALSE, TRUE, sizeof(Block));
    g_array_set_clear_func(log->blocks, block_clear);
    log->vmdesc = g_byte_array_new();
    return log;
}

void device_log_free(DeviceLog *log)
{
    if (log) {
        g_array_free(log->rows, TRUE);
        g_hash_table_destroy(log->by_id);
        g_array_free(log->sections, TRUE);
        g_array_free(log->blocks, TRUE);
        g_byte_array_free(log->vmdesc, TRUE);
        mig_vmstate_desc_free(log->parsed);
        g_free(log);
    }
}

static void on_header(DeviceLog *log, const MigEvent *ev)
{
    const MigSectionEvent *e = &ev->u.section;
    guint idx = GPOINTER_TO_UINT(g_hash_table_lookup(log->by_id,
                                                     GUINT_TO_POINTER(e->section_id)));
    Row *row;

    if (e->type != QEMU_VM_SECTION_START && e->type != QEMU_VM_SECTION_FULL) {
        return;
    }
    mp_section_list_add(log->sections, e->idstr, e->instance_id, e->version_id,
                        e->section_id, e->type);
    if (!idx) {
        Row r = { .id = e->section_id };

        g_array_append_val(log->rows, r);
        idx = log->rows->len;
        g_hash_table_insert(log->by_id, GUINT_TO_POINTER(e->section_id),
                            GUINT_TO_POINTER(idx));
    }
    row = &g_array_index(log->rows, Row, idx - 1);
    g_free(row->idstr);
    row->idstr = g_strdup(e->idstr);
    row->instance = e->instance_id;
    row->version = e->version_id;
    row->type = e->type;
    row->has_payload = false;
    row->scanned = false;
    row->payload_offset = ev->end;
}

static void on_end(DeviceLog *log, const MigEvent *ev)
{
    const MigSectionEvent *e = &ev->u.section;
    guint idx = GPOINTER_TO_UINT(g_hash_table_lookup(log->by_id,
                                                     GUINT_TO_POINTER(e->section_id)));
    Row *row;

    if (e->type != QEMU_VM_SECTION_FULL || !idx) {
        return;
    }
    row = &g_array_index(log->rows, Row, idx - 1);
    row->has_payload = true;
    row->payload_length = e->payload_length;
    row->scanned = e->scanned;
}

void device_log_event(DeviceLog *log, const MigEvent *ev)
{
    switch (ev->type) {
    case MIG_EV_SECTION:
        on_header(log, ev);
        break;
    case MIG_EV_SECTION_END:
        on_end(log, ev);
        break;
    case MIG_EV_RAM_TOTAL:
        g_array_set_size(log->blocks, 0);
        break;
    case MIG_EV_RAMBLOCK: {
        Block b = { .name = g_strdup(ev->u.ramblock.idstr),
                    .length = ev->u.ramblock.used_length };
        g_array_append_val(log->blocks, b);
        break;
    }
    case MIG_EV_VMDESC:
        /* the decoder holds at most MIG_LIMIT_VMDESC bytes of it */
        g_byte_array_set_size(log->vmdesc, 0);
        g_byte_array_append(log->vmdesc, (const guint8 *)ev->u.vmdesc.json,
                            ev->u.vmdesc.length);
        log->has_vmdesc = true;
        break;
    default:
        break;
    }
}

const GArray *device_log_sections(const DeviceLog *log)
{
    return log->sections;
}

bool device_log_has_vmdesc(const DeviceLog *log)
{
    return log->has_vmdesc;
}

const MigVmstateDesc *device_log_vmdesc(DeviceLog *log)
{
    g_autoptr(GError) err = NULL;

    if (!log->parse_tried && log->has_vmdesc) {
        log->parse_tried = true;
        log->parsed = mig_vmstate_desc_parse((const char *)log->vmdesc->data,
                                             log->vmdesc->len, &err);
        if (!log->parsed) {
            fprintf(stderr, "migdump: VMDESCRIPTION: %s\n", err->message);
        }
    }
    return log->parsed;
}

MigVmstateDesc *device_log_take_vmdesc(DeviceLog *log)
{
    device_log_vmdesc(log);
    return g_steal_pointer(&log->parsed);
}

/* analyze-migration.py's entry for the ram section: block -> length. */
static JsonNode *ram_sizes(const DeviceLog *log)
{
    JsonObject *sizes = json_object_new(), *top = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    for (guint i = 0; i < log->blocks->len; i++) {
        const Block *b = &g_array_index(log->blocks, Block, i);
        g_autofree char *v = g_strdup_printf("0x%016" G_GINT64_MODIFIER "x", b->length);

        json_object_set_string_member(sizes, b->name, v);
    }
    json_object_set_object_member(top, "section sizes", sizes);
    json_node_take_object(node, top);
    return node;
}

static bool is_scalar_list(JsonArray *a)
{
    for (guint i = 0; i < json_array_get_length(a); i++) {
        if (!JSON_NODE_HOLDS_VALUE(json_array_get_element(a, i))) {
            return false;
        }
    }
    return true;
}

static char *scalar_text(JsonNode *n)
{
    if (json_node_get_value_type(n) == G_TYPE_BOOLEAN) {
        return g_strdup(json_node_get_boolean(n) ? "true" : "false");
    }
    return g_strdup(json_node_get_string(n));
}

/* One value per line, nested ones indented under their name. */
static void print_tree(FILE *out, const char *name, JsonNode *n, int indent)
{
    if (JSON_NODE_HOLDS_OBJECT(n)) {
        JsonObjectIter it;
        const char *k;
        JsonNode *v;

        fprintf(out, "%*s%s:\n", indent, "", name);
        json_object_iter_init_ordered(&it, json_node_get_object(n));
        while (json_object_iter_next_ordered(&it, &k, &v)) {
            print_tree(out, k, v, indent + 2);
        }
    } else if (JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);

        if (is_scalar_list(a)) {
            fprintf(out, "%*s%s: [", indent, "", name);
            for (guint i = 0; i < json_array_get_length(a); i++) {
                g_autofree char *t = scalar_text(json_array_get_element(a, i));
                fprintf(out, "%s%s", i ? ", " : "", t);
            }
            fprintf(out, "]\n");
        } else {
            for (guint i = 0; i < json_array_get_length(a); i++) {
                g_autofree char *k = g_strdup_printf("%s[%u]", name, i);
                print_tree(out, k, json_array_get_element(a, i), indent);
            }
        }
    } else if (JSON_NODE_HOLDS_VALUE(n)) {
        g_autofree char *t = scalar_text(n);
        fprintf(out, "%*s%s: %s\n", indent, "", name, t);
    }
}

int device_log_print(DeviceLog *log, MpStreamSource *src, const MigVmstateDesc *reference,
                     bool json, FILE *out)
{
    g_autoptr(GError) err = NULL;
    const MigVmstateDesc *desc;
    g_autoptr(JsonObject) all = json_object_new();
    uint64_t held = 0;
    guint decoded = 0, failed = 0, guessed = 0, confirmed = 0;
    const char *whose = reference ? "reference description" : "VMDESCRIPTION";

    if (reference) {
        desc = reference;
    } else if (!log->has_vmdesc) {
        fprintf(stderr, "migdump: the stream has no VMDESCRIPTION (postcopy, or "
                "suppressed): its device fields cannot be decoded without --description\n");
        return 1;
    } else if (!(desc = device_log_vmdesc(log))) {
        return 1;
    }
    for (guint i = 0; i < log->rows->len; i++) {
        const Row *r = &g_array_index(log->rows, Row, i);
        g_autofree char *key = g_strdup_printf("%s (%u)", r->idstr, r->id);
        g_autofree uint8_t *buf = NULL;
        JsonObject *vmsd;
        JsonNode *v;
        bool exact = true;

        if (strcmp(r->idstr, "ram") == 0 && r->instance == 0) {
            v = ram_sizes(log);
        } else if (r->instance == 0 && (strcmp(r->idstr, "s390-storage_attributes") == 0 ||
                                        strcmp(r->idstr, "spapr/htab") == 0)) {
            /* live sections analyze-migration.py parses and shows as "" */
            if (!json) {
                fprintf(out, "%s: instance %u, version %u: live section, no fields\n",
                        key, r->instance, r->version);
                continue;
            }
            v = json_node_new(JSON_NODE_VALUE);
            json_node_set_string(v, "");
        } else if (r->type != QEMU_VM_SECTION_FULL) {
            if (!json) {
                fprintf(out, "%s: instance %u, version %u: live section, not described\n",
                        key, r->instance, r->version);
            }
            continue;
        } else if (!(vmsd = mig_vmstate_desc_lookup(desc, r->idstr, r->instance))) {
            fprintf(stderr, "migdump: %s: instance %u has no entry in the %s\n",
                    key, r->instance, whose);
            if (!json) {
                fprintf(out, "%s: instance %u, version %u: NOT DECODED: no entry in the %s\n",
                        key, r->instance, r->version, whose);
            }
            failed++;
            continue;
        } else if (!r->has_payload) {
            fprintf(stderr, "migdump: %s: the stream ends inside this section\n", key);
            failed++;
            continue;
        } else if (r->payload_length > MIG_LIMIT_DEVICE_STATE - held) {
            fprintf(stderr, "migdump: %s: device state over %u bytes in all; not decoded\n",
                    key, MIG_LIMIT_DEVICE_STATE);
            failed++;
            continue;
        } else {
            held += r->payload_length;
            buf = g_malloc(r->payload_length ? (size_t)r->payload_length : 1);
            if (!mp_stream_source_read(src, r->payload_offset, buf, (size_t)r->payload_length,
                                       &err)) {
                fprintf(stderr, "migdump: cannot read back %s: %s\n", key, err->message);
                return 2;
            }
            if (reference) {
                /* the reference's subsection list is not this stream's */
                v = mig_vmstate_walk_foreign(vmsd, r->version, buf, (size_t)r->payload_length,
                                             r->payload_offset, &exact, &err);
            } else {
                v = mig_vmstate_walk(vmsd, buf, (size_t)r->payload_length, r->payload_offset,
                                     &err);
            }
            /* with its own VMDESCRIPTION the decoder already confirmed them */
            guessed += reference && r->scanned;
            if (!v) {
                if (reference && r->scanned && err->code != MIG_WIRE_ERROR_UNSUPPORTED) {
                    /* the walk and the footer scan disagree: either could be wrong */
                    g_prefix_error(&err, "the walk does not land on the boundary the "
                                   "footer scan guessed (%" G_GUINT64_FORMAT " bytes): ",
                                   r->payload_length);
                }
                fprintf(stderr, "migdump: %s: %s\n", key, err->message);
                if (!json) {
                    fprintf(out, "%s: instance %u, version %u: NOT DECODED: %s\n",
                            key, r->instance, r->version, err->message);
                }
                g_clear_error(&err);
                failed++;
                continue;
            }
            decoded++;
            confirmed += reference && r->scanned && exact;
        }
        if (json) {
            json_object_set_member(all, key, v);
        } else {
            if (r->type == QEMU_VM_SECTION_FULL) {
                fprintf(out, "%s: instance %u, version %u, %" G_GUINT64_FORMAT " bytes "
                        "at offset %" G_GUINT64_FORMAT "%s\n", key, r->instance, r->version,
                        r->payload_length, r->payload_offset,
                        !exact ? " (its last field's length is the device's own: the "
                        "boundary is not confirmed)" :
                        reference && r->scanned ? " (guessed boundary confirmed by the walk)"
                        : "");
            } else {
                fprintf(out, "%s: instance %u, version %u\n", key, r->instance, r->version);
            }
            {
                JsonObjectIter it;
                const char *k;
                JsonNode *m;

                json_object_iter_init_ordered(&it, json_node_get_object(v));
                while (json_object_iter_next_ordered(&it, &k, &m)) {
                    print_tree(out, k, m, 2);
                }
            }
            json_node_unref(v);
        }
    }
    if (json) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
        g_autofree char *text = NULL;

        json_node_set_object(root, all);
        json_generator_set_root(gen, root);
        json_generator_set_pretty(gen, TRUE);
        json_generator_set_indent(gen, 4);
        text = json_generator_to_data(gen, NULL);
        fprintf(out, "%s\n", text);
    } else {
        fprintf(out, "%u device section(s) decoded field by field, %u not\n", decoded, failed);
    }
    if (guessed) {
        /* JSON keeps analyze-migration.py's shape: this goes to stderr there */
        fprintf(json ? stderr : out, "%s%u of %u section boundaries guessed by the footer scan "
                "confirmed by the walk\n", json ? "migdump: " : "", confirmed, guessed);
    }
    return failed ? 1 : 0;
}
