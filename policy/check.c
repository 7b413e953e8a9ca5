/*
 * check.c - the gate's checks, one function per check, called in the order
 * QEMU's incoming side runs its own (header, configuration, capabilities,
 * postcopy advise, RAM-block list), then what QEMU cannot see from one side
 * (multifd, capabilities that must be shared, blocks the source does not
 * send), then the operator's policy.
 *
 * Each check compares only values that both sides reported; a fact nobody
 * reported is never taken as "off" or "zero" (except where QEMU itself reads
 * absence that way, which the check says).
 */
#include "check.h"

#include <errno.h>
#include <string.h>

#include "protocol.h"

G_DEFINE_QUARK(mp-policy-error-quark, mp_policy_error)

/* ------------------------------------------------------------------ */
/* sizes */

bool mp_parse_size(const char *text, uint64_t *out)
{
    char *end;
    uint64_t value, mult = 1;

    if (!text || !g_ascii_isdigit(*text)) {
        return false;
    }
    errno = 0;
    value = g_ascii_strtoull(text, &end, 10);
    if (errno) {
        return false;
    }
    switch (g_ascii_toupper(*end)) {
    case '\0': break;
    case 'K': mult = 1ull << 10; end++; break;
    case 'M': mult = 1ull << 20; end++; break;
    case 'G': mult = 1ull << 30; end++; break;
    case 'T': mult = 1ull << 40; end++; break;
    default: return false;
    }
    if (*end == 'i' || *end == 'I') {
        end++;
    }
    if (*end == 'B' || *end == 'b') {
        end++;
    }
    if (*end || value > G_MAXUINT64 / mult) {
        return false;
    }
    *out = value * mult;
    return true;
}

char *mp_format_size(uint64_t bytes)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    guint u = 0;
    uint64_t v = bytes;

    while (u + 1 < G_N_ELEMENTS(units) && v >= 1024 && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    return g_strdup_printf("%" G_GUINT64_FORMAT " %s (0x%" G_GINT64_MODIFIER "x)",
                           v, units[u], bytes);
}

/* The -m style value QEMU's command line accepts for @bytes. */
static char *qemu_size_arg(uint64_t bytes)
{
    if (bytes % (1ull << 30) == 0) {
        return g_strdup_printf("%" G_GUINT64_FORMAT "G", bytes >> 30);
    }
    if (bytes % (1ull << 20) == 0) {
        return g_strdup_printf("%" G_GUINT64_FORMAT "M", bytes >> 20);
    }
    return g_strdup_printf("%" G_GUINT64_FORMAT, bytes);
}

static const char *on_off(bool on)
{
    return on ? "on" : "off";
}

/* ------------------------------------------------------------------ */
/* policy file */

MpPolicy *mp_policy_new(void)
{
    MpPolicy *p = g_new0(MpPolicy, 1);

    p->late_undecodable = MP_LATE_UNDECODABLE_FORWARD;
    p->max_bytes_ratio = MP_DEFAULT_MAX_BYTES_RATIO;
    p->max_stalled_rounds = MP_DEFAULT_MAX_STALLED_ROUNDS;
    p->severity = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return p;
}

void mp_policy_free(MpPolicy *policy)
{
    if (!policy) {
        return;
    }
    g_strfreev(policy->allowed_machines);
    g_strfreev(policy->required_caps);
    g_strfreev(policy->forbidden_caps);
    g_hash_table_unref(policy->severity);
    g_free(policy);
}

static GStrv get_list(GKeyFile *kf, const char *key, GError **error)
{
    g_autoptr(GError) local = NULL;
    GStrv list;

    if (!g_key_file_has_key(kf, "policy", key, NULL)) {
        return NULL;
    }
    list = g_key_file_get_string_list(kf, "policy", key, NULL, &local);
    if (!list) {
        g_propagate_error(error, g_steal_pointer(&local));
    }
    return list;
}

/* [policy] max-bytes-ratio (a decimal number) and max-stalled-rounds. */
static bool load_convergence(GKeyFile *kf, MpPolicy *p, GError **error)
{
    g_autofree char *ratio = g_key_file_get_string(kf, "policy", "max-bytes-ratio", NULL);
    g_autofree char *rounds = g_key_file_get_string(kf, "policy", "max-stalled-rounds", NULL);

    if (ratio) {
        char *end = NULL;
        double v = g_ascii_strtod(g_strstrip(ratio), &end);

        if (!*ratio || *end || !(v >= 0 && v <= 1e6)) {
            g_set_error(error, MP_POLICY_ERROR, MP_POLICY_ERROR_INVALID,
                        "policy: max-bytes-ratio '%s' is not a number from 0 (off) to 1000000",
                        ratio);
            return false;
        }
        p->max_bytes_ratio = v;
    }
    if (rounds) {
        guint64 v;

        if (!g_ascii_string_to_unsigned(g_strstrip(rounds), 10, 0, 1000000, &v, NULL)) {
            g_set_error(error, MP_POLICY_ERROR, MP_POLICY_ERROR_INVALID,
                        "policy: max-stalled-rounds '%s' is not a count from 0 (off) to 1000000",
                        rounds);
            return false;
        }
        p->max_stalled_rounds = (guint)v;
    }
    return true;
}

MpPolicy *mp_policy_load_data(const char *data, gsize length, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(MpPolicy) p = mp_policy_new();
    g_autoptr(GError) local = NULL;
    g_auto(GStrv) groups = NULL;
    g_autofree char *max_ram = NULL;
    g_autofree char *late = NULL;

    if (!g_key_file_load_from_data(kf, data, length, G_KEY_FILE_NONE, error)) {
        return NULL;
    }
    groups = g_key_file_get_groups(kf, NULL);
    for (guint i = 0; groups[i]; i++) {
        g_auto(GStrv) keys = NULL;

        if (strcmp(groups[i], "policy") && strcmp(groups[i], "severity")) {
            g_set_error(error, MP_POLICY_ERROR, MP_POLICY_ERROR_INVALID,
                        "policy: unknown group [%s] (known: [policy], [severity])",
                        groups[i]);
            return NULL;
        }
        /*
         * No value needs an escape, and GLib 2.74 sets a GError twice on a
         * value with a bad escape before a trailing backslash (found by
         * fuzzing): refuse backslashes before GLib parses a value.
         */
        keys = g_key_file_get_keys(kf, groups[i], NULL, NULL);
        for (guint k = 0; keys && keys[k]; k++) {
            g_autofree char *raw = g_key_file_get_value(kf, groups[i], keys[k], NULL);

            if (raw && strchr(raw, '\\')) {
                g_set_error(error, MP_POLICY_ERROR, MP_POLICY_ERROR_INVALID,
                            "policy: [%s] %s: backslashes are not allowed in values",
                            groups[i], keys[k]);
                return NULL;
            }
        }
    }
    if (g_key_file_has_group(kf, "policy")) {
        static const char *const known[] = {
            "allowed-machine-types", "max-ram", "required-capabilities",
            "forbidden-capabilities", "on-undecodable-late",
            "max-bytes-ratio", "max-stalled-rounds", NULL,
        };
        g_auto(GStrv) keys = g_key_file_get_keys(kf, "policy", NULL, NULL);

        for (guint i = 0; keys && keys[i]; i++) {
            if (!g_strv_contains(known, keys[i])) {
                g_set_error(error, MP_POLICY_ERROR, MP_POLICY_ERROR_INVALID,
                            "policy: unknown key '%s' in [policy]", keys[i]);
                return NULL;
            }
        }
    }
    p->allowed_machines = get_list(kf, "allowed-machine-types", &local);
    if (!local) {
        p->required_caps = get_list(kf, "required-capabilities", &local);
    }
    if (!local) {
        p->forbidden_caps = get_list(kf, "forbidden-capabilities", &local);
    }
    if (local) {
        g_propagate_error(error, g_steal_pointer(&local));
        return NULL;
    }
    max_ram = g_key_file_get_string(kf, "policy", "max-ram", NULL);
    if (max_ram) {
        if (!mp_parse_size(g_strstrip(max_ram), &p->max_ram)) {
            g_set_error(error, MP_POLICY_ERROR, MP_POLICY_ERROR_INVALID,
                        "policy: max-ram '%s' is not a size (e.g. 4G, 512M)",
                        max_ram);
            return NULL;
        }
        p->has_max_ram = true;
    }
    late = g_key_file_get_string(kf, "policy", "on-undecodable-late", NULL);
    if (late) {
        g_strstrip(late);
        if (strcmp(late, "forward") == 0) {
            p->late_undecodable = MP_LATE_UNDECODABLE_FORWARD;
        } else if (strcmp(late, "reject") == 0) {
            p->late_undecodable = MP_LATE_UNDECODABLE_REJECT;
        } else {
            g_set_error(error, MP_POLICY_ERROR, MP_POLICY_ERROR_INVALID,
                        "policy: on-undecodable-late must be 'forward' or 'reject', not '%s'",
                        late);
            return NULL;
        }
    }
    if (!load_convergence(kf, p, error)) {
        return NULL;
    }
    if (g_key_file_has_group(kf, "severity")) {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, "severity", NULL, NULL);

        for (guint i = 0; keys && keys[i]; i++) {
            g_autofree char *value = g_key_file_get_string(kf, "severity", keys[i], NULL);
            MpSeverity sev;

            if (!mp_finding_code_lookup(keys[i])) {
                g_set_error(error, MP_POLICY_ERROR, MP_POLICY_ERROR_INVALID,
                            "policy: [severity] names unknown finding code '%s' (see FINDINGS.md)",
                            keys[i]);
                return NULL;
            }
            if (!value || !mp_severity_from_name(g_strstrip(value), &sev)) {
                g_set_error(error, MP_POLICY_ERROR, MP_POLICY_ERROR_INVALID,
                            "policy: [severity] %s must be error, warning or info",
                            keys[i]);
                return NULL;
            }
            g_hash_table_replace(p->severity, g_strdup(keys[i]),
                                 GINT_TO_POINTER(sev + 1));
        }
    }
    return g_steal_pointer(&p);
}

MpPolicy *mp_policy_load_file(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    gsize length;

    if (!g_file_get_contents(path, &data, &length, error)) {
        return NULL;
    }
    return mp_policy_load_data(data, length, error);
}

MpReport *mp_policy_new_report(const MpPolicy *policy)
{
    MpReport *r = mp_report_new();
    GHashTableIter it;
    gpointer key, value;

    if (policy) {
        g_hash_table_iter_init(&it, policy->severity);
        while (g_hash_table_iter_next(&it, &key, &value)) {
            mp_report_override_severity(r, key,
                                        (MpSeverity)(GPOINTER_TO_INT(value) - 1));
        }
    }
    return r;
}

/* ------------------------------------------------------------------ */
/* the checks */

/*
 * Returns whether the check list may go on: after a bad header or a
 * missing configuration nothing else in the prefix means anything.
 */
static bool check_header(const MpFacts *src, MpReport *r)
{
    g_autofree char *magic = NULL, *version = NULL;

    if (!src->has_header) {
        mp_report_add(r, "stream-truncated-prefix", "stream header", NULL, NULL,
                      "check the source's migrate command and its QEMU's log",
                      "the source closed its connection before sending a whole header");
        return false;
    }
    if ((src->magic >> 16) == 0x1603) {
        /* a TLS handshake record: the source has tls-creds, the proxy none */
        magic = g_strdup_printf("0x%08x", src->magic);
        mp_report_add(r, "tls-unexpected", "stream magic", magic, "0x5145564d",
                      "run the proxy with --tls-creds-dir (or --tls passthrough), or migrate "
                      "without the tls-creds parameter",
                      "TLS client hello where plain text was expected: the source speaks TLS "
                      "(bytes %s), the proxy expects QEMU's plain \"QEVM\"", magic);
        return false;
    }
    if (src->magic != QEMU_VM_FILE_MAGIC) {
        magic = g_strdup_printf("0x%08x", src->magic);
        mp_report_add(r, "stream-not-migration", "stream magic", magic, "0x5145564d",
                      "point only QEMU's migrate command at the proxy",
                      "Not a migration stream: magic %s, QEMU expects 0x5145564d (\"QEVM\")",
                      magic);
        return false;
    }
    if (src->version != QEMU_VM_FILE_VERSION) {
        version = g_strdup_printf("%u", src->version);
        mp_report_add(r, "stream-version", "stream version", version, "3",
                      src->version == QEMU_VM_FILE_VERSION_COMPAT ?
                      "the source's QEMU is too old: upgrade it" : NULL,
                      "Unsupported migration stream version %u (QEMU reads only 3)",
                      src->version);
        return false;
    }
    if (!src->has_configuration) {
        mp_report_add(r, "stream-no-configuration", "configuration section",
                      "absent", "required", "use the same machine type and accelerator on both sides",
                      "Configuration section missing: the destination expects one after the header");
        return false;
    }
    return true;
}

static void check_prefix_certain(const MpFacts *src, MpReport *r)
{
    if (!src->prefix_certain) {
        mp_report_add(r, "stream-uncertain-prefix", "stream prefix", "guessed boundary",
                      NULL, "report this stream to migproxy's developers (migdump shows it)",
                      "a section boundary in the stream's prefix had to be guessed; "
                      "no verdict rests on a guess");
    }
}

static void check_machine(const MpFacts *src, const MpFacts *dst, MpReport *r)
{
    if (!src->machine || !dst || !dst->machine) {
        return;
    }
    /* QEMU compares only the received length: "pc-q35" matches "pc-q35-7.2". */
    if (!g_str_has_prefix(dst->machine, src->machine)) {
        g_autofree char *hint = g_strdup_printf("start the destination with -machine %s",
                                                src->machine);

        mp_report_add(r, "machine-type", "machine type", src->machine, dst->machine,
                      hint, "Machine type received is '%s' and local is '%s'",
                      src->machine, dst->machine);
    }
}

static void check_page_bits(const MpFacts *src, const MpFacts *dst, MpReport *r)
{
    g_autofree char *s = NULL, *d = NULL;

    /* QEMU presets the legacy value, so only two reported values compare. */
    if (!src->has_page_bits || !dst || !dst->has_page_bits ||
        src->page_bits == dst->page_bits) {
        return;
    }
    s = g_strdup_printf("%u", src->page_bits);
    d = g_strdup_printf("%u", dst->page_bits);
    mp_report_add(r, "target-page-bits", "target page bits", s, d,
                  "use the same target and machine type on both sides",
                  "Received TARGET_PAGE_BITS is %u but local is %u",
                  src->page_bits, dst->page_bits);
}

/* Capabilities whose state QEMU announces in the stream and checks. */
static const char *const validated_caps[] = { "x-ignore-shared", "mapped-ram", NULL };

static bool announced(const MpFacts *src, const char *name)
{
    for (guint i = 0; i < src->announced_caps->len; i++) {
        if (strcmp(g_ptr_array_index(src->announced_caps, i), name) == 0) {
            return true;
        }
    }
    return false;
}

static void check_announced_caps(const MpFacts *src, const MpFacts *dst, MpReport *r)
{
    if (!dst || !dst->caps_complete) {
        return;
    }
    for (guint i = 0; i < src->announced_caps->len; i++) {
        const char *name = g_ptr_array_index(src->announced_caps, i);

        if (!g_hash_table_contains(dst->caps, name)) {
            mp_report_add(r, "capability-unknown", name, "on", "unknown",
                          "the destination's QEMU is older than the source's: "
                          "turn the capability off at the source or upgrade the destination",
                          "Received unknown capability %s", name);
        }
    }
    for (guint i = 0; validated_caps[i]; i++) {
        const char *name = validated_caps[i];
        bool src_on = announced(src, name), dst_on = false;
        g_autofree char *hint = NULL;

        if (!g_hash_table_contains(dst->caps, name)) {
            continue;           /* a QEMU without it cannot validate it */
        }
        mp_facts_get_cap(dst, name, &dst_on);
        if (src_on == dst_on) {
            continue;
        }
        hint = g_strdup_printf("run migrate-set-capabilities %s=%s on the %s",
                               name, on_off(src_on), "destination");
        /* QEMU's order: local (destination) first, then received. */
        mp_report_add(r, "capability-mismatch", name, on_off(src_on), on_off(dst_on),
                      hint, "Capability %s is %s, but received capability is %s",
                      name, on_off(dst_on), on_off(src_on));
    }
}

static uint64_t dest_page_summary(const MpFacts *dst)
{
    uint64_t summary = 0;

    for (guint i = 0; i < dst->ramblocks->len; i++) {
        const MpRamBlock *rb = g_ptr_array_index(dst->ramblocks, i);

        if (rb->has_page_size) {
            summary |= rb->page_size;
        }
    }
    return summary;
}

static void check_postcopy_advise(const MpFacts *src, const MpFacts *dst, MpReport *r)
{
    bool dst_postcopy;

    if (!src->has_postcopy_advise || !dst ||
        !mp_facts_get_cap(dst, "postcopy-ram", &dst_postcopy)) {
        return;
    }
    if (src->postcopy_advise_length == 16 && !dst_postcopy) {
        mp_report_add(r, "postcopy-advise", "postcopy-ram", "on", "off",
                      "run migrate-set-capabilities postcopy-ram=on on the destination",
                      "RAM postcopy is disabled but have 16 byte advise");
        return;
    }
    if (src->postcopy_advise_length == 0 && dst_postcopy) {
        mp_report_add(r, "postcopy-advise", "postcopy-ram", "off", "on",
                      "turn postcopy-ram on at the source or off at the destination",
                      "RAM postcopy is enabled but have 0 byte advise");
        return;
    }
    if (src->postcopy_advise_length == 16 && dst->ramblocks_complete) {
        uint64_t d = dest_page_summary(dst);

        if (d && d != src->advise_page_summary) {
            g_autofree char *sv = g_strdup_printf("0x%" G_GINT64_MODIFIER "x",
                                                  src->advise_page_summary);
            g_autofree char *dv = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", d);

            mp_report_add(r, "postcopy-page-size", "RAM page sizes", sv, dv,
                          "back guest RAM with the same page size (hugepages or not) on both sides",
                          "Postcopy needs matching RAM page sizes (s=%s d=%s)", sv, dv);
        }
    }
}

/*
 * Is @rb resizable on the destination?  info ramblock does not say; a
 * maximum above the used length proves it.  fw_cfg ROM blobs ("/rom@...")
 * are created resizable by QEMU even when they are full.
 */
static bool dest_resizable(const MpRamBlock *rb)
{
    return (rb->has_max_length && rb->max_length > rb->used_length) ||
           g_str_has_prefix(rb->name, "/rom@");
}

static char *size_hint(const char *block, uint64_t src_len)
{
    g_autofree char *arg = qemu_size_arg(src_len);

    if (strcmp(block, "pc.ram") == 0 || strcmp(block, "ram") == 0 ||
        strcmp(block, "mach-virt.ram") == 0) {
        return g_strdup_printf("start the destination with -m %s", arg);
    }
    if (strcmp(block, "vga.vram") == 0 || g_str_has_suffix(block, "/vga.vram")) {
        return g_strdup_printf("start the destination's VGA device with vgamem_mb=%"
                               G_GUINT64_FORMAT, src_len >> 20);
    }
    return g_strdup_printf("give the destination the same devices and memory as the source "
                           "(block %s must be %s bytes)", block, arg);
}

static void check_ramblocks(const MpFacts *src, const MpFacts *dst, MpReport *r)
{
    bool src_postcopy = src->has_postcopy_advise && src->postcopy_advise_length == 16;
    bool dst_postcopy = false;

    if (!dst || !dst->ramblocks_complete) {
        return;
    }
    mp_facts_get_cap(dst, "postcopy-ram", &dst_postcopy);
    for (guint i = 0; i < src->ramblocks->len; i++) {
        const MpRamBlock *s = g_ptr_array_index(src->ramblocks, i);
        const MpRamBlock *d = mp_facts_find_ramblock(dst, s->name);
        g_autofree char *sv = mp_format_size(s->used_length);
        g_autofree char *dv = NULL;
        g_autofree char *hint = NULL;

        if (!d) {
            mp_report_add(r, "ramblock-missing", s->name, sv, "absent",
                          "give the destination the same devices and memory backends as the source",
                          "Unknown ramblock \"%s\", cannot accept migration", s->name);
            continue;
        }
        dv = mp_format_size(d->used_length);
        if (s->used_length != d->used_length) {
            if (!dest_resizable(d)) {
                hint = size_hint(s->name, s->used_length);
                mp_report_add(r, "ramblock-size", s->name, sv, dv, hint,
                              "Size mismatch: %s: 0x%" G_GINT64_MODIFIER "x != 0x%"
                              G_GINT64_MODIFIER "x: RAM block lengths differ",
                              s->name, s->used_length, d->used_length);
            } else if (d->has_max_length && s->used_length > d->max_length) {
                g_autofree char *mv = mp_format_size(d->max_length);

                hint = size_hint(s->name, s->used_length);
                mp_report_add(r, "ramblock-too-large", s->name, sv, mv, hint,
                              "Size too large: %s: 0x%" G_GINT64_MODIFIER "x > 0x%"
                              G_GINT64_MODIFIER "x: beyond the destination's maximum",
                              s->name, s->used_length, d->max_length);
            } else {
                mp_report_add(r, "ramblock-resized", s->name, sv, dv, NULL,
                              "%s is resizable: the destination resizes it to the source's length",
                              s->name);
            }
        }
        if (src_postcopy && dst_postcopy && s->has_page_size && d->has_page_size &&
            s->page_size != d->page_size) {
            g_autofree char *sp = mp_format_size(s->page_size);
            g_autofree char *dp = mp_format_size(d->page_size);

            mp_report_add(r, "ramblock-page-size", s->name, sp, dp,
                          "back this block with the same page size on both sides",
                          "Mismatched RAM page size %s (local) %" G_GUINT64_FORMAT
                          " != %" G_GUINT64_FORMAT, s->name, d->page_size, s->page_size);
        }
        if (s->has_addr && d->has_addr && s->addr != d->addr) {
            g_autofree char *sa = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", s->addr);
            g_autofree char *da = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", d->addr);

            mp_report_add(r, "ramblock-addr", s->name, sa, da,
                          "map the shared memory backend at the same address on both sides",
                          "Mismatched GPAs for block %s %s != %s", s->name, sa, da);
        }
    }
    if (!src->ramblocks_complete) {
        return;
    }
    for (guint i = 0; i < dst->ramblocks->len; i++) {
        const MpRamBlock *d = g_ptr_array_index(dst->ramblocks, i);
        g_autofree char *dv = NULL;

        if (mp_facts_find_ramblock(src, d->name)) {
            continue;
        }
        dv = mp_format_size(d->used_length);
        mp_report_add(r, "ramblock-extra", d->name, "absent", dv,
                      "check that the destination has no device or memory the source lacks",
                      "the destination has RAM block %s, which the source does not send: "
                      "it keeps the destination's initial contents", d->name);
    }
}

/* Source's multifd state: QMP if given, else whether multifd channels came. */
static bool source_multifd(const MpFacts *src, bool *on, uint32_t *channels,
                           bool *has_channels)
{
    *has_channels = false;
    if (mp_facts_get_cap(src, "multifd", on)) {
        if (src->has_multifd_channels) {
            *channels = src->multifd_channels;
            *has_channels = true;
        } else if (src->channels_counted && *on) {
            *channels = src->multifd_connections;
            *has_channels = true;
        }
        return true;
    }
    if (src->channels_counted) {
        *on = src->multifd_connections > 0;
        *channels = src->multifd_connections;
        *has_channels = *on;
        return true;
    }
    return false;
}

static void check_multifd(const MpFacts *src, const MpFacts *dst, MpReport *r)
{
    bool src_on, dst_on, has_src_channels;
    uint32_t src_channels = 0;

    if (!dst || !mp_facts_get_cap(dst, "multifd", &dst_on) ||
        !source_multifd(src, &src_on, &src_channels, &has_src_channels)) {
        return;
    }
    if (src_on != dst_on) {
        mp_report_add(r, "multifd-one-side", "multifd", on_off(src_on), on_off(dst_on),
                      src_on ? "run migrate-set-capabilities multifd=on on the destination"
                             : "run migrate-set-capabilities multifd=off on the destination",
                      src_on ? "the source sends pages over multifd channels the destination "
                               "does not expect; QEMU 7.2 would wait forever or lose pages"
                             : "the destination waits for multifd channels the source never "
                               "opens; QEMU 7.2 would wait forever");
        return;
    }
    if (!src_on) {
        return;
    }
    if (has_src_channels && dst->has_multifd_channels &&
        src_channels != dst->multifd_channels) {
        g_autofree char *sv = g_strdup_printf("%u", src_channels);
        g_autofree char *dv = g_strdup_printf("%u", dst->multifd_channels);
        g_autofree char *hint = g_strdup_printf(
            "run migrate-set-parameters multifd-channels=%u on the destination", src_channels);

        mp_report_add(r, "multifd-channels", "multifd-channels", sv, dv, hint,
                      "multifd channel counts differ: source %u, destination %u; QEMU 7.2 "
                      "would hang or leave the pages of the unmatched channels unloaded",
                      src_channels, dst->multifd_channels);
    }
    if (src->multifd_compression && dst->multifd_compression &&
        strcmp(src->multifd_compression, dst->multifd_compression) != 0) {
        g_autofree char *hint = g_strdup_printf(
            "run migrate-set-parameters multifd-compression=%s on the destination",
            src->multifd_compression);

        mp_report_add(r, "multifd-compression", "multifd-compression",
                      src->multifd_compression, dst->multifd_compression, hint,
                      "multifd compression differs: source %s, destination %s",
                      src->multifd_compression, dst->multifd_compression);
    }
}

/*
 * Capabilities the two sides must share, beyond the validated ones and
 * multifd (checked above).  The flag says which direction breaks:
 * SRC_ONLY - on at the source and off at the destination fails;
 * BOTH     - on at either side alone fails.
 */
static const struct {
    const char *name;
    bool both;
    const char *why;
} shared_caps[] = {
    { "postcopy-preempt", true, "the channel layout differs: 7.2 destinations mis-assign or wait for the preempt channel" },
    { "compress", false, "the destination cannot load compressed pages (\"Received an unexpected compressed page\")" },
    { "dirty-bitmaps", false, "the destination does not know the dirty-bitmap section" },
    { "x-colo", false, "the destination is not ready for COLO checkpoints" },
    { "postcopy-ram", false, "the destination refuses the postcopy advise" },
};

static void check_shared_caps(const MpFacts *src, const MpFacts *dst, MpReport *r)
{
    GHashTableIter it;
    gpointer key, value;

    if (!dst || !dst->caps_complete) {
        return;
    }
    if (!src->caps_complete) {
        mp_report_add(r, "source-facts-partial", "source capabilities", "partial", NULL,
                      "give --source-qmp to compare every capability",
                      "the source's capabilities are known only from its stream and its "
                      "connections");
    }
    for (size_t i = 0; i < G_N_ELEMENTS(shared_caps); i++) {
        bool s, d;
        g_autofree char *hint = NULL;

        if (!mp_facts_get_cap(src, shared_caps[i].name, &s) ||
            !mp_facts_get_cap(dst, shared_caps[i].name, &d) || s == d) {
            continue;
        }
        if (!s && !shared_caps[i].both) {
            continue;
        }
        if (strcmp(shared_caps[i].name, "postcopy-ram") == 0 && src->has_postcopy_advise) {
            continue;       /* the advise check already said it, in QEMU's words */
        }
        hint = g_strdup_printf("run migrate-set-capabilities %s=%s on the destination",
                               shared_caps[i].name, on_off(s));
        mp_report_add(r, strcmp(shared_caps[i].name, "postcopy-preempt") == 0 ?
                      "preempt-channel" : "capability-differs",
                      shared_caps[i].name, on_off(s), on_off(d), hint,
                      "capability %s is %s at the source and %s at the destination: %s",
                      shared_caps[i].name, on_off(s), on_off(d), shared_caps[i].why);
    }
    if (!src->caps_complete) {
        return;
    }
    g_hash_table_iter_init(&it, src->caps);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        bool s = GPOINTER_TO_INT(value) != 0, d;
        bool listed = g_strv_contains(validated_caps, key) || strcmp(key, "multifd") == 0;

        for (size_t i = 0; i < G_N_ELEMENTS(shared_caps); i++) {
            listed |= strcmp(key, shared_caps[i].name) == 0;
        }
        if (listed || !mp_facts_get_cap(dst, key, &d) || s == d) {
            continue;
        }
        mp_report_add(r, "capability-differs-harmless", key, on_off(s), on_off(d), NULL,
                      "capability %s is %s at the source and %s at the destination "
                      "(QEMU does not need both sides to agree)",
                      (const char *)key, on_off(s), on_off(d));
    }
}

/* The source's state of @cap from everything known, FALSE when unknown. */
static bool source_cap(const MpFacts *src, const char *cap, bool *on)
{
    uint32_t channels;
    bool has_channels;

    if (strcmp(cap, "multifd") == 0) {
        return source_multifd(src, on, &channels, &has_channels);
    }
    if (g_strv_contains(validated_caps, cap)) {
        *on = announced(src, cap);
        return true;
    }
    if (strcmp(cap, "postcopy-ram") == 0 && !src->caps_complete) {
        *on = src->has_postcopy_advise && src->postcopy_advise_length == 16;
        return true;
    }
    if (strcmp(cap, "return-path") == 0 && !src->caps_complete && src->return_path_opened) {
        *on = true;
        return true;
    }
    return mp_facts_get_cap(src, cap, on);
}

static void check_policy(const MpFacts *src, const MpPolicy *policy, MpReport *r)
{
    if (!policy) {
        return;
    }
    if (policy->allowed_machines && src->machine) {
        bool allowed = false;
        g_autofree char *list = g_strjoinv(", ", policy->allowed_machines);

        for (guint i = 0; policy->allowed_machines[i]; i++) {
            allowed |= g_pattern_match_simple(policy->allowed_machines[i], src->machine);
        }
        if (!allowed) {
            mp_report_add(r, "policy-machine-type", "machine type", src->machine, list,
                          "migrate only machine types the policy lists, or extend allowed-machine-types",
                          "machine type %s is not allowed by the policy (allowed: %s)",
                          src->machine, list);
        }
    }
    if (policy->has_max_ram && src->has_ram_total && src->ram_total > policy->max_ram) {
        g_autofree char *sv = mp_format_size(src->ram_total);
        g_autofree char *pv = mp_format_size(policy->max_ram);

        mp_report_add(r, "policy-ram-size", "RAM", sv, pv,
                      "raise max-ram in the policy or migrate a smaller guest",
                      "the source's RAM (%s) exceeds the policy's max-ram (%s)", sv, pv);
    }
    for (guint i = 0; policy->required_caps && policy->required_caps[i]; i++) {
        const char *cap = policy->required_caps[i];
        bool on = false;
        bool known = source_cap(src, cap, &on);

        if (!known || !on) {
            g_autofree char *hint = g_strdup_printf(
                "run migrate-set-capabilities %s=on on the source%s", cap,
                known ? "" : " and give --source-qmp so the proxy can see it");

            mp_report_add(r, "policy-capability-required", cap, known ? "off" : "unknown",
                          "required", hint,
                          "the policy requires capability %s, which the source %s",
                          cap, known ? "has off" : "does not show");
        }
    }
    for (guint i = 0; policy->forbidden_caps && policy->forbidden_caps[i]; i++) {
        const char *cap = policy->forbidden_caps[i];
        bool on = false;

        if (source_cap(src, cap, &on) && on) {
            g_autofree char *hint = g_strdup_printf(
                "run migrate-set-capabilities %s=off on the source", cap);

            mp_report_add(r, "policy-capability-forbidden", cap, "on", "forbidden", hint,
                          "the policy forbids capability %s, which the source has on", cap);
        }
    }
}

/*
 * Devices and CPUs, when both sides' QMP told them (--source-qmp): QEMU
 * would fail on them only at the end, after all of RAM, on the first
 * device section the destination cannot place.
 */
static void check_devices(const MpFacts *src, const MpFacts *dst, MpReport *r)
{
    if (!dst) {
        return;
    }
    if (src->has_pci_devices && dst->has_pci_devices) {
        for (guint i = 0; i < src->pci_devices->len; i++) {
            const char *dev = g_ptr_array_index(src->pci_devices, i);
            g_autofree char *probe = g_strdup_printf("%s/", dev);

            if (mp_facts_lacks_pci_device(dst, probe, NULL)) {
                mp_report_add(r, "pci-device-missing", dev, "present", "absent",
                              "give the destination the same devices as the source",
                              "the source has a PCI device at %s and the destination has none; "
                              "QEMU would fail on its section after all of RAM", dev);
            }
        }
    }
    if (src->has_cpus && dst->has_cpus && src->cpus != dst->cpus) {
        g_autofree char *sv = g_strdup_printf("%u", src->cpus);
        g_autofree char *dv = g_strdup_printf("%u", dst->cpus);
        g_autofree char *hint = g_strdup_printf("start the destination with -smp %u", src->cpus);

        mp_report_add(r, "cpu-count", "CPUs", sv, dv, hint,
                      "the source has %u CPUs, the destination %u; QEMU would fail on the "
                      "first CPU section it cannot place, after all of RAM", src->cpus, dst->cpus);
    }
}

void mp_check_facts(const MpFacts *src, const MpFacts *dst, MpReport *report)
{
    check_machine(src, dst, report);
    check_page_bits(src, dst, report);
    check_announced_caps(src, dst, report);
    check_postcopy_advise(src, dst, report);
    check_ramblocks(src, dst, report);
    check_devices(src, dst, report);
    check_multifd(src, dst, report);
    check_shared_caps(src, dst, report);
}

void mp_check_prefix(const MpFacts *src, const MpFacts *dst,
                     const MpPolicy *policy, MpReport *report)
{
    if (!check_header(src, report)) {
        return;
    }
    check_prefix_certain(src, report);
    mp_check_facts(src, dst, report);
    check_policy(src, policy, report);
}

bool mp_check_cap_validated(const char *name)
{
    return g_strv_contains(validated_caps, name);
}

/* Sections QEMU registers once per CPU, with the CPU index as instance. */
static const char *const per_cpu_sections[] = { "cpu", "cpu_common", "apic", NULL };

static const MpFinding *late_finding(MpFinding *f, bool certain)
{
    if (!certain && f->severity > MP_SEVERITY_WARNING) {
        g_autofree char *old = f->message;

        f->severity = MP_SEVERITY_WARNING;
        f->message = g_strdup_printf("%s (found after a section boundary the decoder had to "
                                     "guess, so only a warning)", old);
    }
    return f;
}

const MpFinding *mp_check_late_section(const MpFacts *dst, const char *idstr,
                                       uint32_t instance, bool certain,
                                       const char *where, MpReport *report)
{
    g_autofree char *device = NULL;

    if (!dst) {
        return NULL;
    }
    if (mp_facts_lacks_pci_device(dst, idstr, &device)) {
        return late_finding(mp_report_add(report, "section-unknown-late", idstr, device, "absent",
                             "give the destination the same devices as the source",
                             "the source sends device state for PCI device %s (%s), which the "
                             "destination does not have; QEMU would fail there with \"Unknown "
                             "savevm section or instance '%s'\" after all of RAM",
                             device, where, idstr), certain);
    }
    if (dst->has_cpus && g_strv_contains(per_cpu_sections, idstr) && instance >= dst->cpus) {
        g_autofree char *sv = g_strdup_printf("CPU %u", instance);
        g_autofree char *dv = g_strdup_printf("%u CPU%s", dst->cpus, dst->cpus == 1 ? "" : "s");

        return late_finding(mp_report_add(report, "section-unknown-late", idstr, sv, dv,
                             "start the destination with as many CPUs (-smp) as the source",
                             "the source sends the state of CPU %u (%s), the destination has %s; "
                             "QEMU would fail there with \"Unknown savevm section or instance "
                             "'%s' %u\" after all of RAM", instance, where, dv, idstr, instance),
                            certain);
    }
    return NULL;
}
