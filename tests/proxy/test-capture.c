/*
 * test-capture.c - the capture writer (proxy/capture.c) and reader
 * (capture/capture-format.c) on made-up records: page payloads become
 * holes with the right hashes, a file cut at every length reads up to the
 * cut with the byte offset, oversized and corrupt records are refused,
 * and a writer whose disk does not keep up drops and counts records
 * instead of blocking.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include "capture.h"
#include "chunkbuf.h"

static char *tmpdir;

static GBytes *read_all(const char *path)
{
    char *data;
    gsize len;

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    return g_bytes_new_take(data, len);
}

/* Every record of @b; asserts the file reads to a clean end. */
static GPtrArray *records_of(GBytes *b)
{
    GPtrArray *recs = g_ptr_array_new();
    MpCaptureReader r;
    GError *err = NULL;
    gsize len;
    const guint8 *p = g_bytes_get_data(b, &len);
    Migcap__Record *rec;
    int rc;

    g_assert_true(mp_capture_reader_init(&r, p, len, &err));
    while ((rc = mp_capture_reader_next(&r, &rec, &err)) == 1) {
        g_ptr_array_add(recs, rec);
    }
    g_assert_no_error(err);
    g_assert_cmpint(rc, ==, 0);
    return recs;
}

static void free_records(GPtrArray *recs)
{
    for (guint i = 0; i < recs->len; i++) {
        migcap__record__free_unpacked(recs->pdata[i], NULL);
    }
    g_ptr_array_unref(recs);
}

static void page_event(MpCaptureLeg *leg, guint64 offset, guint32 payload)
{
    MigEvent ev = { .type = MIG_EV_RAM_PAGE, .offset = offset, .end = offset + 8 + payload,
                    .certain = true };

    ev.u.page.kind = MIG_PAGE_NORMAL;
    ev.u.page.block = "pc.ram";
    ev.u.page.payload_length = payload;
    mp_capture_event(leg, &ev);
}

/*
 * A stream of two page records (8-byte header + 64-byte payload each),
 * read as chunks of 40, 60 and 44 bytes: the second payload is split.
 */
static char *write_pages(MpCapturePages mode, guint8 stream[144])
{
    char *path = g_build_filename(tmpdir, mode == MP_CAPTURE_PAGES_FULL ? "full.cap"
                                                                         : "hash.cap", NULL);
    GError *err = NULL;
    MpCapture *cap = mp_capture_open(path, mode, 0, &err);
    MpCaptureLeg *leg;

    g_assert_no_error(err);
    for (int i = 0; i < 144; i++) {
        stream[i] = (guint8)(i * 7 + 3);
    }
    leg = mp_capture_leg_new(cap, 1, 0, true);
    page_event(leg, 0, 64);             /* the decoder reports it at its header */
    mp_capture_chunk(leg, stream, 40);
    page_event(leg, 72, 64);
    mp_capture_chunk(leg, stream + 40, 60);
    mp_capture_chunk(leg, stream + 100, 44);
    mp_capture_leg_end(leg);
    mp_capture_leg_free(leg);
    mp_capture_close(cap);
    return path;
}

static void test_holes(void)
{
    guint8 stream[144];
    g_autofree char *path = write_pages(MP_CAPTURE_PAGES_HASH, stream);
    g_autoptr(GBytes) b = read_all(path);
    GPtrArray *recs = records_of(b);
    /* expected holes: [8,40) [40,72) in the chunks 1 and 2, [80,100) [100,144) */
    static const guint64 starts[] = { 8, 40, 80, 100 }, ends[] = { 40, 72, 100, 144 };
    guint hole = 0, chunks = 0;
    g_autoptr(GByteArray) kept = g_byte_array_new();

    g_assert_cmpuint(recs->len, ==, 5);  /* start, 3 chunks, end */
    g_assert_cmpint(((Migcap__Record *)recs->pdata[0])->body_case, ==,
                    MIGCAP__RECORD__BODY_START);
    for (guint i = 0; i < recs->len; i++) {
        Migcap__Record *r = recs->pdata[i];

        if (r->body_case != MIGCAP__RECORD__BODY_CHUNK) {
            continue;
        }
        chunks++;
        g_assert_true(r->has_t_ns);
        g_byte_array_append(kept, r->chunk->data.data, (guint)r->chunk->data.len);
        for (size_t h = 0; h < r->chunk->n_holes; h++, hole++) {
            Migcap__Hole *x = r->chunk->holes[h];

            g_assert_cmpuint(hole, <, 4);
            g_assert_cmpuint(x->offset, ==, starts[hole]);
            g_assert_cmpuint(x->length, ==, ends[hole] - starts[hole]);
            g_assert_true(x->has_hash);
            g_assert_cmpuint(x->hash, ==, mp_capture_hash(stream + starts[hole],
                                                           ends[hole] - starts[hole]));
        }
    }
    g_assert_cmpuint(chunks, ==, 3);
    g_assert_cmpuint(hole, ==, 4);
    /* what is kept is exactly the two headers */
    g_assert_cmpuint(kept->len, ==, 16);
    g_assert_cmpmem(kept->data, 8, stream, 8);
    g_assert_cmpmem(kept->data + 8, 8, stream + 72, 8);
    g_assert_cmpuint(((Migcap__Record *)recs->pdata[4])->chunk_end->length, ==, 144);
    free_records(recs);
}

static void test_full(void)
{
    guint8 stream[144];
    g_autofree char *path = write_pages(MP_CAPTURE_PAGES_FULL, stream);
    g_autoptr(GBytes) b = read_all(path);
    GPtrArray *recs = records_of(b);
    g_autoptr(GByteArray) all = g_byte_array_new();

    for (guint i = 0; i < recs->len; i++) {
        Migcap__Record *r = recs->pdata[i];

        if (r->body_case == MIGCAP__RECORD__BODY_CHUNK) {
            g_assert_cmpuint(r->chunk->n_holes, ==, 0);
            g_assert_cmpuint(r->chunk->offset, ==, all->len);
            g_byte_array_append(all, r->chunk->data.data, (guint)r->chunk->data.len);
        }
    }
    g_assert_cmpmem(all->data, all->len, stream, sizeof(stream));
    free_records(recs);
}

/* The file system under @dir takes O_DIRECT writes. */
static bool direct_io_works(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "direct-probe", NULL);
    void *block = g_aligned_alloc0(1, 4096, 4096);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0600);
    bool works = fd >= 0 && pwrite(fd, block, 4096, 0) == 4096;

    if (fd >= 0) {
        close(fd);
    }
    g_unlink(path);
    g_aligned_free(block);
    return works;
}

/* File offset where the data of the first chunk of @length bytes starts. */
static gsize chunk_data_offset(GBytes *file, gsize length)
{
    gsize len;
    const guint8 *p = g_bytes_get_data(file, &len);
    gsize at = MP_CAPTURE_HEADER_LEN;

    while (at + MP_CAPTURE_FRAME_LEN <= len) {
        guint32 n = (guint32)p[at] << 24 | (guint32)p[at + 1] << 16 | (guint32)p[at + 2] << 8 |
                    p[at + 3];
        Migcap__Record *r = migcap__record__unpack(NULL, n, p + at + MP_CAPTURE_FRAME_LEN);
        bool found;

        g_assert_nonnull(r);
        found = r->body_case == MIGCAP__RECORD__BODY_CHUNK && r->chunk->length == length;
        migcap__record__free_unpacked(r, NULL);
        at += MP_CAPTURE_FRAME_LEN + n;
        if (found) {
            return at - length;    /* data is a chunk's last field */
        }
    }
    g_assert_not_reached();
}

/*
 * Chunks read into chunk buffers, kept whole (no page payloads in them):
 * in every mode the capture keeps them by reference and frames them in
 * place, and on a file system with direct I/O a chunk of a block or more
 * has its data on a block boundary of the file; every byte reads back,
 * and every reference is given back once the file is closed.
 */
static void test_chunk_buffers(void)
{
    static const gsize sizes[] = { 1, 1000, 127, MP_CHUNK_SIZE };
    static const guint8 data_head[] = { 5 << 3 | 2, 0xe8, 0x07 };
    const MpCapturePages modes[] = { MP_CAPTURE_PAGES_FULL, MP_CAPTURE_PAGES_NONE };

    for (guint m = 0; m < G_N_ELEMENTS(modes); m++) {
        g_autofree char *path = g_build_filename(tmpdir, "in-place.cap", NULL);
        g_autoptr(GByteArray) sent = g_byte_array_new();
        g_autoptr(GByteArray) got = g_byte_array_new();
        guint8 *bufs[G_N_ELEMENTS(sizes)];
        GError *err = NULL;
        MpCapture *cap = mp_capture_open(path, modes[m], 0, &err);
        MpCaptureLeg *leg;
        GPtrArray *recs;
        GBytes *b;
        guint chunks = 0;

        g_assert_no_error(err);
        leg = mp_capture_leg_new(cap, 7, 2, false);
        for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
            bufs[i] = mp_chunk_buf_new();
            for (gsize j = 0; j < sizes[i]; j++) {
                bufs[i][j] = (guint8)g_test_rand_int();
            }
            g_byte_array_append(sent, bufs[i], (guint)sizes[i]);
            mp_capture_chunk_buf(leg, bufs[i], sizes[i]);
        }
        mp_capture_leg_end(leg);
        mp_capture_leg_free(leg);
        mp_capture_close(cap);
        /* framed in place: Chunk.data's tag and length (1000) right before it */
        g_assert_cmpmem(bufs[1] - 3, 3, data_head, 3);
        for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
            g_assert_false(mp_chunk_buf_shared(bufs[i]));
            mp_chunk_buf_unref(bufs[i]);
        }
        b = read_all(path);
        recs = records_of(b);
        for (guint i = 0; i < recs->len; i++) {
            Migcap__Record *r = recs->pdata[i];

            if (r->body_case != MIGCAP__RECORD__BODY_CHUNK) {
                continue;
            }
            g_assert_cmpuint(r->session, ==, 7);
            g_assert_true(r->has_t_ns);
            g_assert_cmpuint(r->chunk->channel, ==, 2);
            g_assert_cmpint(r->chunk->direction, ==, MIGCAP__DIRECTION__DOWN);
            g_assert_cmpuint(r->chunk->offset, ==, got->len);
            g_assert_cmpuint(r->chunk->length, ==, sizes[chunks]);
            g_assert_cmpuint(r->chunk->n_holes, ==, 0);
            g_byte_array_append(got, r->chunk->data.data, (guint)r->chunk->data.len);
            chunks++;
        }
        g_assert_cmpuint(chunks, ==, G_N_ELEMENTS(sizes));
        g_assert_cmpmem(got->data, got->len, sent->data, sent->len);
        if (direct_io_works(tmpdir)) {
            g_assert_cmpuint(chunk_data_offset(b, MP_CHUNK_SIZE) % 4096, ==, 0);
        } else {
            g_test_message("no direct I/O in %s: chunk data alignment not checked", tmpdir);
        }
        free_records(recs);
        g_bytes_unref(b);
    }
}

/*
 * The test's link wraps pwritev (meson.build): a direct write can be made
 * to fail with EINVAL once, after a number of them went through, as a
 * file system that takes direct writes only sometimes would.
 */
ssize_t __real_pwritev(int fd, const struct iovec *iov, int n, off_t at);
ssize_t __real_pwritev64(int fd, const struct iovec *iov, int n, off_t at);
ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int n, off_t at);
ssize_t __wrap_pwritev64(int fd, const struct iovec *iov, int n, off_t at);

static int direct_writes_before_einval = -1;   /* -1: never */
static guint direct_einvals;

static bool refuse_this_direct_write(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || !(flags & O_DIRECT) || direct_writes_before_einval < 0) {
        return false;
    }
    if (direct_writes_before_einval-- > 0) {
        return false;
    }
    direct_einvals++;
    errno = EINVAL;
    return true;
}

ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int n, off_t at)
{
    return refuse_this_direct_write(fd) ? -1 : __real_pwritev(fd, iov, n, at);
}

ssize_t __wrap_pwritev64(int fd, const struct iovec *iov, int n, off_t at)
{
    return refuse_this_direct_write(fd) ? -1 : __real_pwritev64(fd, iov, n, at);
}

/*
 * Direct writes refused after some went through: what was gathered for
 * the refused write, chunk data written from the proxy's buffers among
 * it, goes through the ordinary descriptor, and the file reads back
 * byte for byte.
 */
static void test_direct_refused_later(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "refused-later.cap", NULL);
    g_autoptr(GByteArray) sent = g_byte_array_new();
    g_autoptr(GByteArray) got = g_byte_array_new();
    GError *err = NULL;
    MpCapture *cap;
    MpCaptureLeg *leg;
    GPtrArray *recs;
    GBytes *b;

    if (!direct_io_works(tmpdir)) {
        g_test_skip("no direct I/O here");
        return;
    }
    cap = mp_capture_open(path, MP_CAPTURE_PAGES_FULL, 0, &err);
    g_assert_no_error(err);
    leg = mp_capture_leg_new(cap, 1, 0, true);
    direct_writes_before_einval = 1;
    direct_einvals = 0;
    /* 24 chunks of 300,001 bytes: the first gathered write (4 MiB) goes
     * through, the second (the rest, at the end) is refused */
    for (guint i = 0; i < 24; i++) {
        guint8 *buf = mp_chunk_buf_new();

        for (gsize j = 0; j < 300001; j++) {
            buf[j] = (guint8)g_test_rand_int();
        }
        g_byte_array_append(sent, buf, 300001);
        mp_capture_chunk_buf(leg, buf, 300001);
        mp_chunk_buf_unref(buf);
    }
    mp_capture_leg_end(leg);
    mp_capture_leg_free(leg);
    g_assert_cmpuint(mp_capture_dropped(cap), ==, 0);
    mp_capture_close(cap);
    direct_writes_before_einval = -1;
    g_assert_cmpuint(direct_einvals, ==, 1);
    b = read_all(path);
    recs = records_of(b);
    for (guint i = 0; i < recs->len; i++) {
        Migcap__Record *r = recs->pdata[i];

        if (r->body_case == MIGCAP__RECORD__BODY_CHUNK) {
            g_assert_cmpuint(r->chunk->offset, ==, got->len);
            g_byte_array_append(got, r->chunk->data.data, (guint)r->chunk->data.len);
        }
    }
    g_assert_cmpmem(got->data, got->len, sent->data, sent->len);
    free_records(recs);
    g_bytes_unref(b);
}

/* Cut at every length: whole records read, then TRUNCATED at the frame. */
static void test_cut_everywhere(void)
{
    guint8 stream[144];
    g_autofree char *path = write_pages(MP_CAPTURE_PAGES_HASH, stream);
    g_autoptr(GBytes) b = read_all(path);
    gsize len;
    const guint8 *p = g_bytes_get_data(b, &len);
    g_autoptr(GArray) bounds = g_array_new(FALSE, FALSE, sizeof(gsize));
    gsize at = MP_CAPTURE_HEADER_LEN;

    while (at < len) {
        g_array_append_val(bounds, at);
        at += MP_CAPTURE_FRAME_LEN + GUINT32_FROM_BE(*(const guint32 *)(p + at));
    }
    g_assert_cmpuint(at, ==, len);
    for (gsize cut = 0; cut <= len; cut++) {
        /* a copy of exactly @cut bytes, so that ASan sees any read past it */
        g_autofree guint8 *copy = g_memdup2(p, cut ? cut : 1);
        MpCaptureReader r;
        g_autoptr(GError) err = NULL;
        Migcap__Record *rec;
        guint n = 0, whole = 0;
        int rc;

        if (!mp_capture_reader_init(&r, copy, cut, &err)) {
            g_assert_cmpuint(cut, <, MP_CAPTURE_HEADER_LEN);
            continue;
        }
        while ((rc = mp_capture_reader_next(&r, &rec, &err)) == 1) {
            migcap__record__free_unpacked(rec, NULL);
            n++;
        }
        for (guint i = 0; i < bounds->len; i++) {
            gsize s = g_array_index(bounds, gsize, i);
            gsize e = i + 1 < bounds->len ? g_array_index(bounds, gsize, i + 1) : len;

            whole += e <= cut;
            if (s < cut && cut < e) {
                g_autofree char *want = g_strdup_printf("at byte %zu: capture cut short", s);

                g_assert_cmpint(rc, ==, -1);
                g_assert_error(err, MP_CAPTURE_ERROR, MP_CAPTURE_ERROR_TRUNCATED);
                g_assert_true(g_str_has_prefix(err->message, want));
            }
        }
        g_assert_cmpuint(n, ==, whole);
        if (rc == 0) {
            g_assert_no_error(err);
        }
    }
}

/* Every bit of the input counts: lanes, tail words and tail bytes. */
static void test_hash_bits(void)
{
    guint8 buf[77];

    /* XXH3-64, seed 0, as xxhsum -H3 prints it: "" and "abc" */
    g_assert_cmphex(mp_capture_hash((const guint8 *)"", 0), ==, G_GUINT64_CONSTANT(0x2d06800538d394c2));
    g_assert_cmphex(mp_capture_hash((const guint8 *)"abc", 3), ==, G_GUINT64_CONSTANT(0x78af5f94892f3950));

    for (guint i = 0; i < sizeof(buf); i++) {
        buf[i] = (guint8)(i * 13);
    }
    for (gsize len = 0; len <= sizeof(buf); len++) {
        guint64 h = mp_capture_hash(buf, len);

        if (len < sizeof(buf)) {
            g_assert_cmpuint(h, !=, mp_capture_hash(buf, len + 1));
        }
        for (gsize i = 0; i < len * 8; i++) {
            buf[i / 8] ^= (guint8)(1u << (i % 8));
            g_assert_cmpuint(mp_capture_hash(buf, len), !=, h);
            buf[i / 8] ^= (guint8)(1u << (i % 8));
        }
    }
}

static void test_refused(void)
{
    guint8 buf[64] = { 0 };
    MpCaptureReader r;
    Migcap__Record *rec;
    g_autoptr(GError) e1 = NULL;
    g_autoptr(GError) e2 = NULL;
    g_autoptr(GError) e3 = NULL;
    g_autoptr(GError) e4 = NULL;
    guint32 n;

    g_assert_false(mp_capture_reader_init(&r, buf, sizeof(buf), &e1));
    g_assert_error(e1, MP_CAPTURE_ERROR, MP_CAPTURE_ERROR_NOT_CAPTURE);
    mp_capture_header(buf);
    buf[MP_CAPTURE_MAGIC_LEN + 3] = 9;
    g_assert_false(mp_capture_reader_init(&r, buf, sizeof(buf), &e2));
    g_assert_error(e2, MP_CAPTURE_ERROR, MP_CAPTURE_ERROR_VERSION);
    mp_capture_header(buf);
    /* a length over the limit: refused before anything is read */
    n = GUINT32_TO_BE(MP_CAPTURE_LIMIT_RECORD + 1);
    memcpy(buf + MP_CAPTURE_HEADER_LEN, &n, 4);
    g_assert_true(mp_capture_reader_init(&r, buf, sizeof(buf), NULL));
    g_assert_cmpint(mp_capture_reader_next(&r, &rec, &e3), ==, -1);
    g_assert_error(e3, MP_CAPTURE_ERROR, MP_CAPTURE_ERROR_LIMIT);
    g_assert_true(g_str_has_prefix(e3->message, "at byte 12:"));
    /* a record that is not protobuf: field 1 as a length-delimited run past its end */
    n = GUINT32_TO_BE(3);
    memcpy(buf + MP_CAPTURE_HEADER_LEN, &n, 4);
    memcpy(buf + MP_CAPTURE_HEADER_LEN + 4, "\x0a\x7f\x00", 3);
    g_assert_true(mp_capture_reader_init(&r, buf, MP_CAPTURE_HEADER_LEN + 7, NULL));
    g_assert_cmpint(mp_capture_reader_next(&r, &rec, &e4), ==, -1);
    g_assert_error(e4, MP_CAPTURE_ERROR, MP_CAPTURE_ERROR_CORRUPT);
}

/*
 * A 4 KiB cap: the file is renamed .1 and a new one started; both are
 * whole captures under the cap, numbered, and the chunks go on across them.
 */
static void test_rotation(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "rot.cap", NULL);
    g_autofree char *old = g_build_filename(tmpdir, "rot.cap.1", NULL);
    guint8 data[1000];
    GError *err = NULL;
    MpCapture *cap = mp_capture_open(path, MP_CAPTURE_PAGES_FULL, 4096, &err);
    MpCaptureLeg *leg;
    const char *files[] = { old, path };
    guint64 next = 0;
    guint32 parts[2] = { 0 };

    g_assert_no_error(err);
    memset(data, 0x5a, sizeof(data));
    leg = mp_capture_leg_new(cap, 1, 0, true);
    for (int i = 0; i < 40; i++) {
        mp_capture_chunk(leg, data, sizeof(data));
    }
    mp_capture_leg_free(leg);
    mp_capture_close(cap);
    for (int f = 0; f < 2; f++) {
        g_autoptr(GBytes) b = read_all(files[f]);
        GPtrArray *recs = records_of(b);
        Migcap__Record *first = recs->pdata[0];

        g_assert_cmpuint(g_bytes_get_size(b), <=, 4096);
        g_assert_cmpint(first->body_case, ==, MIGCAP__RECORD__BODY_START);
        g_assert_true(first->start->has_part);
        parts[f] = first->start->part;
        for (guint i = 1; i < recs->len; i++) {
            Migcap__Record *r = recs->pdata[i];

            g_assert_cmpint(r->body_case, ==, MIGCAP__RECORD__BODY_CHUNK);
            if (next) {
                g_assert_cmpuint(r->chunk->offset, ==, next);
            }
            next = r->chunk->offset + r->chunk->length;
        }
        free_records(recs);
    }
    g_assert_cmpuint(parts[0], >=, 1);
    g_assert_cmpuint(parts[1], ==, parts[0] + 1);
    g_assert_cmpuint(next, ==, 40 * sizeof(data));
    g_unlink(old);
    g_unlink(path);
}

typedef struct {
    int fd;
    GByteArray *got;
} Drain;

static gpointer drain_thread(gpointer data)
{
    Drain *d = data;
    guint8 buf[65536];
    ssize_t n;

    while ((n = read(d->fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            g_usleep(1000);
            continue;
        }
        g_assert_cmpint(n, >, 0);
        g_byte_array_append(d->got, buf, (guint)n);
    }
    return NULL;
}

/*
 * The "disk" is a pipe nobody reads yet: the writer thread blocks on it
 * after 64 KiB, the queue fills, and from then on records are dropped and
 * counted while mp_capture_chunk() keeps returning.  Once the pipe is
 * drained, the next record is preceded by a Dropped record with the count.
 */
static void test_slow_disk_drops(void)
{
    g_autofree char *fifo = g_build_filename(tmpdir, "slow.fifo", NULL);
    g_autofree guint8 *chunk = g_malloc0((512u * 1024u));
    GError *err = NULL;
    MpCapture *cap;
    MpCaptureLeg *leg;
    Drain d = { .got = g_byte_array_new() };
    GThread *t;
    GPtrArray *recs;
    guint64 dropped, seen_dropped = 0, next_offset = 0;
    guint n_chunks = 0;
    GBytes *b;

    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    d.fd = open(fifo, O_RDONLY | O_NONBLOCK);
    g_assert_cmpint(d.fd, >=, 0);
    cap = mp_capture_open(fifo, MP_CAPTURE_PAGES_FULL, 0, &err);
    g_assert_no_error(err);
    leg = mp_capture_leg_new(cap, 1, 0, true);
    /* 96 MiB for a 64 MiB queue, the writer's staging, the record in its
     * hands and a 64 KiB pipe */
    for (guint i = 0; i < 96 * 1024 * 1024 / (512u * 1024u); i++) {
        mp_capture_chunk(leg, chunk, (512u * 1024u));
    }
    dropped = mp_capture_dropped(cap);
    g_assert_cmpuint(dropped, >=, (96 * 1024 * 1024 - MP_CAPTURE_QUEUE_LIMIT - MP_CAPTURE_STAGING -
                                   2 * 512u * 1024u) / (512u * 1024u));
    t = g_thread_new("drain", drain_thread, &d);
    /* bounded: until a record is queued again (the queue has drained) */
    for (guint i = 0; i < 1000; i++) {
        guint64 before = mp_capture_dropped(cap);

        mp_capture_chunk(leg, chunk, 16);
        if (mp_capture_dropped(cap) == before) {
            break;
        }
        g_usleep(10000);
    }
    dropped = mp_capture_dropped(cap);
    mp_capture_leg_free(leg);
    mp_capture_close(cap);
    g_thread_join(t);
    close(d.fd);
    b = g_byte_array_free_to_bytes(d.got);
    recs = records_of(b);
    for (guint i = 0; i < recs->len; i++) {
        Migcap__Record *r = recs->pdata[i];

        if (r->body_case == MIGCAP__RECORD__BODY_DROPPED) {
            seen_dropped += r->dropped->records;
        } else if (r->body_case == MIGCAP__RECORD__BODY_CHUNK) {
            /* a gap in the offsets exactly where records were dropped */
            g_assert_true(r->chunk->offset == next_offset || seen_dropped > 0);
            next_offset = r->chunk->offset + r->chunk->length;
            n_chunks++;
        }
    }
    g_assert_cmpuint(seen_dropped, ==, dropped);
    g_assert_cmpuint(n_chunks, >, 0);
    g_test_message("%u chunks written, %" G_GUINT64_FORMAT " dropped", n_chunks, dropped);
    free_records(recs);
    g_bytes_unref(b);
}

int main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("test-capture-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);
    g_test_add_func("/capture/hash-holes", test_holes);
    g_test_add_func("/capture/full", test_full);
    g_test_add_func("/capture/chunk-buffers", test_chunk_buffers);
    g_test_add_func("/capture/direct-refused-later", test_direct_refused_later);
    g_test_add_func("/capture/cut-everywhere", test_cut_everywhere);
    g_test_add_func("/capture/refused", test_refused);
    g_test_add_func("/capture/hash-bits", test_hash_bits);
    g_test_add_func("/capture/slow-disk-drops", test_slow_disk_drops);
    g_test_add_func("/capture/rotation", test_rotation);
    rc = g_test_run();
    {
        const char *names[] = { "full.cap", "hash.cap", "slow.fifo" };

        for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
            g_autofree char *p = g_build_filename(tmpdir, names[i], NULL);

            g_unlink(p);
        }
        g_rmdir(tmpdir);
    }
    g_free(tmpdir);
    return rc;
}
