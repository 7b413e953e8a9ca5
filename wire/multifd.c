/*
 * multifd.c - a multifd connection: the 64-byte initial packet, then RAM
 * packets (header of 320 + 8 * page_count bytes, then next_packet_size
 * bytes of pages when normal_pages > 0) and, from 10.0, device-state
 * packets (migration/multifd.c, migration/multifd.h,
 * migration/multifd-device-state.c).  page_count is MULTIFD_PACKET_SIZE
 * divided by the target page size, which both ends must share.
 */
#include <string.h>
#include "decoder-internal.h"

static ssize_t step_packet(MigDecoder *d, const uint8_t *p, size_t n, bool final);

static ssize_t check_prefix(MigDecoder *d, const uint8_t *p, const char *what)
{
    uint32_t magic = mig_be32(p), version = mig_be32(p + 4);

    if (magic != MULTIFD_MAGIC) {
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                        "expected multifd magic 0x%08x in the %s, found 0x%08x",
                        MULTIFD_MAGIC, what, magic);
    }
    if (version != MULTIFD_VERSION) {
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset + 4,
                        "expected multifd version %u in the %s, found %u",
                        MULTIFD_VERSION, what, version);
    }
    return 0;
}

ssize_t mig_step_multifd_init(MigDecoder *d, const uint8_t *p, size_t n,
                              bool final)
{
    MigEvent ev = { .type = MIG_EV_MULTIFD_INIT, .offset = d->offset,
                    .end = d->offset + MULTIFD_INIT_SIZE };

    MIG_NEED(d, n, 8);
    if (check_prefix(d, p, "initial packet") < 0) {
        return -1;
    }
    MIG_NEED(d, n, MULTIFD_INIT_SIZE);
    ev.u.mf_init.magic = mig_be32(p);
    ev.u.mf_init.version = mig_be32(p + 4);
    memcpy(ev.u.mf_init.uuid, p + 8, 16);
    ev.u.mf_init.channel_id = p[24];
    mig_emit(d, &ev);
    mig_go(d, step_packet, "multifd packet");
    return MULTIFD_INIT_SIZE;
}

/* A fixed-size NUL-padded name field; unterminated is corrupt. */
static bool copy_name(MigDecoder *d, const uint8_t *field, uint64_t at)
{
    const uint8_t *nul = memchr(field, 0, 256);

    if (!nul) {
        mig_fail(d, MIG_WIRE_ERROR_CORRUPT, at,
                 "expected a NUL-terminated name in the 256-byte field");
        return false;
    }
    {
        g_autofree char *name = mig_printable(field, (size_t)(nul - field));
        g_strlcpy(d->mf_block, name, sizeof(d->mf_block));
    }
    return true;
}

static ssize_t step_packet(MigDecoder *d, const uint8_t *p, size_t n, bool final)
{
    MigEvent ev = { .type = MIG_EV_MULTIFD_PACKET, .offset = d->offset };
    MigMultifdPacketEvent *pk = &ev.u.mf_packet;
    uint32_t page_count = MULTIFD_PACKET_SIZE / d->tps;
    uint64_t payload = 0;
    size_t hdr;

    mig_describe(d, "multifd packet");
    MIG_NEED(d, n, 12);
    if (check_prefix(d, p, "packet header") < 0) {
        return -1;
    }
    pk->flags = mig_be32(p + 8);
    if (pk->flags & MULTIFD_FLAG_DEVICE_STATE) {
        hdr = MULTIFD_DEVICE_HEADER_SIZE;
        MIG_NEED(d, n, hdr);
        if (!copy_name(d, p + 12, d->offset + 12)) {
            return -1;
        }
        pk->instance_id = mig_be32(p + 268);
        pk->next_packet_size = mig_be32(p + 272);
        payload = pk->next_packet_size;
    } else {
        hdr = d->mf_packet_size;
        MIG_NEED(d, n, hdr);
        pk->pages_alloc = mig_be32(p + 12);
        pk->normal_pages = mig_be32(p + 16);
        pk->next_packet_size = mig_be32(p + 20);
        pk->packet_num = mig_be64(p + 24);
        pk->zero_pages = mig_be32(p + 32);
        if (pk->pages_alloc > page_count ||
            pk->normal_pages > page_count ||
            pk->zero_pages > page_count - pk->normal_pages) {
            return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset + 12,
                            "multifd packet claims %u pages allocated, %u "
                            "normal and %u zero; a packet holds at most %u",
                            pk->pages_alloc, pk->normal_pages, pk->zero_pages,
                            page_count);
        }
        if (pk->normal_pages > 0) {
            if (!copy_name(d, p + 64, d->offset + 64)) {
                return -1;
            }
            payload = pk->next_packet_size;
            if ((pk->flags & MULTIFD_FLAG_COMPRESSION_MASK) == MULTIFD_FLAG_NOCOMP &&
                payload != (uint64_t)pk->normal_pages * d->tps) {
                return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset + 20,
                                "expected next_packet_size %" G_GUINT64_FORMAT
                                " for %u uncompressed pages, found %u",
                                (uint64_t)pk->normal_pages * d->tps,
                                pk->normal_pages, pk->next_packet_size);
            }
            if (payload > 2ull * MULTIFD_PACKET_SIZE) {
                return mig_fail(d, MIG_WIRE_ERROR_LIMIT, d->offset + 20,
                                "expected a multifd payload of at most %u "
                                "bytes, found %" G_GUINT64_FORMAT,
                                2 * MULTIFD_PACKET_SIZE, payload);
            }
        } else {
            /* SYNC packets of <= 8.x carry stale size and name: ignore. */
            d->mf_block[0] = 0;
        }
        /* hdr holds 8 bytes per page of a full packet: these fit */
        pk->offsets = p + MULTIFD_RAM_HEADER_FIXED;
        pk->n_offsets = pk->normal_pages + pk->zero_pages;
        d->stats.multifd_pages += pk->normal_pages;
        d->stats.multifd_zero_pages += pk->zero_pages;
    }
    pk->block = d->mf_block;
    ev.end = d->offset + hdr + payload;
    d->stats.multifd_packets++;
    mig_emit(d, &ev);
    d->skip = payload;
    return (ssize_t)hdr;
}
