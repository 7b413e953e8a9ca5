/*
 * liveness.c - noticing dead legs (see liveness.h).  A link that goes
 * down resets nothing: both ends only see silence, and a migration leg
 * may rightly be silent for long (a source waiting on the return path, a
 * destination loading device state).  So the proxy asks the kernel, which
 * knows more than silence: whether sent data is being acknowledged
 * (TCP_USER_TIMEOUT), whether an idle peer answers (keepalive), whether a
 * socket already holds an error the proxy has not read yet, and whether
 * the interface under a leg still has a carrier (rtnetlink, read with
 * libnl-route, which validates each message before it is looked at).
 */
#include "liveness.h"

#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/object.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <glib-unix.h>

/* <linux/if.h> has it but clashes with <net/if.h>; the value is ABI */
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

static bool is_tcp(GSocket *sock)
{
    GSocketFamily family = g_socket_get_family(sock);

    return family == G_SOCKET_FAMILY_IPV4 || family == G_SOCKET_FAMILY_IPV6;
}

void mp_liveness_tune(GSocketConnection *conn, guint timeout_s)
{
    GSocket *sock = g_socket_connection_get_socket(conn);
    /* probe an idle peer after a third of the time, then each second */
    gint idle = MAX(1, (gint)timeout_s / 3);
    gint count = MAX(1, (gint)timeout_s - idle);

    if (!timeout_s || !is_tcp(sock)) {
        return;
    }
    /*
     * Since Linux 5.11 a zero window answered by the peer does not count
     * against the user timeout: a destination that is paused (backpressure)
     * keeps its connection, one that is unreachable loses it.
     */
    g_socket_set_option(sock, IPPROTO_TCP, TCP_USER_TIMEOUT, (gint)timeout_s * 1000, NULL);
    g_socket_set_option(sock, SOL_SOCKET, SO_KEEPALIVE, 1, NULL);
    g_socket_set_option(sock, IPPROTO_TCP, TCP_KEEPIDLE, idle, NULL);
    g_socket_set_option(sock, IPPROTO_TCP, TCP_KEEPINTVL, 1, NULL);
    g_socket_set_option(sock, IPPROTO_TCP, TCP_KEEPCNT, count, NULL);
}

typedef struct {
    MpSocketErrorFunc func;
    gpointer data;
    GSocket *sock;
    guint *id;                  /* the owner's copy of the source id */
} Watch;

/* However the watch ends (fired, hang-up, removed), its owner's id is stale. */
static void watch_free(gpointer data)
{
    Watch *w = data;

    *w->id = 0;
    g_free(w);
}

static gboolean on_socket_condition(GSocket *sock, GIOCondition cond, gpointer data)
{
    Watch *w = data;

    /*
     * The error stays pending: a read in flight must still see it (taking
     * it here would turn a reset into an orderly end of stream).
     */
    if (cond & (G_IO_ERR | G_IO_NVAL)) {
        w->func(w->data);
    }
    /* a bare HUP is the normal end of both directions: reads report it */
    return G_SOURCE_REMOVE;
}

char *mp_liveness_take_error(GSocketConnection *conn)
{
    gint err = 0;

    g_socket_get_option(g_socket_connection_get_socket(conn), SOL_SOCKET, SO_ERROR, &err, NULL);
    return g_strdup(err ? g_strerror(err) : "socket error");
}

void mp_liveness_watch(GSocketConnection *conn, MpSocketErrorFunc func, gpointer data,
                       guint *id)
{
    GSocket *sock = g_socket_connection_get_socket(conn);
    /* GSocket sources always include HUP, ERR and NVAL in the condition */
    GSource *src = g_socket_create_source(sock, G_IO_ERR, NULL);
    Watch *w = g_new0(Watch, 1);

    w->func = func;
    w->data = data;
    w->id = id;
    g_source_set_callback(src, (GSourceFunc)(void (*)(void))on_socket_condition, w, watch_free);
    *id = g_source_attach(src, NULL);
    g_source_unref(src);
}

int mp_liveness_ifindex(GSocketConnection *conn)
{
    GSocket *sock = g_socket_connection_get_socket(conn);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct in_addr v4;
    struct in6_addr v6;
    bool want_v4;
    struct ifaddrs *ifs, *i;
    int index = 0;

    if (!is_tcp(sock) || getsockname(g_socket_get_fd(sock), (struct sockaddr *)&ss, &len) < 0) {
        return 0;
    }
    if (ss.ss_family == AF_INET) {
        v4 = ((struct sockaddr_in *)&ss)->sin_addr;
        want_v4 = true;
    } else if (ss.ss_family == AF_INET6) {
        v6 = ((struct sockaddr_in6 *)&ss)->sin6_addr;
        want_v4 = IN6_IS_ADDR_V4MAPPED(&v6);
        if (want_v4) {
            memcpy(&v4, &v6.s6_addr[12], 4);
        }
    } else {
        return 0;
    }
    if (getifaddrs(&ifs) < 0) {
        return 0;
    }
    for (i = ifs; i && !index; i = i->ifa_next) {
        if (!i->ifa_addr) {
            continue;
        }
        if (want_v4 && i->ifa_addr->sa_family == AF_INET &&
            memcmp(&((struct sockaddr_in *)i->ifa_addr)->sin_addr, &v4, 4) == 0) {
            index = (int)if_nametoindex(i->ifa_name);
        } else if (!want_v4 && i->ifa_addr->sa_family == AF_INET6 &&
                   memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, &v6, 16) == 0) {
            index = (int)if_nametoindex(i->ifa_name);
        }
    }
    freeifaddrs(ifs);
    return index;
}

/* ------------------------------------------------------------------ */
/* the link monitor */

struct MpLinkMonitor {
    struct nl_sock *sock;       /* rtnetlink, RTNLGRP_LINK */
    struct nl_cb *cb;           /* its callbacks: on_message() for every valid one */
    guint fd_watch;
    guint down_ms;
    MpLinkDownFunc func;
    gpointer data;
    GHashTable *down;           /* ifindex -> LinkDown *: no carrier, timer running */
};

typedef struct {
    MpLinkMonitor *m;
    int ifindex;
    char name[IF_NAMESIZE];
    guint timer;
} LinkDown;

static void link_down_free(gpointer p)
{
    LinkDown *d = p;

    if (d->timer) {
        g_source_remove(d->timer);
    }
    g_free(d);
}

static gboolean on_link_down_timer(gpointer data)
{
    LinkDown *d = data;
    MpLinkMonitor *m = d->m;
    int ifindex = d->ifindex;
    char name[IF_NAMESIZE];

    d->timer = 0;
    memcpy(name, d->name, sizeof(name));
    /* still down: the callback may end sessions, but the link stays known down */
    m->func(ifindex, name, m->down_ms, m->data);
    return G_SOURCE_REMOVE;
}

static void link_changed(MpLinkMonitor *m, int ifindex, const char *name, bool up)
{
    gpointer key = GINT_TO_POINTER(ifindex);
    LinkDown *d;

    if (up) {
        g_hash_table_remove(m->down, key);
        return;
    }
    if (g_hash_table_contains(m->down, key)) {
        return;
    }
    d = g_new0(LinkDown, 1);
    d->m = m;
    d->ifindex = ifindex;
    g_strlcpy(d->name, name && *name ? name : "?", sizeof(d->name));
    d->timer = g_timeout_add(m->down_ms, on_link_down_timer, d);
    g_hash_table_insert(m->down, key, d);
}

typedef struct {
    MpLinkMonitor *m;
    bool deleted;               /* RTM_DELLINK: gone, so down whatever its flags */
} LinkNews;

/* libnl's link object for one RTM_NEWLINK/RTM_DELLINK it has validated. */
static void on_link_object(struct nl_object *obj, void *arg)
{
    LinkNews *news = arg;
    struct rtnl_link *link = (struct rtnl_link *)obj;
    unsigned int flags;

    if (strcmp(nl_object_get_type(obj), "route/link") != 0) {
        return;
    }
    flags = rtnl_link_get_flags(link);
    link_changed(news->m, rtnl_link_get_ifindex(link), rtnl_link_get_name(link),
                 !news->deleted && (flags & IFF_UP) && (flags & IFF_LOWER_UP));
}

/* NL_CB_VALID: every message libnl received whole; links only. */
static int on_message(struct nl_msg *msg, void *arg)
{
    LinkNews news = { .m = arg };
    int type = nlmsg_hdr(msg)->nlmsg_type;

    if (type == RTM_NEWLINK || type == RTM_DELLINK) {
        news.deleted = type == RTM_DELLINK;
        /* a message libnl cannot parse as a link (too short) is skipped */
        nl_msg_parse(msg, on_link_object, &news);
    }
    return NL_OK;
}

void mp_link_monitor_feed(MpLinkMonitor *m, const guint8 *buf, size_t len)
{
    /* nlmsg_ok() bounds each message by what is left of the datagram */
    int left = (int)MIN(len, (size_t)INT_MAX);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;

    for (; nlmsg_ok(h, left); h = nlmsg_next(h, &left)) {
        struct nl_msg *msg = nlmsg_convert(h);

        if (msg) {
            /* as the socket would: libnl picks the parser by protocol and type */
            nlmsg_set_proto(msg, NETLINK_ROUTE);
            on_message(msg, m);
            nlmsg_free(msg);
        }
    }
}

static gboolean on_netlink(gint fd, GIOCondition cond, gpointer data)
{
    MpLinkMonitor *m = data;

    /* one datagram a call; bounded so that a storm of link news cannot
     * keep the loop from forwarding */
    for (guint n = 0; n < 64; n++) {
        int got = nl_recvmsgs_report(m->sock, m->cb);

        if (got == 0) {
            break;              /* nothing more for now */
        }
        if (got < 0) {
            /* NLE_NOMEM is ENOBUFS: news were dropped; later ones still come */
            if (got == -NLE_NOMEM || got == -NLE_AGAIN || got == -NLE_INTR) {
                break;
            }
            g_warning("link monitor: %s; no longer watching links", nl_geterror(got));
            m->fd_watch = 0;
            return G_SOURCE_REMOVE;
        }
    }
    return G_SOURCE_CONTINUE;
}

MpLinkMonitor *mp_link_monitor_new(guint down_ms, MpLinkDownFunc func, gpointer data,
                                   GError **error)
{
    g_autofree MpLinkMonitor *m = g_new0(MpLinkMonitor, 1);
    int err;

    /* (nl_socket_get_cb() would take a reference on every read) */
    m->cb = nl_cb_alloc(NL_CB_DEFAULT);
    m->sock = m->cb ? nl_socket_alloc_cb(m->cb) : NULL;
    if (!m->sock) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "link monitor (rtnetlink): out of memory");
        if (m->cb) {
            nl_cb_put(m->cb);
        }
        return NULL;
    }
    /* notifications carry no sequence number of ours */
    nl_socket_disable_seq_check(m->sock);
    nl_cb_set(m->cb, NL_CB_VALID, NL_CB_CUSTOM, on_message, m);
    if ((err = nl_connect(m->sock, NETLINK_ROUTE)) < 0 ||
        (err = nl_socket_add_membership(m->sock, RTNLGRP_LINK)) < 0 ||
        (err = nl_socket_set_nonblocking(m->sock)) < 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "link monitor (rtnetlink): %s",
                    nl_geterror(err));
        nl_socket_free(m->sock);
        nl_cb_put(m->cb);
        return NULL;
    }
    m->down_ms = down_ms;
    m->func = func;
    m->data = data;
    m->down = g_hash_table_new_full(NULL, NULL, NULL, link_down_free);
    m->fd_watch = g_unix_fd_add(nl_socket_get_fd(m->sock), G_IO_IN, on_netlink, m);
    return g_steal_pointer(&m);
}

void mp_link_monitor_free(MpLinkMonitor *m)
{
    if (!m) {
        return;
    }
    if (m->fd_watch) {
        g_source_remove(m->fd_watch);
    }
    g_hash_table_destroy(m->down);
    nl_socket_free(m->sock);
    nl_cb_put(m->cb);
    g_free(m);
}
