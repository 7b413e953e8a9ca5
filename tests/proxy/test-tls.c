/*
 * test-tls.c - the parts of proxy/tls.c that need no peer: how the first
 * bytes of a connection are told apart (TLS record or plain text), the
 * findings that name them, the host name taken from --connect, the
 * credentials check at start, and the gate's "TLS client hello where plain
 * text was expected".
 */
#include <glib/gstdio.h>
#include <string.h>

#include "check.h"
#include "facts.h"
#include "tls.h"

static void test_is_record(void)
{
    static const guint8 hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00 };
    static const guint8 qevm[] = { 'Q', 'E', 'V', 'M' };
    static const guint8 other[] = { 0x16, 0x04 };

    g_assert_true(mp_tls_is_record(hello, sizeof(hello)));
    g_assert_true(mp_tls_is_record(hello, 1));     /* one byte read so far */
    g_assert_false(mp_tls_is_record(hello, 0));
    g_assert_false(mp_tls_is_record(qevm, sizeof(qevm)));
    g_assert_false(mp_tls_is_record(other, sizeof(other)));
}

static void test_plain_failure(void)
{
    static const guint8 qevm[] = { 'Q', 'E', 'V', 'M', 0, 0, 0, 3 };
    static const guint8 multifd[] = { 0x11, 0x22, 0x33, 0x44 };
    MpTlsFailure *f = mp_tls_plain_failure(qevm, sizeof(qevm));

    g_assert_cmpstr(f->code, ==, "tls-expected");
    g_assert_cmpstr(f->source, ==, "5145564d");
    g_assert_nonnull(strstr(f->message, "plain text where TLS was expected"));
    g_assert_nonnull(strstr(f->message, "QEVM"));
    mp_tls_failure_free(f);
    f = mp_tls_plain_failure(multifd, 2);           /* fewer than four bytes */
    g_assert_cmpstr(f->source, ==, "1122");
    mp_tls_failure_free(f);
    f = mp_tls_plain_failure(multifd, sizeof(multifd));
    g_assert_nonnull(strstr(f->message, "multifd"));
    {
        g_autoptr(MpReport) r = mp_report_new();
        MpFinding *finding = mp_tls_add_finding(f, r);

        g_assert_cmpstr(finding->code, ==, "tls-expected");
        g_assert_cmpint(finding->severity, ==, MP_SEVERITY_ERROR);
        g_assert_cmpint(mp_report_verdict(r), ==, MP_VERDICT_REJECT);
    }
    mp_tls_failure_free(f);
    f = mp_tls_passthrough_notice();
    {
        g_autoptr(MpReport) r = mp_report_new();

        g_assert_cmpint(mp_tls_add_finding(f, r)->severity, ==, MP_SEVERITY_WARNING);
        g_assert_cmpint(mp_report_verdict(r), ==, MP_VERDICT_ACCEPT);
    }
    mp_tls_failure_free(f);
}

static void test_uri_host(void)
{
    static const struct { const char *uri, *host; } cases[] = {
        { "tcp:127.0.0.1:4444", "127.0.0.1" },
        { "tcp:dst.example:4444", "dst.example" },
        { "tcp:[::1]:4444", "::1" },
        { "tcp:[::1", NULL },
        { "unix:/run/m.sock", NULL },
        { "tcp:nohost", NULL },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *host = mp_tls_uri_host(cases[i].uri);

        g_assert_cmpstr(host, ==, cases[i].host);
    }
}

static void test_creds_missing(void)
{
    g_autofree char *dir = g_dir_make_tmp("migproxy-tls-XXXXXX", NULL);
    MpTlsConfig cfg = { .mode = MP_TLS_TERMINATE, .creds_dir = dir,
                        .verify_source = true, .verify_destination = true };
    g_autoptr(GError) error = NULL;
    MpTls *tls;

    g_assert_nonnull(dir);
    tls = mp_tls_new(&cfg, &error);
    g_assert_null(tls);
    g_assert_nonnull(error);
    /* the message names the file that is missing */
    g_assert_nonnull(strstr(error->message, "ca-cert.pem"));
    g_rmdir(dir);

    cfg.mode = MP_TLS_PASSTHROUGH;
    cfg.creds_dir = NULL;
    tls = mp_tls_new(&cfg, NULL);
    g_assert_cmpint(mp_tls_mode(tls), ==, MP_TLS_PASSTHROUGH);
    mp_tls_free(tls);
    g_assert_cmpint(mp_tls_mode(NULL), ==, MP_TLS_OFF);
}

static void test_gate_tls_hello(void)
{
    g_autoptr(MpFacts) src = mp_facts_new(MP_FACTS_FROM_STREAM);
    g_autoptr(MpReport) r = mp_report_new();

    src->has_header = true;
    src->magic = 0x16030100;        /* a client hello's record header */
    src->version = 0x02000001;
    mp_check_prefix(src, NULL, NULL, r);
    g_assert_cmpuint(mp_report_count(r), >=, 1);
    g_assert_cmpstr(mp_report_get(r, 0)->code, ==, "tls-unexpected");
    g_assert_true(g_str_has_prefix(mp_report_get(r, 0)->message,
                                   "TLS client hello where plain text was expected"));
    for (guint i = 0; i < mp_report_count(r); i++) {
        g_assert_cmpstr(mp_report_get(r, i)->code, !=, "stream-not-migration");
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tls/is-record", test_is_record);
    g_test_add_func("/tls/plain-failure", test_plain_failure);
    g_test_add_func("/tls/uri-host", test_uri_host);
    g_test_add_func("/tls/creds-missing", test_creds_missing);
    g_test_add_func("/tls/gate-tls-hello", test_gate_tls_hello);
    return g_test_run();
}
