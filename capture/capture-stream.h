/*
 * capture-stream.h - one direction of one recorded connection, rebuilt
 * from a capture held in memory, so that the offline commands can read a
 * capture as they read a stream file: from its first byte in order, or a
 * range by its stream offset (a device section's payload).
 *
 * A hash or none capture left page payloads out (holes): a read may have
 * them filled with zeros, which is what decoding the structure needs, or
 * refused, which is what judging the bytes needs.  No I/O: the caller maps
 * the file.
 */
#ifndef MP_CAPTURE_STREAM_H
#define MP_CAPTURE_STREAM_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include "capture-format.h"

G_BEGIN_DECLS

typedef struct MpCaptureStream MpCaptureStream;

/*
 * Index the chunks of @direction of connection @channel of @session in the
 * capture @buf (@len bytes, not copied: it must outlive the stream).
 * @session 0: the first session that has a main connection.  NULL with
 * @error when @buf is not a capture or holds no such connection.  The
 * stream ends where the capture does, or earlier at a chunk that does not
 * follow the one before (dropped records, a rotated capture's later part)
 * or a record that does not read: mp_capture_stream_stop() says which.
 */
MpCaptureStream *mp_capture_stream_new(const uint8_t *buf, size_t len, uint32_t session,
                                       uint32_t channel, Migcap__Direction direction,
                                       GError **error);
void mp_capture_stream_free(MpCaptureStream *cs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MpCaptureStream, mp_capture_stream_free)

/* The session read, and how many sessions of the capture have a main connection. */
uint32_t mp_capture_stream_session(const MpCaptureStream *cs);
guint mp_capture_stream_sessions(const MpCaptureStream *cs);
/* The capture's page mode (FileStart.pages). */
Migcap__PagesMode mp_capture_stream_pages(const MpCaptureStream *cs);
/* Bytes of the stream the capture holds from offset 0 on, holes included. */
uint64_t mp_capture_stream_length(const MpCaptureStream *cs);
/* Bytes of that left out as holes. */
uint64_t mp_capture_stream_hole_bytes(const MpCaptureStream *cs);
/*
 * Why the stream ends before the connection did, or NULL when the capture
 * holds the connection to its end (ChunkEnd recorded).
 */
const char *mp_capture_stream_stop(const MpCaptureStream *cs);

/*
 * Copy the @len bytes at stream offset @offset into @out.  Holes become
 * zeros when @zero_holes, else a hole in the range is an error that names
 * its offset.  FALSE with @error when the range is not all held.
 */
bool mp_capture_stream_read(MpCaptureStream *cs, uint64_t offset, uint8_t *out, size_t len,
                            bool zero_holes, GError **error);

G_END_DECLS

#endif
