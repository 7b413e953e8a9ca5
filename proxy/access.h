/*
 * access.h - who may talk to the daemon and with what rights it runs:
 * the TCP peers allowed (--allow CIDR), the mode and owner of unix listen
 * sockets, dropping root after binding (--user), and the limits per
 * daemon and per session that the proxy enforces (MpLimits).
 */
#ifndef MP_PROXY_ACCESS_H
#define MP_PROXY_ACCESS_H

#include <gio/gio.h>
#include <stdbool.h>
#include <sys/types.h>

G_BEGIN_DECLS

typedef struct {
    guint max_sessions;         /* concurrent sessions in the daemon (0: no limit) */
    guint max_channels;         /* connections per session (0: no limit) */
    guint max_pending;          /* accepted connections not yet classified (0: no limit) */
    guint prefix_bytes;         /* held bytes of the main channel's prefix */
    guint held_bytes;           /* held bytes of another channel before the verdict */
} MpLimits;

/* The defaults: the values migproxy had as constants, and room for QEMU's 255 multifd channels. */
void mp_limits_init(MpLimits *limits);

typedef struct MpAccess MpAccess;

MpAccess *mp_access_new(void);
void mp_access_free(MpAccess *access);

/* Add an --allow CIDR (an address alone is a /32 or /128). */
bool mp_access_allow(MpAccess *access, const char *cidr, GError **error);

/*
 * May @conn's peer talk to the daemon?  Unix-socket peers always may (the
 * socket file's mode and owner decide); TCP peers must match an --allow
 * range when any was given.  @peer gets the peer's address for logs.
 */
bool mp_access_check(const MpAccess *access, GSocketConnection *conn, char **peer);

/* The peer's address as text ("10.0.0.1:4444", "unix"), for logs. */
char *mp_access_peer_text(GSocketConnection *conn);

/*
 * Set a unix listen socket's @mode (-1: leave) and owner @user / @group
 * (NULL: leave).
 */
bool mp_access_secure_unix(const char *path, int mode, const char *user, const char *group,
                           GError **error);

/* A connection refused: a "refused" event (listen, peer, reason) and a line on stderr. */
struct MpEvents;
void mp_access_refused(struct MpEvents *events, const char *listen, const char *peer,
                       guint session, const char *reason);

/* Become @user (its uid, primary gid and groups), for good. */
bool mp_access_drop_to(const char *user, GError **error);

G_END_DECLS

#endif
