/*
 * proxy.c - the daemon as proxy.h shows it: routes added and listening, and
 * the core every session shares (creation, references, its simple events).
 * The rest of a session's life is in channels.c (connections in), legs.c
 * (bytes through), stream-watch.c (what the decoders say), gate.c (the
 * verdict and the destination) and session-end.c (stalls, pauses, the end);
 * proxy-internal.h holds their shared types.
 */
#include "proxy-internal.h"

const char *channel_kind_name(ChannelKind k)
{
    switch (k) {
    case CH_MAIN: return "main";
    case CH_MULTIFD: return "multifd";
    case CH_PREEMPT: return "preempt";
    case CH_OPAQUE: return "tls";
    case CH_UNKNOWN: break;
    }
    return "unknown";
}

/* ------------------------------------------------------------------ */
/* sessions */

Session *session_ref(Session *s)
{
    s->ref++;
    return s;
}

void channel_unwatch(Channel *ch)
{
    if (ch->src_watch) {
        g_source_remove(ch->src_watch);
        ch->src_watch = 0;
    }
    if (ch->dst_watch) {
        g_source_remove(ch->dst_watch);
        ch->dst_watch = 0;
    }
}

void channel_free(Channel *ch)
{
    Leg *legs[] = { &ch->up, &ch->down };

    channel_unwatch(ch);

    for (size_t i = 0; i < G_N_ELEMENTS(legs); i++) {
        Leg *l = legs[i];

        mp_chunk_buf_unref(l->bufs[0]);
        mp_chunk_buf_unref(l->bufs[1]);
        if (l->held) {
            g_byte_array_unref(l->held);
        }
        if (l->release) {
            g_byte_array_unref(l->release);
        }
        if (l->dec) {
            mig_decoder_free(l->dec);
        }
        if (l->sum) {
            g_checksum_free(l->sum);
        }
        mp_capture_leg_free(l->cap);
    }
    g_clear_object(&ch->src_io);
    g_clear_object(&ch->dst_io);
    g_clear_object(&ch->src);
    g_clear_object(&ch->dst);
    g_free(ch);
}

void session_unref(Session *s)
{
    if (--s->ref > 0) {
        return;
    }
    g_ptr_array_remove(s->route->sessions, s);
    s->proxy->n_sessions--;
    g_ptr_array_unref(s->channels);
    g_object_unref(s->cancel);
    mp_facts_free(s->src);
    mp_facts_free(s->src_qmp);
    mp_facts_free(s->dst);
    mp_devgate_free(s->devgate);
    if (s->report) {
        mp_report_free(s->report);
    }
    g_free(s->dst_error);
    g_free(s->prefix_error);
    g_free(s->section);
    if (s->recovery_timer) {
        g_source_remove(s->recovery_timer);
    }
    g_free(s->pause_who);
    g_free(s->pause_why);
    mp_convergence_free(s->conv);
    g_free(s->cut_reason);
    g_free(s->broke_off);
    g_free(s->failure);
    g_free(s);
}

Session *session_new(Route *route)
{
    Session *s = g_new0(Session, 1);

    s->ref = 1;
    s->proxy = route->proxy;
    s->route = route;
    s->id = ++route->proxy->next_session;
    route->proxy->n_sessions++;
    s->channels = g_ptr_array_new_with_free_func((GDestroyNotify)channel_free);
    s->cancel = g_cancellable_new();
    s->start_us = g_get_monotonic_time();
    s->src = mp_facts_new(MP_FACTS_FROM_STREAM);
    s->conv = mp_convergence_new(4096);
    s->stream_clean = false;
    return s;
}

void session_emit(Session *s, const char *event, const char *human)
{
    mp_events_emit(s->proxy->cfg.events, mp_events_begin(event, s->id), human);
}

/* ------------------------------------------------------------------ */
/* proxy and routes */

MpProxy *mp_proxy_new(const MpProxyConfig *config, GMainLoop *loop)
{
    MpProxy *p = g_new0(MpProxy, 1);

    p->cfg = *config;
    p->loop = loop;
    if (!p->cfg.limits.prefix_bytes) {
        p->cfg.limits.prefix_bytes = MP_LIMIT_PREFIX;
    }
    if (!p->cfg.limits.held_bytes) {
        p->cfg.limits.held_bytes = MP_LIMIT_HELD;
    }
    p->routes = g_ptr_array_new();
    p->exit_status = -1;
    if (config->link_down_ms) {
        g_autoptr(GError) error = NULL;

        p->links = mp_link_monitor_new(config->link_down_ms, proxy_on_link_down, p, &error);
        if (!p->links) {
            g_warning("%s: a link going down will be noticed only by TCP", error->message);
        }
    }
    return p;
}

/* How long mp_proxy_free waits for callbacks of cancelled operations. */
#define MP_DRAIN_US (2 * G_USEC_PER_SEC)

static bool proxy_drained(const MpProxy *p)
{
    if (p->n_sessions) {
        return false;
    }
    for (guint i = 0; i < p->routes->len; i++) {
        const Route *r = g_ptr_array_index(p->routes, i);

        if (r->accepting || r->unclassified->len) {
            return false;
        }
    }
    return true;
}

static gboolean wake_up(gpointer data)
{
    return G_SOURCE_CONTINUE;
}

static void route_free(Route *r)
{
    /* adopt_later and on_silent_check hold the route, not a reference */
    while (g_source_remove_by_user_data(r)) {
    }
    for (guint i = 0; i < r->parked->len; i++) {
        channel_free(g_ptr_array_index(r->parked, i));
    }
    g_ptr_array_unref(r->parked);
    g_ptr_array_unref(r->unclassified);
    g_ptr_array_unref(r->sessions);
    g_object_unref(r->listener);
    g_object_unref(r->client);
    g_object_unref(r->connect_addr);
    g_object_unref(r->cancel);
    g_free(r->cfg.listen);
    g_free(r->cfg.connect);
    g_free(r->cfg.dest_qmp);
    g_free(r->cfg.source_qmp);
    mp_facts_free(r->cfg.dest_profile);
    g_free(r);
}

/*
 * Sessions still running are stopped without an end event (the daemon is
 * going away, the migration did not end); every operation is cancelled and
 * the main context run until their callbacks have let go of the sessions
 * and routes, for at most MP_DRAIN_US (a QMP thread may take longer: then
 * the routes are left allocated rather than freed under it).
 */
void mp_proxy_free(MpProxy *proxy)
{
    guint waker;
    gint64 deadline;

    if (!proxy) {
        return;
    }
    proxy->closing = true;
    for (guint i = 0; i < proxy->routes->len; i++) {
        Route *r = g_ptr_array_index(proxy->routes, i);

        g_cancellable_cancel(r->cancel);
        g_socket_listener_close(r->listener);
        if (g_str_has_prefix(r->cfg.listen, "unix:")) {
            unlink(r->cfg.listen + 5);
        }
        while (r->sessions->len) {
            Session *s = g_ptr_array_steal_index(r->sessions, r->sessions->len - 1);

            session_stop(s);
            g_cancellable_cancel(s->cancel);
            session_unref(s);   /* the route's reference */
        }
    }
    waker = g_timeout_add(10, wake_up, NULL);
    deadline = g_get_monotonic_time() + MP_DRAIN_US;
    while (!proxy_drained(proxy) && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_source_remove(waker);
    mp_link_monitor_free(proxy->links);
    proxy->links = NULL;
    if (!proxy_drained(proxy)) {
        return;     /* late callbacks still point here: the process is exiting */
    }
    g_ptr_array_set_free_func(proxy->routes, (GDestroyNotify)route_free);
    g_ptr_array_unref(proxy->routes);
    g_free(proxy);
}

const char *mp_proxy_route_listen(const MpProxy *proxy, guint index)
{
    g_return_val_if_fail(index < proxy->routes->len, NULL);
    return ((Route *)g_ptr_array_index(proxy->routes, index))->cfg.listen;
}

int mp_proxy_exit_status(const MpProxy *proxy)
{
    return proxy->exit_status;
}

bool mp_proxy_add_route(MpProxy *proxy, const MpRouteConfig *cfg, GError **error)
{
    g_autoptr(GSocketAddress) listen_addr = mp_uri_parse(cfg->listen, error);
    g_autoptr(GSocketAddress) effective = NULL;
    Route *r;

    if (!listen_addr) {
        return false;
    }
    r = g_new0(Route, 1);
    r->proxy = proxy;
    r->connect_addr = mp_uri_parse(cfg->connect, error);
    if (!r->connect_addr) {
        g_free(r);
        return false;
    }
    if (G_IS_UNIX_SOCKET_ADDRESS(listen_addr)) {
        const char *path = g_unix_socket_address_get_path(G_UNIX_SOCKET_ADDRESS(listen_addr));
        struct stat st;

        /* a socket file left by an earlier run would make bind() fail */
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(path);
        }
    }
    r->listener = g_socket_listener_new();
    if (!g_socket_listener_add_address(r->listener, listen_addr, G_SOCKET_TYPE_STREAM,
                                       G_SOCKET_PROTOCOL_DEFAULT, NULL, &effective, error)) {
        g_prefix_error(error, "--listen %s: ", cfg->listen);
        g_object_unref(r->listener);
        g_object_unref(r->connect_addr);
        g_free(r);
        return false;
    }
    /* port 0 picks a free port: the route is known by the real one */
    r->cfg.listen = mp_uri_describe(effective);
    r->cfg.connect = g_strdup(cfg->connect);
    r->cfg.dest_qmp = g_strdup(cfg->dest_qmp);
    r->cfg.source_qmp = g_strdup(cfg->source_qmp);
    r->cfg.dest_profile = cfg->dest_profile;
    r->client = g_socket_client_new();
    g_socket_client_set_timeout(r->client, 10);
    r->cancel = g_cancellable_new();
    r->sessions = g_ptr_array_new();
    r->unclassified = g_ptr_array_new();
    r->parked = g_ptr_array_new();
    g_ptr_array_add(proxy->routes, r);
    g_socket_listener_accept_async(r->listener, r->cancel, route_on_accept, r);
    r->accepting = true;
    return true;
}
