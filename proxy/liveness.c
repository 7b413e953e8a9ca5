/*
 * liveness.c - noticing dead legs (see liveness.h).  A link that goes
 * down resets nothing: both ends only see silence, and a migration leg
 * may rightly be silent for long (a source waiting on the return path, a
 * destination loading device state).  So the proxy asks the kernel, which
 * knows more than silence: whether sent data is being acknowledged
 * (TCP_USER_TIMEOUT), whether an idle peer answers (keepalive), whether a
 * socket already holds an error the proxy has not read yet, and whether
 * the interface under a leg still has a carrier (rtnetlink).
 */
#include "liveness.h"

#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
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
    int fd;
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
    g_strlcpy(d->name, name ? name : "?", sizeof(d->name));
    d->timer = g_timeout_add(m->down_ms, on_link_down_timer, d);
    g_hash_table_insert(m->down, key, d);
}

/* One datagram of rtnetlink messages, @len bytes; never reads past it. */
void mp_link_monitor_feed(MpLinkMonitor *m, const guint8 *buf, size_t len)
{
    const struct nlmsghdr *h;
    size_t left = len;

    for (h = (const struct nlmsghdr *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
        const struct ifinfomsg *ifi;
        const struct rtattr *a;
        unsigned int alen;
        const char *name = NULL;
        char namebuf[IF_NAMESIZE];

        if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) {
            continue;
        }
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi))) {
            continue;
        }
        ifi = NLMSG_DATA(h);
        alen = h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));
        for (a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
            if (a->rta_type == IFLA_IFNAME && RTA_PAYLOAD(a) > 0) {
                size_t n = MIN(RTA_PAYLOAD(a), sizeof(namebuf) - 1);

                memcpy(namebuf, RTA_DATA(a), n);
                namebuf[n] = '\0';
                name = namebuf;
            }
        }
        link_changed(m, ifi->ifi_index, name,
                     h->nlmsg_type == RTM_NEWLINK && (ifi->ifi_flags & IFF_UP) &&
                     (ifi->ifi_flags & IFF_LOWER_UP));
    }
}

static gboolean on_netlink(gint fd, GIOCondition cond, gpointer data)
{
    MpLinkMonitor *m = data;
    /* aligned for the nlmsghdr casts */
    guint64 buf[8192 / sizeof(guint64)];

    for (guint n = 0; n < 64; n++) {
        ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (got < 0) {
            /* ENOBUFS: events were dropped; later ones still come */
            if (errno == EAGAIN || errno == EINTR || errno == ENOBUFS) {
                break;
            }
            g_warning("link monitor: %s; no longer watching links", g_strerror(errno));
            m->fd_watch = 0;
            return G_SOURCE_REMOVE;
        }
        if (got == 0) {
            break;
        }
        mp_link_monitor_feed(m, (const guint8 *)buf, (size_t)got);
    }
    return G_SOURCE_CONTINUE;
}

MpLinkMonitor *mp_link_monitor_new(guint down_ms, MpLinkDownFunc func, gpointer data,
                                   GError **error)
{
    MpLinkMonitor *m;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = errno;

        if (fd >= 0) {
            close(fd);
        }
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                    "link monitor (rtnetlink): %s", g_strerror(err));
        return NULL;
    }
    m = g_new0(MpLinkMonitor, 1);
    m->fd = fd;
    m->down_ms = down_ms;
    m->func = func;
    m->data = data;
    m->down = g_hash_table_new_full(NULL, NULL, NULL, link_down_free);
    m->fd_watch = g_unix_fd_add(fd, G_IO_IN, on_netlink, m);
    return m;
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
    close(m->fd);
    g_free(m);
}
