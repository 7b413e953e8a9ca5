/*
 * stream-watch.c - what the decoders of a session's legs report, turned
 * into the session's state: the prefix read for the gate, the section being
 * forwarded, RAM setup, commands and postcopy, the return path, the device-
 * state gate's hooks (devgate.c) and the precopy rounds (convergence).
 */
#include "proxy-internal.h"

/*
 * Device sections are checked by the session's device-state gate
 * (devgate.h): before they are forwarded, and held where a verdict on them
 * needs the stream's end.  These connect it to the session.
 */
void session_devgate_emit(const MpFinding *f, void *opaque)
{
    Session *s = opaque;

    mp_events_finding(s->proxy->cfg.events, s->id, f);
}

/* One event per hold, when it ends: where it began, how much, how long. */
static void devgate_hold_event(Session *s, const char *action)
{
    uint64_t from, from_end, bytes;
    gint64 start;
    bool certain;
    JsonObject *o;
    g_autofree char *human = NULL;
    double ms;

    if (!mp_devgate_hold_info(s->devgate, &from, &from_end, &start, &bytes, &certain)) {
        return;
    }
    ms = (double)(g_get_monotonic_time() - start) / 1000.0;
    o = mp_events_begin("device-state", s->id);
    json_object_set_string_member(o, "action", action);
    json_object_set_int_member(o, "from_offset", (gint64)from);
    json_object_set_int_member(o, "from_end", (gint64)from_end);
    json_object_set_int_member(o, "bytes_held", (gint64)bytes);
    json_object_set_double_member(o, "held_ms", ms);
    json_object_set_boolean_member(o, "boundaries_confirmed", certain);
    human = g_strdup_printf("session %u: device state from stream offset %" G_GUINT64_FORMAT
                            " held %.1f ms (%" G_GUINT64_FORMAT " bytes), %s", s->id, from, ms,
                            bytes, action);
    mp_events_emit(s->proxy->cfg.events, o, human);
}

static void devgate_release(Session *s, Leg *l)
{
    GByteArray *b = mp_devgate_take_held(s->devgate);

    g_assert(!l->flushing_release);
    if (s->hold_timer) {
        g_source_remove(s->hold_timer);
        s->hold_timer = 0;
    }
    devgate_hold_event(s, "released");
    if (!l->release) {
        l->release = b;
    } else {
        g_byte_array_append(l->release, b->data, b->len);
        g_byte_array_unref(b);
    }
}

static void devgate_cut(Session *s)
{
    if (s->hold_timer) {
        g_source_remove(s->hold_timer);
        s->hold_timer = 0;
    }
    devgate_hold_event(s, "cut");
    s->cut = true;
    g_free(s->cut_reason);
    s->cut_reason = g_strdup(mp_devgate_cut_reason(s->devgate));
}

static gboolean on_hold_timeout(gpointer data);

/*
 * After a chunk of the main channel was fed (after the verdict): keep it
 * while the device state is held, release what was held, or cut.  Returns
 * TRUE when the chunk was kept (the caller must not write it).
 */
bool session_devgate_apply(Session *s, Leg *l, const guint8 *buf, gsize n)
{
    MpDevGateAction a;

    if (!s->devgate || !s->decided || !l->up || l->ch->kind != CH_MAIN) {
        return false;
    }
    a = mp_devgate_poll(s->devgate);
    if (a == MP_DEVGATE_PASS) {
        return false;
    }
    if (a == MP_DEVGATE_CUT) {
        devgate_cut(s);
        return false;
    }
    if (buf) {
        mp_devgate_keep(s->devgate, buf, n);
    }
    if (a == MP_DEVGATE_HOLD) {
        a = mp_devgate_poll(s->devgate);    /* the limit may end the hold */
        if (a == MP_DEVGATE_HOLD && !s->hold_timer) {
            s->hold_timer = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT, MP_HOLD_TIMEOUT_S,
                                                       on_hold_timeout, session_ref(s),
                                                       (GDestroyNotify)session_unref);
        }
    }
    if (a == MP_DEVGATE_CUT) {
        devgate_cut(s);
    } else if (a == MP_DEVGATE_RELEASE) {
        devgate_release(s, l);
    }
    return buf != NULL;
}

static gboolean on_hold_timeout(gpointer data)
{
    Session *s = data;
    Channel *main_ch = g_ptr_array_index(s->channels, 0);

    s->hold_timer = 0;
    if (s->finished) {
        return G_SOURCE_REMOVE;
    }
    mp_devgate_timeout(s->devgate);
    session_devgate_apply(s, &main_ch->up, NULL, 0);
    if (s->cut) {
        session_abort(s, "proxy", s->cut_reason);
    } else {
        leg_pump(&main_ch->up);
    }
    return G_SOURCE_REMOVE;
}

/*
 * Rounds over RAM (policy/convergence.h): a "round" event for each, and the
 * policy's convergence limits after each round and each RAM section.  A
 * limit made an error stops the migration while it is still precopy, so
 * the source resumes its VM; after the switchover nothing is stopped.
 */
static void watch_convergence(Session *s, guint channel, const MigEvent *ev)
{
    bool closed = mp_convergence_feed(s->conv, channel, ev, s->feed_ns);
    const MpFinding *f;

    for (; s->rounds_reported < mp_convergence_n_rounds(s->conv); s->rounds_reported++) {
        const MpRound *r = mp_convergence_round(s->conv, s->rounds_reported);
        JsonObject *o = mp_events_begin("round", s->id);
        g_autofree char *human = g_strdup_printf("session %u: round %u over RAM: %" G_GUINT64_FORMAT
                                                 " pages, %" G_GUINT64_FORMAT " sent again",
                                                 s->id, r->index, r->pages, r->pages_again);

        json_object_set_int_member(o, "round", r->index);
        json_object_set_int_member(o, "bytes", (gint64)r->bytes);
        json_object_set_int_member(o, "pages", (gint64)r->pages);
        json_object_set_int_member(o, "pages_again", (gint64)r->pages_again);
        json_object_set_double_member(o, "duration_s", (double)(r->end_ns - r->start_ns) / 1e9);
        json_object_set_int_member(o, "dirty_rate_bytes_per_s",
                                   (gint64)mp_round_dirty_rate(r, 4096));
        mp_events_emit(s->proxy->cfg.events, o, human);
    }
    if (!(closed || ev->type == MIG_EV_RAM_EOS) || !s->decided || s->cut ||
        mp_convergence_stopped(s->conv)) {
        return;
    }
    if (!s->report) {
        s->report = mp_policy_new_report(s->proxy->cfg.policy);
    }
    f = mp_check_convergence(s->conv, s->src->ram_total, s->proxy->cfg.policy, s->report);
    if (!f) {
        return;
    }
    mp_events_finding(s->proxy->cfg.events, s->id, f);
    if (f->severity == MP_SEVERITY_ERROR) {
        s->cut = true;
        g_free(s->cut_reason);
        s->cut_reason = g_strdup_printf("stopped in precopy: %s", f->message);
    }
}

/*
 * The messages of a postcopy recovery, each said when it crosses: the
 * source asks for each RAM block's received bitmap (RECV_BITMAP, the block
 * name), the destination sends it back on the return path, then the source
 * sends POSTCOPY_RESUME and the destination answers RESUME_ACK.
 */
static void recovery_event(Session *s, const char *from, const char *message,
                           const uint8_t *data, uint16_t length, uint64_t offset)
{
    JsonObject *o = mp_events_begin("recovery", s->id);
    g_autofree char *block = NULL;
    g_autofree char *human = NULL;

    json_object_set_string_member(o, "from", from);
    json_object_set_string_member(o, "message", message);
    json_object_set_int_member(o, "offset", (gint64)offset);
    /* RECV_BITMAP names the block: a length byte, then the name */
    if (strcmp(message, "RECV_BITMAP") == 0 && length >= 1 && data[0] + 1 <= length) {
        block = g_strndup((const char *)data + 1, data[0]);
        json_object_set_string_member(o, "block", block);
    }
    human = g_strdup_printf("session %u: recovery: %s %s%s%s", s->id, from, message,
                            block ? " " : "", block ? block : "");
    mp_events_emit(s->proxy->cfg.events, o, human);
}

static void on_main_event(const MigEvent *ev, void *opaque)
{
    Channel *ch = opaque;
    Session *s = ch->s;
    MpFacts *f = s->src;

    mp_capture_event(ch->up.cap, ev);
    watch_convergence(s, 0, ev);

    mp_facts_from_stream_event(f, ev, !s->prefix_done);
    mp_devgate_event(s->devgate, ev);
    switch (ev->type) {
    case MIG_EV_COMMAND:
        if (ev->u.command.cmd == MIG_CMD_POSTCOPY_RUN) {
            s->postcopy_running = true;
        } else if (ev->u.command.cmd == MIG_CMD_RECV_BITMAP ||
                   ev->u.command.cmd == MIG_CMD_POSTCOPY_RESUME) {
            recovery_event(s, "source", ev->u.command.cmd == MIG_CMD_RECV_BITMAP ?
                           "RECV_BITMAP" : "POSTCOPY_RESUME", ev->u.command.data,
                           ev->u.command.length, ev->offset);
        }
        break;
    case MIG_EV_SECTION:
        g_free(s->section);
        s->section = g_strdup_printf("%s section %u '%s' instance %u",
                                     mig_section_type_name(ev->u.section.type),
                                     ev->u.section.section_id,
                                     ev->u.section.idstr ? ev->u.section.idstr : "?",
                                     ev->u.section.instance_id);
        s->section_offset = ev->offset;
        if (ev->u.section.type == QEMU_VM_SECTION_START && ev->u.section.idstr &&
            strcmp(ev->u.section.idstr, "ram") == 0) {
            s->ram_start_open = true;
            s->ram_section_id = ev->u.section.section_id;
        } else if (ev->u.section.type == QEMU_VM_SECTION_PART ||
                   ev->u.section.type == QEMU_VM_SECTION_END ||
                   (ev->u.section.type == QEMU_VM_SECTION_FULL && s->ram_start_done)) {
            s->prefix_done = true;
        }
        break;
    case MIG_EV_RAM_EOS:
        if (s->ram_start_open) {
            s->ram_setup_eos = true;
        }
        break;
    case MIG_EV_SECTION_END:
        if (s->ram_start_open && ev->u.section.section_id == s->ram_section_id) {
            s->ram_start_open = false;
            s->ram_start_done = true;
        }
        break;
    case MIG_EV_EOF:
        s->stream_eof = true;
        s->prefix_done = true;
        break;
    case MIG_EV_END:
        s->stream_clean = true;
        break;
    default:
        break;
    }
}

static void on_rp_event(const MigEvent *ev, void *opaque)
{
    Channel *ch = opaque;

    mp_capture_event(ch->down.cap, ev);
    if (ev->type == MIG_EV_RP_MESSAGE && (ev->u.rp.type == MIG_RP_MSG_RECV_BITMAP ||
                                          ev->u.rp.type == MIG_RP_MSG_RESUME_ACK)) {
        recovery_event(ch->s, "destination", ev->u.rp.type == MIG_RP_MSG_RECV_BITMAP ?
                       "RECV_BITMAP" : "RESUME_ACK", ev->u.rp.data, ev->u.rp.length,
                       ev->offset);
    }

    if (ev->type == MIG_EV_RP_MESSAGE && ev->u.rp.type == MIG_RP_MSG_SHUT &&
        ev->u.rp.length == 4) {
        uint32_t v;

        memcpy(&v, ev->u.rp.data, 4);
        ch->s->rp_shut = true;
        ch->s->rp_shut_value = GUINT32_FROM_BE(v);
    }
}

static void on_other_event(const MigEvent *ev, void *opaque)
{
    Channel *ch = opaque;

    mp_capture_event(ch->up.cap, ev);
    if (ch->kind == CH_MULTIFD && ch->s) {
        watch_convergence(ch->s, ch->index + 1, ev);
    }
}

MigDecoder *channel_new_decoder(Channel *ch, bool up)
{
    MigDecoderConfig cfg = { .target_page_size = 4096 };
    MpCapture *cap = ch->s->proxy->cfg.capture;

    if (cap && mp_capture_pages(cap) != MP_CAPTURE_PAGES_FULL) {
        cfg.flags |= MIG_DECODER_PAGE_EVENTS;   /* their payloads are left out */
    }

    if (!up) {
        if (ch->kind != CH_MAIN) {
            return NULL;
        }
        cfg.channel = MIG_CHANNEL_RETURN_PATH;
        return mig_decoder_new(&cfg, on_rp_event, ch);
    }
    switch (ch->kind) {
    case CH_MAIN:
        if (ch->recovery) {
            /* commands first, then the RAM of the paused migration */
            MigDecoder *dec;
            Channel *first = g_ptr_array_index(ch->s->channels, 0);

            cfg.channel = MIG_CHANNEL_RECOVERY;
            dec = mig_decoder_new(&cfg, on_main_event, ch);
            if (first->up.dec) {
                mig_decoder_inherit(dec, first->up.dec);
            }
            return dec;
        }
        cfg.channel = MIG_CHANNEL_MAIN;
        cfg.flags |= MIG_DECODER_PAGE_EVENTS;   /* rounds over RAM */
        return mig_decoder_new(&cfg, on_main_event, ch);
    case CH_MULTIFD:
        cfg.channel = MIG_CHANNEL_MULTIFD;
        return mig_decoder_new(&cfg, on_other_event, ch);
    case CH_OPAQUE:
        return NULL;
    case CH_PREEMPT:
    case CH_UNKNOWN:
        break;
    }
    /* a preempt channel inherits the main channel's block list */
    cfg.channel = MIG_CHANNEL_PREEMPT;
    {
        MigDecoder *dec = mig_decoder_new(&cfg, on_other_event, ch);
        Channel *main_ch = g_ptr_array_index(ch->s->channels, 0);

        if (main_ch->up.dec) {
            mig_decoder_inherit(dec, main_ch->up.dec);
        }
        return dec;
    }
}

/* A decoder failed on @l: in the prefix that is a verdict; later, policy. */
void leg_decoder_failed(Leg *l, GError *error)
{
    Channel *ch = l->ch;
    Session *s = ch->s;

    l->dec_failed = true;
    if (l->up && ch->kind == CH_MAIN) {
        mp_devgate_lost(s->devgate);
    }
    if (!l->up) {
        g_autofree char *human = g_strdup_printf(
            "session %u: return path not decodable (%s); forwarding it untouched",
            s->id, error->message);

        session_emit(s, "decoder", human);
        return;
    }
    if (ch->kind == CH_MAIN && !s->decided) {
        if (!s->prefix_error) {
            s->prefix_error = g_strdup(error->message);
        }
        s->prefix_done = true;
        return;
    }
    if (!s->report) {
        s->report = mp_policy_new_report(s->proxy->cfg.policy);
    }
    {
        g_autofree char *subject = g_strdup_printf("%s channel %u", channel_kind_name(ch->kind),
                                                   ch->index);
        bool reject = s->proxy->cfg.policy &&
                      s->proxy->cfg.policy->late_undecodable == MP_LATE_UNDECODABLE_REJECT;
        MpFinding *f = mp_report_add(s->report, "stream-undecodable-late", subject,
                                     s->section, NULL,
                                     reject ? NULL : "QEMU may still accept it; check the outcome",
                                     "migproxy cannot follow the stream after the gate: %s; %s",
                                     error->message,
                                     reject ? "cutting the migration (policy: reject)"
                                            : "forwarding the rest untouched (policy: forward)");

        mp_events_finding(s->proxy->cfg.events, s->id, f);
        if (ch->kind == CH_MAIN) {
            s->late_undecodable = true;
        }
        if (reject) {
            session_abort(s, "proxy", error->message);
        }
    }
}
