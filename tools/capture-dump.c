/*
 * capture-dump.c - migdump CAPTURE and migdump --extract DIR CAPTURE
 * (capture-dump.h).  The summary is built from the capture's records
 * alone: connections, chunks (bytes and times per direction), decoder
 * events (when each phase started) and the daemon's events (findings,
 * verdict, outcome).  A capture cut short is summarised up to the cut.
 */
#include "capture-dump.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include "capture-format.h"
#include "protocol.h"

/* phases of a main channel, in the order a precopy migration passes them */
enum { PH_HEADER, PH_SETUP, PH_ITERATE, PH_SWITCHOVER, PH_EOF, PH_COUNT };
static const char *const phase_names[PH_COUNT] = {
    "header", "setup", "iterate", "switchover", "eof",
};

typedef struct {
    guint64 t_ns, bytes;
} Sample;

typedef struct {
    char *name;
    guint64 length;
} Block;

typedef struct {
    guint64 t_ns;
    char *text;
    gint64 round, bytes, pages, pages_again;    /* round events */
} Timed;

static void block_free(gpointer p)
{
    g_free(((Block *)p)->name);
    g_free(p);
}

static void timed_free(gpointer p)
{
    g_free(((Timed *)p)->text);
    g_free(p);
}

/* the last TCP_INFO sample of one socket, and the largest RTT seen */
typedef struct {
    guint samples;
    guint32 rtt_us, rtt_max_us, retrans;
    bool has_limits;
    guint64 busy_us, rwnd_limited_us, sndbuf_limited_us;
} TcpSum;

typedef struct {
    guint64 bytes, chunks, holes, hole_bytes;
    guint64 first_ns, last_ns;
    bool ended;
    GArray *samples;            /* Sample: every chunk, for --timeline */
    /* --extract */
    int fd;
    char *path;
    guint64 written;
    bool gap, has_holes;
} Dir;

typedef struct {
    guint session, channel;
    char *kind, *source_peer, *listen, *dest_local, *dest_peer;
    guint64 joined_ns;
    Dir dir[2];
    guint64 phase_ns[PH_COUNT];
    bool has_phase[PH_COUNT];
    guint sections, commands, rp_messages, multifd_packets;
    guint64 ram_total;
    char *configuration;        /* the decoder's line for it */
    GPtrArray *ramblocks;       /* Block * */
    GPtrArray *rp;              /* Timed *: return-path messages */
    TcpSum tcp[2];              /* the proxy's socket to the source, to the destination */
} Conn;

typedef struct {
    guint id;
    guint64 start_ns;
    char *verdict, *outcome, *error;
    GPtrArray *findings;        /* char *: "severity code: message" */
    GPtrArray *rounds;          /* Timed *: the daemon's round events */
    gint64 dropped;
    guint64 verdict_ns, end_ns, last_ns;
} Sess;

typedef struct {
    GPtrArray *conns;           /* Conn * in order of appearance */
    GPtrArray *sessions;        /* Sess * */
    guint64 records, dropped_records, dropped_bytes;
    guint pages_mode;
    char *tool;
    char *page_hash;            /* FileStart.page_hash, or NULL */
    guint32 part;               /* FileStart.part: files rotated out before */
    const char *extract_dir;
    bool extract_failed;
    bool timeline;
} Dump;

static void conn_free(gpointer p)
{
    Conn *c = p;

    for (int d = 0; d < 2; d++) {
        if (c->dir[d].fd > 0) {
            close(c->dir[d].fd);
        }
        if (c->dir[d].samples) {
            g_array_unref(c->dir[d].samples);
        }
        g_free(c->dir[d].path);
    }
    g_free(c->configuration);
    g_ptr_array_unref(c->ramblocks);
    g_ptr_array_unref(c->rp);
    g_free(c->kind);
    g_free(c->source_peer);
    g_free(c->listen);
    g_free(c->dest_local);
    g_free(c->dest_peer);
    g_free(c);
}

static void sess_free(gpointer p)
{
    Sess *s = p;

    g_free(s->verdict);
    g_free(s->outcome);
    g_free(s->error);
    g_ptr_array_unref(s->findings);
    g_ptr_array_unref(s->rounds);
    g_free(s);
}

static Sess *find_session(Dump *d, guint id, guint64 t_ns)
{
    Sess *s;

    for (guint i = 0; i < d->sessions->len; i++) {
        s = g_ptr_array_index(d->sessions, i);
        if (s->id == id) {
            return s;
        }
    }
    s = g_new0(Sess, 1);
    s->id = id;
    s->start_ns = t_ns;
    s->dropped = -1;
    s->findings = g_ptr_array_new_with_free_func(g_free);
    s->rounds = g_ptr_array_new_with_free_func(timed_free);
    g_ptr_array_add(d->sessions, s);
    return s;
}

static Conn *find_conn(Dump *d, guint session, guint channel, bool create)
{
    Conn *c;

    for (guint i = 0; i < d->conns->len; i++) {
        c = g_ptr_array_index(d->conns, i);
        if (c->session == session && c->channel == channel) {
            return c;
        }
    }
    if (!create) {
        return NULL;
    }
    c = g_new0(Conn, 1);
    c->session = session;
    c->channel = channel;
    c->dir[0].fd = c->dir[1].fd = -1;
    c->ramblocks = g_ptr_array_new_with_free_func(block_free);
    c->rp = g_ptr_array_new_with_free_func(timed_free);
    g_ptr_array_add(d->conns, c);
    return c;
}

static void on_proxy_event(Dump *d, const Migcap__Record *r)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o;
    const char *event;
    Sess *s;

    if (!r->proxy_event->json || !json_parser_load_from_data(parser, r->proxy_event->json, -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        return;
    }
    o = json_node_get_object(json_parser_get_root(parser));
    event = json_object_get_string_member_with_default(o, "event", "");
    if (!r->session) {
        return;
    }
    s = find_session(d, r->session, r->t_ns);
    /* times are from the session's first record (its main connection) */
    if (strcmp(event, "verdict") == 0) {
        s->verdict_ns = r->t_ns;
        g_free(s->verdict);
        s->verdict = g_strdup(json_object_get_string_member_with_default(o, "verdict", "?"));
    } else if (strcmp(event, "round") == 0) {
        Timed *t = g_new0(Timed, 1);

        t->t_ns = r->t_ns;
        t->round = json_object_get_int_member_with_default(o, "round", 0);
        t->bytes = json_object_get_int_member_with_default(o, "bytes", 0);
        t->pages = json_object_get_int_member_with_default(o, "pages", 0);
        t->pages_again = json_object_get_int_member_with_default(o, "pages_again", 0);
        g_ptr_array_add(s->rounds, t);
    } else if (strcmp(event, "finding") == 0) {
        g_ptr_array_add(s->findings, g_strdup_printf("%s %s: %s",
            json_object_get_string_member_with_default(o, "severity", "?"),
            json_object_get_string_member_with_default(o, "code", "?"),
            json_object_get_string_member_with_default(o, "message", "")));
    } else if (strcmp(event, "end") == 0) {
        s->end_ns = r->t_ns;
        g_free(s->outcome);
        s->outcome = g_strdup(json_object_get_string_member_with_default(o, "outcome", "?"));
        if (json_object_has_member(o, "error")) {
            g_free(s->error);
            s->error = g_strdup(json_object_get_string_member_with_default(o, "error", ""));
        }
        s->dropped = json_object_get_int_member_with_default(o, "capture_dropped", -1);
    }
}

static void set_phase(Conn *c, int phase, guint64 t_ns)
{
    if (!c->has_phase[phase]) {
        c->has_phase[phase] = true;
        c->phase_ns[phase] = t_ns;
    }
}

static void on_decoder_event(Conn *c, const Migcap__Record *r)
{
    const Migcap__DecoderEvent *e = r->event;
    const char *type = e->type ? e->type : "";

    if (strcmp(type, "header") == 0) {
        set_phase(c, PH_HEADER, r->t_ns);
    } else if (strcmp(type, "section") == 0) {
        c->sections++;
        if (e->section_type == QEMU_VM_SECTION_START) {
            set_phase(c, PH_SETUP, r->t_ns);
        } else if (e->section_type == QEMU_VM_SECTION_PART) {
            set_phase(c, PH_ITERATE, r->t_ns);
        } else if ((e->section_type == QEMU_VM_SECTION_END ||
                    e->section_type == QEMU_VM_SECTION_FULL) && c->has_phase[PH_ITERATE]) {
            set_phase(c, PH_SWITCHOVER, r->t_ns);
        }
    } else if (strcmp(type, "eof") == 0) {
        set_phase(c, PH_EOF, r->t_ns);
    } else if (strcmp(type, "ram-total") == 0 && !c->ram_total) {
        c->ram_total = e->value;
    } else if (strcmp(type, "configuration") == 0 && !c->configuration) {
        c->configuration = g_strdup(e->text);
    } else if (strcmp(type, "ramblock") == 0 && !c->has_phase[PH_ITERATE]) {
        Block *b = g_new0(Block, 1);

        b->name = g_strdup(e->idstr ? e->idstr : "?");
        b->length = e->value;
        g_ptr_array_add(c->ramblocks, b);
    } else if (strcmp(type, "command") == 0) {
        c->commands++;
    } else if (strcmp(type, "rp-message") == 0) {
        Timed *t = g_new0(Timed, 1);

        c->rp_messages++;
        t->t_ns = r->t_ns;
        t->text = g_strdup(e->text);
        g_ptr_array_add(c->rp, t);
    } else if (strcmp(type, "multifd-packet") == 0) {
        c->multifd_packets++;
    }
}

static void extract_chunk(Dump *d, Conn *c, const Migcap__Chunk *ch)
{
    int di = ch->direction == MIGCAP__DIRECTION__DOWN;
    Dir *dir = &c->dir[di];

    if (ch->n_holes) {
        dir->has_holes = true;
    }
    if (ch->offset != dir->written) {
        dir->gap = true;
    }
    if (dir->has_holes || dir->gap || d->extract_failed) {
        return;
    }
    if (dir->fd < 0) {
        g_autofree char *name = g_strdup_printf("s%u-conn%02u.%s", c->session, c->channel,
                                                di ? "d2s" : "s2d");
        dir->path = g_build_filename(d->extract_dir, name, NULL);
        dir->fd = open(dir->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (dir->fd < 0) {
            fprintf(stderr, "migdump: %s: %s\n", dir->path, g_strerror(errno));
            d->extract_failed = true;
            return;
        }
    }
    for (size_t at = 0; at < ch->data.len;) {
        ssize_t w = write(dir->fd, ch->data.data + at, ch->data.len - at);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            fprintf(stderr, "migdump: --extract: %s\n", g_strerror(errno));
            d->extract_failed = true;
            return;
        }
        at += (size_t)w;
    }
    dir->written += ch->data.len;
}

static void on_record(Dump *d, const Migcap__Record *r)
{
    Conn *c;

    d->records++;
    if (r->session) {
        Sess *s = find_session(d, r->session, r->t_ns);

        s->last_ns = MAX(s->last_ns, r->t_ns);
    }
    switch (r->body_case) {
    case MIGCAP__RECORD__BODY_START:
        d->pages_mode = r->start->pages;
        g_free(d->tool);
        d->tool = g_strdup(r->start->tool);
        g_free(d->page_hash);
        d->page_hash = g_strdup(r->start->page_hash);
        d->part = r->start->part;
        break;
    case MIGCAP__RECORD__BODY_CONNECTION:
        find_session(d, r->session, r->t_ns);
        c = find_conn(d, r->session, r->connection->channel, true);
        g_free(c->kind);
        c->kind = g_strdup(r->connection->kind);
        c->source_peer = g_strdup(r->connection->source_peer);
        c->listen = g_strdup(r->connection->listen);
        c->joined_ns = r->t_ns;
        break;
    case MIGCAP__RECORD__BODY_DESTINATION:
        c = find_conn(d, r->session, r->destination->channel, true);
        g_free(c->dest_local);
        g_free(c->dest_peer);
        c->dest_local = g_strdup(r->destination->local);
        c->dest_peer = g_strdup(r->destination->peer);
        break;
    case MIGCAP__RECORD__BODY_CHUNK: {
        const Migcap__Chunk *ch = r->chunk;
        Dir *dir;

        c = find_conn(d, r->session, ch->channel, true);
        dir = &c->dir[ch->direction == MIGCAP__DIRECTION__DOWN];
        if (!dir->chunks) {
            dir->first_ns = r->t_ns;
        }
        dir->chunks++;
        dir->last_ns = r->t_ns;
        dir->bytes += ch->length;
        if (d->timeline) {
            Sample sm = { r->t_ns, ch->length };

            if (!dir->samples) {
                dir->samples = g_array_new(FALSE, FALSE, sizeof(Sample));
            }
            g_array_append_val(dir->samples, sm);
        }
        for (size_t i = 0; i < ch->n_holes; i++) {
            dir->holes++;
            dir->hole_bytes += ch->holes[i]->length;
        }
        if (d->extract_dir) {
            extract_chunk(d, c, ch);
        }
        break;
    }
    case MIGCAP__RECORD__BODY_CHUNK_END:
        c = find_conn(d, r->session, r->chunk_end->channel, true);
        c->dir[r->chunk_end->direction == MIGCAP__DIRECTION__DOWN].ended = true;
        break;
    case MIGCAP__RECORD__BODY_EVENT:
        c = find_conn(d, r->session, r->event->channel, true);
        on_decoder_event(c, r);
        break;
    case MIGCAP__RECORD__BODY_PROXY_EVENT:
        on_proxy_event(d, r);
        break;
    case MIGCAP__RECORD__BODY_TCP: {
        const Migcap__TcpSample *t = r->tcp;
        TcpSum *sum;

        c = find_conn(d, r->session, t->channel, true);
        sum = &c->tcp[g_strcmp0(t->side, "destination") == 0];
        sum->samples++;
        sum->rtt_us = t->rtt_us;
        sum->rtt_max_us = MAX(sum->rtt_max_us, t->rtt_us);
        sum->retrans = t->total_retrans;
        if (t->has_busy_us) {
            sum->has_limits = true;
            sum->busy_us = t->busy_us;
            sum->rwnd_limited_us = t->rwnd_limited_us;
            sum->sndbuf_limited_us = t->sndbuf_limited_us;
        }
        break;
    }
    case MIGCAP__RECORD__BODY_DROPPED:
        d->dropped_records += r->dropped->records;
        d->dropped_bytes += r->dropped->bytes;
        break;
    default:
        break;
    }
}

static double ms_since(guint64 t, guint64 base)
{
    return t >= base ? (double)(t - base) / 1e6 : -(double)(base - t) / 1e6;
}

static double mib_per_s(const Dir *dir)
{
    double s = (double)(dir->last_ns - dir->first_ns) / 1e9;

    return s > 0 ? (double)dir->bytes / 1048576.0 / s : 0;
}

static void print_text(Dump *d, const char *path, const GError *cut)
{
    static const char *const modes[] = { "full", "hash", "none" };

    printf("capture %s: %s, pages %s%s%s, %" G_GUINT64_FORMAT " records\n", path,
           d->tool ? d->tool : "?", d->pages_mode < 3 ? modes[d->pages_mode] : "?",
           d->page_hash ? " hashed " : "", d->page_hash ? d->page_hash : "", d->records);
    if (d->part) {
        printf("  part %u: the file started after %u rotation%s (--capture-max-size); "
               "what came before is in earlier files\n", d->part, d->part, d->part == 1 ? "" : "s");
    }
    if (d->dropped_records) {
        printf("  dropped: %" G_GUINT64_FORMAT " records (%" G_GUINT64_FORMAT
               " bytes): the disk was slower than the migration\n",
               d->dropped_records, d->dropped_bytes);
    }
    for (guint i = 0; i < d->sessions->len; i++) {
        Sess *s = g_ptr_array_index(d->sessions, i);

        printf("session %u: verdict %s, outcome %s%s%s\n", s->id,
               s->verdict ? s->verdict : "(none)", s->outcome ? s->outcome : "(no end)",
               s->error ? ": " : "", s->error ? s->error : "");
        if (!s->outcome) {
            printf("  the capture ends before the session did (proxy killed, or still running)\n");
        }
        for (guint j = 0; j < s->findings->len; j++) {
            printf("  finding: %s\n", (char *)s->findings->pdata[j]);
        }
        for (guint j = 0; j < s->rounds->len; j++) {
            const Timed *t = s->rounds->pdata[j];

            printf("  round %" G_GINT64_FORMAT " over RAM ended at %.3f ms: %" G_GINT64_FORMAT
                   " bytes, %" G_GINT64_FORMAT " pages (%" G_GINT64_FORMAT " sent again)\n",
                   t->round, ms_since(t->t_ns, s->start_ns), t->bytes, t->pages, t->pages_again);
        }
        for (guint j = 0; j < d->conns->len; j++) {
            Conn *c = g_ptr_array_index(d->conns, j);

            if (c->session != s->id) {
                continue;
            }
            printf("  connection %u (%s) from %s to %s, destination %s, joined at %.3f ms\n",
                   c->channel, c->kind ? c->kind : "?", c->source_peer ? c->source_peer : "?",
                   c->listen ? c->listen : "?", c->dest_peer ? c->dest_peer : "(not connected)",
                   ms_since(c->joined_ns, s->start_ns));
            for (int di = 0; di < 2; di++) {
                const Dir *dir = &c->dir[di];

                if (!dir->chunks) {
                    continue;
                }
                printf("    %s: %" G_GUINT64_FORMAT " bytes in %" G_GUINT64_FORMAT
                       " chunks, %.3f .. %.3f ms, %.1f MiB/s%s", di ? "to source" : "to destination",
                       dir->bytes, dir->chunks, ms_since(dir->first_ns, s->start_ns),
                       ms_since(dir->last_ns, s->start_ns), mib_per_s(dir),
                       dir->ended ? "" : ", no end recorded");
                if (dir->holes) {
                    printf(", %" G_GUINT64_FORMAT " page payloads left out (%" G_GUINT64_FORMAT
                           " bytes)", dir->holes, dir->hole_bytes);
                }
                printf("\n");
            }
            if (c->configuration) {
                printf("    %s\n", c->configuration);
            }
            if (c->ramblocks->len) {
                printf("    RAM blocks:");
                for (guint k = 0; k < c->ramblocks->len; k++) {
                    const Block *b = c->ramblocks->pdata[k];

                    printf("%s %s %" G_GUINT64_FORMAT, k ? "," : "", b->name, b->length);
                }
                printf(" (total %" G_GUINT64_FORMAT ")\n", c->ram_total);
            }
            for (int ph = 0; ph < PH_COUNT; ph++) {
                if (c->has_phase[ph]) {
                    printf("    phase %-10s at %.3f ms\n", phase_names[ph],
                           ms_since(c->phase_ns[ph], s->start_ns));
                }
            }
            for (guint k = 0; k < c->rp->len; k++) {
                const Timed *t = c->rp->pdata[k];

                printf("    return path at %.3f ms: %s\n", ms_since(t->t_ns, s->start_ns), t->text);
            }
            for (int side = 0; side < 2; side++) {
                const TcpSum *t = &c->tcp[side];

                if (!t->samples) {
                    continue;
                }
                printf("    tcp to the %s: %u samples, rtt %u us (max %u), %u retransmits",
                       side ? "destination" : "source", t->samples, t->rtt_us, t->rtt_max_us,
                       t->retrans);
                if (t->has_limits) {
                    printf("; sending %.1f ms, held back by the peer's receive window %.1f ms, "
                           "by the send buffer %.1f ms", t->busy_us / 1e3,
                           t->rwnd_limited_us / 1e3, t->sndbuf_limited_us / 1e3);
                }
                printf("\n");
            }
            if (c->sections || c->commands || c->multifd_packets || c->rp_messages) {
                printf("    %u sections, %u commands, %u multifd packets, %u return-path "
                       "messages\n", c->sections, c->commands, c->multifd_packets, c->rp_messages);
            }
        }
    }
    if (cut) {
        printf("cut short: %s\n", cut->message);
    }
}

static void add_int(JsonBuilder *b, const char *name, gint64 v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

static void add_str(JsonBuilder *b, const char *name, const char *v)
{
    json_builder_set_member_name(b, name);
    if (v) {
        json_builder_add_string_value(b, v);
    } else {
        json_builder_add_null_value(b);
    }
}

static void add_ms(JsonBuilder *b, const char *name, double v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_double_value(b, v);
}

static void print_json(Dump *d, const GError *cut)
{
    static const char *const modes[] = { "full", "hash", "none" };
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    add_str(b, "tool", d->tool);
    add_str(b, "pages", d->pages_mode < 3 ? modes[d->pages_mode] : NULL);
    add_str(b, "page_hash", d->page_hash);
    add_int(b, "part", d->part);
    add_int(b, "records", (gint64)d->records);
    add_int(b, "dropped_records", (gint64)d->dropped_records);
    add_str(b, "cut_short", cut ? cut->message : NULL);
    json_builder_set_member_name(b, "sessions");
    json_builder_begin_array(b);
    for (guint i = 0; i < d->sessions->len; i++) {
        Sess *s = g_ptr_array_index(d->sessions, i);

        json_builder_begin_object(b);
        add_int(b, "session", s->id);
        add_str(b, "verdict", s->verdict);
        add_str(b, "outcome", s->outcome);
        add_str(b, "error", s->error);
        json_builder_set_member_name(b, "findings");
        json_builder_begin_array(b);
        for (guint j = 0; j < s->findings->len; j++) {
            json_builder_add_string_value(b, s->findings->pdata[j]);
        }
        json_builder_end_array(b);
        json_builder_set_member_name(b, "rounds");
        json_builder_begin_array(b);
        for (guint j = 0; j < s->rounds->len; j++) {
            const Timed *t = s->rounds->pdata[j];

            json_builder_begin_object(b);
            add_int(b, "round", t->round);
            add_ms(b, "ended_ms", ms_since(t->t_ns, s->start_ns));
            add_int(b, "bytes", t->bytes);
            add_int(b, "pages", t->pages);
            add_int(b, "pages_again", t->pages_again);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_set_member_name(b, "connections");
        json_builder_begin_array(b);
        for (guint j = 0; j < d->conns->len; j++) {
            Conn *c = g_ptr_array_index(d->conns, j);

            if (c->session != s->id) {
                continue;
            }
            json_builder_begin_object(b);
            add_int(b, "channel", c->channel);
            add_str(b, "kind", c->kind);
            add_str(b, "source", c->source_peer);
            add_str(b, "listen", c->listen);
            add_str(b, "destination", c->dest_peer);
            add_ms(b, "joined_ms", ms_since(c->joined_ns, s->start_ns));
            for (int di = 0; di < 2; di++) {
                const Dir *dir = &c->dir[di];

                json_builder_set_member_name(b, di ? "to_source" : "to_destination");
                json_builder_begin_object(b);
                add_int(b, "bytes", (gint64)dir->bytes);
                add_int(b, "chunks", (gint64)dir->chunks);
                add_int(b, "holes", (gint64)dir->holes);
                add_int(b, "hole_bytes", (gint64)dir->hole_bytes);
                json_builder_set_member_name(b, "ended");
                json_builder_add_boolean_value(b, dir->ended);
                if (dir->chunks) {
                    add_ms(b, "first_ms", ms_since(dir->first_ns, s->start_ns));
                    add_ms(b, "last_ms", ms_since(dir->last_ns, s->start_ns));
                    add_ms(b, "mib_per_s", mib_per_s(dir));
                }
                json_builder_end_object(b);
            }
            json_builder_set_member_name(b, "phases_ms");
            json_builder_begin_object(b);
            for (int ph = 0; ph < PH_COUNT; ph++) {
                if (c->has_phase[ph]) {
                    add_ms(b, phase_names[ph], ms_since(c->phase_ns[ph], s->start_ns));
                }
            }
            json_builder_end_object(b);
            json_builder_set_member_name(b, "tcp");
            json_builder_begin_object(b);
            for (int side = 0; side < 2; side++) {
                const TcpSum *t = &c->tcp[side];

                if (!t->samples) {
                    continue;
                }
                json_builder_set_member_name(b, side ? "destination" : "source");
                json_builder_begin_object(b);
                add_int(b, "samples", t->samples);
                add_int(b, "rtt_us", t->rtt_us);
                add_int(b, "rtt_max_us", t->rtt_max_us);
                add_int(b, "retransmits", t->retrans);
                if (t->has_limits) {
                    add_int(b, "busy_us", (gint64)t->busy_us);
                    add_int(b, "rwnd_limited_us", (gint64)t->rwnd_limited_us);
                    add_int(b, "sndbuf_limited_us", (gint64)t->sndbuf_limited_us);
                }
                json_builder_end_object(b);
            }
            json_builder_end_object(b);
            add_str(b, "configuration", c->configuration);
            add_int(b, "ram_total", (gint64)c->ram_total);
            json_builder_set_member_name(b, "ramblocks");
            json_builder_begin_array(b);
            for (guint k = 0; k < c->ramblocks->len; k++) {
                const Block *bl = c->ramblocks->pdata[k];

                json_builder_begin_object(b);
                add_str(b, "name", bl->name);
                add_int(b, "length", (gint64)bl->length);
                json_builder_end_object(b);
            }
            json_builder_end_array(b);
            json_builder_set_member_name(b, "return_path");
            json_builder_begin_array(b);
            for (guint k = 0; k < c->rp->len; k++) {
                const Timed *t = c->rp->pdata[k];

                json_builder_begin_object(b);
                add_ms(b, "ms", ms_since(t->t_ns, s->start_ns));
                add_str(b, "message", t->text);
                json_builder_end_object(b);
            }
            json_builder_end_array(b);
            add_int(b, "sections", c->sections);
            add_int(b, "commands", c->commands);
            add_int(b, "multifd_packets", c->multifd_packets);
            add_int(b, "return_path_messages", c->rp_messages);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
}

/* --timeline: the picture's geometry (SVG user units) */
#define TL_WIDTH    1040
#define TL_HEIGHT   480
#define TL_LEFT     80
#define TL_RIGHT    760
#define TL_TOP      60
#define TL_BOTTOM   380
#define TL_BUCKETS  120

static const char *const tl_colours[] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
};

static void xml_text(GString *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '<': g_string_append(out, "&lt;"); break;
        case '>': g_string_append(out, "&gt;"); break;
        case '&': g_string_append(out, "&amp;"); break;
        case '"': g_string_append(out, "&quot;"); break;
        default: g_string_append_c(out, *p); break;
        }
    }
}

static double tl_x(guint64 t, guint64 t0, guint64 span)
{
    return TL_LEFT + (double)(t - t0) * (TL_RIGHT - TL_LEFT) / (double)span;
}

/*
 * One session as an SVG: bytes per second per connection and direction
 * over time (TL_BUCKETS buckets), the main channel's phases as dashed
 * lines, the verdict (red when it rejected) and the end (red when it
 * failed), and the bytes sent against the RAM size the stream announced.
 */
static bool write_timeline(Dump *d, const char *svg_path, GError **error)
{
    g_autoptr(GString) out = g_string_new(NULL);
    Sess *s = NULL;
    guint64 t0, t1, span, peak = 1, sent = 0, ram = 0;
    guint colour = 0, legend = 0;
    double bucket_s;

    for (guint i = 0; i < d->sessions->len && !s; i++) {
        Sess *x = g_ptr_array_index(d->sessions, i);

        for (guint j = 0; j < d->conns->len; j++) {
            Conn *c = g_ptr_array_index(d->conns, j);

            if (c->session == x->id && c->dir[0].chunks) {
                s = x;
                break;
            }
        }
    }
    if (!s) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no session with any bytes to draw");
        return false;
    }
    t0 = s->start_ns;
    t1 = MAX(s->last_ns, t0 + 1000000);
    span = t1 - t0;
    bucket_s = (double)span / TL_BUCKETS / 1e9;
    /* first pass: the peak rate, for the scale */
    for (guint j = 0; j < d->conns->len; j++) {
        Conn *c = g_ptr_array_index(d->conns, j);

        if (c->session != s->id) {
            continue;
        }
        ram = MAX(ram, c->ram_total);
        sent += c->dir[0].bytes;
        for (int di = 0; di < 2; di++) {
            guint64 buckets[TL_BUCKETS] = { 0 };
            const GArray *sm = c->dir[di].samples;

            for (guint k = 0; sm && k < sm->len; k++) {
                const Sample *x = &g_array_index(sm, Sample, k);
                guint b = (guint)MIN((x->t_ns - MIN(x->t_ns, t0)) * TL_BUCKETS / span,
                                     TL_BUCKETS - 1);

                buckets[b] += x->bytes;
            }
            for (guint b = 0; b < TL_BUCKETS; b++) {
                peak = MAX(peak, buckets[b]);
            }
        }
    }
    g_string_append_printf(out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
        TL_WIDTH, TL_HEIGHT, TL_WIDTH, TL_HEIGHT);
    g_string_append(out, "<text x=\"80\" y=\"24\" font-size=\"16\" font-weight=\"bold\">");
    {
        g_autofree char *title = g_strdup_printf(
            "migration session %u: verdict %s, outcome %s, %.3f s", s->id,
            s->verdict ? s->verdict : "none", s->outcome ? s->outcome : "none (capture ends)",
            (double)span / 1e9);

        xml_text(out, title);
    }
    g_string_append(out, "</text>\n");
    /* axes: time along x, MiB/s up y */
    g_string_append_printf(out,
        "<g id=\"axes\" stroke=\"black\" fill=\"none\">"
        "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
        "</g>\n", TL_LEFT, TL_BOTTOM, TL_RIGHT, TL_BOTTOM, TL_LEFT, TL_TOP, TL_LEFT, TL_BOTTOM);
    for (int k = 0; k <= 4; k++) {
        double y = TL_BOTTOM - (double)k * (TL_BOTTOM - TL_TOP) / 4;
        double rate = (double)peak * k / 4 / bucket_s / 1048576.0;
        double tx = TL_LEFT + (double)k * (TL_RIGHT - TL_LEFT) / 4;

        g_string_append_printf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n",
                               TL_LEFT - 6, y + 4, rate);
        g_string_append_printf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.2f s</text>\n",
                               tx, TL_BOTTOM + 16, (double)span * k / 4 / 1e9);
    }
    g_string_append_printf(out, "<text x=\"16\" y=\"%d\" transform=\"rotate(-90 16 %d)\" "
                           "text-anchor=\"middle\">MiB/s</text>\n",
                           (TL_TOP + TL_BOTTOM) / 2, (TL_TOP + TL_BOTTOM) / 2);
    /* one line per connection and direction that carried bytes */
    for (guint j = 0; j < d->conns->len; j++) {
        Conn *c = g_ptr_array_index(d->conns, j);

        if (c->session != s->id) {
            continue;
        }
        for (int di = 0; di < 2; di++) {
            guint64 buckets[TL_BUCKETS] = { 0 };
            const GArray *sm = c->dir[di].samples;
            const char *col = tl_colours[colour % G_N_ELEMENTS(tl_colours)];

            if (!sm || !sm->len) {
                continue;
            }
            colour++;
            for (guint k = 0; k < sm->len; k++) {
                const Sample *x = &g_array_index(sm, Sample, k);
                guint b = (guint)MIN((x->t_ns - MIN(x->t_ns, t0)) * TL_BUCKETS / span,
                                     TL_BUCKETS - 1);

                buckets[b] += x->bytes;
            }
            g_string_append_printf(out, "<polyline class=\"rate\" id=\"conn%u-%s\" fill=\"none\" "
                                   "stroke=\"%s\" stroke-width=\"2\" points=\"", c->channel,
                                   di ? "d2s" : "s2d", col);
            for (guint b = 0; b < TL_BUCKETS; b++) {
                double x = TL_LEFT + (b + 0.5) * (TL_RIGHT - TL_LEFT) / TL_BUCKETS;
                double y = TL_BOTTOM - (double)buckets[b] * (TL_BOTTOM - TL_TOP) / (double)peak;

                g_string_append_printf(out, "%.1f,%.1f ", x, y);
            }
            g_string_append(out, "\"/>\n");
            g_string_append_printf(out, "<rect x=\"%d\" y=\"%u\" width=\"14\" height=\"4\" fill=\"%s\"/>"
                                   "<text x=\"%d\" y=\"%u\">", TL_RIGHT + 20, TL_TOP + 16 * legend,
                                   col, TL_RIGHT + 40, TL_TOP + 16 * legend + 6);
            {
                g_autofree char *label = g_strdup_printf("%s %u %s: %.1f MiB", c->kind ? c->kind : "?",
                                                         c->channel, di ? "to source" : "to destination",
                                                         (double)c->dir[di].bytes / 1048576.0);

                xml_text(out, label);
            }
            g_string_append(out, "</text>\n");
            legend++;
        }
        for (int ph = 0; ph < PH_COUNT; ph++) {
            double x;

            if (!c->has_phase[ph] || g_strcmp0(c->kind, "main")) {
                continue;
            }
            x = tl_x(MAX(c->phase_ns[ph], t0), t0, span);
            /* labels one below the other: phases are often close together */
            g_string_append_printf(out, "<g class=\"phase\" id=\"phase-%s\"><line x1=\"%.1f\" y1=\"%d\" "
                                   "x2=\"%.1f\" y2=\"%d\" stroke=\"gray\" stroke-dasharray=\"4 3\"/>"
                                   "<text x=\"%.1f\" y=\"%d\" fill=\"dimgray\">%s</text></g>\n",
                                   phase_names[ph], x, TL_TOP, x, TL_BOTTOM, x + 3,
                                   TL_TOP + 12 + 14 * ph, phase_names[ph]);
        }
    }
    if (s->verdict_ns) {
        bool reject = g_strcmp0(s->verdict, "reject") == 0;
        double x = tl_x(MAX(s->verdict_ns, t0), t0, span);

        g_string_append_printf(out, "<g id=\"verdict\"><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
                               "y2=\"%d\" stroke=\"%s\" stroke-width=\"%d\"/><text x=\"%.1f\" "
                               "y=\"%d\" fill=\"%s\">verdict %s</text></g>\n", x, TL_TOP, x,
                               TL_BOTTOM, reject ? "red" : "green", reject ? 3 : 1, x + 3,
                               TL_BOTTOM - 6, reject ? "red" : "green",
                               s->verdict ? s->verdict : "?");
    }
    if (s->end_ns && g_strcmp0(s->outcome, "completed")) {
        double x = tl_x(MAX(s->end_ns, t0), t0, span);

        g_string_append_printf(out, "<g id=\"failure\"><line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
                               "y2=\"%d\" stroke=\"red\" stroke-width=\"3\"/><text x=\"%.1f\" "
                               "y=\"%d\" fill=\"red\" text-anchor=\"end\">", x, TL_TOP, x, TL_BOTTOM, x - 5,
                               TL_TOP + 14);
        xml_text(out, s->outcome ? s->outcome : "?");
        if (s->error) {
            g_string_append(out, ": ");
            xml_text(out, s->error);
        }
        g_string_append(out, "</text></g>\n");
    }
    /* bytes sent against the RAM size: a bar under the plot */
    {
        double full = TL_RIGHT - TL_LEFT;
        double frac = ram ? MIN((double)sent / (double)ram, 1.0) : 0;
        g_autofree char *label = g_strdup_printf(
            "sent to the destination: %.1f MiB; RAM announced by the stream: %s%.1f MiB%s",
            (double)sent / 1048576.0, ram ? "" : "(unknown) ", (double)ram / 1048576.0,
            ram && sent > ram ? " (more than the RAM: pages sent again)" : "");

        g_string_append_printf(out, "<g id=\"ram\"><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"14\" "
                               "fill=\"none\" stroke=\"black\"/><rect x=\"%d\" y=\"%d\" "
                               "width=\"%.1f\" height=\"14\" fill=\"#1f77b4\"/><text x=\"%d\" "
                               "y=\"%d\">", TL_LEFT, TL_BOTTOM + 40, full, TL_LEFT,
                               TL_BOTTOM + 40, full * frac, TL_LEFT, TL_BOTTOM + 72);
        xml_text(out, label);
        g_string_append(out, "</text></g>\n");
    }
    g_string_append(out, "</svg>\n");
    return g_file_set_contents(svg_path, out->str, (gssize)out->len, error);
}

int capture_dump(const char *path, bool json, const char *extract_dir, const char *timeline)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GMappedFile) map = g_mapped_file_new(path, FALSE, &err);
    MpCaptureReader r;
    Dump d = { 0 };
    int rc, status = 0;

    if (!map) {
        fprintf(stderr, "migdump: %s\n", err->message);
        return 2;
    }
    if (!mp_capture_reader_init(&r, (const uint8_t *)g_mapped_file_get_contents(map),
                                g_mapped_file_get_length(map), &err)) {
        fprintf(stderr, "migdump: %s: %s\n", path, err->message);
        return 1;
    }
    if (extract_dir && g_mkdir_with_parents(extract_dir, 0755) < 0) {
        fprintf(stderr, "migdump: %s: %s\n", extract_dir, g_strerror(errno));
        return 2;
    }
    d.conns = g_ptr_array_new_with_free_func(conn_free);
    d.sessions = g_ptr_array_new_with_free_func(sess_free);
    d.extract_dir = extract_dir;
    d.timeline = timeline != NULL;
    for (;;) {
        Migcap__Record *rec = NULL;

        rc = mp_capture_reader_next(&r, &rec, &err);
        if (rc <= 0) {
            break;
        }
        on_record(&d, rec);
        migcap__record__free_unpacked(rec, NULL);
    }
    if (err) {
        fprintf(stderr, "migdump: %s: %s (%" G_GUINT64_FORMAT " records read)\n", path,
                err->message, r.records);
        status = 1;
    }
    if (extract_dir) {
        for (guint i = 0; i < d.conns->len; i++) {
            Conn *c = g_ptr_array_index(d.conns, i);

            for (int di = 0; di < 2; di++) {
                const char *what = di ? "to the source" : "to the destination";

                if (c->dir[di].has_holes) {
                    /* what came before the first hole would look like a whole stream */
                    if (c->dir[di].path) {
                        g_unlink(c->dir[di].path);
                    }
                    fprintf(stderr, "migdump: session %u connection %u %s: page payloads were "
                            "left out (--capture-pages hash or none): not extracted\n",
                            c->session, c->channel, what);
                    status = MAX(status, 1);
                } else if (c->dir[di].gap && !c->dir[di].path && d.part) {
                    fprintf(stderr, "migdump: session %u connection %u %s: its beginning is "
                            "in an earlier file (this is part %u of a capture rotated by "
                            "--capture-max-size): not extracted\n", c->session, c->channel,
                            what, d.part);
                    status = MAX(status, 1);
                } else if (c->dir[di].gap) {
                    fprintf(stderr, "migdump: session %u connection %u %s: records were "
                            "dropped: %s holds the bytes up to the gap only\n", c->session,
                            c->channel, what, c->dir[di].path ? c->dir[di].path : "no file");
                    status = MAX(status, 1);
                } else if (c->dir[di].chunks) {
                    printf("s%u-conn%02u.%s: %" G_GUINT64_FORMAT " bytes (%s)\n", c->session,
                           c->channel, di ? "d2s" : "s2d", c->dir[di].written,
                           c->kind ? c->kind : "?");
                }
            }
        }
        if (d.extract_failed) {
            status = 2;
        }
    } else if (timeline) {
        g_autoptr(GError) werr = NULL;

        if (!write_timeline(&d, timeline, &werr)) {
            fprintf(stderr, "migdump: --timeline %s: %s\n", timeline, werr->message);
            status = 2;
        }
    } else if (json) {
        print_json(&d, err);
    } else {
        print_text(&d, path, err);
    }
    g_ptr_array_unref(d.conns);
    g_ptr_array_unref(d.sessions);
    g_free(d.tool);
    g_free(d.page_hash);
    return status;
}
