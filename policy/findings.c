/*
 * findings.c - the table of finding codes and the report that collects
 * findings.  Adding a code: add it here, then document it in FINDINGS.md
 * (tests/proxy/test-policy checks that both agree).
 */
#include "findings.h"

#include <stdarg.h>
#include <string.h>

static const MpFindingCode codes[] = {
    /* the stream itself */
    { "stream-not-migration", MP_SEVERITY_ERROR, "the main connection does not start with QEMU's magic" },
    { "stream-version", MP_SEVERITY_ERROR, "stream version other than 3" },
    { "stream-no-configuration", MP_SEVERITY_ERROR, "no configuration section after the header" },
    { "stream-undecodable", MP_SEVERITY_ERROR, "the decoder could not follow the stream's prefix" },
    { "stream-undecodable-late", MP_SEVERITY_WARNING, "the decoder could not follow the stream after the gate" },
    { "stream-uncertain-prefix", MP_SEVERITY_ERROR, "a prefix boundary had to be guessed" },
    { "stream-truncated-prefix", MP_SEVERITY_ERROR, "the source closed before the prefix was complete" },
    { "stream-prefix-timeout", MP_SEVERITY_ERROR, "the source sent no complete prefix within the timeout" },
    /* QEMU's own incoming checks */
    { "machine-type", MP_SEVERITY_ERROR, "machine types differ" },
    { "target-page-bits", MP_SEVERITY_ERROR, "target page bits differ" },
    { "capability-unknown", MP_SEVERITY_ERROR, "the stream announces a capability the destination does not know" },
    { "capability-mismatch", MP_SEVERITY_ERROR, "a capability QEMU validates is on at one side only" },
    { "ramblock-missing", MP_SEVERITY_ERROR, "the source sends a RAM block the destination does not have" },
    { "ramblock-size", MP_SEVERITY_ERROR, "a RAM block's length differs and the block cannot be resized" },
    { "ramblock-too-large", MP_SEVERITY_ERROR, "a resizable RAM block is longer than the destination's maximum" },
    { "ramblock-resized", MP_SEVERITY_INFO, "a resizable RAM block differs within its maximum (QEMU resizes it)" },
    { "ramblock-page-size", MP_SEVERITY_ERROR, "a RAM block's page size differs under postcopy" },
    { "ramblock-addr", MP_SEVERITY_ERROR, "a RAM block's address differs under x-ignore-shared" },
    { "postcopy-advise", MP_SEVERITY_ERROR, "postcopy advised by the source, postcopy-ram off at the destination (or the reverse)" },
    { "postcopy-page-size", MP_SEVERITY_ERROR, "postcopy page sizes differ" },
    /* what QEMU 7.2 cannot see from one side */
    { "pci-device-missing", MP_SEVERITY_ERROR, "a PCI device of the source is missing at the destination (--source-qmp)" },
    { "cpu-count", MP_SEVERITY_ERROR, "the CPU counts differ (--source-qmp)" },
    { "ramblock-extra", MP_SEVERITY_WARNING, "the destination has a RAM block the source does not send" },
    { "multifd-one-side", MP_SEVERITY_ERROR, "multifd is on at one side only" },
    { "multifd-channels", MP_SEVERITY_ERROR, "multifd channel counts differ" },
    { "multifd-compression", MP_SEVERITY_ERROR, "multifd compression methods differ" },
    { "capability-differs", MP_SEVERITY_ERROR, "a capability both sides must share is on at one side only" },
    { "capability-differs-harmless", MP_SEVERITY_INFO, "a capability differs that one side may set alone" },
    { "preempt-channel", MP_SEVERITY_ERROR, "postcopy-preempt on at one side only" },
    { "source-facts-partial", MP_SEVERITY_INFO, "no --source-qmp: only the capabilities the stream shows were compared" },
    /* operator's policy */
    { "policy-machine-type", MP_SEVERITY_ERROR, "machine type not in the policy's allowed list" },
    { "policy-ram-size", MP_SEVERITY_ERROR, "RAM larger than the policy allows" },
    { "policy-capability-required", MP_SEVERITY_ERROR, "a capability the policy requires is off" },
    { "policy-capability-forbidden", MP_SEVERITY_ERROR, "a capability the policy forbids is on" },
    /* after the gate */
    { "section-unknown-late", MP_SEVERITY_ERROR, "a device section after the gate names a device the destination lacks" },
    { "destination-failed", MP_SEVERITY_ERROR, "the destination broke off the migration" },
    { "source-failed", MP_SEVERITY_ERROR, "the source broke off the migration" },
    { "destination-unreachable", MP_SEVERITY_ERROR, "the destination could not be contacted after acceptance" },
    { "convergence-bytes", MP_SEVERITY_WARNING, "precopy has sent more than max-bytes-ratio times RAM" },
    { "convergence-stalled", MP_SEVERITY_WARNING, "precopy rounds over RAM stopped shrinking" },
    /* TLS (proxy/tls.c) */
    { "tls-unexpected", MP_SEVERITY_ERROR, "a TLS client hello where plain text was expected" },
    { "tls-expected", MP_SEVERITY_ERROR, "plain text where TLS was expected" },
    { "tls-destination-plain", MP_SEVERITY_ERROR, "the destination hung up on the TLS handshake: it expects plain text" },
    { "tls-unknown-ca", MP_SEVERITY_ERROR, "a peer's certificate is not signed by the proxy's CA" },
    { "tls-bad-identity", MP_SEVERITY_ERROR, "the destination's certificate is not for the expected host name" },
    { "tls-certificate", MP_SEVERITY_ERROR, "a peer's certificate was refused (expired, missing, ...)" },
    { "tls-destination-refused", MP_SEVERITY_ERROR, "the destination hung up after the handshake: it refused the proxy's client certificate" },
    { "tls-peer-refused", MP_SEVERITY_ERROR, "the source closed right after the handshake: it refused the proxy's certificate" },
    { "tls-handshake", MP_SEVERITY_ERROR, "a TLS handshake failed otherwise" },
    { "tls-passthrough", MP_SEVERITY_WARNING, "TLS pass-through: nothing can be checked" },
    /* device sections (devices.c) */
    { "section-version-too-new", MP_SEVERITY_ERROR, "a section's version is above what the destination's -dump-vmstate loads" },
    { "section-version-too-old", MP_SEVERITY_ERROR, "a section's version is below the destination's minimum_version_id" },
    { "section-version-ambiguous", MP_SEVERITY_WARNING, "device types sharing a vmsd name disagree on whether the version loads" },
    { "section-version-unchecked", MP_SEVERITY_INFO, "sections the destination's -dump-vmstate does not describe" },
    { "subsection-unknown", MP_SEVERITY_ERROR, "the source sends a subsection the destination's vmsd does not have" },
    { "subsection-version", MP_SEVERITY_ERROR, "a subsection's version is outside the destination's range" },
    { "device-missing", MP_SEVERITY_ERROR, "the source sends a section the destination's configuration lacks" },
    { "device-version-newer", MP_SEVERITY_ERROR, "a section's version is above the destination's own" },
    { "device-extra", MP_SEVERITY_WARNING, "the destination has a section the source does not send" },
    /* offline comparison (diff.c) */
    { "section-version-differs", MP_SEVERITY_INFO, "a section or subsection is older in A than B writes it" },
    { "device-field-missing", MP_SEVERITY_ERROR, "A sends a field B's description of the same version lacks" },
    { "device-field-extra", MP_SEVERITY_ERROR, "B's description of the same version has a field A does not send" },
    { "device-field-differs", MP_SEVERITY_ERROR, "a field's type or size differs at the same version" },
    { "device-field-length", MP_SEVERITY_ERROR, "an array length or buffer size differs at the same version" },
    { "device-field-order", MP_SEVERITY_ERROR, "the fields of a section come in another order" },
    { "device-field-equal", MP_SEVERITY_ERROR, "a field QEMU checks for equality on load has another value" },
    { "subsection-not-shown", MP_SEVERITY_WARNING, "A sends a subsection B's stream does not carry" },
    { "subsection-extra", MP_SEVERITY_INFO, "B's device sends a subsection A's does not" },
    { "device-fields-unchecked", MP_SEVERITY_INFO, "device fields that could not be compared" },
    { "ramblock-page-size-differs", MP_SEVERITY_WARNING, "a RAM block's page size differs (matters under postcopy)" },
    { "diff-partial", MP_SEVERITY_INFO, "one side is a profile, which lists no device sections" },
    /* the device-state hold (proxy/devgate.c) */
    { "device-state-over-limit", MP_SEVERITY_WARNING, "the device state held at the switchover exceeds the hold's limit" },
    { "device-state-hold-timeout", MP_SEVERITY_WARNING, "the device state's end did not come within the hold's time" },
    { "device-layout", MP_SEVERITY_ERROR, "a device section does not fit the destination's layout of that device" },
    { "device-layout-unchecked", MP_SEVERITY_INFO, "a device section could not be walked with the destination's layout" },
    { NULL, 0, NULL },
};

const MpFindingCode *mp_finding_codes(void)
{
    return codes;
}

const MpFindingCode *mp_finding_code_lookup(const char *code)
{
    for (const MpFindingCode *c = codes; c->code; c++) {
        if (strcmp(c->code, code) == 0) {
            return c;
        }
    }
    return NULL;
}

const char *mp_severity_name(MpSeverity severity)
{
    switch (severity) {
    case MP_SEVERITY_INFO: return "info";
    case MP_SEVERITY_WARNING: return "warning";
    case MP_SEVERITY_ERROR: return "error";
    }
    return "unknown";
}

bool mp_severity_from_name(const char *name, MpSeverity *out)
{
    for (MpSeverity s = MP_SEVERITY_INFO; s <= MP_SEVERITY_ERROR; s++) {
        if (strcmp(name, mp_severity_name(s)) == 0) {
            *out = s;
            return true;
        }
    }
    return false;
}

const char *mp_verdict_name(MpVerdict verdict)
{
    return verdict == MP_VERDICT_ACCEPT ? "accept" : "reject";
}

struct MpReport {
    GPtrArray *findings;
    GHashTable *overrides;      /* code -> GINT_TO_POINTER(severity + 1) */
    GHashTable *hints;          /* code -> the hint to give instead */
};

static void finding_free(gpointer p)
{
    MpFinding *f = p;

    g_free(f->subject);
    g_free(f->source);
    g_free(f->destination);
    g_free(f->message);
    g_free(f->hint);
    g_free(f);
}

MpReport *mp_report_new(void)
{
    MpReport *r = g_new0(MpReport, 1);

    r->findings = g_ptr_array_new_with_free_func(finding_free);
    r->overrides = g_hash_table_new(g_str_hash, g_str_equal);
    r->hints = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    return r;
}

void mp_report_free(MpReport *report)
{
    if (!report) {
        return;
    }
    g_ptr_array_unref(report->findings);
    g_hash_table_unref(report->overrides);
    g_hash_table_unref(report->hints);
    g_free(report);
}

void mp_report_override_severity(MpReport *report, const char *code,
                                 MpSeverity severity)
{
    const MpFindingCode *c = mp_finding_code_lookup(code);

    g_return_if_fail(c != NULL);
    /* the table's string outlives the report */
    g_hash_table_replace(report->overrides, (gpointer)c->code,
                         GINT_TO_POINTER(severity + 1));
}

void mp_report_override_hint(MpReport *report, const char *code, const char *hint)
{
    const MpFindingCode *c = mp_finding_code_lookup(code);

    g_return_if_fail(c != NULL);
    g_hash_table_replace(report->hints, (gpointer)c->code, g_strdup(hint));
}

MpFinding *mp_report_add(MpReport *report, const char *code,
                         const char *subject, const char *source,
                         const char *destination, const char *hint,
                         const char *message_format, ...)
{
    const MpFindingCode *c = mp_finding_code_lookup(code);
    MpFinding *f;
    gpointer override;
    va_list ap;

    g_return_val_if_fail(c != NULL, NULL);
    f = g_new0(MpFinding, 1);
    f->code = c->code;
    f->severity = c->default_severity;
    override = g_hash_table_lookup(report->overrides, c->code);
    if (override) {
        f->severity = (MpSeverity)(GPOINTER_TO_INT(override) - 1);
    }
    f->subject = g_strdup(subject);
    f->source = g_strdup(source);
    f->destination = g_strdup(destination);
    f->hint = g_strdup(g_hash_table_contains(report->hints, c->code)
                       ? g_hash_table_lookup(report->hints, c->code) : hint);
    va_start(ap, message_format);
    f->message = g_strdup_vprintf(message_format, ap);
    va_end(ap);
    g_ptr_array_add(report->findings, f);
    return f;
}

guint mp_report_count(const MpReport *report)
{
    return report->findings->len;
}

const MpFinding *mp_report_get(const MpReport *report, guint index)
{
    g_return_val_if_fail(index < report->findings->len, NULL);
    return g_ptr_array_index(report->findings, index);
}

guint mp_report_count_severity(const MpReport *report, MpSeverity severity)
{
    guint n = 0;

    for (guint i = 0; i < report->findings->len; i++) {
        const MpFinding *f = g_ptr_array_index(report->findings, i);

        n += f->severity == severity;
    }
    return n;
}

MpVerdict mp_report_verdict(const MpReport *report)
{
    return mp_report_count_severity(report, MP_SEVERITY_ERROR) ? MP_VERDICT_REJECT
                                                               : MP_VERDICT_ACCEPT;
}

static void set_nullable(JsonObject *o, const char *name, const char *value)
{
    if (value) {
        json_object_set_string_member(o, name, value);
    } else {
        json_object_set_null_member(o, name);
    }
}

JsonObject *mp_finding_to_json(const MpFinding *f, const char *source_member,
                               const char *destination_member)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "code", f->code);
    json_object_set_string_member(o, "severity", mp_severity_name(f->severity));
    set_nullable(o, "subject", f->subject);
    set_nullable(o, source_member, f->source);
    set_nullable(o, destination_member, f->destination);
    set_nullable(o, "message", f->message);
    set_nullable(o, "hint", f->hint);
    return o;
}
