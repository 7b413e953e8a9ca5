/*
 * decode-util.h - helpers the decoder tests share: decode a buffer in
 * chunks of a given size and collect every event as a line of text, so
 * two runs can be compared event for event.
 */
#ifndef MIG_TEST_DECODE_UTIL_H
#define MIG_TEST_DECODE_UTIL_H

#include <string.h>
#include "decoder.h"

typedef struct {
    GString *events;      /* one mig_event_format() line per event */
    GError *error;        /* NULL when the decode ended cleanly */
    uint64_t error_offset;
    bool certain;
    MigDecoderStats stats;
    guint n_events;
} DecodeResult;

static inline void collect_event(const MigEvent *ev, void *opaque)
{
    DecodeResult *r = opaque;
    char *line = mig_event_format(ev);

    g_string_append(r->events, line);
    g_string_append_c(r->events, '\n');
    r->n_events++;
    g_free(line);
}

/* Decode @len bytes, fed @chunk at a time (0 = all at once); finish unless @no_finish. */
static inline DecodeResult decode_buffer_flags(MigChannelKind channel, const uint8_t *buf,
                                               size_t len, size_t chunk, unsigned flags)
{
    DecodeResult r = { .events = g_string_new(NULL) };
    MigDecoderConfig cfg = { .channel = channel, .flags = flags, .target_page_size = 4096 };
    MigDecoder *d = mig_decoder_new(&cfg, collect_event, &r);
    size_t pos = 0;
    bool ok = true;

    if (chunk == 0) {
        chunk = len ? len : 1;
    }
    while (pos < len && ok) {
        size_t n = MIN(chunk, len - pos);

        ok = mig_decoder_feed(d, buf + pos, n, &r.error);
        pos += n;
    }
    if (ok) {
        ok = mig_decoder_finish(d, &r.error);
    }
    if (!ok) {
        r.error_offset = mig_decoder_error_offset(d);
    }
    r.certain = mig_decoder_certain(d);
    r.stats = *mig_decoder_stats(d);
    mig_decoder_free(d);
    return r;
}

static inline DecodeResult decode_buffer(MigChannelKind channel, const uint8_t *buf,
                                         size_t len, size_t chunk)
{
    return decode_buffer_flags(channel, buf, len, chunk, MIG_DECODER_PAGE_EVENTS);
}

static inline void decode_result_clear(DecodeResult *r)
{
    g_string_free(r->events, TRUE);
    g_clear_error(&r->error);
}

#endif
