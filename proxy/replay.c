/*
 * replay.c - migproxy replay (replay.h).  The capture (full pages, no
 * gaps) is read whole; each source connection of the chosen session is
 * opened to the destination in the order the proxy opened them (main
 * first, then the others by channel index, which is the order QEMU 7.2
 * tells them apart by), and each gets a thread that writes its chunks -
 * at the captured pace or as fast as possible - while another drains what
 * the destination sends back.  One thread per connection because the
 * destination reads its channels in parallel: a single writer could block
 * on one channel while the destination waits for another.
 */
#include "replay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <gio/gio.h>

#include "capture-format.h"
#include "uri.h"

/* the destination may keep a connection open this long after our last byte */
#define REPLAY_DRAIN_TIMEOUT_MS 30000

typedef struct {
    guint64 t_ns;
    const guint8 *data;
    gsize len;
} Piece;

typedef struct {
    guint index;
    char *kind;
    GArray *pieces;             /* Piece, stream order */
    guint64 next_offset;
    bool broken;                /* holes or a gap: cannot be sent */
    GSocketConnection *conn;
    int fd;
    guint64 sent, received;
    char *error;
    GThread *writer, *reader;
} Conn;

typedef struct {
    GPtrArray *conns;           /* Conn *, by channel index */
    GPtrArray *records;         /* kept: pieces point into them */
    guint64 first_ns, start_mono_ns;
    bool paced;
} Replay;

static guint64 mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (guint64)ts.tv_sec * 1000000000u + (guint64)ts.tv_nsec;
}

static Conn *conn_for(Replay *r, guint index)
{
    while (r->conns->len <= index) {
        Conn *c = g_new0(Conn, 1);

        c->index = r->conns->len;
        c->pieces = g_array_new(FALSE, FALSE, sizeof(Piece));
        c->fd = -1;
        g_ptr_array_add(r->conns, c);
    }
    return g_ptr_array_index(r->conns, index);
}

static void conn_free(gpointer p)
{
    Conn *c = p;

    g_free(c->kind);
    g_free(c->error);
    g_array_unref(c->pieces);
    g_clear_object(&c->conn);
    g_free(c);
}

static gpointer writer_thread(gpointer data)
{
    void **args = data;
    Replay *r = args[0];
    Conn *c = args[1];

    g_free(args);
    for (guint i = 0; i < c->pieces->len && !c->error; i++) {
        Piece *p = &g_array_index(c->pieces, Piece, i);
        gsize at = 0;

        if (r->paced && p->t_ns > r->first_ns) {
            guint64 due = r->start_mono_ns + (p->t_ns - r->first_ns), now = mono_ns();

            if (due > now) {
                g_usleep((gulong)((due - now) / 1000));
            }
        }
        while (at < p->len) {
            ssize_t w = send(c->fd, p->data + at, p->len - at, MSG_NOSIGNAL);

            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                c->error = g_strdup_printf("after %" G_GUINT64_FORMAT " bytes: %s", c->sent,
                                           g_strerror(errno));
                break;
            }
            at += (gsize)w;
            c->sent += (guint64)w;
        }
    }
    shutdown(c->fd, SHUT_WR);
    return NULL;
}

static gpointer reader_thread(gpointer data)
{
    Conn *c = data;
    guint8 buf[65536];

    for (;;) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int n = poll(&pfd, 1, REPLAY_DRAIN_TIMEOUT_MS);
        ssize_t got;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;                      /* silent for the whole timeout */
        }
        got = recv(c->fd, buf, sizeof(buf), 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        c->received += (guint64)got;
    }
    return NULL;
}

static bool load(Replay *r, const guint8 *buf, gsize len, guint *session, GError **error)
{
    MpCaptureReader rd;
    Migcap__Record *rec;
    int rc;

    if (!mp_capture_reader_init(&rd, buf, len, error)) {
        return false;
    }
    while ((rc = mp_capture_reader_next(&rd, &rec, error)) == 1) {
        g_ptr_array_add(r->records, rec);
        if (rec->body_case == MIGCAP__RECORD__BODY_CONNECTION && !*session &&
            g_strcmp0(rec->connection->kind, "main") == 0) {
            *session = rec->session;
        }
        if (!*session || rec->session != *session) {
            continue;
        }
        if (rec->body_case == MIGCAP__RECORD__BODY_CONNECTION) {
            Conn *c = conn_for(r, rec->connection->channel);

            g_free(c->kind);
            c->kind = g_strdup(rec->connection->kind);
        } else if (rec->body_case == MIGCAP__RECORD__BODY_CHUNK &&
                   rec->chunk->direction == MIGCAP__DIRECTION__UP) {
            Conn *c = conn_for(r, rec->chunk->channel);
            Piece p = { rec->t_ns, rec->chunk->data.data, rec->chunk->data.len };

            if (rec->chunk->n_holes || rec->chunk->offset != c->next_offset ||
                rec->chunk->data.len != rec->chunk->length) {
                c->broken = true;
            }
            c->next_offset = rec->chunk->offset + rec->chunk->length;
            if (!r->first_ns || rec->t_ns < r->first_ns) {
                r->first_ns = rec->t_ns;
            }
            g_array_append_val(c->pieces, p);
        }
    }
    if (rc < 0) {
        /* a capture cut short replays up to the cut: say so, go on */
        fprintf(stderr, "migproxy replay: %s; replaying what comes before\n", (*error)->message);
        g_clear_error(error);
    }
    if (!*session) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no migration in the capture");
        return false;
    }
    for (guint i = 0; i < r->conns->len; i++) {
        Conn *c = g_ptr_array_index(r->conns, i);

        if (c->broken) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        "connection %u: page payloads were left out or records dropped; "
                        "only a full capture without gaps can be replayed", i);
            return false;
        }
        if (!c->kind) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                        "connection %u of session %u has chunks but no Connection record", i,
                        *session);
            return false;
        }
    }
    return true;
}

int mp_replay_main(int argc, char **argv)
{
    g_autofree char *connect_uri = NULL;
    g_autofree char *pace = NULL;
    gint session_opt = 0;
    GOptionEntry entries[] = {
        { "connect", 'c', 0, G_OPTION_ARG_STRING, &connect_uri,
          "where the destination waits with -incoming", "ADDR" },
        { "pace", 0, 0, G_OPTION_ARG_STRING, &pace,
          "captured (default: each chunk at its captured time) or fast", "PACE" },
        { "session", 0, 0, G_OPTION_ARG_INT, &session_opt,
          "the session to replay (default: the first migration in the capture)", "N" },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("CAPTURE - send a captured migration again");
    g_autoptr(GError) error = NULL;
    g_autoptr(GMappedFile) map = NULL;
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GSocketClient) client = NULL;
    Replay r = { 0 };
    guint session;
    int status = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 2 || !connect_uri ||
        session_opt < 0 || (pace && strcmp(pace, "captured") && strcmp(pace, "fast"))) {
        fprintf(stderr, "migproxy replay: %s\n", error ? error->message
                : "usage: migproxy replay CAPTURE --connect ADDR [--pace captured|fast] "
                  "[--session N]");
        return 2;
    }
    r.paced = !pace || strcmp(pace, "captured") == 0;
    addr = mp_uri_parse(connect_uri, &error);
    map = addr ? g_mapped_file_new(argv[1], FALSE, &error) : NULL;
    if (!map) {
        fprintf(stderr, "migproxy replay: %s\n", error->message);
        return 2;
    }
    r.conns = g_ptr_array_new_with_free_func(conn_free);
    r.records = g_ptr_array_new();
    session = (guint)session_opt;
    if (!load(&r, (const guint8 *)g_mapped_file_get_contents(map),
              g_mapped_file_get_length(map), &session, &error)) {
        fprintf(stderr, "migproxy replay: %s: %s\n", argv[1], error->message);
        status = 2;
        goto out;
    }
    client = g_socket_client_new();
    g_socket_client_set_timeout(client, 10);
    /* one at a time, in the proxy's order: QEMU 7.2 classifies by arrival */
    for (guint i = 0; i < r.conns->len; i++) {
        Conn *c = g_ptr_array_index(r.conns, i);

        c->conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, &error);
        if (!c->conn) {
            fprintf(stderr, "migproxy replay: connection %u (%s): %s\n", i, c->kind,
                    error->message);
            status = 2;
            goto out;
        }
        g_socket_set_timeout(g_socket_connection_get_socket(c->conn), 0);
        c->fd = g_socket_get_fd(g_socket_connection_get_socket(c->conn));
        /* GSocket keeps its fds non-blocking; the threads want plain blocking I/O */
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
    }
    r.start_mono_ns = mono_ns();
    for (guint i = 0; i < r.conns->len; i++) {
        Conn *c = g_ptr_array_index(r.conns, i);
        void **args = g_new(void *, 2);

        args[0] = &r;
        args[1] = c;
        c->reader = g_thread_new("replay-read", reader_thread, c);
        c->writer = g_thread_new("replay-write", writer_thread, args);
    }
    for (guint i = 0; i < r.conns->len; i++) {
        Conn *c = g_ptr_array_index(r.conns, i);
        guint64 total = 0;

        g_thread_join(c->writer);
        g_thread_join(c->reader);
        for (guint j = 0; j < c->pieces->len; j++) {
            total += g_array_index(c->pieces, Piece, j).len;
        }
        printf("session %u connection %u (%s): sent %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
               " bytes, received %" G_GUINT64_FORMAT "%s%s\n", session, i, c->kind, c->sent,
               total, c->received, c->error ? "; error " : "", c->error ? c->error : "");
        if (c->error || c->sent != total) {
            status = 2;
        }
    }
out:
    g_ptr_array_unref(r.conns);
    for (guint i = 0; i < r.records->len; i++) {
        migcap__record__free_unpacked(r.records->pdata[i], NULL);
    }
    g_ptr_array_unref(r.records);
    return status;
}
