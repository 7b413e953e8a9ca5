/*
 * tls.h - TLS on the proxy's two legs, with GIO's TLS (glib-networking,
 * GnuTLS): the proxy ends the source's TLS as a server and opens its own
 * to the destination as a client, so that the stream between them is
 * plain text it can decode and gate.  Credentials use the directory layout
 * of QEMU's tls-creds-x509 object.  Handshake failures come back as
 * findings (codes in policy/FINDINGS.md) that name the likely cause.
 *
 * Facts this follows (QEMU 7.2, migration/channel.c, io/channel-tls.c):
 * every migration connection (main, multifd, postcopy-preempt) does its
 * own handshake before any migration byte, so the TLS layer must be taken
 * off before a connection can be classified by its first bytes; a QEMU
 * that dislikes the peer's certificate completes the handshake, checks the
 * certificate afterwards and closes without sending a byte or an alert;
 * and it closes its connections without a TLS close_notify.
 */
#ifndef MP_PROXY_TLS_H
#define MP_PROXY_TLS_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

#include "findings.h"

G_BEGIN_DECLS

typedef enum {
    MP_TLS_OFF,                 /* plain on both legs (a client hello is a finding) */
    MP_TLS_TERMINATE,           /* --tls-creds-dir: TLS ended and begun at the proxy */
    MP_TLS_PASSTHROUGH,         /* TLS forwarded opaquely: nothing can be checked */
} MpTlsMode;

typedef struct {
    MpTlsMode mode;
    char *creds_dir;            /* MP_TLS_TERMINATE */
    char *hostname;             /* the destination's name to verify; NULL: --connect's host */
    bool verify_source;         /* require and check the source's client certificate */
    bool verify_destination;    /* check the destination's server certificate */
} MpTlsConfig;

typedef struct MpTls MpTls;

/* Loads and checks the credentials for @config (copied). */
MpTls *mp_tls_new(const MpTlsConfig *config, GError **error);
void mp_tls_free(MpTls *tls);
MpTlsMode mp_tls_mode(const MpTls *tls);
/* Why a handshake failed, as the parts of a finding. */
typedef struct {
    char *code;
    char *subject;
    char *source;               /* what the peer presented / sent, or NULL */
    char *destination;          /* what was expected, or NULL */
    char *hint;
    char *message;
} MpTlsFailure;

void mp_tls_failure_free(MpTlsFailure *f);
MpFinding *mp_tls_add_finding(const MpTlsFailure *f, MpReport *report);

/*
 * @stream: the TLS connection (owned by the callee) whose streams carry
 * the plain text, or NULL with @failure saying why, or NULL and NULL when
 * the peer closed without sending anything (nothing to report).
 */
typedef void (*MpTlsDone)(GIOStream *stream, MpTlsFailure *failure, gpointer data);

/*
 * The source's side of a connection accepted on a TLS route: look at its
 * first bytes (a plain migration is named as such), then handshake as the
 * server, then wait for the first byte of plain text (QEMU refuses our
 * certificate by closing right after the handshake).
 */
void mp_tls_accept_async(MpTls *tls, GSocketConnection *conn, GCancellable *cancel,
                         MpTlsDone done, gpointer data);

/* The destination's side: handshake as the client, verifying @hostname. */
void mp_tls_connect_async(MpTls *tls, GSocketConnection *conn, const char *hostname,
                          GCancellable *cancel, MpTlsDone done, gpointer data);

/* Do @data, a connection's first bytes, start a TLS handshake record? */
bool mp_tls_is_record(const guint8 *data, gsize n);
/* The first bytes of a connection on a TLS route were not TLS. */
MpTlsFailure *mp_tls_plain_failure(const guint8 *data, gsize n);
/* The source closed right after a good handshake: QEMU refusing our certificate. */
MpTlsFailure *mp_tls_refused_failure(const MpTls *tls);
/*
 * The destination took the TLS handshake, then never started its incoming
 * migration (query-migrate without status): it refused our certificate.
 */
MpTlsFailure *mp_tls_destination_refused_failure(const MpTls *tls);
/* The pass-through warning: nothing on this route can be checked. */
MpTlsFailure *mp_tls_passthrough_notice(void);
/* The host name QEMU would verify for --connect @uri ("tcp:HOST:PORT"), or NULL. */
char *mp_tls_uri_host(const char *uri);

/* "TLS 1.3, TLS_AES_256_GCM_SHA384" or NULL. */
char *mp_tls_describe(GIOStream *stream);
/* tls_source / tls_destination members of a channel's summary, when TLS. */
void mp_tls_describe_channel(JsonObject *o, GIOStream *source, GIOStream *destination);

G_END_DECLS

#endif
