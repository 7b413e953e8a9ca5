/*
 * fuzz-session.c - libFuzzer harness for the daemon's session logic
 * (proxy/proxy.c and the files beside it), run in-process on the default
 * GIO main context: a real MpProxy listens on a unix socket, a fake
 * destination listens on another, and each input is a small program of
 * connection events and bytes on both legs in random order and sizes (see
 * the op codes below).  Source bytes come from the input or from real QEMU
 * stream prefixes (files of the seed corpora), so that inputs get past the
 * gate.
 *
 * Beyond "no crash, no leak, no hang": every input ends with the proxy
 * freed while its sessions may still be live (mp_proxy_free must tear them
 * down), every socket closed and the main context drained; the process
 * must then hold no more descriptors than before the input.  And the
 * proxy forwards byte for byte: what each destination connection received
 * is the beginning of what one source connection sent, and what each
 * source connection received is the beginning of what one destination
 * connection sent.
 *
 * Input: byte 0 and 1 choose the configuration, then ops, each an op byte
 * (low 4 bits: code, bits 4-5: connection k, bits 6-7: an argument) and,
 * for most codes, a length byte.  Nothing sleeps: a "wait" op runs the main
 * context for at most WAIT_MS (the gate polls every 10 ms), at most
 * MAX_WAITS times per input.  FUZZ_SESSION_VERBOSE=1 keeps the proxy's
 * lines on standard error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proxy.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/common_interface_defs.h>
#endif
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FUZZ_DATA_DIR
#error "FUZZ_DATA_DIR: the corpus directory with the real streams and profiles"
#endif

#define SLOTS           4           /* source connections (and destination ends) at once */
#define MAX_OPS         96
#define MAX_WRITE       (64 * 1024) /* bytes per write op */
#define MAX_STREAMS     16          /* connections per input, each side */
#define MAX_ITER        64          /* main-context iterations per run op */
#define MAX_WAITS       6
#define WAIT_MS         12
#define RECORD_LIMIT    (4u * 1024 * 1024)

enum {
    OP_CONNECT,         /* source k connects; argument: which prefix it sends */
    OP_SEND_PREFIX,     /* source k: the next bytes of its prefix (then input bytes) */
    OP_SEND,            /* source k: input bytes */
    OP_ACCEPT,          /* the destination accepts into end k */
    OP_REFUSE,          /* the destination accepts and closes at once */
    OP_SEND_BACK,       /* destination end k: input bytes (the return path) */
    OP_SHUT_SOURCE,     /* source k: shutdown(SHUT_WR) */
    OP_SHUT_DEST,
    OP_CLOSE_SOURCE,
    OP_CLOSE_DEST,
    OP_RUN,             /* the main context, non-blocking, a bounded number of turns */
    OP_WAIT,            /* the main context for at most WAIT_MS */
    OP_TOGGLE_DEST,     /* the destination stops listening (connects refused) or listens again */
    OP_CONNECT_WHOLE,   /* source k connects and sends its whole prefix */
    OP_RUN2,
    OP_RUN3,
};

/* What one connection sent and received, kept to check forwarding. */
typedef struct {
    int fd;                         /* -1 when closed */
    GByteArray *sent, *got;
    bool got_eof;
    int prefix;                     /* source: index into prefixes[], 0: none */
    gsize prefix_pos;
} Conn;

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} Input;

static char *dir;
static char *src_path, *dst_path;
static struct { const char *file; char *data; gsize len; } prefixes[] = {
    { NULL, NULL, 0 },
    { "main/qemu72-pc-head.bin", NULL, 0 },         /* QEMU 7.2 pc: prefix, then pages */
    { "main/qemu72-none.bin", NULL, 0 },            /* a whole small QEMU 7.2 stream */
    { "multifd/qemu102-multifd-head.bin", NULL, 0 }, /* a multifd channel's first bytes */
};
static struct { const char *file; char *data; gsize len; } profiles[] = {
    { "profile/qemu72-pc.json", NULL, 0 },
    { "profile/qemu72-q35-multifd.json", NULL, 0 },
};
static char *policy_text;
static gsize policy_len;
static bool verbose;

static void load(const char *name, char **data, gsize *len)
{
    g_autofree char *path = g_build_filename(FUZZ_DATA_DIR, name, NULL);
    g_autoptr(GError) error = NULL;

    if (!g_file_get_contents(path, data, len, &error)) {
        fprintf(stderr, "fuzz-session: %s\n", error->message);
        abort();
    }
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (!d) {
        abort();
    }
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n - 1;   /* the directory's own */
}

static guint8 take(Input *in)
{
    return in->pos < in->size ? in->data[in->pos++] : 0;
}

static int unix_socket(void)
{
    return socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static struct sockaddr_un unix_addr(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };

    g_assert(strlen(path) < sizeof(a.sun_path));
    strcpy(a.sun_path, path);
    return a;
}

static int dest_listen(void)
{
    struct sockaddr_un a = unix_addr(dst_path);
    int fd = unix_socket();

    unlink(dst_path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0) {
        abort();
    }
    return fd;
}

static void conn_close(Conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

/* Read what the proxy wrote to the harness's sockets, so that it never blocks on us. */
static void drain(Conn *conns, guint n)
{
    guint8 buf[16384];

    for (guint i = 0; i < n; i++) {
        Conn *c = &conns[i];

        for (int turn = 0; c->fd >= 0 && !c->got_eof && turn < 64; turn++) {
            ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

            if (r > 0) {
                if (c->got->len + (gsize)r <= RECORD_LIMIT) {
                    g_byte_array_append(c->got, buf, (guint)r);
                }
                continue;
            }
            if (r == 0) {
                c->got_eof = true;
            }
            break;      /* EAGAIN, or a reset: nothing more now */
        }
    }
}

static void send_bytes(Conn *c, const guint8 *data, gsize n)
{
    ssize_t w;

    if (c->fd < 0 || n == 0) {
        return;
    }
    w = send(c->fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0 && c->sent->len + (gsize)w <= RECORD_LIMIT) {
        g_byte_array_append(c->sent, data, (guint)w);
    }
}

static gboolean set_flag(gpointer data)
{
    *(bool *)data = true;
    return G_SOURCE_REMOVE;
}

/* Is @part the beginning of what one of @conns sent? */
static bool is_forwarded(const GByteArray *part, const Conn *conns, guint n)
{
    if (part->len == 0) {
        return true;
    }
    for (guint i = 0; i < n; i++) {
        const GByteArray *whole = conns[i].sent;

        if (whole->len >= part->len && memcmp(whole->data, part->data, part->len) == 0) {
            return true;
        }
    }
    return false;
}

typedef struct {
    Conn src[MAX_STREAMS], dst[MAX_STREAMS];
    guint n_src, n_dst;
    int slot_src[SLOTS], slot_dst[SLOTS];   /* index into src[] / dst[], -1: none */
} Conns;

static Conn *conn_new(Conn *all, guint *n, int fd)
{
    Conn *c;

    if (*n >= MAX_STREAMS) {
        close(fd);
        return NULL;
    }
    c = &all[(*n)++];
    c->fd = fd;
    c->sent = g_byte_array_new();
    c->got = g_byte_array_new();
    return c;
}

static void run_context(Conns *cs, guint turns)
{
    for (guint i = 0; i < turns; i++) {
        bool more = g_main_context_iteration(NULL, FALSE);

        drain(cs->src, cs->n_src);
        drain(cs->dst, cs->n_dst);
        if (!more) {
            break;
        }
    }
}

static void capture_tap(JsonObject *obj, void *opaque)
{
    mp_capture_proxy_event(opaque, obj);
}

static void run_input(const uint8_t *data, size_t size)
{
    Input in = { data, size, 0 };
    guint8 flags = take(&in), choice = take(&in);
    g_autoptr(GError) error = NULL;
    g_autoptr(MpPolicy) policy = NULL;
    MpCapture *capture = NULL;
    MpEvents *events;
    MpProxyConfig cfg = { 0 };
    MpRouteConfig route = { 0 };
    GMainLoop *loop;
    MpProxy *proxy;
    Conns *cs = g_new0(Conns, 1);
    int dest_fd = dest_listen();
    g_autofree char *listen_uri = g_strconcat("unix:", src_path, NULL);
    g_autofree char *connect_uri = g_strconcat("unix:", dst_path, NULL);
    guint waits = 0;
    guint profile = (choice >> 2) & 3;

    for (guint i = 0; i < SLOTS; i++) {
        cs->slot_src[i] = cs->slot_dst[i] = -1;
    }
    events = mp_events_new(flags & 0x10 ? "/dev/null" : NULL, &error);
    g_assert(events);
    if (flags & 0x08) {
        MpCapturePages pages = ((choice >> 4) & 3) % 3;

        capture = mp_capture_open("/dev/null", pages, 0, &error);
        g_assert(capture);
        mp_events_set_tap(events, capture_tap, capture);
    }
    if (choice & 0x40) {
        policy = mp_policy_load_data(policy_text, policy_len, &error);
        g_assert(policy);
    }
    mp_limits_init(&cfg.limits);
    if (flags & 0x20) {
        /* small limits, so that inputs reach them */
        cfg.limits.max_sessions = 1;
        cfg.limits.max_channels = 2;
        cfg.limits.max_pending = 2;
        cfg.limits.prefix_bytes = 128;
        cfg.limits.held_bytes = 256;
    }
    cfg.events = events;
    cfg.policy = policy;
    cfg.dry_run = flags & 0x01;
    cfg.hold_device_state = flags & 0x02;
    cfg.checksum = flags & 0x04;
    cfg.once = flags & 0x40;
    cfg.capture = capture;
    cfg.settle_ms = choice & 0x80 ? 5 : 0;
    /* no timeouts: nothing here waits seconds */
    loop = g_main_loop_new(NULL, FALSE);
    proxy = mp_proxy_new(&cfg, loop);
    route.listen = listen_uri;
    route.connect = connect_uri;
    if (profile < G_N_ELEMENTS(profiles)) {
        route.dest_profile = mp_facts_from_json(profiles[profile].data,
                                                (gssize)profiles[profile].len, &error);
        g_assert(route.dest_profile);
    }
    if (!mp_proxy_add_route(proxy, &route, &error)) {
        fprintf(stderr, "fuzz-session: %s\n", error->message);
        abort();
    }

    for (guint n_ops = 0; n_ops < MAX_OPS && in.pos < in.size; n_ops++) {
        guint8 op = take(&in);
        guint k = (op >> 4) & 3, arg = op >> 6;
        Conn *src = cs->slot_src[k] >= 0 ? &cs->src[cs->slot_src[k]] : NULL;
        Conn *dst = cs->slot_dst[k] >= 0 ? &cs->dst[cs->slot_dst[k]] : NULL;
        gsize len;

        switch (op & 0x0f) {
        case OP_CONNECT:
        case OP_CONNECT_WHOLE: {
            struct sockaddr_un a = unix_addr(src_path);
            int fd;
            Conn *c;

            if (src) {
                break;
            }
            fd = unix_socket();
            if (fd < 0) {
                abort();
            }
            if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                close(fd);      /* the backlog is full: as a refused connection */
                break;
            }
            c = conn_new(cs->src, &cs->n_src, fd);
            if (!c) {
                break;
            }
            cs->slot_src[k] = (int)(c - cs->src);
            c->prefix = (int)arg;
            if ((op & 0x0f) == OP_CONNECT_WHOLE) {
                send_bytes(c, (const guint8 *)prefixes[arg].data, prefixes[arg].len);
                c->prefix_pos = prefixes[arg].len;
            }
            break;
        }
        case OP_SEND_PREFIX:
        case OP_SEND:
        case OP_SEND_BACK: {
            guint8 l = take(&in);
            Conn *c = (op & 0x0f) == OP_SEND_BACK ? dst : src;

            /* bits 6-7: a size scale, so that a few ops move a whole prefix */
            len = (gsize)(l + 1) << (arg * 4);
            len = MIN(len, MAX_WRITE);
            if (!c) {
                break;
            }
            if ((op & 0x0f) == OP_SEND_PREFIX && c->prefix &&
                c->prefix_pos < prefixes[c->prefix].len) {
                gsize before = c->sent->len;

                len = MIN(len, prefixes[c->prefix].len - c->prefix_pos);
                send_bytes(c, (const guint8 *)prefixes[c->prefix].data + c->prefix_pos, len);
                c->prefix_pos += c->sent->len - before;
            } else {
                len = MIN(len, in.size - in.pos);
                send_bytes(c, in.data + in.pos, len);
                in.pos += len;
            }
            break;
        }
        case OP_ACCEPT:
        case OP_REFUSE: {
            int fd;
            Conn *c;

            if (dest_fd < 0 || ((op & 0x0f) == OP_ACCEPT && dst)) {
                break;
            }
            fd = accept4(dest_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                break;
            }
            if ((op & 0x0f) == OP_REFUSE) {
                close(fd);
                break;
            }
            c = conn_new(cs->dst, &cs->n_dst, fd);
            if (c) {
                cs->slot_dst[k] = (int)(c - cs->dst);
            }
            break;
        }
        case OP_SHUT_SOURCE:
        case OP_SHUT_DEST: {
            Conn *c = (op & 0x0f) == OP_SHUT_SOURCE ? src : dst;

            if (c && c->fd >= 0) {
                shutdown(c->fd, SHUT_WR);
            }
            break;
        }
        case OP_CLOSE_SOURCE:
            if (src) {
                drain(src, 1);
                conn_close(src);
                cs->slot_src[k] = -1;
            }
            break;
        case OP_CLOSE_DEST:
            if (dst) {
                drain(dst, 1);
                conn_close(dst);
                cs->slot_dst[k] = -1;
            }
            break;
        case OP_RUN:
        case OP_RUN2:
        case OP_RUN3:
            run_context(cs, 1 + take(&in) % MAX_ITER);
            break;
        case OP_WAIT: {
            bool fired = false;
            guint timer;

            if (waits++ >= MAX_WAITS) {
                break;
            }
            timer = g_timeout_add(WAIT_MS, set_flag, &fired);
            for (guint i = 0; i < MAX_ITER && !fired; i++) {
                g_main_context_iteration(NULL, TRUE);
                drain(cs->src, cs->n_src);
                drain(cs->dst, cs->n_dst);
            }
            if (!fired) {
                g_source_remove(timer);
            }
            break;
        }
        case OP_TOGGLE_DEST:
            if (dest_fd >= 0) {
                close(dest_fd);
                unlink(dst_path);
                dest_fd = -1;
            } else {
                dest_fd = dest_listen();
            }
            break;
        }
    }
    run_context(cs, MAX_ITER);

    /* byte for byte, in both directions */
    for (guint i = 0; i < cs->n_dst; i++) {
        if (!is_forwarded(cs->dst[i].got, cs->src, cs->n_src)) {
            dprintf(2, "fuzz-session: destination connection %u got bytes no source sent\n", i);
            abort();
        }
    }
    for (guint i = 0; i < cs->n_src; i++) {
        if (!is_forwarded(cs->src[i].got, cs->dst, cs->n_dst)) {
            dprintf(2, "fuzz-session: source connection %u got bytes no destination sent\n", i);
            abort();
        }
    }

    /* the sessions may be live: mp_proxy_free must end them */
    mp_proxy_free(proxy);
    for (guint i = 0; i < cs->n_src; i++) {
        conn_close(&cs->src[i]);
        g_byte_array_unref(cs->src[i].sent);
        g_byte_array_unref(cs->src[i].got);
    }
    for (guint i = 0; i < cs->n_dst; i++) {
        conn_close(&cs->dst[i]);
        g_byte_array_unref(cs->dst[i].sent);
        g_byte_array_unref(cs->dst[i].got);
    }
    g_free(cs);
    if (dest_fd >= 0) {
        close(dest_fd);
    }
    unlink(dst_path);
    mp_capture_close(capture);
    mp_events_free(events);
    g_main_loop_unref(loop);
    for (guint i = 0; i < MAX_ITER && g_main_context_iteration(NULL, FALSE); i++) {
    }
}

/*
 * Warnings and worse go to descriptor 2, the proxy's messages nowhere
 * unless FUZZ_SESSION_VERBOSE.  Every message comes here: GLib's default
 * handler passes unstructured ones on to the writer.
 */
static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields,
                                   gsize n_fields, gpointer data)
{
    if (verbose || (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))) {
        g_autofree char *line = g_log_writer_format_fields(level, fields, n_fields, FALSE);

        if (write(2, line, strlen(line)) < 0 || write(2, "\n", 1) < 0) {
            return G_LOG_WRITER_UNHANDLED;
        }
    }
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
        /* a broken promise inside the proxy or GLib; abort() is what libFuzzer catches */
        abort();
    }
    return G_LOG_WRITER_HANDLED;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_autoptr(GError) error = NULL;
    static const uint8_t warm_up[] = {
        0x0c, 0x00,                 /* capture, pc profile */
        0x4d,                       /* source 0: the whole pc prefix */
        OP_WAIT, OP_WAIT, OP_ACCEPT, OP_WAIT,
    };

    for (guint i = 1; i < G_N_ELEMENTS(prefixes); i++) {
        load(prefixes[i].file, &prefixes[i].data, &prefixes[i].len);
    }
    for (guint i = 0; i < G_N_ELEMENTS(profiles); i++) {
        load(profiles[i].file, &profiles[i].data, &profiles[i].len);
    }
    load("policy/findings-example.ini", &policy_text, &policy_len);
    dir = g_dir_make_tmp("fuzz-session-XXXXXX", &error);
    if (!dir) {
        fprintf(stderr, "fuzz-session: %s\n", error->message);
        abort();
    }
    src_path = g_build_filename(dir, "src", NULL);
    dst_path = g_build_filename(dir, "dst", NULL);
    verbose = g_getenv("FUZZ_SESSION_VERBOSE") != NULL;
    g_log_set_writer_func(log_writer, NULL, NULL);
    if (!verbose) {
        /*
         * The proxy writes a line per event to stderr; libFuzzer kept its
         * own copy of the stream at start-up and sanitizers write to
         * descriptor 2, so both still report.
         */
        FILE *null = fopen("/dev/null", "w");

        if (null) {
            stderr = null;
        }
    }
    /*
     * Descriptors opened once for the process are not an input's: GLib's
     * (wake-up eventfds, the thread pool) and the sanitizers' symbolizer,
     * which libFuzzer starts when it first names a new function.
     */
    run_input(warm_up, sizeof(warm_up));
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
    {
        char where[256];

        __sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", where, sizeof(where));
    }
#endif
#endif
    return 0;
}

/* Name every open descriptor on descriptor 2 (stderr may be /dev/null). */
static void list_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    while (d && (e = readdir(d))) {
        g_autofree char *path = g_strdup_printf("/proc/self/fd/%s", e->d_name);
        g_autofree char *target = g_file_read_link(path, NULL);

        dprintf(2, "  fd %s -> %s\n", e->d_name, target ? target : "?");
    }
    if (d) {
        closedir(d);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* counted per input: a replay driver keeps its own directory open */
    int fd_baseline = count_fds(), fds;

    run_input(data, size);
    fds = count_fds();
    if (fds > fd_baseline) {
        /*
         * GIO may let go of a socket a few main-context turns after the
         * callbacks that dropped the proxy's references: give it a moment
         * (bounded) before calling it a leak.
         */
        bool fired = false;
        guint timer = g_timeout_add(100, set_flag, &fired);

        while (!fired && count_fds() > fd_baseline) {
            g_main_context_iteration(NULL, TRUE);
        }
        if (!fired) {
            g_source_remove(timer);
        }
        fds = count_fds();
    }
    if (fds > fd_baseline) {
        dprintf(2, "fuzz-session: %d descriptors after the input, %d before\n", fds,
                fd_baseline);
        list_fds();
        abort();
    }
    return 0;
}
