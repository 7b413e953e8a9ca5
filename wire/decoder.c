/*
 * decoder.c - the input driver of the push decoder: chunking, staging,
 * skipping, PACKAGED bounds, end of input and the shared error helpers.
 * The phases themselves live in main.c, ram.c, rp.c and multifd.c; how
 * they meet is described in decoder-internal.h and wire/README.md.
 */
#include <stdarg.h>
#include <string.h>
#include "decoder-internal.h"

G_DEFINE_QUARK(mig-wire-error-quark, mig_wire_error)

void mig_emit(MigDecoder *d, MigEvent *ev)
{
    ev->certain = d->certain;
    if (d->on_event) {
        d->on_event(ev, d->opaque);
    }
}

ssize_t mig_fail(MigDecoder *d, MigWireErrorCode code, uint64_t offset,
                 const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (!d->error) {
        d->error_offset = offset;
        d->error = g_error_new(MIG_WIRE_ERROR, code, "offset %" G_GUINT64_FORMAT
                               ": %s", offset, msg);
    }
    return -1;
}

void mig_describe(MigDecoder *d, const char *what)
{
    d->what = what;
    d->item_offset = d->offset;
    d->item_after_step = false;
}

/* Switch phase; the next item starts after what the running step consumes. */
void mig_go(MigDecoder *d, MigStepFunc step, const char *what)
{
    d->step = step;
    d->what = what;
    d->item_after_step = true;
}

static void advance(MigDecoder *d, uint64_t consumed)
{
    d->offset += consumed;
    if (d->item_after_step) {
        d->item_offset = d->offset;
        d->item_after_step = false;
    }
}

bool mig_set_skip(MigDecoder *d, uint64_t n, const char *what)
{
    if (d->pk_active && n > d->pk_end - d->offset) {
        mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                 "%s of %" G_GUINT64_FORMAT " bytes crosses the end of the "
                 "PACKAGED blob at offset %" G_GUINT64_FORMAT,
                 what, n, d->pk_end);
        return false;
    }
    d->skip = n;
    return true;
}

bool mig_is_printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* A copy safe to print: bytes outside printable ASCII become \xNN. */
char *mig_printable(const uint8_t *p, size_t n)
{
    GString *s = g_string_sized_new(n + 1);

    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] <= 0x7e && p[i] != '\\') {
            g_string_append_c(s, (char)p[i]);
        } else {
            g_string_append_printf(s, "\\x%02x", p[i]);
        }
    }
    return g_string_free(s, FALSE);
}

MigDecoder *mig_decoder_new(const MigDecoderConfig *config,
                            MigEventFunc on_event, void *opaque)
{
    MigDecoder *d = g_new0(MigDecoder, 1);

    d->cfg = *config;
    d->on_event = on_event;
    d->opaque = opaque;
    d->certain = true;
    d->tps = config->target_page_size ? config->target_page_size : 4096;
    d->stage = g_malloc(MIG_STAGE_MAX);
    d->caps = g_ptr_array_new_with_free_func(g_free);
    d->sections = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                        NULL, g_free);
    d->full_sections = g_array_new(FALSE, TRUE, sizeof(MigFullSection));
    d->mf_packet_size = MULTIFD_RAM_HEADER_FIXED +
                        8 * (MULTIFD_PACKET_SIZE / d->tps);

    switch (config->channel) {
    case MIG_CHANNEL_MAIN:
        d->step = mig_step_main_header;
        mig_describe(d, "file header");
        break;
    case MIG_CHANNEL_RECOVERY:
        /* A postcopy-recovery connection starts with commands, no header. */
        d->has_config = true;
        d->step = mig_step_top;
        mig_describe(d, "section type byte");
        break;
    case MIG_CHANNEL_PREEMPT:
        d->step = mig_step_ram_word;
        mig_describe(d, "RAM record");
        break;
    case MIG_CHANNEL_RETURN_PATH:
        d->step = mig_step_rp;
        mig_describe(d, "return-path message");
        break;
    case MIG_CHANNEL_MULTIFD:
        d->step = mig_step_multifd_init;
        mig_describe(d, "multifd initial packet");
        break;
    }
    return d;
}

void mig_decoder_free(MigDecoder *d)
{
    if (!d) {
        return;
    }
    g_clear_error(&d->error);
    g_free(d->stage);
    g_free(d->machine);
    g_ptr_array_unref(d->caps);
    g_hash_table_unref(d->sections);
    for (guint i = 0; i < d->full_sections->len; i++) {
        g_free(g_array_index(d->full_sections, MigFullSection, i).idstr);
    }
    g_array_unref(d->full_sections);
    if (d->vmdesc) {
        g_byte_array_unref(d->vmdesc);
    }
    g_free(d);
}

void mig_decoder_inherit(MigDecoder *d, const MigDecoder *from)
{
    d->tps = from->tps;
    d->mf_packet_size = from->mf_packet_size;
    d->cap_ignore_shared = from->cap_ignore_shared;
    d->cap_mapped_ram = from->cap_mapped_ram;
    d->postcopy_advised = from->postcopy_advised;
    d->has_config = from->has_config;
    if (d->cfg.channel == MIG_CHANNEL_RECOVERY) {
        GHashTableIter it;
        gpointer key, value;

        g_hash_table_iter_init(&it, from->sections);
        while (g_hash_table_iter_next(&it, &key, &value)) {
            g_hash_table_insert(d->sections, key,
                                g_memdup2(value, sizeof(MigSectionInfo)));
        }
    }
}

static void stage_drop(MigDecoder *d, size_t k)
{
    memmove(d->stage, d->stage + k, d->stage_len - k);
    d->stage_len -= k;
}

/* The input ended (or the blob did) before the step had what it needs. */
static void fail_short(MigDecoder *d, bool blob_end)
{
    if (blob_end) {
        mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->item_offset,
                 "%s crosses the end of the PACKAGED blob at offset %"
                 G_GUINT64_FORMAT, d->what, d->pk_end);
    } else {
        mig_fail(d, MIG_WIRE_ERROR_TRUNCATED, d->item_offset,
                 "truncated: input ended at offset %" G_GUINT64_FORMAT
                 " inside the %s that starts here (%zu more bytes needed)",
                 d->offset + d->stage_len, d->what,
                 d->need > d->stage_len ? d->need - d->stage_len : (size_t)1);
    }
}

static bool packaged_end(MigDecoder *d)
{
    MigEvent ev = { .type = MIG_EV_PACKAGED_END, .offset = d->offset,
                    .end = d->offset };

    if (d->step != mig_step_top) {
        mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->item_offset,
                 "%s crosses the end of the PACKAGED blob at offset %"
                 G_GUINT64_FORMAT, d->what, d->pk_end);
        return false;
    }
    d->pk_active = false;
    mig_emit(d, &ev);
    return true;
}

/*
 * One unit of progress over the input.  Returns TRUE when something was
 * consumed or moved into the stage, FALSE when it must wait for more input
 * (or an error was set).
 */
static bool drive(MigDecoder *d, const uint8_t *buf, size_t len, size_t *pos,
                  bool at_end)
{
    uint64_t limit = d->pk_active ? d->pk_end - d->offset : UINT64_MAX;
    bool input_done = at_end && *pos == len;
    ssize_t r;

    if (d->pk_active && limit == 0 && d->skip == 0) {
        return packaged_end(d);
    }

    if (d->skip) {
        uint64_t take;

        if (d->stage_len) {
            take = MIN(d->skip, (uint64_t)d->stage_len);
            stage_drop(d, take);
        } else {
            take = MIN(d->skip, (uint64_t)(len - *pos));
            *pos += take;
        }
        d->skip -= take;
        advance(d, take);
        return take > 0;
    }

    if (d->stage_len) {
        size_t copied = 0;
        size_t visible;
        bool final;

        if (d->stage_len < d->need && *pos < len && d->stage_len < limit) {
            uint64_t room = MIN((uint64_t)(d->need - d->stage_len),
                                limit - d->stage_len);
            copied = MIN((size_t)room, len - *pos);
            memcpy(d->stage + d->stage_len, buf + *pos, copied);
            d->stage_len += copied;
            *pos += copied;
            input_done = at_end && *pos == len;
        }
        /*
         * A footer scan may have staged bytes past the record it ended, so
         * the stage can reach beyond a PACKAGED blob that began since: the
         * step sees the blob's bytes only.
         */
        visible = (size_t)MIN((uint64_t)d->stage_len, limit);
        final = (input_done && visible == d->stage_len) ||
                (d->pk_active && visible == limit);
        if (visible < d->need && !final) {
            return copied > 0;
        }
        r = d->step(d, d->stage, visible, final);
        if (r > 0) {
            stage_drop(d, (size_t)r);
            advance(d, (uint64_t)r);
            return true;
        }
        if (r < 0) {
            return false;
        }
        advance(d, 0);
        g_assert(d->need > visible);
        if (final) {
            fail_short(d, !(input_done && visible == d->stage_len));
            return false;
        }
        return *pos < len;
    }

    {
        static const uint8_t none[1];
        const uint8_t *view = buf ? buf + *pos : none;  /* finish() has no buffer */
        size_t n = (size_t)MIN((uint64_t)(len - *pos), limit);
        bool final = (at_end && n == len - *pos) ||
                     (d->pk_active && n == limit);

        if (n == 0 && !final) {
            return false;
        }
        r = d->step(d, view, n, final);
        if (r > 0) {
            *pos += (size_t)r;
            advance(d, (uint64_t)r);
            return true;
        }
        if (r < 0) {
            return false;
        }
        advance(d, 0);
        g_assert(d->need > n && d->need <= MIG_STAGE_MAX);
        if (final) {
            if (n == 0 && at_end && !d->pk_active) {
                return false; /* nothing left: finish() judges the state */
            }
            fail_short(d, !(at_end && n == len - *pos));
            return false;
        }
        memcpy(d->stage, view, n);
        d->stage_len = n;
        *pos += n;
        return n > 0;
    }
}

bool mig_decoder_feed(MigDecoder *d, const uint8_t *buf, size_t len,
                      GError **error)
{
    size_t pos = 0;

    if (!d->error && d->finished) {
        mig_fail(d, MIG_WIRE_ERROR_CORRUPT, d->offset,
                 "bytes fed after the end of input");
    }
    while (!d->error && drive(d, buf, len, &pos, false)) {
    }
    if (d->error) {
        g_propagate_error(error, g_error_copy(d->error));
        return false;
    }
    d->stats.bytes = d->offset + d->stage_len;
    return true;
}

static bool channel_is_clean(const MigDecoder *d)
{
    if (d->skip || d->stage_len || d->pk_active) {
        return false;
    }
    switch (d->cfg.channel) {
    case MIG_CHANNEL_MAIN:
    case MIG_CHANNEL_RECOVERY:
        return mig_main_is_clean(d);
    case MIG_CHANNEL_PREEMPT:
        return d->step == mig_step_ram_word;
    case MIG_CHANNEL_RETURN_PATH:
        return d->step == mig_step_rp;
    case MIG_CHANNEL_MULTIFD:
        return d->step != mig_step_multifd_init || d->offset == 0;
    }
    return false;
}

bool mig_decoder_finish(MigDecoder *d, GError **error)
{
    size_t pos = 0;

    if (!d->error && !d->finished) {
        while (!d->error && drive(d, NULL, 0, &pos, true)) {
        }
        if (!d->error && !channel_is_clean(d)) {
            if (d->skip) {
                mig_fail(d, MIG_WIRE_ERROR_TRUNCATED, d->item_offset,
                         "truncated: input ended at offset %" G_GUINT64_FORMAT
                         " inside the %s that starts here (%" G_GUINT64_FORMAT
                         " more bytes needed)", d->offset, d->what, d->skip);
            } else if (d->cfg.channel == MIG_CHANNEL_MAIN && !d->eof_seen &&
                       d->step == mig_step_top && !d->stage_len) {
                mig_fail(d, MIG_WIRE_ERROR_TRUNCATED, d->offset,
                         "truncated: input ended before QEMU_VM_EOF");
            } else {
                d->need = MAX(d->need, d->stage_len + 1);
                fail_short(d, false);
            }
        }
        if (!d->error) {
            MigEvent ev = { .type = MIG_EV_END, .offset = d->offset,
                            .end = d->offset };
            d->finished = true;
            mig_emit(d, &ev);
        }
    }
    if (d->error) {
        g_propagate_error(error, g_error_copy(d->error));
        return false;
    }
    return true;
}

const MigDecoderStats *mig_decoder_stats(const MigDecoder *d)
{
    return &d->stats;
}

uint64_t mig_decoder_offset(const MigDecoder *d)
{
    return d->offset;
}

uint64_t mig_decoder_error_offset(const MigDecoder *d)
{
    return d->error_offset;
}

bool mig_decoder_certain(const MigDecoder *d)
{
    return d->certain;
}
