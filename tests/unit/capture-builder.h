/*
 * capture-builder.h - hand-made captures for the unit tests: records
 * framed as migproxy frames them, holes where the test says, so that a
 * reader can be shown each shape a capture may take (cut, gapped, mixed
 * sessions) without a proxy.
 */
#ifndef MP_TESTS_CAPTURE_BUILDER_H
#define MP_TESTS_CAPTURE_BUILDER_H

#include <glib.h>
#include <stdint.h>
#include "capture-format.h"

/* One record, framed, appended to @cap. */
void tcap_put(GByteArray *cap, const Migcap__Record *r);
/* A new capture: the file header and a FileStart of @pages mode. */
GByteArray *tcap_new(Migcap__PagesMode pages);
void tcap_connection(GByteArray *cap, uint32_t session, uint32_t channel, const char *kind);
/* A chunk record as given: @data_len bytes of @data, the @holes. */
void tcap_chunk_raw(GByteArray *cap, uint32_t session, uint32_t channel, uint64_t from,
                    uint64_t to, const uint8_t *data, size_t data_len,
                    const uint64_t (*holes)[2], size_t n_holes);
/*
 * A chunk of @session/@channel up: stream bytes [@from, @to) of @stream,
 * the ranges in @holes (pairs of start and end, @n_holes of them, at most
 * 4) left out.
 */
void tcap_chunk(GByteArray *cap, uint32_t session, uint32_t channel, const uint8_t *stream,
                uint64_t from, uint64_t to, const uint64_t (*holes)[2], size_t n_holes);
void tcap_end(GByteArray *cap, uint32_t session, uint32_t channel, uint64_t length);

#endif
