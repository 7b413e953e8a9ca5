/*
 * chunkbuf.h - the buffers the proxy reads chunks into.  They are counted
 * references so that the capture writer (capture.h, full mode) can keep a
 * chunk after the proxy has written it on, without copying it: copying
 * every byte of a migration once more on the main loop cost as much as
 * forwarding it.  Each buffer has MP_CHUNK_HEADROOM writable bytes in
 * front of its data, where the capture puts the chunk's record header so
 * that header and bytes form one frame, and the data starts on a 4 KiB
 * boundary, so that the capture can write it to disk with O_DIRECT from
 * where it lies.
 */
#ifndef MP_PROXY_CHUNKBUF_H
#define MP_PROXY_CHUNKBUF_H

#include <glib.h>
#include <stdbool.h>

G_BEGIN_DECLS

/* bytes per read; one direction of one connection uses at most two */
#define MP_CHUNK_SIZE          (512u * 1024u)
/* writable bytes in front of a chunk buffer's data */
#define MP_CHUNK_HEADROOM      64u
/* a chunk buffer's data starts at a multiple of this in memory */
#define MP_CHUNK_ALIGN         4096u

/* A buffer of MP_CHUNK_SIZE bytes (not cleared), one reference. */
guint8 *mp_chunk_buf_new(void);
/* Any thread. */
guint8 *mp_chunk_buf_ref(guint8 *data);
void mp_chunk_buf_unref(guint8 *data);
/* Someone other than the caller holds a reference. */
bool mp_chunk_buf_shared(const guint8 *data);

G_END_DECLS

#endif
