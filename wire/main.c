/*
 * main.c - the main channel's framing: file header, CONFIGURATION,
 * section headers and footers, commands (PACKAGED included), EOF and
 * VMDESCRIPTION, and the footer scan that delimits device payloads whose
 * layout we do not know.
 *
 * Which payload parser a section gets (see payload_begin):
 *   "ram"            exact: RAM records until EOS (ram.c)
 *   anything else    footer scan: the first "7e <section id>" followed by a
 *                    well-formed next item (a section header with a
 *                    printable idstr, a known PART/END id, a command with a
 *                    known number, EOF + VMDESCRIPTION or end of input, or
 *                    the end of the PACKAGED blob).  Device bytes could in
 *                    principle contain that pattern, so the boundary is a
 *                    guess: it clears d->certain until the VMDESCRIPTION's
 *                    sizes confirm it (vmdesc.c).
 * Streams without a configuration section (machine types <= 2.3, Xen) have
 * no footers either; their device payloads cannot be delimited at all and
 * the decoder says so (MIG_WIRE_ERROR_LOST) instead of guessing.
 */
#include <string.h>
#include "decoder-internal.h"

static ssize_t step_config(MigDecoder *d, const uint8_t *p, size_t n, bool final);
static ssize_t step_config_sub(MigDecoder *d, const uint8_t *p, size_t n, bool final);
static ssize_t step_scan(MigDecoder *d, const uint8_t *p, size_t n, bool final);
static ssize_t step_after_eof(MigDecoder *d, const uint8_t *p, size_t n, bool final);
static ssize_t step_vmdesc(MigDecoder *d, const uint8_t *p, size_t n, bool final);
static void vmdesc_complete(MigDecoder *d, uint64_t end);

/* 7.2 and 10.x agree on these; the texts follow QEMU's where it has one. */
ssize_t mig_step_main_header(MigDecoder *d, const uint8_t *p, size_t n,
                             bool final)
{
    uint32_t magic, version;
    MigEvent ev = { .type = MIG_EV_HEADER, .offset = d->offset };

    MIG_NEED(d, n, 4);
    magic = mig_be32(p);
    if (magic != QEMU_VM_FILE_MAGIC) {
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                        "not a migration stream: expected file magic 0x%08x "
                        "(\"QEVM\"), found 0x%08x", QEMU_VM_FILE_MAGIC, magic);
    }
    MIG_NEED(d, n, 8);
    version = mig_be32(p + 4);
    if (version == QEMU_VM_FILE_VERSION_COMPAT) {
        return mig_fail(d, MIG_WIRE_ERROR_UNSUPPORTED, d->offset + 4,
                        "expected stream version 3, found 2 (the obsolete "
                        "SaveVM v2 format)");
    }
    if (version != QEMU_VM_FILE_VERSION) {
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset + 4,
                        "expected stream version 3, found %u", version);
    }
    ev.end = d->offset + 8;
    ev.u.header.magic = magic;
    ev.u.header.version = version;
    mig_emit(d, &ev);
    mig_go(d, mig_step_top, "section type byte");
    return 8;
}

/* ------------------------------------------------------------------ */
/* CONFIGURATION (migration/savevm.c vmstate_configuration)           */

static void emit_config(MigDecoder *d)
{
    MigEvent ev = { .type = MIG_EV_CONFIGURATION, .offset = d->item_offset,
                    .end = d->offset };

    ev.offset = 8;
    ev.u.config.machine = d->machine;
    ev.u.config.has_page_bits = d->has_page_bits;
    ev.u.config.page_bits = d->page_bits;
    ev.u.config.n_caps = d->caps->len;
    ev.u.config.caps = (const char *const *)d->caps->pdata;
    ev.u.config.has_uuid = d->has_uuid;
    memcpy(ev.u.config.uuid, d->uuid, 16);
    mig_emit(d, &ev);
}

static ssize_t step_config(MigDecoder *d, const uint8_t *p, size_t n, bool final)
{
    uint32_t len;

    MIG_NEED(d, n, 4);
    len = mig_be32(p);
    if (len == 0 || len > MIG_LIMIT_MACHINE_NAME) {
        return mig_fail(d, MIG_WIRE_ERROR_LIMIT, d->offset,
                        "expected a machine type name of 1 to %u bytes, found "
                        "length %u", MIG_LIMIT_MACHINE_NAME, len);
    }
    MIG_NEED(d, n, 4 + len);
    d->machine = mig_printable(p + 4, len);
    mig_go(d, step_config_sub, "configuration subsection");
    return 4 + len;
}

static ssize_t step_config_caps(MigDecoder *d, const uint8_t *p, size_t n,
                                bool final)
{
    uint8_t len;

    if (d->caps_left == 0) {
        mig_go(d, step_config_sub, "configuration subsection");
        return step_config_sub(d, p, n, final);
    }
    MIG_NEED(d, n, 1);
    len = p[0];
    if (len == 0) {
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                        "expected a capability name, found an empty string");
    }
    MIG_NEED(d, n, 1 + (size_t)len);
    g_ptr_array_add(d->caps, mig_printable(p + 1, len));
    if (len == strlen("x-ignore-shared") && !memcmp(p + 1, "x-ignore-shared", len)) {
        d->cap_ignore_shared = true;
    } else if (len == strlen("mapped-ram") && !memcmp(p + 1, "mapped-ram", len)) {
        d->cap_mapped_ram = true;
    }
    d->caps_left--;
    mig_describe(d, "capability name");
    return 1 + len;
}

static ssize_t step_config_sub(MigDecoder *d, const uint8_t *p, size_t n,
                               bool final)
{
    uint8_t nlen;
    const char *name;
    uint32_t version;
    size_t hdr;

    MIG_NEED(d, n, 1);
    if (p[0] != QEMU_VM_SUBSECTION) {
        d->has_config = true;
        emit_config(d);
        mig_go(d, mig_step_top, "section type byte");
        return mig_step_top(d, p, n, final);
    }
    MIG_NEED(d, n, 2);
    nlen = p[1];
    MIG_NEED(d, n, 2 + (size_t)nlen + 4);
    hdr = 2 + (size_t)nlen + 4;
    name = (const char *)p + 2;
    version = mig_be32(p + 2 + nlen);
#define IS_SUB(s) (nlen == strlen(s) && !memcmp(name, s, nlen))
    if (!IS_SUB(MIG_CONFIG_SUB_PAGE_BITS) && !IS_SUB(MIG_CONFIG_SUB_CAPABILITIES) &&
        !IS_SUB(MIG_CONFIG_SUB_UUID)) {
        g_autofree char *shown = mig_printable(p + 2, nlen);
        return mig_fail(d, MIG_WIRE_ERROR_UNSUPPORTED, d->offset,
                        "expected a configuration subsection (target-page-bits, "
                        "capabilities or uuid), found '%s'", shown);
    }
    if (version != 1) {
        g_autofree char *shown = mig_printable(p + 2, nlen);
        return mig_fail(d, MIG_WIRE_ERROR_UNSUPPORTED, d->offset + 2 + nlen,
                        "expected version 1 of subsection '%s', found %u",
                        shown, version);
    }
    if (IS_SUB(MIG_CONFIG_SUB_PAGE_BITS)) {
        uint32_t bits;

        MIG_NEED(d, n, hdr + 4);
        bits = mig_be32(p + hdr);
        if (bits < MIG_LIMIT_PAGE_BITS_MIN || bits > MIG_LIMIT_PAGE_BITS_MAX) {
            return mig_fail(d, MIG_WIRE_ERROR_LIMIT, d->offset + hdr,
                            "expected target page bits from %u to %u, found %u",
                            MIG_LIMIT_PAGE_BITS_MIN, MIG_LIMIT_PAGE_BITS_MAX, bits);
        }
        d->has_page_bits = true;
        d->page_bits = bits;
        d->tps = 1u << bits;
        d->mf_packet_size = MULTIFD_RAM_HEADER_FIXED + 8 * (MULTIFD_PACKET_SIZE / d->tps);
        return hdr + 4;
    }
    if (IS_SUB(MIG_CONFIG_SUB_UUID)) {
        MIG_NEED(d, n, hdr + 16);
        d->has_uuid = true;
        memcpy(d->uuid, p + hdr, 16);
        return hdr + 16;
    }
#undef IS_SUB
    MIG_NEED(d, n, hdr + 4);
    d->caps_left = mig_be32(p + hdr);
    if (d->caps_left > MIG_LIMIT_CAPABILITIES) {
        return mig_fail(d, MIG_WIRE_ERROR_LIMIT, d->offset + hdr,
                        "expected at most %u capabilities, found a count of %u",
                        MIG_LIMIT_CAPABILITIES, d->caps_left);
    }
    mig_go(d, step_config_caps, "capability name");
    return hdr + 4;
}

/* ------------------------------------------------------------------ */
/* Sections                                                           */

static bool is_ram(const MigSectionInfo *s)
{
    return !strcmp(s->idstr, "ram");
}

static void payload_begin(MigDecoder *d, uint64_t start)
{
    if (is_ram(d->sec)) {
        mig_ram_begin_section(d);
    } else {
        mig_go(d, step_scan, "device section payload");
    }
    d->sec_payload_start = start;
}

static void remember_full(MigDecoder *d, uint64_t payload_length, bool scanned)
{
    MigFullSection fs = { 0 };

    if (d->sec_type != QEMU_VM_SECTION_FULL ||
        d->full_sections->len >= MIG_LIMIT_SECTIONS) {
        return;
    }
    fs.idstr = g_strdup(d->sec->idstr);
    fs.instance_id = d->sec->instance_id;
    fs.payload_length = payload_length;
    fs.scanned = scanned;
    g_array_append_val(d->full_sections, fs);
}

static void emit_section_end(MigDecoder *d, uint64_t start, uint64_t end,
                             bool scanned)
{
    MigEvent ev = { .type = MIG_EV_SECTION_END, .offset = start, .end = end };
    uint64_t payload = (end - start) - (d->has_config ? 5 : 0);

    ev.u.section.type = d->sec_type;
    ev.u.section.section_id = d->sec_id;
    ev.u.section.idstr = d->sec->idstr;
    ev.u.section.instance_id = d->sec->instance_id;
    ev.u.section.version_id = d->sec->version_id;
    ev.u.section.payload_length = payload;
    ev.u.section.scanned = scanned;
    ev.u.section.in_packaged = d->sec_in_packaged;
    remember_full(d, payload, scanned);
    mig_emit(d, &ev);
}

ssize_t mig_step_footer(MigDecoder *d, const uint8_t *p, size_t n, bool final)
{
    uint32_t id;

    MIG_NEED(d, n, 1);
    if (p[0] != QEMU_VM_SECTION_FOOTER) {
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                        "expected the section footer 0x7e of '%s' (id %u), "
                        "found 0x%02x", d->sec->idstr, d->sec_id, p[0]);
    }
    MIG_NEED(d, n, 5);
    id = mig_be32(p + 1);
    if (id != d->sec_id) {
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset + 1,
                        "expected section id %u in the footer of '%s', found %u",
                        d->sec_id, d->sec->idstr, id);
    }
    emit_section_end(d, d->sec_payload_start, d->offset + 5, false);
    mig_go(d, mig_step_top, "section type byte");
    return 5;
}

/* The payload parser saw its own end (RAM EOS): expect the footer. */
void mig_section_payload_done(MigDecoder *d)
{
    if (d->has_config) {
        mig_go(d, mig_step_footer, "section footer");
    } else {
        emit_section_end(d, d->sec_payload_start, d->offset, false);
        mig_go(d, mig_step_top, "section type byte");
    }
}

static ssize_t section_header(MigDecoder *d, const uint8_t *p, size_t n)
{
    uint8_t type = p[0];
    uint32_t id;
    MigSectionInfo *info;
    MigEvent ev = { .type = MIG_EV_SECTION, .offset = d->offset };
    size_t used;

    MIG_NEED(d, n, 5);
    id = mig_be32(p + 1);
    if (type == QEMU_VM_SECTION_START || type == QEMU_VM_SECTION_FULL) {
        uint8_t len;

        MIG_NEED(d, n, 6);
        len = p[5];
        if (len == 0) {
            return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset + 5,
                            "expected an idstr for section %u, found an empty "
                            "string", id);
        }
        MIG_NEED(d, n, 6 + (size_t)len + 8);
        used = 6 + (size_t)len + 8;
        info = g_hash_table_lookup(d->sections, GUINT_TO_POINTER(id));
        if (!info) {
            if (g_hash_table_size(d->sections) >= MIG_LIMIT_SECTIONS) {
                return mig_fail(d, MIG_WIRE_ERROR_LIMIT, d->offset,
                                "more than %u distinct section ids",
                                MIG_LIMIT_SECTIONS);
            }
            info = g_new0(MigSectionInfo, 1);
            g_hash_table_insert(d->sections, GUINT_TO_POINTER(id), info);
        }
        {
            g_autofree char *name = mig_printable(p + 6, len);
            g_strlcpy(info->idstr, name, sizeof(info->idstr));
        }
        info->instance_id = mig_be32(p + 6 + len);
        info->version_id = mig_be32(p + 10 + len);
        if (type == QEMU_VM_SECTION_START) {
            info->live = true;
        }
    } else {
        used = 5;
        info = g_hash_table_lookup(d->sections, GUINT_TO_POINTER(id));
        if (!info || !info->live) {
            return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset + 1,
                            "expected the id of a started live section in this "
                            "%s header, found unknown section id %u",
                            mig_section_type_name(type), id);
        }
    }
    d->sec_type = type;
    d->sec_id = id;
    d->sec = info;
    d->sec_in_packaged = d->pk_active;
    d->stats.sections++;
    ev.end = d->offset + used;
    ev.u.section.type = type;
    ev.u.section.section_id = id;
    ev.u.section.idstr = info->idstr;
    ev.u.section.instance_id = info->instance_id;
    ev.u.section.version_id = info->version_id;
    ev.u.section.in_packaged = d->pk_active;
    mig_emit(d, &ev);
    payload_begin(d, d->offset + used);
    return (ssize_t)used;
}

/* Commands whose payload length QEMU fixes (loadvm_process_command). */
static int command_fixed_length(uint16_t cmd)
{
    switch (cmd) {
    case MIG_CMD_OPEN_RETURN_PATH:
    case MIG_CMD_POSTCOPY_LISTEN:
    case MIG_CMD_POSTCOPY_RUN:
    case MIG_CMD_ENABLE_COLO:
    case MIG_CMD_POSTCOPY_RESUME:
    case MIG_CMD_SWITCHOVER_START:
        return 0;
    case MIG_CMD_PING:
    case MIG_CMD_PACKAGED:
        return 4;
    default:
        return -1;
    }
}

static ssize_t command(MigDecoder *d, const uint8_t *p, size_t n)
{
    uint16_t cmd, len;
    MigEvent ev = { .type = MIG_EV_COMMAND, .offset = d->offset };

    MIG_NEED(d, n, 5);
    cmd = mig_be16(p + 1);
    len = mig_be16(p + 3);
    MIG_NEED(d, n, 5 + (size_t)len);
    ev.end = d->offset + 5 + len;
    ev.u.command.cmd = cmd;
    ev.u.command.length = len;
    ev.u.command.data = p + 5;
    ev.u.command.in_packaged = d->pk_active;
    d->stats.commands++;

    if (cmd == MIG_CMD_POSTCOPY_ADVISE && len == 16) {
        uint64_t tps = mig_be64(p + 13);

        d->postcopy_advised = true;
        if (tps >= (1u << MIG_LIMIT_PAGE_BITS_MIN) &&
            tps <= (1u << MIG_LIMIT_PAGE_BITS_MAX) && !(tps & (tps - 1))) {
            d->tps = (uint32_t)tps;
            d->mf_packet_size = MULTIFD_RAM_HEADER_FIXED +
                                8 * (MULTIFD_PACKET_SIZE / d->tps);
        }
    }
    if (cmd == MIG_CMD_PACKAGED) {
        uint32_t blob;

        if (len != 4) {
            return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset + 3,
                            "expected length 4 for PACKAGED, found %u", len);
        }
        if (d->pk_active) {
            return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                            "PACKAGED inside a PACKAGED blob (QEMU never nests them)");
        }
        blob = mig_be32(p + 5);
        if (blob > MIG_LIMIT_PACKAGED) {
            return mig_fail(d, MIG_WIRE_ERROR_LIMIT, d->offset + 5,
                            "expected a PACKAGED blob of at most %llu bytes, "
                            "found %u", (unsigned long long)MIG_LIMIT_PACKAGED, blob);
        }
        ev.type = MIG_EV_PACKAGED_BEGIN;
        ev.u.command.blob_length = blob;
        mig_emit(d, &ev);
        d->pk_active = true;
        d->pk_end = d->offset + 9 + blob;
        return 9;
    }
    mig_emit(d, &ev);
    return 5 + len;
}

ssize_t mig_step_top(MigDecoder *d, const uint8_t *p, size_t n, bool final)
{
    mig_describe(d, "section type byte");
    MIG_NEED(d, n, 1);
    switch (p[0]) {
    case QEMU_VM_CONFIGURATION:
        if (d->offset != 8 || d->cfg.channel != MIG_CHANNEL_MAIN) {
            return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                            "CONFIGURATION (0x07) is only valid right after "
                            "the file header");
        }
        mig_go(d, step_config, "configuration section");
        return 1;
    case QEMU_VM_SECTION_START:
    case QEMU_VM_SECTION_FULL:
        mig_describe(d, "section header");
        return section_header(d, p, n);
    case QEMU_VM_SECTION_PART:
    case QEMU_VM_SECTION_END:
        mig_describe(d, "section header");
        return section_header(d, p, n);
    case QEMU_VM_COMMAND:
        mig_describe(d, "command");
        return command(d, p, n);
    case QEMU_VM_EOF: {
        MigEvent ev = { .type = MIG_EV_EOF, .offset = d->offset,
                        .end = d->offset + 1 };
        if (d->pk_active) {
            return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                            "QEMU_VM_EOF inside a PACKAGED blob");
        }
        d->eof_seen = true;
        mig_emit(d, &ev);
        mig_go(d, step_after_eof, "VMDESCRIPTION or end of stream");
        return 1;
    }
    default:
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                        "expected a section type (0x00-0x04 or 0x08), found 0x%02x%s",
                        p[0], p[0] == QEMU_VM_SUBSECTION ?
                        " (a subsection outside any section)" :
                        p[0] == QEMU_VM_SECTION_FOOTER ? " (a footer outside any section)" :
                        p[0] == QEMU_VM_VMDESCRIPTION ? " (VMDESCRIPTION before EOF)" : "");
    }
}

/* ------------------------------------------------------------------ */
/* Footer scan                                                        */

enum { CANDIDATE_NO, CANDIDATE_YES, CANDIDATE_NEED };

/*
 * Is p[0..n) (starting with a matching footer) followed by a plausible next
 * item?  Sets d->need when more bytes are needed to tell.
 */
static int judge_candidate(MigDecoder *d, const uint8_t *p, size_t n, bool final)
{
    const MigSectionInfo *next;
    size_t need;

    if (d->pk_active && d->offset + 5 == d->pk_end) {
        return CANDIDATE_YES;   /* the footer ends the blob exactly */
    }
    if (n < 6) {
        if (final && n == 5 && !d->pk_active) {
            return CANDIDATE_YES; /* stream ends after the footer */
        }
        d->need = 6;
        return final ? CANDIDATE_NO : CANDIDATE_NEED;
    }
#define WANT(k) do {                                        \
        need = (k);                                             \
        if (n < need) {                                         \
            if (final) {                                        \
                return CANDIDATE_NO;                            \
            }                                                   \
            d->need = need;                                     \
            return CANDIDATE_NEED;                              \
        }                                                       \
    } while (0)
    switch (p[5]) {
    case QEMU_VM_EOF:
        if (d->pk_active) {
            return CANDIDATE_NO;
        }
        if (n == 6 && final) {
            return CANDIDATE_YES;
        }
        WANT(7);
        if (p[6] != QEMU_VM_VMDESCRIPTION) {
            return CANDIDATE_NO;
        }
        WANT(12);
        return p[11] == '{' ? CANDIDATE_YES : CANDIDATE_NO;
    case QEMU_VM_SECTION_START:
    case QEMU_VM_SECTION_FULL:
        WANT(11);
        if (p[10] == 0) {
            return CANDIDATE_NO;
        }
        WANT(11 + (size_t)p[10] + 8);
        if (!mig_is_printable(p + 11, p[10])) {
            return CANDIDATE_NO;
        }
        next = g_hash_table_lookup(d->sections, GUINT_TO_POINTER(mig_be32(p + 6)));
        if (next && (strlen(next->idstr) != p[10] ||
                     memcmp(next->idstr, p + 11, p[10]))) {
            return CANDIDATE_NO;  /* a known id names another section */
        }
        return CANDIDATE_YES;
    case QEMU_VM_SECTION_PART:
    case QEMU_VM_SECTION_END:
        WANT(10);
        next = g_hash_table_lookup(d->sections, GUINT_TO_POINTER(mig_be32(p + 6)));
        return next && next->live ? CANDIDATE_YES : CANDIDATE_NO;
    case QEMU_VM_COMMAND: {
        uint16_t cmd, len;
        int fixed;

        WANT(10);
        cmd = mig_be16(p + 6);
        len = mig_be16(p + 8);
        fixed = command_fixed_length(cmd);
        if (cmd == MIG_CMD_INVALID || cmd >= MIG_CMD_MAX) {
            return CANDIDATE_NO;
        }
        return fixed < 0 || fixed == len ? CANDIDATE_YES : CANDIDATE_NO;
    }
    default:
        return CANDIDATE_NO;
    }
#undef WANT
}

static ssize_t step_scan(MigDecoder *d, const uint8_t *p, size_t n, bool final)
{
    const uint8_t *hit;
    uint8_t id[4];

    if (!d->has_config) {
        return mig_fail(d, MIG_WIRE_ERROR_LOST, d->sec_payload_start,
                        "cannot find the end of section '%s' (id %u): the "
                        "stream has no configuration section, so it has no "
                        "section footers either", d->sec->idstr, d->sec_id);
    }
    if (d->offset - d->sec_payload_start > MIG_LIMIT_SCANNED_SECTION) {
        return mig_fail(d, MIG_WIRE_ERROR_LOST, d->sec_payload_start,
                        "no footer for section '%s' (id %u) in the first %u "
                        "bytes of its payload", d->sec->idstr, d->sec_id,
                        MIG_LIMIT_SCANNED_SECTION);
    }
    MIG_NEED(d, n, 1);
    if (p[0] != QEMU_VM_SECTION_FOOTER) {
        hit = memchr(p, QEMU_VM_SECTION_FOOTER, n);
        return hit ? hit - p : (ssize_t)n;
    }
    id[0] = (uint8_t)(d->sec_id >> 24);
    id[1] = (uint8_t)(d->sec_id >> 16);
    id[2] = (uint8_t)(d->sec_id >> 8);
    id[3] = (uint8_t)d->sec_id;
    if (n < 5) {
        if (final) {
            return 1;   /* not a footer; let the end of input speak */
        }
        d->need = 5;
        return 0;
    }
    if (memcmp(p + 1, id, 4)) {
        return 1;
    }
    switch (judge_candidate(d, p, n, final)) {
    case CANDIDATE_NEED:
        return 0;
    case CANDIDATE_NO:
        return 1;
    default:
        break;
    }
    d->certain = false;
    d->stats.scanned_boundaries++;
    emit_section_end(d, d->sec_payload_start, d->offset + 5, true);
    mig_go(d, mig_step_top, "section type byte");
    return 5;
}

/* ------------------------------------------------------------------ */
/* After EOF: optional VMDESCRIPTION                                  */

static ssize_t step_after_eof(MigDecoder *d, const uint8_t *p, size_t n,
                              bool final)
{
    uint32_t len;

    if (d->vmdesc_done) {
        MIG_NEED(d, n, 1);
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                        "expected the end of the stream after VMDESCRIPTION, "
                        "found 0x%02x", p[0]);
    }
    MIG_NEED(d, n, 1);
    if (p[0] != QEMU_VM_VMDESCRIPTION) {
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                        "expected VMDESCRIPTION (0x06) or the end of the "
                        "stream after QEMU_VM_EOF, found 0x%02x", p[0]);
    }
    mig_describe(d, "VMDESCRIPTION");
    MIG_NEED(d, n, 5);
    len = mig_be32(p + 1);
    if (len > MIG_LIMIT_VMDESC) {
        return mig_fail(d, MIG_WIRE_ERROR_LIMIT, d->offset + 1,
                        "expected a VMDESCRIPTION of at most %u bytes, found "
                        "length %u", MIG_LIMIT_VMDESC, len);
    }
    d->vmdesc_length = len;
    d->vmdesc = g_byte_array_sized_new(MIN(len, 65536u));
    if (len == 0) {
        vmdesc_complete(d, d->offset + 5);
    } else {
        d->step = step_vmdesc;  /* keep item_offset at the 0x06 byte */
    }
    return 5;
}

/* The whole JSON is in; @end is the stream offset just past it. */
static void vmdesc_complete(MigDecoder *d, uint64_t end)
{
    MigEvent ev = { .type = MIG_EV_VMDESC, .offset = d->item_offset, .end = end };

    ev.u.vmdesc.json = (const char *)d->vmdesc->data;
    ev.u.vmdesc.length = d->vmdesc->len;
    mig_emit(d, &ev);
    d->vmdesc_done = true;
    mig_vmdesc_check(d, end);
    d->step = step_after_eof;
    d->item_offset = end;
}

/* Collects the JSON as it arrives: it is parsed whole, once, at the end. */
static ssize_t step_vmdesc(MigDecoder *d, const uint8_t *p, size_t n, bool final)
{
    size_t take = MIN(n, (size_t)(d->vmdesc_length - d->vmdesc->len));

    MIG_NEED(d, n, 1);
    g_byte_array_append(d->vmdesc, p, (guint)take);
    if (d->vmdesc->len == d->vmdesc_length) {
        vmdesc_complete(d, d->offset + take);
    }
    return (ssize_t)take;
}

bool mig_main_is_clean(const MigDecoder *d)
{
    return d->eof_seen && d->step == step_after_eof;
}
