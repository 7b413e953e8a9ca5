/*
 * capture-format.h - the capture file format shared by the proxy (which
 * writes it) and the tools (which read it): magic, version, framing,
 * limits, and a reader that works on a buffer (no I/O).  CAPTURE.md
 * describes the format for people.
 */
#ifndef MP_CAPTURE_FORMAT_H
#define MP_CAPTURE_FORMAT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include "capture.pb-c.h"

G_BEGIN_DECLS

/* the file's first 8 bytes (\032: not text) */
#define MP_CAPTURE_MAGIC        "MIGPCAP\032"
#define MP_CAPTURE_MAGIC_LEN    8u
#define MP_CAPTURE_VERSION      1u
/* magic, then the version as a big-endian u32 */
#define MP_CAPTURE_HEADER_LEN   (MP_CAPTURE_MAGIC_LEN + 4u)
/* each record is preceded by its length, a big-endian u32 */
#define MP_CAPTURE_FRAME_LEN    4u
/*
 * No record may be longer: a chunk is at most 512 KiB of data plus its
 * holes (at most one per 8-byte page header), and the VMDESCRIPTION text
 * is at most 1 MiB.  A reader refuses a larger length before allocating.
 */
#define MP_CAPTURE_LIMIT_RECORD (4u * 1024u * 1024u)

#define MP_CAPTURE_ERROR (mp_capture_error_quark())
GQuark mp_capture_error_quark(void);

typedef enum {
    MP_CAPTURE_ERROR_NOT_CAPTURE,   /* no magic */
    MP_CAPTURE_ERROR_VERSION,       /* a version this reader does not know */
    MP_CAPTURE_ERROR_TRUNCATED,     /* the input ends inside a record */
    MP_CAPTURE_ERROR_LIMIT,         /* a record longer than the limit */
    MP_CAPTURE_ERROR_CORRUPT,       /* a record that does not unpack */
} MpCaptureErrorCode;

/* Does @buf start like a capture file?  (Needs the magic only.) */
bool mp_capture_is_capture(const uint8_t *buf, size_t len);

/* The file header: magic and version, MP_CAPTURE_HEADER_LEN bytes. */
void mp_capture_header(uint8_t out[MP_CAPTURE_HEADER_LEN]);

/*
 * The 64-bit hash of a page payload left out in hash mode: XXH3-64 with
 * seed 0 (what `xxhsum -H3` prints), fast, not cryptographic: it tells
 * whether two captures carried the same page contents, nothing more.
 * FileStart.page_hash names it.
 */
#define MP_CAPTURE_PAGE_HASH "xxh3-64"
uint64_t mp_capture_hash(const uint8_t *buf, size_t len);

typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos;                 /* offset of the next frame */
    uint32_t version;
    uint64_t records;           /* records returned so far */
} MpCaptureReader;

/*
 * Check the magic and version of the capture in @buf (@len bytes, not
 * copied: it must outlive the reader).  FALSE with @error otherwise.
 */
bool mp_capture_reader_init(MpCaptureReader *r, const uint8_t *buf, size_t len,
                            GError **error);

/*
 * The next record in *@out (free it with migcap__record__free_unpacked(rec,
 * NULL)).  Returns 1 with a record, 0 at the end of the input on a record
 * boundary, -1 with @error (the byte offset in its message and in
 * mp_capture_reader_error_offset()).  After an error it fails again.
 */
int mp_capture_reader_next(MpCaptureReader *r, Migcap__Record **out, GError **error);

G_END_DECLS

#endif
