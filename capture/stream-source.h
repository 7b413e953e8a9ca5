/*
 * stream-source.h - what an offline command (migdump, migproxy check and
 * diff) finds at a path it was given: a stream file QEMU wrote, a capture
 * migproxy wrote, or a destination profile.  A stream file or a capture
 * is then one stream, decoded from its first byte and read back by offset
 * (device payloads); for a capture that stream is the source side of the
 * main connection of its first migration, page payloads it left out
 * reading as zeros when decoded and refused when read back.
 */
#ifndef MP_STREAM_SOURCE_H
#define MP_STREAM_SOURCE_H

#include <glib.h>
#include <stdbool.h>
#include "capture-stream.h"
#include "decoder.h"
#include "stream-file.h"

G_BEGIN_DECLS

typedef enum {
    MP_STREAM_SOURCE_FILE,      /* anything else: the decoder judges it */
    MP_STREAM_SOURCE_CAPTURE,   /* starts with a capture's magic */
    MP_STREAM_SOURCE_PROFILE,   /* JSON: mp_facts_load() reads it */
} MpStreamSourceKind;

typedef struct MpStreamSource MpStreamSource;

/*
 * Open @path and tell its kind from its first bytes.  "-" is standard
 * input, read as a stream file without looking at it first (it cannot be
 * read back).  NULL with @error (naming @path) when it cannot be opened,
 * is a directory, or is a capture that holds no migration.
 */
MpStreamSource *mp_stream_source_open(const char *path, GError **error);
/*
 * Only the kind of what is at @path, read from its first bytes: for a
 * command that treats a capture as a whole, which need not hold a
 * migration (the later part of a rotated capture).
 */
bool mp_stream_source_peek(const char *path, MpStreamSourceKind *kind, GError **error);
void mp_stream_source_free(MpStreamSource *src);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MpStreamSource, mp_stream_source_free)

MpStreamSourceKind mp_stream_source_kind(const MpStreamSource *src);
const char *mp_stream_source_path(const MpStreamSource *src);
/* A capture's stream, else NULL. */
const MpCaptureStream *mp_stream_source_capture(const MpStreamSource *src);
/*
 * A line for the user when the source reads only part of the file (a
 * capture of several migrations), else NULL.  Free it.
 */
char *mp_stream_source_note(const MpStreamSource *src);
/* Can mp_stream_source_read() work at all (not a pipe, not a profile)? */
bool mp_stream_source_seekable(const MpStreamSource *src);

/*
 * Feed the whole stream to @dec, @chunk bytes at a time, then finish it.
 * @error names the path; for a capture that stops early an undecodable
 * end also says why the capture stops.
 */
MpStreamFileResult mp_stream_source_decode(MpStreamSource *src, MigDecoder *dec, size_t chunk,
                                           GError **error);

/*
 * The @len bytes at stream offset @offset into @out; FALSE with @error
 * (naming the path and the offset) when they cannot all be read, or when
 * a capture left some of them out.
 */
bool mp_stream_source_read(MpStreamSource *src, uint64_t offset, uint8_t *out, size_t len,
                           GError **error);

G_END_DECLS

#endif
