/*
 * gate.c - the gate: the destination's facts fetched while the prefix
 * arrives, late channels let settle, the verdict on the prefix with the
 * operator's policy, and, once accepted, each channel connected to the
 * destination (TLS begun where asked).
 */
#include "proxy-internal.h"

typedef struct {
    char *source_qmp, *dest_qmp;
    MpFacts *src, *dst;
    char *src_error, *dst_error;
} FactsJob;

static void facts_job_free(FactsJob *j)
{
    g_free(j->source_qmp);
    g_free(j->dest_qmp);
    mp_facts_free(j->src);
    mp_facts_free(j->dst);
    g_free(j->src_error);
    g_free(j->dst_error);
    g_free(j);
}

static MpFacts *probe(const char *uri, MpFactsOrigin origin, char **error_text)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(MpQmp) qmp = mp_qmp_connect(uri, 5, &error);
    MpFacts *f = qmp ? mp_qmp_probe(qmp, origin, &error) : NULL;

    if (!f) {
        *error_text = g_strdup(error->message);
    }
    return f;
}

static void facts_thread(GTask *task, gpointer source, gpointer data, GCancellable *c)
{
    FactsJob *j = data;

    if (j->source_qmp) {
        j->src = probe(j->source_qmp, MP_FACTS_FROM_QMP, &j->src_error);
    }
    if (j->dest_qmp) {
        j->dst = probe(j->dest_qmp, MP_FACTS_FROM_QMP, &j->dst_error);
    }
    g_task_return_boolean(task, TRUE);
}

static guint count_channels(const Session *s, ChannelKind kind)
{
    guint n = 0;

    for (guint i = 0; i < s->channels->len; i++) {
        const Channel *ch = g_ptr_array_index(s->channels, i);

        n += ch->kind == kind;
    }
    return n;
}

static void session_decide(Session *s);

/* How many multifd channels to wait for before judging: 0 = none. */
static guint expected_multifd(const Session *s)
{
    bool on = false;

    if (s->src_qmp && mp_facts_get_cap(s->src_qmp, "multifd", &on)) {
        return on && s->src_qmp->has_multifd_channels ? s->src_qmp->multifd_channels : 0;
    }
    /* without the source's word, the destination's count is what must come */
    if (s->dst && mp_facts_get_cap(s->dst, "multifd", &on) && on &&
        s->dst->has_multifd_channels) {
        return s->dst->multifd_channels;
    }
    return 0;
}

/*
 * Polled every 10 ms once the prefix is in and the facts are known: QEMU
 * 7.2 connects every multifd channel before it ends the RAM setup section,
 * so they are at most a few main-loop turns behind; settle_ms covers that,
 * and a known expected count is waited for up to 2 s.
 */
static gboolean on_settle(gpointer data)
{
    Session *s = data;
    gint64 now = g_get_monotonic_time();
    guint want;

    if (s->finished) {
        s->settle_timer = 0;
        return G_SOURCE_REMOVE;
    }
    want = expected_multifd(s);
    if (now < s->settle_deadline_us - 2 * G_USEC_PER_SEC +
              (gint64)s->proxy->cfg.settle_ms * 1000 ||
        (want && count_channels(s, CH_MULTIFD) < want && now < s->settle_deadline_us) ||
        (mp_devgate_pending(s->devgate) &&
         now < s->settle_deadline_us + MP_HOLD_TIMEOUT_S * G_USEC_PER_SEC)) {
        return G_SOURCE_CONTINUE;
    }
    s->settle_timer = 0;
    session_decide(s);
    return G_SOURCE_REMOVE;
}

static void maybe_settle(Session *s)
{
    if (!s->prefix_done || !s->facts_ready || s->settle_timer || s->decided || s->finished) {
        return;
    }
    s->state = S_SETTLING;
    s->settle_deadline_us = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    s->settle_timer = g_timeout_add_full(G_PRIORITY_DEFAULT, 10, on_settle, session_ref(s),
                                         (GDestroyNotify)session_unref);
}

static void on_facts(GObject *obj, GAsyncResult *res, gpointer data)
{
    Session *s = data;
    FactsJob *j = g_task_get_task_data(G_TASK(res));

    if (!s->finished) {
        if (j->source_qmp) {
            if (j->src) {
                s->src_qmp = g_steal_pointer(&j->src);
            } else {
                g_autofree char *human = g_strdup_printf(
                    "session %u: source QMP %s: %s (judging from the stream alone)",
                    s->id, j->source_qmp, j->src_error);

                session_emit(s, "warning", human);
            }
        }
        if (j->dest_qmp) {
            s->dst = g_steal_pointer(&j->dst);
            s->dst_error = g_steal_pointer(&j->dst_error);
        }
        s->facts_ready = true;
        maybe_settle(s);
    }
    session_unref(s);
}

/*
 * A session has begun: fetch both sides' facts now, while the prefix is
 * still arriving, so that the verdict comes as early as possible (a small
 * source without a return path may finish writing before it).
 */
void session_fetch_facts(Session *s)
{
    Route *r = s->route;
    FactsJob *j = g_new0(FactsJob, 1);
    g_autoptr(GTask) task = NULL;

    j->source_qmp = g_strdup(r->cfg.source_qmp);
    if (r->cfg.dest_profile) {
        g_autofree char *json = mp_facts_to_json(r->cfg.dest_profile);

        s->dst = mp_facts_from_json(json, -1, NULL);
    } else {
        j->dest_qmp = g_strdup(r->cfg.dest_qmp);
    }
    task = g_task_new(NULL, NULL, on_facts, session_ref(s));
    g_task_set_task_data(task, j, (GDestroyNotify)facts_job_free);
    g_task_run_in_thread(task, facts_thread);
}

/* The prefix is in: judge once the facts are known and late channels came. */
void session_gate(Session *s)
{
    s->gate_started = true;
    maybe_settle(s);
}

/* Fill in what the stream's magic says when the decoder refused it. */
static void header_from_held(Session *s)
{
    Channel *main_ch = g_ptr_array_index(s->channels, 0);
    GByteArray *held = main_ch->up.held;
    uint32_t v;

    if (s->src->has_header || held->len < 8) {
        return;
    }
    memcpy(&v, held->data, 4);
    s->src->magic = GUINT32_FROM_BE(v);
    memcpy(&v, held->data + 4, 4);
    s->src->version = GUINT32_FROM_BE(v);
    s->src->has_header = true;
}

static void merge_source_facts(Session *s)
{
    MpFacts *f = s->src;

    f->channels_counted = true;
    f->multifd_connections = count_channels(s, CH_MULTIFD);
    f->preempt_connections = count_channels(s, CH_PREEMPT);
    if (!s->src_qmp) {
        return;
    }
    {
        GHashTableIter it;
        gpointer key, value;

        g_hash_table_iter_init(&it, s->src_qmp->caps);
        while (g_hash_table_iter_next(&it, &key, &value)) {
            mp_facts_set_cap(f, key, GPOINTER_TO_INT(value) != 0);
        }
    }
    f->caps_complete = s->src_qmp->caps_complete;
    f->has_cpus = s->src_qmp->has_cpus;
    f->cpus = s->src_qmp->cpus;
    f->has_pci_devices = s->src_qmp->has_pci_devices;
    for (guint i = 0; i < s->src_qmp->pci_devices->len; i++) {
        g_ptr_array_add(f->pci_devices, g_strdup(g_ptr_array_index(s->src_qmp->pci_devices, i)));
    }
    f->has_multifd_channels = s->src_qmp->has_multifd_channels;
    f->multifd_channels = s->src_qmp->multifd_channels;
    g_free(f->multifd_compression);
    f->multifd_compression = g_strdup(s->src_qmp->multifd_compression);
}

void session_reject(Session *s)
{
    s->rejected = true;
    for (guint i = 0; i < s->channels->len; i++) {
        channel_close(g_ptr_array_index(s->channels, i));
    }
    g_cancellable_cancel(s->cancel);
}

/*
 * QEMU 7.2 opens the postcopy-preempt channel right after the main one and
 * writes to it only once postcopy starts, so at the gate it is a silent
 * connection.  With postcopy advised, the silent connections accepted after
 * this session's main channel (and before any later session's) are taken
 * as its preempt channel, to be connected upstream in their arrival order.
 */
static void adopt_silent(Session *s)
{
    Route *route = s->route;

    if (!s->src->has_postcopy_advise || s->src->postcopy_advise_length != 16) {
        return;
    }
    for (guint i = 0; i < route->unclassified->len;) {
        Channel *ch = g_ptr_array_index(route->unclassified, i);

        if (ch->seq > s->main_seq && session_before(route, ch->seq) == s &&
            !session_channels_full(s) && ch->up.in /* not still in its TLS handshake */) {
            g_ptr_array_remove_index(route->unclassified, i);
            session_join(s, ch, CH_PREEMPT);
        } else {
            i++;
        }
    }
}

static void session_decide(Session *s)
{
    MpProxy *p = s->proxy;
    MpReport *r;
    JsonObject *o;
    GByteArray *held;
    g_autofree char *human = NULL;

    if (!s->report) {
        s->report = mp_policy_new_report(p->cfg.policy);
    }
    r = s->report;
    header_from_held(s);
    adopt_silent(s);
    merge_source_facts(s);
    if (s->prefix_error && s->src->has_header && s->src->magic == QEMU_VM_FILE_MAGIC) {
        mp_report_add(r, "stream-undecodable", "stream prefix", s->prefix_error, NULL,
                      "report this stream to migproxy's developers (record it and run migdump)",
                      "migproxy cannot decode the stream's prefix, so it cannot check it: %s",
                      s->prefix_error);
    }
    if (s->prefix_timed_out) {
        g_autofree char *limit = g_strdup_printf("%u s", p->cfg.prefix_timeout_s);
        g_autofree char *got = g_strdup_printf("%" G_GUINT64_FORMAT " bytes",
                                               mig_decoder_offset(((Channel *)g_ptr_array_index(
                                                   s->channels, 0))->up.dec));

        mp_report_add(r, "stream-prefix-timeout", "stream prefix", got, limit,
                      "check the source: QEMU writes its whole setup at once",
                      "the source sent no complete prefix within %u s (%s so far); "
                      "its connection is closed", p->cfg.prefix_timeout_s, got);
    }
    if (!s->dst && s->dst_error) {
        mp_report_add(r, "destination-unreachable", "destination QMP", NULL, s->dst_error,
                      "check --dest-qmp and that the destination QEMU is waiting with -incoming",
                      "the destination's facts could not be read: %s", s->dst_error);
    }
    if (!s->prefix_timed_out) {
        /* facts of half a prefix would only add false findings */
        mp_check_prefix(s->src, s->dst, p->cfg.policy, r);
        held = ((Channel *)g_ptr_array_index(s->channels, 0))->up.held;
        mp_devgate_gate(s->devgate, s->src, s->dst, held->data, held->len, r);
    }
    s->decided = true;
    for (guint i = 0; i < mp_report_count(r); i++) {
        mp_events_finding(p->cfg.events, s->id, mp_report_get(r, i));
    }

    o = mp_events_begin("verdict", s->id);
    json_object_set_string_member(o, "verdict", mp_verdict_name(mp_report_verdict(r)));
    json_object_set_boolean_member(o, "destination_contacted", false);
    json_object_set_boolean_member(o, "dry_run", p->cfg.dry_run);
    json_object_set_int_member(o, "errors", mp_report_count_severity(r, MP_SEVERITY_ERROR));
    json_object_set_int_member(o, "warnings", mp_report_count_severity(r, MP_SEVERITY_WARNING));
    json_object_set_int_member(o, "channels", s->channels->len);
    json_object_set_int_member(o, "multifd_channels", count_channels(s, CH_MULTIFD));
    if (s->src->machine) {
        json_object_set_string_member(o, "machine", s->src->machine);
    }
    human = g_strdup_printf("session %u: verdict %s (%u errors, %u warnings)%s", s->id,
                            mp_verdict_name(mp_report_verdict(r)),
                            mp_report_count_severity(r, MP_SEVERITY_ERROR),
                            mp_report_count_severity(r, MP_SEVERITY_WARNING),
                            p->cfg.dry_run ? "; dry run: closing the source" :
                            mp_report_verdict(r) == MP_VERDICT_REJECT ?
                            "; the destination was not contacted" : "");
    mp_events_emit(p->cfg.events, o, human);

    if (p->cfg.dry_run || mp_report_verdict(r) == MP_VERDICT_REJECT) {
        session_reject(s);
        session_check_done(s);
        return;
    }
    s->state = S_CONNECTING;
    session_watch_stall(s);
    session_connect_next(s);
}

/* ------------------------------------------------------------------ */
/* the destination side */

/* The destination's end of @ch is ready: forward. */
static void channel_destination_ready(Channel *ch, GIOStream *io)
{
    Session *s = ch->s;

    ch->up.out = g_io_stream_get_output_stream(io);
    ch->down.in = g_io_stream_get_input_stream(io);
    ch->down.dec = channel_new_decoder(ch, false);
    if (ch->kind == CH_MAIN) {
        s->state = S_FORWARDING;
    }
    leg_pump(&ch->up);
    leg_pump(&ch->down);
    session_connect_next(s);
    session_check_done(s);
}

static void on_destination_tls(GIOStream *io, MpTlsFailure *failure, gpointer data)
{
    Channel *ch = data;
    Session *s = ch->s;

    ch->connecting = false;
    if (!io) {
        if (failure && !s->finished) {
            MpFinding *f;

            if (!s->report) {
                s->report = mp_policy_new_report(s->proxy->cfg.policy);
            }
            f = mp_tls_add_finding(failure, s->report);
            mp_events_finding(s->proxy->cfg.events, s->id, f);
            session_abort(s, "destination", failure->message);
        }
        mp_tls_failure_free(failure);
    } else if (s->finished || ch->closed) {
        g_object_unref(io);
    } else {
        ch->dst_io = io;
        channel_destination_ready(ch, io);
    }
    session_unref(s);
}

static void on_connected(GObject *obj, GAsyncResult *res, gpointer data)
{
    Channel *ch = data;
    Session *s = ch->s;
    g_autoptr(GError) error = NULL;
    GSocketConnection *conn;

    ch->connecting = false;
    conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(obj), res, &error);
    if (!conn) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && !s->finished) {
            MpFinding *f;

            if (!s->report) {
                s->report = mp_policy_new_report(s->proxy->cfg.policy);
            }
            f = mp_report_add(s->report, "destination-unreachable", s->route->cfg.connect,
                              NULL, error->message,
                              "check --connect and that the destination waits with -incoming",
                              "cannot connect the %s channel to the destination: %s",
                              channel_kind_name(ch->kind), error->message);
            mp_events_finding(s->proxy->cfg.events, s->id, f);
            session_abort(s, "destination", error->message);
        }
        session_unref(s);
        return;
    }
    if (s->finished || ch->closed) {
        g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
        g_object_unref(conn);
        session_unref(s);
        return;
    }
    ch->dst = conn;
    mp_capture_destination(s->proxy->cfg.capture, s->id, ch->index, conn);
    leg_no_delay(conn);
    mp_liveness_tune(conn, s->proxy->cfg.tcp_timeout_s);
    ch->dst_ifindex = mp_liveness_ifindex(conn);
    s->contacted = true;
    /*
     * The client's connect timeout stays on the socket as an I/O timeout;
     * a destination may rightly stay silent for the whole migration (no
     * return path), so reads towards the source must not time out.
     */
    g_socket_set_timeout(g_socket_connection_get_socket(conn), 0);
    /* after the timeout is gone: a GSocket source would inherit it */
    mp_liveness_watch(conn, channel_on_dst_error, ch, &ch->dst_watch);
    if (mp_tls_mode(s->proxy->cfg.tls) == MP_TLS_TERMINATE) {
        g_autofree char *host = mp_tls_uri_host(s->route->cfg.connect);

        ch->connecting = true;  /* the next channel waits for this handshake */
        mp_tls_connect_async(s->proxy->cfg.tls, conn, host, s->cancel, on_destination_tls, ch);
        return;                 /* the session reference goes on with it */
    }
    channel_destination_ready(ch, G_IO_STREAM(conn));
    session_unref(s);
}

/* Connect the first channel without a destination end, one at a time. */
void session_connect_next(Session *s)
{
    Channel *next = NULL;

    if (s->finished || s->rejected || !s->decided) {
        return;
    }
    for (guint i = 0; i < s->channels->len; i++) {
        Channel *ch = g_ptr_array_index(s->channels, i);

        if (ch->connecting) {
            return;             /* keep QEMU's arrival order */
        }
        if (!ch->dst && !ch->closed) {
            next = ch;
            break;
        }
    }
    if (!next) {
        return;
    }
    next->connecting = true;
    g_socket_client_connect_async(s->route->client, G_SOCKET_CONNECTABLE(s->route->connect_addr),
                                  s->cancel, on_connected, next);
    session_ref(s);
}
