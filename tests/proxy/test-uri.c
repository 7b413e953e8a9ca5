/*
 * test-uri.c - QEMU's migration address syntax as migproxy reads it:
 * tcp with IPv4 and bracketed IPv6, unix paths, and the errors a user
 * gets for what QEMU would not take either.
 */
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>

#include "uri.h"

static void check_round_trip(const char *in, const char *out)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketAddress) a = mp_uri_parse(in, &error);
    g_autofree char *text = NULL;

    g_assert_no_error(error);
    text = mp_uri_describe(a);
    g_assert_cmpstr(text, ==, out);
}

static void test_good(void)
{
    check_round_trip("tcp:127.0.0.1:4444", "tcp:127.0.0.1:4444");
    check_round_trip("tcp:[::1]:4444", "tcp:[::1]:4444");
    check_round_trip("tcp:localhost:0", "tcp:127.0.0.1:0");
    check_round_trip("tcp::5555", "tcp:0.0.0.0:5555");
    check_round_trip("unix:/run/mig.sock", "unix:/run/mig.sock");
}

static void test_bad(void)
{
    static const char *const bad[] = {
        "tcp:127.0.0.1", "tcp:127.0.0.1:65536", "tcp:127.0.0.1:44x",
        "tcp:[::1:4444", "tcp:example.org:4444", "unix:", "exec:cat", "rdma:1.2.3.4:5",
        "", NULL,
    };

    for (guint i = 0; bad[i]; i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocketAddress) a = mp_uri_parse(bad[i], &error);

        g_assert_null(a);
        g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/uri/good", test_good);
    g_test_add_func("/uri/bad", test_bad);
    return g_test_run();
}
