/*
 * format.c - one line of text per decoder event, the same for every
 * chunking of the input.  migdump --events prints it, and the tests compare
 * event streams through it, so everything an event carries is in the line.
 */
#include "decoder.h"

static void append_hex(GString *s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_string_append_printf(s, "%02x", p[i]);
    }
}

char *mig_event_format(const MigEvent *ev)
{
    GString *s = g_string_new(NULL);

    g_string_append_printf(s, "%" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT " %s%s",
                           ev->offset, ev->end, ev->certain ? "" : "~",
                           mig_event_name(ev->type));
    switch (ev->type) {
    case MIG_EV_HEADER:
        g_string_append_printf(s, " version=%u", ev->u.header.version);
        break;
    case MIG_EV_CONFIGURATION:
        g_string_append_printf(s, " machine=%s", ev->u.config.machine);
        if (ev->u.config.has_page_bits) {
            g_string_append_printf(s, " page_bits=%u", ev->u.config.page_bits);
        }
        for (guint i = 0; i < ev->u.config.n_caps; i++) {
            g_string_append_printf(s, " cap=%s", ev->u.config.caps[i]);
        }
        if (ev->u.config.has_uuid) {
            g_string_append(s, " uuid=");
            append_hex(s, ev->u.config.uuid, 16);
        }
        break;
    case MIG_EV_SECTION:
    case MIG_EV_SECTION_END:
        g_string_append_printf(s, " %s id=%u idstr=%s instance=%u version=%u",
                               mig_section_type_name(ev->u.section.type),
                               ev->u.section.section_id, ev->u.section.idstr,
                               ev->u.section.instance_id, ev->u.section.version_id);
        if (ev->type == MIG_EV_SECTION_END) {
            g_string_append_printf(s, " payload=%" G_GUINT64_FORMAT "%s",
                                   ev->u.section.payload_length,
                                   ev->u.section.scanned ? " scanned" : "");
        }
        if (ev->u.section.in_packaged) {
            g_string_append(s, " packaged");
        }
        break;
    case MIG_EV_RAM_TOTAL:
    case MIG_EV_RAMBLOCK_LIST_END:
        g_string_append_printf(s, " total=0x%" G_GINT64_MODIFIER "x",
                               ev->u.ram_total.total);
        break;
    case MIG_EV_RAMBLOCK: {
        const MigRamBlockEvent *b = &ev->u.ramblock;

        g_string_append_printf(s, " %s used=0x%" G_GINT64_MODIFIER "x", b->idstr,
                               b->used_length);
        if (b->has_page_size) {
            g_string_append_printf(s, " page_size=0x%" G_GINT64_MODIFIER "x", b->page_size);
        }
        if (b->has_addr) {
            g_string_append_printf(s, " addr=0x%" G_GINT64_MODIFIER "x", b->addr);
        }
        if (b->has_mapped_ram) {
            g_string_append_printf(s, " mapped_ram=v%u,page=0x%" G_GINT64_MODIFIER
                                   "x,bitmap=0x%" G_GINT64_MODIFIER "x,pages=0x%"
                                   G_GINT64_MODIFIER "x", b->mapped_ram_version,
                                   b->mapped_ram_page_size,
                                   b->mapped_ram_bitmap_offset,
                                   b->mapped_ram_pages_offset);
        }
        break;
    }
    case MIG_EV_RAM_PAGE:
        g_string_append_printf(s, " %s %s+0x%" G_GINT64_MODIFIER "x payload=%u",
                               mig_page_kind_name(ev->u.page.kind), ev->u.page.block,
                               ev->u.page.offset, ev->u.page.payload_length);
        break;
    case MIG_EV_COMMAND:
    case MIG_EV_PACKAGED_BEGIN:
        g_string_append_printf(s, " %s len=%u", mig_command_name(ev->u.command.cmd),
                               ev->u.command.length);
        if (ev->u.command.length) {
            g_string_append(s, " data=");
            append_hex(s, ev->u.command.data, MIN(ev->u.command.length, 64));
        }
        if (ev->type == MIG_EV_PACKAGED_BEGIN) {
            g_string_append_printf(s, " blob=%u", ev->u.command.blob_length);
        }
        if (ev->u.command.in_packaged) {
            g_string_append(s, " packaged");
        }
        break;
    case MIG_EV_VMDESC:
        g_string_append_printf(s, " length=%u", ev->u.vmdesc.length);
        break;
    case MIG_EV_BOUNDARIES_CHECKED:
        g_string_append_printf(s, " scanned=%u confirmed=%u mismatched=%u",
                               ev->u.check.scanned_sections, ev->u.check.confirmed,
                               ev->u.check.mismatched);
        if (ev->u.check.first_mismatch) {
            g_string_append_printf(s, " first_mismatch=%s", ev->u.check.first_mismatch);
        }
        break;
    case MIG_EV_RP_MESSAGE:
        g_string_append_printf(s, " %s len=%u", mig_rp_message_name(ev->u.rp.type),
                               ev->u.rp.length);
        if (ev->u.rp.length) {
            g_string_append(s, " data=");
            append_hex(s, ev->u.rp.data, MIN(ev->u.rp.length, 64));
        }
        break;
    case MIG_EV_RP_BITMAP:
        g_string_append_printf(s, " size=%" G_GUINT64_FORMAT " end_mark=0x%016"
                               G_GINT64_MODIFIER "x", ev->u.rp_bitmap.size,
                               ev->u.rp_bitmap.end_mark);
        break;
    case MIG_EV_MULTIFD_INIT:
        g_string_append_printf(s, " channel=%u uuid=", ev->u.mf_init.channel_id);
        append_hex(s, ev->u.mf_init.uuid, 16);
        break;
    case MIG_EV_MULTIFD_PACKET: {
        const MigMultifdPacketEvent *p = &ev->u.mf_packet;

        g_string_append_printf(s, " flags=0x%x alloc=%u normal=%u zero=%u next=%u"
                               " num=%" G_GUINT64_FORMAT " block=%s", p->flags,
                               p->pages_alloc, p->normal_pages, p->zero_pages,
                               p->next_packet_size, p->packet_num, p->block);
        if (p->flags & MULTIFD_FLAG_DEVICE_STATE) {
            g_string_append_printf(s, " instance=%u", p->instance_id);
        }
        break;
    }
    default:
        break;
    }
    return g_string_free(s, FALSE);
}
