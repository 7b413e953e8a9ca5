/*
 * liveness.h - noticing dead legs: kernel socket options that turn a dead
 * TCP peer into a socket error, a watch that reports a socket error at
 * once even while the proxy is not reading that socket, and a link
 * monitor (rtnetlink) that tells when the interface a leg uses loses its
 * carrier, which TCP alone only learns as silence.
 */
#ifndef MP_PROXY_LIVENESS_H
#define MP_PROXY_LIVENESS_H

#include <gio/gio.h>
#include <stdbool.h>

G_BEGIN_DECLS

/*
 * TCP only (a no-op on unix sockets): unacknowledged data older than
 * @timeout_s aborts the connection (TCP_USER_TIMEOUT), and an idle
 * connection is probed with keepalives so that a peer gone quiet for
 * @timeout_s also becomes an error.  0: leave the kernel's defaults.
 */
void mp_liveness_tune(GSocketConnection *conn, guint timeout_s);

/*
 * Call @func (on the default main context) when @conn's socket has an
 * error pending (reset, abort, timeout).  The error is left pending, so
 * that a read in flight reports it; mp_liveness_take_error() takes it.
 * *@id holds the source id while the watch lives (remove it with
 * g_source_remove before the connection is closed) and is set to 0 when
 * the watch ends: it fires at most once, and ends without firing on a bare
 * hang-up (reads report that).
 */
typedef void (*MpSocketErrorFunc)(gpointer data);
void mp_liveness_watch(GSocketConnection *conn, MpSocketErrorFunc func, gpointer data,
                       guint *id);

/* The pending socket error's text (and the error is cleared). */
char *mp_liveness_take_error(GSocketConnection *conn);

/* The interface index of the local address of a TCP connection; 0 if none. */
int mp_liveness_ifindex(GSocketConnection *conn);

/*
 * The link monitor: @func is called once an interface has been without a
 * carrier (or gone) for @down_ms, with its index and name.
 */
typedef struct MpLinkMonitor MpLinkMonitor;
typedef void (*MpLinkDownFunc)(int ifindex, const char *ifname, guint down_ms, gpointer data);

MpLinkMonitor *mp_link_monitor_new(guint down_ms, MpLinkDownFunc func, gpointer data,
                                   GError **error);
void mp_link_monitor_free(MpLinkMonitor *m);

/* Hand the monitor one datagram of rtnetlink messages (@len bytes), as if
 * the kernel had sent it: what the socket reads goes here; tests use it. */
void mp_link_monitor_feed(MpLinkMonitor *m, const guint8 *buf, size_t len);

G_END_DECLS

#endif
