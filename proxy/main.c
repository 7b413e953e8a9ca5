/*
 * main.c - the migproxy command: the daemon (`migproxy --listen ...`) and
 * `migproxy probe --qmp ADDR`, which writes a destination profile, and the
 * offline subcommands `diff` and `check` (offline.c).
 * Exit status: 0 completed (or probe written, or a dry run that would
 * accept), 1 rejected, 2 usage or I/O error or a migration that failed
 * after the gate.
 */
#include <gio/gio.h>
#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dest-sections.h"
#include "events.h"
#include "facts.h"
#include "offline.h"
#include "proxy.h"
#include "qmp.h"
#include "tls.h"
#include "replay.h"
#include "stream-source.h"

static bool feed_stream_source(MigDecoder *dec, void *opaque, GError **error)
{
    return mp_stream_source_decode(opaque, dec, MP_STREAM_FILE_CHUNK, error) == MP_STREAM_FILE_OK;
}

/*
 * --sections-from: a stream file (read with its size limit) or a capture
 * (its first migration's source side, which keeps device state whole in
 * every page mode).
 */
static bool add_sections_from(MpFacts *facts, const char *path, const char *dump_path,
                              GError **error)
{
    g_autoptr(MpStreamSource) src = mp_stream_source_open(path, error);
    g_autofree char *note = NULL;

    if (!src) {
        return false;
    }
    switch (mp_stream_source_kind(src)) {
    case MP_STREAM_SOURCE_CAPTURE:
        if ((note = mp_stream_source_note(src))) {
            fprintf(stderr, "migproxy probe: %s\n", note);
        }
        return mp_facts_add_sections_from_feed(facts, path, feed_stream_source, src, dump_path,
                                               NULL, error);
    case MP_STREAM_SOURCE_PROFILE:
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "%s: a profile, not a stream: --sections-from takes a stream file "
                    "or a capture", path);
        return false;
    case MP_STREAM_SOURCE_FILE:
    default:
        return mp_facts_add_sections_from(facts, path, dump_path, NULL, error);
    }
}

static int run_probe(int argc, char **argv)
{
    g_autofree char *qmp_uri = NULL;
    g_autofree char *output = NULL;
    g_autofree char *sections_from = NULL;
    g_autofree char *dest_vmstate = NULL;
    gint timeout = 5;
    GOptionEntry entries[] = {
        { "qmp", 0, 0, G_OPTION_ARG_STRING, &qmp_uri, "QMP of the waiting destination", "ADDR" },
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "write the profile here (default: stdout)", "FILE" },
        { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "seconds for each QMP step (default 5)", "S" },
        { "sections-from", 0, 0, G_OPTION_ARG_FILENAME, &sections_from,
          "add the device sections of this stream (or capture), written by the destination's "
          "configuration", "STREAM" },
        { "dest-vmstate", 0, 0, G_OPTION_ARG_FILENAME, &dest_vmstate,
          "with --sections-from: each section's versions from the destination's -dump-vmstate",
          "DUMP.json" },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- write a destination profile");
    g_autoptr(GError) error = NULL;
    g_autoptr(MpQmp) qmp = NULL;
    g_autoptr(MpFacts) facts = NULL;
    g_autofree char *json = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || !qmp_uri || argc > 1 ||
        timeout <= 0 || (dest_vmstate && !sections_from)) {
        fprintf(stderr, "migproxy probe: %s\n", error ? error->message
                : "usage: migproxy probe --qmp ADDR [--output FILE] "
                  "[--sections-from STREAM [--dest-vmstate DUMP.json]]");
        return 2;
    }
    qmp = mp_qmp_connect(qmp_uri, (guint)timeout, &error);
    if (qmp) {
        facts = mp_qmp_probe(qmp, MP_FACTS_FROM_QMP, &error);
    }
    if (!facts || (sections_from && !add_sections_from(facts, sections_from, dest_vmstate,
                                                         &error))) {
        fprintf(stderr, "migproxy probe: %s\n", error->message);
        return 2;
    }
    json = mp_facts_to_json(facts);
    if (output) {
        g_autofree char *text = g_strconcat(json, "\n", NULL);

        if (!g_file_set_contents(output, text, -1, &error)) {
            fprintf(stderr, "migproxy probe: %s\n", error->message);
            return 2;
        }
    } else {
        printf("%s\n", json);
    }
    return 0;
}

static bool parse_yes_no(const char *option, const char *value, bool *out)
{
    if (!value) {
        return true;
    }
    if (g_ascii_strcasecmp(value, "yes") == 0 || g_ascii_strcasecmp(value, "on") == 0) {
        *out = true;
    } else if (g_ascii_strcasecmp(value, "no") == 0 || g_ascii_strcasecmp(value, "off") == 0) {
        *out = false;
    } else {
        fprintf(stderr, "migproxy: %s takes yes or no, not '%s'\n", option, value);
        return false;
    }
    return true;
}

/* The TLS options, checked against each other and the routes. */
static bool parse_tls(const char *mode, const char *dir, const char *hostname,
                      const char *verify_src, const char *verify_dst, char **connect_to,
                      MpTlsConfig *cfg)
{
    if (!mode || strcmp(mode, "off") == 0) {
        cfg->mode = dir ? MP_TLS_TERMINATE : MP_TLS_OFF;
    } else if (strcmp(mode, "terminate") == 0) {
        cfg->mode = MP_TLS_TERMINATE;
    } else if (strcmp(mode, "passthrough") == 0) {
        cfg->mode = MP_TLS_PASSTHROUGH;
    } else {
        fprintf(stderr, "migproxy: --tls takes off, terminate or passthrough, not '%s'\n", mode);
        return false;
    }
    if (mode && strcmp(mode, "off") == 0 && dir) {
        fprintf(stderr, "migproxy: --tls off with --tls-creds-dir\n");
        return false;
    }
    if ((cfg->mode == MP_TLS_TERMINATE) != (dir != NULL)) {
        fprintf(stderr, "migproxy: %s\n", dir ? "--tls passthrough never uses --tls-creds-dir"
                                              : "--tls terminate needs --tls-creds-dir");
        return false;
    }
    if (!parse_yes_no("--tls-verify-source", verify_src, &cfg->verify_source) ||
        !parse_yes_no("--tls-verify-destination", verify_dst, &cfg->verify_destination)) {
        return false;
    }
    if (cfg->mode != MP_TLS_TERMINATE && (hostname || verify_src || verify_dst)) {
        fprintf(stderr, "migproxy: --tls-hostname and --tls-verify-* need --tls-creds-dir\n");
        return false;
    }
    for (guint i = 0; cfg->mode == MP_TLS_TERMINATE && !hostname && connect_to && connect_to[i];
         i++) {
        g_autofree char *host = mp_tls_uri_host(connect_to[i]);

        if (!host) {
            fprintf(stderr, "migproxy: --connect %s has no host name to verify: give "
                    "--tls-hostname\n", connect_to[i]);
            return false;
        }
    }
    cfg->creds_dir = (char *)dir;
    cfg->hostname = (char *)hostname;
    return true;
}

static void capture_tap(JsonObject *obj, void *opaque)
{
    mp_capture_proxy_event(opaque, obj);
}

static gboolean on_signal(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
    g_auto(GStrv) listen = NULL;
    g_auto(GStrv) connect_to = NULL;
    g_auto(GStrv) dest_qmp = NULL;
    g_auto(GStrv) dest_profile = NULL;
    g_autofree char *source_qmp = NULL;
    g_autofree char *policy_file = NULL;
    g_autofree char *events_file = NULL;
    g_autofree char *capture_file = NULL;
    g_autofree char *capture_pages = NULL;
    MpCapturePages pages = MP_CAPTURE_PAGES_FULL;
    MpCapture *capture = NULL;
    gint64 capture_max = 0;
    gboolean once = FALSE, dry_run = FALSE, checksum = FALSE, hold = FALSE;
    gint settle_ms = 50;
    gint prefix_timeout = 10;
    gint stall_timeout = 30, end_timeout = 60, tcp_timeout = 20, link_down_ms = 500;
    g_auto(GStrv) allow = NULL;
    g_autofree char *socket_mode = NULL;
    g_autofree char *socket_owner = NULL;
    g_autofree char *socket_group = NULL;
    g_autofree char *user = NULL;
    MpLimits limits;
    gint max_sessions, max_channels, max_pending, max_prefix, max_held;
    g_autofree char *tls_mode = NULL, *tls_dir = NULL, *tls_hostname = NULL;
    g_autofree char *tls_verify_src = NULL, *tls_verify_dst = NULL;
    GOptionEntry entries[] = {
        { "listen", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &listen,
          "where the source migrates to (tcp:HOST:PORT or unix:PATH); repeatable, "
          "paired in order with --connect", "ADDR" },
        { "connect", 'c', 0, G_OPTION_ARG_STRING_ARRAY, &connect_to,
          "where the destination waits with -incoming", "ADDR" },
        { "dest-qmp", 0, 0, G_OPTION_ARG_STRING_ARRAY, &dest_qmp,
          "QMP of the destination (facts and outcome); one per --connect", "ADDR" },
        { "dest-profile", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &dest_profile,
          "destination facts written by `migproxy probe`; one per --connect", "FILE" },
        { "source-qmp", 0, 0, G_OPTION_ARG_STRING, &source_qmp,
          "QMP of the source: its full capabilities and parameters", "ADDR" },
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &policy_file,
          "the operator's rules (key file, see policy/FINDINGS.md)", "FILE" },
        { "events", 0, 0, G_OPTION_ARG_FILENAME, &events_file,
          "JSON lines for programs ('-' for standard output)", "FILE" },
        { "once", 0, 0, G_OPTION_ARG_NONE, &once,
          "handle one migration, then exit 0 completed, 1 rejected, 2 error", NULL },
        { "dry-run", 0, 0, G_OPTION_ARG_NONE, &dry_run,
          "never contact the destination: judge, report, close the source", NULL },
        { "checksum", 0, 0, G_OPTION_ARG_NONE, &checksum,
          "sha256 of each direction of each connection in the end event", NULL },
        { "hold-device-state", 0, 0, G_OPTION_ARG_NONE, &hold,
          "hold the device state from the switchover to EOF until it is checked", NULL },
        { "capture", 0, 0, G_OPTION_ARG_FILENAME, &capture_file,
          "record every connection, chunk and event in FILE (see capture/CAPTURE.md)", "FILE" },
        { "capture-pages", 0, 0, G_OPTION_ARG_STRING, &capture_pages,
          "page payloads in the capture: full (default), hash or none", "MODE" },
        { "capture-max-size", 0, 0, G_OPTION_ARG_INT64, &capture_max,
          "start a new capture file past this many bytes, the last one kept as FILE.1", "BYTES" },
        { "prefix-timeout", 0, 0, G_OPTION_ARG_INT, &prefix_timeout,
          "seconds for a connection's first bytes and a migration's prefix (default 10, 0: none)",
          "S" },
        { "stall-timeout", 0, 0, G_OPTION_ARG_INT, &stall_timeout,
          "seconds the source may send nothing while its stream is forwarded (default 30, 0: none)",
          "S" },
        { "end-timeout", 0, 0, G_OPTION_ARG_INT, &end_timeout,
          "seconds the destination may stay silent after the source's last record (default 60, "
          "0: none)", "S" },
        { "tcp-timeout", 0, 0, G_OPTION_ARG_INT, &tcp_timeout,
          "seconds of unacknowledged data or unanswered keepalives before TCP gives a leg up "
          "(default 20, 0: the kernel's)", "S" },
        { "link-down-ms", 0, 0, G_OPTION_ARG_INT, &link_down_ms,
          "break off sessions whose leg's interface has had no carrier this long (default 500, "
          "0: do not watch links)", "MS" },
        { "allow", 0, 0, G_OPTION_ARG_STRING_ARRAY, &allow,
          "TCP peers allowed to connect (repeatable; default: any)", "CIDR" },
        { "socket-mode", 0, 0, G_OPTION_ARG_STRING, &socket_mode,
          "mode of unix listen sockets, in octal (e.g. 0660)", "MODE" },
        { "socket-owner", 0, 0, G_OPTION_ARG_STRING, &socket_owner,
          "owner of unix listen sockets", "USER" },
        { "socket-group", 0, 0, G_OPTION_ARG_STRING, &socket_group,
          "group of unix listen sockets", "GROUP" },
        { "user", 0, 0, G_OPTION_ARG_STRING, &user,
          "after binding, run as this user (and its groups)", "USER" },
        { "max-sessions", 0, 0, G_OPTION_ARG_INT, &max_sessions,
          "concurrent migrations in the daemon (default 64, 0: no limit)", "N" },
        { "max-channels", 0, 0, G_OPTION_ARG_INT, &max_channels,
          "connections per migration (default 257, 0: no limit)", "N" },
        { "max-pending", 0, 0, G_OPTION_ARG_INT, &max_pending,
          "accepted connections not yet classified, in the daemon (default 256, 0: no limit)", "N" },
        { "max-prefix-bytes", 0, 0, G_OPTION_ARG_INT, &max_prefix,
          "held bytes of a migration's prefix (default 16 MiB)", "BYTES" },
        { "max-held-bytes", 0, 0, G_OPTION_ARG_INT, &max_held,
          "held bytes of another connection before the verdict (default 8 MiB)", "BYTES" },
        { "settle-ms", 0, 0, G_OPTION_ARG_INT, &settle_ms,
          "wait this long after the prefix for the source's other channels (default 50)", "MS" },
        { "tls", 0, 0, G_OPTION_ARG_STRING, &tls_mode,
          "off (default), terminate (needs --tls-creds-dir) or passthrough (forward TLS "
          "unchecked)", "MODE" },
        { "tls-creds-dir", 0, 0, G_OPTION_ARG_FILENAME, &tls_dir,
          "end the source's TLS and open TLS to the destination with these credentials "
          "(QEMU's tls-creds-x509 layout)", "DIR" },
        { "tls-hostname", 0, 0, G_OPTION_ARG_STRING, &tls_hostname,
          "the destination's name in its certificate (default: --connect's host)", "NAME" },
        { "tls-verify-source", 0, 0, G_OPTION_ARG_STRING, &tls_verify_src,
          "require and check the source's client certificate (default yes)", "yes|no" },
        { "tls-verify-destination", 0, 0, G_OPTION_ARG_STRING, &tls_verify_dst,
          "check the destination's certificate (default yes)", "yes|no" },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(MpPolicy) policy = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    MpEvents *events;
    MpProxy *proxy;
    MpTls *tls = NULL;
    MpTlsConfig tls_cfg = { .verify_source = true, .verify_destination = true };
    MpProxyConfig config = { 0 };
    MpAccess *access;
    int unix_mode = -1;
    guint n_routes;
    int status;

    setlocale(LC_ALL, "");
    mp_limits_init(&limits);
    max_sessions = (gint)limits.max_sessions;
    max_channels = (gint)limits.max_channels;
    max_pending = (gint)limits.max_pending;
    max_prefix = (gint)limits.prefix_bytes;
    max_held = (gint)limits.held_bytes;
    if (argc > 1 && strcmp(argv[1], "probe") == 0) {
        return run_probe(argc - 1, argv + 1);
    }
    if (argc > 1 && strcmp(argv[1], "diff") == 0) {
        return mp_offline_diff(argc - 1, argv + 1);
    }
    if (argc > 1 && strcmp(argv[1], "check") == 0) {
        return mp_offline_check(argc - 1, argv + 1);
    }
    if (argc > 1 && strcmp(argv[1], "replay") == 0) {
        return mp_replay_main(argc - 1, argv + 1);
    }
    ctx = g_option_context_new("- gate QEMU live migrations between two VMMs");
    g_option_context_set_description(ctx,
        "Also: migproxy probe --qmp ADDR [--output FILE] [--sections-from STREAM\n"
        "      [--dest-vmstate DUMP.json]]   write a destination profile\n"
        "      migproxy diff [--json] A B   compare two streams or profiles\n"
        "      migproxy check FILE --dest-qmp ADDR|--dest-profile FILE   can FILE be restored there\n"
        "      migproxy replay CAPTURE --connect ADDR [--pace captured|fast]   send a "
        "captured migration again\n");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "migproxy: %s\n", error->message);
        return 2;
    }
    n_routes = listen ? g_strv_length(listen) : 0;
    if (argc > 1 || n_routes == 0 || !connect_to || g_strv_length(connect_to) != n_routes ||
        (dest_qmp && g_strv_length(dest_qmp) != n_routes) ||
        (dest_profile && g_strv_length(dest_profile) != n_routes) ||
        (dest_qmp && dest_profile) || settle_ms < 0 || prefix_timeout < 0 || stall_timeout < 0 ||
        end_timeout < 0 || tcp_timeout < 0 || link_down_ms < 0 || max_sessions < 0 ||
        max_channels < 0 || max_pending < 0 || max_prefix < 64 || max_held < 64 ||
        (capture_pages && (!capture_file || !mp_capture_pages_parse(capture_pages, &pages))) ||
        capture_max < 0 || (capture_max && (!capture_file || capture_max < 65536))) {
        fprintf(stderr, "usage: migproxy --listen ADDR --connect ADDR [--dest-qmp ADDR | "
                "--dest-profile FILE] [--source-qmp ADDR] [--policy FILE] [--events FILE|-] "
                "[--once] [--dry-run] [--capture FILE [--capture-pages full|hash|none]]\n(--listen, --connect and --dest-* pair up in order)\n");
        return 2;
    }
    if (!parse_tls(tls_mode, tls_dir, tls_hostname, tls_verify_src, tls_verify_dst,
                   connect_to, &tls_cfg)) {
        return 2;
    }
    if (tls_cfg.mode != MP_TLS_OFF) {
        tls = mp_tls_new(&tls_cfg, &error);
        if (!tls) {
            fprintf(stderr, "migproxy: %s\n", error->message);
            return 2;
        }
    }
    if (policy_file) {
        policy = mp_policy_load_file(policy_file, &error);
        if (!policy) {
            fprintf(stderr, "migproxy: --policy %s: %s\n", policy_file, error->message);
            return 2;
        }
    }
    access = mp_access_new();
    for (guint i = 0; allow && allow[i]; i++) {
        if (!mp_access_allow(access, allow[i], &error)) {
            fprintf(stderr, "migproxy: %s\n", error->message);
            return 2;
        }
    }
    if (socket_mode) {
        char *end;
        unsigned long m = strtoul(socket_mode, &end, 8);

        if (!*socket_mode || *end || m > 07777) {
            fprintf(stderr, "migproxy: --socket-mode %s: not an octal mode\n", socket_mode);
            return 2;
        }
        unix_mode = (int)m;
    }
    limits.max_sessions = (guint)max_sessions;
    limits.max_channels = (guint)max_channels;
    limits.max_pending = (guint)max_pending;
    limits.prefix_bytes = (guint)max_prefix;
    limits.held_bytes = (guint)max_held;
    events = mp_events_new(events_file, &error);
    if (!events) {
        fprintf(stderr, "migproxy: %s\n", error->message);
        return 2;
    }
    if (capture_file) {
        capture = mp_capture_open(capture_file, pages, (guint64)capture_max, &error);
        if (!capture) {
            fprintf(stderr, "migproxy: %s\n", error->message);
            return 2;
        }
        mp_events_set_tap(events, capture_tap, capture);
    }
    loop = g_main_loop_new(NULL, FALSE);
    config.capture = capture;
    config.events = events;
    config.policy = policy;
    config.once = once;
    config.dry_run = dry_run;
    config.checksum = checksum;
    config.hold_device_state = hold;
    config.settle_ms = (guint)settle_ms;
    config.prefix_timeout_s = (guint)prefix_timeout;
    config.stall_timeout_s = (guint)stall_timeout;
    config.end_timeout_s = (guint)end_timeout;
    config.tcp_timeout_s = (guint)tcp_timeout;
    config.link_down_ms = (guint)link_down_ms;
    config.access = access;
    config.limits = limits;
    config.tls = tls;
    proxy = mp_proxy_new(&config, loop);
    for (guint i = 0; i < n_routes; i++) {
        MpRouteConfig route = {
            .listen = listen[i],
            .connect = connect_to[i],
            .dest_qmp = dest_qmp ? dest_qmp[i] : NULL,
            .source_qmp = source_qmp,
        };

        if (dest_profile && !(route.dest_profile = mp_facts_load(dest_profile[i], &error))) {
            fprintf(stderr, "migproxy: --dest-profile: %s\n", error->message);
            return 2;
        }
        if (!mp_proxy_add_route(proxy, &route, &error)) {
            fprintf(stderr, "migproxy: %s\n", error->message);
            return 2;
        }
        if (g_str_has_prefix(mp_proxy_route_listen(proxy, i), "unix:") &&
            !mp_access_secure_unix(mp_proxy_route_listen(proxy, i) + 5, unix_mode, socket_owner,
                                   socket_group, &error)) {
            fprintf(stderr, "migproxy: --listen %s: %s\n", listen[i], error->message);
            return 2;
        }
        {
            JsonObject *o = mp_events_begin("listening", 0);
            const char *real = mp_proxy_route_listen(proxy, i);
            g_autofree char *human = g_strdup_printf("listening on %s, destination %s%s",
                                                     real, connect_to[i],
                                                     dry_run ? " (dry run: never contacted)" : "");

            json_object_set_string_member(o, "listen", real);
            json_object_set_string_member(o, "connect", connect_to[i]);
            json_object_set_string_member(o, "tls", tls_cfg.mode == MP_TLS_TERMINATE ? "terminate" :
                                          tls_cfg.mode == MP_TLS_PASSTHROUGH ? "passthrough" : "off");
            mp_events_emit(events, o, human);
            if (tls_cfg.mode == MP_TLS_PASSTHROUGH) {
                mp_events_emit(events, mp_events_begin("warning", 0),
                               "TLS pass-through: migrations are forwarded encrypted; NOTHING in "
                               "them can be checked (connections, bytes and timings are logged)");
            }
        }
    }
    /* every socket is bound: root is no longer needed */
    if (user && !mp_access_drop_to(user, &error)) {
        fprintf(stderr, "migproxy: %s\n", error->message);
        return 2;
    }
    g_unix_signal_add(SIGINT, on_signal, loop);
    g_unix_signal_add(SIGTERM, on_signal, loop);
    g_main_loop_run(loop);
    status = mp_proxy_exit_status(proxy);
    mp_proxy_free(proxy);
    mp_tls_free(tls);
    mp_events_free(events);
    mp_access_free(access);
    mp_capture_close(capture);
    return status < 0 ? 0 : status;
}
