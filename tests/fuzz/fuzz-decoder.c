/*
 * fuzz-decoder.c - libFuzzer harness for one decoder entry point, chosen
 * at build time with -DFUZZ_CHANNEL (main, return path, multifd, preempt).
 * Beyond "no crash, no leak, no hang", it checks the decoder's promise
 * that chunking does not matter: the input is decoded whole and again in
 * chunks whose sizes come from the input's first byte, and both runs must
 * give the same events and the same error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "decoder.h"

#ifndef FUZZ_CHANNEL
#define FUZZ_CHANNEL MIG_CHANNEL_MAIN
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    GString *events;
} Collect;

static void collect(const MigEvent *ev, void *opaque)
{
    Collect *c = opaque;
    char *line = mig_event_format(ev);

    g_string_append(c->events, line);
    g_string_append_c(c->events, '\n');
    g_free(line);
}

static char *decode(const uint8_t *data, size_t size, size_t chunk, GString *events)
{
    MigDecoderConfig cfg = { .channel = FUZZ_CHANNEL, .flags = MIG_DECODER_PAGE_EVENTS,
                             .target_page_size = 4096 };
    Collect c = { .events = events };
    MigDecoder *d = mig_decoder_new(&cfg, collect, &c);
    GError *err = NULL;
    size_t pos = 0;
    bool ok = true;
    char *msg = NULL;

    while (ok && pos < size) {
        size_t n = MIN(chunk, size - pos);
        ok = mig_decoder_feed(d, data + pos, n, &err);
        pos += n;
    }
    if (ok) {
        ok = mig_decoder_finish(d, &err);
    }
    if (!ok) {
        if (mig_decoder_error_offset(d) > size) {
            abort();    /* an error must point inside the input */
        }
        msg = g_strdup(err->message);
        g_error_free(err);
    }
    mig_decoder_free(d);
    return msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GString *whole = g_string_new(NULL), *chunked = g_string_new(NULL);
    size_t chunk = size ? (size_t)(data[0] % 13) + 1 : 1;
    char *e1 = decode(data, size, size ? size : 1, whole);
    char *e2 = decode(data, size, chunk, chunked);

    if (strcmp(whole->str, chunked->str) || g_strcmp0(e1, e2)) {
        abort();
    }
    g_free(e1);
    g_free(e2);
    g_string_free(whole, TRUE);
    g_string_free(chunked, TRUE);
    return 0;
}
