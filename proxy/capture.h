/*
 * capture.h - migproxy --capture: records what crosses the proxy (every
 * connection, every chunk with a monotonic timestamp, the decoder's events,
 * the daemon's events with findings and verdict) into a capture file
 * (capture/CAPTURE.md).  The main loop only packs records and queues them;
 * a writer thread writes them.  The queue is bounded: when the disk is
 * slower than the migration, records are dropped and counted, never does
 * forwarding wait for the disk.
 */
#ifndef MP_PROXY_CAPTURE_H
#define MP_PROXY_CAPTURE_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include "capture-format.h"
#include "decoder.h"

G_BEGIN_DECLS

/* packed records waiting for the writer thread, at most */
#define MP_CAPTURE_QUEUE_LIMIT  (64u * 1024u * 1024u)
/* the writer thread's aligned staging buffer (capture.c): a full one is
 * one direct write */
#define MP_CAPTURE_STAGING      (4u * 1024u * 1024u)

typedef enum {
    MP_CAPTURE_PAGES_FULL,      /* every byte: the streams can be rebuilt */
    MP_CAPTURE_PAGES_HASH,      /* page payloads: length and mp_capture_hash() */
    MP_CAPTURE_PAGES_NONE,      /* page payloads: length only */
} MpCapturePages;

typedef struct MpCapture MpCapture;
/* one direction of one channel of one session */
typedef struct MpCaptureLeg MpCaptureLeg;

/* "full", "hash" or "none"; FALSE for anything else */
bool mp_capture_pages_parse(const char *text, MpCapturePages *out);

/*
 * Create (truncate) @path and start the writer thread.  With @max_size
 * (bytes, 0: none) a file that would grow past it is renamed @path.1
 * (replacing the one before) and a new @path is started: at most about
 * twice @max_size on disk.
 */
MpCapture *mp_capture_open(const char *path, MpCapturePages pages, guint64 max_size,
                           GError **error);
/* Write what is queued, stop the thread, close the file. */
void mp_capture_close(MpCapture *cap);
MpCapturePages mp_capture_pages(const MpCapture *cap);
/* records dropped so far because the queue was full */
guint64 mp_capture_dropped(const MpCapture *cap);

/* A connection from the source joined @session as channel @channel. */
void mp_capture_connection(MpCapture *cap, guint session, guint channel, const char *kind,
                           GSocketConnection *src);
/* The channel's connection to the destination is up. */
void mp_capture_destination(MpCapture *cap, guint session, guint channel,
                            GSocketConnection *dst);

MpCaptureLeg *mp_capture_leg_new(MpCapture *cap, guint session, guint channel, bool up);
void mp_capture_leg_free(MpCaptureLeg *leg);
/*
 * @n bytes read on @leg, after the decoder has seen them (so that its page
 * events say which of them are page payloads).
 */
void mp_capture_chunk(MpCaptureLeg *leg, const guint8 *data, gsize n);
/*
 * The same for a chunk read into @buf, a chunk buffer (chunkbuf.h): when
 * the chunk is kept whole (always in full mode), the capture keeps a
 * reference to it instead of a copy and writes the record's header into
 * its headroom.  Read nothing more into
 * @buf while mp_chunk_buf_shared() says the capture holds it.
 */
void mp_capture_chunk_buf(MpCaptureLeg *leg, guint8 *buf, gsize n);
/* The leg's input ended. */
void mp_capture_leg_end(MpCaptureLeg *leg);
/* A decoder event on @leg; page events become holes (hash, none). */
void mp_capture_event(MpCaptureLeg *leg, const MigEvent *ev);

/*
 * The TCP sockets registered by mp_capture_connection() and
 * mp_capture_destination() are sampled (TCP_INFO) every
 * MP_CAPTURE_TCP_INTERVAL_MS on the main loop while they are open; this
 * adds their last figures for @session to @end (member "tcp") and forgets
 * them.
 */
#define MP_CAPTURE_TCP_INTERVAL_MS 100
void mp_capture_tcp_summary(MpCapture *cap, guint session, JsonObject *end);

/* One line of the daemon's event stream (a tap of mp_events_emit). */
void mp_capture_proxy_event(MpCapture *cap, JsonObject *obj);

G_END_DECLS

#endif
