/*
 * vmdesc.c - checks the device-section boundaries that the footer scan
 * guessed against QEMU's own VMDESCRIPTION (migration/savevm.c,
 * migration/vmstate.c vmsd_desc_field_end): every field object there
 * carries the bytes it produced ("size", per element when "array_len" is
 * given) and every subsection that was sent adds its 0x05, name length,
 * name and be32 version.  The sum per device is the length of its FULL
 * section payload, which is what the scan must have found.
 */
#include <json-glib/json-glib.h>
#include <string.h>
#include "decoder-internal.h"
#include "vmstate.h"

#define SIZE_CAP (UINT64_C(1) << 62)

static uint64_t member_uint(JsonObject *o, const char *name, bool *ok)
{
    JsonNode *node = json_object_get_member(o, name);
    gint64 v;

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_INT64) {
        *ok = false;
        return 0;
    }
    v = json_node_get_int(node);
    if (v < 0 || (uint64_t)v > SIZE_CAP) {
        *ok = false;
        return 0;
    }
    return (uint64_t)v;
}

/* Bytes a vmsd description (device, struct or subsection) stands for. */
static uint64_t described_size(JsonObject *o, bool *ok)
{
    uint64_t total = 0;
    JsonArray *arr;

    if (json_object_has_member(o, "fields")) {
        JsonNode *fn = json_object_get_member(o, "fields");

        if (!JSON_NODE_HOLDS_ARRAY(fn)) {
            *ok = false;
            return 0;
        }
        arr = json_node_get_array(fn);
        for (guint i = 0; i < json_array_get_length(arr) && *ok; i++) {
            JsonNode *f = json_array_get_element(arr, i);
            JsonObject *fo;
            uint64_t size, count = 1;

            if (!JSON_NODE_HOLDS_OBJECT(f)) {
                *ok = false;
                break;
            }
            fo = json_node_get_object(f);
            size = member_uint(fo, "size", ok);
            if (json_object_has_member(fo, "array_len")) {
                count = member_uint(fo, "array_len", ok);
            }
            if (count && size > SIZE_CAP / count) {
                *ok = false;
                break;
            }
            total += size * count;
            if (total > SIZE_CAP) {
                *ok = false;
            }
        }
    }
    if (json_object_has_member(o, "subsections") && *ok) {
        JsonNode *sn = json_object_get_member(o, "subsections");

        if (!JSON_NODE_HOLDS_ARRAY(sn)) {
            *ok = false;
            return 0;
        }
        arr = json_node_get_array(sn);
        for (guint i = 0; i < json_array_get_length(arr) && *ok; i++) {
            JsonNode *s = json_array_get_element(arr, i);
            const char *name;

            if (!JSON_NODE_HOLDS_OBJECT(s)) {
                *ok = false;
                break;
            }
            name = json_object_get_string_member_with_default(
                json_node_get_object(s), "vmsd_name", NULL);
            if (!name) {
                *ok = false;
                break;
            }
            /* 0x05, name length, name, be32 version */
            total += 6 + strlen(name) + described_size(json_node_get_object(s), ok);
            if (total > SIZE_CAP) {
                *ok = false;
            }
        }
    }
    return total;
}

void mig_vmdesc_check(MigDecoder *d, uint64_t at)
{
    MigEvent ev = { .type = MIG_EV_BOUNDARIES_CHECKED, .offset = at, .end = at };
    MigCheckEvent *c = &ev.u.check;
    g_autoptr(JsonParser) parser = NULL;
    JsonNode *root;
    JsonArray *devices = NULL;
    guint next = 0, ndev = 0;
    g_autofree char *mismatch = NULL;

    for (guint i = 0; i < d->full_sections->len; i++) {
        c->scanned_sections +=
            g_array_index(d->full_sections, MigFullSection, i).scanned;
    }
    if (d->vmdesc->len && mig_json_nesting_ok((const char *)d->vmdesc->data, d->vmdesc->len,
                                                   MIG_LIMIT_JSON_DEPTH)) {
        parser = json_parser_new_immutable();
        if (json_parser_load_from_data(parser, (const char *)d->vmdesc->data,
                                       d->vmdesc->len, NULL)) {
            root = json_parser_get_root(parser);
            if (root && JSON_NODE_HOLDS_OBJECT(root)) {
                JsonNode *dn = json_object_get_member(json_node_get_object(root),
                                                      "devices");
                if (dn && JSON_NODE_HOLDS_ARRAY(dn)) {
                    devices = json_node_get_array(dn);
                    ndev = json_array_get_length(devices);
                }
            }
        }
    }

    for (guint i = 0; i < d->full_sections->len; i++) {
        MigFullSection *fs = &g_array_index(d->full_sections, MigFullSection, i);
        bool matched = false;

        if (!fs->scanned) {
            continue;
        }
        /* Descriptions are in save order, like the FULL sections. */
        for (guint j = next; j < ndev && !matched; j++) {
            JsonNode *dn = json_array_get_element(devices, j);
            JsonObject *o;
            bool ok = true;
            uint64_t inst;

            if (!JSON_NODE_HOLDS_OBJECT(dn)) {
                continue;
            }
            o = json_node_get_object(dn);
            inst = member_uint(o, "instance_id", &ok);
            if (g_strcmp0(json_object_get_string_member_with_default(o, "name", NULL),
                          fs->idstr) || !ok || inst != fs->instance_id) {
                continue;
            }
            next = j + 1;
            matched = described_size(o, &ok) == fs->payload_length && ok;
        }
        if (matched) {
            c->confirmed++;
        } else {
            c->mismatched++;
            if (!mismatch) {
                mismatch = g_strdup(fs->idstr);
            }
        }
    }
    c->first_mismatch = mismatch;
    if (c->scanned_sections && c->confirmed == c->scanned_sections) {
        d->certain = true;
    }
    mig_emit(d, &ev);
}
