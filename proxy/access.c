/*
 * access.c - who may talk to the daemon and with what rights it runs
 * (see access.h).  A migration stream is the guest's whole memory and
 * the destination trusts it: the listen address must not take strangers,
 * and the daemon, which parses bytes from the network, should not keep
 * root once its sockets are bound.
 */
#include "access.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "proxy.h"

void mp_access_refused(MpEvents *events, const char *listen, const char *peer, guint session,
                       const char *reason)
{
    JsonObject *o = mp_events_begin("refused", session);
    g_autofree char *human = g_strdup_printf("refused %s on %s: %s", peer, listen, reason);

    json_object_set_string_member(o, "listen", listen);
    json_object_set_string_member(o, "peer", peer);
    json_object_set_string_member(o, "reason", reason);
    mp_events_emit(events, o, human);
}

void mp_limits_init(MpLimits *limits)
{
    limits->max_sessions = 64;
    /* main, up to 255 multifd channels (QEMU's maximum), preempt */
    limits->max_channels = 257;
    limits->max_pending = 256;
    limits->prefix_bytes = MP_LIMIT_PREFIX;
    limits->held_bytes = MP_LIMIT_HELD;
}

struct MpAccess {
    GPtrArray *allow;           /* GInetAddressMask * */
};

MpAccess *mp_access_new(void)
{
    MpAccess *a = g_new0(MpAccess, 1);

    a->allow = g_ptr_array_new_with_free_func(g_object_unref);
    return a;
}

void mp_access_free(MpAccess *access)
{
    if (!access) {
        return;
    }
    g_ptr_array_unref(access->allow);
    g_free(access);
}

bool mp_access_allow(MpAccess *access, const char *cidr, GError **error)
{
    GInetAddressMask *mask = g_inet_address_mask_new_from_string(cidr, error);

    if (!mask) {
        g_prefix_error(error, "--allow %s: ", cidr);
        return false;
    }
    g_ptr_array_add(access->allow, mask);
    return true;
}

char *mp_access_peer_text(GSocketConnection *conn)
{
    g_autoptr(GSocketAddress) addr = g_socket_connection_get_remote_address(conn, NULL);

    if (addr && G_IS_INET_SOCKET_ADDRESS(addr)) {
        GInetSocketAddress *in = G_INET_SOCKET_ADDRESS(addr);
        g_autofree char *host = g_inet_address_to_string(g_inet_socket_address_get_address(in));

        return g_strdup_printf(g_inet_socket_address_get_address(in) &&
                               g_inet_address_get_family(g_inet_socket_address_get_address(in)) ==
                               G_SOCKET_FAMILY_IPV6 ? "[%s]:%u" : "%s:%u",
                               host, g_inet_socket_address_get_port(in));
    }
    return g_strdup(addr ? "unix" : "unknown");
}

/* An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d: match it as IPv4. */
static GInetAddress *unmapped(GInetAddress *addr)
{
    const guint8 *b = g_inet_address_to_bytes(addr);
    static const guint8 prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV6 &&
        memcmp(b, prefix, sizeof(prefix)) == 0) {
        return g_inet_address_new_from_bytes(b + 12, G_SOCKET_FAMILY_IPV4);
    }
    return g_object_ref(addr);
}

bool mp_access_check(const MpAccess *access, GSocketConnection *conn, char **peer)
{
    g_autoptr(GSocketAddress) addr = g_socket_connection_get_remote_address(conn, NULL);
    g_autoptr(GInetAddress) ip = NULL;

    *peer = mp_access_peer_text(conn);
    if (!addr) {
        return false;           /* no peer address: gone already, or not a socket we know */
    }
    if (!G_IS_INET_SOCKET_ADDRESS(addr) || !access || access->allow->len == 0) {
        return true;
    }
    ip = unmapped(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(addr)));
    for (guint i = 0; i < access->allow->len; i++) {
        GInetAddressMask *mask = g_ptr_array_index(access->allow, i);

        if (g_inet_address_get_family(ip) == g_inet_address_mask_get_family(mask) &&
            g_inet_address_mask_matches(mask, ip)) {
            return true;
        }
    }
    return false;
}

static bool lookup_user(const char *user, uid_t *uid, gid_t *gid, GError **error)
{
    struct passwd *pw;
    char *end;
    unsigned long n;

    errno = 0;
    pw = getpwnam(user);
    if (pw) {
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
        return true;
    }
    n = strtoul(user, &end, 10);
    if (*user && !*end && n <= G_MAXUINT32) {
        *uid = (uid_t)n;
        *gid = (gid_t)-1;
        return true;
    }
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no user %s", user);
    return false;
}

static bool lookup_group(const char *group, gid_t *gid, GError **error)
{
    struct group *gr = getgrnam(group);
    char *end;
    unsigned long n;

    if (gr) {
        *gid = gr->gr_gid;
        return true;
    }
    n = strtoul(group, &end, 10);
    if (*group && !*end && n <= G_MAXUINT32) {
        *gid = (gid_t)n;
        return true;
    }
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no group %s", group);
    return false;
}

bool mp_access_secure_unix(const char *path, int mode, const char *user, const char *group,
                           GError **error)
{
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1, user_gid;

    if (user && !lookup_user(user, &uid, &user_gid, error)) {
        return false;
    }
    if (group && !lookup_group(group, &gid, error)) {
        return false;
    }
    if ((user || group) && chown(path, uid, gid) < 0) {
        int err = errno;

        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "chown %s: %s", path,
                    g_strerror(err));
        return false;
    }
    if (mode >= 0 && chmod(path, (mode_t)mode) < 0) {
        int err = errno;

        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "chmod %s: %s", path,
                    g_strerror(err));
        return false;
    }
    return true;
}

bool mp_access_drop_to(const char *user, GError **error)
{
    uid_t uid;
    gid_t gid;
    struct passwd *pw;

    if (!lookup_user(user, &uid, &gid, error)) {
        return false;
    }
    if (gid == (gid_t)-1) {
        gid = (gid_t)uid;       /* a bare uid: its own group number */
    }
    pw = getpwuid(uid);
    /* groups first, while still root; then the gid, then the uid */
    if ((pw ? initgroups(pw->pw_name, gid) : setgroups(0, NULL)) < 0 ||
        setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
        int err = errno;

        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "--user %s: %s", user,
                    g_strerror(err));
        return false;
    }
    /* for good: root must not be reachable again */
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "--user %s: root could be regained",
                    user);
        return false;
    }
    return true;
}
