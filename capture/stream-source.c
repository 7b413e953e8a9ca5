/*
 * stream-source.c - a path given to an offline command, read as one
 * migration stream whether QEMU or migproxy wrote it (stream-source.h).
 * The only place that tells the three kinds of input apart, so that every
 * command accepts the same files.
 */
#include "stream-source.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facts.h"

struct MpStreamSource {
    char *path;
    MpStreamSourceKind kind;
    int fd;                     /* a stream file, else -1 */
    GMappedFile *map;           /* a capture, else NULL */
    MpCaptureStream *capture;
};

/* Enough for a capture's magic and for white space before a profile's '{'. */
#define SNIFF_LEN 64

static bool set_errno_error(GError **error, int saved, const char *path)
{
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "%s: %s", path,
                g_strerror(saved));
    return false;
}

/* @src->fd, a capture: map it and pick its first migration's stream. */
static bool open_capture(MpStreamSource *src, GError **error)
{
    g_autoptr(GError) local = NULL;

    src->map = g_mapped_file_new_from_fd(src->fd, FALSE, &local);
    if (!src->map) {
        g_set_error(error, local->domain, local->code, "%s: %s", src->path, local->message);
        return false;
    }
    src->capture = mp_capture_stream_new((const uint8_t *)g_mapped_file_get_contents(src->map),
                                         g_mapped_file_get_length(src->map), 0, 0,
                                         MIGCAP__DIRECTION__UP, &local);
    if (!src->capture) {
        g_set_error(error, local->domain, local->code, "%s: %s", src->path, local->message);
        return false;
    }
    return true;
}

/* Tell @src's kind from the first bytes of its open file. */
static bool sniff(MpStreamSource *src, GError **error)
{
    struct stat st;
    uint8_t head[SNIFF_LEN];
    ssize_t n;

    if (fstat(src->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY,
                    "%s: a directory (give a stream file, a capture or a profile)", src->path);
        return false;
    }
    do {
        n = pread(src->fd, head, sizeof(head), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return set_errno_error(error, errno, src->path);
    }
    if (mp_facts_is_profile_text(head, (size_t)n)) {
        src->kind = MP_STREAM_SOURCE_PROFILE;
    } else if (mp_capture_is_capture(head, (size_t)n)) {
        src->kind = MP_STREAM_SOURCE_CAPTURE;
    }
    return true;
}

/* @path open, its kind told; nothing read beyond its first bytes. */
static MpStreamSource *source_begin(const char *path, GError **error)
{
    g_autoptr(MpStreamSource) src = g_new0(MpStreamSource, 1);

    src->path = g_strdup(path);
    src->kind = MP_STREAM_SOURCE_FILE;
    src->fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC)
                                : fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0);
    if (src->fd < 0) {
        set_errno_error(error, errno, path);
        return NULL;
    }
    /* a pipe is decoded as a stream as it comes: nothing can be looked at twice */
    if (lseek(src->fd, 0, SEEK_CUR) >= 0 && !sniff(src, error)) {
        return NULL;
    }
    return g_steal_pointer(&src);
}

bool mp_stream_source_peek(const char *path, MpStreamSourceKind *kind, GError **error)
{
    g_autoptr(MpStreamSource) src = source_begin(path, error);

    if (src) {
        *kind = src->kind;
    }
    return src != NULL;
}

MpStreamSource *mp_stream_source_open(const char *path, GError **error)
{
    g_autoptr(MpStreamSource) src = source_begin(path, error);

    if (!src || src->kind == MP_STREAM_SOURCE_FILE) {
        return g_steal_pointer(&src);
    }
    if (src->kind == MP_STREAM_SOURCE_CAPTURE && !open_capture(src, error)) {
        return NULL;
    }
    /* what is read from here on comes from the map, or the profile parser */
    close(src->fd);
    src->fd = -1;
    return g_steal_pointer(&src);
}

void mp_stream_source_free(MpStreamSource *src)
{
    if (!src) {
        return;
    }
    if (src->fd >= 0) {
        close(src->fd);
    }
    g_clear_pointer(&src->capture, mp_capture_stream_free);
    g_clear_pointer(&src->map, g_mapped_file_unref);
    g_free(src->path);
    g_free(src);
}

MpStreamSourceKind mp_stream_source_kind(const MpStreamSource *src)
{
    return src->kind;
}

const char *mp_stream_source_path(const MpStreamSource *src)
{
    return src->path;
}

const MpCaptureStream *mp_stream_source_capture(const MpStreamSource *src)
{
    return src->capture;
}

char *mp_stream_source_note(const MpStreamSource *src)
{
    if (!src->capture || mp_capture_stream_sessions(src->capture) <= 1) {
        return NULL;
    }
    return g_strdup_printf("%s holds %u migrations; the first (session %u) is read", src->path,
                           mp_capture_stream_sessions(src->capture),
                           mp_capture_stream_session(src->capture));
}

bool mp_stream_source_seekable(const MpStreamSource *src)
{
    return src->capture || (src->fd >= 0 && lseek(src->fd, 0, SEEK_CUR) >= 0);
}

/* The capture's stream fed to @dec from its first byte, page payloads left out as zeros. */
static MpStreamFileResult decode_capture(MpStreamSource *src, MigDecoder *dec, size_t chunk,
                                         GError **error)
{
    uint64_t length = mp_capture_stream_length(src->capture);
    g_autofree uint8_t *buf = g_malloc(chunk);
    g_autoptr(GError) local = NULL;
    const char *stop;

    for (uint64_t at = 0; at < length;) {
        size_t n = (size_t)MIN((uint64_t)chunk, length - at);

        if (!mp_capture_stream_read(src->capture, at, buf, n, true, &local)) {
            g_set_error(error, local->domain, local->code, "%s: %s", src->path, local->message);
            return MP_STREAM_FILE_IO;
        }
        if (!mig_decoder_feed(dec, buf, n, &local)) {
            break;
        }
        at += n;
    }
    if (!local && mig_decoder_finish(dec, &local)) {
        return MP_STREAM_FILE_OK;
    }
    /* a capture that stops early: the decoder's complaint comes from there */
    stop = mp_capture_stream_stop(src->capture);
    g_set_error(error, local->domain, local->code, "%s%s%s%s", local->message,
                stop ? " (" : "", stop ? stop : "", stop ? ")" : "");
    return MP_STREAM_FILE_UNDECODABLE;
}

MpStreamFileResult mp_stream_source_decode(MpStreamSource *src, MigDecoder *dec, size_t chunk,
                                           GError **error)
{
    switch (src->kind) {
    case MP_STREAM_SOURCE_CAPTURE:
        return decode_capture(src, dec, chunk, error);
    case MP_STREAM_SOURCE_FILE:
        return mp_stream_file_decode(src->fd, src->path, dec, chunk, error);
    case MP_STREAM_SOURCE_PROFILE:
    default:
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "%s: a profile, not a stream", src->path);
        return MP_STREAM_FILE_IO;
    }
}

bool mp_stream_source_read(MpStreamSource *src, uint64_t offset, uint8_t *out, size_t len,
                           GError **error)
{
    size_t done = 0;

    if (src->capture) {
        if (!mp_capture_stream_read(src->capture, offset, out, len, false, error)) {
            g_prefix_error(error, "%s: ", src->path);
            return false;
        }
        return true;
    }
    if (!mp_stream_source_seekable(src)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    "%s: cannot read back %zu bytes at offset %" G_GUINT64_FORMAT
                    ": not a file", src->path, len, offset);
        return false;
    }
    while (done < len) {
        ssize_t n = pread(src->fd, out + done, len - done, (off_t)(offset + done));

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int saved = n == 0 ? EIO : errno;

            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
                        "%s: cannot read back %zu bytes at offset %" G_GUINT64_FORMAT ": %s",
                        src->path, len, offset, g_strerror(saved));
            return false;
        }
        done += (size_t)n;
    }
    return true;
}
