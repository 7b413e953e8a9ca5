/*
 * proxy.h - the daemon: routes (one listen address forwarding to one
 * destination), the sessions that migrations become, and the gate.
 *
 * How it works.  Each accepted connection is read before anything else is
 * done with it; its first four bytes say what it is: "QEVM" opens a new
 * session (a migration's main channel), the multifd magic joins the latest
 * session of the same route (QEMU 7.2 opens multifd channels right after
 * main), other bytes join it as the postcopy-preempt channel.  Every chunk
 * read from the source is fed to a decoder (wire/) before it goes anywhere.
 * Until the main channel's prefix (header, configuration, commands, the
 * setup sections with the whole RAM-block list) has been decoded, the
 * bytes are held and the destination is not contacted.  Then the gate
 * (policy/) compares the source's facts with the destination's: on reject
 * the source's connections are closed and the destination never hears of
 * the migration; on accept the proxy connects to the destination in the
 * order QEMU 7.2 classifies connections (main first, then the others in
 * arrival order), sends what it held and from then on forwards each chunk
 * after decoding it.  Each direction of each connection has two buffers:
 * one chunk can be read while the one before it is written, and no more,
 * so a slow destination slows the source and memory stays bounded.
 */
#ifndef MP_PROXY_PROXY_H
#define MP_PROXY_PROXY_H

#include <gio/gio.h>
#include "access.h"
#include "capture.h"
#include "check.h"
#include "chunkbuf.h"
#include "events.h"
#include "facts.h"
#include "tls.h"

G_BEGIN_DECLS

/* the main channel's prefix (RAM-block list included) must fit in this */
#define MP_LIMIT_PREFIX        (16u * 1024u * 1024u)
/* what another channel may send before the gate has decided */
#define MP_LIMIT_HELD          (8u * 1024u * 1024u)
/* how long a postcopy that broke off waits for its recovery channel (s) */
#define MP_RECOVERY_WAIT_S     600u

typedef struct {
    char *listen;               /* URI */
    char *connect;              /* URI */
    char *dest_qmp;             /* URI or NULL */
    MpFacts *dest_profile;      /* or NULL; owned */
    char *source_qmp;           /* URI or NULL */
} MpRouteConfig;

typedef struct {
    MpEvents *events;           /* not owned */
    MpPolicy *policy;           /* not owned; may be NULL */
    bool dry_run;
    bool once;
    bool checksum;              /* sha256 per direction in the end event */
    bool hold_device_state;     /* hold the device state until checked (devgate.h) */
    MpCapture *capture;         /* --capture, or NULL; not owned */
    guint settle_ms;            /* wait for late channels before judging */
    guint prefix_timeout_s;     /* a connection's first bytes and a session's
                                 * prefix must come within this (0: never) */
    guint stall_timeout_s;      /* forwarding: the source silent this long
                                 * while the proxy waits for it (0: never) */
    guint end_timeout_s;        /* after the source's last record: the
                                 * destination silent this long (0: never) */
    guint tcp_timeout_s;        /* TCP_USER_TIMEOUT and keepalive (0: kernel's) */
    guint link_down_ms;         /* a leg's interface without carrier this long
                                 * ends its sessions (0: links not watched) */
    const MpAccess *access;     /* not owned; NULL: every peer */
    MpLimits limits;            /* zero byte limits: the MP_LIMIT_* defaults */
    MpTls *tls;                 /* not owned; NULL: plain text on both legs */
} MpProxyConfig;

typedef struct MpProxy MpProxy;

MpProxy *mp_proxy_new(const MpProxyConfig *config, GMainLoop *loop);
void mp_proxy_free(MpProxy *proxy);

/* Start listening on @route (copied).  FALSE with @error when it cannot. */
bool mp_proxy_add_route(MpProxy *proxy, const MpRouteConfig *route, GError **error);

/* The address route @index really listens on (port 0 resolved). */
const char *mp_proxy_route_listen(const MpProxy *proxy, guint index);

/*
 * With config->once: the exit status once the first migration is over
 * (0 completed, 1 rejected, 2 failed), -1 before.
 */
int mp_proxy_exit_status(const MpProxy *proxy);

G_END_DECLS

#endif
