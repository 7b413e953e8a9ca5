/*
 * test-capture-stream.c - capture/capture-stream.c on hand-made captures:
 * every range of a stream with holes read back (zeros, or refused), two
 * sessions and a multifd channel kept apart, each reason a stream stops
 * early (a gap, a later part of a rotation, holes that do not fit, no
 * end), a capture cut at every length and one with every byte flipped.
 * The proxy-written captures of real migrations are read in
 * tests/proxy/interop-qemu72-proxy-capture-check.sh.
 */
#include <string.h>
#include "capture-builder.h"
#include "capture-stream.h"

#define STREAM_LEN 144u

/* The made-up stream: two page records (8-byte header, 64-byte payload). */
static void make_stream(uint8_t out[STREAM_LEN])
{
    for (guint i = 0; i < STREAM_LEN; i++) {
        out[i] = (uint8_t)(i * 7 + 3);
    }
}

/* Holes where the proxy's hash mode puts them: the two payloads, split by reads. */
static const uint64_t HOLES_1[][2] = { { 8, 40 } };
static const uint64_t HOLES_2[][2] = { { 40, 72 }, { 80, 100 } };
static const uint64_t HOLES_3[][2] = { { 100, 144 } };

static bool in_hole(uint64_t offset)
{
    return (offset >= 8 && offset < 72) || (offset >= 80 && offset < 144);
}

/* Session 1's main connection in three chunks, with holes when @holes. */
static GByteArray *cap_pages(const uint8_t *stream, bool holes)
{
    GByteArray *cap = tcap_new(holes ? MIGCAP__PAGES_MODE__PAGES_HASH
                                    : MIGCAP__PAGES_MODE__PAGES_FULL);

    tcap_connection(cap, 1, 0, "main");
    tcap_chunk(cap, 1, 0, stream, 0, 40, HOLES_1, holes ? 1 : 0);
    tcap_chunk(cap, 1, 0, stream, 40, 100, HOLES_2, holes ? 2 : 0);
    tcap_chunk(cap, 1, 0, stream, 100, STREAM_LEN, HOLES_3, holes ? 1 : 0);
    tcap_end(cap, 1, 0, STREAM_LEN);
    return cap;
}

static MpCaptureStream *open_main(const GByteArray *cap, GError **error)
{
    return mp_capture_stream_new(cap->data, cap->len, 0, 0, MIGCAP__DIRECTION__UP, error);
}

/* Every range, both ways, against the stream with its holes as zeros. */
static void test_every_range(void)
{
    uint8_t stream[STREAM_LEN], zeroed[STREAM_LEN], got[STREAM_LEN];

    make_stream(stream);
    for (guint i = 0; i < STREAM_LEN; i++) {
        zeroed[i] = in_hole(i) ? 0 : stream[i];
    }
    for (int holes = 0; holes < 2; holes++) {
        g_autoptr(GByteArray) cap = cap_pages(stream, holes);
        g_autoptr(GError) err = NULL;
        g_autoptr(MpCaptureStream) cs = open_main(cap, &err);

        g_assert_no_error(err);
        g_assert_cmpuint(mp_capture_stream_session(cs), ==, 1);
        g_assert_cmpuint(mp_capture_stream_sessions(cs), ==, 1);
        g_assert_cmpuint(mp_capture_stream_length(cs), ==, STREAM_LEN);
        g_assert_cmpuint(mp_capture_stream_hole_bytes(cs), ==, holes ? 128 : 0);
        g_assert_cmpint(mp_capture_stream_pages(cs), ==,
                        holes ? MIGCAP__PAGES_MODE__PAGES_HASH : MIGCAP__PAGES_MODE__PAGES_FULL);
        g_assert_null(mp_capture_stream_stop(cs));
        for (guint from = 0; from <= STREAM_LEN; from++) {
            for (guint to = from; to <= STREAM_LEN; to++) {
                const uint8_t *want = holes ? zeroed : stream;
                bool touches = false;
                g_autoptr(GError) refused = NULL;

                for (guint i = from; i < to; i++) {
                    touches |= holes && in_hole(i);
                }
                memset(got, 0xee, sizeof(got));
                g_assert_true(mp_capture_stream_read(cs, from, got, to - from, true, NULL));
                g_assert_cmpmem(got, to - from, want + from, to - from);
                g_assert_true(mp_capture_stream_read(cs, from, got, to - from, false,
                                                     &refused) == !touches);
                if (touches) {
                    g_assert_nonnull(strstr(refused->message, "left out"));
                } else {
                    g_assert_cmpmem(got, to - from, stream + from, to - from);
                }
            }
            /* one byte past the end, from anywhere */
            g_assert_false(mp_capture_stream_read(cs, from, got, STREAM_LEN - from + 1, true,
                                                  &err));
            g_assert_error(err, MP_CAPTURE_ERROR, MP_CAPTURE_ERROR_TRUNCATED);
            g_clear_error(&err);
        }
    }
}

/* Two migrations and a multifd channel: each read is its own connection's. */
static void test_sessions_apart(void)
{
    uint8_t stream[STREAM_LEN], other[STREAM_LEN], got[STREAM_LEN];
    g_autoptr(GByteArray) cap = tcap_new(MIGCAP__PAGES_MODE__PAGES_FULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(MpCaptureStream) first = NULL;
    g_autoptr(MpCaptureStream) multifd = NULL;
    g_autoptr(MpCaptureStream) second = NULL;

    make_stream(stream);
    for (guint i = 0; i < STREAM_LEN; i++) {
        other[i] = (uint8_t)~stream[i];
    }
    tcap_connection(cap, 2, 0, "main");
    tcap_connection(cap, 2, 1, "multifd");
    tcap_chunk(cap, 2, 1, other, 0, 50, NULL, 0);
    tcap_chunk(cap, 2, 0, stream, 0, 60, NULL, 0);
    tcap_connection(cap, 5, 0, "main");
    tcap_chunk(cap, 5, 0, other, 0, 30, NULL, 0);
    tcap_chunk(cap, 2, 0, stream, 60, STREAM_LEN, NULL, 0);
    tcap_end(cap, 2, 0, STREAM_LEN);

    first = open_main(cap, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(mp_capture_stream_session(first), ==, 2);
    g_assert_cmpuint(mp_capture_stream_sessions(first), ==, 2);
    g_assert_cmpuint(mp_capture_stream_length(first), ==, STREAM_LEN);
    g_assert_true(mp_capture_stream_read(first, 0, got, STREAM_LEN, false, NULL));
    g_assert_cmpmem(got, STREAM_LEN, stream, STREAM_LEN);

    multifd = mp_capture_stream_new(cap->data, cap->len, 2, 1, MIGCAP__DIRECTION__UP, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(mp_capture_stream_length(multifd), ==, 50);
    g_assert_true(mp_capture_stream_read(multifd, 0, got, 50, false, NULL));
    g_assert_cmpmem(got, 50, other, 50);

    /* session 5 never ended its connection in this capture */
    second = mp_capture_stream_new(cap->data, cap->len, 5, 0, MIGCAP__DIRECTION__UP, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(mp_capture_stream_length(second), ==, 30);
    g_assert_nonnull(strstr(mp_capture_stream_stop(second), "ends before the connection did"));

    g_assert_null(mp_capture_stream_new(cap->data, cap->len, 7, 0, MIGCAP__DIRECTION__UP,
                                        &err));
    g_assert_nonnull(strstr(err->message, "session 7 of the capture has no connection 0"));
}

/* A capture holding session 1's main connection, its chunks to come. */
static GByteArray *cap_main(Migcap__PagesMode pages)
{
    GByteArray *cap = tcap_new(pages);

    tcap_connection(cap, 1, 0, "main");
    return cap;
}

/* @cap (taken) must give a stream that stops at @length, for @reason. */
static void expect_stop(GByteArray *cap, uint64_t length, const char *reason)
{
    g_autoptr(GByteArray) owned = cap;
    g_autoptr(GError) err = NULL;
    g_autoptr(MpCaptureStream) cs = open_main(cap, &err);
    uint8_t got[STREAM_LEN];

    g_assert_no_error(err);
    g_assert_cmpuint(mp_capture_stream_length(cs), ==, length);
    g_assert_nonnull(mp_capture_stream_stop(cs));
    if (!strstr(mp_capture_stream_stop(cs), reason)) {
        g_error("stop reason '%s' lacks '%s'", mp_capture_stream_stop(cs), reason);
    }
    g_assert_false(mp_capture_stream_read(cs, 0, got, length + 1, true, &err));
    g_assert_nonnull(strstr(err->message, reason));
}

static void test_stops(void)
{
    static const uint64_t outside[][2] = { { 30, 50 } };
    static const uint64_t inside[][2] = { { 25, 35 } };
    static const uint64_t backwards[][2] = { { 20, 30 }, { 5, 15 } };
    const Migcap__PagesMode full = MIGCAP__PAGES_MODE__PAGES_FULL;
    const Migcap__PagesMode hash = MIGCAP__PAGES_MODE__PAGES_HASH;
    uint8_t stream[STREAM_LEN];
    GByteArray *cap;

    make_stream(stream);
    /* records dropped: the bytes 40..100 never came */
    cap = cap_main(full);
    tcap_chunk(cap, 1, 0, stream, 0, 40, NULL, 0);
    tcap_chunk(cap, 1, 0, stream, 100, STREAM_LEN, NULL, 0);
    tcap_end(cap, 1, 0, STREAM_LEN);
    expect_stop(cap, 40, "lacks the stream's bytes from offset 40 to 100");
    /* the later part of a rotated capture */
    cap = cap_main(full);
    tcap_chunk(cap, 1, 0, stream, 100, STREAM_LEN, NULL, 0);
    tcap_end(cap, 1, 0, STREAM_LEN);
    expect_stop(cap, 0, "from offset 100 on, not from its start");
    /* a hole that reaches out of its chunk, its length still adding up */
    cap = cap_main(hash);
    tcap_chunk(cap, 1, 0, stream, 0, 20, NULL, 0);
    tcap_chunk_raw(cap, 1, 0, 20, 40, NULL, 0, outside, 1);
    expect_stop(cap, 20, "holes do not fit");
    /* holes and data that do not add up to the chunk's length, either way */
    cap = cap_main(hash);
    tcap_chunk(cap, 1, 0, stream, 0, 20, NULL, 0);
    tcap_chunk_raw(cap, 1, 0, 20, 40, stream, 3, inside, 1);
    expect_stop(cap, 20, "holes do not fit");
    cap = cap_main(hash);
    tcap_chunk(cap, 1, 0, stream, 0, 20, NULL, 0);
    tcap_chunk_raw(cap, 1, 0, 20, 40, stream, 15, inside, 1);
    expect_stop(cap, 20, "holes do not fit");
    /* holes out of order */
    cap = cap_main(hash);
    tcap_chunk_raw(cap, 1, 0, 0, 40, stream, 20, backwards, 2);
    expect_stop(cap, 0, "holes do not fit");
    /* the proxy stopped capturing before the connection ended */
    cap = cap_main(full);
    tcap_chunk(cap, 1, 0, stream, 0, 40, NULL, 0);
    expect_stop(cap, 40, "ends before the connection did");
    /* no migration at all: an error, not an empty stream */
    {
        g_autoptr(GError) err = NULL;
        g_autoptr(GByteArray) tls = tcap_new(full);

        tcap_connection(tls, 1, 0, "tls");
        g_assert_null(open_main(tls, &err));
        g_assert_nonnull(strstr(err->message, "no migration in the capture"));
    }
}

/* Cut at every length: up to the cut, said so, never past the bytes given. */
static void test_cut_everywhere(void)
{
    uint8_t stream[STREAM_LEN], got[STREAM_LEN];
    g_autoptr(GByteArray) cap = NULL;
    uint64_t last_length = 0;

    make_stream(stream);
    cap = cap_pages(stream, true);
    for (guint cut = 0; cut <= cap->len; cut++) {
        /* exactly @cut bytes, so that ASan sees any read past them */
        g_autofree uint8_t *copy = g_memdup2(cap->data, cut ? cut : 1);
        g_autoptr(GError) err = NULL;
        g_autoptr(MpCaptureStream) cs = mp_capture_stream_new(copy, cut, 0, 0,
                                                              MIGCAP__DIRECTION__UP, &err);
        uint64_t length;

        if (!cs) {
            g_assert_nonnull(err);
            g_assert_cmpuint(last_length, ==, 0);
            continue;
        }
        length = mp_capture_stream_length(cs);
        g_assert_cmpuint(length, >=, last_length);
        g_assert_cmpuint(length, <=, STREAM_LEN);
        last_length = length;
        g_assert_true((mp_capture_stream_stop(cs) == NULL) == (cut == cap->len));
        g_assert_true(mp_capture_stream_read(cs, 0, got, (size_t)length, true, NULL));
        for (guint i = 0; i < length; i++) {
            g_assert_cmpuint(got[i], ==, in_hole(i) ? 0 : stream[i]);
        }
    }
    g_assert_cmpuint(last_length, ==, STREAM_LEN);
}

/* Each byte flipped in turn: a stream that reads, or an error; never more. */
static void test_every_byte_flipped(void)
{
    uint8_t stream[STREAM_LEN];
    g_autoptr(GByteArray) cap = NULL;
    guint opened = 0;

    make_stream(stream);
    cap = cap_pages(stream, true);
    for (guint at = 0; at < cap->len; at++) {
        g_autofree uint8_t *copy = g_memdup2(cap->data, cap->len);
        g_autoptr(MpCaptureStream) cs = NULL;
        uint64_t length;

        copy[at] ^= 0xff;
        cs = mp_capture_stream_new(copy, cap->len, 0, 0, MIGCAP__DIRECTION__UP, NULL);
        if (!cs) {
            continue;
        }
        opened++;
        length = mp_capture_stream_length(cs);
        g_assert_cmpuint(mp_capture_stream_hole_bytes(cs), <=, length);
        if (length <= (1u << 20)) {
            g_autofree uint8_t *got = g_malloc(length ? (size_t)length : 1);

            g_assert_true(mp_capture_stream_read(cs, 0, got, (size_t)length, true, NULL));
        }
    }
    /* a flipped data byte leaves a readable stream: the loop did read some */
    g_assert_cmpuint(opened, >, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/capture-stream/every-range", test_every_range);
    g_test_add_func("/capture-stream/sessions-apart", test_sessions_apart);
    g_test_add_func("/capture-stream/stops", test_stops);
    g_test_add_func("/capture-stream/cut-everywhere", test_cut_everywhere);
    g_test_add_func("/capture-stream/every-byte-flipped", test_every_byte_flipped);
    return g_test_run();
}
