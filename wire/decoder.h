/*
 * decoder.h - push decoder for QEMU's live-migration stream.
 *
 * The caller feeds bytes in chunks of any size; the decoder calls back with
 * an event for everything it recognises, in stream order, each with the
 * stream offset where it starts.  It does no I/O, never copies page
 * payloads (it skips them) and keeps bounded state: see limits.h.
 *
 * One decoder follows one byte stream of one channel kind:
 *   MIG_CHANNEL_MAIN         source -> destination main stream (QEVM ...)
 *   MIG_CHANNEL_RETURN_PATH  destination -> source on the main connection
 *   MIG_CHANNEL_MULTIFD      a multifd connection (init header, packets)
 *   MIG_CHANNEL_PREEMPT      postcopy-preempt connection (RAM records)
 *   MIG_CHANNEL_RECOVERY     a postcopy-recovery main connection (no header)
 *
 * Feeding one byte at a time gives the same events as feeding everything at
 * once; pointers inside an event are valid only during the callback.
 *
 * Certainty: device sections carry no length.  Where the decoder knows a
 * payload's format (RAM, block, dirty-bitmap ...) the end is exact.  For any
 * other section it scans for the section footer and checks that what
 * follows is a well-formed next item; that boundary is a guess, and every
 * event from then on carries certain == FALSE until the VMDESCRIPTION's
 * sizes confirm every guessed boundary (MIG_EV_BOUNDARIES_CHECKED).
 */
#ifndef MIG_WIRE_DECODER_H
#define MIG_WIRE_DECODER_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include "protocol.h"
#include "wire-limits.h"

G_BEGIN_DECLS

#define MIG_WIRE_ERROR (mig_wire_error_quark())
GQuark mig_wire_error_quark(void);

typedef enum {
    MIG_WIRE_ERROR_TRUNCATED,   /* input ended inside a record */
    MIG_WIRE_ERROR_CORRUPT,     /* bytes that no QEMU writes */
    MIG_WIRE_ERROR_LIMIT,       /* a length or count over a limit in limits.h */
    MIG_WIRE_ERROR_UNSUPPORTED, /* well formed, but beyond what we decode */
    MIG_WIRE_ERROR_LOST,        /* cannot find where a section ends */
} MigWireErrorCode;

typedef enum {
    MIG_CHANNEL_MAIN,
    MIG_CHANNEL_RETURN_PATH,
    MIG_CHANNEL_MULTIFD,
    MIG_CHANNEL_PREEMPT,
    MIG_CHANNEL_RECOVERY,
} MigChannelKind;

typedef enum {
    /* main channel */
    MIG_EV_HEADER,            /* u.header */
    MIG_EV_CONFIGURATION,     /* u.config: whole configuration section */
    MIG_EV_SECTION,           /* u.section: START/PART/END/FULL header */
    MIG_EV_SECTION_END,       /* u.section: footer read (or payload end) */
    MIG_EV_RAM_TOTAL,         /* u.ram_total: MEM_SIZE word */
    MIG_EV_RAMBLOCK,          /* u.ramblock: one entry of the block list */
    MIG_EV_RAMBLOCK_LIST_END, /* u.ram_total: the list summed up to total */
    MIG_EV_RAM_PAGE,          /* u.page (only with MIG_DECODER_PAGE_EVENTS) */
    MIG_EV_RAM_EOS,           /* end of a RAM section's data */
    MIG_EV_RAM_FLUSH,         /* RAM_SAVE_FLAG_MULTIFD_FLUSH */
    MIG_EV_RAM_HOOK,          /* RAM_SAVE_FLAG_HOOK: RDMA hands over here */
    MIG_EV_COMMAND,           /* u.command */
    MIG_EV_PACKAGED_BEGIN,    /* u.command (blob length in u.command.blob_length) */
    MIG_EV_PACKAGED_END,
    MIG_EV_EOF,               /* QEMU_VM_EOF */
    MIG_EV_VMDESC,            /* u.vmdesc: the JSON text */
    MIG_EV_BOUNDARIES_CHECKED,/* u.check: guessed boundaries against VMDESCRIPTION */
    /* return path */
    MIG_EV_RP_MESSAGE,        /* u.rp */
    MIG_EV_RP_BITMAP,         /* u.rp_bitmap: data after RP RECV_BITMAP */
    /* multifd */
    MIG_EV_MULTIFD_INIT,      /* u.mf_init */
    MIG_EV_MULTIFD_PACKET,    /* u.mf_packet */
    /* any channel: end of input at a clean boundary (from _finish) */
    MIG_EV_END,
} MigEventType;

typedef struct {
    uint32_t magic;
    uint32_t version;
} MigHeaderEvent;

typedef struct {
    const char *machine;          /* NUL-terminated copy */
    bool has_page_bits;
    uint32_t page_bits;
    guint n_caps;
    const char *const *caps;      /* n_caps names */
    bool has_uuid;
    uint8_t uuid[16];
} MigConfigEvent;

typedef struct {
    uint8_t type;                 /* QEMU_VM_SECTION_* */
    uint32_t section_id;
    const char *idstr;            /* from START/FULL, or looked up for PART/END */
    uint32_t instance_id;
    uint32_t version_id;
    uint64_t payload_length;      /* MIG_EV_SECTION_END only */
    bool scanned;                 /* MIG_EV_SECTION_END: end found by footer scan */
    bool in_packaged;
} MigSectionEvent;

typedef struct {
    uint64_t total;
} MigRamTotalEvent;

typedef struct {
    const char *idstr;
    uint64_t used_length;
    bool has_page_size;           /* present under postcopy for odd page sizes */
    uint64_t page_size;
    bool has_addr;                /* present under x-ignore-shared */
    uint64_t addr;
    bool has_mapped_ram;          /* 9.0+ mapped-ram header */
    uint32_t mapped_ram_version;
    uint64_t mapped_ram_page_size;
    uint64_t mapped_ram_bitmap_offset;
    uint64_t mapped_ram_pages_offset;
} MigRamBlockEvent;

typedef enum {
    MIG_PAGE_ZERO,
    MIG_PAGE_NORMAL,
    MIG_PAGE_XBZRLE,
    MIG_PAGE_COMPRESSED,
    MIG_PAGE_KIND_COUNT
} MigPageKind;

typedef struct {
    MigPageKind kind;
    const char *block;
    uint64_t offset;              /* inside the block */
    uint32_t payload_length;      /* bytes after the record header */
} MigPageEvent;

typedef struct {
    uint16_t cmd;                 /* MIG_CMD_* */
    uint16_t length;
    const uint8_t *data;          /* length bytes */
    uint32_t blob_length;         /* PACKAGED */
    bool in_packaged;
} MigCommandEvent;

typedef struct {
    const char *json;             /* not NUL-terminated */
    uint32_t length;
} MigVmdescEvent;

typedef struct {
    guint scanned_sections;       /* boundaries found by footer scan */
    guint confirmed;              /* of those, matching the VMDESCRIPTION size */
    guint mismatched;
    const char *first_mismatch;   /* idstr, or NULL */
} MigCheckEvent;

typedef struct {
    uint16_t type;                /* MIG_RP_MSG_* */
    uint16_t length;
    const uint8_t *data;
} MigRpEvent;

typedef struct {
    uint64_t size;
    uint64_t end_mark;
} MigRpBitmapEvent;

typedef struct {
    uint32_t magic;
    uint32_t version;
    uint8_t uuid[16];
    uint8_t channel_id;
} MigMultifdInitEvent;

typedef struct {
    uint32_t flags;
    uint32_t pages_alloc;
    uint32_t normal_pages;
    uint32_t zero_pages;          /* 9.0+ layout; 0 before */
    uint32_t next_packet_size;
    uint64_t packet_num;
    const char *block;            /* RAM packets; device idstr for DEVICE_STATE */
    uint32_t instance_id;         /* DEVICE_STATE packets */
    /*
     * RAM packets: the pages' offsets inside @block, big-endian 64-bit
     * values as on the wire (normal pages first, then zero pages), valid
     * during the callback only; read them with mig_multifd_page_offset().
     */
    const uint8_t *offsets;
    uint32_t n_offsets;
} MigMultifdPacketEvent;

/* The @index'th page offset of a multifd RAM packet event. */
static inline uint64_t mig_multifd_page_offset(const MigMultifdPacketEvent *pk,
                                               uint32_t index)
{
    const uint8_t *p = pk->offsets + 8 * (size_t)index;

    return ((uint64_t)p[0] << 56) | ((uint64_t)p[1] << 48) | ((uint64_t)p[2] << 40) |
           ((uint64_t)p[3] << 32) | ((uint64_t)p[4] << 24) | ((uint64_t)p[5] << 16) |
           ((uint64_t)p[6] << 8) | p[7];
}

typedef struct {
    MigEventType type;
    uint64_t offset;              /* stream offset of the item's first byte */
    uint64_t end;                 /* stream offset just past the item */
    bool certain;                 /* FALSE after a guessed boundary */
    union {
        MigHeaderEvent header;
        MigConfigEvent config;
        MigSectionEvent section;
        MigRamTotalEvent ram_total;
        MigRamBlockEvent ramblock;
        MigPageEvent page;
        MigCommandEvent command;
        MigVmdescEvent vmdesc;
        MigCheckEvent check;
        MigRpEvent rp;
        MigRpBitmapEvent rp_bitmap;
        MigMultifdInitEvent mf_init;
        MigMultifdPacketEvent mf_packet;
    } u;
} MigEvent;

/* Called for every event, in stream order. */
typedef void (*MigEventFunc)(const MigEvent *ev, void *opaque);

typedef enum {
    MIG_DECODER_PAGE_EVENTS = 1 << 0, /* one MIG_EV_RAM_PAGE per page record */
} MigDecoderFlags;

typedef struct {
    MigChannelKind channel;
    unsigned flags;               /* MigDecoderFlags */
    /* Target page size when the stream does not say (x86: 4096). */
    uint32_t target_page_size;
    /*
     * Known facts of the migration for channels that start mid-way:
     * a postcopy-recovery or preempt channel inherits the main channel's
     * RAM block list and capabilities (see mig_decoder_inherit()).
     */
} MigDecoderConfig;

typedef struct MigDecoder MigDecoder;

/* Running totals, readable at any time. */
typedef struct {
    uint64_t bytes;               /* consumed so far */
    uint64_t pages[MIG_PAGE_KIND_COUNT];
    uint64_t page_bytes;          /* payload bytes of page records */
    uint64_t sections;            /* section headers */
    uint64_t commands;
    uint64_t multifd_packets;
    uint64_t multifd_pages;       /* normal pages in multifd packets */
    uint64_t multifd_zero_pages;
    uint64_t rp_messages;
    guint scanned_boundaries;
} MigDecoderStats;

MigDecoder *mig_decoder_new(const MigDecoderConfig *config,
                            MigEventFunc on_event, void *opaque);
void mig_decoder_free(MigDecoder *dec);

/*
 * Feed the next @len bytes.  Returns TRUE when all were consumed (possibly
 * with a partial record held inside, at most a few KiB), FALSE on an error
 * (set in @error, with the stream offset in its message).  After an error
 * every call fails again with the same error.
 */
bool mig_decoder_feed(MigDecoder *dec, const uint8_t *buf, size_t len,
                      GError **error);

/*
 * The input has ended.  Returns TRUE and emits MIG_EV_END when the stream
 * ended at a clean boundary for its channel; otherwise FALSE with
 * MIG_WIRE_ERROR_TRUNCATED saying what was being read and where.
 */
bool mig_decoder_finish(MigDecoder *dec, GError **error);

const MigDecoderStats *mig_decoder_stats(const MigDecoder *dec);
uint64_t mig_decoder_offset(const MigDecoder *dec);
bool mig_decoder_certain(const MigDecoder *dec);
/* Stream offset named by the error, once feed or finish failed. */
uint64_t mig_decoder_error_offset(const MigDecoder *dec);

/*
 * Give a preempt or recovery channel what its main channel announced and
 * that changes how later bytes are laid out: target page size,
 * capabilities, the postcopy advise, footers and (for recovery, which
 * continues with PART sections) the section-id map.  @from must be a
 * main-channel decoder.
 */
void mig_decoder_inherit(MigDecoder *dec, const MigDecoder *from);

/* Names for printing: "unknown (0x%x)" style for values outside the tables. */
const char *mig_section_type_name(uint8_t type);
const char *mig_command_name(uint16_t cmd);      /* e.g. "OPEN_RETURN_PATH" */
const char *mig_command_json_name(uint16_t cmd); /* e.g. "open-return-path" */
const char *mig_rp_message_name(uint16_t type);
const char *mig_page_kind_name(MigPageKind kind);
const char *mig_channel_name(MigChannelKind kind);
const char *mig_event_name(MigEventType type);

/* One line describing @ev, independent of chunking (format.c); g_free it. */
char *mig_event_format(const MigEvent *ev);

G_END_DECLS

#endif
