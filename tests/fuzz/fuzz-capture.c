/*
 * fuzz-capture.c - libFuzzer harness for the capture reader
 * (capture/capture-format.c) and the stream rebuilt from a capture
 * (capture/capture-stream.c).  Beyond "no crash, no leak, no hang": the
 * reader never moves past the input, an error names a byte inside it, and
 * each record it returns packs and unpacks to the same bytes; the rebuilt
 * stream reads whole with holes as zeros, its holes are exactly the bytes
 * a read that refuses them cannot get, and a read past its end fails.  Inputs
 * without the magic are also read with a header put in front, so that the
 * fuzzer need not find the magic itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "capture-format.h"
#include "capture-stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Does @m or any message inside it keep fields the schema does not know? */
static bool has_unknown(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;

    if (m->n_unknown_fields) {
        return true;
    }
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *at = (const char *)m + f->offset;

        if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
            continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)at;

            for (size_t j = 0; j < n; j++) {
                if (has_unknown(v[j])) {
                    return true;
                }
            }
        } else {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)at;

            if (sub && (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
                        *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id) &&
                has_unknown(sub)) {
                return true;
            }
        }
    }
    return false;
}

static void check_repack(const Migcap__Record *rec)
{
    size_t n = migcap__record__get_packed_size(rec);
    uint8_t *a = malloc(n ? n : 1), *b;
    Migcap__Record *again;

    migcap__record__pack(rec, a);
    again = migcap__record__unpack(NULL, n, a);
    if (has_unknown(&rec->base)) {
        /*
         * protobuf-c writes unknown fields back as it kept them, which it
         * may then refuse to unpack (seen: a fuzzed tag); no reader packs
         * records again, so only "no crash" is asked of them.
         */
        if (again) {
            migcap__record__free_unpacked(again, NULL);
        }
        free(a);
        return;
    }
    if (!again || migcap__record__get_packed_size(again) != n) {
        abort();
    }
    b = malloc(n ? n : 1);
    migcap__record__pack(again, b);
    if (memcmp(a, b, n)) {
        abort();
    }
    migcap__record__free_unpacked(again, NULL);
    free(a);
    free(b);
}

static void read_capture(const uint8_t *data, size_t size)
{
    MpCaptureReader r;
    GError *err = NULL;
    Migcap__Record *rec;
    int rc;

    if (!mp_capture_reader_init(&r, data, size, &err)) {
        g_error_free(err);
        return;
    }
    while ((rc = mp_capture_reader_next(&r, &rec, &err)) == 1) {
        if (r.pos > size) {
            abort();
        }
        if (rec->body_case == MIGCAP__RECORD__BODY_CHUNK) {
            /* touch what a reader would use */
            volatile uint64_t sum = 0;

            for (size_t i = 0; i < rec->chunk->data.len; i++) {
                sum += rec->chunk->data.data[i];
            }
            for (size_t i = 0; i < rec->chunk->n_holes; i++) {
                sum += rec->chunk->holes[i]->length;
            }
            (void)sum;
        }
        check_repack(rec);
        migcap__record__free_unpacked(rec, NULL);
    }
    if (rc < 0) {
        const char *at = strstr(err->message, "at byte ");

        if (!at || strtoull(at + 8, NULL, 10) > size) {
            abort();    /* an error must name a byte inside the input */
        }
        g_error_free(err);
    }
}

/* The first migration's main connection, as `migproxy check CAPTURE` reads it. */
static void rebuild_stream(const uint8_t *data, size_t size)
{
    MpCaptureStream *cs = mp_capture_stream_new(data, size, 0, 0, MIGCAP__DIRECTION__UP, NULL);
    uint64_t length, refused = 0;
    uint8_t buf[4096];

    if (!cs) {
        return;
    }
    length = mp_capture_stream_length(cs);
    if (mp_capture_stream_hole_bytes(cs) > length) {
        abort();
    }
    /* bounded: the length is the sum of the chunks' claims, not of their bytes */
    for (uint64_t at = 0; at < length && at < (64u << 20); at += sizeof(buf)) {
        size_t n = (size_t)MIN((uint64_t)sizeof(buf), length - at);

        if (!mp_capture_stream_read(cs, at, buf, n, true, NULL)) {
            abort();
        }
        if (!mp_capture_stream_read(cs, at, buf, n, false, NULL)) {
            refused += n;
        }
    }
    if (length <= (64u << 20) && (refused == 0) != (mp_capture_stream_hole_bytes(cs) == 0)) {
        abort();
    }
    if (mp_capture_stream_read(cs, length, buf, 1, true, NULL)) {
        abort();
    }
    mp_capture_stream_free(cs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_capture(data, size);
    rebuild_stream(data, size);
    if (!mp_capture_is_capture(data, size)) {
        uint8_t *with = malloc(MP_CAPTURE_HEADER_LEN + size);

        mp_capture_header(with);
        memcpy(with + MP_CAPTURE_HEADER_LEN, data, size);
        read_capture(with, MP_CAPTURE_HEADER_LEN + size);
        rebuild_stream(with, MP_CAPTURE_HEADER_LEN + size);
        free(with);
    }
    return 0;
}
