/*
 * test-stream-source.c - capture/stream-source.c on files made here: each
 * kind told from its first bytes (a stream, a capture, a profile with or
 * without white space before it, a directory, a missing path, a pipe on
 * standard input), a stream file and a capture of the same stream decoding
 * alike and reading back alike, a left-out payload refused with its
 * offset, and a capture that holds no migration refused at open but not
 * when only its kind is asked.  Real captures and streams go through it in
 * tests/proxy/interop-qemu72-proxy-capture-check.sh.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "capture-builder.h"
#include "facts.h"
#include "stream-source.h"

/* QEMU's magic, stream version 3, one EOF: the smallest whole stream. */
static const uint8_t MINIMAL[] = { 'Q', 'E', 'V', 'M', 0, 0, 0, 3, 0 };

static char *tmpdir;

static char *write_file(const char *name, const void *data, size_t len)
{
    char *path = g_build_filename(tmpdir, name, NULL);

    g_assert_true(g_file_set_contents(path, data, (gssize)len, NULL));
    return path;
}

/* A capture of MINIMAL as session 1's main connection, bytes [4, 8) left out with @hole. */
static char *write_capture(const char *name, bool hole, bool with_connection)
{
    static const uint64_t HOLE[][2] = { { 4, 8 } };
    g_autoptr(GByteArray) cap = tcap_new(hole ? MIGCAP__PAGES_MODE__PAGES_NONE
                                              : MIGCAP__PAGES_MODE__PAGES_FULL);

    if (with_connection) {
        tcap_connection(cap, 1, 0, "main");
    }
    tcap_chunk(cap, 1, 0, MINIMAL, 0, sizeof(MINIMAL), HOLE, hole ? 1 : 0);
    tcap_end(cap, 1, 0, sizeof(MINIMAL));
    return write_file(name, cap->data, cap->len);
}

static void count_event(const MigEvent *ev, void *opaque)
{
    (void)ev;
    (*(guint *)opaque)++;
}

/* Decode all of @src; the number of events, or -1 when it did not end cleanly. */
static int decode_all(MpStreamSource *src, GError **error)
{
    MigDecoderConfig cfg = { .channel = MIG_CHANNEL_MAIN, .target_page_size = 4096 };
    guint events = 0;
    MigDecoder *dec = mig_decoder_new(&cfg, count_event, &events);
    MpStreamFileResult rc = mp_stream_source_decode(src, dec, 3, error);

    mig_decoder_free(dec);
    return rc == MP_STREAM_FILE_OK ? (int)events : -1;
}

static void test_profile_text(void)
{
    g_assert_true(mp_facts_is_profile_text((const uint8_t *)"{}", 2));
    g_assert_true(mp_facts_is_profile_text((const uint8_t *)" \n\t\r{", 5));
    g_assert_false(mp_facts_is_profile_text((const uint8_t *)"", 0));
    g_assert_false(mp_facts_is_profile_text((const uint8_t *)"   ", 3));
    g_assert_false(mp_facts_is_profile_text(MINIMAL, sizeof(MINIMAL)));
    g_assert_false(mp_facts_is_profile_text((const uint8_t *)"[{", 2));
    /* the length bounds the look: a '{' past it does not count */
    g_assert_false(mp_facts_is_profile_text((const uint8_t *)"  {", 2));
}

static void test_kinds(void)
{
    g_autofree char *stream = write_file("s.mig", MINIMAL, sizeof(MINIMAL));
    g_autofree char *capture = write_capture("c.cap", false, true);
    g_autofree char *profile = write_file("p.json", "\n  {\"machine\": \"pc\"}", 20);
    g_autofree char *empty = write_file("empty", "", 0);
    g_autofree char *missing = g_build_filename(tmpdir, "missing", NULL);
    struct {
        const char *path;
        MpStreamSourceKind kind;
    } cases[] = {
        { stream, MP_STREAM_SOURCE_FILE },
        { capture, MP_STREAM_SOURCE_CAPTURE },
        { profile, MP_STREAM_SOURCE_PROFILE },
        { empty, MP_STREAM_SOURCE_FILE },
    };

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(MpStreamSource) src = mp_stream_source_open(cases[i].path, &err);
        MpStreamSourceKind peeked = MP_STREAM_SOURCE_FILE;

        g_assert_no_error(err);
        g_assert_cmpint(mp_stream_source_kind(src), ==, cases[i].kind);
        g_assert_cmpstr(mp_stream_source_path(src), ==, cases[i].path);
        g_assert_true(mp_stream_source_peek(cases[i].path, &peeked, &err));
        g_assert_cmpint(peeked, ==, cases[i].kind);
        g_assert_true(mp_stream_source_seekable(src) ==
                      (cases[i].kind != MP_STREAM_SOURCE_PROFILE));
        g_assert_true((mp_stream_source_capture(src) != NULL) ==
                      (cases[i].kind == MP_STREAM_SOURCE_CAPTURE));
    }
    for (int peek = 0; peek < 2; peek++) {
        g_autoptr(GError) err = NULL;
        MpStreamSourceKind kind;

        if (peek) {
            g_assert_false(mp_stream_source_peek(tmpdir, &kind, &err));
        } else {
            g_assert_null(mp_stream_source_open(tmpdir, &err));
        }
        g_assert_error(err, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY);
        g_clear_error(&err);
        g_assert_null(mp_stream_source_open(missing, &err));
        g_assert_error(err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
        g_assert_nonnull(strstr(err->message, missing));
    }
}

/* The same stream as a file and as a capture: the same events, the same bytes back. */
static void test_file_and_capture_alike(void)
{
    g_autofree char *stream = write_file("s.mig", MINIMAL, sizeof(MINIMAL));
    g_autofree char *capture = write_capture("c.cap", false, true);
    const char *paths[] = { stream, capture };
    int events[2];

    for (guint i = 0; i < 2; i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(MpStreamSource) src = mp_stream_source_open(paths[i], &err);
        uint8_t back[sizeof(MINIMAL)];

        g_assert_no_error(err);
        events[i] = decode_all(src, &err);
        g_assert_no_error(err);
        g_assert_cmpint(events[i], >, 0);
        memset(back, 0xee, sizeof(back));
        g_assert_true(mp_stream_source_read(src, 0, back, sizeof(back), &err));
        g_assert_cmpmem(back, sizeof(back), MINIMAL, sizeof(MINIMAL));
        g_assert_true(mp_stream_source_read(src, 5, back, 3, &err));
        g_assert_cmpmem(back, 3, MINIMAL + 5, 3);
        /* past the end: an error that names the file and the offset */
        g_assert_false(mp_stream_source_read(src, 8, back, 2, &err));
        g_assert_nonnull(strstr(err->message, paths[i]));
        g_assert_nonnull(strstr(err->message, "8"));
        g_assert_null(mp_stream_source_note(src));
    }
    g_assert_cmpint(events[0], ==, events[1]);
}

/* A none capture: decoding sees zeros where bytes were left out; reading them back is refused. */
static void test_left_out_refused(void)
{
    g_autofree char *capture = write_capture("c.cap", true, true);
    g_autoptr(GError) err = NULL;
    g_autoptr(MpStreamSource) src = mp_stream_source_open(capture, &err);
    uint8_t back[sizeof(MINIMAL)];

    g_assert_no_error(err);
    g_assert_true(mp_stream_source_read(src, 0, back, 4, &err));
    g_assert_cmpmem(back, 4, MINIMAL, 4);
    g_assert_false(mp_stream_source_read(src, 2, back, 4, &err));
    g_assert_nonnull(strstr(err->message, capture));
    g_assert_nonnull(strstr(err->message, "4"));
    g_clear_error(&err);
    /* the version read as 0: the decoder says so, with the offset */
    g_assert_cmpint(decode_all(src, &err), ==, -1);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "offset 4"));
}

/* A capture with no migration in it (a rotated capture's later part). */
static void test_capture_without_migration(void)
{
    g_autofree char *capture = write_capture("later.cap", false, false);
    g_autoptr(GError) err = NULL;
    MpStreamSourceKind kind = MP_STREAM_SOURCE_FILE;

    g_assert_true(mp_stream_source_peek(capture, &kind, &err));
    g_assert_cmpint(kind, ==, MP_STREAM_SOURCE_CAPTURE);
    g_assert_null(mp_stream_source_open(capture, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, capture));
}

/* "-" on a pipe: a stream as it comes, never looked at twice, never read back. */
static void test_stdin_pipe(void)
{
    int fds[2], saved = dup(STDIN_FILENO);
    g_autoptr(GError) err = NULL;
    g_autoptr(MpStreamSource) src = NULL;
    uint8_t back[4];

    g_assert_cmpint(saved, >=, 0);
    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_cmpint(write(fds[1], MINIMAL, sizeof(MINIMAL)), ==, (ssize_t)sizeof(MINIMAL));
    close(fds[1]);
    g_assert_cmpint(dup2(fds[0], STDIN_FILENO), ==, STDIN_FILENO);
    close(fds[0]);
    src = mp_stream_source_open("-", &err);
    g_assert_cmpint(dup2(saved, STDIN_FILENO), ==, STDIN_FILENO);
    close(saved);
    g_assert_no_error(err);
    g_assert_cmpint(mp_stream_source_kind(src), ==, MP_STREAM_SOURCE_FILE);
    g_assert_false(mp_stream_source_seekable(src));
    g_assert_cmpint(decode_all(src, &err), >, 0);
    g_assert_no_error(err);
    g_assert_false(mp_stream_source_read(src, 0, back, sizeof(back), &err));
    g_assert_error(err, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
}

int main(int argc, char **argv)
{
    GDir *dir;
    const char *name;
    int rc;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("stream-source-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);
    g_test_add_func("/stream-source/profile-text", test_profile_text);
    g_test_add_func("/stream-source/kinds", test_kinds);
    g_test_add_func("/stream-source/file-and-capture-alike", test_file_and_capture_alike);
    g_test_add_func("/stream-source/left-out-refused", test_left_out_refused);
    g_test_add_func("/stream-source/capture-without-migration",
                    test_capture_without_migration);
    g_test_add_func("/stream-source/stdin-pipe", test_stdin_pipe);
    rc = g_test_run();
    dir = g_dir_open(tmpdir, 0, NULL);
    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(tmpdir, name, NULL);

        g_unlink(path);
    }
    g_clear_pointer(&dir, g_dir_close);
    g_rmdir(tmpdir);
    g_free(tmpdir);
    return rc;
}
