/*
 * capture.c - the capture writer behind migproxy --capture (capture.h).
 * Records are packed on the main loop and handed to one writer thread
 * through a queue bounded in bytes; a full queue drops the record and
 * counts it, and the next record that fits is preceded by a Dropped record,
 * so a reader knows where the gap is.
 *
 * The writer bypasses the page cache (O_DIRECT) where the filesystem
 * allows it: a full capture writes as many bytes as the migration moves,
 * and copying them into the page cache cost more CPU than forwarding them
 * (2.55 s of system time per GB buffered against 0.17 s direct, dd with
 * 4 MiB blocks on this project's test machines).  Direct writes must be
 * whole aligned blocks, so records are staged in an aligned buffer; the
 * part of a block not yet full is written through an ordinary descriptor
 * whenever the queue runs dry, so the file is never far behind the stream,
 * and is written again, direct, once its block fills.  A chunk kept whole
 * (every chunk of a full capture) is neither copied on the main loop nor
 * staged: the record is built around the proxy's own buffer (chunkbuf.h),
 * and the writer writes the data from there, padded onto a block of the
 * file (frame_append).
 */
#include "capture.h"
#include "chunkbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* direct writes: offsets and lengths are multiples of this */
#define CAPTURE_BLOCK      4096u
/* a partial block waits this long for more records before it is written */
#define CAPTURE_TAIL_US    (20 * G_TIME_SPAN_MILLISECOND)
/*
 * The writer is woken once per batch, not per record: when the queue
 * turns non-empty, then when it holds CAPTURE_WAKE_BYTES; it lets a batch
 * gather for CAPTURE_BATCH_US.  Waking it for each of a migration's
 * thousands of chunks cost the main loop a futex call and the machine a
 * context switch per chunk.
 */
#define CAPTURE_WAKE_BYTES (1024u * 1024u)
#define CAPTURE_BATCH_US   (10 * G_TIME_SPAN_MILLISECOND)
/* direct writes gathered into one, at most: segments (two per chunk) */
#define CAPTURE_BATCH_IOV  32u

struct MpCapture {
    int fd;                     /* ordinary writes: fallback and partial blocks */
    int direct_fd;              /* O_DIRECT on the same file, or -1 */
    /* writer thread only */
    guint8 *staging;            /* MP_CAPTURE_STAGING, aligned */
    gsize staged;               /* bytes in staging */
    guint64 staged_at;          /* file offset of the first byte not yet written direct */
    /*
     * Direct writes gathered into one pwritev, in file order before the
     * staging's open part staging[open..staged): whole blocks of staging
     * and chunk data written from where it lies (held in batch_bytes).
     * Writes of 4 MiB keep a virtual disk twice as busy as one per chunk.
     */
    struct iovec batch[CAPTURE_BATCH_IOV];
    guint n_batch;
    gsize batched;              /* bytes in batch */
    gsize open;                 /* block-aligned; staging before it is in batch */
    GPtrArray *batch_bytes;     /* GBytes */
    bool tail_pending;          /* staged bytes not yet in the file */
    bool seekable;              /* a regular file: offsets, direct writes */
    char *path;
    MpCapturePages pages;
    guint64 max_size;           /* 0: no cap */
    guint64 file_bytes;         /* written to the current file (writer thread) */
    guint32 part;
    GThread *thread;
    GMutex lock;
    GCond cond;
    GQueue queue;               /* Frame */
    gsize queued;               /* bytes in the queue */
    gint64 batch_start_us;      /* when the queue last turned non-empty */
    bool closing;
    bool failed;                /* a write failed: everything after is dropped */
    guint64 dropped, dropped_bytes;
    guint64 gap, gap_bytes;     /* dropped since the last Dropped record */
    /* main loop only */
    GPtrArray *watches;         /* Watch *: sockets sampled for TCP_INFO */
    GPtrArray *tcp_last;        /* Watch *: last figures, until the session ends */
    guint tcp_timer;
};

typedef struct {
    guint session, channel;
    const char *side;           /* "source", "destination" */
    GSocket *sock;              /* NULL once closed (in tcp_last) */
    guint samples;
    guint32 rtt_max_us, rtt_us, total_retrans;
    guint64 busy_us, rwnd_limited_us, sndbuf_limited_us;
} Watch;

typedef struct {
    guint64 start, end;         /* stream offsets of a page payload */
} Hole;

/* A queued record. */
typedef struct {
    GBytes *bytes;              /* length and record */
    /*
     * 0, or where a chunk's data starts in @bytes when it lies on an
     * MP_CHUNK_ALIGN boundary in memory (a chunk buffer framed in place)
     */
    gsize data_at;
} Frame;

struct MpCaptureLeg {
    MpCapture *cap;
    guint session, channel;
    bool up;
    guint64 offset;             /* stream offset of the next byte read */
    GArray *holes;              /* Hole, stream order, not yet recorded */
    /* a chunk's record with holes, reused: bytes kept, holes, pointers */
    GByteArray *kept;
    GArray *out_holes;          /* Migcap__Hole */
    GPtrArray *hole_ptrs;
};

static guint64 now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (guint64)ts.tv_sec * 1000000000u + (guint64)ts.tv_nsec;
}

bool mp_capture_pages_parse(const char *text, MpCapturePages *out)
{
    static const char *const names[] = { "full", "hash", "none" };

    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = (MpCapturePages)i;
            return true;
        }
    }
    return false;
}

/*
 * A record with its length in front.  Chunk-sized ones are not packed
 * here but framed in the proxy's own buffer (chunk_push_in_place).
 */
static GBytes *pack(const Migcap__Record *rec)
{
    size_t n = migcap__record__get_packed_size(rec), total = MP_CAPTURE_FRAME_LEN + n;
    guint8 *buf;
    guint32 be;

    if (n > MP_CAPTURE_LIMIT_RECORD) {
        return NULL;
    }
    buf = g_malloc(total);
    be = GUINT32_TO_BE((guint32)n);
    memcpy(buf, &be, 4);
    migcap__record__pack(rec, buf + MP_CAPTURE_FRAME_LEN);
    return g_bytes_new_take(buf, total);
}

static Frame *frame_new(GBytes *bytes, gsize data_at)
{
    Frame *f = g_new(Frame, 1);

    f->bytes = bytes;
    f->data_at = data_at;
    return f;
}

static void frame_free(Frame *f)
{
    g_bytes_unref(f->bytes);
    g_free(f);
}

/*
 * Queue @frame (NULL: a record too large to pack), whose record is stamped
 * @t_ns, unless the queue is full; never waits.  @data_at: as in Frame.
 */
static void push_frame(MpCapture *cap, GBytes *frame, gsize data_at, guint64 t_ns)
{
    GBytes *gap_frame = NULL;
    gsize len = frame ? g_bytes_get_size(frame) : 0;
    bool was_empty;

    g_mutex_lock(&cap->lock);
    if (!frame || cap->failed || cap->closing || cap->queued + len > MP_CAPTURE_QUEUE_LIMIT) {
        cap->dropped++;
        cap->gap++;
        cap->dropped_bytes += len;
        cap->gap_bytes += len;
        g_mutex_unlock(&cap->lock);
        if (frame) {
            g_bytes_unref(frame);
        }
        return;
    }
    was_empty = !cap->queue.length;
    if (cap->gap) {
        Migcap__Record r = MIGCAP__RECORD__INIT;
        Migcap__Dropped d = MIGCAP__DROPPED__INIT;

        d.has_records = d.has_bytes = true;
        d.records = cap->gap;
        d.bytes = cap->gap_bytes;
        r.body_case = MIGCAP__RECORD__BODY_DROPPED;
        r.dropped = &d;
        r.has_t_ns = true;
        r.t_ns = t_ns;
        gap_frame = pack(&r);
        cap->gap = cap->gap_bytes = 0;
        /* small, and it must not be lost: allowed over the limit */
        cap->queued += g_bytes_get_size(gap_frame);
        g_queue_push_tail(&cap->queue, frame_new(gap_frame, 0));
    }
    cap->queued += len;
    g_queue_push_tail(&cap->queue, frame_new(frame, data_at));
    if (was_empty) {
        cap->batch_start_us = g_get_monotonic_time();
    }
    if (was_empty || (cap->queued >= CAPTURE_WAKE_BYTES && cap->queued - len < CAPTURE_WAKE_BYTES)) {
        g_cond_signal(&cap->cond);
    }
    g_mutex_unlock(&cap->lock);
}

/* Queue @rec, timestamped now, unless the queue is full; never waits. */
static void push(MpCapture *cap, Migcap__Record *rec)
{
    rec->has_t_ns = true;
    rec->t_ns = now_ns();
    push_frame(cap, pack(rec), 0, rec->t_ns);
}

/* The header and the FileStart record that open a file. */
static GBytes *file_start(MpCapture *cap)
{
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__FileStart st = MIGCAP__FILE_START__INIT;
    g_autofree char *tool = g_strdup_printf("migproxy %s", MP_VERSION);
    g_autoptr(GBytes) rec = NULL;
    GByteArray *out = g_byte_array_new();
    guint8 header[MP_CAPTURE_HEADER_LEN];

    st.has_pages = true;
    st.pages = (Migcap__PagesMode)cap->pages;
    st.tool = tool;
    st.has_realtime_us = st.has_start_ns = st.has_part = true;
    st.realtime_us = g_get_real_time();
    st.start_ns = now_ns();
    st.part = cap->part;
    if (cap->pages == MP_CAPTURE_PAGES_HASH) {
        st.page_hash = (char *)MP_CAPTURE_PAGE_HASH;
    }
    r.body_case = MIGCAP__RECORD__BODY_START;
    r.start = &st;
    r.has_t_ns = true;
    r.t_ns = st.start_ns;
    rec = pack(&r);
    mp_capture_header(header);
    g_byte_array_append(out, header, sizeof(header));
    g_byte_array_append(out, g_bytes_get_data(rec, NULL), (guint)g_bytes_get_size(rec));
    return g_byte_array_free_to_bytes(out);
}

static bool write_all(int fd, const guint8 *p, gsize n)
{
    while (n) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return false;
        }
        p += w;
        n -= (gsize)w;
    }
    return true;
}

/* pwritev() until all of @iov (@n entries, changed on the way) is written. */
static bool pwritev_all(int fd, struct iovec *iov, int n, guint64 at)
{
    for (;;) {
        ssize_t w;

        while (n && iov->iov_len == 0) {
            iov++;
            n--;
        }
        if (!n) {
            return true;
        }
        w = pwritev(fd, iov, n, (off_t)at);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return false;
        }
        at += (guint64)w;
        while (n && (gsize)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n) {
            iov->iov_base = (guint8 *)iov->iov_base + w;
            iov->iov_len -= (gsize)w;
        }
    }
}

static bool pwrite_all(int fd, const guint8 *p, gsize n, guint64 at)
{
    struct iovec iov = { .iov_base = (guint8 *)p, .iov_len = n };

    return pwritev_all(fd, &iov, 1, at);
}

/* Through the ordinary descriptor: the batch, then all that is staged. */
static bool flush_plain(MpCapture *cap)
{
    guint64 at = cap->staged_at;
    bool ok = true;

    for (guint i = 0; i <= cap->n_batch && ok; i++) {
        const guint8 *p = i < cap->n_batch ? cap->batch[i].iov_base : cap->staging + cap->open;
        gsize n = i < cap->n_batch ? cap->batch[i].iov_len : cap->staged - cap->open;

        ok = cap->seekable ? pwrite_all(cap->fd, p, n, at) : write_all(cap->fd, p, n);
        at += n;
    }
    cap->staged_at = at;
    cap->staged = cap->open = 0;
    cap->n_batch = 0;
    cap->batched = 0;
    g_ptr_array_set_size(cap->batch_bytes, 0);
    cap->tail_pending = false;
    return ok;
}

/*
 * Write the batch and the staged whole blocks direct and keep the rest;
 * with @tail, also put the partial block in the file through the ordinary
 * descriptor.  Without direct writes (a pipe, a filesystem that refused
 * the first one with EINVAL: tmpfs, some network filesystems), everything
 * is written in order through the ordinary descriptor.
 */
static bool flush_staged(MpCapture *cap, bool tail)
{
    gsize whole = (cap->staged - cap->open) & ~(gsize)(CAPTURE_BLOCK - 1);
    struct iovec iov[CAPTURE_BATCH_IOV + 1];
    guint n = cap->n_batch;

    if (cap->direct_fd < 0) {
        return flush_plain(cap);
    }
    memcpy(iov, cap->batch, n * sizeof(iov[0]));
    if (whole) {
        iov[n++] = (struct iovec){ .iov_base = cap->staging + cap->open, .iov_len = whole };
    }
    if (n && !pwritev_all(cap->direct_fd, iov, (int)n, cap->staged_at)) {
        if (errno != EINVAL) {
            return false;
        }
        close(cap->direct_fd);
        cap->direct_fd = -1;
        return flush_plain(cap);
    }
    cap->staged_at += cap->batched + whole;
    memmove(cap->staging, cap->staging + cap->open + whole, cap->staged - cap->open - whole);
    cap->staged -= cap->open + whole;
    cap->open = 0;
    cap->n_batch = 0;
    cap->batched = 0;
    g_ptr_array_set_size(cap->batch_bytes, 0);
    if (tail && cap->tail_pending && cap->staged &&
        !pwrite_all(cap->fd, cap->staging, cap->staged, cap->staged_at)) {
        return false;
    }
    if (tail) {
        cap->tail_pending = false;
    }
    return true;
}

/* Writer thread (or before it starts): append @n bytes to the file. */
static bool file_append(MpCapture *cap, const guint8 *p, gsize n)
{
    cap->file_bytes += n;
    cap->tail_pending = true;
    while (n) {
        gsize room = MP_CAPTURE_STAGING - cap->staged, take = MIN(room, n);

        memcpy(cap->staging + cap->staged, p, take);
        cap->staged += take;
        p += take;
        n -= take;
        if (cap->staged == MP_CAPTURE_STAGING && !flush_staged(cap, false)) {
            return false;
        }
    }
    return true;
}

/*
 * A Padding record of exactly @size bytes, frame included, into @out
 * (2 * CAPTURE_BLOCK bytes); FALSE if no record has that size.
 */
static bool padding_frame(gsize size, guint8 *out)
{
    static const guint8 zeros[2 * CAPTURE_BLOCK];
    Migcap__Record r = MIGCAP__RECORD__INIT;
    guint32 be;

    r.body_case = MIGCAP__RECORD__BODY_PADDING;
    r.padding.data = (guint8 *)zeros;
    /* a tag of two bytes and a length of one or two */
    for (gsize prefix = 3; prefix <= 4; prefix++) {
        if (size > sizeof(zeros) || size < MP_CAPTURE_FRAME_LEN + prefix) {
            return false;
        }
        r.padding.len = size - MP_CAPTURE_FRAME_LEN - prefix;
        if (migcap__record__get_packed_size(&r) == size - MP_CAPTURE_FRAME_LEN) {
            be = GUINT32_TO_BE((guint32)(size - MP_CAPTURE_FRAME_LEN));
            memcpy(out, &be, MP_CAPTURE_FRAME_LEN);
            migcap__record__pack(&r, out + MP_CAPTURE_FRAME_LEN);
            return true;
        }
    }
    return false;
}

/* The staging's open part, which ends on a block now, joins the batch. */
static void batch_close_open(MpCapture *cap)
{
    gsize n = cap->staged - cap->open;

    g_assert(n % CAPTURE_BLOCK == 0);
    if (n) {
        cap->batch[cap->n_batch++] = (struct iovec){ .iov_base = cap->staging + cap->open,
                                                     .iov_len = n };
        cap->batched += n;
        cap->open = cap->staged;
    }
}

/*
 * Writer thread: append @f to the file.  A chunk's data that lies on a
 * block boundary in memory is written direct from there, after a Padding
 * record that puts it on a block boundary of the file: only its last
 * partial block is copied, where staging it would copy all of it, which
 * cost the writer as much CPU time as the proxy spends forwarding.
 */
static bool frame_append(MpCapture *cap, const Frame *f)
{
    gsize len, n, whole, pad;
    const guint8 *p = g_bytes_get_data(f->bytes, &len);
    guint8 padding[2 * CAPTURE_BLOCK];

    n = len - f->data_at;
    if (!f->data_at || cap->direct_fd < 0 || n < CAPTURE_BLOCK) {
        return file_append(cap, p, len);
    }
    if (cap->n_batch + 2 > CAPTURE_BATCH_IOV && !flush_staged(cap, false)) {
        return false;
    }
    pad = (CAPTURE_BLOCK - (cap->staged_at + cap->batched + (cap->staged - cap->open) +
                            f->data_at) % CAPTURE_BLOCK) % CAPTURE_BLOCK;
    if (!padding_frame(pad, padding) && !padding_frame(pad += CAPTURE_BLOCK, padding)) {
        /* no Padding record has either size: stage the frame as it is */
        return file_append(cap, p, len);
    }
    if (!file_append(cap, padding, pad) || !file_append(cap, p, f->data_at)) {
        return false;
    }
    if (cap->direct_fd < 0) {
        /* the file system refused a direct write when the staging filled */
        return file_append(cap, p + f->data_at, n);
    }
    batch_close_open(cap);
    whole = n & ~(gsize)(CAPTURE_BLOCK - 1);
    cap->batch[cap->n_batch++] = (struct iovec){ .iov_base = (guint8 *)p + f->data_at,
                                                 .iov_len = whole };
    cap->batched += whole;
    cap->file_bytes += whole;
    g_ptr_array_add(cap->batch_bytes, g_bytes_ref(f->bytes));
    if (!file_append(cap, p + f->data_at + whole, n - whole)) {
        return false;
    }
    return cap->batched < MP_CAPTURE_STAGING || flush_staged(cap, false);
}

/* Open @path for a new capture file: both descriptors, empty staging. */
static int open_file(MpCapture *cap, const char *path)
{
    struct stat st;

    cap->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (cap->fd < 0) {
        return -1;
    }
    cap->seekable = fstat(cap->fd, &st) == 0 && S_ISREG(st.st_mode);
    cap->direct_fd = cap->seekable ? open(path, O_WRONLY | O_CLOEXEC | O_DIRECT) : -1;
    cap->staged = cap->open = 0;
    cap->staged_at = 0;
    cap->file_bytes = 0;
    cap->tail_pending = false;
    return 0;
}

static void close_file(MpCapture *cap)
{
    if (cap->direct_fd >= 0) {
        close(cap->direct_fd);
        cap->direct_fd = -1;
    }
    if (cap->fd >= 0) {
        close(cap->fd);
        cap->fd = -1;
    }
}

/* A file's header and FileStart record, in the file at once. */
static bool start_file(MpCapture *cap)
{
    g_autoptr(GBytes) start = file_start(cap);

    return file_append(cap, g_bytes_get_data(start, NULL), g_bytes_get_size(start)) &&
           flush_staged(cap, true);
}

/* Writer thread: the current file is full; move it aside, start the next. */
static bool rotate(MpCapture *cap)
{
    g_autofree char *old = g_strconcat(cap->path, ".1", NULL);
    bool ok = flush_staged(cap, true);

    close_file(cap);
    if (!ok || rename(cap->path, old) < 0 || open_file(cap, cap->path) < 0) {
        return false;
    }
    cap->part++;
    return start_file(cap);
}

static gpointer writer_thread(gpointer data)
{
    MpCapture *cap = data;
    bool ok = true;

    g_mutex_lock(&cap->lock);
    for (;;) {
        Frame *frame;

        while (!cap->queue.length && !cap->closing) {
            if (!cap->tail_pending) {
                g_cond_wait(&cap->cond, &cap->lock);
            } else if (!g_cond_wait_until(&cap->cond, &cap->lock,
                                          g_get_monotonic_time() + CAPTURE_TAIL_US) &&
                       !cap->queue.length) {
                /* the stream paused: let a reader see what came so far */
                g_mutex_unlock(&cap->lock);
                ok = ok && flush_staged(cap, true);
                g_mutex_lock(&cap->lock);
            }
        }
        if (!cap->queue.length) {
            break;
        }
        while (!cap->closing && cap->queued < CAPTURE_WAKE_BYTES &&
               g_cond_wait_until(&cap->cond, &cap->lock, cap->batch_start_us + CAPTURE_BATCH_US)) {
            /* a batch gathers */
        }
        while ((frame = g_queue_pop_head(&cap->queue))) {
            gsize len = g_bytes_get_size(frame->bytes);

            g_mutex_unlock(&cap->lock);
            if (ok && cap->max_size && cap->file_bytes + len > cap->max_size &&
                cap->file_bytes > MP_CAPTURE_HEADER_LEN + 256) {
                ok = rotate(cap);
            }
            ok = ok && frame_append(cap, frame);
            frame_free(frame);
            g_mutex_lock(&cap->lock);
            cap->queued -= len;
            if (!ok && !cap->failed) {
                g_warning("capture: write failed (%s); dropping the rest", g_strerror(errno));
                cap->failed = true;
            }
        }
    }
    g_mutex_unlock(&cap->lock);
    if (ok && !flush_staged(cap, true)) {
        g_warning("capture: write failed (%s); the file ends early", g_strerror(errno));
    }
    return NULL;
}

MpCapture *mp_capture_open(const char *path, MpCapturePages pages, guint64 max_size,
                           GError **error)
{
    MpCapture *cap = g_new0(MpCapture, 1);
    int err;

    cap->path = g_strdup(path);
    cap->pages = pages;
    cap->max_size = max_size;
    cap->direct_fd = -1;
    cap->staging = g_aligned_alloc(MP_CAPTURE_STAGING, 1, CAPTURE_BLOCK);
    cap->batch_bytes = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    if (open_file(cap, path) < 0 || !start_file(cap)) {
        err = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "--capture %s: %s", path,
                    g_strerror(err));
        close_file(cap);
        g_aligned_free(cap->staging);
        g_ptr_array_unref(cap->batch_bytes);
        g_free(cap->path);
        g_free(cap);
        return NULL;
    }
    g_mutex_init(&cap->lock);
    g_cond_init(&cap->cond);
    g_queue_init(&cap->queue);
    cap->thread = g_thread_new("capture", writer_thread, cap);
    cap->watches = g_ptr_array_new();
    cap->tcp_last = g_ptr_array_new_with_free_func(g_free);
    return cap;
}

void mp_capture_close(MpCapture *cap)
{
    if (!cap) {
        return;
    }
    if (cap->tcp_timer) {
        g_source_remove(cap->tcp_timer);
    }
    for (guint i = 0; i < cap->watches->len; i++) {
        g_clear_object(&((Watch *)cap->watches->pdata[i])->sock);
    }
    g_ptr_array_unref(cap->watches);
    g_ptr_array_unref(cap->tcp_last);
    g_mutex_lock(&cap->lock);
    cap->closing = true;
    g_cond_signal(&cap->cond);
    g_mutex_unlock(&cap->lock);
    g_thread_join(cap->thread);
    close_file(cap);
    g_aligned_free(cap->staging);
    g_ptr_array_unref(cap->batch_bytes);
    g_free(cap->path);
    g_mutex_clear(&cap->lock);
    g_cond_clear(&cap->cond);
    g_free(cap);
}

MpCapturePages mp_capture_pages(const MpCapture *cap)
{
    return cap->pages;
}

guint64 mp_capture_dropped(const MpCapture *cap)
{
    MpCapture *c = (MpCapture *)cap;
    guint64 n;

    g_mutex_lock(&c->lock);
    n = c->dropped;
    g_mutex_unlock(&c->lock);
    return n;
}

static char *address_text(GSocketAddress *addr)
{
    char *text;

    if (!addr) {
        return g_strdup("?");
    }
    text = g_socket_connectable_to_string(G_SOCKET_CONNECTABLE(addr));
    g_object_unref(addr);
    return text;
}

/* One TCP_INFO sample of @w's socket as a record; FALSE when it is gone. */
static bool tcp_sample(MpCapture *cap, Watch *w)
{
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__TcpSample t = MIGCAP__TCP_SAMPLE__INIT;
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    if (g_socket_is_closed(w->sock)) {
        return false;
    }
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(g_socket_get_fd(w->sock), IPPROTO_TCP, TCP_INFO, &ti, &len) < 0) {
        return false;
    }
    w->samples++;
    w->rtt_us = ti.tcpi_rtt;
    w->rtt_max_us = MAX(w->rtt_max_us, ti.tcpi_rtt);
    w->total_retrans = ti.tcpi_total_retrans;
    t.has_channel = t.has_rtt_us = t.has_rttvar_us = t.has_rcv_rtt_us = true;
    t.has_total_retrans = t.has_unacked = t.has_snd_mss = t.has_snd_cwnd = true;
    t.channel = w->channel;
    t.side = (char *)w->side;
    t.rtt_us = ti.tcpi_rtt;
    t.rttvar_us = ti.tcpi_rttvar;
    t.rcv_rtt_us = ti.tcpi_rcv_rtt;
    t.total_retrans = ti.tcpi_total_retrans;
    t.unacked = ti.tcpi_unacked;
    t.snd_mss = ti.tcpi_snd_mss;
    t.snd_cwnd = ti.tcpi_snd_cwnd;
    /* fields of newer kernels: only when this one filled them in */
    if (len >= offsetof(struct tcp_info, tcpi_notsent_bytes) + sizeof(ti.tcpi_notsent_bytes)) {
        t.has_notsent_bytes = true;
        t.notsent_bytes = ti.tcpi_notsent_bytes;
    }
    if (len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received)) {
        t.has_bytes_acked = t.has_bytes_received = true;
        t.bytes_acked = ti.tcpi_bytes_acked;
        t.bytes_received = ti.tcpi_bytes_received;
    }
    if (len >= offsetof(struct tcp_info, tcpi_sndbuf_limited) + sizeof(ti.tcpi_sndbuf_limited)) {
        t.has_busy_us = t.has_rwnd_limited_us = t.has_sndbuf_limited_us = true;
        w->busy_us = t.busy_us = ti.tcpi_busy_time;
        w->rwnd_limited_us = t.rwnd_limited_us = ti.tcpi_rwnd_limited;
        w->sndbuf_limited_us = t.sndbuf_limited_us = ti.tcpi_sndbuf_limited;
    }
    r.has_session = true;
    r.session = w->session;
    r.body_case = MIGCAP__RECORD__BODY_TCP;
    r.tcp = &t;
    push(cap, &r);
    return true;
}

static gboolean on_tcp_timer(gpointer data)
{
    MpCapture *cap = data;

    for (guint i = 0; i < cap->watches->len;) {
        Watch *w = cap->watches->pdata[i];

        if (tcp_sample(cap, w)) {
            i++;
            continue;
        }
        /* closed: keep its last figures for the session's end event */
        g_clear_object(&w->sock);
        g_ptr_array_remove_index(cap->watches, i);
        g_ptr_array_add(cap->tcp_last, w);
    }
    if (cap->watches->len == 0) {
        cap->tcp_timer = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void tcp_watch(MpCapture *cap, guint session, guint channel, const char *side,
                      GSocketConnection *conn)
{
    GSocket *sock = g_socket_connection_get_socket(conn);
    GSocketFamily family = g_socket_get_family(sock);
    Watch *w;

    if (family != G_SOCKET_FAMILY_IPV4 && family != G_SOCKET_FAMILY_IPV6) {
        return;
    }
    w = g_new0(Watch, 1);
    w->session = session;
    w->channel = channel;
    w->side = side;
    w->sock = g_object_ref(sock);
    if (tcp_sample(cap, w)) {
        g_ptr_array_add(cap->watches, w);
    } else {
        g_clear_object(&w->sock);
        g_ptr_array_add(cap->tcp_last, w);
    }
    if (!cap->tcp_timer && cap->watches->len) {
        cap->tcp_timer = g_timeout_add(MP_CAPTURE_TCP_INTERVAL_MS, on_tcp_timer, cap);
    }
}

void mp_capture_tcp_summary(MpCapture *cap, guint session, JsonObject *end)
{
    JsonArray *a = json_array_new();

    /* a last look at what is still open; the session is over: forget it */
    for (guint i = 0; i < cap->watches->len; i++) {
        Watch *w = cap->watches->pdata[i];

        if (w->session == session) {
            tcp_sample(cap, w);
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        GPtrArray *list = pass ? cap->tcp_last : cap->watches;

        for (guint i = 0; i < list->len;) {
            Watch *w = list->pdata[i];
            JsonObject *o;

            if (w->session != session) {
                i++;
                continue;
            }
            o = json_object_new();
            json_object_set_int_member(o, "channel", w->channel);
            json_object_set_string_member(o, "side", w->side);
            json_object_set_int_member(o, "samples", w->samples);
            json_object_set_int_member(o, "rtt_us", w->rtt_us);
            json_object_set_int_member(o, "rtt_max_us", w->rtt_max_us);
            json_object_set_int_member(o, "retransmits", w->total_retrans);
            json_object_set_int_member(o, "busy_us", (gint64)w->busy_us);
            json_object_set_int_member(o, "rwnd_limited_us", (gint64)w->rwnd_limited_us);
            json_object_set_int_member(o, "sndbuf_limited_us", (gint64)w->sndbuf_limited_us);
            json_array_add_object_element(a, o);
            if (pass) {
                g_ptr_array_remove_index(list, i);   /* frees it */
            } else {
                g_clear_object(&w->sock);
                g_ptr_array_remove_index(list, i);
                g_free(w);
            }
        }
    }
    json_object_set_array_member(end, "tcp", a);
}

void mp_capture_connection(MpCapture *cap, guint session, guint channel, const char *kind,
                           GSocketConnection *src)
{
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__Connection c = MIGCAP__CONNECTION__INIT;
    g_autofree char *peer = NULL;
    g_autofree char *local = NULL;

    if (!cap) {
        return;
    }
    peer = address_text(g_socket_connection_get_remote_address(src, NULL));
    local = address_text(g_socket_connection_get_local_address(src, NULL));
    c.has_channel = true;
    c.channel = channel;
    c.kind = (char *)kind;
    c.source_peer = peer;
    c.listen = local;
    r.has_session = true;
    r.session = session;
    r.body_case = MIGCAP__RECORD__BODY_CONNECTION;
    r.connection = &c;
    push(cap, &r);
    tcp_watch(cap, session, channel, "source", src);
}

void mp_capture_destination(MpCapture *cap, guint session, guint channel,
                            GSocketConnection *dst)
{
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__Destination d = MIGCAP__DESTINATION__INIT;
    g_autofree char *peer = NULL;
    g_autofree char *local = NULL;

    if (!cap) {
        return;
    }
    peer = address_text(g_socket_connection_get_remote_address(dst, NULL));
    local = address_text(g_socket_connection_get_local_address(dst, NULL));
    d.has_channel = true;
    d.channel = channel;
    d.local = local;
    d.peer = peer;
    r.has_session = true;
    r.session = session;
    r.body_case = MIGCAP__RECORD__BODY_DESTINATION;
    r.destination = &d;
    push(cap, &r);
    tcp_watch(cap, session, channel, "destination", dst);
}

MpCaptureLeg *mp_capture_leg_new(MpCapture *cap, guint session, guint channel, bool up)
{
    MpCaptureLeg *leg;

    if (!cap) {
        return NULL;
    }
    leg = g_new0(MpCaptureLeg, 1);
    leg->cap = cap;
    leg->session = session;
    leg->channel = channel;
    leg->up = up;
    leg->holes = g_array_new(FALSE, FALSE, sizeof(Hole));
    leg->kept = g_byte_array_new();
    leg->out_holes = g_array_new(FALSE, FALSE, sizeof(Migcap__Hole));
    leg->hole_ptrs = g_ptr_array_new();
    return leg;
}

void mp_capture_leg_free(MpCaptureLeg *leg)
{
    if (leg) {
        g_array_unref(leg->holes);
        g_byte_array_unref(leg->kept);
        g_array_unref(leg->out_holes);
        g_ptr_array_unref(leg->hole_ptrs);
        g_free(leg);
    }
}

static void leg_record(MpCaptureLeg *leg, Migcap__Record *r)
{
    r->has_session = true;
    r->session = leg->session;
    push(leg->cap, r);
}

/* @r and @c: the Chunk record of @n bytes read on @leg, all of them kept. */
static void chunk_record_init(MpCaptureLeg *leg, Migcap__Record *r, Migcap__Chunk *c,
                              const guint8 *data, gsize n)
{
    c->has_channel = c->has_direction = c->has_offset = c->has_length = c->has_data = true;
    c->channel = leg->channel;
    c->direction = leg->up ? MIGCAP__DIRECTION__UP : MIGCAP__DIRECTION__DOWN;
    c->offset = leg->offset;
    c->length = (guint32)n;
    c->data.data = (guint8 *)data;
    c->data.len = n;
    r->has_session = true;
    r->session = leg->session;
    r->body_case = MIGCAP__RECORD__BODY_CHUNK;
    r->chunk = c;
}

/*
 * Leave @leg's holes that start inside the chunk [start, end) out of
 * @c's data, recording them as Holes instead (hashed in hash mode).
 */
static void chunk_cut_holes(MpCaptureLeg *leg, Migcap__Chunk *c, const guint8 *data,
                            guint64 start, guint64 end)
{
    guint64 at = start;
    guint n_holes = 0;

    while (n_holes < leg->holes->len && g_array_index(leg->holes, Hole, n_holes).start < end) {
        n_holes++;
    }
    if (n_holes == 0) {
        return;
    }
    g_byte_array_set_size(leg->kept, 0);
    g_array_set_size(leg->out_holes, n_holes);
    g_ptr_array_set_size(leg->hole_ptrs, (gint)n_holes);
    for (guint i = 0; i < n_holes; i++) {
        Hole *h = &g_array_index(leg->holes, Hole, i);
        guint64 hs = MAX(h->start, at), he = MIN(h->end, end);
        Migcap__Hole *out = &g_array_index(leg->out_holes, Migcap__Hole, i);

        g_byte_array_append(leg->kept, data + (at - start), (guint)(hs - at));
        migcap__hole__init(out);
        out->has_offset = out->has_length = true;
        out->offset = hs;
        out->length = (guint32)(he - hs);
        if (leg->cap->pages == MP_CAPTURE_PAGES_HASH) {
            out->has_hash = true;
            out->hash = mp_capture_hash(data + (hs - start), (gsize)(he - hs));
        }
        leg->hole_ptrs->pdata[i] = out;
        at = he;
    }
    g_byte_array_append(leg->kept, data + (at - start), (guint)(end - at));
    c->data.data = leg->kept->data;
    c->data.len = leg->kept->len;
    c->n_holes = n_holes;
    c->holes = (Migcap__Hole **)leg->hole_ptrs->pdata;
    /* a payload that goes on into the next chunk stays, clipped */
    if (g_array_index(leg->holes, Hole, n_holes - 1).end > end) {
        g_array_index(leg->holes, Hole, n_holes - 1).start = end;
        n_holes--;
    }
    g_array_remove_range(leg->holes, 0, n_holes);
}

void mp_capture_chunk(MpCaptureLeg *leg, const guint8 *data, gsize n)
{
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__Chunk c = MIGCAP__CHUNK__INIT;

    if (!leg || n == 0) {
        return;
    }
    chunk_record_init(leg, &r, &c, data, n);
    chunk_cut_holes(leg, &c, data, leg->offset, leg->offset + n);
    leg->offset += n;
    push(leg->cap, &r);
}

/*
 * Collects what protobuf-c packs before a chunk's data: it appends a bytes
 * field by pointer, and data is the last field of a Chunk without holes,
 * so everything appended before it is the frame's header.  Anything else
 * (a header too long, bytes after the data) marks it unfit.
 */
typedef struct {
    ProtobufCBuffer base;
    const guint8 *data;
    gsize len;
    guint8 head[MP_CHUNK_HEADROOM - MP_CAPTURE_FRAME_LEN];
    gsize head_len;
    bool data_seen, unfit;
} ChunkHead;

static void chunk_head_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data)
{
    ChunkHead *h = (ChunkHead *)buffer;

    if (h->data_seen) {
        h->unfit = true;
    } else if (data == h->data && len == h->len) {
        h->data_seen = true;
    } else if (len > sizeof(h->head) - h->head_len) {
        h->unfit = true;
    } else {
        memcpy(h->head + h->head_len, data, len);
        h->head_len += len;
    }
}

/* A chunk kept whole: queue it in @buf as a frame built around it; FALSE if it cannot be. */
static bool chunk_push_in_place(MpCaptureLeg *leg, guint8 *buf, gsize n)
{
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__Chunk c = MIGCAP__CHUNK__INIT;
    ChunkHead head = { .base.append = chunk_head_append, .data = buf, .len = n };
    guint8 *frame;
    guint32 be;
    size_t packed;

    chunk_record_init(leg, &r, &c, buf, n);
    r.has_t_ns = true;
    r.t_ns = now_ns();
    packed = migcap__record__pack_to_buffer(&r, &head.base);
    if (head.unfit || !head.data_seen || packed != head.head_len + n ||
        packed > MP_CAPTURE_LIMIT_RECORD) {
        return false;
    }
    frame = buf - head.head_len - MP_CAPTURE_FRAME_LEN;
    be = GUINT32_TO_BE((guint32)packed);
    memcpy(frame, &be, MP_CAPTURE_FRAME_LEN);
    memcpy(frame + MP_CAPTURE_FRAME_LEN, head.head, head.head_len);
    leg->offset += n;
    push_frame(leg->cap,
               g_bytes_new_with_free_func(frame, MP_CAPTURE_FRAME_LEN + packed,
                                          (GDestroyNotify)mp_chunk_buf_unref,
                                          mp_chunk_buf_ref(buf)),
               (gsize)(buf - frame), r.t_ns);
    return true;
}

void mp_capture_chunk_buf(MpCaptureLeg *leg, guint8 *buf, gsize n)
{
    if (!leg || n == 0) {
        return;
    }
    /* a chunk kept whole (all of them in full mode) is framed in place */
    if ((leg->holes->len && g_array_index(leg->holes, Hole, 0).start < leg->offset + n) ||
        !chunk_push_in_place(leg, buf, n)) {
        mp_capture_chunk(leg, buf, n);
    }
}

void mp_capture_leg_end(MpCaptureLeg *leg)
{
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__ChunkEnd e = MIGCAP__CHUNK_END__INIT;

    if (!leg) {
        return;
    }
    e.has_channel = e.has_direction = e.has_length = true;
    e.channel = leg->channel;
    e.direction = leg->up ? MIGCAP__DIRECTION__UP : MIGCAP__DIRECTION__DOWN;
    e.length = leg->offset;
    r.body_case = MIGCAP__RECORD__BODY_CHUNK_END;
    r.chunk_end = &e;
    leg_record(leg, &r);
}

static void add_hole(MpCaptureLeg *leg, guint64 start, guint64 end)
{
    Hole h = { MAX(start, leg->offset), end };

    /* the decoder reports a payload before it is read, never after */
    if (h.start < h.end) {
        g_array_append_val(leg->holes, h);
    }
}

void mp_capture_event(MpCaptureLeg *leg, const MigEvent *ev)
{
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__DecoderEvent e = MIGCAP__DECODER_EVENT__INIT;
    g_autofree char *text = NULL;

    if (!leg) {
        return;
    }
    if (ev->type == MIG_EV_RAM_PAGE) {
        if (leg->cap->pages != MP_CAPTURE_PAGES_FULL && ev->u.page.payload_length) {
            add_hole(leg, ev->end - ev->u.page.payload_length, ev->end);
        }
        return;
    }
    if (ev->type == MIG_EV_MULTIFD_PACKET && leg->cap->pages != MP_CAPTURE_PAGES_FULL &&
        !(ev->u.mf_packet.flags & MULTIFD_FLAG_DEVICE_STATE) &&
        ev->u.mf_packet.normal_pages && ev->u.mf_packet.next_packet_size) {
        add_hole(leg, ev->end - ev->u.mf_packet.next_packet_size, ev->end);
    }
    text = mig_event_format(ev);
    e.has_channel = e.has_direction = e.has_offset = e.has_end = e.has_certain = true;
    e.channel = leg->channel;
    e.direction = leg->up ? MIGCAP__DIRECTION__UP : MIGCAP__DIRECTION__DOWN;
    e.type = (char *)mig_event_name(ev->type);
    e.offset = ev->offset;
    e.end = ev->end;
    e.certain = ev->certain;
    e.text = text;
    switch (ev->type) {
    case MIG_EV_SECTION:
    case MIG_EV_SECTION_END:
        e.has_section_type = true;
        e.section_type = ev->u.section.type;
        e.idstr = (char *)ev->u.section.idstr;
        break;
    case MIG_EV_RAMBLOCK:
        e.idstr = (char *)ev->u.ramblock.idstr;
        e.has_value = true;
        e.value = ev->u.ramblock.used_length;
        break;
    case MIG_EV_RAM_TOTAL:
    case MIG_EV_RAMBLOCK_LIST_END:
        e.has_value = true;
        e.value = ev->u.ram_total.total;
        break;
    case MIG_EV_COMMAND:
    case MIG_EV_PACKAGED_BEGIN:
        e.has_value = true;
        e.value = ev->u.command.cmd;
        break;
    case MIG_EV_RP_MESSAGE:
        e.has_value = true;
        e.value = ev->u.rp.type;
        break;
    default:
        break;
    }
    r.body_case = MIGCAP__RECORD__BODY_EVENT;
    r.event = &e;
    leg_record(leg, &r);
}

void mp_capture_proxy_event(MpCapture *cap, JsonObject *obj)
{
    Migcap__Record r = MIGCAP__RECORD__INIT;
    Migcap__ProxyEvent p = MIGCAP__PROXY_EVENT__INIT;
    JsonNode *node;
    g_autofree char *text = NULL;

    if (!cap) {
        return;
    }
    node = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(node, obj);
    text = json_to_string(node, FALSE);
    json_node_unref(node);
    p.json = text;
    if (json_object_has_member(obj, "session")) {
        r.has_session = true;
        r.session = (guint32)json_object_get_int_member(obj, "session");
    }
    r.body_case = MIGCAP__RECORD__BODY_PROXY_EVENT;
    r.proxy_event = &p;
    push(cap, &r);
}
