/*
 * stream-file.c - a stream file through the decoder (see stream-file.h).
 */
#include "stream-file.h"

#include <errno.h>
#include <gio/gio.h>
#include <unistd.h>

MpStreamFileResult mp_stream_file_decode(int fd, const char *path, MigDecoder *dec,
                                         size_t chunk, GError **error)
{
    /*
     * Page-aligned: the kernel's copy into a buffer 16 bytes off a page
     * boundary (where malloc puts large blocks) ran at about half speed
     * in tests/bench/decode-bench.sh.
     */
    uint8_t *buf = g_aligned_alloc(chunk, 1, 4096);
    MpStreamFileResult rc;

    for (;;) {
        ssize_t n = read(fd, buf, chunk);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int saved = errno;

            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved),
                        "%s: read error after %" G_GUINT64_FORMAT " bytes: %s", path,
                        mig_decoder_offset(dec), g_strerror(saved));
            rc = MP_STREAM_FILE_IO;
            break;
        }
        if (n == 0) {
            rc = mig_decoder_finish(dec, error) ? MP_STREAM_FILE_OK : MP_STREAM_FILE_UNDECODABLE;
            break;
        }
        if (!mig_decoder_feed(dec, buf, (size_t)n, error)) {
            rc = MP_STREAM_FILE_UNDECODABLE;
            break;
        }
    }
    g_aligned_free(buf);
    return rc;
}
