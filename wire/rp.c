/*
 * rp.c - the return path: messages the destination sends back to the
 * source on the main connection (migration/migration.c
 * migrate_send_rp_message, source_return_path_thread).  Framing is
 * be16 type, be16 length, payload; RECV_BITMAP is followed by an unframed
 * bitmap (be64 size, size bytes, be64 end mark) that we skip.
 */
#include "decoder-internal.h"

static ssize_t step_rp_bitmap_end(MigDecoder *d, const uint8_t *p, size_t n,
                                  bool final)
{
    MigEvent ev = { .type = MIG_EV_RP_BITMAP, .offset = d->item_offset };

    MIG_NEED(d, n, 8);
    ev.end = d->offset + 8;
    ev.u.rp_bitmap.size = d->rp_bitmap_size;
    ev.u.rp_bitmap.end_mark = mig_be64(p);
    mig_emit(d, &ev);
    mig_go(d, mig_step_rp, "return-path message");
    return 8;
}

static ssize_t step_rp_bitmap(MigDecoder *d, const uint8_t *p, size_t n,
                              bool final)
{
    uint64_t size;

    MIG_NEED(d, n, 8);
    size = mig_be64(p);
    if (size > MIG_LIMIT_RP_BITMAP) {
        return mig_fail(d, MIG_WIRE_ERROR_LIMIT, d->offset,
                        "expected a received-bitmap of at most %llu bytes "
                        "after RECV_BITMAP, found size %" G_GUINT64_FORMAT,
                        (unsigned long long)MIG_LIMIT_RP_BITMAP, size);
    }
    d->rp_bitmap_size = size;
    d->skip = size;
    d->step = step_rp_bitmap_end;  /* the bitmap is one item from its size on */
    return 8;
}

ssize_t mig_step_rp(MigDecoder *d, const uint8_t *p, size_t n, bool final)
{
    MigEvent ev = { .type = MIG_EV_RP_MESSAGE, .offset = d->offset };
    uint16_t type, len;

    mig_describe(d, "return-path message");
    MIG_NEED(d, n, 4);
    type = mig_be16(p);
    len = mig_be16(p + 2);
    if (type == MIG_RP_MSG_INVALID || type >= MIG_RP_MSG_MAX) {
        return mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                        "expected a return-path message type from 1 to %d, "
                        "found 0x%04x (length 0x%04x)", MIG_RP_MSG_MAX - 1,
                        type, len);
    }
    if (len > MIG_RP_MAX_LEN) {
        return mig_fail(d, MIG_WIRE_ERROR_LIMIT, d->offset + 2,
                        "expected a return-path message of at most %u bytes "
                        "(the source rejects longer), found length %u",
                        MIG_RP_MAX_LEN, len);
    }
    MIG_NEED(d, n, 4 + (size_t)len);
    ev.end = d->offset + 4 + len;
    ev.u.rp.type = type;
    ev.u.rp.length = len;
    ev.u.rp.data = p + 4;
    d->stats.rp_messages++;
    mig_emit(d, &ev);
    if (type == MIG_RP_MSG_RECV_BITMAP) {
        mig_go(d, step_rp_bitmap, "received-bitmap after RECV_BITMAP");
    }
    return 4 + len;
}
