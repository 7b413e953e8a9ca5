/*
 * test-streams - properties every real stream must have, checked on the
 * streams named on the command line as CHANNEL:PATH (real QEMU output,
 * written by QEMU 7.2 during the test run or by QEMU 10.2 in tests/data):
 *   - it decodes to a clean end;
 *   - chunk sizes 1, 2, 3, 7, 4096 and odd large ones give the same events
 *     and the same end as one whole buffer;
 *   - cut at any offset, it fails as "truncated" at an offset inside the
 *     prefix, or ends cleanly only where the stream may legally end;
 *   - a corrupted byte never crashes, hangs or reports an offset past the
 *     input (the sanitizer build makes "crash" include memory errors).
 * Offsets tried: all of them for streams up to 64 KiB; for longer ones the
 * first 8 KiB (corruption: 1 KiB), both sides of every non-page event
 * boundary and a fixed pseudo-random sample, so that the suite stays
 * within seconds.
 */
#include <stdio.h>
#include "decode-util.h"

#define SMALL_STREAM (64u * 1024u)

typedef struct {
    MigChannelKind channel;
    char *path;
    uint8_t *data;
    size_t len;
} Stream;

static MigChannelKind parse_channel(const char *name)
{
    static const MigChannelKind kinds[] = { MIG_CHANNEL_MAIN, MIG_CHANNEL_RETURN_PATH,
        MIG_CHANNEL_MULTIFD, MIG_CHANNEL_PREEMPT, MIG_CHANNEL_RECOVERY };

    for (guint i = 0; i < G_N_ELEMENTS(kinds); i++) {
        if (!strcmp(name, mig_channel_name(kinds[i]))) {
            return kinds[i];
        }
    }
    g_error("unknown channel '%s'", name);
}

/* Offsets where a stream may end cleanly: its end, and right after EOF. */
static GArray *clean_ends(const Stream *s)
{
    DecodeResult r = decode_buffer_flags(s->channel, s->data, s->len, 0, 0);
    GArray *ends = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    g_auto(GStrv) lines = g_strsplit(r.events->str, "\n", -1);

    g_array_append_val(ends, s->len);
    if (s->channel != MIG_CHANNEL_MAIN) {
        uint64_t zero = 0; /* a connection that carried nothing yet */
        g_array_append_val(ends, zero);
    }
    for (guint i = 0; lines[i]; i++) {
        uint64_t start, end;
        char name[64];

        if (sscanf(lines[i], "%" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT " %63s",
                   &start, &end, name) != 3) {
            continue;
        }
        /* main: after EOF; every other channel: between its records */
        if (!strcmp(name, "eof") || !strcmp(name, "~eof") ||
            (s->channel != MIG_CHANNEL_MAIN && s->channel != MIG_CHANNEL_RECOVERY)) {
            g_array_append_val(ends, end);
        }
    }
    decode_result_clear(&r);
    return ends;
}

/* Event boundaries (section, command, ... but not pages) of a stream. */
static GArray *boundaries(const Stream *s)
{
    DecodeResult r = decode_buffer_flags(s->channel, s->data, s->len, 0, 0);
    GArray *offs = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    g_auto(GStrv) lines = g_strsplit(r.events->str, "\n", -1);

    for (guint i = 0; lines[i]; i++) {
        uint64_t start, end;

        if (sscanf(lines[i], "%" G_GUINT64_FORMAT "-%" G_GUINT64_FORMAT, &start, &end) == 2) {
            g_array_append_val(offs, start);
            g_array_append_val(offs, end);
        }
    }
    decode_result_clear(&r);
    return offs;
}

static void test_clean(gconstpointer data)
{
    const Stream *s = data;
    DecodeResult r = decode_buffer(s->channel, s->data, s->len, 0);

    g_assert_no_error(r.error);
    g_assert_cmpuint(r.stats.bytes, ==, s->len);
    g_assert_cmpuint(r.n_events, >, 1);
    decode_result_clear(&r);
}

static void test_chunks(gconstpointer data)
{
    const Stream *s = data;
    DecodeResult whole = decode_buffer(s->channel, s->data, s->len, 0);
    const size_t sizes[] = { 1, 2, 3, 7, 4096, 65536 + 13, 1048576 + 1 };

    for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
        DecodeResult part;

        if (sizes[i] < 4 && s->len > 8u * 1024 * 1024) {
            continue; /* byte-at-a-time on 37 MiB takes too long under ASan */
        }
        part = decode_buffer(s->channel, s->data, s->len, sizes[i]);
        if (strcmp(whole.events->str, part.events->str)) {
            g_test_message("chunk size %zu gives other events", sizes[i]);
            g_assert_cmpstr(part.events->str, ==, whole.events->str);
        }
        g_assert_cmpstr(part.error ? part.error->message : "",
                        ==, whole.error ? whole.error->message : "");
        decode_result_clear(&part);
    }
    decode_result_clear(&whole);
}

static void check_truncated(const Stream *s, GArray *ends, size_t cut)
{
    DecodeResult r = decode_buffer_flags(s->channel, s->data, cut, 4096, 0);
    bool may_end = false;

    for (guint i = 0; i < ends->len; i++) {
        may_end |= g_array_index(ends, uint64_t, i) == cut;
    }
    if (r.error) {
        if (!g_error_matches(r.error, MIG_WIRE_ERROR, MIG_WIRE_ERROR_TRUNCATED)) {
            g_test_message("cut at %zu: %s", cut, r.error->message);
        }
        g_assert_error(r.error, MIG_WIRE_ERROR, MIG_WIRE_ERROR_TRUNCATED);
        g_assert_cmpuint(r.error_offset, <=, cut);
        g_assert_nonnull(strstr(r.error->message, "truncated"));
    } else if (!may_end) {
        g_test_message("cut at %zu of %zu ended cleanly", cut, s->len);
        g_assert_true(may_end);
    }
    decode_result_clear(&r);
}

static GArray *offsets_to_try(const Stream *s, uint64_t head, guint sample)
{
    GArray *offs = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    GRand *rand = g_rand_new_with_seed(0x6d696770); /* fixed: reproducible */

    if (s->len <= SMALL_STREAM) {
        for (uint64_t i = 0; i < s->len; i++) {
            g_array_append_val(offs, i);
        }
    } else {
        GArray *b = boundaries(s);

        for (uint64_t i = 0; i < head; i++) {
            g_array_append_val(offs, i);
        }
        for (guint i = 0; i < b->len && i < 4000; i++) {
            uint64_t o = g_array_index(b, uint64_t, i);
            for (uint64_t k = o ? o - 1 : 0; k <= o + 1 && k < s->len; k++) {
                g_array_append_val(offs, k);
            }
        }
        for (guint i = 0; i < sample; i++) {
            uint64_t o = (uint64_t)g_rand_double_range(rand, 0, (double)s->len);
            g_array_append_val(offs, o);
        }
        g_array_unref(b);
    }
    g_rand_free(rand);
    return offs;
}

static void test_truncation(gconstpointer data)
{
    const Stream *s = data;
    GArray *ends = clean_ends(s);
    GArray *offs = offsets_to_try(s, 8192, s->len > 8u * 1024 * 1024 ? 20 : 300);

    for (guint i = 0; i < offs->len; i++) {
        check_truncated(s, ends, g_array_index(offs, uint64_t, i));
    }
    g_test_message("%s: %u cut points", s->path, offs->len);
    g_array_unref(offs);
    g_array_unref(ends);
}

static void test_corruption(gconstpointer data)
{
    const Stream *s = data;
    /* each try decodes the whole stream: fewer of them on long streams */
    GArray *offs = offsets_to_try(s, 1024, s->len > 8u * 1024 * 1024 ? 10 : 100);
    uint8_t *copy = g_memdup2(s->data, s->len);
    const uint8_t flips[] = { 0xff, 0x01, 0x80 };
    guint failed = 0, tried = 0;

    for (guint i = 0; i < offs->len; i++) {
        uint64_t at = g_array_index(offs, uint64_t, i);

        if (at >= s->len) {
            continue;
        }
        for (guint f = 0; f < (s->len <= SMALL_STREAM ? G_N_ELEMENTS(flips) : 1); f++) {
            DecodeResult r;

            copy[at] ^= flips[f];
            r = decode_buffer_flags(s->channel, copy, s->len, 0, 0);
            copy[at] ^= flips[f];
            tried++;
            if (r.error) {
                failed++;
                g_assert_cmpuint(r.error_offset, <=, s->len);
                g_assert_nonnull(strstr(r.error->message, "offset "));
            }
            decode_result_clear(&r);
        }
    }
    /* Page payloads may take any value; framing bytes may not. */
    g_test_message("%s: %u corruptions, %u detected", s->path, tried, failed);
    g_assert_cmpuint(failed, >, 0);
    g_free(copy);
    g_array_unref(offs);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    if (argc < 2) {
        g_printerr("usage: test-streams CHANNEL:PATH...\n");
        return 77;
    }
    for (int i = 1; i < argc; i++) {
        Stream *s = g_new0(Stream, 1);
        char *colon = strchr(argv[i], ':');
        g_autoptr(GError) err = NULL;
        g_autofree char *base = NULL;
        gsize len;

        g_assert_nonnull(colon);
        *colon = 0;
        s->channel = parse_channel(argv[i]);
        s->path = g_strdup(colon + 1);
        if (!g_file_get_contents(s->path, (char **)&s->data, &len, &err)) {
            g_printerr("%s\n", err->message);
            return 1;
        }
        s->len = len;
        base = g_path_get_basename(s->path);
#define ADD(kind, fn) do { \
            g_autofree char *name = g_strdup_printf("/streams/%s/" kind, base); \
            g_test_add_data_func(name, s, fn); \
        } while (0)
        ADD("clean", test_clean);
        ADD("chunks", test_chunks);
        ADD("truncation", test_truncation);
        ADD("corruption", test_corruption);
#undef ADD
    }
    return g_test_run();
}
