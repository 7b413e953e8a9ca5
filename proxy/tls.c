/*
 * tls.c - TLS on the proxy's legs (see tls.h): credentials in QEMU's
 * tls-creds-x509 layout, the server handshake with the source, the client
 * handshake with the destination, and findings that name what went wrong.
 */
#include "tls.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* a peer that has not finished its handshake by then is not a QEMU */
#define MP_TLS_HANDSHAKE_TIMEOUT_S 10

struct MpTls {
    MpTlsConfig cfg;
    GTlsDatabase *ca;
    GTlsCertificate *server_cert;
    GTlsCertificate *client_cert;       /* NULL: none in the directory */
    char *ca_path;
    char *server_names;                 /* for hints: what server-cert.pem names */
};

void mp_tls_failure_free(MpTlsFailure *f)
{
    if (!f) {
        return;
    }
    g_free(f->code);
    g_free(f->subject);
    g_free(f->source);
    g_free(f->destination);
    g_free(f->hint);
    g_free(f->message);
    g_free(f);
}

static MpTlsFailure *failure_new(const char *code, const char *subject, const char *source,
                                 const char *destination, const char *hint,
                                 const char *format, ...) G_GNUC_PRINTF(6, 7);
static MpTlsFailure *failure_new(const char *code, const char *subject, const char *source,
                                 const char *destination, const char *hint,
                                 const char *format, ...)
{
    MpTlsFailure *f = g_new0(MpTlsFailure, 1);
    va_list ap;

    f->code = g_strdup(code);
    f->subject = g_strdup(subject);
    f->source = g_strdup(source);
    f->destination = g_strdup(destination);
    f->hint = g_strdup(hint);
    va_start(ap, format);
    f->message = g_strdup_vprintf(format, ap);
    va_end(ap);
    return f;
}

MpFinding *mp_tls_add_finding(const MpTlsFailure *f, MpReport *report)
{
    return mp_report_add(report, f->code, f->subject, f->source, f->destination, f->hint,
                         "%s", f->message);
}

/* The DNS names and IP addresses a certificate is for, comma-separated. */
static char *certificate_names(GTlsCertificate *cert)
{
    GString *s = g_string_new(NULL);
#if GLIB_CHECK_VERSION(2, 70, 0)
    g_autoptr(GPtrArray) dns = cert ? g_tls_certificate_get_dns_names(cert) : NULL;
    g_autoptr(GPtrArray) ips = cert ? g_tls_certificate_get_ip_addresses(cert) : NULL;

    for (guint i = 0; dns && i < dns->len; i++) {
        GBytes *b = g_ptr_array_index(dns, i);
        gsize n;
        const char *d = g_bytes_get_data(b, &n);

        g_string_append_printf(s, "%s%.*s", s->len ? ", " : "", (int)MIN(n, 255), d);
    }
    for (guint i = 0; ips && i < ips->len; i++) {
        g_autofree char *a = g_inet_address_to_string(g_ptr_array_index(ips, i));

        g_string_append_printf(s, "%s%s", s->len ? ", " : "", a);
    }
#endif
    if (s->len == 0) {
        g_string_append(s, "(no names found)");
    }
    return g_string_free(s, FALSE);
}

MpTls *mp_tls_new(const MpTlsConfig *config, GError **error)
{
    MpTls *t = g_new0(MpTls, 1);

    t->cfg = *config;
    t->cfg.creds_dir = g_strdup(config->creds_dir);
    t->cfg.hostname = g_strdup(config->hostname);
    if (config->mode != MP_TLS_TERMINATE) {
        return t;
    }
    /*
     * Load GIO's TLS module now, before any thread exists, and say at once
     * when there is none (glib-networking not installed).
     */
    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                    "--tls-creds-dir: GIO has no TLS backend (install glib-networking)");
        goto fail;
    }
    {
        const char *dir = config->creds_dir;
        g_autofree char *scert = g_build_filename(dir, "server-cert.pem", NULL);
        g_autofree char *skey = g_build_filename(dir, "server-key.pem", NULL);
        g_autofree char *ccert = g_build_filename(dir, "client-cert.pem", NULL);
        g_autofree char *ckey = g_build_filename(dir, "client-key.pem", NULL);

        t->ca_path = g_build_filename(dir, "ca-cert.pem", NULL);
        t->ca = g_tls_file_database_new(t->ca_path, error);
        if (!t->ca) {
            g_prefix_error(error, "--tls-creds-dir: %s: ", t->ca_path);
            goto fail;
        }
        t->server_cert = g_tls_certificate_new_from_files(scert, skey, error);
        if (!t->server_cert) {
            g_prefix_error(error, "--tls-creds-dir: %s with %s: ", scert, skey);
            goto fail;
        }
        /* QEMU's client endpoint also treats its client certificate as optional */
        if (g_file_test(ccert, G_FILE_TEST_EXISTS)) {
            t->client_cert = g_tls_certificate_new_from_files(ccert, ckey, error);
            if (!t->client_cert) {
                g_prefix_error(error, "--tls-creds-dir: %s with %s: ", ccert, ckey);
                goto fail;
            }
        }
        t->server_names = certificate_names(t->server_cert);
    }
    return t;

fail:
    mp_tls_free(t);
    return NULL;
}

void mp_tls_free(MpTls *t)
{
    if (!t) {
        return;
    }
    g_clear_object(&t->ca);
    g_clear_object(&t->server_cert);
    g_clear_object(&t->client_cert);
    g_free(t->ca_path);
    g_free(t->server_names);
    g_free(t->cfg.creds_dir);
    g_free(t->cfg.hostname);
    g_free(t);
}

MpTlsMode mp_tls_mode(const MpTls *tls)
{
    return tls ? tls->cfg.mode : MP_TLS_OFF;
}

bool mp_tls_is_record(const guint8 *data, gsize n)
{
    /* a handshake record (22) of TLS 1.x (major version 3) */
    return n >= 1 && data[0] == 0x16 && (n < 2 || data[1] == 0x03);
}

MpTlsFailure *mp_tls_plain_failure(const guint8 *data, gsize n)
{
    g_autofree char *seen = NULL;
    const char *what;

    if (n >= 4 && memcmp(data, "QEVM", 4) == 0) {
        what = "a plain migration stream (QEVM)";
    } else if (n >= 4 && memcmp(data, "\x11\x22\x33\x44", 4) == 0) {
        what = "a plain multifd channel";
    } else {
        what = "bytes that are not a TLS handshake";
    }
    {
        GString *hex = g_string_new(NULL);

        for (gsize i = 0; i < MIN(n, 4); i++) {
            g_string_append_printf(hex, "%02x", data[i]);
        }
        seen = g_string_free(hex, FALSE);
    }
    return failure_new("tls-expected", "the source's first bytes", seen, "TLS client hello",
                       "give the source the migration parameter tls-creds (an object "
                       "tls-creds-x509 with endpoint=client), or run the proxy without "
                       "--tls-creds-dir / --tls",
                       "plain text where TLS was expected: the source sent %s (0x%s), "
                       "the proxy expects a TLS client hello", what, seen);
}

char *mp_tls_describe(GIOStream *stream)
{
#if GLIB_CHECK_VERSION(2, 70, 0)
    GTlsConnection *c;
    g_autofree char *suite = NULL;
    const char *version;

    if (!G_IS_TLS_CONNECTION(stream)) {
        stream = g_object_get_data(G_OBJECT(stream), "mp-tls-connection");
        if (!stream) {
            return NULL;
        }
    }
    c = G_TLS_CONNECTION(stream);
    switch (g_tls_connection_get_protocol_version(c)) {
    case G_TLS_PROTOCOL_VERSION_TLS_1_0: version = "TLS 1.0"; break;
    case G_TLS_PROTOCOL_VERSION_TLS_1_1: version = "TLS 1.1"; break;
    case G_TLS_PROTOCOL_VERSION_TLS_1_2: version = "TLS 1.2"; break;
    case G_TLS_PROTOCOL_VERSION_TLS_1_3: version = "TLS 1.3"; break;
    default: version = "TLS"; break;
    }
    suite = g_tls_connection_get_ciphersuite_name(c);
    return g_strdup_printf("%s, %s", version, suite ? suite : "?");
#else
    return NULL;
#endif
}

/* ------------------------------------------------------------------ */
/* batched streams */

/*
 * GIO's TLS streams give one TLS record (at most 16 KiB) per read and take
 * one per write, so a 512 KiB chunk cost the proxy 32 turns of the main
 * loop each way (profiled: GLib and the kernel's small sends and receives
 * outweighed the cipher).  These wrappers read and write as many records as
 * the socket allows without blocking in one asynchronous call, and wait
 * only when none can be read or written.
 */
#define MP_TYPE_TLS_IN (mp_tls_in_get_type())
G_DECLARE_FINAL_TYPE(MpTlsIn, mp_tls_in, MP, TLS_IN, GInputStream)
struct _MpTlsIn {
    GInputStream parent;
    GPollableInputStream *base;
    /*
     * What ended a batch after some bytes, given on the next read: GnuTLS
     * answers a read after the end (or an error) with "session invalidated".
     */
    bool eof;
    GError *error;
};
G_DEFINE_TYPE(MpTlsIn, mp_tls_in, G_TYPE_INPUT_STREAM)

#define MP_TYPE_TLS_OUT (mp_tls_out_get_type())
G_DECLARE_FINAL_TYPE(MpTlsOut, mp_tls_out, MP, TLS_OUT, GOutputStream)
struct _MpTlsOut {
    GOutputStream parent;
    GPollableOutputStream *base;
};
G_DEFINE_TYPE(MpTlsOut, mp_tls_out, G_TYPE_OUTPUT_STREAM)

typedef struct {
    guint8 *buf;
    gsize count, done;
} BatchOp;

static void in_step(GTask *task);

static gboolean in_ready(GObject *pollable, gpointer data)
{
    in_step(data);
    return G_SOURCE_REMOVE;
}

/* Read records until the buffer is full or the next would block. */
static void in_step(GTask *task)
{
    MpTlsIn *in = g_task_get_source_object(task);
    BatchOp *op = g_task_get_task_data(task);

    if (!op->done && in->error) {
        g_task_return_error(task, g_steal_pointer(&in->error));
        g_object_unref(task);
        return;
    }
    while (op->done < op->count && !in->eof) {
        g_autoptr(GError) error = NULL;
        gssize n = g_pollable_input_stream_read_nonblocking(in->base, op->buf + op->done,
                                                            op->count - op->done,
                                                            g_task_get_cancellable(task), &error);

        if (n > 0) {
            op->done += (gsize)n;
            continue;
        }
        if (n == 0) {
            in->eof = true;
            break;
        }
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
            if (op->done) {
                in->error = g_steal_pointer(&error);
                break;
            }
            g_task_return_error(task, g_steal_pointer(&error));
            g_object_unref(task);
            return;
        }
        if (op->done) {
            break;
        }
        {
            GSource *src = g_pollable_input_stream_create_source(in->base,
                                                                 g_task_get_cancellable(task));

            g_source_set_callback(src, (GSourceFunc)(void (*)(void))in_ready, task, NULL);
            g_source_attach(src, g_task_get_context(task));
            g_source_unref(src);
            return;
        }
    }
    g_task_return_int(task, (gssize)op->done);
    g_object_unref(task);
}

static void in_read_async(GInputStream *stream, void *buffer, gsize count, int priority,
                          GCancellable *cancel, GAsyncReadyCallback cb, gpointer data)
{
    GTask *task = g_task_new(stream, cancel, cb, data);
    BatchOp *op = g_new0(BatchOp, 1);

    op->buf = buffer;
    op->count = count;
    g_task_set_task_data(task, op, g_free);
    g_task_set_priority(task, priority);
    in_step(task);
}

static gssize in_read_finish(GInputStream *stream, GAsyncResult *res, GError **error)
{
    return g_task_propagate_int(G_TASK(res), error);
}

static gssize in_read(GInputStream *stream, void *buffer, gsize count, GCancellable *cancel,
                      GError **error)
{
    return g_input_stream_read(G_INPUT_STREAM(MP_TLS_IN(stream)->base), buffer, count, cancel,
                               error);
}

/* The proxy closes the socket under the TLS session; closing is a no-op. */
static gboolean in_close(GInputStream *stream, GCancellable *cancel, GError **error)
{
    return TRUE;
}

static void in_finalize(GObject *obj)
{
    g_clear_object(&MP_TLS_IN(obj)->base);
    g_clear_error(&MP_TLS_IN(obj)->error);
    G_OBJECT_CLASS(mp_tls_in_parent_class)->finalize(obj);
}

static void mp_tls_in_class_init(MpTlsInClass *klass)
{
    GInputStreamClass *c = G_INPUT_STREAM_CLASS(klass);

    G_OBJECT_CLASS(klass)->finalize = in_finalize;
    c->read_fn = in_read;
    c->read_async = in_read_async;
    c->read_finish = in_read_finish;
    c->close_fn = in_close;
}

static void mp_tls_in_init(MpTlsIn *in)
{
}

static void out_step(GTask *task);

static gboolean out_ready(GObject *pollable, gpointer data)
{
    out_step(data);
    return G_SOURCE_REMOVE;
}

/* Write records until all is written or the next would block. */
static void out_step(GTask *task)
{
    MpTlsOut *out = g_task_get_source_object(task);
    BatchOp *op = g_task_get_task_data(task);

    while (op->done < op->count) {
        g_autoptr(GError) error = NULL;
        gssize n = g_pollable_output_stream_write_nonblocking(out->base, op->buf + op->done,
                                                              op->count - op->done,
                                                              g_task_get_cancellable(task),
                                                              &error);

        if (n > 0) {
            op->done += (gsize)n;
            continue;
        }
        if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) && !op->done) {
            GSource *src = g_pollable_output_stream_create_source(out->base,
                                                                  g_task_get_cancellable(task));

            g_source_set_callback(src, (GSourceFunc)(void (*)(void))out_ready, task, NULL);
            g_source_attach(src, g_task_get_context(task));
            g_source_unref(src);
            return;
        }
        if (n < 0 && !op->done) {
            g_task_return_error(task, g_steal_pointer(&error));
            g_object_unref(task);
            return;
        }
        break;          /* would block, or fails, after some bytes: the next write sees it */
    }
    g_task_return_int(task, (gssize)op->done);
    g_object_unref(task);
}

static void out_write_async(GOutputStream *stream, const void *buffer, gsize count, int priority,
                            GCancellable *cancel, GAsyncReadyCallback cb, gpointer data)
{
    GTask *task = g_task_new(stream, cancel, cb, data);
    BatchOp *op = g_new0(BatchOp, 1);

    op->buf = (guint8 *)buffer;
    op->count = count;
    g_task_set_task_data(task, op, g_free);
    g_task_set_priority(task, priority);
    out_step(task);
}

static gssize out_write_finish(GOutputStream *stream, GAsyncResult *res, GError **error)
{
    return g_task_propagate_int(G_TASK(res), error);
}

static gssize out_write(GOutputStream *stream, const void *buffer, gsize count,
                        GCancellable *cancel, GError **error)
{
    return g_output_stream_write(G_OUTPUT_STREAM(MP_TLS_OUT(stream)->base), buffer, count,
                                 cancel, error);
}

static gboolean out_close(GOutputStream *stream, GCancellable *cancel, GError **error)
{
    return TRUE;
}

static void out_finalize(GObject *obj)
{
    g_clear_object(&MP_TLS_OUT(obj)->base);
    G_OBJECT_CLASS(mp_tls_out_parent_class)->finalize(obj);
}

static void mp_tls_out_class_init(MpTlsOutClass *klass)
{
    GOutputStreamClass *c = G_OUTPUT_STREAM_CLASS(klass);

    G_OBJECT_CLASS(klass)->finalize = out_finalize;
    c->write_fn = out_write;
    c->write_async = out_write_async;
    c->write_finish = out_write_finish;
    c->close_fn = out_close;
}

static void mp_tls_out_init(MpTlsOut *out)
{
}

/*
 * The TLS connection's plain text as batched streams; the returned stream
 * holds the connection (GIO's TLS streams hold it only weakly).
 */
static GIOStream *batched(GTlsConnection *tc)
{
    MpTlsIn *in = g_object_new(MP_TYPE_TLS_IN, NULL);
    MpTlsOut *out = g_object_new(MP_TYPE_TLS_OUT, NULL);
    GIOStream *io;

    in->base = g_object_ref(G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(G_IO_STREAM(tc))));
    out->base = g_object_ref(G_POLLABLE_OUTPUT_STREAM(
        g_io_stream_get_output_stream(G_IO_STREAM(tc))));
    io = g_simple_io_stream_new(G_INPUT_STREAM(in), G_OUTPUT_STREAM(out));
    g_object_unref(in);
    g_object_unref(out);
    g_object_set_data_full(G_OBJECT(io), "mp-tls-connection", g_object_ref(tc), g_object_unref);
    return io;
}

/* ------------------------------------------------------------------ */
/* handshakes */

typedef struct {
    MpTls *tls;
    GSocketConnection *conn;
    GTlsConnection *tc;
    GCancellable *cancel;
    MpTlsDone done;
    gpointer data;
    bool server;
    char *hostname;
    GTlsCertificateFlags peer_errors;
    bool peer_checked;
    GTlsCertificate *peer_cert;
} Job;

static void job_free(Job *j)
{
    g_clear_object(&j->conn);
    g_clear_object(&j->tc);
    g_clear_object(&j->cancel);
    g_clear_object(&j->peer_cert);
    g_free(j->hostname);
    g_free(j);
}

static void job_finish(Job *j, GIOStream *stream, MpTlsFailure *failure)
{
    j->done(stream, failure, j->data);
    job_free(j);
}

/*
 * GIO asks a client about a certificate that did not verify, and a server
 * about every client certificate (glib-networking accepts none on its
 * own).  Remember the errors for the finding; accept a client certificate
 * without errors, and a bad destination only when told not to verify.
 */
static gboolean on_accept_certificate(GTlsConnection *c, GTlsCertificate *peer,
                                      GTlsCertificateFlags errors, gpointer data)
{
    Job *j = data;

    j->peer_checked = true;
    j->peer_errors = errors;
    g_set_object(&j->peer_cert, peer);
    if (j->server) {
        return errors == 0;
    }
    return !j->tls->cfg.verify_destination;
}

static char *flags_text(GTlsCertificateFlags f)
{
    static const struct { GTlsCertificateFlags flag; const char *text; } names[] = {
        { G_TLS_CERTIFICATE_UNKNOWN_CA, "not signed by a known CA" },
        { G_TLS_CERTIFICATE_BAD_IDENTITY, "not for this host name" },
        { G_TLS_CERTIFICATE_NOT_ACTIVATED, "not yet valid" },
        { G_TLS_CERTIFICATE_EXPIRED, "expired" },
        { G_TLS_CERTIFICATE_REVOKED, "revoked" },
        { G_TLS_CERTIFICATE_INSECURE, "insecure algorithm" },
        { G_TLS_CERTIFICATE_GENERIC_ERROR, "invalid" },
    };
    GString *s = g_string_new(NULL);

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        if (f & names[i].flag) {
            g_string_append_printf(s, "%s%s", s->len ? ", " : "", names[i].text);
        }
    }
    return g_string_free(s, FALSE);
}

/* A failed handshake, as the finding that names its cause. */
static MpTlsFailure *handshake_failure(Job *j, const GError *error)
{
    const char *who = j->server ? "the source" : "the destination";
    const char *cert = j->server ? "the source's client certificate"
                                 : "the destination's server certificate";

    if (j->peer_checked && j->peer_errors) {
        g_autofree char *why = flags_text(j->peer_errors);
        g_autofree char *names = certificate_names(j->peer_cert);

        if (j->peer_errors & G_TLS_CERTIFICATE_UNKNOWN_CA) {
            return failure_new("tls-unknown-ca", cert, why, j->tls->ca_path,
                               j->server ? "the source's tls-creds-x509 directory and --tls-creds-dir "
                                           "need client and server certificates from one CA "
                                           "(or --tls-verify-source=no)"
                                         : "the destination's server-cert.pem must be signed by "
                                           "the CA in --tls-creds-dir's ca-cert.pem",
                               "wrong CA: %s is not signed by the CA in %s (%s)", cert,
                               j->tls->ca_path, why);
        }
        if (j->peer_errors & G_TLS_CERTIFICATE_BAD_IDENTITY) {
            return failure_new("tls-bad-identity", cert, names, j->hostname,
                               "give --tls-hostname one of the names in the destination's "
                               "certificate, or make its certificate name this host",
                               "wrong host name: %s is for %s, not for '%s'", cert, names,
                               j->hostname);
        }
        return failure_new("tls-certificate", cert, why, NULL,
                           "renew or replace the certificate",
                           "%s was refused: %s", cert, why);
    }
#if GLIB_CHECK_VERSION(2, 66, 0)
    if (g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_CERTIFICATE_REQUIRED)) {
        return failure_new("tls-certificate", cert, "none", "a client certificate",
                           "put client-cert.pem and client-key.pem in the source's "
                           "tls-creds-x509 directory, or run the proxy with --tls-verify-source=no",
                           "%s sent no client certificate, and the proxy requires one: %s",
                           who, error->message);
    }
#endif
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
        return failure_new("tls-handshake", who, NULL, NULL,
                           "check that the peer is a QEMU with tls-creds",
                           "%s did not finish its TLS handshake within %d s", who,
                           MP_TLS_HANDSHAKE_TIMEOUT_S);
    }
    if (!j->server && (g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_NOT_TLS) ||
                       g_error_matches(error, G_TLS_ERROR, G_TLS_ERROR_EOF) ||
                       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
                       g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE))) {
        /* a plain QEMU reads the client hello as a bad magic and hangs up */
        return failure_new("tls-destination-plain", "the destination's TLS handshake",
                           error->message, "TLS",
                           "give the destination QEMU tls-creds (a tls-creds-x509 object with "
                           "endpoint=server) or run the proxy without --tls-creds-dir",
                           "TLS where plain text was expected: the destination closed the "
                           "connection during the TLS handshake (%s); it waits for a plain "
                           "migration", error->message);
    }
    return failure_new("tls-handshake", who, error->message, NULL,
                       "compare both sides' TLS settings (QEMU's tls-creds, the proxy's "
                       "--tls-creds-dir)",
                       "the TLS handshake with %s failed: %s", who, error->message);
}

static void on_handshake(GObject *obj, GAsyncResult *res, gpointer data)
{
    Job *j = data;
    g_autoptr(GError) error = NULL;
    GSocket *sock = g_socket_connection_get_socket(j->conn);

    if (!g_tls_connection_handshake_finish(G_TLS_CONNECTION(obj), res, &error)) {
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            job_finish(j, NULL, NULL);
            return;
        }
        job_finish(j, NULL, handshake_failure(j, error));
        return;
    }
    /* as for plain connections: a migration may rightly go quiet for long */
    g_socket_set_timeout(sock, 0);
    job_finish(j, batched(j->tc), NULL);
}

static void start_handshake(Job *j)
{
    g_autoptr(GError) error = NULL;
    GIOStream *tc;

    g_socket_set_timeout(g_socket_connection_get_socket(j->conn), MP_TLS_HANDSHAKE_TIMEOUT_S);
    if (j->server) {
        tc = g_tls_server_connection_new(G_IO_STREAM(j->conn), j->tls->server_cert, &error);
        if (tc) {
            g_object_set(tc, "authentication-mode",
                         j->tls->cfg.verify_source ? G_TLS_AUTHENTICATION_REQUIRED
                                                   : G_TLS_AUTHENTICATION_NONE, NULL);
        }
    } else {
        g_autoptr(GSocketConnectable) id = g_network_address_new(j->hostname, 0);

        tc = g_tls_client_connection_new(G_IO_STREAM(j->conn), id, &error);
        if (tc && j->tls->client_cert) {
            g_tls_connection_set_certificate(G_TLS_CONNECTION(tc), j->tls->client_cert);
        }
    }
    if (!tc) {
        /* no TLS backend (glib-networking) or bad credentials: say so */
        job_finish(j, NULL, failure_new("tls-handshake", j->server ? "the source" : "the destination",
                                        NULL, NULL, "install glib-networking",
                                        "cannot start TLS: %s", error->message));
        return;
    }
    j->tc = G_TLS_CONNECTION(tc);
    g_tls_connection_set_database(j->tc, j->tls->ca);
    /* QEMU 7.2 closes its channels without a close_notify */
    g_tls_connection_set_require_close_notify(j->tc, FALSE);
    g_signal_connect(j->tc, "accept-certificate", G_CALLBACK(on_accept_certificate), j);
    g_tls_connection_handshake_async(j->tc, G_PRIORITY_DEFAULT, j->cancel, on_handshake, j);
}

/* The source's first bytes are readable: TLS or not? */
static gboolean on_first_bytes(GSocket *sock, GIOCondition cond, gpointer data)
{
    Job *j = data;
    guint8 peek[5];
    ssize_t n;

    if (g_cancellable_is_cancelled(j->cancel)) {
        job_finish(j, NULL, NULL);
        return G_SOURCE_REMOVE;
    }
    n = recv(g_socket_get_fd(sock), peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        job_finish(j, NULL, NULL);      /* closed before saying anything */
    } else if (mp_tls_is_record(peek, (gsize)n)) {
        start_handshake(j);
    } else {
        job_finish(j, NULL, mp_tls_plain_failure(peek, (gsize)n));
    }
    return G_SOURCE_REMOVE;
}

static Job *job_new(MpTls *tls, GSocketConnection *conn, GCancellable *cancel,
                    MpTlsDone done, gpointer data, bool server)
{
    Job *j = g_new0(Job, 1);

    j->tls = tls;
    j->conn = g_object_ref(conn);
    j->cancel = cancel ? g_object_ref(cancel) : g_cancellable_new();
    j->done = done;
    j->data = data;
    j->server = server;
    return j;
}

void mp_tls_accept_async(MpTls *tls, GSocketConnection *conn, GCancellable *cancel,
                         MpTlsDone done, gpointer data)
{
    Job *j = job_new(tls, conn, cancel, done, data, true);
    GSource *src = g_socket_create_source(g_socket_connection_get_socket(conn),
                                          G_IO_IN | G_IO_HUP | G_IO_ERR, j->cancel);

    g_source_set_callback(src, (GSourceFunc)(void (*)(void))on_first_bytes, j, NULL);
    g_source_attach(src, g_main_context_get_thread_default());
    g_source_unref(src);
}

void mp_tls_connect_async(MpTls *tls, GSocketConnection *conn, const char *hostname,
                          GCancellable *cancel, MpTlsDone done, gpointer data)
{
    Job *j = job_new(tls, conn, cancel, done, data, false);

    j->hostname = g_strdup(tls->cfg.hostname ? tls->cfg.hostname : hostname);
    start_handshake(j);
}

MpTlsFailure *mp_tls_refused_failure(const MpTls *tls)
{
    return failure_new("tls-peer-refused", "the proxy's server certificate",
                       tls->server_names, NULL,
                       "the source's tls-hostname must be one of the names in server-cert.pem "
                       "and its ca-cert.pem the CA that signed it",
                       "the source closed its connection right after the TLS handshake without "
                       "sending a byte: QEMU does that when it refuses the peer's certificate "
                       "(wrong CA, or a tls-hostname that is none of %s)", tls->server_names);
}

MpTlsFailure *mp_tls_destination_refused_failure(const MpTls *tls)
{
    g_autofree char *ccert = g_build_filename(tls->cfg.creds_dir, "client-cert.pem", NULL);

    return failure_new("tls-destination-refused", "the proxy's client certificate",
                       tls->client_cert ? ccert : "none", NULL,
                       "the destination's ca-cert.pem must hold the CA that signed the proxy's "
                       "client-cert.pem (or its tls-creds-x509 runs with verify-peer=off)",
                       "the destination completed the TLS handshake and hung up without starting "
                       "its incoming migration (its query-migrate has no status): QEMU does that "
                       "when it refuses the peer's certificate (%s)",
                       tls->client_cert ? ccert : "the proxy presented none: no client-cert.pem");
}

MpTlsFailure *mp_tls_passthrough_notice(void)
{
    return failure_new("tls-passthrough", "TLS pass-through", "TLS", NULL,
                       "give the proxy the credentials (--tls-creds-dir) to have it checked",
                       "the migration is forwarded encrypted and NOTHING in "
                       "it can be checked; only connections, bytes and timings are logged");
}

char *mp_tls_uri_host(const char *uri)
{
    const char *host, *colon;

    if (!g_str_has_prefix(uri, "tcp:")) {
        return NULL;
    }
    host = uri + 4;
    if (host[0] == '[') {
        const char *end = strchr(host, ']');

        return end ? g_strndup(host + 1, (gsize)(end - host - 1)) : NULL;
    }
    colon = strrchr(host, ':');
    return colon ? g_strndup(host, (gsize)(colon - host)) : NULL;
}

void mp_tls_describe_channel(JsonObject *o, GIOStream *source, GIOStream *destination)
{
    g_autofree char *src = source ? mp_tls_describe(source) : NULL;
    g_autofree char *dst = destination ? mp_tls_describe(destination) : NULL;

    if (src) {
        json_object_set_string_member(o, "tls_source", src);
    }
    if (dst) {
        json_object_set_string_member(o, "tls_destination", dst);
    }
}
