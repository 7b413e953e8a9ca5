/*
 * fuzz-diff.c - libFuzzer harness for policy/diff.c, the offline comparison
 * of two configurations, on the one input it takes from files: two
 * VMDESCRIPTION texts, separated by a NUL byte.  Each device a description
 * lists becomes a FULL section of its configuration, so the field and
 * subsection walk runs on whatever the two descriptions hold.
 * Corpus: tests/fuzz/corpus/diff (QEMU 7.2 pc, q35, -smp 2, virtio-rng
 * descriptions, and one edited).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "devices.h"
#include "diff.h"
#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sections a harness run adds per side: enough for every real description. */
#define FUZZ_MAX_SECTIONS 256

static MpVmConfig *config_of(const char *json, size_t len)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonParser) parser = NULL;
    MpVmConfig *c;
    JsonNode *root;
    JsonArray *devices;
    MigVmstateDesc *desc = mig_vmstate_desc_parse(json, len, &err);

    if (!desc) {
        if (!err) {
            abort();        /* a refusal always says why */
        }
        return NULL;
    }
    c = mp_vmconfig_new(MP_VMCONFIG_STREAM);
    c->vmdesc = desc;
    c->facts->machine = g_strdup("pc-i440fx-7.2");
    c->facts->ramblocks_complete = true;
    /* the description parsed, so this text is valid, nesting-checked JSON */
    parser = json_parser_new();
    if (!json_parser_load_from_data(parser, json, (gssize)len, NULL) ||
        !(root = json_parser_get_root(parser)) || !JSON_NODE_HOLDS_OBJECT(root)) {
        abort();
    }
    devices = json_object_get_array_member(json_node_get_object(root), "devices");
    for (guint i = 0; devices && i < json_array_get_length(devices) &&
                      i < FUZZ_MAX_SECTIONS; i++) {
        JsonNode *n = json_array_get_element(devices, i);
        JsonObject *d = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
        JsonNode *name = d ? json_object_get_member(d, "name") : NULL;
        JsonNode *inst = d ? json_object_get_member(d, "instance_id") : NULL;
        JsonNode *ver = d ? json_object_get_member(d, "version") : NULL;

        if (!name || json_node_get_value_type(name) != G_TYPE_STRING) {
            continue;
        }
        mp_section_list_add(c->sections, json_node_get_string(name),
                            inst && json_node_get_value_type(inst) == G_TYPE_INT64
                            ? (uint32_t)json_node_get_int(inst) : 0,
                            ver && json_node_get_value_type(ver) == G_TYPE_INT64
                            ? (uint32_t)json_node_get_int(ver) : 0,
                            i + 1, QEMU_VM_SECTION_FULL);
    }
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    g_autoptr(MpVmConfig) a = NULL;
    g_autoptr(MpVmConfig) b = NULL;
    g_autoptr(MpReport) r1 = NULL;
    g_autoptr(MpReport) r2 = NULL;

    if (!nul) {
        return 0;
    }
    a = config_of((const char *)data, (size_t)(nul - data));
    b = config_of((const char *)nul + 1, size - (size_t)(nul - data) - 1);
    if (!a || !b) {
        return 0;
    }
    r1 = mp_report_new();
    mp_diff_configs(r1, a, b);
    r2 = mp_report_new();
    mp_diff_configs(r2, a, a);
    /* a configuration is never incompatible with itself (notes aside: a
     * device the description lists under an instance the section list
     * cannot hold stays unchecked) */
    if (mp_report_count_severity(r2, MP_SEVERITY_ERROR) ||
        mp_report_count_severity(r2, MP_SEVERITY_WARNING)) {
        abort();
    }
    return 0;
}
