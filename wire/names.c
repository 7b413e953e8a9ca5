/*
 * names.c - printable names for the values in protocol.h, as QEMU spells
 * them (and a kebab-case form for JSON).  Values outside the tables get
 * "unknown (0x..)" so that a caller can always print what it was given.
 */
#include "decoder.h"

static const char *unknown(unsigned v)
{
    static GPrivate buf = G_PRIVATE_INIT(g_free);
    char *s = g_private_get(&buf);

    if (!s) {
        s = g_malloc(32);
        g_private_set(&buf, s);
    }
    g_snprintf(s, 32, "unknown (0x%x)", v);
    return s;
}

const char *mig_section_type_name(uint8_t type)
{
    switch (type) {
    case QEMU_VM_EOF: return "EOF";
    case QEMU_VM_SECTION_START: return "START";
    case QEMU_VM_SECTION_PART: return "PART";
    case QEMU_VM_SECTION_END: return "END";
    case QEMU_VM_SECTION_FULL: return "FULL";
    case QEMU_VM_SUBSECTION: return "SUBSECTION";
    case QEMU_VM_VMDESCRIPTION: return "VMDESCRIPTION";
    case QEMU_VM_CONFIGURATION: return "CONFIGURATION";
    case QEMU_VM_COMMAND: return "COMMAND";
    case QEMU_VM_SECTION_FOOTER: return "FOOTER";
    default: return unknown(type);
    }
}

static const char *const command_names[MIG_CMD_MAX][2] = {
    [MIG_CMD_INVALID] = { "INVALID", "invalid" },
    [MIG_CMD_OPEN_RETURN_PATH] = { "OPEN_RETURN_PATH", "open-return-path" },
    [MIG_CMD_PING] = { "PING", "ping" },
    [MIG_CMD_POSTCOPY_ADVISE] = { "POSTCOPY_ADVISE", "postcopy-advise" },
    [MIG_CMD_POSTCOPY_LISTEN] = { "POSTCOPY_LISTEN", "postcopy-listen" },
    [MIG_CMD_POSTCOPY_RUN] = { "POSTCOPY_RUN", "postcopy-run" },
    [MIG_CMD_POSTCOPY_RAM_DISCARD] = { "POSTCOPY_RAM_DISCARD", "postcopy-ram-discard" },
    [MIG_CMD_PACKAGED] = { "PACKAGED", "packaged" },
    [MIG_CMD_ENABLE_COLO] = { "ENABLE_COLO", "enable-colo" },
    [MIG_CMD_POSTCOPY_RESUME] = { "POSTCOPY_RESUME", "postcopy-resume" },
    [MIG_CMD_RECV_BITMAP] = { "RECV_BITMAP", "recv-bitmap" },
    [MIG_CMD_SWITCHOVER_START] = { "SWITCHOVER_START", "switchover-start" },
};

const char *mig_command_name(uint16_t cmd)
{
    return cmd < MIG_CMD_MAX ? command_names[cmd][0] : unknown(cmd);
}

const char *mig_command_json_name(uint16_t cmd)
{
    return cmd < MIG_CMD_MAX ? command_names[cmd][1] : unknown(cmd);
}

const char *mig_rp_message_name(uint16_t type)
{
    static const char *const names[MIG_RP_MSG_MAX] = {
        [MIG_RP_MSG_INVALID] = "invalid",
        [MIG_RP_MSG_SHUT] = "shut",
        [MIG_RP_MSG_PONG] = "pong",
        [MIG_RP_MSG_REQ_PAGES_ID] = "req-pages-id",
        [MIG_RP_MSG_REQ_PAGES] = "req-pages",
        [MIG_RP_MSG_RECV_BITMAP] = "recv-bitmap",
        [MIG_RP_MSG_RESUME_ACK] = "resume-ack",
        [MIG_RP_MSG_SWITCHOVER_ACK] = "switchover-ack",
    };
    return type < MIG_RP_MSG_MAX ? names[type] : unknown(type);
}

const char *mig_page_kind_name(MigPageKind kind)
{
    switch (kind) {
    case MIG_PAGE_ZERO: return "zero";
    case MIG_PAGE_NORMAL: return "normal";
    case MIG_PAGE_XBZRLE: return "xbzrle";
    case MIG_PAGE_COMPRESSED: return "compressed";
    default: return unknown(kind);
    }
}

const char *mig_channel_name(MigChannelKind kind)
{
    switch (kind) {
    case MIG_CHANNEL_MAIN: return "main";
    case MIG_CHANNEL_RETURN_PATH: return "return-path";
    case MIG_CHANNEL_MULTIFD: return "multifd";
    case MIG_CHANNEL_PREEMPT: return "preempt";
    case MIG_CHANNEL_RECOVERY: return "recovery";
    default: return unknown(kind);
    }
}

const char *mig_event_name(MigEventType type)
{
    static const char *const names[] = {
        [MIG_EV_HEADER] = "header",
        [MIG_EV_CONFIGURATION] = "configuration",
        [MIG_EV_SECTION] = "section",
        [MIG_EV_SECTION_END] = "section-end",
        [MIG_EV_RAM_TOTAL] = "ram-total",
        [MIG_EV_RAMBLOCK] = "ramblock",
        [MIG_EV_RAMBLOCK_LIST_END] = "ramblock-list-end",
        [MIG_EV_RAM_PAGE] = "ram-page",
        [MIG_EV_RAM_EOS] = "ram-eos",
        [MIG_EV_RAM_FLUSH] = "ram-flush",
        [MIG_EV_RAM_HOOK] = "ram-hook",
        [MIG_EV_COMMAND] = "command",
        [MIG_EV_PACKAGED_BEGIN] = "packaged-begin",
        [MIG_EV_PACKAGED_END] = "packaged-end",
        [MIG_EV_EOF] = "eof",
        [MIG_EV_VMDESC] = "vmdesc",
        [MIG_EV_BOUNDARIES_CHECKED] = "boundaries-checked",
        [MIG_EV_RP_MESSAGE] = "rp-message",
        [MIG_EV_RP_BITMAP] = "rp-bitmap",
        [MIG_EV_MULTIFD_INIT] = "multifd-init",
        [MIG_EV_MULTIFD_PACKET] = "multifd-packet",
        [MIG_EV_END] = "end",
    };
    return (unsigned)type < G_N_ELEMENTS(names) && names[type] ? names[type]
                                                             : unknown(type);
}
