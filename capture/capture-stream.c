/*
 * capture-stream.c - one recorded connection's stream, rebuilt from a
 * capture in memory (capture-stream.h).
 *
 * The index keeps, for each chunk of the stream, its stream offset, its
 * length and where its record lies in the capture; a read unpacks the
 * records it needs again (the one read last is kept, as reads go in
 * order).  So memory grows with the number of chunks, never with their
 * bytes or with a length a record claims.
 */
#include "capture-stream.h"

#include <string.h>

typedef struct {
    uint64_t offset;            /* stream offset of the chunk's first byte */
    uint64_t length;            /* its bytes, holes included */
    size_t record;              /* its frame's position in the capture */
} IndexedChunk;

struct MpCaptureStream {
    const uint8_t *buf;
    size_t len;
    uint32_t version;
    uint32_t session, channel;
    Migcap__Direction direction;
    Migcap__PagesMode pages;
    guint sessions;
    GArray *chunks;             /* IndexedChunk, stream order, contiguous from 0 */
    uint64_t length, hole_bytes;
    char *stop;
    guint cached;               /* index of cached_rec's chunk */
    Migcap__Record *cached_rec;
};

/*
 * Do @ch's holes lie inside it, in order, without overlap, and with its
 * data make up its length?  A reader relies on it to copy within bounds.
 */
static bool chunk_consistent(const Migcap__Chunk *ch)
{
    uint64_t at = ch->offset, end = ch->offset + ch->length, holes = 0;

    if (end < ch->offset) {
        return false;
    }
    for (size_t i = 0; i < ch->n_holes; i++) {
        const Migcap__Hole *h = ch->holes[i];

        if (h->offset < at || h->offset > end || h->length > end - h->offset) {
            return false;
        }
        at = h->offset + h->length;
        holes += h->length;
    }
    return holes + ch->data.len == ch->length;
}

static bool is_ours(const MpCaptureStream *cs, const Migcap__Record *rec)
{
    return rec->body_case == MIGCAP__RECORD__BODY_CHUNK && rec->session == cs->session &&
           rec->chunk->channel == cs->channel && rec->chunk->direction == cs->direction;
}

/* Take in one chunk of ours found at capture byte @pos, or say why the stream stops there. */
static void index_chunk(MpCaptureStream *cs, const Migcap__Chunk *ch, size_t pos)
{
    IndexedChunk ic = { .offset = ch->offset, .length = ch->length, .record = pos };

    if (!chunk_consistent(ch)) {
        cs->stop = g_strdup_printf("at byte %zu of the capture: a chunk whose holes do not "
                                   "fit its length", pos);
        return;
    }
    if (ch->offset != cs->length) {
        cs->stop = cs->length == 0
            ? g_strdup_printf("the capture holds the stream from offset %" G_GUINT64_FORMAT
                              " on, not from its start (a later part of a rotated capture?)",
                              ch->offset)
            : g_strdup_printf("the capture lacks the stream's bytes from offset %"
                              G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " (records dropped "
                              "when the disk did not keep up)", cs->length, ch->offset);
        return;
    }
    if (ch->length) {
        g_array_append_val(cs->chunks, ic);
        cs->length += ch->length;
        cs->hole_bytes += ch->length - ch->data.len;
    }
}

MpCaptureStream *mp_capture_stream_new(const uint8_t *buf, size_t len, uint32_t session,
                                       uint32_t channel, Migcap__Direction direction,
                                       GError **error)
{
    g_autoptr(MpCaptureStream) cs = g_new0(MpCaptureStream, 1);
    g_autoptr(GHashTable) mains = g_hash_table_new(NULL, NULL);
    g_autoptr(GError) local = NULL;
    MpCaptureReader r;
    bool have_pages = false, have_connection = false, ended = false;

    if (!mp_capture_reader_init(&r, buf, len, error)) {
        return NULL;
    }
    cs->buf = buf;
    cs->len = len;
    cs->version = r.version;
    cs->session = session;
    cs->channel = channel;
    cs->direction = direction;
    cs->chunks = g_array_new(FALSE, FALSE, sizeof(IndexedChunk));
    for (;;) {
        size_t pos = r.pos;
        Migcap__Record *rec = NULL;
        int rc = mp_capture_reader_next(&r, &rec, &local);

        if (rc < 0 && !cs->stop) {
            cs->stop = g_strdup_printf("the capture is cut short: %s", local->message);
        }
        if (rc <= 0) {
            break;
        }
        if (rec->body_case == MIGCAP__RECORD__BODY_START && !have_pages) {
            have_pages = true;
            cs->pages = rec->start->pages;
        } else if (rec->body_case == MIGCAP__RECORD__BODY_CONNECTION) {
            if (g_strcmp0(rec->connection->kind, "main") == 0 && rec->session) {
                g_hash_table_add(mains, GUINT_TO_POINTER(rec->session));
                if (!cs->session) {
                    cs->session = rec->session;
                }
            }
            have_connection |= rec->session == cs->session &&
                               rec->connection->channel == cs->channel;
        } else if (is_ours(cs, rec) && !cs->stop) {
            index_chunk(cs, rec->chunk, pos);
        } else if (rec->body_case == MIGCAP__RECORD__BODY_CHUNK_END &&
                   rec->session == cs->session && rec->chunk_end->channel == cs->channel &&
                   rec->chunk_end->direction == cs->direction) {
            ended = true;
        }
        migcap__record__free_unpacked(rec, NULL);
    }
    cs->sessions = g_hash_table_size(mains);
    if (!cs->session) {
        g_set_error(error, MP_CAPTURE_ERROR, MP_CAPTURE_ERROR_CORRUPT,
                    "no migration in the capture (no main connection recorded)%s%s",
                    cs->stop ? "; " : "", cs->stop ? cs->stop : "");
        return NULL;
    }
    if (!have_connection) {
        g_set_error(error, MP_CAPTURE_ERROR, MP_CAPTURE_ERROR_CORRUPT,
                    "session %u of the capture has no connection %u%s%s", cs->session,
                    cs->channel, cs->stop ? "; " : "", cs->stop ? cs->stop : "");
        return NULL;
    }
    if (!cs->stop && !ended) {
        cs->stop = g_strdup("the capture ends before the connection did (the proxy stopped "
                            "capturing first)");
    }
    return g_steal_pointer(&cs);
}

void mp_capture_stream_free(MpCaptureStream *cs)
{
    if (!cs) {
        return;
    }
    if (cs->cached_rec) {
        migcap__record__free_unpacked(cs->cached_rec, NULL);
    }
    if (cs->chunks) {
        g_array_unref(cs->chunks);
    }
    g_free(cs->stop);
    g_free(cs);
}

uint32_t mp_capture_stream_session(const MpCaptureStream *cs)
{
    return cs->session;
}

guint mp_capture_stream_sessions(const MpCaptureStream *cs)
{
    return cs->sessions;
}

Migcap__PagesMode mp_capture_stream_pages(const MpCaptureStream *cs)
{
    return cs->pages;
}

uint64_t mp_capture_stream_length(const MpCaptureStream *cs)
{
    return cs->length;
}

uint64_t mp_capture_stream_hole_bytes(const MpCaptureStream *cs)
{
    return cs->hole_bytes;
}

const char *mp_capture_stream_stop(const MpCaptureStream *cs)
{
    return cs->stop;
}

/* The index of the chunk that holds stream offset @offset (< length). */
static guint find_chunk(const MpCaptureStream *cs, uint64_t offset)
{
    guint lo = 0, hi = cs->chunks->len;

    while (hi - lo > 1) {
        guint mid = lo + (hi - lo) / 2;

        if (g_array_index(cs->chunks, IndexedChunk, mid).offset <= offset) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Chunk @i's record, unpacked again (kept until another is needed). */
static const Migcap__Chunk *load_chunk(MpCaptureStream *cs, guint i, GError **error)
{
    const IndexedChunk *ic = &g_array_index(cs->chunks, IndexedChunk, i);
    MpCaptureReader r = { .buf = cs->buf, .len = cs->len, .pos = ic->record,
                          .version = cs->version };
    Migcap__Record *rec = NULL;

    if (cs->cached_rec && cs->cached == i) {
        return cs->cached_rec->chunk;
    }
    if (cs->cached_rec) {
        migcap__record__free_unpacked(cs->cached_rec, NULL);
        cs->cached_rec = NULL;
    }
    /* the index was made from these very bytes: this only fails if they changed */
    if (mp_capture_reader_next(&r, &rec, error) != 1) {
        return NULL;
    }
    if (!is_ours(cs, rec) || !chunk_consistent(rec->chunk) || rec->chunk->offset != ic->offset ||
        rec->chunk->length != ic->length) {
        migcap__record__free_unpacked(rec, NULL);
        g_set_error(error, MP_CAPTURE_ERROR, MP_CAPTURE_ERROR_CORRUPT,
                    "at byte %zu: the capture changed while it was read", ic->record);
        return NULL;
    }
    cs->cached = i;
    cs->cached_rec = rec;
    return rec->chunk;
}

/*
 * Copy stream bytes [@from, @to) of @ch, which holds them, into @out;
 * holes as zeros, or FALSE with @error when !@zero_holes.
 */
static bool copy_from_chunk(const Migcap__Chunk *ch, uint64_t from, uint64_t to, uint8_t *out,
                            bool zero_holes, GError **error)
{
    uint64_t at = ch->offset;           /* stream offset of the next piece */
    size_t data = 0;                    /* its position in ch->data when it is data */

    for (size_t i = 0; i <= ch->n_holes && at < to; i++) {
        uint64_t data_end = i < ch->n_holes ? ch->holes[i]->offset : ch->offset + ch->length;
        uint64_t lo = MAX(at, from), hi = MIN(data_end, to);

        if (lo < hi) {
            memcpy(out + (lo - from), ch->data.data + data + (lo - at), hi - lo);
        }
        data += data_end - at;
        at = data_end;
        if (i == ch->n_holes) {
            break;
        }
        hi = MIN(at + ch->holes[i]->length, to);
        lo = MAX(at, from);
        if (lo < hi) {
            if (!zero_holes) {
                g_set_error(error, MP_CAPTURE_ERROR, MP_CAPTURE_ERROR_CORRUPT,
                            "stream bytes %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
                            " are a page payload the capture left out "
                            "(--capture-pages hash or none)", at,
                            at + ch->holes[i]->length);
                return false;
            }
            memset(out + (lo - from), 0, hi - lo);
        }
        at += ch->holes[i]->length;
    }
    return true;
}

bool mp_capture_stream_read(MpCaptureStream *cs, uint64_t offset, uint8_t *out, size_t len,
                            bool zero_holes, GError **error)
{
    uint64_t end = offset + len;

    if (end < offset || end > cs->length) {
        g_set_error(error, MP_CAPTURE_ERROR, MP_CAPTURE_ERROR_TRUNCATED,
                    "stream bytes %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " are not in "
                    "the capture, which holds %" G_GUINT64_FORMAT " bytes of the stream%s%s",
                    offset, end, cs->length, cs->stop ? ": " : "", cs->stop ? cs->stop : "");
        return false;
    }
    if (len == 0) {
        return true;
    }
    for (guint i = find_chunk(cs, offset); offset < end; i++) {
        const Migcap__Chunk *ch = load_chunk(cs, i, error);
        uint64_t upto;

        if (!ch) {
            return false;
        }
        upto = MIN(end, ch->offset + ch->length);
        if (!copy_from_chunk(ch, offset, upto, out, zero_holes, error)) {
            return false;
        }
        out += upto - offset;
        offset = upto;
    }
    return true;
}
