/*
 * fuzz-vmstate.c - libFuzzer harness for wire/vmstate.c: the walker and
 * the VMDESCRIPTION parser.  Input: be16 length L, L bytes of JSON (one
 * device object, as in tests/fuzz/corpus/vmstate), then the payload.
 * Beyond "no crash, no leak, no hang" it checks the walker's promise that
 * the description accounts for every byte: when a payload walks, the same
 * payload less its last byte must not.  The same input goes through the
 * foreign walk (mig_vmstate_walk_foreign: subsections read from the
 * stream) with the description's own version, with the same promises,
 * and with another version, which must be refused before any byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "vmstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void foreign(JsonObject *desc, const uint8_t *payload, size_t plen)
{
    g_autoptr(GError) err = NULL;
    JsonNode *vn = json_object_get_member(desc, "version");
    uint32_t version = 0;
    JsonNode *v;
    bool exact;

    if (vn && JSON_NODE_HOLDS_VALUE(vn) && json_node_get_value_type(vn) == G_TYPE_INT64) {
        version = (uint32_t)json_node_get_int(vn);
    }
    v = mig_vmstate_walk_foreign(desc, version, payload, plen, 0, &exact, &err);
    if (v) {
        json_node_unref(v);
        if (plen && exact) {
            v = mig_vmstate_walk_foreign(desc, version, payload, plen - 1, 0, NULL, NULL);
            if (v) {
                abort();    /* an exact walk: the stream's subsections do not change that */
            }
        }
        v = mig_vmstate_walk_foreign(desc, version + 1, payload, plen, 0, NULL, &err);
        if (v || !err || err->code != MIG_WIRE_ERROR_UNSUPPORTED) {
            abort();        /* another version is never walked */
        }
    } else if (!err || !g_str_has_prefix(err->message, "offset ")) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) err = NULL;
    JsonNode *root, *v;
    size_t jlen;
    const uint8_t *payload;
    size_t plen;
    g_autofree char *wrapped = NULL;

    if (size < 2) {
        return 0;
    }
    jlen = (size_t)data[0] << 8 | data[1];
    if (jlen > size - 2) {
        return 0;
    }
    payload = data + 2 + jlen;
    plen = size - 2 - jlen;

    /* the same text as a whole VMDESCRIPTION, through the bounded parser */
    wrapped = g_strdup_printf("{\"devices\":[%.*s]}", (int)jlen, (const char *)data + 2);
    mig_vmstate_desc_free(mig_vmstate_desc_parse(wrapped, strlen(wrapped), NULL));

    if (!mig_json_nesting_ok((const char *)data + 2, jlen, MIG_LIMIT_JSON_DEPTH)) {
        return 0;
    }
    parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, (const char *)data + 2, (gssize)jlen, NULL)) {
        return 0;
    }
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        return 0;
    }
    v = mig_vmstate_walk(json_node_get_object(root), payload, plen, 0, &err);
    if (v) {
        json_node_unref(v);
        if (plen) {
            v = mig_vmstate_walk(json_node_get_object(root), payload, plen - 1, 0, NULL);
            if (v) {
                abort();    /* a shorter payload cannot be described whole too */
            }
        }
    } else if (!err || !g_str_has_prefix(err->message, "offset ")) {
        abort();            /* every failure says where */
    }
    foreign(json_node_get_object(root), payload, plen);
    return 0;
}
