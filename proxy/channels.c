/*
 * channels.c - connections arriving on a route: admitted or refused,
 * classified by their first bytes (main, multifd, preempt, a postcopy
 * recovery, TLS), and joined to the session they belong to, or parked until
 * its main channel is known, or closed when they never speak.
 */
#include "proxy-internal.h"

void channel_close(Channel *ch)
{
    if (ch->closed) {
        return;
    }
    ch->closed = true;
    channel_unwatch(ch);
    if (ch->src) {
        g_io_stream_close(G_IO_STREAM(ch->src), NULL, NULL);
    }
    if (ch->dst) {
        g_io_stream_close(G_IO_STREAM(ch->dst), NULL, NULL);
    }
}

bool channel_done(const Channel *ch)
{
    if (ch->closed) {
        return true;
    }
    if (!ch->dst) {
        return false;
    }
    return ch->up.eof && ch->up.shut && !ch->up.writing && !ch->up.queued_buf &&
           ch->down.eof && ch->down.shut && !ch->down.writing && !ch->down.queued_buf;
}

/*
 * A socket error on a leg the proxy is not reading right now (its buffers
 * wait on the other leg): without this it would be noticed only at the
 * next read, seconds later.  A pending read reports the error itself.
 */
static void channel_socket_error(Channel *ch, bool source)
{
    Session *s = ch->s;
    g_autofree char *error = NULL;
    g_autofree char *why = NULL;

    if (source) {
        ch->src_watch = 0;
    } else {
        ch->dst_watch = 0;
    }
    if (!s || ch->closed || s->finished || (source ? ch->up.reading : ch->down.reading)) {
        return;
    }
    error = mp_liveness_take_error(source ? ch->src : ch->dst);
    why = g_strdup_printf("%s channel %u: %s", channel_kind_name(ch->kind), ch->index, error);
    session_ref(s);
    session_abort(s, source ? "source" : "destination", why);
    session_unref(s);
}

static void on_src_error(gpointer data)
{
    channel_socket_error(data, true);
}

void channel_on_dst_error(gpointer data)
{
    channel_socket_error(data, false);
}

void channel_attach(Session *s, Channel *ch, ChannelKind kind)
{
    ch->s = s;
    ch->kind = kind;
    ch->index = s->channels->len;
    g_ptr_array_add(s->channels, ch);
    if (s->proxy->cfg.capture) {
        ch->up.cap = mp_capture_leg_new(s->proxy->cfg.capture, s->id, ch->index, true);
        ch->down.cap = mp_capture_leg_new(s->proxy->cfg.capture, s->id, ch->index, false);
        mp_capture_connection(s->proxy->cfg.capture, s->id, ch->index, channel_kind_name(kind),
                              ch->src);
    }
    ch->up.dec = channel_new_decoder(ch, true);
    mp_liveness_watch(ch->src, on_src_error, ch, &ch->src_watch);
}

/* Announce @ch in @s and let it run: decode what it held, gate, connect. */
void channel_start(Session *s, Channel *ch)
{
    session_ref(s);
    if (s->rejected || s->finished) {
        channel_close(ch);
        session_check_done(s);
        session_unref(s);
        return;
    }
    if (ch->up.held->len) {
        leg_feed(&ch->up, ch->up.held->data, ch->up.held->len);
        mp_capture_chunk(ch->up.cap, ch->up.held->data, ch->up.held->len);
    }
    if (ch->kind == CH_MAIN && s->prefix_done && !s->gate_started) {
        session_gate(s);
    }
    if (s->state == S_CONNECTING || s->state == S_FORWARDING) {
        session_connect_next(s);
    }
    leg_pump(&ch->up);
    session_unref(s);
}

/* The prefix did not come in time: judge what there is (a rejection). */
static gboolean on_prefix_timeout(gpointer data)
{
    Session *s = data;

    s->prefix_timer = 0;
    if (!s->gate_started && !s->finished) {
        s->prefix_timed_out = true;
        s->prefix_done = true;
        session_gate(s);
    }
    return G_SOURCE_REMOVE;
}

static Session *start_session(Route *route, Channel *ch)
{
    MpProxy *proxy = route->proxy;
    Session *s = session_new(route);
    g_autofree char *human = NULL;
    JsonObject *o;

    proxy->once_taken = true;
    s->main_seq = ch->seq;
    g_ptr_array_add(route->sessions, s);
    s->devgate = mp_devgate_new(proxy->cfg.hold_device_state, proxy->cfg.policy,
                                session_devgate_emit, s);
    channel_attach(s, ch, CH_MAIN);
    session_fetch_facts(s);
    if (proxy->cfg.prefix_timeout_s) {
        s->prefix_timer = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT,
                                                     proxy->cfg.prefix_timeout_s,
                                                     on_prefix_timeout, session_ref(s),
                                                     (GDestroyNotify)session_unref);
    }
    human = g_strdup_printf("session %u: migration from the source on %s", s->id,
                            route->cfg.listen);
    o = mp_events_begin("session", s->id);
    json_object_set_string_member(o, "listen", route->cfg.listen);
    json_object_set_string_member(o, "connect", route->cfg.connect);
    json_object_set_boolean_member(o, "dry_run", proxy->cfg.dry_run);
    mp_events_emit(proxy->cfg.events, o, human);
    return s;
}

/* The live session whose main channel was accepted last before @seq. */
Session *session_before(Route *route, guint64 seq)
{
    Session *best = NULL;

    for (guint i = 0; i < route->sessions->len; i++) {
        Session *s = g_ptr_array_index(route->sessions, i);

        if (s->main_seq < seq && (!best || s->main_seq > best->main_seq)) {
            best = s;
        }
    }
    return best;
}

/*
 * Is a connection accepted between @after and @before still silent?  One
 * silent for MP_SILENT_US is not a main channel about to speak (QEMU writes
 * its header at once) and stops holding the others up.
 */
#define MP_SILENT_US (5 * G_USEC_PER_SEC)
static bool silent_between(Route *route, guint64 after, guint64 before)
{
    gint64 now = g_get_monotonic_time();

    for (guint i = 0; i < route->unclassified->len; i++) {
        Channel *c = g_ptr_array_index(route->unclassified, i);

        if (c->seq > after && c->seq < before && now - c->accepted_us < MP_SILENT_US) {
            return true;
        }
    }
    return false;
}

void session_join(Session *s, Channel *ch, ChannelKind kind)
{
    g_autofree char *human = NULL;

    JsonObject *o;

    channel_attach(s, ch, kind);
    human = g_strdup_printf("session %u: %s channel %u joined", s->id,
                            channel_kind_name(kind), ch->index);
    o = mp_events_begin("channel", s->id);
    json_object_set_string_member(o, "kind", channel_kind_name(kind));
    json_object_set_int_member(o, "index", ch->index);
    mp_events_emit(s->proxy->cfg.events, o, human);
    channel_start(s, ch);
}

/*
 * Give parked channels (multifd or preempt bytes seen) to their session:
 * the one whose main connection was accepted just before them.  QEMU 7.2
 * sends the multifd channels' first bytes before the main channel's
 * header, so a channel waits while an earlier connection is still silent
 * (it may be the main channel that it belongs to).
 */
/* Refused: said with the peer and the reason (an event and stderr), then closed. */
static void refuse(Route *route, GSocketConnection *conn, guint session, const char *reason)
{
    g_autofree char *peer = mp_access_peer_text(conn);

    mp_access_refused(route->proxy->cfg.events, route->cfg.listen, peer, session, reason);
}

static guint live_sessions(MpProxy *p)
{
    guint n = 0;

    for (guint r = 0; r < p->routes->len; r++) {
        Route *route = g_ptr_array_index(p->routes, r);

        for (guint i = 0; i < route->sessions->len; i++) {
            n += !((Session *)g_ptr_array_index(route->sessions, i))->finished;
        }
    }
    return n;
}

/* --allow and the limit on connections not yet classified. */
static bool route_admit(Route *route, GSocketConnection *conn)
{
    MpProxy *p = route->proxy;
    g_autofree char *peer = NULL;
    guint pending = 0;

    if (!mp_access_check(p->cfg.access, conn, &peer)) {
        /* no address: gone before it could be checked; refused all the same */
        refuse(route, conn, 0, strcmp(peer, "unknown") == 0 ? "peer address unknown"
                                                            : "not in --allow");
        return false;
    }
    for (guint r = 0; r < p->routes->len; r++) {
        Route *other = g_ptr_array_index(p->routes, r);

        pending += other->unclassified->len + other->parked->len;
    }
    if (p->cfg.limits.max_pending && pending >= p->cfg.limits.max_pending) {
        g_autofree char *why = g_strdup_printf("%u connections already wait to be classified "
                                               "(--max-pending)", pending);

        refuse(route, conn, 0, why);
        return false;
    }
    return true;
}

bool session_channels_full(const Session *s)
{
    guint max = s->proxy->cfg.limits.max_channels;

    return max && s->channels->len >= max;
}

void route_adopt_parked(Route *route)
{
    if (route->proxy->closing) {
        return;
    }
    for (guint i = 0; i < route->parked->len;) {
        Channel *ch = g_ptr_array_index(route->parked, i);
        Session *s = session_before(route, ch->seq);
        guint64 after = s ? s->main_seq : 0;

        if (silent_between(route, after, ch->seq)) {
            i++;
            continue;
        }
        g_ptr_array_remove_index(route->parked, i);
        ch->parked = false;
        if (s && !s->finished && session_channels_full(s)) {
            g_autofree char *why = g_strdup_printf("session %u has %u connections already "
                                                   "(--max-channels)", s->id, s->channels->len);

            refuse(route, ch->src, s->id, why);
            channel_free(ch);
        } else if (s && !s->finished) {
            session_join(s, ch, ch->wanted);
        } else if (ch->wanted == CH_MULTIFD) {
            g_message("a multifd connection on %s without a migration to join: closed",
                      route->cfg.listen);
            channel_free(ch);
        } else {
            /* not QEMU's main channel and nothing to join: the gate says why */
            channel_start(start_session(route, ch), ch);
        }
    }
}

/*
 * Once a second while connections are unclassified: one that has sent
 * nothing for the prefix timeout is not a migration channel (QEMU writes at
 * once, and 7.2's silent preempt channel is adopted at the verdict); shut
 * it down, which ends its pending read and frees it there.
 */
gboolean route_on_silent_check(gpointer data)
{
    Route *route = data;
    MpProxy *proxy = route->proxy;
    gint64 now = g_get_monotonic_time();

    for (guint i = 0; i < route->unclassified->len; i++) {
        Channel *ch = g_ptr_array_index(route->unclassified, i);

        if (!ch->silent_closed &&
            now - ch->accepted_us >= (gint64)proxy->cfg.prefix_timeout_s * G_USEC_PER_SEC) {
            g_autofree char *human = g_strdup_printf(
                "a connection on %s sent nothing for %u s: closed", route->cfg.listen,
                proxy->cfg.prefix_timeout_s);
            JsonObject *o = mp_events_begin("silent", 0);

            json_object_set_string_member(o, "listen", route->cfg.listen);
            json_object_set_int_member(o, "timeout_s", proxy->cfg.prefix_timeout_s);
            mp_events_emit(proxy->cfg.events, o, human);
            ch->silent_closed = true;
            g_socket_shutdown(g_socket_connection_get_socket(ch->src), TRUE, TRUE, NULL);
        }
    }
    if (route->unclassified->len == 0) {
        route->silent_timer = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

gboolean route_adopt_later(gpointer data)
{
    route_adopt_parked(data);
    return G_SOURCE_REMOVE;
}

/* The newest session on @route waiting for a postcopy recovery, if any. */
static Session *route_paused_session(Route *route)
{
    for (guint i = route->sessions->len; i > 0; i--) {
        Session *s = g_ptr_array_index(route->sessions, i - 1);

        if (s->paused) {
            return s;
        }
    }
    return NULL;
}

/*
 * A connection refused before it could be classified (a TLS failure): say
 * why, as a finding of no session.  With --once that was the migration.
 */
void route_refuse(Route *route, MpTlsFailure *failure)
{
    MpProxy *p = route->proxy;
    MpReport *r = mp_policy_new_report(p->cfg.policy);

    mp_events_finding(p->cfg.events, 0, mp_tls_add_finding(failure, r));
    mp_report_free(r);
    mp_tls_failure_free(failure);
    if (p->cfg.once && !p->once_taken && p->exit_status < 0) {
        p->exit_status = 1;
        g_main_loop_quit(p->loop);
    }
}

/*
 * TLS pass-through: the bytes cannot be read, so there is no gate; every
 * connection is forwarded in arrival order (QEMU 7.2's destination tells
 * TLS channels apart by that order alone) and joins the route's live
 * pass-through session, or starts one.
 */
static void classify_opaque(Channel *ch, const guint8 *data, gsize n)
{
    Route *route = ch->route;
    MpProxy *p = route->proxy;
    Session *s = NULL;
    MpFinding *f;
    JsonObject *o;

    if (!mp_tls_is_record(data, n)) {
        route_refuse(route, mp_tls_plain_failure(data, n));
        channel_free(ch);
        return;
    }
    for (guint i = 0; i < route->sessions->len; i++) {
        Session *live = g_ptr_array_index(route->sessions, i);

        if (!live->finished) {
            s = live;
        }
    }
    if (s) {
        session_join(s, ch, CH_OPAQUE);
        return;
    }
    if (p->cfg.once && p->once_taken) {
        channel_free(ch);
        return;
    }
    s = start_session(route, ch);
    ch->kind = CH_OPAQUE;
    g_clear_pointer(&ch->up.dec, mig_decoder_free);
    /* forwarded without decoding: the outcome rests on clean closes (and --dest-qmp) */
    s->late_undecodable = true;
    s->gate_started = s->decided = s->prefix_done = true;
    s->report = mp_policy_new_report(p->cfg.policy);
    {
        MpTlsFailure *notice = mp_tls_passthrough_notice();

        f = mp_tls_add_finding(notice, s->report);
        mp_tls_failure_free(notice);
    }
    mp_events_finding(p->cfg.events, s->id, f);
    o = mp_events_begin("verdict", s->id);
    /* as in plain text, the verdict is the gate's; a dry run still closes the source */
    json_object_set_string_member(o, "verdict", "accept");
    json_object_set_boolean_member(o, "destination_contacted", false);
    json_object_set_boolean_member(o, "dry_run", p->cfg.dry_run);
    json_object_set_int_member(o, "errors", 0);
    json_object_set_int_member(o, "warnings", 1);
    json_object_set_boolean_member(o, "unchecked", true);
    {
        g_autofree char *human = g_strdup_printf(
            "session %u: TLS pass-through, forwarded unchecked%s", s->id,
            p->cfg.dry_run ? "; dry run: closing the source" : "");

        mp_events_emit(p->cfg.events, o, human);
    }
    if (p->cfg.dry_run) {
        session_reject(s);
        channel_start(s, ch);
        return;
    }
    s->state = S_CONNECTING;
    channel_start(s, ch);
}

void channel_classify(Channel *ch, const guint8 *data, gsize n)
{
    Route *route = ch->route;
    MpProxy *proxy = route->proxy;
    uint32_t magic = 0;

    g_ptr_array_remove(route->unclassified, ch);
    if (proxy->closing) {
        /* a read that completed as mp_proxy_free cancelled it: start nothing */
        channel_free(ch);
        return;
    }
    g_byte_array_append(ch->up.held, data, (guint)n);
    if (mp_tls_mode(proxy->cfg.tls) == MP_TLS_PASSTHROUGH) {
        classify_opaque(ch, data, n);
        route_adopt_parked(route);
        return;
    }
    /* QEMU writes the 4-byte magic in one go; a shorter first read is rare */
    if (n >= 4) {
        memcpy(&magic, data, 4);
        magic = GUINT32_FROM_BE(magic);
    }
    if (data[0] == QEMU_VM_COMMAND && route_paused_session(route)) {
        /* no header: a postcopy recovery's main channel starts with commands */
        session_resume(route_paused_session(route), ch);
    } else if (magic == QEMU_VM_FILE_MAGIC) {
        if (proxy->cfg.once && proxy->once_taken) {
            /* --once: one migration only; later ones are refused */
            refuse(route, ch->src, 0, "--once: a migration was already taken");
            channel_free(ch);
        } else if (proxy->cfg.limits.max_sessions &&
                   live_sessions(proxy) >= proxy->cfg.limits.max_sessions) {
            g_autofree char *why = g_strdup_printf("%u migrations are already in progress "
                                                   "(--max-sessions)", live_sessions(proxy));

            refuse(route, ch->src, 0, why);
            channel_free(ch);
        } else {
            channel_start(start_session(route, ch), ch);
        }
    } else {
        ch->parked = true;
        ch->wanted = magic == MULTIFD_MAGIC ? CH_MULTIFD : CH_PREEMPT;
        g_ptr_array_add(route->parked, ch);
        /* look again once any silent connection before it has had its time */
        g_timeout_add(MP_SILENT_US / 1000 + 100, route_adopt_later, route);
    }
    route_adopt_parked(route);
}

/*
 * Each leg carries what QEMU wrote in the order it wrote it; Nagle would
 * hold the small writes at switchover (device state, EOF) until the
 * previous segment is acknowledged, which lands in the VM's downtime.
 */
void leg_no_delay(GSocketConnection *conn)
{
    GSocket *sock = g_socket_connection_get_socket(conn);
    GSocketFamily family = g_socket_get_family(sock);

    if (family == G_SOCKET_FAMILY_IPV4 || family == G_SOCKET_FAMILY_IPV6) {
        g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
    }
}

/* The source's end of @ch carries plain text from now on: classify it. */
static void channel_source_ready(Channel *ch, GIOStream *io)
{
    ch->up.in = g_io_stream_get_input_stream(io);
    ch->down.out = g_io_stream_get_output_stream(io);
    leg_pump(&ch->up);
}

/*
 * The source's TLS handshake on @ch is over.  Till then the channel was
 * unclassified and silent, which holds later multifd channels back as it
 * does for a plain main channel that has not spoken yet.
 */
static void on_source_tls(GIOStream *io, MpTlsFailure *failure, gpointer data)
{
    Channel *ch = data;
    Route *route = ch->route;

    if (!io) {
        g_ptr_array_remove(route->unclassified, ch);
        if (failure && !ch->silent_closed) {
            route_refuse(route, failure);
        } else {
            mp_tls_failure_free(failure);
        }
        channel_free(ch);
        route_adopt_parked(route);
        return;
    }
    ch->src_io = io;
    channel_source_ready(ch, io);
}

void route_on_accept(GObject *obj, GAsyncResult *res, gpointer data)
{
    Route *route = data;
    g_autoptr(GError) error = NULL;
    GSocketConnection *conn;
    Channel *ch;

    route->accepting = false;
    conn = g_socket_listener_accept_finish(G_SOCKET_LISTENER(obj), res, NULL, &error);
    if (conn && route->proxy->closing) {
        g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
        g_object_unref(conn);
        return;
    }
    if (!conn) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            g_warning("accept on %s: %s", route->cfg.listen, error->message);
        }
        return;
    }
    g_socket_listener_accept_async(route->listener, route->cancel, route_on_accept, route);
    route->accepting = true;
    if (!route_admit(route, conn)) {
        g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
        g_object_unref(conn);
        return;
    }

    ch = g_new0(Channel, 1);
    ch->route = route;
    ch->seq = ++route->accepted;
    ch->accepted_us = g_get_monotonic_time();
    if (route->proxy->cfg.prefix_timeout_s && !route->silent_timer) {
        route->silent_timer = g_timeout_add_seconds(1, route_on_silent_check, route);
    }
    g_ptr_array_add(route->unclassified, ch);
    ch->src = conn;
    leg_no_delay(conn);
    mp_liveness_tune(conn, route->proxy->cfg.tcp_timeout_s);
    ch->src_ifindex = mp_liveness_ifindex(conn);
    leg_init(&ch->up, ch, true, route->proxy->cfg.checksum);
    leg_init(&ch->down, ch, false, route->proxy->cfg.checksum);
    if (mp_tls_mode(route->proxy->cfg.tls) == MP_TLS_TERMINATE) {
        /* unclassified only once the handshake is done: its plain text decides */
        mp_tls_accept_async(route->proxy->cfg.tls, conn, route->cancel, on_source_tls, ch);
        return;
    }
    channel_source_ready(ch, G_IO_STREAM(conn));
}
