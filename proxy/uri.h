/*
 * uri.h - QEMU's migration address syntax (tcp:HOST:PORT, unix:PATH) to
 * GSocketAddress, so that the proxy takes the same strings as QEMU's
 * migrate and -incoming.
 */
#ifndef MP_PROXY_URI_H
#define MP_PROXY_URI_H

#include <gio/gio.h>

G_BEGIN_DECLS

/*
 * Accepts "tcp:HOST:PORT", "tcp:[V6ADDR]:PORT" and "unix:PATH".  HOST must
 * be a numeric address or "localhost" (resolved to 127.0.0.1 without a
 * resolver).  Returns a new address, or NULL with @error saying which part
 * is wrong.
 */
GSocketAddress *mp_uri_parse(const char *uri, GError **error);

/* Text for messages: the URI form of @address; a new string. */
char *mp_uri_describe(GSocketAddress *address);

G_END_DECLS

#endif
