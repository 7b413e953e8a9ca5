/*
 * stream-file.h - a migration stream read from a file descriptor through
 * the decoder: the one loop the offline commands (migdump, migproxy diff,
 * check, probe --sections-from) share.  Files only; sockets are the
 * proxy's.
 */
#ifndef MP_POLICY_STREAM_FILE_H
#define MP_POLICY_STREAM_FILE_H

#include <glib.h>
#include "decoder.h"

G_BEGIN_DECLS

/* Bytes per read when the caller has no reason to choose. */
#define MP_STREAM_FILE_CHUNK (256u * 1024u)

typedef enum {
    MP_STREAM_FILE_OK,          /* decoded to a clean end */
    MP_STREAM_FILE_UNDECODABLE, /* the decoder's error (with its offset) in @error */
    MP_STREAM_FILE_IO,          /* a read failed: @error says where */
} MpStreamFileResult;

/*
 * Feed everything @fd holds to @dec, @chunk bytes at a time, then finish
 * it.  @path names the file in an I/O error.
 */
MpStreamFileResult mp_stream_file_decode(int fd, const char *path, MigDecoder *dec,
                                         size_t chunk, GError **error);

G_END_DECLS

#endif
