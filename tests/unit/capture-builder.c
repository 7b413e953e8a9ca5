/*
 * capture-builder.c - hand-made captures for the unit tests
 * (capture-builder.h).
 */
#include "capture-builder.h"

void tcap_put(GByteArray *cap, const Migcap__Record *r)
{
    size_t n = migcap__record__get_packed_size(r);
    g_autofree uint8_t *buf = g_malloc(n ? n : 1);
    uint32_t be = GUINT32_TO_BE((uint32_t)n);

    migcap__record__pack(r, buf);
    g_byte_array_append(cap, (const guint8 *)&be, 4);
    g_byte_array_append(cap, buf, (guint)n);
}

GByteArray *tcap_new(Migcap__PagesMode pages)
{
    GByteArray *cap = g_byte_array_new();
    uint8_t header[MP_CAPTURE_HEADER_LEN];
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__FileStart fs = MIGCAP__FILE_START__INIT;

    mp_capture_header(header);
    g_byte_array_append(cap, header, sizeof(header));
    fs.has_pages = true;
    fs.pages = pages;
    r.body_case = MIGCAP__RECORD__BODY_START;
    r.start = &fs;
    tcap_put(cap, &r);
    return cap;
}

void tcap_connection(GByteArray *cap, uint32_t session, uint32_t channel, const char *kind)
{
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__Connection c = MIGCAP__CONNECTION__INIT;

    c.has_channel = true;
    c.channel = channel;
    c.kind = (char *)kind;
    r.has_session = true;
    r.session = session;
    r.body_case = MIGCAP__RECORD__BODY_CONNECTION;
    r.connection = &c;
    tcap_put(cap, &r);
}

void tcap_chunk_raw(GByteArray *cap, uint32_t session, uint32_t channel, uint64_t from,
                    uint64_t to, const uint8_t *data, size_t data_len,
                    const uint64_t (*holes)[2], size_t n_holes)
{
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__Chunk ch = MIGCAP__CHUNK__INIT;
    Migcap__Hole hole_msgs[4];
    Migcap__Hole *hole_ptrs[4];

    g_assert_cmpuint(n_holes, <=, 4);
    for (size_t i = 0; i < n_holes; i++) {
        migcap__hole__init(&hole_msgs[i]);
        hole_msgs[i].has_offset = hole_msgs[i].has_length = true;
        hole_msgs[i].offset = holes[i][0];
        hole_msgs[i].length = (uint32_t)(holes[i][1] - holes[i][0]);
        hole_ptrs[i] = &hole_msgs[i];
    }
    ch.has_channel = ch.has_direction = ch.has_offset = ch.has_length = ch.has_data = true;
    ch.channel = channel;
    ch.direction = MIGCAP__DIRECTION__UP;
    ch.offset = from;
    ch.length = (uint32_t)(to - from);
    ch.data.data = (uint8_t *)data;
    ch.data.len = data_len;
    ch.n_holes = n_holes;
    ch.holes = hole_ptrs;
    r.has_session = true;
    r.session = session;
    r.body_case = MIGCAP__RECORD__BODY_CHUNK;
    r.chunk = &ch;
    tcap_put(cap, &r);
}

void tcap_chunk(GByteArray *cap, uint32_t session, uint32_t channel, const uint8_t *stream,
                uint64_t from, uint64_t to, const uint64_t (*holes)[2], size_t n_holes)
{
    g_autoptr(GByteArray) data = g_byte_array_new();
    uint64_t at = from;

    for (size_t i = 0; i < n_holes; i++) {
        if (holes[i][0] > at) {
            g_byte_array_append(data, stream + at, (guint)(holes[i][0] - at));
        }
        at = holes[i][1];
    }
    if (to > at) {
        g_byte_array_append(data, stream + at, (guint)(to - at));
    }
    tcap_chunk_raw(cap, session, channel, from, to, data->data, data->len, holes, n_holes);
}

void tcap_end(GByteArray *cap, uint32_t session, uint32_t channel, uint64_t length)
{
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__ChunkEnd e = MIGCAP__CHUNK_END__INIT;

    e.has_channel = e.has_direction = e.has_length = true;
    e.channel = channel;
    e.direction = MIGCAP__DIRECTION__UP;
    e.length = length;
    r.has_session = true;
    r.session = session;
    r.body_case = MIGCAP__RECORD__BODY_CHUNK_END;
    r.chunk_end = &e;
    tcap_put(cap, &r);
}

