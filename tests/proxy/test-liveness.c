/*
 * test-liveness.c - the link monitor's reading of rtnetlink messages
 * (crafted datagrams, no real link changes): a link without carrier is
 * reported once its grace time has passed, not if it comes back before,
 * and truncated, malformed or foreign messages are skipped without
 * reading past the datagram.  And --allow: which loopback peers a range
 * admits.
 */
#include <gio/gio.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>

#include "access.h"
#include "liveness.h"

typedef struct {
    int ifindex;
    char name[IF_NAMESIZE];
    guint calls;
} Seen;

static void on_down(int ifindex, const char *ifname, guint down_ms, gpointer data)
{
    Seen *seen = data;

    seen->ifindex = ifindex;
    g_strlcpy(seen->name, ifname, sizeof(seen->name));
    seen->calls++;
}

/* One RTM_NEWLINK message for @ifindex named @name with @flags into @buf. */
static size_t link_message(guint8 *buf, size_t size, int ifindex, const char *name,
                           unsigned flags, guint16 type)
{
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    struct ifinfomsg *ifi;
    struct rtattr *a;
    size_t namelen = strlen(name) + 1;

    memset(buf, 0, size);
    h->nlmsg_type = type;
    ifi = NLMSG_DATA(h);
    ifi->ifi_index = ifindex;
    ifi->ifi_flags = flags;
    a = (struct rtattr *)((guint8 *)ifi + NLMSG_ALIGN(sizeof(*ifi)));
    a->rta_type = IFLA_IFNAME;
    a->rta_len = (unsigned short)RTA_LENGTH(namelen);
    memcpy(RTA_DATA(a), name, namelen);
    h->nlmsg_len = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(*ifi)) + RTA_ALIGN(a->rta_len));
    g_assert_cmpuint(h->nlmsg_len, <=, size);
    return h->nlmsg_len;
}

static gboolean quit_loop(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

/* Run the main loop for @ms. */
static void spin(guint ms)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);

    g_timeout_add(ms, quit_loop, loop);
    g_main_loop_run(loop);
}

static void test_link_down(void)
{
    Seen seen = { 0 };
    g_autoptr(GError) error = NULL;
    MpLinkMonitor *m = mp_link_monitor_new(20, on_down, &seen, &error);
    guint64 aligned[64];
    guint8 *buf = (guint8 *)aligned;
    size_t n;

    g_assert_no_error(error);
    /* down for longer than the grace time: reported once, with its name */
    n = link_message(buf, sizeof(aligned), 7, "px-s", IFF_UP, RTM_NEWLINK);
    mp_link_monitor_feed(m, buf, n);
    mp_link_monitor_feed(m, buf, n);    /* the same news twice: one timer */
    spin(100);
    g_assert_cmpuint(seen.calls, ==, 1);
    g_assert_cmpint(seen.ifindex, ==, 7);
    g_assert_cmpstr(seen.name, ==, "px-s");

    /* a flap shorter than the grace time: nothing */
    n = link_message(buf, sizeof(aligned), 8, "px-d", IFF_UP, RTM_NEWLINK);
    mp_link_monitor_feed(m, buf, n);
    n = link_message(buf, sizeof(aligned), 8, "px-d", IFF_UP | 0x10000, RTM_NEWLINK);
    mp_link_monitor_feed(m, buf, n);
    spin(100);
    g_assert_cmpuint(seen.calls, ==, 1);

    /* a deleted link is down too */
    n = link_message(buf, sizeof(aligned), 9, "gone", IFF_UP | 0x10000, RTM_DELLINK);
    mp_link_monitor_feed(m, buf, n);
    spin(100);
    g_assert_cmpuint(seen.calls, ==, 2);
    g_assert_cmpint(seen.ifindex, ==, 9);

    /* cut short: every length below the whole message is skipped */
    n = link_message(buf, sizeof(aligned), 10, "short", IFF_UP, RTM_NEWLINK);
    for (size_t len = 0; len < NLMSG_LENGTH(sizeof(struct ifinfomsg)); len++) {
        mp_link_monitor_feed(m, buf, len);
    }
    /* a header claiming more than the datagram holds */
    ((struct nlmsghdr *)buf)->nlmsg_len = (guint32)n + 64;
    mp_link_monitor_feed(m, buf, n);
    /* whole, but too short for the link header it claims to carry */
    n = link_message(buf, sizeof(aligned), 12, "tiny", IFF_UP, RTM_NEWLINK);
    ((struct nlmsghdr *)buf)->nlmsg_len = NLMSG_LENGTH(4);
    mp_link_monitor_feed(m, buf, NLMSG_LENGTH(4));
    /* its name attribute claims more than the message holds */
    n = link_message(buf, sizeof(aligned), 13, "liar", IFF_UP, RTM_NEWLINK);
    ((struct rtattr *)(buf + NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct ifinfomsg)))))->rta_len = 200;
    mp_link_monitor_feed(m, buf, n);
    /* another message type */
    n = link_message(buf, sizeof(aligned), 11, "addr", IFF_UP, RTM_NEWADDR);
    mp_link_monitor_feed(m, buf, n);
    spin(100);
    g_assert_cmpuint(seen.calls, ==, 2);
    mp_link_monitor_free(m);
}

/* A loopback connection accepted through a listener, as the daemon gets it. */
static GSocketConnection *loopback_connection(GSocketListener *l, GSocketConnection **client)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) effective = NULL;
    g_autoptr(GSocketClient) c = g_socket_client_new();
    GSocketConnection *server;

    g_assert_true(g_socket_listener_add_address(l, any, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &effective, &error));
    *client = g_socket_client_connect(c, G_SOCKET_CONNECTABLE(effective), NULL, &error);
    g_assert_no_error(error);
    server = g_socket_listener_accept(l, NULL, NULL, &error);
    g_assert_no_error(error);
    return server;
}

static bool admits(GSocketConnection *conn, const char *const *cidrs)
{
    MpAccess *a = mp_access_new();
    g_autofree char *peer = NULL;
    bool ok;

    for (guint i = 0; cidrs[i]; i++) {
        g_autoptr(GError) error = NULL;

        g_assert_true(mp_access_allow(a, cidrs[i], &error));
    }
    ok = mp_access_check(a, conn, &peer);
    g_assert_true(g_str_has_prefix(peer, "127.0.0.1:"));
    mp_access_free(a);
    return ok;
}

static void test_allow(void)
{
    g_autoptr(GSocketListener) l = g_socket_listener_new();
    g_autoptr(GSocketConnection) client = NULL;
    g_autoptr(GSocketConnection) conn = loopback_connection(l, &client);
    static const char *const none[] = { NULL };
    static const char *const other[] = { "10.0.0.0/8", "2001:db8::/32", NULL };
    static const char *const lo8[] = { "192.0.2.0/24", "127.0.0.0/8", NULL };
    static const char *const host[] = { "127.0.0.1", NULL };
    static const char *const v6only[] = { "::1", NULL };

    g_assert_true(admits(conn, none));
    g_assert_false(admits(conn, other));
    g_assert_true(admits(conn, lo8));
    g_assert_true(admits(conn, host));
    g_assert_false(admits(conn, v6only));
    {
        MpAccess *a = mp_access_new();
        g_autoptr(GError) error = NULL;

        g_assert_false(mp_access_allow(a, "10.0.0.0/33", &error));
        g_assert_nonnull(strstr(error->message, "--allow 10.0.0.0/33"));
        g_clear_error(&error);
        g_assert_false(mp_access_allow(a, "somewhere", &error));
        mp_access_free(a);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/liveness/link-down", test_link_down);
    g_test_add_func("/access/allow", test_allow);
    return g_test_run();
}
