/*
 * vmconfig.c - the facts and device sections of one VM configuration, from
 * a stream's decoder events or from a profile (see vmconfig.h).
 *
 * What a stream tells is taken as the proxy takes it at the gate: only
 * the first RAM block list counts (a file holds one), and capabilities are
 * only those the configuration section announces, so caps_complete stays
 * false and no check reads a missing capability as "off".
 */
#include "vmconfig.h"

#include <string.h>
#include "check.h"
#include "devices.h"
#include "wire-limits.h"

MpVmConfig *mp_vmconfig_new(MpVmConfigKind kind)
{
    MpVmConfig *c = g_new0(MpVmConfig, 1);

    c->kind = kind;
    c->certain = true;
    if (kind == MP_VMCONFIG_STREAM) {
        c->facts = mp_facts_new(MP_FACTS_FROM_STREAM);
        c->sections = mp_section_list_new();
        c->vmdesc_text = g_byte_array_new();
        c->payloads = g_array_new(FALSE, TRUE, sizeof(MpVmPayload));
        c->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify)json_node_unref);
        c->last_header = g_hash_table_new(g_direct_hash, g_direct_equal);
    }
    return c;
}

void mp_vmconfig_free(MpVmConfig *config)
{
    if (!config) {
        return;
    }
    mp_facts_free(config->facts);
    if (config->sections) {
        g_array_free(config->sections, TRUE);
    }
    mig_vmstate_desc_free(config->vmdesc);
    g_free(config->vmdesc_error);
    if (config->vmdesc_text) {
        g_byte_array_free(config->vmdesc_text, TRUE);
    }
    if (config->payloads) {
        g_array_free(config->payloads, TRUE);
    }
    g_clear_pointer(&config->values, g_hash_table_unref);
    g_clear_pointer(&config->last_header, g_hash_table_unref);
    g_free(config);
}

const char *mp_vmconfig_kind_name(MpVmConfigKind kind)
{
    return kind == MP_VMCONFIG_PROFILE ? "profile" : "stream";
}

void mp_vmconfig_stream_event(const MigEvent *ev, void *opaque)
{
    MpVmConfig *c = opaque;
    MpFacts *f = c->facts;

    mp_facts_from_stream_event(f, ev, !c->ram_list_done);
    switch (ev->type) {
    case MIG_EV_SECTION:
        if (ev->u.section.idstr && (ev->u.section.type == QEMU_VM_SECTION_START ||
                                    ev->u.section.type == QEMU_VM_SECTION_FULL)) {
            MpVmPayload pl = { .offset = ev->end };

            mp_section_list_add(c->sections, ev->u.section.idstr, ev->u.section.instance_id,
                                ev->u.section.version_id, ev->u.section.section_id,
                                ev->u.section.type);
            g_array_append_val(c->payloads, pl);
            g_hash_table_insert(c->last_header, GUINT_TO_POINTER(ev->u.section.section_id),
                                GUINT_TO_POINTER(c->sections->len));
        }
        break;
    case MIG_EV_SECTION_END:
        if (ev->u.section.type == QEMU_VM_SECTION_FULL) {
            guint idx = GPOINTER_TO_UINT(g_hash_table_lookup(
                c->last_header, GUINT_TO_POINTER(ev->u.section.section_id)));

            if (idx) {
                MpVmPayload *pl = &g_array_index(c->payloads, MpVmPayload, idx - 1);

                pl->complete = true;
                pl->length = ev->u.section.payload_length;
            }
        }
        break;
    case MIG_EV_RAMBLOCK_LIST_END:
        c->ram_list_done = true;
        break;
    case MIG_EV_EOF:
        c->has_eof = true;
        break;
    case MIG_EV_VMDESC:
        /* the decoder hands over at most MIG_LIMIT_VMDESC bytes */
        g_byte_array_set_size(c->vmdesc_text, 0);
        g_byte_array_append(c->vmdesc_text, (const guint8 *)ev->u.vmdesc.json,
                            ev->u.vmdesc.length);
        break;
    default:
        break;
    }
}

void mp_vmconfig_stream_done(MpVmConfig *config)
{
    g_autoptr(GError) err = NULL;

    if (!config->vmdesc_text || !config->vmdesc_text->len || config->vmdesc) {
        return;
    }
    config->vmdesc = mig_vmstate_desc_parse((const char *)config->vmdesc_text->data,
                                            config->vmdesc_text->len, &err);
    if (!config->vmdesc) {
        g_free(config->vmdesc_error);
        config->vmdesc_error = g_strdup(err->message);
    }
}

/* Is there a "... equal" field in @level, its structs or its subsections? */
static bool has_equal_field(JsonObject *level, guint depth)
{
    static const char *const members[] = { "fields", "subsections" };

    if (!level || depth > MIG_LIMIT_JSON_DEPTH) {
        return false;
    }
    for (guint m = 0; m < G_N_ELEMENTS(members); m++) {
        JsonNode *an = json_object_get_member(level, members[m]);
        JsonArray *a = an && JSON_NODE_HOLDS_ARRAY(an) ? json_node_get_array(an) : NULL;

        for (guint i = 0; a && i < json_array_get_length(a); i++) {
            JsonNode *n = json_array_get_element(a, i);
            JsonObject *f = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
            JsonNode *t = f ? json_object_get_member(f, "type") : NULL;
            JsonNode *st = f ? json_object_get_member(f, "struct") : NULL;

            if (t && JSON_NODE_HOLDS_VALUE(t) && json_node_get_value_type(t) == G_TYPE_STRING &&
                g_str_has_suffix(json_node_get_string(t), " equal")) {
                return true;
            }
            if (m == 1 && has_equal_field(f, depth + 1)) {
                return true;
            }
            if (st && JSON_NODE_HOLDS_OBJECT(st) &&
                has_equal_field(json_node_get_object(st), depth + 1)) {
                return true;
            }
        }
    }
    return false;
}

bool mp_vmconfig_needs_values(const MpVmConfig *config, guint index)
{
    const MpSectionRef *s;

    if (!config->vmdesc || !config->payloads || index >= config->sections->len ||
        index >= config->payloads->len) {
        return false;
    }
    s = &g_array_index(config->sections, MpSectionRef, index);
    return s->type == QEMU_VM_SECTION_FULL &&
           g_array_index(config->payloads, MpVmPayload, index).complete &&
           has_equal_field(mig_vmstate_desc_lookup(config->vmdesc, s->idstr, s->instance), 0);
}

void mp_vmconfig_set_values(MpVmConfig *config, guint index, JsonNode *values)
{
    const MpSectionRef *s = &g_array_index(config->sections, MpSectionRef, index);

    g_hash_table_replace(config->values, g_strdup_printf("%u:%s", s->instance, s->idstr),
                         values);
}

JsonNode *mp_vmconfig_values(const MpVmConfig *config, const char *idstr, uint32_t instance)
{
    g_autofree char *key = g_strdup_printf("%u:%s", instance, idstr);

    return config->values ? g_hash_table_lookup(config->values, key) : NULL;
}

MpVmConfig *mp_vmconfig_from_profile(const char *text, gssize length, GError **error)
{
    MpFacts *facts = mp_facts_from_json(text, length, error);

    return facts ? mp_vmconfig_from_facts(facts) : NULL;
}

const MigVmstateDesc *mp_vmconfig_layouts(const MpVmConfig *config)
{
    return config->kind == MP_VMCONFIG_PROFILE ? config->facts->layouts : config->vmdesc;
}

MpVmConfig *mp_vmconfig_from_facts(MpFacts *facts)
{
    g_autoptr(MpVmConfig) c = mp_vmconfig_new(MP_VMCONFIG_PROFILE);
    g_autoptr(GList) names = NULL;

    c->facts = facts;
    names = g_list_sort(g_hash_table_get_keys(c->facts->caps), (GCompareFunc)strcmp);
    for (GList *l = names; l; l = l->next) {
        bool on = false;

        if (mp_check_cap_validated(l->data) && mp_facts_get_cap(c->facts, l->data, &on) && on) {
            g_ptr_array_add(c->facts->announced_caps, g_strdup(l->data));
        }
    }
    if (c->facts->sections) {
        /* `probe --sections-from`: the configuration's own section list */
        c->sections = mp_section_list_new();
        for (guint i = 0; i < c->facts->sections->len; i++) {
            const MpSectionRef *r = &g_array_index(c->facts->sections, MpSectionRef, i);
            MpSectionRef *copy;

            mp_section_list_add(c->sections, r->idstr, r->instance, r->version,
                                r->section_id, r->type);
            copy = &g_array_index(c->sections, MpSectionRef, c->sections->len - 1);
            copy->has_range = r->has_range;
            copy->min_version = r->min_version;
            copy->max_version = r->max_version;
        }
    }
    return g_steal_pointer(&c);
}
