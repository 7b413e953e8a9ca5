/*
 * legs.c - one direction of a channel: read into chunk buffers (two per
 * leg, so that a read overlaps a write), fed to the leg's decoder, held
 * while the gate has not decided, and written to the other end in order.
 */
#include "proxy-internal.h"

static bool leg_ready(const Leg *l)
{
    Session *s = l->ch->s;

    if (!l->out || !s) {
        return false;
    }
    return l->up ? (s->state == S_CONNECTING || s->state == S_FORWARDING) && !s->rejected
                 : true;
}

static bool leg_may_read_holding(const Leg *l)
{
    Channel *ch = l->ch;
    Session *s = ch->s;

    if (s == NULL) {
        return l->up && !ch->parked;    /* unclassified: read the first bytes */
    }
    if (!l->up) {
        return false;
    }
    if (s->rejected || s->finished) {
        return false;
    }
    if (ch->kind == CH_MAIN) {
        if (s->prefix_done && !s->decided && mp_devgate_pending(s->devgate)) {
            /* the device state came with the prefix: judge it at the gate */
            return l->held->len < s->proxy->cfg.limits.prefix_bytes + MP_LIMIT_DEVICE_STATE_HOLD;
        }
        return !s->prefix_done && l->held->len < s->proxy->cfg.limits.prefix_bytes;
    }
    return l->held->len < s->proxy->cfg.limits.held_bytes;
}

void leg_feed(Leg *l, const guint8 *data, gsize n)
{
    g_autoptr(GError) error = NULL;

    if (l->up && l->ch->kind == CH_MAIN && l->ch->s && l->ch->s->devgate) {
        mp_devgate_fed(l->ch->s->devgate, n);
    }
    if (!l->dec || l->dec_failed) {
        return;
    }
    /* one clock reading per chunk, not per decoded page */
    l->ch->s->feed_ns = g_get_monotonic_time() * 1000;
    if (!mig_decoder_feed(l->dec, data, n, &error)) {
        leg_decoder_failed(l, error);
    }
}

/* Returns TRUE when the decoder knows the stream ended inside a record. */
static bool leg_finish_decoder(Leg *l)
{
    g_autoptr(GError) error = NULL;

    if (!l->dec || l->dec_failed) {
        return false;
    }
    if (!mig_decoder_finish(l->dec, &error)) {
        Session *s = l->ch->s;

        l->dec_failed = true;
        if (l->up && l->ch->kind == CH_MAIN && s) {
            mp_devgate_lost(s->devgate);
            if (!s->decided) {
                if (!s->prefix_error) {
                    s->prefix_error = g_strdup(error->message);
                }
                s->prefix_done = true;
            } else if (!s->failure) {
                s->failure = g_strdup_printf("the source's stream ended early: %s",
                                             error->message);
            }
        }
        return true;
    }
    return false;
}

static void on_written(GObject *obj, GAsyncResult *res, gpointer data)
{
    Leg *l = data;
    Session *s = l->ch->s;
    g_autoptr(GError) error = NULL;
    gsize written = 0;

    l->writing = false;
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(obj), res, &written, &error)) {
        /* a channel the proxy closed (a pause or the end) breaks nothing more */
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && !l->ch->closed) {
            session_abort(s, l->up ? "destination" : "source", error->message);
        }
        session_unref(s);
        return;
    }
    l->bytes += written;
    s->last_progress_us = g_get_monotonic_time();
    if (l->flushing_held) {
        l->flushing_held = false;
        g_byte_array_set_size(l->held, 0);
    } else if (l->flushing_release) {
        l->flushing_release = false;
        g_byte_array_set_size(l->release, 0);
    } else {
        l->free_bufs[l->n_free++] = l->writing_buf;
    }
    l->writing_buf = NULL;
    leg_pump(l);
    session_check_done(s);
    session_unref(s);
}

/* Write @n bytes of @data: a chunk buffer (given back when written) or held. */
static void leg_write(Leg *l, guint8 *data, gsize n)
{
    Session *s = l->ch->s;

    if (data != l->held->data && !(l->release && data == l->release->data)) {
        l->writing_buf = data;
    }
    if (l->sum) {
        g_checksum_update(l->sum, data, n);
    }
    l->writing = true;
    g_output_stream_write_all_async(l->out, data, n, G_PRIORITY_DEFAULT, s->cancel,
                                    on_written, l);
    session_ref(s);
}


static void on_read(GObject *obj, GAsyncResult *res, gpointer data)
{
    Leg *l = data;
    Channel *ch = l->ch;
    Session *s = ch->s;
    g_autoptr(GError) error = NULL;
    gssize n;

    guint8 *buf = l->reading_buf;

    if (s && !l->read_ref) {
        /* started unclassified, attached since: balance the unref below */
        session_ref(s);
    }
    l->read_ref = false;
    l->reading = false;
    l->reading_buf = NULL;
    n = g_input_stream_read_finish(G_INPUT_STREAM(obj), res, &error);
    if (!s) {
        /* an unclassified channel: its first bytes decide where it goes */
        Route *route = ch->route;

        if (n <= 0) {
            /* closed (or cancelled at exit) before saying anything */
            g_ptr_array_remove(route->unclassified, ch);
            if (n == 0 && ch->src_io && !ch->silent_closed) {
                route_refuse(route, mp_tls_refused_failure(route->proxy->cfg.tls));
            }
            channel_free(ch);
            if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
                route_adopt_parked(route);
            }
            return;
        }
        l->free_bufs[l->n_free++] = buf;
        channel_classify(ch, buf, (gsize)n);
        return;
    }
    if (ch->closed) {
        /* closed by the proxy (a pause or the end) while this read was under way */
        l->free_bufs[l->n_free++] = buf;
        session_check_done(s);
        session_unref(s);
        return;
    }
    if (n <= 0) {
        l->free_bufs[l->n_free++] = buf;
    }
    if (n < 0) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            session_abort(s, l->up ? "source" : "destination", error->message);
        }
        session_unref(s);
        return;
    }
    if (n <= 0) {
        mp_capture_leg_end(l->cap);
    }
    if (n == 0) {
        bool truncated;

        l->eof = true;
        truncated = leg_finish_decoder(l);
        session_devgate_apply(s, l, NULL, 0);
        if (s->cut) {
            session_abort(s, "proxy", s->cut_reason);
            session_unref(s);
            return;
        }
        if (l->up && ch->kind == CH_MAIN && s->decided && truncated && !s->rejected) {
            /* the source stopped mid-stream: nothing useful can follow */
            session_abort(s, "source", s->failure ? s->failure
                          : "the source closed the main connection before the end of the stream");
            session_unref(s);
            return;
        }
    } else {
        bool kept;

        s->last_progress_us = g_get_monotonic_time();
        leg_feed(l, buf, (gsize)n);
        kept = session_devgate_apply(s, l, buf, (gsize)n);
        mp_capture_chunk_buf(l->cap, buf, (gsize)n);
        if (s->cut) {
            l->free_bufs[l->n_free++] = buf;
            session_abort(s, "proxy", s->cut_reason);
            session_unref(s);
            return;
        }
        if (kept) {
            l->free_bufs[l->n_free++] = buf;
        } else if (leg_ready(l) && (l->writing || l->held->len ||
                                    (l->release && l->release->len))) {
            /* behind a chunk or the held bytes being written: wait in turn */
            g_assert(!l->queued_buf);
            l->queued_buf = buf;
            l->queued_len = (gsize)n;
        } else if (leg_ready(l)) {
            leg_write(l, buf, (gsize)n);
        } else {
            g_byte_array_append(l->held, buf, (guint)n);
            l->free_bufs[l->n_free++] = buf;
        }
    }
    if (l->up && ch->kind == CH_MAIN && !s->prefix_done &&
        l->held->len >= s->proxy->cfg.limits.prefix_bytes) {
        /* a prefix this long is not one QEMU writes: judge what we have */
        s->prefix_error = g_strdup_printf("no end of the setup sections within the first %u bytes",
                                          s->proxy->cfg.limits.prefix_bytes);
        s->prefix_done = true;
    }
    if (l->up && ch->kind != CH_MAIN && !s->prefix_done && s->ram_setup_eos &&
        l->held->len >= s->proxy->cfg.limits.held_bytes) {
        /*
         * QEMU sends pages on its multifd channels only once its setup is
         * over, but the ram section's footer may still sit in its main
         * channel's buffer, flushed at the end of the first round, which
         * waits for these channels: holding on for the footer would stall
         * both sides until the prefix timeout.  Every setup section has
         * been written; judge the ones that came.
         */
        s->prefix_done = true;
    }
    if (l->up && s->prefix_done && !s->gate_started) {
        session_gate(s);
    }
    leg_pump(l);
    session_check_done(s);
    session_unref(s);
}

/* A free chunk buffer, allocating the second only when both are needed. */
static bool leg_has_free_buf(Leg *l)
{
    if (l->n_free == 0) {
        for (guint i = 0; i < G_N_ELEMENTS(l->bufs); i++) {
            if (!l->bufs[i]) {
                l->bufs[i] = mp_chunk_buf_new();
                l->free_bufs[l->n_free++] = l->bufs[i];
                break;
            }
        }
    }
    return l->n_free > 0;
}

/* Start reading the next chunk; the caller made sure a buffer is free. */
static void leg_read(Leg *l)
{
    Session *s = l->ch->s;

    g_assert(l->n_free > 0);
    l->reading = true;
    l->reading_buf = l->free_bufs[--l->n_free];
    if (mp_chunk_buf_shared(l->reading_buf)) {
        /* the capture's writer still holds the chunk last read into it */
        guint i = l->reading_buf == l->bufs[0] ? 0 : 1;

        g_assert(l->bufs[i] == l->reading_buf);
        mp_chunk_buf_unref(l->bufs[i]);
        l->bufs[i] = l->reading_buf = mp_chunk_buf_new();
    }
    g_input_stream_read_async(l->in, l->reading_buf, MP_CHUNK_SIZE, G_PRIORITY_DEFAULT,
                              s ? s->cancel : l->ch->route->cancel, on_read, l);
    if (s) {
        session_ref(s);
        l->read_ref = true;
    }
}

static void leg_shutdown_write(Leg *l)
{
    GSocketConnection *to = l->up ? l->ch->dst : l->ch->src;

    l->shut = true;
    if (to) {
        g_socket_shutdown(g_socket_connection_get_socket(to), FALSE, TRUE, NULL);
    }
}

/*
 * Decide the leg's next steps from its state: write what is due, in
 * order (held bytes, then the queued chunk), pass on the end of input,
 * and read on while a buffer is free (see proxy.h).
 */
void leg_pump(Leg *l)
{
    Session *s = l->ch->s;

    if (l->ch->closed || (s && s->finished)) {
        return;
    }
    if (leg_ready(l)) {
        if (!l->writing) {
            if (l->held->len) {
                l->flushing_held = true;
                leg_write(l, l->held->data, l->held->len);
            } else if (l->release && l->release->len) {
                l->flushing_release = true;
                leg_write(l, l->release->data, l->release->len);
            } else if (l->queued_buf) {
                guint8 *buf = l->queued_buf;

                l->queued_buf = NULL;
                leg_write(l, buf, l->queued_len);
            } else if (l->eof && !l->reading && !l->shut &&
                       !(l->ch->kind == CH_MAIN && mp_devgate_holding(s->devgate))) {
                leg_shutdown_write(l);
            }
        }
        if (!l->reading && !l->eof && !l->queued_buf && leg_has_free_buf(l)) {
            leg_read(l);
        }
        return;
    }
    if (!l->reading && !l->eof && leg_may_read_holding(l) && leg_has_free_buf(l)) {
        leg_read(l);
    }
}

void leg_init(Leg *l, Channel *ch, bool up, bool checksum)
{
    l->ch = ch;
    l->up = up;
    l->held = g_byte_array_new();
    if (checksum) {
        l->sum = g_checksum_new(G_CHECKSUM_SHA256);
    }
}
