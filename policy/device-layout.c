/*
 * device-layout.c - a device payload against the destination's layout
 * (see device-layout.h for why).
 */
#include "device-layout.h"

static char *subject_of(const char *idstr, uint32_t instance)
{
    return instance ? g_strdup_printf("%s instance %u", idstr, instance) : g_strdup(idstr);
}

const MpFinding *mp_device_layout_unchecked(const char *idstr, uint32_t instance,
                                            const char *where, const char *why,
                                            MpReport *report)
{
    g_autofree char *subject = subject_of(idstr, instance);

    return mp_report_add(report, "device-layout-unchecked", subject, NULL, NULL,
                         "write the profile from a stream of the destination's configuration "
                         "that sends the same subsections (same guest state where it matters)",
                         "%s not checked against the destination's layout: %s (%s)",
                         subject, why, where);
}

const MpFinding *mp_check_device_layout(const MigVmstateDesc *layouts, const char *idstr,
                                        uint32_t instance, uint32_t version,
                                        const uint8_t *payload, size_t len, uint64_t offset,
                                        const char *where, MpReport *report)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *subject = NULL, *sv = NULL;
    JsonObject *vmsd = layouts ? mig_vmstate_desc_lookup(layouts, idstr, instance) : NULL;
    JsonNode *v;
    bool exact;

    if (!vmsd) {
        return mp_device_layout_unchecked(idstr, instance, where,
                                          "the profile has no layout of this section", report);
    }
    v = mig_vmstate_walk_foreign(vmsd, version, payload, len, offset, &exact, &err);
    if (v) {
        json_node_unref(v);
        return exact ? NULL : mp_device_layout_unchecked(
            idstr, instance, where, "its last field has a length only the device's own "
            "loader knows (QEMU's \"virtio\" and the like)", report);
    }
    if (err->code == MIG_WIRE_ERROR_UNSUPPORTED) {
        return mp_device_layout_unchecked(idstr, instance, where, err->message, report);
    }
    subject = subject_of(idstr, instance);
    sv = g_strdup_printf("%zu payload bytes, version %u", len, version);
    return mp_report_add(report, "device-layout", subject, sv, "the layout of its own stream",
                         "start the destination with the source's options for this device "
                         "(and a QEMU that lays it out alike)",
                         "%s does not fit the destination's layout: %s; QEMU's destination "
                         "would fail to load it, typically with \"Missing section footer for "
                         "%s\" (%s)", subject, err->message, idstr, where);
}
