/*
 * proxy.c - routes, sessions, channels and legs; see proxy.h for how they
 * work together.  Names: a *channel* is one connection from the source and
 * its counterpart to the destination; a *leg* is one direction of a channel
 * (up: source to destination, down: destination to source).
 */
#include "proxy.h"

#include <gio/gunixsocketaddress.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "convergence.h"
#include "decoder.h"
#include "devgate.h"
#include "liveness.h"
#include "qmp.h"
#include "uri.h"

typedef struct Session Session;
typedef struct Channel Channel;
typedef struct Route Route;

typedef enum {
    CH_UNKNOWN,
    CH_MAIN,
    CH_MULTIFD,
    CH_PREEMPT,
    CH_OPAQUE,                  /* TLS pass-through: not decoded */
} ChannelKind;

static const char *channel_kind_name(ChannelKind k)
{
    switch (k) {
    case CH_MAIN: return "main";
    case CH_MULTIFD: return "multifd";
    case CH_PREEMPT: return "preempt";
    case CH_OPAQUE: return "tls";
    case CH_UNKNOWN: break;
    }
    return "unknown";
}

typedef struct {
    Channel *ch;
    bool up;                    /* source -> destination */
    GInputStream *in;
    GOutputStream *out;         /* NULL until the other end exists */
    /*
     * Two chunk buffers, so that the next read overlaps the last write:
     * one may be read into, one written from, or one written and one
     * queued behind it; never more, which bounds memory per direction.
     */
    guint8 *bufs[2];            /* allocated on first need */
    guint8 *free_bufs[2];
    guint n_free;
    guint8 *reading_buf, *writing_buf, *queued_buf;
    gsize queued_len;
    GByteArray *held;           /* read before the verdict, not yet written */
    GByteArray *release;        /* device state released by the hold, not yet written */
    bool flushing_release;
    bool reading, writing, eof, shut;
    bool read_ref;              /* the read in flight holds a session reference */
    bool flushing_held;
    MigDecoder *dec;
    bool dec_failed;
    uint64_t bytes;             /* written to the other end */
    GChecksum *sum;
    MpCaptureLeg *cap;          /* --capture, or NULL */
} Leg;

struct Channel {
    Session *s;                 /* NULL until classified */
    Route *route;
    guint64 seq;                /* accept order on the route */
    gint64 accepted_us;
    bool silent_closed;         /* shut down for saying nothing */
    guint index;
    ChannelKind kind;
    ChannelKind wanted;         /* parked: what its first bytes say */
    bool parked;
    GSocketConnection *src, *dst;
    GIOStream *src_io, *dst_io; /* the TLS ended at the proxy, or NULL */
    Leg up, down;
    bool closed;
    bool connecting;
    bool recovery;              /* a postcopy-recovery main channel */
    guint src_watch, dst_watch; /* socket errors noticed while not reading */
    int src_ifindex, dst_ifindex;   /* interface under each end, 0: unknown */
};

typedef enum {
    S_HOLDING,                  /* reading the prefix */
    S_SETTLING,                 /* prefix read: gathering facts, late channels */
    S_CONNECTING,               /* accepted: connecting to the destination */
    S_FORWARDING,
    S_FINISHING,                /* every channel closed: finding the outcome */
    S_DONE,
} SessionState;

struct Session {
    gint ref;
    MpProxy *proxy;
    Route *route;
    guint id;
    guint64 main_seq;           /* accept order of the main channel */
    SessionState state;
    GPtrArray *channels;        /* Channel *, arrival order, main first */
    GCancellable *cancel;
    gint64 start_us;

    MpFacts *src;               /* built from the main channel's events */
    MpFacts *src_qmp;           /* --source-qmp */
    MpFacts *dst;
    char *dst_error;            /* destination facts could not be had */
    MpReport *report;
    bool gate_started, decided, rejected, contacted;
    bool prefix_timed_out;
    bool facts_ready;

    /* decoding progress of the main channel */
    bool prefix_done;
    bool ram_start_open, ram_start_done;
    bool ram_setup_eos;         /* the ram START section's data has ended */
    uint32_t ram_section_id;
    char *prefix_error;
    uint64_t prefix_error_offset;
    bool stream_eof, stream_clean;
    char *section;              /* the section being forwarded */
    uint64_t section_offset;
    bool rp_shut;
    uint32_t rp_shut_value;
    bool late_undecodable;      /* forwarded past a point the decoder lost */
    MpConvergence *conv;        /* precopy rounds over RAM */
    gint64 feed_ns;             /* when the chunk being decoded was read */
    bool postcopy_running;      /* POSTCOPY_RUN seen: the guest runs at the destination */
    bool paused;                /* postcopy broke off: waiting for a recovery channel */
    bool recovery_given_up;
    guint recovery_timer;
    guint recoveries;
    char *pause_who, *pause_why;
    guint rounds_reported;
    bool cut;                   /* a late check said: forward nothing more */
    char *cut_reason;
    MpDevGate *devgate;         /* device-section checks and the hold (devgate.h) */
    guint hold_timer;

    /* how it went */
    char *broke_off;            /* "source", "destination" or "proxy" */
    char *failure;
    guint settle_timer;
    guint prefix_timer;
    guint stall_timer;
    gint64 last_progress_us;    /* a byte read or written on any leg */
    gint64 settle_deadline_us;
    bool finished;
};

struct Route {
    MpProxy *proxy;
    MpRouteConfig cfg;
    GSocketAddress *connect_addr;
    GSocketListener *listener;
    GSocketClient *client;
    guint64 accepted;           /* connections accepted so far: their order */
    GPtrArray *sessions;        /* live sessions (weak: removed on free) */
    GPtrArray *unclassified;    /* accepted channels that sent nothing yet */
    GPtrArray *parked;          /* channels waiting for their main channel */
    guint silent_timer;         /* closes connections that never speak */
    GCancellable *cancel;
    bool accepting;             /* an accept is under way (its callback has the route) */
};

struct MpProxy {
    MpProxyConfig cfg;
    GMainLoop *loop;
    GPtrArray *routes;
    MpLinkMonitor *links;
    guint next_session;
    int exit_status;
    bool once_taken;
    guint n_sessions;           /* allocated, finished or not: mp_proxy_free waits for them */
    bool closing;               /* mp_proxy_free: start nothing new */
};

static void leg_pump(Leg *l);
static void session_gate(Session *s);
static void session_abort(Session *s, const char *who, const char *why);
static void session_resume(Session *s, Channel *ch);
static void session_check_done(Session *s);
static void connect_next(Session *s);
static void session_fetch_facts(Session *s);
static void session_watch_stall(Session *s);
static const char *session_phase(const Session *s);
static uint64_t session_source_offset(const Session *s);
static void on_src_error(gpointer data);
static void session_reject(Session *s);

/* ------------------------------------------------------------------ */
/* sessions */

static Session *session_ref(Session *s)
{
    s->ref++;
    return s;
}

static void channel_unwatch(Channel *ch)
{
    if (ch->src_watch) {
        g_source_remove(ch->src_watch);
        ch->src_watch = 0;
    }
    if (ch->dst_watch) {
        g_source_remove(ch->dst_watch);
        ch->dst_watch = 0;
    }
}

static void channel_free(Channel *ch)
{
    Leg *legs[] = { &ch->up, &ch->down };

    channel_unwatch(ch);

    for (size_t i = 0; i < G_N_ELEMENTS(legs); i++) {
        Leg *l = legs[i];

        mp_chunk_buf_unref(l->bufs[0]);
        mp_chunk_buf_unref(l->bufs[1]);
        if (l->held) {
            g_byte_array_unref(l->held);
        }
        if (l->release) {
            g_byte_array_unref(l->release);
        }
        if (l->dec) {
            mig_decoder_free(l->dec);
        }
        if (l->sum) {
            g_checksum_free(l->sum);
        }
        mp_capture_leg_free(l->cap);
    }
    g_clear_object(&ch->src_io);
    g_clear_object(&ch->dst_io);
    g_clear_object(&ch->src);
    g_clear_object(&ch->dst);
    g_free(ch);
}

static void session_unref(Session *s)
{
    if (--s->ref > 0) {
        return;
    }
    g_ptr_array_remove(s->route->sessions, s);
    s->proxy->n_sessions--;
    g_ptr_array_unref(s->channels);
    g_object_unref(s->cancel);
    mp_facts_free(s->src);
    mp_facts_free(s->src_qmp);
    mp_facts_free(s->dst);
    mp_devgate_free(s->devgate);
    if (s->report) {
        mp_report_free(s->report);
    }
    g_free(s->dst_error);
    g_free(s->prefix_error);
    g_free(s->section);
    if (s->recovery_timer) {
        g_source_remove(s->recovery_timer);
    }
    g_free(s->pause_who);
    g_free(s->pause_why);
    mp_convergence_free(s->conv);
    g_free(s->cut_reason);
    g_free(s->broke_off);
    g_free(s->failure);
    g_free(s);
}

static Session *session_new(Route *route)
{
    Session *s = g_new0(Session, 1);

    s->ref = 1;
    s->proxy = route->proxy;
    s->route = route;
    s->id = ++route->proxy->next_session;
    route->proxy->n_sessions++;
    s->channels = g_ptr_array_new_with_free_func((GDestroyNotify)channel_free);
    s->cancel = g_cancellable_new();
    s->start_us = g_get_monotonic_time();
    s->src = mp_facts_new(MP_FACTS_FROM_STREAM);
    s->conv = mp_convergence_new(4096);
    s->stream_clean = false;
    return s;
}

static void emit_simple(Session *s, const char *event, const char *human)
{
    mp_events_emit(s->proxy->cfg.events, mp_events_begin(event, s->id), human);
}

/* ------------------------------------------------------------------ */
/* decoder events */

/*
 * Device sections are checked by the session's device-state gate
 * (devgate.h): before they are forwarded, and held where a verdict on them
 * needs the stream's end.  These connect it to the session.
 */
static void devgate_emit(const MpFinding *f, void *opaque)
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
static bool devgate_apply(Session *s, Leg *l, const guint8 *buf, gsize n)
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
    devgate_apply(s, &main_ch->up, NULL, 0);
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

static MigDecoder *new_decoder(Channel *ch, bool up)
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
static void leg_decoder_failed(Leg *l, GError *error)
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

        emit_simple(s, "decoder", human);
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

/* ------------------------------------------------------------------ */
/* legs */

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

static void leg_feed(Leg *l, const guint8 *data, gsize n)
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

static void classify(Channel *ch, const guint8 *data, gsize n);
static void route_adopt_parked(Route *route);
static void route_refuse(Route *route, MpTlsFailure *failure);

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
        classify(ch, buf, (gsize)n);
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
        devgate_apply(s, l, NULL, 0);
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
        kept = devgate_apply(s, l, buf, (gsize)n);
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
static void leg_pump(Leg *l)
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

static void leg_init(Leg *l, Channel *ch, bool up, bool checksum)
{
    l->ch = ch;
    l->up = up;
    l->held = g_byte_array_new();
    if (checksum) {
        l->sum = g_checksum_new(G_CHECKSUM_SHA256);
    }
}

/* ------------------------------------------------------------------ */
/* channels */

static void channel_close(Channel *ch)
{
    if (ch->closed) {
        return;
    }
    ch->closed = true;
    channel_unwatch(ch);
    if (ch->src) {
        g_io_stream_close(G_IO_STREAM(ch->src), NULL, NULL);
    }
    if (ch->dst) {
        g_io_stream_close(G_IO_STREAM(ch->dst), NULL, NULL);
    }
}

static bool channel_done(const Channel *ch)
{
    if (ch->closed) {
        return true;
    }
    if (!ch->dst) {
        return false;
    }
    return ch->up.eof && ch->up.shut && !ch->up.writing && !ch->up.queued_buf &&
           ch->down.eof && ch->down.shut && !ch->down.writing && !ch->down.queued_buf;
}

/*
 * A socket error on a leg the proxy is not reading right now (its buffers
 * wait on the other leg): without this it would be noticed only at the
 * next read, seconds later.  A pending read reports the error itself.
 */
static void channel_socket_error(Channel *ch, bool source)
{
    Session *s = ch->s;
    g_autofree char *error = NULL;
    g_autofree char *why = NULL;

    if (source) {
        ch->src_watch = 0;
    } else {
        ch->dst_watch = 0;
    }
    if (!s || ch->closed || s->finished || (source ? ch->up.reading : ch->down.reading)) {
        return;
    }
    error = mp_liveness_take_error(source ? ch->src : ch->dst);
    why = g_strdup_printf("%s channel %u: %s", channel_kind_name(ch->kind), ch->index, error);
    session_ref(s);
    session_abort(s, source ? "source" : "destination", why);
    session_unref(s);
}

static void on_src_error(gpointer data)
{
    channel_socket_error(data, true);
}

static void on_dst_error(gpointer data)
{
    channel_socket_error(data, false);
}

static void attach(Session *s, Channel *ch, ChannelKind kind)
{
    ch->s = s;
    ch->kind = kind;
    ch->index = s->channels->len;
    g_ptr_array_add(s->channels, ch);
    if (s->proxy->cfg.capture) {
        ch->up.cap = mp_capture_leg_new(s->proxy->cfg.capture, s->id, ch->index, true);
        ch->down.cap = mp_capture_leg_new(s->proxy->cfg.capture, s->id, ch->index, false);
        mp_capture_connection(s->proxy->cfg.capture, s->id, ch->index, channel_kind_name(kind),
                              ch->src);
    }
    ch->up.dec = new_decoder(ch, true);
    mp_liveness_watch(ch->src, on_src_error, ch, &ch->src_watch);
}

/* Announce @ch in @s and let it run: decode what it held, gate, connect. */
static void channel_start(Session *s, Channel *ch)
{
    session_ref(s);
    if (s->rejected || s->finished) {
        channel_close(ch);
        session_check_done(s);
        session_unref(s);
        return;
    }
    if (ch->up.held->len) {
        leg_feed(&ch->up, ch->up.held->data, ch->up.held->len);
        mp_capture_chunk(ch->up.cap, ch->up.held->data, ch->up.held->len);
    }
    if (ch->kind == CH_MAIN && s->prefix_done && !s->gate_started) {
        session_gate(s);
    }
    if (s->state == S_CONNECTING || s->state == S_FORWARDING) {
        connect_next(s);
    }
    leg_pump(&ch->up);
    session_unref(s);
}

/* The prefix did not come in time: judge what there is (a rejection). */
static gboolean on_prefix_timeout(gpointer data)
{
    Session *s = data;

    s->prefix_timer = 0;
    if (!s->gate_started && !s->finished) {
        s->prefix_timed_out = true;
        s->prefix_done = true;
        session_gate(s);
    }
    return G_SOURCE_REMOVE;
}

static Session *start_session(Route *route, Channel *ch)
{
    MpProxy *proxy = route->proxy;
    Session *s = session_new(route);
    g_autofree char *human = NULL;
    JsonObject *o;

    proxy->once_taken = true;
    s->main_seq = ch->seq;
    g_ptr_array_add(route->sessions, s);
    s->devgate = mp_devgate_new(proxy->cfg.hold_device_state, proxy->cfg.policy,
                                devgate_emit, s);
    attach(s, ch, CH_MAIN);
    session_fetch_facts(s);
    if (proxy->cfg.prefix_timeout_s) {
        s->prefix_timer = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT,
                                                     proxy->cfg.prefix_timeout_s,
                                                     on_prefix_timeout, session_ref(s),
                                                     (GDestroyNotify)session_unref);
    }
    human = g_strdup_printf("session %u: migration from the source on %s", s->id,
                            route->cfg.listen);
    o = mp_events_begin("session", s->id);
    json_object_set_string_member(o, "listen", route->cfg.listen);
    json_object_set_string_member(o, "connect", route->cfg.connect);
    json_object_set_boolean_member(o, "dry_run", proxy->cfg.dry_run);
    mp_events_emit(proxy->cfg.events, o, human);
    return s;
}

/* The live session whose main channel was accepted last before @seq. */
static Session *session_before(Route *route, guint64 seq)
{
    Session *best = NULL;

    for (guint i = 0; i < route->sessions->len; i++) {
        Session *s = g_ptr_array_index(route->sessions, i);

        if (s->main_seq < seq && (!best || s->main_seq > best->main_seq)) {
            best = s;
        }
    }
    return best;
}

/*
 * Is a connection accepted between @after and @before still silent?  One
 * silent for MP_SILENT_US is not a main channel about to speak (QEMU writes
 * its header at once) and stops holding the others up.
 */
#define MP_SILENT_US (5 * G_USEC_PER_SEC)
static bool silent_between(Route *route, guint64 after, guint64 before)
{
    gint64 now = g_get_monotonic_time();

    for (guint i = 0; i < route->unclassified->len; i++) {
        Channel *c = g_ptr_array_index(route->unclassified, i);

        if (c->seq > after && c->seq < before && now - c->accepted_us < MP_SILENT_US) {
            return true;
        }
    }
    return false;
}

static void join(Session *s, Channel *ch, ChannelKind kind)
{
    g_autofree char *human = NULL;

    JsonObject *o;

    attach(s, ch, kind);
    human = g_strdup_printf("session %u: %s channel %u joined", s->id,
                            channel_kind_name(kind), ch->index);
    o = mp_events_begin("channel", s->id);
    json_object_set_string_member(o, "kind", channel_kind_name(kind));
    json_object_set_int_member(o, "index", ch->index);
    mp_events_emit(s->proxy->cfg.events, o, human);
    channel_start(s, ch);
}

/*
 * Give parked channels (multifd or preempt bytes seen) to their session:
 * the one whose main connection was accepted just before them.  QEMU 7.2
 * sends the multifd channels' first bytes before the main channel's
 * header, so a channel waits while an earlier connection is still silent
 * (it may be the main channel that it belongs to).
 */
/* Refused: said with the peer and the reason (an event and stderr), then closed. */
static void refuse(Route *route, GSocketConnection *conn, guint session, const char *reason)
{
    g_autofree char *peer = mp_access_peer_text(conn);

    mp_access_refused(route->proxy->cfg.events, route->cfg.listen, peer, session, reason);
}

static guint live_sessions(MpProxy *p)
{
    guint n = 0;

    for (guint r = 0; r < p->routes->len; r++) {
        Route *route = g_ptr_array_index(p->routes, r);

        for (guint i = 0; i < route->sessions->len; i++) {
            n += !((Session *)g_ptr_array_index(route->sessions, i))->finished;
        }
    }
    return n;
}

/* --allow and the limit on connections not yet classified. */
static bool route_admit(Route *route, GSocketConnection *conn)
{
    MpProxy *p = route->proxy;
    g_autofree char *peer = NULL;
    guint pending = 0;

    if (!mp_access_check(p->cfg.access, conn, &peer)) {
        /* no address: gone before it could be checked; refused all the same */
        refuse(route, conn, 0, strcmp(peer, "unknown") == 0 ? "peer address unknown"
                                                            : "not in --allow");
        return false;
    }
    for (guint r = 0; r < p->routes->len; r++) {
        Route *other = g_ptr_array_index(p->routes, r);

        pending += other->unclassified->len + other->parked->len;
    }
    if (p->cfg.limits.max_pending && pending >= p->cfg.limits.max_pending) {
        g_autofree char *why = g_strdup_printf("%u connections already wait to be classified "
                                               "(--max-pending)", pending);

        refuse(route, conn, 0, why);
        return false;
    }
    return true;
}

static bool proxy_channels_full(const Session *s)
{
    guint max = s->proxy->cfg.limits.max_channels;

    return max && s->channels->len >= max;
}

static void route_adopt_parked(Route *route)
{
    if (route->proxy->closing) {
        return;
    }
    for (guint i = 0; i < route->parked->len;) {
        Channel *ch = g_ptr_array_index(route->parked, i);
        Session *s = session_before(route, ch->seq);
        guint64 after = s ? s->main_seq : 0;

        if (silent_between(route, after, ch->seq)) {
            i++;
            continue;
        }
        g_ptr_array_remove_index(route->parked, i);
        ch->parked = false;
        if (s && !s->finished && proxy_channels_full(s)) {
            g_autofree char *why = g_strdup_printf("session %u has %u connections already "
                                                   "(--max-channels)", s->id, s->channels->len);

            refuse(route, ch->src, s->id, why);
            channel_free(ch);
        } else if (s && !s->finished) {
            join(s, ch, ch->wanted);
        } else if (ch->wanted == CH_MULTIFD) {
            g_message("a multifd connection on %s without a migration to join: closed",
                      route->cfg.listen);
            channel_free(ch);
        } else {
            /* not QEMU's main channel and nothing to join: the gate says why */
            channel_start(start_session(route, ch), ch);
        }
    }
}

/*
 * Once a second while connections are unclassified: one that has sent
 * nothing for the prefix timeout is not a migration channel (QEMU writes at
 * once, and 7.2's silent preempt channel is adopted at the verdict); shut
 * it down, which ends its pending read and frees it there.
 */
static gboolean on_silent_check(gpointer data)
{
    Route *route = data;
    MpProxy *proxy = route->proxy;
    gint64 now = g_get_monotonic_time();

    for (guint i = 0; i < route->unclassified->len; i++) {
        Channel *ch = g_ptr_array_index(route->unclassified, i);

        if (!ch->silent_closed &&
            now - ch->accepted_us >= (gint64)proxy->cfg.prefix_timeout_s * G_USEC_PER_SEC) {
            g_autofree char *human = g_strdup_printf(
                "a connection on %s sent nothing for %u s: closed", route->cfg.listen,
                proxy->cfg.prefix_timeout_s);
            JsonObject *o = mp_events_begin("silent", 0);

            json_object_set_string_member(o, "listen", route->cfg.listen);
            json_object_set_int_member(o, "timeout_s", proxy->cfg.prefix_timeout_s);
            mp_events_emit(proxy->cfg.events, o, human);
            ch->silent_closed = true;
            g_socket_shutdown(g_socket_connection_get_socket(ch->src), TRUE, TRUE, NULL);
        }
    }
    if (route->unclassified->len == 0) {
        route->silent_timer = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean adopt_later(gpointer data)
{
    route_adopt_parked(data);
    return G_SOURCE_REMOVE;
}

/* The newest session on @route waiting for a postcopy recovery, if any. */
static Session *route_paused_session(Route *route)
{
    for (guint i = route->sessions->len; i > 0; i--) {
        Session *s = g_ptr_array_index(route->sessions, i - 1);

        if (s->paused) {
            return s;
        }
    }
    return NULL;
}

/*
 * A connection refused before it could be classified (a TLS failure): say
 * why, as a finding of no session.  With --once that was the migration.
 */
static void route_refuse(Route *route, MpTlsFailure *failure)
{
    MpProxy *p = route->proxy;
    MpReport *r = mp_policy_new_report(p->cfg.policy);

    mp_events_finding(p->cfg.events, 0, mp_tls_add_finding(failure, r));
    mp_report_free(r);
    mp_tls_failure_free(failure);
    if (p->cfg.once && !p->once_taken && p->exit_status < 0) {
        p->exit_status = 1;
        g_main_loop_quit(p->loop);
    }
}

/*
 * TLS pass-through: the bytes cannot be read, so there is no gate; every
 * connection is forwarded in arrival order (QEMU 7.2's destination tells
 * TLS channels apart by that order alone) and joins the route's live
 * pass-through session, or starts one.
 */
static void classify_opaque(Channel *ch, const guint8 *data, gsize n)
{
    Route *route = ch->route;
    MpProxy *p = route->proxy;
    Session *s = NULL;
    MpFinding *f;
    JsonObject *o;

    if (!mp_tls_is_record(data, n)) {
        route_refuse(route, mp_tls_plain_failure(data, n));
        channel_free(ch);
        return;
    }
    for (guint i = 0; i < route->sessions->len; i++) {
        Session *live = g_ptr_array_index(route->sessions, i);

        if (!live->finished) {
            s = live;
        }
    }
    if (s) {
        join(s, ch, CH_OPAQUE);
        return;
    }
    if (p->cfg.once && p->once_taken) {
        channel_free(ch);
        return;
    }
    s = start_session(route, ch);
    ch->kind = CH_OPAQUE;
    g_clear_pointer(&ch->up.dec, mig_decoder_free);
    /* forwarded without decoding: the outcome rests on clean closes (and --dest-qmp) */
    s->late_undecodable = true;
    s->gate_started = s->decided = s->prefix_done = true;
    s->report = mp_policy_new_report(p->cfg.policy);
    {
        MpTlsFailure *notice = mp_tls_passthrough_notice();

        f = mp_tls_add_finding(notice, s->report);
        mp_tls_failure_free(notice);
    }
    mp_events_finding(p->cfg.events, s->id, f);
    o = mp_events_begin("verdict", s->id);
    /* as in plain text, the verdict is the gate's; a dry run still closes the source */
    json_object_set_string_member(o, "verdict", "accept");
    json_object_set_boolean_member(o, "destination_contacted", false);
    json_object_set_boolean_member(o, "dry_run", p->cfg.dry_run);
    json_object_set_int_member(o, "errors", 0);
    json_object_set_int_member(o, "warnings", 1);
    json_object_set_boolean_member(o, "unchecked", true);
    {
        g_autofree char *human = g_strdup_printf(
            "session %u: TLS pass-through, forwarded unchecked%s", s->id,
            p->cfg.dry_run ? "; dry run: closing the source" : "");

        mp_events_emit(p->cfg.events, o, human);
    }
    if (p->cfg.dry_run) {
        session_reject(s);
        channel_start(s, ch);
        return;
    }
    s->state = S_CONNECTING;
    channel_start(s, ch);
}

static void classify(Channel *ch, const guint8 *data, gsize n)
{
    Route *route = ch->route;
    MpProxy *proxy = route->proxy;
    uint32_t magic = 0;

    g_ptr_array_remove(route->unclassified, ch);
    if (proxy->closing) {
        /* a read that completed as mp_proxy_free cancelled it: start nothing */
        channel_free(ch);
        return;
    }
    g_byte_array_append(ch->up.held, data, (guint)n);
    if (mp_tls_mode(proxy->cfg.tls) == MP_TLS_PASSTHROUGH) {
        classify_opaque(ch, data, n);
        route_adopt_parked(route);
        return;
    }
    /* QEMU writes the 4-byte magic in one go; a shorter first read is rare */
    if (n >= 4) {
        memcpy(&magic, data, 4);
        magic = GUINT32_FROM_BE(magic);
    }
    if (data[0] == QEMU_VM_COMMAND && route_paused_session(route)) {
        /* no header: a postcopy recovery's main channel starts with commands */
        session_resume(route_paused_session(route), ch);
    } else if (magic == QEMU_VM_FILE_MAGIC) {
        if (proxy->cfg.once && proxy->once_taken) {
            /* --once: one migration only; later ones are refused */
            refuse(route, ch->src, 0, "--once: a migration was already taken");
            channel_free(ch);
        } else if (proxy->cfg.limits.max_sessions &&
                   live_sessions(proxy) >= proxy->cfg.limits.max_sessions) {
            g_autofree char *why = g_strdup_printf("%u migrations are already in progress "
                                                   "(--max-sessions)", live_sessions(proxy));

            refuse(route, ch->src, 0, why);
            channel_free(ch);
        } else {
            channel_start(start_session(route, ch), ch);
        }
    } else {
        ch->parked = true;
        ch->wanted = magic == MULTIFD_MAGIC ? CH_MULTIFD : CH_PREEMPT;
        g_ptr_array_add(route->parked, ch);
        /* look again once any silent connection before it has had its time */
        g_timeout_add(MP_SILENT_US / 1000 + 100, adopt_later, route);
    }
    route_adopt_parked(route);
}

/*
 * Each leg carries what QEMU wrote in the order it wrote it; Nagle would
 * hold the small writes at switchover (device state, EOF) until the
 * previous segment is acknowledged, which lands in the VM's downtime.
 */
static void leg_no_delay(GSocketConnection *conn)
{
    GSocket *sock = g_socket_connection_get_socket(conn);
    GSocketFamily family = g_socket_get_family(sock);

    if (family == G_SOCKET_FAMILY_IPV4 || family == G_SOCKET_FAMILY_IPV6) {
        g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
    }
}

/* The source's end of @ch carries plain text from now on: classify it. */
static void channel_source_ready(Channel *ch, GIOStream *io)
{
    ch->up.in = g_io_stream_get_input_stream(io);
    ch->down.out = g_io_stream_get_output_stream(io);
    leg_pump(&ch->up);
}

/*
 * The source's TLS handshake on @ch is over.  Till then the channel was
 * unclassified and silent, which holds later multifd channels back as it
 * does for a plain main channel that has not spoken yet.
 */
static void on_source_tls(GIOStream *io, MpTlsFailure *failure, gpointer data)
{
    Channel *ch = data;
    Route *route = ch->route;

    if (!io) {
        g_ptr_array_remove(route->unclassified, ch);
        if (failure && !ch->silent_closed) {
            route_refuse(route, failure);
        } else {
            mp_tls_failure_free(failure);
        }
        channel_free(ch);
        route_adopt_parked(route);
        return;
    }
    ch->src_io = io;
    channel_source_ready(ch, io);
}

static void on_accept(GObject *obj, GAsyncResult *res, gpointer data)
{
    Route *route = data;
    g_autoptr(GError) error = NULL;
    GSocketConnection *conn;
    Channel *ch;

    route->accepting = false;
    conn = g_socket_listener_accept_finish(G_SOCKET_LISTENER(obj), res, NULL, &error);
    if (conn && route->proxy->closing) {
        g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
        g_object_unref(conn);
        return;
    }
    if (!conn) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            g_warning("accept on %s: %s", route->cfg.listen, error->message);
        }
        return;
    }
    g_socket_listener_accept_async(route->listener, route->cancel, on_accept, route);
    route->accepting = true;
    if (!route_admit(route, conn)) {
        g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
        g_object_unref(conn);
        return;
    }

    ch = g_new0(Channel, 1);
    ch->route = route;
    ch->seq = ++route->accepted;
    ch->accepted_us = g_get_monotonic_time();
    if (route->proxy->cfg.prefix_timeout_s && !route->silent_timer) {
        route->silent_timer = g_timeout_add_seconds(1, on_silent_check, route);
    }
    g_ptr_array_add(route->unclassified, ch);
    ch->src = conn;
    leg_no_delay(conn);
    mp_liveness_tune(conn, route->proxy->cfg.tcp_timeout_s);
    ch->src_ifindex = mp_liveness_ifindex(conn);
    leg_init(&ch->up, ch, true, route->proxy->cfg.checksum);
    leg_init(&ch->down, ch, false, route->proxy->cfg.checksum);
    if (mp_tls_mode(route->proxy->cfg.tls) == MP_TLS_TERMINATE) {
        /* unclassified only once the handshake is done: its plain text decides */
        mp_tls_accept_async(route->proxy->cfg.tls, conn, route->cancel, on_source_tls, ch);
        return;
    }
    channel_source_ready(ch, G_IO_STREAM(conn));
}

/* ------------------------------------------------------------------ */
/* the gate */

typedef struct {
    char *source_qmp, *dest_qmp;
    MpFacts *src, *dst;
    char *src_error, *dst_error;
} FactsJob;

static void facts_job_free(FactsJob *j)
{
    g_free(j->source_qmp);
    g_free(j->dest_qmp);
    mp_facts_free(j->src);
    mp_facts_free(j->dst);
    g_free(j->src_error);
    g_free(j->dst_error);
    g_free(j);
}

static MpFacts *probe(const char *uri, MpFactsOrigin origin, char **error_text)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(MpQmp) qmp = mp_qmp_connect(uri, 5, &error);
    MpFacts *f = qmp ? mp_qmp_probe(qmp, origin, &error) : NULL;

    if (!f) {
        *error_text = g_strdup(error->message);
    }
    return f;
}

static void facts_thread(GTask *task, gpointer source, gpointer data, GCancellable *c)
{
    FactsJob *j = data;

    if (j->source_qmp) {
        j->src = probe(j->source_qmp, MP_FACTS_FROM_QMP, &j->src_error);
    }
    if (j->dest_qmp) {
        j->dst = probe(j->dest_qmp, MP_FACTS_FROM_QMP, &j->dst_error);
    }
    g_task_return_boolean(task, TRUE);
}

static guint count_channels(const Session *s, ChannelKind kind)
{
    guint n = 0;

    for (guint i = 0; i < s->channels->len; i++) {
        const Channel *ch = g_ptr_array_index(s->channels, i);

        n += ch->kind == kind;
    }
    return n;
}

static void session_decide(Session *s);

/* How many multifd channels to wait for before judging: 0 = none. */
static guint expected_multifd(const Session *s)
{
    bool on = false;

    if (s->src_qmp && mp_facts_get_cap(s->src_qmp, "multifd", &on)) {
        return on && s->src_qmp->has_multifd_channels ? s->src_qmp->multifd_channels : 0;
    }
    /* without the source's word, the destination's count is what must come */
    if (s->dst && mp_facts_get_cap(s->dst, "multifd", &on) && on &&
        s->dst->has_multifd_channels) {
        return s->dst->multifd_channels;
    }
    return 0;
}

/*
 * Polled every 10 ms once the prefix is in and the facts are known: QEMU
 * 7.2 connects every multifd channel before it ends the RAM setup section,
 * so they are at most a few main-loop turns behind; settle_ms covers that,
 * and a known expected count is waited for up to 2 s.
 */
static gboolean on_settle(gpointer data)
{
    Session *s = data;
    gint64 now = g_get_monotonic_time();
    guint want;

    if (s->finished) {
        s->settle_timer = 0;
        return G_SOURCE_REMOVE;
    }
    want = expected_multifd(s);
    if (now < s->settle_deadline_us - 2 * G_USEC_PER_SEC +
              (gint64)s->proxy->cfg.settle_ms * 1000 ||
        (want && count_channels(s, CH_MULTIFD) < want && now < s->settle_deadline_us) ||
        (mp_devgate_pending(s->devgate) &&
         now < s->settle_deadline_us + MP_HOLD_TIMEOUT_S * G_USEC_PER_SEC)) {
        return G_SOURCE_CONTINUE;
    }
    s->settle_timer = 0;
    session_decide(s);
    return G_SOURCE_REMOVE;
}

static void maybe_settle(Session *s)
{
    if (!s->prefix_done || !s->facts_ready || s->settle_timer || s->decided || s->finished) {
        return;
    }
    s->state = S_SETTLING;
    s->settle_deadline_us = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    s->settle_timer = g_timeout_add_full(G_PRIORITY_DEFAULT, 10, on_settle, session_ref(s),
                                         (GDestroyNotify)session_unref);
}

static void on_facts(GObject *obj, GAsyncResult *res, gpointer data)
{
    Session *s = data;
    FactsJob *j = g_task_get_task_data(G_TASK(res));

    if (!s->finished) {
        if (j->source_qmp) {
            if (j->src) {
                s->src_qmp = g_steal_pointer(&j->src);
            } else {
                g_autofree char *human = g_strdup_printf(
                    "session %u: source QMP %s: %s (judging from the stream alone)",
                    s->id, j->source_qmp, j->src_error);

                emit_simple(s, "warning", human);
            }
        }
        if (j->dest_qmp) {
            s->dst = g_steal_pointer(&j->dst);
            s->dst_error = g_steal_pointer(&j->dst_error);
        }
        s->facts_ready = true;
        maybe_settle(s);
    }
    session_unref(s);
}

/*
 * A session has begun: fetch both sides' facts now, while the prefix is
 * still arriving, so that the verdict comes as early as possible (a small
 * source without a return path may finish writing before it).
 */
static void session_fetch_facts(Session *s)
{
    Route *r = s->route;
    FactsJob *j = g_new0(FactsJob, 1);
    g_autoptr(GTask) task = NULL;

    j->source_qmp = g_strdup(r->cfg.source_qmp);
    if (r->cfg.dest_profile) {
        g_autofree char *json = mp_facts_to_json(r->cfg.dest_profile);

        s->dst = mp_facts_from_json(json, -1, NULL);
    } else {
        j->dest_qmp = g_strdup(r->cfg.dest_qmp);
    }
    task = g_task_new(NULL, NULL, on_facts, session_ref(s));
    g_task_set_task_data(task, j, (GDestroyNotify)facts_job_free);
    g_task_run_in_thread(task, facts_thread);
}

/* The prefix is in: judge once the facts are known and late channels came. */
static void session_gate(Session *s)
{
    s->gate_started = true;
    maybe_settle(s);
}

/* Fill in what the stream's magic says when the decoder refused it. */
static void header_from_held(Session *s)
{
    Channel *main_ch = g_ptr_array_index(s->channels, 0);
    GByteArray *held = main_ch->up.held;
    uint32_t v;

    if (s->src->has_header || held->len < 8) {
        return;
    }
    memcpy(&v, held->data, 4);
    s->src->magic = GUINT32_FROM_BE(v);
    memcpy(&v, held->data + 4, 4);
    s->src->version = GUINT32_FROM_BE(v);
    s->src->has_header = true;
}

static void merge_source_facts(Session *s)
{
    MpFacts *f = s->src;

    f->channels_counted = true;
    f->multifd_connections = count_channels(s, CH_MULTIFD);
    f->preempt_connections = count_channels(s, CH_PREEMPT);
    if (!s->src_qmp) {
        return;
    }
    {
        GHashTableIter it;
        gpointer key, value;

        g_hash_table_iter_init(&it, s->src_qmp->caps);
        while (g_hash_table_iter_next(&it, &key, &value)) {
            mp_facts_set_cap(f, key, GPOINTER_TO_INT(value) != 0);
        }
    }
    f->caps_complete = s->src_qmp->caps_complete;
    f->has_cpus = s->src_qmp->has_cpus;
    f->cpus = s->src_qmp->cpus;
    f->has_pci_devices = s->src_qmp->has_pci_devices;
    for (guint i = 0; i < s->src_qmp->pci_devices->len; i++) {
        g_ptr_array_add(f->pci_devices, g_strdup(g_ptr_array_index(s->src_qmp->pci_devices, i)));
    }
    f->has_multifd_channels = s->src_qmp->has_multifd_channels;
    f->multifd_channels = s->src_qmp->multifd_channels;
    g_free(f->multifd_compression);
    f->multifd_compression = g_strdup(s->src_qmp->multifd_compression);
}

static void session_reject(Session *s)
{
    s->rejected = true;
    for (guint i = 0; i < s->channels->len; i++) {
        channel_close(g_ptr_array_index(s->channels, i));
    }
    g_cancellable_cancel(s->cancel);
}

/*
 * QEMU 7.2 opens the postcopy-preempt channel right after the main one and
 * writes to it only once postcopy starts, so at the gate it is a silent
 * connection.  With postcopy advised, the silent connections accepted after
 * this session's main channel (and before any later session's) are taken
 * as its preempt channel, to be connected upstream in their arrival order.
 */
static void adopt_silent(Session *s)
{
    Route *route = s->route;

    if (!s->src->has_postcopy_advise || s->src->postcopy_advise_length != 16) {
        return;
    }
    for (guint i = 0; i < route->unclassified->len;) {
        Channel *ch = g_ptr_array_index(route->unclassified, i);

        if (ch->seq > s->main_seq && session_before(route, ch->seq) == s &&
            !proxy_channels_full(s) && ch->up.in /* not still in its TLS handshake */) {
            g_ptr_array_remove_index(route->unclassified, i);
            join(s, ch, CH_PREEMPT);
        } else {
            i++;
        }
    }
}

static void session_decide(Session *s)
{
    MpProxy *p = s->proxy;
    MpReport *r;
    JsonObject *o;
    GByteArray *held;
    g_autofree char *human = NULL;

    if (!s->report) {
        s->report = mp_policy_new_report(p->cfg.policy);
    }
    r = s->report;
    header_from_held(s);
    adopt_silent(s);
    merge_source_facts(s);
    if (s->prefix_error && s->src->has_header && s->src->magic == QEMU_VM_FILE_MAGIC) {
        mp_report_add(r, "stream-undecodable", "stream prefix", s->prefix_error, NULL,
                      "report this stream to migproxy's developers (record it and run migdump)",
                      "migproxy cannot decode the stream's prefix, so it cannot check it: %s",
                      s->prefix_error);
    }
    if (s->prefix_timed_out) {
        g_autofree char *limit = g_strdup_printf("%u s", p->cfg.prefix_timeout_s);
        g_autofree char *got = g_strdup_printf("%" G_GUINT64_FORMAT " bytes",
                                               mig_decoder_offset(((Channel *)g_ptr_array_index(
                                                   s->channels, 0))->up.dec));

        mp_report_add(r, "stream-prefix-timeout", "stream prefix", got, limit,
                      "check the source: QEMU writes its whole setup at once",
                      "the source sent no complete prefix within %u s (%s so far); "
                      "its connection is closed", p->cfg.prefix_timeout_s, got);
    }
    if (!s->dst && s->dst_error) {
        mp_report_add(r, "destination-unreachable", "destination QMP", NULL, s->dst_error,
                      "check --dest-qmp and that the destination QEMU is waiting with -incoming",
                      "the destination's facts could not be read: %s", s->dst_error);
    }
    if (!s->prefix_timed_out) {
        /* facts of half a prefix would only add false findings */
        mp_check_prefix(s->src, s->dst, p->cfg.policy, r);
        held = ((Channel *)g_ptr_array_index(s->channels, 0))->up.held;
        mp_devgate_gate(s->devgate, s->src, s->dst, held->data, held->len, r);
    }
    s->decided = true;
    for (guint i = 0; i < mp_report_count(r); i++) {
        mp_events_finding(p->cfg.events, s->id, mp_report_get(r, i));
    }

    o = mp_events_begin("verdict", s->id);
    json_object_set_string_member(o, "verdict", mp_verdict_name(mp_report_verdict(r)));
    json_object_set_boolean_member(o, "destination_contacted", false);
    json_object_set_boolean_member(o, "dry_run", p->cfg.dry_run);
    json_object_set_int_member(o, "errors", mp_report_count_severity(r, MP_SEVERITY_ERROR));
    json_object_set_int_member(o, "warnings", mp_report_count_severity(r, MP_SEVERITY_WARNING));
    json_object_set_int_member(o, "channels", s->channels->len);
    json_object_set_int_member(o, "multifd_channels", count_channels(s, CH_MULTIFD));
    if (s->src->machine) {
        json_object_set_string_member(o, "machine", s->src->machine);
    }
    human = g_strdup_printf("session %u: verdict %s (%u errors, %u warnings)%s", s->id,
                            mp_verdict_name(mp_report_verdict(r)),
                            mp_report_count_severity(r, MP_SEVERITY_ERROR),
                            mp_report_count_severity(r, MP_SEVERITY_WARNING),
                            p->cfg.dry_run ? "; dry run: closing the source" :
                            mp_report_verdict(r) == MP_VERDICT_REJECT ?
                            "; the destination was not contacted" : "");
    mp_events_emit(p->cfg.events, o, human);

    if (p->cfg.dry_run || mp_report_verdict(r) == MP_VERDICT_REJECT) {
        session_reject(s);
        session_check_done(s);
        return;
    }
    s->state = S_CONNECTING;
    session_watch_stall(s);
    connect_next(s);
}

/* ------------------------------------------------------------------ */
/* the destination side */

/* The destination's end of @ch is ready: forward. */
static void channel_destination_ready(Channel *ch, GIOStream *io)
{
    Session *s = ch->s;

    ch->up.out = g_io_stream_get_output_stream(io);
    ch->down.in = g_io_stream_get_input_stream(io);
    ch->down.dec = new_decoder(ch, false);
    if (ch->kind == CH_MAIN) {
        s->state = S_FORWARDING;
    }
    leg_pump(&ch->up);
    leg_pump(&ch->down);
    connect_next(s);
    session_check_done(s);
}

static void on_destination_tls(GIOStream *io, MpTlsFailure *failure, gpointer data)
{
    Channel *ch = data;
    Session *s = ch->s;

    ch->connecting = false;
    if (!io) {
        if (failure && !s->finished) {
            MpFinding *f;

            if (!s->report) {
                s->report = mp_policy_new_report(s->proxy->cfg.policy);
            }
            f = mp_tls_add_finding(failure, s->report);
            mp_events_finding(s->proxy->cfg.events, s->id, f);
            session_abort(s, "destination", failure->message);
        }
        mp_tls_failure_free(failure);
    } else if (s->finished || ch->closed) {
        g_object_unref(io);
    } else {
        ch->dst_io = io;
        channel_destination_ready(ch, io);
    }
    session_unref(s);
}

static void on_connected(GObject *obj, GAsyncResult *res, gpointer data)
{
    Channel *ch = data;
    Session *s = ch->s;
    g_autoptr(GError) error = NULL;
    GSocketConnection *conn;

    ch->connecting = false;
    conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(obj), res, &error);
    if (!conn) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && !s->finished) {
            MpFinding *f;

            if (!s->report) {
                s->report = mp_policy_new_report(s->proxy->cfg.policy);
            }
            f = mp_report_add(s->report, "destination-unreachable", s->route->cfg.connect,
                              NULL, error->message,
                              "check --connect and that the destination waits with -incoming",
                              "cannot connect the %s channel to the destination: %s",
                              channel_kind_name(ch->kind), error->message);
            mp_events_finding(s->proxy->cfg.events, s->id, f);
            session_abort(s, "destination", error->message);
        }
        session_unref(s);
        return;
    }
    if (s->finished || ch->closed) {
        g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
        g_object_unref(conn);
        session_unref(s);
        return;
    }
    ch->dst = conn;
    mp_capture_destination(s->proxy->cfg.capture, s->id, ch->index, conn);
    leg_no_delay(conn);
    mp_liveness_tune(conn, s->proxy->cfg.tcp_timeout_s);
    ch->dst_ifindex = mp_liveness_ifindex(conn);
    s->contacted = true;
    /*
     * The client's connect timeout stays on the socket as an I/O timeout;
     * a destination may rightly stay silent for the whole migration (no
     * return path), so reads towards the source must not time out.
     */
    g_socket_set_timeout(g_socket_connection_get_socket(conn), 0);
    /* after the timeout is gone: a GSocket source would inherit it */
    mp_liveness_watch(conn, on_dst_error, ch, &ch->dst_watch);
    if (mp_tls_mode(s->proxy->cfg.tls) == MP_TLS_TERMINATE) {
        g_autofree char *host = mp_tls_uri_host(s->route->cfg.connect);

        ch->connecting = true;  /* the next channel waits for this handshake */
        mp_tls_connect_async(s->proxy->cfg.tls, conn, host, s->cancel, on_destination_tls, ch);
        return;                 /* the session reference goes on with it */
    }
    channel_destination_ready(ch, G_IO_STREAM(conn));
    session_unref(s);
}

/* Connect the first channel without a destination end, one at a time. */
static void connect_next(Session *s)
{
    Channel *next = NULL;

    if (s->finished || s->rejected || !s->decided) {
        return;
    }
    for (guint i = 0; i < s->channels->len; i++) {
        Channel *ch = g_ptr_array_index(s->channels, i);

        if (ch->connecting) {
            return;             /* keep QEMU's arrival order */
        }
        if (!ch->dst && !ch->closed) {
            next = ch;
            break;
        }
    }
    if (!next) {
        return;
    }
    next->connecting = true;
    g_socket_client_connect_async(s->route->client, G_SOCKET_CONNECTABLE(s->route->connect_addr),
                                  s->cancel, on_connected, next);
    session_ref(s);
}

/* ------------------------------------------------------------------ */
/* liveness: phases, stalls, links (the kernel's part is in liveness.c) */

/* Where the session is, for events: what a silence in it means differs. */
static const char *session_phase(const Session *s)
{
    const Channel *main_ch = s->channels->len ? g_ptr_array_index(s->channels, 0) : NULL;

    if (!s->decided) {
        return s->prefix_done ? "gate" : "prefix";
    }
    if (s->stream_eof || (main_ch && main_ch->up.eof)) {
        return "end";
    }
    /* QEMU sends device state in FULL sections once RAM's iterations end */
    if (s->section && g_str_has_prefix(s->section, "FULL") && s->ram_start_done) {
        return "device-state";
    }
    return s->section && strstr(s->section, "'ram'") ? "ram" : "stream";
}

/* Bytes of the main channel read from the source so far. */
static uint64_t session_source_offset(const Session *s)
{
    const Channel *main_ch = s->channels->len ? g_ptr_array_index(s->channels, 0) : NULL;

    return main_ch && main_ch->up.dec ? mig_decoder_offset(main_ch->up.dec) : 0;
}

/*
 * Which peer owes the session's next move: one the proxy is writing to
 * and that takes nothing (a paused destination: TCP_USER_TIMEOUT keeps a
 * peer that answers with a zero window, only this timeout ends it), or
 * else the one it waits to read from.  NULL while a connection is being
 * made (the connect has its own timeout).
 */
static const char *session_owing_peer(const Session *s, bool end)
{
    for (guint i = 0; i < s->channels->len; i++) {
        const Channel *ch = g_ptr_array_index(s->channels, i);

        if (ch->closed) {
            continue;
        }
        if (ch->connecting) {
            return NULL;
        }
        if (ch->up.writing || ch->up.queued_buf) {
            return "destination";
        }
        if (ch->down.writing || ch->down.queued_buf) {
            return "source";
        }
    }
    return end ? "destination" : "source";
}

/*
 * After the gate, a session that moves no byte on any leg for the phase's
 * timeout is broken off: in the stream the source owes the next bytes
 * (QEMU writes RAM continuously; with multifd any channel counts) unless
 * the destination takes nothing; after the source's last record the
 * destination owes its answer (the return path's SHUT, or its close).
 */
static gboolean on_stall_check(gpointer data)
{
    Session *s = data;
    MpProxyConfig *cfg = &s->proxy->cfg;
    gint64 now = g_get_monotonic_time();
    const char *phase, *who;
    bool end;
    guint limit_s;

    if (s->finished) {
        s->stall_timer = 0;
        return G_SOURCE_REMOVE;
    }
    if (s->paused) {
        /* postcopy waits for its recovery channel: that wait has its own limit */
        s->last_progress_us = now;
        return G_SOURCE_CONTINUE;
    }
    phase = session_phase(s);
    end = strcmp(phase, "end") == 0;
    who = session_owing_peer(s, end);
    limit_s = end ? cfg->end_timeout_s : cfg->stall_timeout_s;
    {
        bool pause = false;

        /*
         * pause-before-switchover: the source waits, silent, for its
         * management's migrate-continue, as long as that takes.  The stream
         * does not say so; --source-qmp does.
         */
        if (!end && s->src_qmp && mp_facts_get_cap(s->src_qmp, "pause-before-switchover", &pause) &&
            pause) {
            limit_s = 0;
        }
    }
    if (!who) {
        s->last_progress_us = now;
        return G_SOURCE_CONTINUE;
    }
    if (!limit_s || now - s->last_progress_us < (gint64)limit_s * G_USEC_PER_SEC) {
        return G_SOURCE_CONTINUE;
    }
    {
        g_autofree char *why = g_strdup_printf("the %s moved nothing for %u s (%s phase timeout)",
                                               who, limit_s, phase);
        JsonObject *o = mp_events_begin("stalled", s->id);
        g_autofree char *human = g_strdup_printf(
            "session %u: the %s leg is silent: nothing for %u s in the %s phase at source byte %"
            G_GUINT64_FORMAT, s->id, who, limit_s, phase, session_source_offset(s));

        json_object_set_string_member(o, "leg", who);
        json_object_set_string_member(o, "phase", phase);
        json_object_set_int_member(o, "timeout_s", limit_s);
        json_object_set_int_member(o, "source_offset", (gint64)session_source_offset(s));
        if (s->section) {
            json_object_set_string_member(o, "last_section", s->section);
        }
        mp_events_emit(cfg->events, o, human);
        s->stall_timer = 0;
        session_abort(s, who, why);
    }
    return G_SOURCE_REMOVE;
}

static void session_watch_stall(Session *s)
{
    if (s->stall_timer || (!s->proxy->cfg.stall_timeout_s && !s->proxy->cfg.end_timeout_s)) {
        return;
    }
    s->last_progress_us = g_get_monotonic_time();
    /* a quarter second: the granularity of the timeouts, cheap per session */
    s->stall_timer = g_timeout_add_full(G_PRIORITY_DEFAULT, 250, on_stall_check, session_ref(s),
                                        (GDestroyNotify)session_unref);
}

/*
 * An interface lost its carrier for the monitor's grace time: every
 * session with a leg over it is broken off at once, naming that leg; TCP
 * would only see silence and wait for minutes.
 */
static void on_link_down(int ifindex, const char *ifname, guint down_ms, gpointer data)
{
    MpProxy *p = data;
    g_autoptr(GPtrArray) hit = g_ptr_array_new_with_free_func((GDestroyNotify)session_unref);
    g_autoptr(GPtrArray) who = g_ptr_array_new();

    for (guint r = 0; r < p->routes->len; r++) {
        Route *route = g_ptr_array_index(p->routes, r);

        for (guint i = 0; i < route->sessions->len; i++) {
            Session *s = g_ptr_array_index(route->sessions, i);

            for (guint c = 0; c < s->channels->len && !s->finished; c++) {
                Channel *ch = g_ptr_array_index(s->channels, c);

                if (ch->closed) {
                    continue;
                }
                if (ch->src_ifindex == ifindex || (ch->dst && ch->dst_ifindex == ifindex)) {
                    g_ptr_array_add(hit, session_ref(s));
                    g_ptr_array_add(who, (gpointer)(ch->src_ifindex == ifindex ? "source"
                                                                              : "destination"));
                    break;
                }
            }
        }
    }
    for (guint i = 0; i < hit->len; i++) {
        Session *s = g_ptr_array_index(hit, i);
        g_autofree char *why = g_strdup_printf("link %s lost its carrier (down for %u ms)",
                                               ifname, down_ms);

        session_abort(s, g_ptr_array_index(who, i), why);
    }
}

/* ------------------------------------------------------------------ */
/* the end */

/* Nobody came to recover the paused migration: it failed where it broke. */
static gboolean on_recovery_timeout(gpointer data)
{
    Session *s = data;
    g_autofree char *why = g_strdup_printf("%s; no recovery within %u s", s->pause_why,
                                           MP_RECOVERY_WAIT_S);

    s->recovery_timer = 0;
    s->paused = false;
    s->recovery_given_up = true;
    session_abort(s, s->pause_who, why);
    return G_SOURCE_REMOVE;
}

/*
 * In postcopy the guest runs at the destination and each side holds part
 * of its memory: a broken connection must not end the migration.  QEMU
 * pauses both sides (postcopy-paused) and the operator recovers with
 * migrate-recover at the destination (on the address migproxy connects
 * to) and migrate with resume=true at the source (to migproxy).  So the
 * proxy closes what is left of the connections, so that both sides see the
 * break, and keeps the session for the recovery channel, for at most
 * MP_RECOVERY_WAIT_S.  Returns FALSE when the session is not pausable.
 */
static bool session_pause(Session *s, const char *who, const char *why)
{
    g_autofree char *human = NULL;
    JsonObject *o;

    /* the proxy's own cut is a decision, not a failure to recover from */
    if (!s->postcopy_running || s->stream_eof || s->recovery_given_up ||
        strcmp(who, "proxy") == 0) {
        return false;
    }
    s->paused = true;
    g_free(s->pause_who);
    g_free(s->pause_why);
    s->pause_who = g_strdup(who);
    s->pause_why = g_strdup(why);
    human = g_strdup_printf("session %u: postcopy broken off by the %s: %s; paused, waiting "
                            "for a recovery (migrate-recover at the destination, migrate "
                            "resume=true at the source)", s->id, who, why);
    o = mp_events_begin("paused", s->id);
    json_object_set_string_member(o, "broke_off", who);
    json_object_set_string_member(o, "error", why);
    if (s->section) {
        json_object_set_string_member(o, "last_section", s->section);
    }
    json_object_set_int_member(o, "wait_s", MP_RECOVERY_WAIT_S);
    mp_events_emit(s->proxy->cfg.events, o, human);
    for (guint i = 0; i < s->channels->len; i++) {
        channel_close(g_ptr_array_index(s->channels, i));
    }
    s->recovery_timer = g_timeout_add_seconds(MP_RECOVERY_WAIT_S, on_recovery_timeout, s);
    return true;
}

/* A recovery channel for paused session @s: it carries the rest of the stream. */
static void session_resume(Session *s, Channel *ch)
{
    g_autofree char *human = g_strdup_printf("session %u: recovery channel %u: resuming "
                                             "postcopy", s->id, s->channels->len);
    JsonObject *o;

    s->paused = false;
    g_source_remove(s->recovery_timer);
    s->recovery_timer = 0;
    s->recoveries++;
    /* what the broken main channel's decoder said no longer stands */
    g_clear_pointer(&s->failure, g_free);
    ch->recovery = true;
    attach(s, ch, CH_MAIN);
    o = mp_events_begin("resumed", s->id);
    json_object_set_int_member(o, "index", ch->index);
    json_object_set_int_member(o, "recoveries", s->recoveries);
    mp_events_emit(s->proxy->cfg.events, o, human);
    channel_start(s, ch);
}

static void session_abort(Session *s, const char *who, const char *why)
{
    if (s->finished || s->broke_off || s->paused) {
        return;
    }
    if (session_pause(s, who, why)) {
        return;
    }
    s->broke_off = g_strdup(who);
    if (!s->failure) {
        s->failure = g_strdup(why);
    }
    {
        /* said at once: the end event waits for the destination's QMP */
        g_autofree char *human = g_strdup_printf(
            "session %u: broken off by the %s (%s phase, source byte %" G_GUINT64_FORMAT
            "%s%s): %s", s->id, who, session_phase(s), session_source_offset(s),
            s->section ? ", in " : "", s->section ? s->section : "", why);
        JsonObject *o = mp_events_begin("broken", s->id);

        json_object_set_string_member(o, "broke_off", who);
        json_object_set_string_member(o, "error", why);
        if (s->section) {
            json_object_set_string_member(o, "last_section", s->section);
            json_object_set_int_member(o, "last_section_offset", (gint64)s->section_offset);
        }
        json_object_set_string_member(o, "phase", session_phase(s));
        json_object_set_int_member(o, "source_offset", (gint64)session_source_offset(s));
        mp_events_emit(s->proxy->cfg.events, o, human);
    }
    for (guint i = 0; i < s->channels->len; i++) {
        channel_close(g_ptr_array_index(s->channels, i));
    }
    g_cancellable_cancel(s->cancel);
    session_check_done(s);
}

typedef struct {
    char *dest_qmp;
    char *status;
    char *error_desc;
    char *qmp_error;
} OutcomeJob;

static void outcome_job_free(OutcomeJob *j)
{
    g_free(j->dest_qmp);
    g_free(j->status);
    g_free(j->error_desc);
    g_free(j->qmp_error);
    g_free(j);
}

/* Ask the destination how it ended, for up to 5 s while it is still busy. */
static void outcome_thread(GTask *task, gpointer source, gpointer data, GCancellable *c)
{
    OutcomeJob *j = data;

    for (guint attempt = 0; attempt < 50; attempt++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MpQmp) qmp = mp_qmp_connect(j->dest_qmp, 2, &error);

        g_clear_pointer(&j->status, g_free);
        g_clear_pointer(&j->error_desc, g_free);
        g_clear_pointer(&j->qmp_error, g_free);
        if (qmp) {
            j->status = mp_qmp_migrate_status(qmp, &j->error_desc, &error);
        }
        if (!j->status) {
            j->qmp_error = g_strdup(error->message);
            if (attempt >= 2) {
                break;          /* QEMU is gone: that is the answer */
            }
        } else if (strcmp(j->status, "completed") == 0 || strcmp(j->status, "failed") == 0) {
            break;
        }
        g_usleep(100 * 1000);
    }
    g_task_return_boolean(task, TRUE);
}

static void add_channel_summaries(Session *s, JsonObject *o, uint64_t *to_dst, uint64_t *to_src)
{
    JsonArray *a = json_array_new();

    *to_dst = *to_src = 0;
    for (guint i = 0; i < s->channels->len; i++) {
        Channel *ch = g_ptr_array_index(s->channels, i);
        JsonObject *c = json_object_new();

        json_object_set_string_member(c, "kind", ch->recovery ? "recovery"
                                                 : channel_kind_name(ch->kind));
        json_object_set_int_member(c, "bytes_to_destination", (gint64)ch->up.bytes);
        json_object_set_int_member(c, "bytes_to_source", (gint64)ch->down.bytes);
        if (ch->up.sum) {
            json_object_set_string_member(c, "sha256_to_destination",
                                          g_checksum_get_string(ch->up.sum));
            json_object_set_string_member(c, "sha256_to_source",
                                          g_checksum_get_string(ch->down.sum));
        }
        mp_tls_describe_channel(c, ch->src_io, ch->dst_io);
        if (ch->up.dec) {
            json_object_set_int_member(c, "bytes_from_source",
                                       (gint64)mig_decoder_stats(ch->up.dec)->bytes);
        }
        *to_dst += ch->up.bytes;
        *to_src += ch->down.bytes;
        json_array_add_object_element(a, c);
    }
    json_object_set_array_member(o, "channels", a);
}

static void session_end(Session *s, const char *outcome, const char *dest_status,
                        const char *dest_error)
{
    MpProxy *p = s->proxy;
    JsonObject *o = mp_events_begin("end", s->id);
    uint64_t to_dst, to_src;
    g_autofree char *human = NULL;

    s->state = S_DONE;
    json_object_set_string_member(o, "outcome", outcome);
    add_channel_summaries(s, o, &to_dst, &to_src);
    json_object_set_int_member(o, "bytes_to_destination", (gint64)to_dst);
    json_object_set_int_member(o, "bytes_to_source", (gint64)to_src);
    json_object_set_boolean_member(o, "destination_contacted", s->contacted);
    json_object_set_boolean_member(o, "dry_run", p->cfg.dry_run);
    json_object_set_int_member(o, "recoveries", s->recoveries);
    json_object_set_int_member(o, "rounds", mp_convergence_n_rounds(s->conv));
    json_object_set_int_member(o, "pages_sent_again",
                               (gint64)mp_convergence_total_pages_again(s->conv));
    json_object_set_double_member(o, "duration_s",
                                  (double)(g_get_monotonic_time() - s->start_us) / 1e6);
    if (s->broke_off) {
        json_object_set_string_member(o, "broke_off", s->broke_off);
    }
    if (s->failure) {
        json_object_set_string_member(o, "error", s->failure);
    }
    if (s->section) {
        json_object_set_string_member(o, "last_section", s->section);
        json_object_set_int_member(o, "last_section_offset", (gint64)s->section_offset);
    }
    if (s->rp_shut) {
        json_object_set_int_member(o, "return_path_shut", s->rp_shut_value);
    }
    if (p->cfg.capture) {
        /* records the disk could not keep up with, since the daemon started */
        json_object_set_int_member(o, "capture_dropped",
                                   (gint64)mp_capture_dropped(p->cfg.capture));
        mp_capture_tcp_summary(p->cfg.capture, s->id, o);
    }
    if (dest_status) {
        json_object_set_string_member(o, "destination_status", dest_status);
    }
    if (dest_error) {
        json_object_set_string_member(o, "destination_error", dest_error);
    }
    human = g_strdup_printf("session %u: end: %s; %" G_GUINT64_FORMAT " bytes to the destination, %"
                            G_GUINT64_FORMAT " to the source%s%s%s%s", s->id, outcome, to_dst, to_src,
                            s->broke_off ? "; broken off by the " : "",
                            s->broke_off ? s->broke_off : "",
                            s->failure ? ": " : "", s->failure ? s->failure : "");
    mp_events_emit(p->cfg.events, o, human);
    if (p->cfg.once && p->exit_status < 0) {
        if (strcmp(outcome, "completed") == 0) {
            p->exit_status = 0;
        } else if (strcmp(outcome, "rejected") == 0) {
            p->exit_status = p->cfg.dry_run && s->report &&
                             mp_report_verdict(s->report) == MP_VERDICT_ACCEPT ? 0 : 1;
        } else {
            p->exit_status = 2;
        }
        g_main_loop_quit(p->loop);
    }
}

static void add_failure_finding(Session *s, const char *dest_error)
{
    MpFinding *f;
    g_autofree char *where = s->section ?
        g_strdup_printf("%s at stream offset %" G_GUINT64_FORMAT, s->section, s->section_offset) :
        g_strdup("before the first section");
    bool dest = s->broke_off && strcmp(s->broke_off, "destination") == 0;

    if (s->cut) {
        return;     /* the proxy cut on a finding it has reported: no side failed */
    }
    if (!s->report) {
        s->report = mp_policy_new_report(s->proxy->cfg.policy);
    }
    f = mp_report_add(s->report, dest || !s->broke_off ? "destination-failed" : "source-failed",
                      where, NULL, dest_error,
                      dest || !s->broke_off ? "read the destination QEMU's log for the device named here"
                                            : "read the source QEMU's log",
                      "the %s broke off the migration while %s was being forwarded%s%s",
                      s->broke_off ? s->broke_off : "destination", where,
                      dest_error ? ": " : (s->failure ? ": " : ""),
                      dest_error ? dest_error : (s->failure ? s->failure : ""));
    mp_events_finding(s->proxy->cfg.events, s->id, f);
}

/* The destination shook hands on the main channel and never began to load. */
static void session_tls_refused(Session *s)
{
    MpTlsFailure *failure = mp_tls_destination_refused_failure(s->proxy->cfg.tls);

    if (!s->report) {
        s->report = mp_policy_new_report(s->proxy->cfg.policy);
    }
    mp_events_finding(s->proxy->cfg.events, s->id, mp_tls_add_finding(failure, s->report));
    mp_tls_failure_free(failure);
}

static void on_outcome(GObject *obj, GAsyncResult *res, gpointer data)
{
    Session *s = data;
    OutcomeJob *j = g_task_get_task_data(G_TASK(res));
    const char *outcome;
    g_autofree char *dest_error = NULL;

    if (j->status && strcmp(j->status, "completed") == 0 && !s->broke_off &&
        (s->stream_clean || s->late_undecodable) && !(s->rp_shut && s->rp_shut_value)) {
        outcome = "completed";
    } else {
        outcome = "failed";
        dest_error = g_strdup(j->error_desc ? j->error_desc :
                              j->status ? j->status :
                              j->qmp_error ? "the destination QEMU is gone (its QMP does not answer)"
                                           : NULL);
        if (j->status && strcmp(j->status, "none") == 0 &&
            ((Channel *)g_ptr_array_index(s->channels, 0))->dst_io) {
            session_tls_refused(s);
        }
        add_failure_finding(s, dest_error);
    }
    session_end(s, outcome, j->status, dest_error);
    session_unref(s);
}

/* Close every channel and stop the timers (each holds a reference). */
static void session_stop(Session *s)
{
    s->finished = true;
    for (guint i = 0; i < s->channels->len; i++) {
        channel_close(g_ptr_array_index(s->channels, i));
    }
    if (s->settle_timer) {
        g_source_remove(s->settle_timer);
        s->settle_timer = 0;
    }
    if (s->prefix_timer) {
        g_source_remove(s->prefix_timer);
        s->prefix_timer = 0;
    }
    if (s->hold_timer) {
        g_source_remove(s->hold_timer);
        s->hold_timer = 0;
    }
    if (s->stall_timer) {
        g_source_remove(s->stall_timer);
        s->stall_timer = 0;
    }
}

static void session_finish(Session *s)
{
    session_stop(s);
    s->state = S_FINISHING;
    if (s->rejected) {
        session_end(s, "rejected", NULL, NULL);
        return;
    }
    if (s->route->cfg.dest_qmp && s->contacted) {
        OutcomeJob *j = g_new0(OutcomeJob, 1);
        g_autoptr(GTask) task = g_task_new(NULL, NULL, on_outcome, session_ref(s));

        j->dest_qmp = g_strdup(s->route->cfg.dest_qmp);
        g_task_set_task_data(task, j, (GDestroyNotify)outcome_job_free);
        g_task_run_in_thread(task, outcome_thread);
        return;
    }
    if (!s->broke_off && (s->stream_clean || s->late_undecodable) && !(s->rp_shut && s->rp_shut_value)) {
        session_end(s, "completed", NULL, NULL);
    } else {
        g_autofree char *rp = s->rp_shut && s->rp_shut_value ?
            g_strdup_printf("the destination's return path said SHUT %u", s->rp_shut_value) : NULL;

        add_failure_finding(s, rp);
        session_end(s, "failed", NULL, rp);
    }
}

static void session_check_done(Session *s)
{
    if (s->finished || s->paused) {
        return;
    }
    if (!s->rejected && !s->broke_off) {
        if (!s->decided) {
            return;
        }
        for (guint i = 0; i < s->channels->len; i++) {
            if (!channel_done(g_ptr_array_index(s->channels, i))) {
                return;
            }
        }
    }
    session_finish(s);
    /* the route's reference: a finished session stays only for late callbacks */
    g_ptr_array_remove(s->route->sessions, s);
    session_unref(s);
}

/* ------------------------------------------------------------------ */
/* proxy and routes */

MpProxy *mp_proxy_new(const MpProxyConfig *config, GMainLoop *loop)
{
    MpProxy *p = g_new0(MpProxy, 1);

    p->cfg = *config;
    p->loop = loop;
    if (!p->cfg.limits.prefix_bytes) {
        p->cfg.limits.prefix_bytes = MP_LIMIT_PREFIX;
    }
    if (!p->cfg.limits.held_bytes) {
        p->cfg.limits.held_bytes = MP_LIMIT_HELD;
    }
    p->routes = g_ptr_array_new();
    p->exit_status = -1;
    if (config->link_down_ms) {
        g_autoptr(GError) error = NULL;

        p->links = mp_link_monitor_new(config->link_down_ms, on_link_down, p, &error);
        if (!p->links) {
            g_warning("%s: a link going down will be noticed only by TCP", error->message);
        }
    }
    return p;
}

/* How long mp_proxy_free waits for callbacks of cancelled operations. */
#define MP_DRAIN_US (2 * G_USEC_PER_SEC)

static bool proxy_drained(const MpProxy *p)
{
    if (p->n_sessions) {
        return false;
    }
    for (guint i = 0; i < p->routes->len; i++) {
        const Route *r = g_ptr_array_index(p->routes, i);

        if (r->accepting || r->unclassified->len) {
            return false;
        }
    }
    return true;
}

static gboolean wake_up(gpointer data)
{
    return G_SOURCE_CONTINUE;
}

static void route_free(Route *r)
{
    /* adopt_later and on_silent_check hold the route, not a reference */
    while (g_source_remove_by_user_data(r)) {
    }
    for (guint i = 0; i < r->parked->len; i++) {
        channel_free(g_ptr_array_index(r->parked, i));
    }
    g_ptr_array_unref(r->parked);
    g_ptr_array_unref(r->unclassified);
    g_ptr_array_unref(r->sessions);
    g_object_unref(r->listener);
    g_object_unref(r->client);
    g_object_unref(r->connect_addr);
    g_object_unref(r->cancel);
    g_free(r->cfg.listen);
    g_free(r->cfg.connect);
    g_free(r->cfg.dest_qmp);
    g_free(r->cfg.source_qmp);
    mp_facts_free(r->cfg.dest_profile);
    g_free(r);
}

/*
 * Sessions still running are stopped without an end event (the daemon is
 * going away, the migration did not end); every operation is cancelled and
 * the main context run until their callbacks have let go of the sessions
 * and routes, for at most MP_DRAIN_US (a QMP thread may take longer: then
 * the routes are left allocated rather than freed under it).
 */
void mp_proxy_free(MpProxy *proxy)
{
    guint waker;
    gint64 deadline;

    if (!proxy) {
        return;
    }
    proxy->closing = true;
    for (guint i = 0; i < proxy->routes->len; i++) {
        Route *r = g_ptr_array_index(proxy->routes, i);

        g_cancellable_cancel(r->cancel);
        g_socket_listener_close(r->listener);
        if (g_str_has_prefix(r->cfg.listen, "unix:")) {
            unlink(r->cfg.listen + 5);
        }
        while (r->sessions->len) {
            Session *s = g_ptr_array_steal_index(r->sessions, r->sessions->len - 1);

            session_stop(s);
            g_cancellable_cancel(s->cancel);
            session_unref(s);   /* the route's reference */
        }
    }
    waker = g_timeout_add(10, wake_up, NULL);
    deadline = g_get_monotonic_time() + MP_DRAIN_US;
    while (!proxy_drained(proxy) && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_source_remove(waker);
    mp_link_monitor_free(proxy->links);
    proxy->links = NULL;
    if (!proxy_drained(proxy)) {
        return;     /* late callbacks still point here: the process is exiting */
    }
    g_ptr_array_set_free_func(proxy->routes, (GDestroyNotify)route_free);
    g_ptr_array_unref(proxy->routes);
    g_free(proxy);
}

const char *mp_proxy_route_listen(const MpProxy *proxy, guint index)
{
    g_return_val_if_fail(index < proxy->routes->len, NULL);
    return ((Route *)g_ptr_array_index(proxy->routes, index))->cfg.listen;
}

int mp_proxy_exit_status(const MpProxy *proxy)
{
    return proxy->exit_status;
}

bool mp_proxy_add_route(MpProxy *proxy, const MpRouteConfig *cfg, GError **error)
{
    g_autoptr(GSocketAddress) listen_addr = mp_uri_parse(cfg->listen, error);
    g_autoptr(GSocketAddress) effective = NULL;
    Route *r;

    if (!listen_addr) {
        return false;
    }
    r = g_new0(Route, 1);
    r->proxy = proxy;
    r->connect_addr = mp_uri_parse(cfg->connect, error);
    if (!r->connect_addr) {
        g_free(r);
        return false;
    }
    if (G_IS_UNIX_SOCKET_ADDRESS(listen_addr)) {
        const char *path = g_unix_socket_address_get_path(G_UNIX_SOCKET_ADDRESS(listen_addr));
        struct stat st;

        /* a socket file left by an earlier run would make bind() fail */
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(path);
        }
    }
    r->listener = g_socket_listener_new();
    if (!g_socket_listener_add_address(r->listener, listen_addr, G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_DEFAULT, NULL, &effective, error)) {
        g_prefix_error(error, "--listen %s: ", cfg->listen);
        g_object_unref(r->listener);
        g_object_unref(r->connect_addr);
        g_free(r);
        return false;
    }
    /* port 0 picks a free port: the route is known by the real one */
    r->cfg.listen = mp_uri_describe(effective);
    r->cfg.connect = g_strdup(cfg->connect);
    r->cfg.dest_qmp = g_strdup(cfg->dest_qmp);
    r->cfg.source_qmp = g_strdup(cfg->source_qmp);
    r->cfg.dest_profile = cfg->dest_profile;
    r->client = g_socket_client_new();
    g_socket_client_set_timeout(r->client, 10);
    r->cancel = g_cancellable_new();
    r->sessions = g_ptr_array_new();
    r->unclassified = g_ptr_array_new();
    r->parked = g_ptr_array_new();
    g_ptr_array_add(proxy->routes, r);
    g_socket_listener_accept_async(r->listener, r->cancel, on_accept, r);
    r->accepting = true;
    return true;
}
