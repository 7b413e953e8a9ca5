/*
 * session-end.c - how a session goes on or ends: stalls and links going
 * down noticed, postcopy pauses waiting for a recovery channel, aborts, and
 * the end with the destination's outcome, the summary per channel and the
 * end event.
 */
#include "proxy-internal.h"

/* Where the session is, for events: what a silence in it means differs. */
static const char *session_phase(const Session *s)
{
    const Channel *main_ch = s->channels->len ? g_ptr_array_index(s->channels, 0) : NULL;

    if (!s->decided) {
        return s->prefix_done ? "gate" : "prefix";
    }
    if (s->stream_eof || (main_ch && main_ch->up.eof)) {
        return "end";
    }
    /* QEMU sends device state in FULL sections once RAM's iterations end */
    if (s->section && g_str_has_prefix(s->section, "FULL") && s->ram_start_done) {
        return "device-state";
    }
    return s->section && strstr(s->section, "'ram'") ? "ram" : "stream";
}

/* Bytes of the main channel read from the source so far. */
static uint64_t session_source_offset(const Session *s)
{
    const Channel *main_ch = s->channels->len ? g_ptr_array_index(s->channels, 0) : NULL;

    return main_ch && main_ch->up.dec ? mig_decoder_offset(main_ch->up.dec) : 0;
}

/*
 * Which peer owes the session's next move: one the proxy is writing to
 * and that takes nothing (a paused destination: TCP_USER_TIMEOUT keeps a
 * peer that answers with a zero window, only this timeout ends it), or
 * else the one it waits to read from.  NULL while a connection is being
 * made (the connect has its own timeout).
 */
static const char *session_owing_peer(const Session *s, bool end)
{
    for (guint i = 0; i < s->channels->len; i++) {
        const Channel *ch = g_ptr_array_index(s->channels, i);

        if (ch->closed) {
            continue;
        }
        if (ch->connecting) {
            return NULL;
        }
        if (ch->up.writing || ch->up.queued_buf) {
            return "destination";
        }
        if (ch->down.writing || ch->down.queued_buf) {
            return "source";
        }
    }
    return end ? "destination" : "source";
}

/*
 * After the gate, a session that moves no byte on any leg for the phase's
 * timeout is broken off: in the stream the source owes the next bytes
 * (QEMU writes RAM continuously; with multifd any channel counts) unless
 * the destination takes nothing; after the source's last record the
 * destination owes its answer (the return path's SHUT, or its close).
 */
static gboolean on_stall_check(gpointer data)
{
    Session *s = data;
    MpProxyConfig *cfg = &s->proxy->cfg;
    gint64 now = g_get_monotonic_time();
    const char *phase, *who;
    bool end;
    guint limit_s;

    if (s->finished) {
        s->stall_timer = 0;
        return G_SOURCE_REMOVE;
    }
    if (s->paused) {
        /* postcopy waits for its recovery channel: that wait has its own limit */
        s->last_progress_us = now;
        return G_SOURCE_CONTINUE;
    }
    phase = session_phase(s);
    end = strcmp(phase, "end") == 0;
    who = session_owing_peer(s, end);
    limit_s = end ? cfg->end_timeout_s : cfg->stall_timeout_s;
    {
        bool pause = false;

        /*
         * pause-before-switchover: the source waits, silent, for its
         * management's migrate-continue, as long as that takes.  The stream
         * does not say so; --source-qmp does.
         */
        if (!end && s->src_qmp && mp_facts_get_cap(s->src_qmp, "pause-before-switchover", &pause) &&
            pause) {
            limit_s = 0;
        }
    }
    if (!who) {
        s->last_progress_us = now;
        return G_SOURCE_CONTINUE;
    }
    if (!limit_s || now - s->last_progress_us < (gint64)limit_s * G_USEC_PER_SEC) {
        return G_SOURCE_CONTINUE;
    }
    {
        g_autofree char *why = g_strdup_printf("the %s moved nothing for %u s (%s phase timeout)",
                                               who, limit_s, phase);
        JsonObject *o = mp_events_begin("stalled", s->id);
        g_autofree char *human = g_strdup_printf(
            "session %u: the %s leg is silent: nothing for %u s in the %s phase at source byte %"
            G_GUINT64_FORMAT, s->id, who, limit_s, phase, session_source_offset(s));

        json_object_set_string_member(o, "leg", who);
        json_object_set_string_member(o, "phase", phase);
        json_object_set_int_member(o, "timeout_s", limit_s);
        json_object_set_int_member(o, "source_offset", (gint64)session_source_offset(s));
        if (s->section) {
            json_object_set_string_member(o, "last_section", s->section);
        }
        mp_events_emit(cfg->events, o, human);
        s->stall_timer = 0;
        session_abort(s, who, why);
    }
    return G_SOURCE_REMOVE;
}

void session_watch_stall(Session *s)
{
    if (s->stall_timer || (!s->proxy->cfg.stall_timeout_s && !s->proxy->cfg.end_timeout_s)) {
        return;
    }
    s->last_progress_us = g_get_monotonic_time();
    /* a quarter second: the granularity of the timeouts, cheap per session */
    s->stall_timer = g_timeout_add_full(G_PRIORITY_DEFAULT, 250, on_stall_check, session_ref(s),
                                        (GDestroyNotify)session_unref);
}

/*
 * An interface lost its carrier for the monitor's grace time: every
 * session with a leg over it is broken off at once, naming that leg; TCP
 * would only see silence and wait for minutes.
 */
void proxy_on_link_down(int ifindex, const char *ifname, guint down_ms, gpointer data)
{
    MpProxy *p = data;
    g_autoptr(GPtrArray) hit = g_ptr_array_new_with_free_func((GDestroyNotify)session_unref);
    g_autoptr(GPtrArray) who = g_ptr_array_new();

    for (guint r = 0; r < p->routes->len; r++) {
        Route *route = g_ptr_array_index(p->routes, r);

        for (guint i = 0; i < route->sessions->len; i++) {
            Session *s = g_ptr_array_index(route->sessions, i);

            for (guint c = 0; c < s->channels->len && !s->finished; c++) {
                Channel *ch = g_ptr_array_index(s->channels, c);

                if (ch->closed) {
                    continue;
                }
                if (ch->src_ifindex == ifindex || (ch->dst && ch->dst_ifindex == ifindex)) {
                    g_ptr_array_add(hit, session_ref(s));
                    g_ptr_array_add(who, (gpointer)(ch->src_ifindex == ifindex ? "source"
                                                                              : "destination"));
                    break;
                }
            }
        }
    }
    for (guint i = 0; i < hit->len; i++) {
        Session *s = g_ptr_array_index(hit, i);
        g_autofree char *why = g_strdup_printf("link %s lost its carrier (down for %u ms)",
                                               ifname, down_ms);

        session_abort(s, g_ptr_array_index(who, i), why);
    }
}

/* ------------------------------------------------------------------ */
/* the end */

/* Nobody came to recover the paused migration: it failed where it broke. */
static gboolean on_recovery_timeout(gpointer data)
{
    Session *s = data;
    g_autofree char *why = g_strdup_printf("%s; no recovery within %u s", s->pause_why,
                                           MP_RECOVERY_WAIT_S);

    s->recovery_timer = 0;
    s->paused = false;
    s->recovery_given_up = true;
    session_abort(s, s->pause_who, why);
    return G_SOURCE_REMOVE;
}

/*
 * In postcopy the guest runs at the destination and each side holds part
 * of its memory: a broken connection must not end the migration.  QEMU
 * pauses both sides (postcopy-paused) and the operator recovers with
 * migrate-recover at the destination (on the address migproxy connects
 * to) and migrate with resume=true at the source (to migproxy).  So the
 * proxy closes what is left of the connections, so that both sides see the
 * break, and keeps the session for the recovery channel, for at most
 * MP_RECOVERY_WAIT_S.  Returns FALSE when the session is not pausable.
 */
static bool session_pause(Session *s, const char *who, const char *why)
{
    g_autofree char *human = NULL;
    JsonObject *o;

    /* the proxy's own cut is a decision, not a failure to recover from */
    if (!s->postcopy_running || s->stream_eof || s->recovery_given_up ||
        strcmp(who, "proxy") == 0) {
        return false;
    }
    s->paused = true;
    g_free(s->pause_who);
    g_free(s->pause_why);
    s->pause_who = g_strdup(who);
    s->pause_why = g_strdup(why);
    human = g_strdup_printf("session %u: postcopy broken off by the %s: %s; paused, waiting "
                            "for a recovery (migrate-recover at the destination, migrate "
                            "resume=true at the source)", s->id, who, why);
    o = mp_events_begin("paused", s->id);
    json_object_set_string_member(o, "broke_off", who);
    json_object_set_string_member(o, "error", why);
    if (s->section) {
        json_object_set_string_member(o, "last_section", s->section);
    }
    json_object_set_int_member(o, "wait_s", MP_RECOVERY_WAIT_S);
    mp_events_emit(s->proxy->cfg.events, o, human);
    for (guint i = 0; i < s->channels->len; i++) {
        channel_close(g_ptr_array_index(s->channels, i));
    }
    s->recovery_timer = g_timeout_add_seconds(MP_RECOVERY_WAIT_S, on_recovery_timeout, s);
    return true;
}

/* A recovery channel for paused session @s: it carries the rest of the stream. */
void session_resume(Session *s, Channel *ch)
{
    g_autofree char *human = g_strdup_printf("session %u: recovery channel %u: resuming "
                                             "postcopy", s->id, s->channels->len);
    JsonObject *o;

    s->paused = false;
    g_source_remove(s->recovery_timer);
    s->recovery_timer = 0;
    s->recoveries++;
    /* what the broken main channel's decoder said no longer stands */
    g_clear_pointer(&s->failure, g_free);
    ch->recovery = true;
    channel_attach(s, ch, CH_MAIN);
    o = mp_events_begin("resumed", s->id);
    json_object_set_int_member(o, "index", ch->index);
    json_object_set_int_member(o, "recoveries", s->recoveries);
    mp_events_emit(s->proxy->cfg.events, o, human);
    channel_start(s, ch);
}

void session_abort(Session *s, const char *who, const char *why)
{
    if (s->finished || s->broke_off || s->paused) {
        return;
    }
    if (session_pause(s, who, why)) {
        return;
    }
    s->broke_off = g_strdup(who);
    if (!s->failure) {
        s->failure = g_strdup(why);
    }
    {
        /* said at once: the end event waits for the destination's QMP */
        g_autofree char *human = g_strdup_printf(
            "session %u: broken off by the %s (%s phase, source byte %" G_GUINT64_FORMAT
            "%s%s): %s", s->id, who, session_phase(s), session_source_offset(s),
            s->section ? ", in " : "", s->section ? s->section : "", why);
        JsonObject *o = mp_events_begin("broken", s->id);

        json_object_set_string_member(o, "broke_off", who);
        json_object_set_string_member(o, "error", why);
        if (s->section) {
            json_object_set_string_member(o, "last_section", s->section);
            json_object_set_int_member(o, "last_section_offset", (gint64)s->section_offset);
        }
        json_object_set_string_member(o, "phase", session_phase(s));
        json_object_set_int_member(o, "source_offset", (gint64)session_source_offset(s));
        mp_events_emit(s->proxy->cfg.events, o, human);
    }
    for (guint i = 0; i < s->channels->len; i++) {
        channel_close(g_ptr_array_index(s->channels, i));
    }
    g_cancellable_cancel(s->cancel);
    session_check_done(s);
}

typedef struct {
    char *dest_qmp;
    char *status;
    char *error_desc;
    char *qmp_error;
} OutcomeJob;

static void outcome_job_free(OutcomeJob *j)
{
    g_free(j->dest_qmp);
    g_free(j->status);
    g_free(j->error_desc);
    g_free(j->qmp_error);
    g_free(j);
}

/* Ask the destination how it ended, for up to 5 s while it is still busy. */
static void outcome_thread(GTask *task, gpointer source, gpointer data, GCancellable *c)
{
    OutcomeJob *j = data;

    for (guint attempt = 0; attempt < 50; attempt++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(MpQmp) qmp = mp_qmp_connect(j->dest_qmp, 2, &error);

        g_clear_pointer(&j->status, g_free);
        g_clear_pointer(&j->error_desc, g_free);
        g_clear_pointer(&j->qmp_error, g_free);
        if (qmp) {
            j->status = mp_qmp_migrate_status(qmp, &j->error_desc, &error);
        }
        if (!j->status) {
            j->qmp_error = g_strdup(error->message);
            if (attempt >= 2) {
                break;          /* QEMU is gone: that is the answer */
            }
        } else if (strcmp(j->status, "completed") == 0 || strcmp(j->status, "failed") == 0) {
            break;
        }
        g_usleep(100 * 1000);
    }
    g_task_return_boolean(task, TRUE);
}

static void add_channel_summaries(Session *s, JsonObject *o, uint64_t *to_dst, uint64_t *to_src)
{
    JsonArray *a = json_array_new();

    *to_dst = *to_src = 0;
    for (guint i = 0; i < s->channels->len; i++) {
        Channel *ch = g_ptr_array_index(s->channels, i);
        JsonObject *c = json_object_new();

        json_object_set_string_member(c, "kind", ch->recovery ? "recovery"
                                                 : channel_kind_name(ch->kind));
        json_object_set_int_member(c, "bytes_to_destination", (gint64)ch->up.bytes);
        json_object_set_int_member(c, "bytes_to_source", (gint64)ch->down.bytes);
        if (ch->up.sum) {
            json_object_set_string_member(c, "sha256_to_destination",
                                          g_checksum_get_string(ch->up.sum));
            json_object_set_string_member(c, "sha256_to_source",
                                          g_checksum_get_string(ch->down.sum));
        }
        mp_tls_describe_channel(c, ch->src_io, ch->dst_io);
        if (ch->up.dec) {
            json_object_set_int_member(c, "bytes_from_source",
                                       (gint64)mig_decoder_stats(ch->up.dec)->bytes);
        }
        *to_dst += ch->up.bytes;
        *to_src += ch->down.bytes;
        json_array_add_object_element(a, c);
    }
    json_object_set_array_member(o, "channels", a);
}

static void session_end(Session *s, const char *outcome, const char *dest_status,
                        const char *dest_error)
{
    MpProxy *p = s->proxy;
    JsonObject *o = mp_events_begin("end", s->id);
    uint64_t to_dst, to_src;
    g_autofree char *human = NULL;

    s->state = S_DONE;
    json_object_set_string_member(o, "outcome", outcome);
    add_channel_summaries(s, o, &to_dst, &to_src);
    json_object_set_int_member(o, "bytes_to_destination", (gint64)to_dst);
    json_object_set_int_member(o, "bytes_to_source", (gint64)to_src);
    json_object_set_boolean_member(o, "destination_contacted", s->contacted);
    json_object_set_boolean_member(o, "dry_run", p->cfg.dry_run);
    json_object_set_int_member(o, "recoveries", s->recoveries);
    json_object_set_int_member(o, "rounds", mp_convergence_n_rounds(s->conv));
    json_object_set_int_member(o, "pages_sent_again",
                               (gint64)mp_convergence_total_pages_again(s->conv));
    json_object_set_double_member(o, "duration_s",
                                  (double)(g_get_monotonic_time() - s->start_us) / 1e6);
    if (s->broke_off) {
        json_object_set_string_member(o, "broke_off", s->broke_off);
    }
    if (s->failure) {
        json_object_set_string_member(o, "error", s->failure);
    }
    if (s->section) {
        json_object_set_string_member(o, "last_section", s->section);
        json_object_set_int_member(o, "last_section_offset", (gint64)s->section_offset);
    }
    if (s->rp_shut) {
        json_object_set_int_member(o, "return_path_shut", s->rp_shut_value);
    }
    if (p->cfg.capture) {
        /* records the disk could not keep up with, since the daemon started */
        json_object_set_int_member(o, "capture_dropped",
                                   (gint64)mp_capture_dropped(p->cfg.capture));
        mp_capture_tcp_summary(p->cfg.capture, s->id, o);
    }
    if (dest_status) {
        json_object_set_string_member(o, "destination_status", dest_status);
    }
    if (dest_error) {
        json_object_set_string_member(o, "destination_error", dest_error);
    }
    human = g_strdup_printf("session %u: end: %s; %" G_GUINT64_FORMAT " bytes to the destination, %"
                            G_GUINT64_FORMAT " to the source%s%s%s%s", s->id, outcome, to_dst, to_src,
                            s->broke_off ? "; broken off by the " : "",
                            s->broke_off ? s->broke_off : "",
                            s->failure ? ": " : "", s->failure ? s->failure : "");
    mp_events_emit(p->cfg.events, o, human);
    if (p->cfg.once && p->exit_status < 0) {
        if (strcmp(outcome, "completed") == 0) {
            p->exit_status = 0;
        } else if (strcmp(outcome, "rejected") == 0) {
            p->exit_status = p->cfg.dry_run && s->report &&
                             mp_report_verdict(s->report) == MP_VERDICT_ACCEPT ? 0 : 1;
        } else {
            p->exit_status = 2;
        }
        g_main_loop_quit(p->loop);
    }
}

static void add_failure_finding(Session *s, const char *dest_error)
{
    MpFinding *f;
    g_autofree char *where = s->section ?
        g_strdup_printf("%s at stream offset %" G_GUINT64_FORMAT, s->section, s->section_offset) :
        g_strdup("before the first section");
    bool dest = s->broke_off && strcmp(s->broke_off, "destination") == 0;

    if (s->cut) {
        return;     /* the proxy cut on a finding it has reported: no side failed */
    }
    if (!s->report) {
        s->report = mp_policy_new_report(s->proxy->cfg.policy);
    }
    f = mp_report_add(s->report, dest || !s->broke_off ? "destination-failed" : "source-failed",
                      where, NULL, dest_error,
                      dest || !s->broke_off ? "read the destination QEMU's log for the device named here"
                                            : "read the source QEMU's log",
                      "the %s broke off the migration while %s was being forwarded%s%s",
                      s->broke_off ? s->broke_off : "destination", where,
                      dest_error ? ": " : (s->failure ? ": " : ""),
                      dest_error ? dest_error : (s->failure ? s->failure : ""));
    mp_events_finding(s->proxy->cfg.events, s->id, f);
}

/* The destination shook hands on the main channel and never began to load. */
static void session_tls_refused(Session *s)
{
    MpTlsFailure *failure = mp_tls_destination_refused_failure(s->proxy->cfg.tls);

    if (!s->report) {
        s->report = mp_policy_new_report(s->proxy->cfg.policy);
    }
    mp_events_finding(s->proxy->cfg.events, s->id, mp_tls_add_finding(failure, s->report));
    mp_tls_failure_free(failure);
}

static void on_outcome(GObject *obj, GAsyncResult *res, gpointer data)
{
    Session *s = data;
    OutcomeJob *j = g_task_get_task_data(G_TASK(res));
    const char *outcome;
    g_autofree char *dest_error = NULL;

    if (j->status && strcmp(j->status, "completed") == 0 && !s->broke_off &&
        (s->stream_clean || s->late_undecodable) && !(s->rp_shut && s->rp_shut_value)) {
        outcome = "completed";
    } else {
        outcome = "failed";
        dest_error = g_strdup(j->error_desc ? j->error_desc :
                              j->status ? j->status :
                              j->qmp_error ? "the destination QEMU is gone (its QMP does not answer)"
                                           : NULL);
        if (j->status && strcmp(j->status, "none") == 0 &&
            ((Channel *)g_ptr_array_index(s->channels, 0))->dst_io) {
            session_tls_refused(s);
        }
        add_failure_finding(s, dest_error);
    }
    session_end(s, outcome, j->status, dest_error);
    session_unref(s);
}

/* Close every channel and stop the timers (each holds a reference). */
void session_stop(Session *s)
{
    s->finished = true;
    for (guint i = 0; i < s->channels->len; i++) {
        channel_close(g_ptr_array_index(s->channels, i));
    }
    if (s->settle_timer) {
        g_source_remove(s->settle_timer);
        s->settle_timer = 0;
    }
    if (s->prefix_timer) {
        g_source_remove(s->prefix_timer);
        s->prefix_timer = 0;
    }
    if (s->hold_timer) {
        g_source_remove(s->hold_timer);
        s->hold_timer = 0;
    }
    if (s->stall_timer) {
        g_source_remove(s->stall_timer);
        s->stall_timer = 0;
    }
}

static void session_finish(Session *s)
{
    session_stop(s);
    s->state = S_FINISHING;
    if (s->rejected) {
        session_end(s, "rejected", NULL, NULL);
        return;
    }
    if (s->route->cfg.dest_qmp && s->contacted) {
        OutcomeJob *j = g_new0(OutcomeJob, 1);
        g_autoptr(GTask) task = g_task_new(NULL, NULL, on_outcome, session_ref(s));

        j->dest_qmp = g_strdup(s->route->cfg.dest_qmp);
        g_task_set_task_data(task, j, (GDestroyNotify)outcome_job_free);
        g_task_run_in_thread(task, outcome_thread);
        return;
    }
    if (!s->broke_off && (s->stream_clean || s->late_undecodable) && !(s->rp_shut && s->rp_shut_value)) {
        session_end(s, "completed", NULL, NULL);
    } else {
        g_autofree char *rp = s->rp_shut && s->rp_shut_value ?
            g_strdup_printf("the destination's return path said SHUT %u", s->rp_shut_value) : NULL;

        add_failure_finding(s, rp);
        session_end(s, "failed", NULL, rp);
    }
}

void session_check_done(Session *s)
{
    if (s->finished || s->paused) {
        return;
    }
    if (!s->rejected && !s->broke_off) {
        if (!s->decided) {
            return;
        }
        for (guint i = 0; i < s->channels->len; i++) {
            if (!channel_done(g_ptr_array_index(s->channels, i))) {
                return;
            }
        }
    }
    session_finish(s);
    /* the route's reference: a finished session stays only for late callbacks */
    g_ptr_array_remove(s->route->sessions, s);
    session_unref(s);
}
