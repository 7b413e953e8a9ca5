/*
 * proxy-internal.h - the types the daemon's files share (proxy.h says how
 * routes, sessions, channels and legs work together) and the functions one
 * of them calls in another.  Not for use outside proxy/.  Names: a
 * *channel* is one connection from the source and its counterpart to the
 * destination; a *leg* is one direction of a channel (up: source to
 * destination, down: destination to source).
 */
#ifndef MP_PROXY_INTERNAL_H
#define MP_PROXY_INTERNAL_H

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

/* proxy.c */
const char *channel_kind_name(ChannelKind k);
Session *session_ref(Session *s);
void channel_unwatch(Channel *ch);
void channel_free(Channel *ch);
void session_unref(Session *s);
Session *session_new(Route *route);
void session_emit(Session *s, const char *event, const char *human);

/* channels.c */
void channel_close(Channel *ch);
bool channel_done(const Channel *ch);
void channel_on_dst_error(gpointer data);
void channel_attach(Session *s, Channel *ch, ChannelKind kind);
void channel_start(Session *s, Channel *ch);
Session *session_before(Route *route, guint64 seq);
void session_join(Session *s, Channel *ch, ChannelKind kind);
bool session_channels_full(const Session *s);
void route_adopt_parked(Route *route);
gboolean route_on_silent_check(gpointer data);
gboolean route_adopt_later(gpointer data);
void route_refuse(Route *route, MpTlsFailure *failure);
void channel_classify(Channel *ch, const guint8 *data, gsize n);
void leg_no_delay(GSocketConnection *conn);
void route_on_accept(GObject *obj, GAsyncResult *res, gpointer data);

/* legs.c */
void leg_feed(Leg *l, const guint8 *data, gsize n);
void leg_pump(Leg *l);
void leg_init(Leg *l, Channel *ch, bool up, bool checksum);

/* stream-watch.c */
void session_devgate_emit(const MpFinding *f, void *opaque);
bool session_devgate_apply(Session *s, Leg *l, const guint8 *buf, gsize n);
MigDecoder *channel_new_decoder(Channel *ch, bool up);
void leg_decoder_failed(Leg *l, GError *error);

/* gate.c */
void session_fetch_facts(Session *s);
void session_gate(Session *s);
void session_reject(Session *s);
void session_connect_next(Session *s);

/* session-end.c */
void session_watch_stall(Session *s);
void proxy_on_link_down(int ifindex, const char *ifname, guint down_ms, gpointer data);
void session_resume(Session *s, Channel *ch);
void session_abort(Session *s, const char *who, const char *why);
void session_stop(Session *s);
void session_check_done(Session *s);

#endif
