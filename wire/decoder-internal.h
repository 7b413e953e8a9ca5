/*
 * decoder-internal.h - state shared by the decoder's modules (driver,
 * main channel, RAM records, return path, multifd).  Not installed.
 *
 * How it works: the driver (decoder.c) owns the input.  The current phase
 * is a step function that sees a contiguous view of the bytes at the
 * cursor and returns how many it consumed (> 0), that it needs d->need
 * contiguous bytes first (0), or an error (-1).  When a record straddles
 * two chunks the driver copies the tail into a small stage buffer (at
 * most MIG_STAGE_MAX bytes), so steps never see a split record.  Page
 * payloads and other opaque runs are not given to steps at all: a step
 * sets d->skip and the driver drops that many bytes without copying.
 * Inside a PACKAGED blob the driver cuts every view at the blob's end, so
 * a record that crosses it is caught as corruption.
 */
#ifndef MIG_WIRE_DECODER_INTERNAL_H
#define MIG_WIRE_DECODER_INTERNAL_H

#include <sys/types.h>
#include "decoder.h"

/* The largest record a step asks for whole: a command with 64 KiB payload. */
#define MIG_STAGE_MAX (5u + 65535u + 64u)

typedef ssize_t (*MigStepFunc)(MigDecoder *d, const uint8_t *p, size_t n,
                               bool final);

typedef struct {
    char idstr[256];
    uint32_t instance_id;
    uint32_t version_id;
    bool live;                    /* seen as START */
} MigSectionInfo;

typedef struct {
    char *idstr;
    uint32_t instance_id;
    uint64_t payload_length;
    bool scanned;
} MigFullSection;

struct MigDecoder {
    MigDecoderConfig cfg;
    MigEventFunc on_event;
    void *opaque;

    MigStepFunc step;
    const char *what;             /* what the current step reads, for errors */
    uint64_t item_offset;         /* where that item started */
    bool item_after_step;         /* item starts after the running step's bytes */
    uint64_t offset;              /* stream offset of the next unconsumed byte */
    size_t need;
    uint64_t skip;
    GError *error;
    uint64_t error_offset;
    bool certain;
    bool finished;

    uint8_t *stage;
    size_t stage_len;

    MigDecoderStats stats;
    uint32_t tps;                 /* target page size */

    /* configuration facts that change the layout of later records */
    bool has_config;              /* footers follow sections iff true */
    bool cap_ignore_shared;
    bool cap_mapped_ram;
    bool postcopy_advised;        /* 16-byte POSTCOPY_ADVISE seen */
    char *machine;
    GPtrArray *caps;
    bool has_page_bits;
    uint32_t page_bits;
    bool has_uuid;
    uint8_t uuid[16];
    uint32_t caps_left;           /* capabilities subsection parse */

    /* section framing */
    GHashTable *sections;         /* section_id -> MigSectionInfo* */
    uint8_t sec_type;
    uint32_t sec_id;
    MigSectionInfo *sec;
    uint64_t sec_payload_start;
    bool sec_in_packaged;
    GArray *full_sections;        /* MigFullSection, stream order */
    bool eof_seen;
    bool vmdesc_done;
    GByteArray *vmdesc;
    uint32_t vmdesc_length;

    /* PACKAGED blob */
    bool pk_active;
    uint64_t pk_end;

    /* RAM */
    uint64_t ram_total;
    uint64_t ram_listed;
    guint ram_blocks;             /* entries in the current list */
    char last_block[256];         /* CONTINUE state of this channel */
    bool have_last_block;

    /* multifd */
    uint32_t mf_packet_size;
    char mf_block[257];

    /* return path */
    uint64_t rp_bitmap_size;
};

/* decoder.c: shared helpers */
void mig_emit(MigDecoder *d, MigEvent *ev);
ssize_t mig_fail(MigDecoder *d, MigWireErrorCode code, uint64_t offset,
                 const char *fmt, ...) G_GNUC_PRINTF(4, 5);
bool mig_set_skip(MigDecoder *d, uint64_t n, const char *what);
void mig_describe(MigDecoder *d, const char *what);
void mig_go(MigDecoder *d, MigStepFunc step, const char *what);
char *mig_printable(const uint8_t *p, size_t n);
bool mig_is_printable(const uint8_t *p, size_t n);

static inline uint16_t mig_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t mig_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t mig_be64(const uint8_t *p)
{
    return ((uint64_t)mig_be32(p) << 32) | mig_be32(p + 4);
}

/* Ask the driver for @k contiguous bytes before going on. */
#define MIG_NEED(d, n, k) do { if ((n) < (size_t)(k)) { (d)->need = (k); return 0; } } while (0)

/* main.c */
ssize_t mig_step_main_header(MigDecoder *d, const uint8_t *p, size_t n, bool final);
ssize_t mig_step_top(MigDecoder *d, const uint8_t *p, size_t n, bool final);
ssize_t mig_step_footer(MigDecoder *d, const uint8_t *p, size_t n, bool final);
void mig_section_payload_done(MigDecoder *d);
bool mig_main_is_clean(const MigDecoder *d);

/* ram.c */
ssize_t mig_step_ram_word(MigDecoder *d, const uint8_t *p, size_t n, bool final);
void mig_ram_begin_section(MigDecoder *d);

/* rp.c */
ssize_t mig_step_rp(MigDecoder *d, const uint8_t *p, size_t n, bool final);

/* multifd.c */
ssize_t mig_step_multifd_init(MigDecoder *d, const uint8_t *p, size_t n, bool final);

/* vmdesc.c */
void mig_vmdesc_check(MigDecoder *d, uint64_t at);

#endif
