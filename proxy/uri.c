/*
 * uri.c - parsing of QEMU migration addresses.  Only numeric hosts (plus
 * "localhost") are taken, so parsing never blocks on a resolver.
 */
#include "uri.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>

static GSocketAddress *parse_tcp(const char *uri, const char *rest, GError **error)
{
    g_autofree char *host = NULL;
    const char *port_text;
    char *end;
    guint64 port;
    g_autoptr(GInetAddress) inet = NULL;

    if (rest[0] == '[') {
        const char *close = strchr(rest, ']');

        if (!close || close[1] != ':') {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "'%s': an IPv6 address needs the form tcp:[ADDR]:PORT", uri);
            return NULL;
        }
        host = g_strndup(rest + 1, close - rest - 1);
        port_text = close + 2;
    } else {
        const char *colon = strrchr(rest, ':');

        if (!colon) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "'%s': expected tcp:HOST:PORT", uri);
            return NULL;
        }
        host = g_strndup(rest, colon - rest);
        port_text = colon + 1;
    }
    errno = 0;
    port = g_ascii_strtoull(port_text, &end, 10);
    if (!*port_text || *end || errno || port > 65535) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "'%s': port '%s' is not a number from 0 to 65535", uri, port_text);
        return NULL;
    }
    if (!*host || strcmp(host, "localhost") == 0) {
        /* QEMU's empty host means every address; localhost without a resolver */
        const char *numeric = *host ? "127.0.0.1" : "0.0.0.0";

        g_free(host);
        host = g_strdup(numeric);
    }
    inet = g_inet_address_new_from_string(host);
    if (!inet) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "'%s': host '%s' is not a numeric IPv4 or IPv6 address", uri, host);
        return NULL;
    }
    return g_inet_socket_address_new(inet, (guint16)port);
}

GSocketAddress *mp_uri_parse(const char *uri, GError **error)
{
    if (g_str_has_prefix(uri, "tcp:")) {
        return parse_tcp(uri, uri + 4, error);
    }
    if (g_str_has_prefix(uri, "unix:")) {
        const char *path = uri + 5;

        if (!*path) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "'%s': expected unix:PATH", uri);
            return NULL;
        }
        return g_unix_socket_address_new(path);
    }
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "'%s': migproxy takes tcp:HOST:PORT or unix:PATH", uri);
    return NULL;
}

char *mp_uri_describe(GSocketAddress *address)
{
    if (G_IS_INET_SOCKET_ADDRESS(address)) {
        GInetSocketAddress *isa = G_INET_SOCKET_ADDRESS(address);
        g_autofree char *host = g_inet_address_to_string(
            g_inet_socket_address_get_address(isa));
        guint16 port = g_inet_socket_address_get_port(isa);

        if (strchr(host, ':')) {
            return g_strdup_printf("tcp:[%s]:%u", host, port);
        }
        return g_strdup_printf("tcp:%s:%u", host, port);
    }
    if (G_IS_UNIX_SOCKET_ADDRESS(address)) {
        return g_strdup_printf("unix:%s",
                               g_unix_socket_address_get_path(G_UNIX_SOCKET_ADDRESS(address)));
    }
    return g_strdup("unknown address");
}
