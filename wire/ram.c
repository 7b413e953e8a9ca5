/*
 * ram.c - the payload of the "ram" section (and of the postcopy-preempt
 * channel): the RAM-block list of the setup section and the page records
 * of every flag (migration/ram.c ram_save_setup, save_page_header,
 * ram_load_precopy).
 *
 * The block list is not self-describing: after each block's idstr and
 * used_length QEMU may add a page size (postcopy, for blocks whose page
 * size differs from the host's), the region's address (x-ignore-shared)
 * and a 28-byte header (mapped-ram).  The last two are announced in the
 * configuration's capabilities; the page size is decided by looking ahead
 * (see block_has_page_size), which is exact as long as guest addresses
 * stay below 2^56 and page sizes are powers of two of at least 1 KiB.
 */
#include <string.h>
#include "decoder-internal.h"

static ssize_t step_ram_block(MigDecoder *d, const uint8_t *p, size_t n, bool final);

void mig_ram_begin_section(MigDecoder *d)
{
    mig_go(d, mig_step_ram_word, "RAM record");
}

static bool is_pow2_page(uint64_t v)
{
    return v >= 1024 && !(v & (v - 1));
}

static bool is_list_end_word(uint64_t v)
{
    return v == RAM_SAVE_FLAG_EOS || v == RAM_SAVE_FLAG_MULTIFD_FLUSH;
}

/*
 * Under postcopy, does a be64 page size follow the block at p[base]?
 * An idstr's length byte is never 0 and the words that end the list (EOS,
 * MULTIFD_FLUSH) are below any page size, which tells the cases apart.
 * Returns 1 yes, 0 no, -1 need more bytes (d->need set).
 */
static int block_has_page_size(MigDecoder *d, const uint8_t *p, size_t n,
                               size_t base, bool last)
{
    size_t want = d->cap_ignore_shared ? (last ? base + 16 : base + 9)
                                       : (last ? base + 8 : base + 1);

    if (n < want) {
        d->need = want;
        return -1;
    }
    if (!d->cap_ignore_shared) {
        return last ? is_pow2_page(mig_be64(p + base)) : p[base] == 0;
    }
    /* [page_size] addr, then the next idstr length or the list's end word */
    if (last) {
        return !is_list_end_word(mig_be64(p + base + 8));
    }
    return is_pow2_page(mig_be64(p + base)) && p[base + 8] == 0;
}

static ssize_t step_ram_block(MigDecoder *d, const uint8_t *p, size_t n, bool final)
{
    MigEvent ev = { .type = MIG_EV_RAMBLOCK, .offset = d->offset };
    MigRamBlockEvent *b = &ev.u.ramblock;
    size_t base, at;
    uint8_t len;
    uint64_t used;
    bool last;
    g_autofree char *name = NULL;

    mig_describe(d, "RAM block list entry");
    MIG_NEED(d, n, 1);
    len = p[0];
    if (len == 0) {
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                        "expected a RAM block idstr, found an empty string "
                        "(%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                        " bytes listed)", d->ram_listed, d->ram_total);
    }
    base = 1 + (size_t)len + 8;
    MIG_NEED(d, n, base);
    used = mig_be64(p + 1 + len);
    if (used > d->ram_total - d->ram_listed) {
        g_autofree char *shown = mig_printable(p + 1, len);
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset + 1 + len,
                        "RAM block '%s' has used_length 0x%" G_GINT64_MODIFIER
                        "x, more than the 0x%" G_GINT64_MODIFIER "x bytes left "
                        "of the announced total 0x%" G_GINT64_MODIFIER "x",
                        shown, used, d->ram_total - d->ram_listed, d->ram_total);
    }
    last = used == d->ram_total - d->ram_listed;
    at = base;
    if (d->postcopy_advised) {
        int has = block_has_page_size(d, p, n, base, last);

        if (has < 0) {
            return 0;
        }
        if (has) {
            MIG_NEED(d, n, at + 8);
            b->has_page_size = true;
            b->page_size = mig_be64(p + at);
            at += 8;
        }
    }
    if (d->cap_ignore_shared) {
        MIG_NEED(d, n, at + 8);
        b->has_addr = true;
        b->addr = mig_be64(p + at);
        at += 8;
    }
    if (d->cap_mapped_ram) {
        MIG_NEED(d, n, at + MAPPED_RAM_HDR_SIZE);
        b->has_mapped_ram = true;
        b->mapped_ram_version = mig_be32(p + at);
        b->mapped_ram_page_size = mig_be64(p + at + 4);
        b->mapped_ram_bitmap_offset = mig_be64(p + at + 12);
        b->mapped_ram_pages_offset = mig_be64(p + at + 20);
        at += MAPPED_RAM_HDR_SIZE;
    }
    if (d->ram_blocks >= MIG_LIMIT_RAMBLOCKS) {
        return mig_fail(d, MIG_WIRE_ERROR_LIMIT, d->offset,
                        "more than %u RAM blocks in the list", MIG_LIMIT_RAMBLOCKS);
    }
    name = mig_printable(p + 1, len);
    if (b->has_mapped_ram) {
        /* The writer seeks past the block's pages before the next entry. */
        uint64_t here = d->offset + at;
        uint64_t po = b->mapped_ram_pages_offset;

        if (po < here || po > UINT64_MAX - used) {
            return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset + at - 8,
                            "mapped-ram pages of block '%s' at file offset 0x%"
                            G_GINT64_MODIFIER "x, before the header that "
                            "announces them (0x%" G_GINT64_MODIFIER "x)",
                            name, po, here);
        }
        if (!mig_set_skip(d, po + used - here, "mapped-ram block region")) {
            return -1;
        }
    }
    d->ram_blocks++;
    b->idstr = name;
    b->used_length = used;
    ev.end = d->offset + at + d->skip;
    mig_emit(d, &ev);
    d->ram_listed += used;
    if (last) {
        MigEvent end = { .type = MIG_EV_RAMBLOCK_LIST_END,
                         .offset = ev.end, .end = ev.end };
        end.u.ram_total.total = d->ram_total;
        mig_emit(d, &end);
        mig_go(d, mig_step_ram_word, "RAM record");
    }
    return (ssize_t)at;
}

static ssize_t page_record(MigDecoder *d, const uint8_t *p, size_t n,
                           uint64_t addr, unsigned flags)
{
    MigEvent ev = { .type = MIG_EV_RAM_PAGE, .offset = d->offset };
    bool cont = flags & RAM_SAVE_FLAG_CONTINUE;
    unsigned kind_flag = flags & ~RAM_SAVE_FLAG_CONTINUE;
    size_t at = 8;
    uint64_t payload = 0;
    MigPageKind kind;

    switch (kind_flag) {
    case RAM_SAVE_FLAG_ZERO:
        kind = MIG_PAGE_ZERO;
        break;
    case RAM_SAVE_FLAG_PAGE:
        kind = MIG_PAGE_NORMAL;
        break;
    case RAM_SAVE_FLAG_XBZRLE:
        kind = MIG_PAGE_XBZRLE;
        break;
    case RAM_SAVE_FLAG_COMPRESS_PAGE:
        kind = MIG_PAGE_COMPRESSED;
        break;
    default:
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                        "unknown combination of RAM flags 0x%x", flags);
    }
    if (!cont) {
        uint8_t len;

        MIG_NEED(d, n, 9);
        len = p[8];
        if (len == 0) {
            return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset + 8,
                            "expected a RAM block idstr in the page record, "
                            "found an empty string");
        }
        MIG_NEED(d, n, 9 + (size_t)len);
        at = 9 + (size_t)len;
    } else if (!d->have_last_block) {
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                        "page record with CONTINUE but no earlier block on "
                        "this channel (QEMU: \"Ack, bad migration stream!\")");
    }

    switch (kind) {
    case MIG_PAGE_ZERO:
        MIG_NEED(d, n, at + 1);
        at += 1;
        break;
    case MIG_PAGE_NORMAL:
        payload = d->tps;
        break;
    case MIG_PAGE_XBZRLE:
        MIG_NEED(d, n, at + 3);
        payload = mig_be16(p + at + 1);
        at += 3;
        break;
    default:
        MIG_NEED(d, n, at + 4);
        payload = mig_be32(p + at);
        /* zlib's compressBound(TPS) is a little over TPS */
        if (payload > 2ull * d->tps + 64) {
            return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset + at,
                            "expected a compressed page of at most %u bytes, "
                            "found length %" G_GUINT64_FORMAT,
                            2 * d->tps + 64, payload);
        }
        at += 4;
        break;
    }
    if (!cont) {
        g_autofree char *name = mig_printable(p + 9, p[8]);
        g_strlcpy(d->last_block, name, sizeof(d->last_block));
        d->have_last_block = true;
    }
    if (payload && !mig_set_skip(d, payload, "page payload")) {
        return -1;
    }
    d->stats.pages[kind]++;
    d->stats.page_bytes += payload;
    if (d->cfg.flags & MIG_DECODER_PAGE_EVENTS) {
        ev.end = d->offset + at + payload;
        ev.u.page.kind = kind;
        ev.u.page.block = d->last_block;
        ev.u.page.offset = addr;
        ev.u.page.payload_length = (uint32_t)payload;
        mig_emit(d, &ev);
    }
    return (ssize_t)at;
}

ssize_t mig_step_ram_word(MigDecoder *d, const uint8_t *p, size_t n, bool final)
{
    uint64_t word, addr;
    unsigned flags;

    mig_describe(d, "RAM record");
    MIG_NEED(d, n, 8);
    word = mig_be64(p);
    flags = (unsigned)(word & (d->tps - 1));
    addr = word & ~(uint64_t)(d->tps - 1);

    if (flags & ~RAM_SAVE_FLAG_MASK) {
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                        "expected RAM flags below 0x400, found 0x%x in the "
                        "record word 0x%016" G_GINT64_MODIFIER "x", flags, word);
    }
    if (flags == RAM_SAVE_FLAG_EOS) {
        MigEvent ev = { .type = MIG_EV_RAM_EOS, .offset = d->offset,
                        .end = d->offset + 8 };
        mig_emit(d, &ev);
        if (d->cfg.channel != MIG_CHANNEL_PREEMPT) {
            mig_section_payload_done(d);
        }
        return 8;
    }
    if (flags == RAM_SAVE_FLAG_MULTIFD_FLUSH) {
        MigEvent ev = { .type = MIG_EV_RAM_FLUSH, .offset = d->offset,
                        .end = d->offset + 8 };
        mig_emit(d, &ev);
        return 8;
    }
    if (flags == RAM_SAVE_FLAG_MEM_SIZE) {
        MigEvent ev = { .type = MIG_EV_RAM_TOTAL, .offset = d->offset,
                        .end = d->offset + 8 };

        if (d->cfg.channel == MIG_CHANNEL_PREEMPT ||
            d->sec_type != QEMU_VM_SECTION_START) {
            return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                            "RAM block list (MEM_SIZE) outside the RAM setup section");
        }
        d->ram_total = addr;
        d->ram_listed = 0;
        d->ram_blocks = 0;
        ev.u.ram_total.total = addr;
        mig_emit(d, &ev);
        if (addr == 0) {
            MigEvent end = { .type = MIG_EV_RAMBLOCK_LIST_END,
                             .offset = d->offset + 8, .end = d->offset + 8 };
            mig_emit(d, &end);
        } else {
            mig_go(d, step_ram_block, "RAM block list entry");
        }
        return 8;
    }
    if (flags == RAM_SAVE_FLAG_HOOK) {
        /*
         * RDMA's control messages travel outside this byte stream; in the
         * stream the hook is a bare word (ram_control_load_hook).
         */
        MigEvent ev = { .type = MIG_EV_RAM_HOOK, .offset = d->offset,
                        .end = d->offset + 8 };
        mig_emit(d, &ev);
        return 8;
    }
    return page_record(d, p, n, addr, flags);
}
