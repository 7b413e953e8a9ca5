/*
 * migdump - decode a QEMU migration stream (a file written with
 * `migrate "exec:cat > FILE"`, or one connection's bytes) and show it to a
 * person, or as one JSON object to a program (--json), or event by event
 * (--events).  Exits 0 when the stream decoded to a clean end, 1 when it
 * did not, 2 on usage or I/O errors.
 *
 * Device state (device-log.c): --devices prints every FULL section field
 * by field from the stream's VMDESCRIPTION, or with --description REF from
 * another stream's (of the same configuration; FILE then needs none of
 * its own); --dest-vmstate DUMP checks
 * section versions against a destination's -dump-vmstate file;
 * --compare-devices SRC DST compares the sections of two streams.  These
 * exit 1 when a section could not be decoded or a check found an error.
 *
 * A capture (migproxy --capture) gets its own summary (capture-dump.c);
 * in the modes above, and as SRC, DST or REF, it is read as the stream of
 * its first migration's main connection (stream-source.h).
 */
#include <stdio.h>
#include <string.h>
#include <json-glib/json-glib.h>
#include "capture-dump.h"
#include "decoder.h"
#include "device-log.h"
#include "convergence.h"
#include "devices.h"
#include "facts.h"
#include "stream-file.h"
#include "stream-source.h"
#include "vmstate-dump.h"

typedef struct {
    uint32_t id;
    char *name;
    uint32_t instance;
    uint32_t version;
    uint64_t bytes;      /* payload bytes over all its START/PART/END/FULL */
    guint headers;
    guint scanned;
} SectionRow;

typedef struct {
    char *name;
    uint64_t length;
    bool has_page_size, has_addr, has_mapped_ram;
    uint64_t page_size, addr, pages_offset, bitmap_offset;
} BlockRow;

typedef struct {
    char *line;          /* human text */
    JsonNode *json;
} Item;

typedef struct {
    MigChannelKind channel;
    bool print_events;
    uint32_t version;
    char *machine;
    GPtrArray *caps;
    bool has_page_bits;
    uint32_t page_bits;
    bool has_uuid;
    uint8_t uuid[16];
    bool has_total;
    uint64_t ram_total;
    GArray *blocks;      /* BlockRow */
    GArray *sections;    /* SectionRow */
    GHashTable *section_index; /* id -> index + 1 */
    GPtrArray *commands; /* Item */
    GPtrArray *messages; /* Item: return-path messages */
    bool eof, vmdesc, checked, certain;
    uint32_t vmdesc_length;
    guint scanned, confirmed, mismatched;
    char *first_mismatch;
    guint ram_eos, ram_flush;
    bool has_mf_init;
    uint8_t mf_channel;
    uint64_t mf_sync;
    uint64_t mf_device_state;
    DeviceLog *devlog;   /* --devices, --dest-vmstate, --compare-devices */
    MpConvergence *conv; /* rounds over RAM */
} Summary;

static char *hex(const uint8_t *p, size_t n)
{
    GString *s = g_string_new(NULL);

    for (size_t i = 0; i < n; i++) {
        g_string_append_printf(s, "%02x", p[i]);
    }
    return g_string_free(s, FALSE);
}

/* One member of the object being built: name and value in one call. */
static void add_int(JsonBuilder *b, const char *name, gint64 v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

static void add_str(JsonBuilder *b, const char *name, const char *v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, v);
}

static void add_bool(JsonBuilder *b, const char *name, gboolean v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_boolean_value(b, v);
}

static void add_item(GPtrArray *list, char *line, JsonBuilder *b)
{
    Item *it = g_new0(Item, 1);

    it->line = line;
    it->json = json_builder_get_root(b);
    g_ptr_array_add(list, it);
    g_object_unref(b);
}

static void item_free(gpointer p)
{
    Item *it = p;

    g_free(it->line);
    json_node_unref(it->json);
    g_free(it);
}

static JsonBuilder *begin_item(const char *name, uint64_t offset)
{
    JsonBuilder *b = json_builder_new();

    json_builder_begin_object(b);
    add_str(b, "name", name);
    add_int(b, "offset", (gint64)offset);
    return b;
}

static void on_command(Summary *s, const MigEvent *ev)
{
    const MigCommandEvent *c = &ev->u.command;
    JsonBuilder *b = begin_item(mig_command_json_name(c->cmd), ev->offset);
    GString *line = g_string_new(NULL);

    g_string_printf(line, "%10" G_GUINT64_FORMAT "  %s", ev->offset,
                    mig_command_name(c->cmd));
    add_int(b, "length", c->length);
    if (c->cmd == MIG_CMD_PING && c->length == 4) {
        uint32_t v = (uint32_t)c->data[0] << 24 | c->data[1] << 16 |
                     c->data[2] << 8 | c->data[3];
        add_int(b, "value", v);
        g_string_append_printf(line, " %u", v);
    } else if (c->cmd == MIG_CMD_POSTCOPY_ADVISE && c->length == 16) {
        uint64_t summary = 0, tps = 0;

        for (int i = 0; i < 8; i++) {
            summary = summary << 8 | c->data[i];
            tps = tps << 8 | c->data[8 + i];
        }
        add_int(b, "page_size_summary", (gint64)summary);
        add_int(b, "target_page_size", (gint64)tps);
        g_string_append_printf(line, " page sizes 0x%" G_GINT64_MODIFIER
                               "x, target page %" G_GUINT64_FORMAT, summary, tps);
    } else if (ev->type == MIG_EV_PACKAGED_BEGIN) {
        add_int(b, "blob_length", c->blob_length);
        g_string_append_printf(line, " blob of %u bytes", c->blob_length);
    } else if (c->length) {
        g_autofree char *h = hex(c->data, MIN(c->length, 32));
        add_str(b, "data", h);
        g_string_append_printf(line, " len %u: %s%s", c->length, h,
                               c->length > 32 ? "..." : "");
    }
    if (c->in_packaged) {
        add_bool(b, "in_packaged", TRUE);
        g_string_append(line, " (in PACKAGED)");
    }
    json_builder_end_object(b);
    add_item(s->commands, g_string_free(line, FALSE), b);
}

static void on_rp(Summary *s, const MigEvent *ev)
{
    const MigRpEvent *m = &ev->u.rp;
    JsonBuilder *b = json_builder_new();
    GString *line = g_string_new(NULL);
    const uint8_t *p = m->data;

    json_builder_begin_object(b);
    add_str(b, "type", mig_rp_message_name(m->type));
    add_int(b, "offset", (gint64)ev->offset);
    g_string_printf(line, "%10" G_GUINT64_FORMAT "  %s", ev->offset,
                    mig_rp_message_name(m->type));
    if ((m->type == MIG_RP_MSG_SHUT || m->type == MIG_RP_MSG_PONG ||
         m->type == MIG_RP_MSG_RESUME_ACK) && m->length == 4) {
        uint32_t v = (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
        add_int(b, "value", v);
        g_string_append_printf(line, " %u", v);
    } else if ((m->type == MIG_RP_MSG_REQ_PAGES && m->length == 12) ||
               (m->type == MIG_RP_MSG_REQ_PAGES_ID && m->length >= 13 &&
                m->length == 13 + p[12])) {
        uint64_t start = 0;
        uint32_t len = (uint32_t)p[8] << 24 | p[9] << 16 | p[10] << 8 | p[11];

        for (int i = 0; i < 8; i++) {
            start = start << 8 | p[i];
        }
        add_int(b, "start", (gint64)start);
        add_int(b, "length", len);
        g_string_append_printf(line, " 0x%" G_GINT64_MODIFIER "x+0x%x", start, len);
        if (m->type == MIG_RP_MSG_REQ_PAGES_ID) {
            g_autofree char *name = g_strndup((const char *)p + 13, p[12]);
            add_str(b, "block", name);
            g_string_append_printf(line, " in %s", name);
        }
    } else if (m->length) {
        g_autofree char *h = hex(p, MIN(m->length, 32));
        add_str(b, "data", h);
        g_string_append_printf(line, " len %u: %s", m->length, h);
    }
    json_builder_end_object(b);
    add_item(s->messages, g_string_free(line, FALSE), b);
}

static void on_section(Summary *s, const MigEvent *ev)
{
    const MigSectionEvent *e = &ev->u.section;
    guint idx = GPOINTER_TO_UINT(g_hash_table_lookup(s->section_index,
                                                     GUINT_TO_POINTER(e->section_id)));
    SectionRow *row;

    if (!idx) {
        SectionRow r = { .id = e->section_id, .name = g_strdup(e->idstr),
                         .instance = e->instance_id, .version = e->version_id };
        g_array_append_val(s->sections, r);
        idx = s->sections->len;
        g_hash_table_insert(s->section_index, GUINT_TO_POINTER(e->section_id),
                            GUINT_TO_POINTER(idx));
    }
    row = &g_array_index(s->sections, SectionRow, idx - 1);
    if (ev->type == MIG_EV_SECTION) {
        row->headers++;
    } else {
        row->bytes += e->payload_length;
        row->scanned += e->scanned;
    }
}

static void on_event(const MigEvent *ev, void *opaque)
{
    Summary *s = opaque;

    if (s->print_events) {
        g_autofree char *line = mig_event_format(ev);
        printf("%s\n", line);
    }
    if (s->devlog) {
        device_log_event(s->devlog, ev);
    }
    if (s->conv) {
        mp_convergence_feed(s->conv, 0, ev, 0);
    }
    switch (ev->type) {
    case MIG_EV_HEADER:
        s->version = ev->u.header.version;
        break;
    case MIG_EV_CONFIGURATION:
        s->machine = g_strdup(ev->u.config.machine);
        for (guint i = 0; i < ev->u.config.n_caps; i++) {
            g_ptr_array_add(s->caps, g_strdup(ev->u.config.caps[i]));
        }
        s->has_page_bits = ev->u.config.has_page_bits;
        s->page_bits = ev->u.config.page_bits;
        s->has_uuid = ev->u.config.has_uuid;
        memcpy(s->uuid, ev->u.config.uuid, 16);
        break;
    case MIG_EV_SECTION:
    case MIG_EV_SECTION_END:
        on_section(s, ev);
        break;
    case MIG_EV_RAM_TOTAL:
        s->has_total = true;
        s->ram_total = ev->u.ram_total.total;
        g_array_set_size(s->blocks, 0);
        break;
    case MIG_EV_RAMBLOCK: {
        const MigRamBlockEvent *e = &ev->u.ramblock;
        BlockRow r = { .name = g_strdup(e->idstr), .length = e->used_length,
                       .has_page_size = e->has_page_size, .page_size = e->page_size,
                       .has_addr = e->has_addr, .addr = e->addr,
                       .has_mapped_ram = e->has_mapped_ram,
                       .pages_offset = e->mapped_ram_pages_offset,
                       .bitmap_offset = e->mapped_ram_bitmap_offset };
        g_array_append_val(s->blocks, r);
        break;
    }
    case MIG_EV_RAM_EOS:
        s->ram_eos++;
        break;
    case MIG_EV_RAM_FLUSH:
        s->ram_flush++;
        break;
    case MIG_EV_COMMAND:
    case MIG_EV_PACKAGED_BEGIN:
        on_command(s, ev);
        break;
    case MIG_EV_EOF:
        s->eof = true;
        break;
    case MIG_EV_VMDESC:
        s->vmdesc = true;
        s->vmdesc_length = ev->u.vmdesc.length;
        break;
    case MIG_EV_BOUNDARIES_CHECKED:
        s->checked = true;
        s->scanned = ev->u.check.scanned_sections;
        s->confirmed = ev->u.check.confirmed;
        s->mismatched = ev->u.check.mismatched;
        s->first_mismatch = g_strdup(ev->u.check.first_mismatch);
        break;
    case MIG_EV_RP_MESSAGE:
        on_rp(s, ev);
        break;
    case MIG_EV_MULTIFD_INIT:
        s->has_mf_init = true;
        s->mf_channel = ev->u.mf_init.channel_id;
        break;
    case MIG_EV_MULTIFD_PACKET:
        if (ev->u.mf_packet.flags & MULTIFD_FLAG_SYNC) {
            s->mf_sync++;
        }
        if (ev->u.mf_packet.flags & MULTIFD_FLAG_DEVICE_STATE) {
            s->mf_device_state++;
        }
        break;
    default:
        break;
    }
}

static void add_nullable_int(JsonBuilder *b, const char *name, bool has, uint64_t v)
{
    json_builder_set_member_name(b, name);
    if (has) {
        json_builder_add_int_value(b, (gint64)v);
    } else {
        json_builder_add_null_value(b);
    }
}

static void add_items(JsonBuilder *b, const char *name, GPtrArray *items)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (guint i = 0; i < items->len; i++) {
        json_builder_add_value(b, json_node_copy(((Item *)items->pdata[i])->json));
    }
    json_builder_end_array(b);
}

static const char *error_kind(const GError *err)
{
    static const char *const kinds[] = { "truncated", "corrupt", "limit",
                                         "unsupported", "lost" };
    return err->domain == MIG_WIRE_ERROR && (guint)err->code < G_N_ELEMENTS(kinds)
           ? kinds[err->code] : "io";
}

/* "rounds": the precopy passes over RAM (policy/convergence.h). */
static void add_rounds(JsonBuilder *b, MpConvergence *conv)
{
    json_builder_set_member_name(b, "rounds");
    json_builder_begin_array(b);
    mp_convergence_stop(conv, 0);
    for (guint i = 0; i < mp_convergence_n_rounds(conv); i++) {
        const MpRound *r = mp_convergence_round(conv, i);

        json_builder_begin_object(b);
        add_int(b, "round", r->index);
        add_int(b, "bytes", (gint64)r->bytes);
        add_int(b, "pages", (gint64)r->pages);
        add_int(b, "pages_again", (gint64)r->pages_again);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static void print_json(const Summary *s, const MigDecoderStats *st,
                       const GError *err, uint64_t err_offset)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;
    bool main_like = s->channel == MIG_CHANNEL_MAIN || s->channel == MIG_CHANNEL_RECOVERY ||
                     s->channel == MIG_CHANNEL_PREEMPT;

    json_builder_begin_object(b);
    add_str(b, "channel", mig_channel_name(s->channel));
    if (main_like) {
        add_nullable_int(b, "version", s->version != 0, s->version);
        json_builder_set_member_name(b, "machine");
        if (s->machine) {
            json_builder_add_string_value(b, s->machine);
        } else {
            json_builder_add_null_value(b);
        }
        json_builder_set_member_name(b, "capabilities");
        json_builder_begin_array(b);
        for (guint i = 0; i < s->caps->len; i++) {
            json_builder_add_string_value(b, s->caps->pdata[i]);
        }
        json_builder_end_array(b);
        add_nullable_int(b, "target_page_bits", s->has_page_bits, s->page_bits);
        json_builder_set_member_name(b, "uuid");
        if (s->has_uuid) {
            g_autofree char *h = hex(s->uuid, 16);
            json_builder_add_string_value(b, h);
        } else {
            json_builder_add_null_value(b);
        }
        add_nullable_int(b, "ram_total", s->has_total, s->ram_total);
        json_builder_set_member_name(b, "ramblocks");
        json_builder_begin_array(b);
        for (guint i = 0; i < s->blocks->len; i++) {
            const BlockRow *r = &g_array_index(s->blocks, BlockRow, i);

            json_builder_begin_object(b);
            add_str(b, "name", r->name);
            add_int(b, "length", (gint64)r->length);
            add_nullable_int(b, "page_size", r->has_page_size, r->page_size);
            add_nullable_int(b, "addr", r->has_addr, r->addr);
            add_nullable_int(b, "mapped_ram_pages_offset", r->has_mapped_ram,
                             r->pages_offset);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_set_member_name(b, "sections");
        json_builder_begin_array(b);
        for (guint i = 0; i < s->sections->len; i++) {
            const SectionRow *r = &g_array_index(s->sections, SectionRow, i);

            json_builder_begin_object(b);
            add_int(b, "id", r->id);
            add_str(b, "name", r->name);
            add_int(b, "instance", r->instance);
            add_int(b, "version", r->version);
            add_int(b, "bytes", (gint64)r->bytes);
            add_int(b, "headers", r->headers);
            add_bool(b, "scanned", r->scanned > 0);
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        add_items(b, "commands", s->commands);
        json_builder_set_member_name(b, "pages");
        json_builder_begin_object(b);
        for (int k = 0; k < MIG_PAGE_KIND_COUNT; k++) {
            json_builder_set_member_name(b, mig_page_kind_name(k));
            json_builder_add_int_value(b, (gint64)st->pages[k]);
        }
        json_builder_end_object(b);
        add_int(b, "page_bytes", (gint64)st->page_bytes);
        if (s->conv) {
            add_rounds(b, s->conv);
        }
        add_int(b, "ram_eos", s->ram_eos);
        add_int(b, "multifd_flush", s->ram_flush);
        add_bool(b, "eof", s->eof);
        add_bool(b, "vmdesc", s->vmdesc);
        json_builder_set_member_name(b, "boundaries");
        json_builder_begin_object(b);
        add_int(b, "scanned", st->scanned_boundaries);
        add_nullable_int(b, "confirmed", s->checked, s->confirmed);
        add_nullable_int(b, "mismatched", s->checked, s->mismatched);
        json_builder_end_object(b);
    } else if (s->channel == MIG_CHANNEL_RETURN_PATH) {
        add_items(b, "messages", s->messages);
    } else {
        add_nullable_int(b, "channel_id", s->has_mf_init, s->mf_channel);
        add_int(b, "packets", (gint64)st->multifd_packets);
        add_int(b, "sync_packets", (gint64)s->mf_sync);
        add_int(b, "device_state_packets", (gint64)s->mf_device_state);
        json_builder_set_member_name(b, "pages");
        json_builder_begin_object(b);
        add_int(b, "normal", (gint64)st->multifd_pages);
        add_int(b, "zero", (gint64)st->multifd_zero_pages);
        json_builder_end_object(b);
    }
    add_int(b, "bytes", (gint64)st->bytes);
    add_bool(b, "certain", s->certain);
    json_builder_set_member_name(b, "error");
    if (err) {
        json_builder_begin_object(b);
        add_str(b, "message", err->message);
        add_int(b, "offset", (gint64)err_offset);
        add_str(b, "kind", error_kind(err));
        json_builder_end_object(b);
    } else {
        json_builder_add_null_value(b);
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
}

static char *human_size(uint64_t v)
{
    return g_format_size_full(v, G_FORMAT_SIZE_IEC_UNITS);
}

static void print_rounds(MpConvergence *conv)
{
    mp_convergence_stop(conv, 0);
    if (mp_convergence_n_rounds(conv) > 0) {
        printf("rounds over RAM (%u):\n", mp_convergence_n_rounds(conv));
    }
    for (guint i = 0; i < mp_convergence_n_rounds(conv); i++) {
        const MpRound *r = mp_convergence_round(conv, i);

        printf("  %5u  %10" G_GUINT64_FORMAT " pages, %10" G_GUINT64_FORMAT
               " sent again, %12" G_GUINT64_FORMAT " bytes\n",
               r->index, r->pages, r->pages_again, r->bytes);
    }
}

static void print_text(const char *path, const Summary *s, const MigDecoderStats *st,
                       const GError *err)
{
    printf("stream: %s (%" G_GUINT64_FORMAT " bytes decoded, %s channel)\n",
           path, st->bytes, mig_channel_name(s->channel));
    if (s->channel == MIG_CHANNEL_RETURN_PATH) {
        printf("return-path messages (%u):\n", s->messages->len);
        for (guint i = 0; i < s->messages->len; i++) {
            printf("%s\n", ((Item *)s->messages->pdata[i])->line);
        }
    } else if (s->channel == MIG_CHANNEL_MULTIFD) {
        if (s->has_mf_init) {
            printf("multifd channel %u\n", s->mf_channel);
        }
        printf("packets: %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " sync, %"
               G_GUINT64_FORMAT " device state)\n", st->multifd_packets,
               s->mf_sync, s->mf_device_state);
        printf("pages: normal %" G_GUINT64_FORMAT ", zero %" G_GUINT64_FORMAT "\n",
               st->multifd_pages, st->multifd_zero_pages);
    } else {
        if (s->version) {
            printf("header: QEVM, stream version %u\n", s->version);
        }
        printf("machine: %s\n", s->machine ? s->machine : "(no configuration section)");
        printf("capabilities:");
        for (guint i = 0; i < s->caps->len; i++) {
            printf(" %s", (char *)s->caps->pdata[i]);
        }
        printf("%s\n", s->caps->len ? "" : " (none announced)");
        if (s->has_page_bits) {
            printf("target page bits: %u\n", s->page_bits);
        }
        if (s->has_uuid) {
            g_autofree char *h = hex(s->uuid, 16);
            printf("uuid: %s\n", h);
        }
        if (s->has_total) {
            g_autofree char *t = human_size(s->ram_total);
            printf("RAM blocks (%u, total 0x%" G_GINT64_MODIFIER "x = %s):\n",
                   s->blocks->len, s->ram_total, t);
            printf("  %-28s %18s %10s %18s\n", "name", "used_length", "page_size", "addr");
            for (guint i = 0; i < s->blocks->len; i++) {
                const BlockRow *r = &g_array_index(s->blocks, BlockRow, i);
                g_autofree char *ps = r->has_page_size ? human_size(r->page_size) : g_strdup("-");
                g_autofree char *ad = r->has_addr ? g_strdup_printf("0x%" G_GINT64_MODIFIER "x", r->addr)
                                                  : g_strdup("-");
                printf("  %-28s %#18" G_GINT64_MODIFIER "x %10s %18s", r->name, r->length, ps, ad);
                if (r->has_mapped_ram) {
                    printf("  mapped-ram pages at 0x%" G_GINT64_MODIFIER "x", r->pages_offset);
                }
                printf("\n");
            }
        }
        printf("sections (%u):\n", s->sections->len);
        printf("  %5s  %-36s %8s %7s %6s %12s\n", "id", "name", "instance", "version",
               "chunks", "bytes");
        for (guint i = 0; i < s->sections->len; i++) {
            const SectionRow *r = &g_array_index(s->sections, SectionRow, i);
            printf("  %5u  %-36s %8u %7u %6u %12" G_GUINT64_FORMAT "%s\n", r->id, r->name,
                   r->instance, r->version, r->headers, r->bytes,
                   r->scanned ? "  (end found by footer scan)" : "");
        }
        printf("commands (%u):\n", s->commands->len);
        for (guint i = 0; i < s->commands->len; i++) {
            printf("%s\n", ((Item *)s->commands->pdata[i])->line);
        }
        printf("pages: zero %" G_GUINT64_FORMAT ", normal %" G_GUINT64_FORMAT
               ", xbzrle %" G_GUINT64_FORMAT ", compressed %" G_GUINT64_FORMAT
               " (%" G_GUINT64_FORMAT " bytes of page data); %u EOS, %u multifd flush\n",
               st->pages[MIG_PAGE_ZERO], st->pages[MIG_PAGE_NORMAL],
               st->pages[MIG_PAGE_XBZRLE], st->pages[MIG_PAGE_COMPRESSED],
               st->page_bytes, s->ram_eos, s->ram_flush);
        if (s->conv) {
            print_rounds(s->conv);
        }
        if (s->vmdesc) {
            printf("VMDESCRIPTION: %u bytes of JSON\n", s->vmdesc_length);
        }
        if (st->scanned_boundaries) {
            if (s->checked) {
                printf("device sections delimited by footer scan: %u, confirmed by "
                       "VMDESCRIPTION: %u, mismatched: %u%s%s\n", s->scanned, s->confirmed,
                       s->mismatched, s->first_mismatch ? " (first: " : "",
                       s->first_mismatch ? s->first_mismatch : "");
                if (s->first_mismatch) {
                    printf(")\n");
                }
            } else {
                printf("device sections delimited by footer scan: %u (not confirmed: "
                       "no VMDESCRIPTION)\n", st->scanned_boundaries);
            }
        }
    }
    if (err) {
        printf("end: FAILED: %s\n", err->message);
    } else {
        printf("end: clean%s%s\n", s->eof ? " (EOF)" : "",
               s->certain ? "" : "; some boundaries are unconfirmed guesses");
    }
}

/* 0 decoded to a clean end, 1 not (@err), 2 a read error (said here). */
static int decode_source(MpStreamSource *src, MigDecoder *dec, size_t chunk, GError **err)
{
    GError *io = NULL;

    switch (mp_stream_source_decode(src, dec, chunk, &io)) {
    case MP_STREAM_FILE_OK:
        return 0;
    case MP_STREAM_FILE_UNDECODABLE:
        g_propagate_error(err, io);
        return 1;
    case MP_STREAM_FILE_IO:
        break;
    }
    fprintf(stderr, "migdump: %s\n", io->message);
    g_error_free(io);
    return 2;
}

/*
 * @path opened as a stream (a stream file or a capture's first migration),
 * or NULL when it cannot be, said on stderr: a profile is not a stream.
 */
static MpStreamSource *open_stream(const char *path)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MpStreamSource) src = mp_stream_source_open(path, &err);
    g_autofree char *note = NULL;

    if (!src) {
        fprintf(stderr, "migdump: %s\n", err->message);
        return NULL;
    }
    if (mp_stream_source_kind(src) == MP_STREAM_SOURCE_PROFILE) {
        fprintf(stderr, "migdump: %s: a profile, not a stream\n", path);
        return NULL;
    }
    note = mp_stream_source_note(src);
    if (note) {
        fprintf(stderr, "migdump: %s\n", note);
    }
    return g_steal_pointer(&src);
}

/* Findings as "severity code: message" lines, or a JSON list with @json. */
static void print_findings(const MpReport *report, bool json)
{
    if (json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *text = NULL;

        json_builder_begin_array(b);
        for (guint i = 0; i < mp_report_count(report); i++) {
            JsonNode *node = json_node_alloc();

            json_node_take_object(json_node_init(node, JSON_NODE_OBJECT),
                                  mp_finding_to_json(mp_report_get(report, i),
                                                     "source", "destination"));
            json_builder_add_value(b, node);
        }
        json_builder_end_array(b);
        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        json_generator_set_pretty(gen, TRUE);
        text = json_generator_to_data(gen, NULL);
        printf("%s\n", text);
        return;
    }
    for (guint i = 0; i < mp_report_count(report); i++) {
        const MpFinding *f = mp_report_get(report, i);

        printf("%s %s: %s\n", mp_severity_name(f->severity), f->code, f->message);
    }
    printf("%u finding(s), %u error(s)\n", mp_report_count(report),
           mp_report_count_severity(report, MP_SEVERITY_ERROR));
}

static void on_device_event(const MigEvent *ev, void *opaque)
{
    device_log_event(opaque, ev);
}

/*
 * The section headers of @src's stream, or NULL when it did not decode to
 * a clean end (said on stderr).
 */
static DeviceLog *sections_of(MpStreamSource *src, uint32_t page_size, size_t chunk)
{
    MigDecoderConfig cfg = { .channel = MIG_CHANNEL_MAIN, .target_page_size = page_size };
    g_autoptr(GError) err = NULL;
    DeviceLog *log = device_log_new();
    MigDecoder *dec = mig_decoder_new(&cfg, on_device_event, log);
    int rc = decode_source(src, dec, chunk, &err);

    if (rc == 1) {
        fprintf(stderr, "migdump: %s: %s\n", mp_stream_source_path(src), err->message);
    }
    mig_decoder_free(dec);
    if (rc) {
        device_log_free(log);
        return NULL;
    }
    return log;
}

static int compare_devices(const char *src_path, const char *dst_path, uint32_t page_size,
                           size_t chunk, bool json)
{
    g_autoptr(MpStreamSource) src_stream = open_stream(src_path);
    g_autoptr(MpStreamSource) dst_stream = src_stream ? open_stream(dst_path) : NULL;
    DeviceLog *src = dst_stream ? sections_of(src_stream, page_size, chunk) : NULL;
    DeviceLog *dst = src ? sections_of(dst_stream, page_size, chunk) : NULL;
    g_autoptr(MpReport) report = NULL;
    int rc;

    if (!src || !dst) {
        device_log_free(src);
        return 2;
    }
    report = mp_report_new();
    mp_check_device_set(report, device_log_sections(src), device_log_sections(dst));
    print_findings(report, json);
    rc = mp_report_verdict(report) == MP_VERDICT_ACCEPT ? 0 : 1;
    device_log_free(src);
    device_log_free(dst);
    return rc;
}

/* The "layouts" of the profile (JSON, not a stream) in @path. */
static MigVmstateDesc *profile_layouts(const char *path)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MpFacts) facts = mp_facts_load(path, &err);

    if (!facts) {
        fprintf(stderr, "migdump: %s\n", err->message);
        return NULL;
    }
    if (!facts->layouts) {
        fprintf(stderr, "migdump: %s: the profile has no device layouts (write it with "
                "migproxy probe --sections-from a precopy stream)\n", path);
        return NULL;
    }
    return g_steal_pointer(&facts->layouts);
}

/*
 * --description REF: the VMDESCRIPTION of the stream file or capture
 * @path, which must decode to a clean end, or the layouts of a profile.
 * NULL when it cannot be had (said on stderr).
 */
static MigVmstateDesc *load_reference(const char *path, uint32_t page_size, size_t chunk)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MpStreamSource) src = mp_stream_source_open(path, &err);
    DeviceLog *log;
    MigVmstateDesc *desc;

    if (!src) {
        fprintf(stderr, "migdump: %s\n", err->message);
        return NULL;
    }
    if (mp_stream_source_kind(src) == MP_STREAM_SOURCE_PROFILE) {
        return profile_layouts(path);
    }
    log = sections_of(src, page_size, chunk);
    if (!log) {
        return NULL;
    }
    if (!device_log_has_vmdesc(log)) {
        fprintf(stderr, "migdump: %s: no VMDESCRIPTION to describe devices by\n", path);
        device_log_free(log);
        return NULL;
    }
    desc = device_log_take_vmdesc(log);
    device_log_free(log);
    return desc;
}

/* Frees what the event handlers gathered in @s. */
static void summary_clear(Summary *s)
{
    for (guint i = 0; s->blocks && i < s->blocks->len; i++) {
        g_free(g_array_index(s->blocks, BlockRow, i).name);
    }
    for (guint i = 0; s->sections && i < s->sections->len; i++) {
        g_free(g_array_index(s->sections, SectionRow, i).name);
    }
    g_clear_pointer(&s->blocks, g_array_unref);
    g_clear_pointer(&s->sections, g_array_unref);
    g_clear_pointer(&s->section_index, g_hash_table_unref);
    g_clear_pointer(&s->caps, g_ptr_array_unref);
    g_clear_pointer(&s->commands, g_ptr_array_unref);
    g_clear_pointer(&s->messages, g_ptr_array_unref);
    g_clear_pointer(&s->machine, g_free);
    g_clear_pointer(&s->first_mismatch, g_free);
    g_clear_pointer(&s->devlog, device_log_free);
    g_clear_pointer(&s->conv, mp_convergence_free);
}

/*
 * --devices or --dest-vmstate once the stream was decoded (@decode_err is
 * the decoder's error, if any).  Returns the exit status.
 */
static int device_modes(Summary *s, MpStreamSource *src, bool devices,
                        const MigVmstateDesc *reference, const char *dest_vmstate, bool json,
                        const GError *decode_err)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MpVmstateDump) dump = NULL;
    g_autoptr(MpReport) report = NULL;

    if (decode_err) {
        fprintf(stderr, "migdump: %s: %s\n", mp_stream_source_path(src), decode_err->message);
    }
    if (devices) {
        if (decode_err && !reference && !device_log_has_vmdesc(s->devlog)) {
            fprintf(stderr, "migdump: the stream did not decode to its end, where the "
                    "VMDESCRIPTION that describes device fields comes\n");
            return 1;
        }
        return device_log_print(s->devlog, src, reference, json, stdout);
    }
    dump = mp_vmstate_dump_load(dest_vmstate, &err);
    if (!dump) {
        fprintf(stderr, "migdump: %s: %s\n", dest_vmstate, err->message);
        return 2;
    }
    report = mp_report_new();
    mp_check_section_versions(report, device_log_sections(s->devlog), dump);
    if (device_log_vmdesc(s->devlog)) {
        mp_check_subsections(report, device_log_sections(s->devlog),
                             device_log_vmdesc(s->devlog), dump);
    }
    print_findings(report, json);
    return mp_report_verdict(report) == MP_VERDICT_ACCEPT ? 0 : 1;
}

int main(int argc, char **argv)
{
    gboolean json = FALSE, events = FALSE, devices = FALSE, compare = FALSE;
    g_autofree char *channel = NULL, *dest_vmstate = NULL, *extract = NULL,
                     *timeline = NULL, *description = NULL;
    g_autoptr(MigVmstateDesc) reference = NULL;
    gint page_size = 4096, chunk = 256 * 1024;
    GOptionEntry entries[] = {
        { "json", 'j', 0, G_OPTION_ARG_NONE, &json, "print one JSON object", NULL },
        { "events", 'e', 0, G_OPTION_ARG_NONE, &events, "print every decoder event", NULL },
        { "channel", 'c', 0, G_OPTION_ARG_STRING, &channel,
          "main (default), return-path, multifd, preempt or recovery", "KIND" },
        { "page-size", 0, 0, G_OPTION_ARG_INT, &page_size,
          "target page size when the stream does not say (default 4096)", "BYTES" },
        { "chunk", 0, 0, G_OPTION_ARG_INT, &chunk,
          "feed the decoder this many bytes at a time", "BYTES" },
        { "devices", 'd', 0, G_OPTION_ARG_NONE, &devices,
          "print every device section field by field (from the VMDESCRIPTION)", NULL },
        { "description", 0, 0, G_OPTION_ARG_FILENAME, &description,
          "with --devices: describe devices by the VMDESCRIPTION of REF, a stream file or "
          "capture of the same configuration, or by a profile's layouts (FILE needs none "
          "of its own)", "REF" },
        { "dest-vmstate", 0, 0, G_OPTION_ARG_FILENAME, &dest_vmstate,
          "check section versions against a destination's -dump-vmstate FILE", "FILE" },
        { "extract", 0, 0, G_OPTION_ARG_FILENAME, &extract,
          "write each connection's bytes per direction from a full capture into DIR", "DIR" },
        { "timeline", 0, 0, G_OPTION_ARG_FILENAME, &timeline,
          "draw a capture's first migration as an SVG picture in FILE", "FILE" },
        { "compare-devices", 0, 0, G_OPTION_ARG_NONE, &compare,
          "compare the sections of SRC with those of DST (stream files or captures)", NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("FILE|-  |  --compare-devices SRC DST");
    g_autoptr(GError) err = NULL;
    Summary s = { 0 };
    MigDecoderConfig cfg = { 0 };
    MigDecoder *dec;
    const char *path;
    g_autoptr(MpStreamSource) src = NULL;
    MpStreamSourceKind kind;
    int rc, status;
    bool ok = true;
    uint64_t err_offset = 0;

    g_option_context_set_summary(ctx, "Decode a QEMU migration stream and summarise it.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != (compare ? 3 : 2) ||
        chunk <= 0 || page_size < 1024 || (page_size & (page_size - 1)) ||
        (compare + devices + (dest_vmstate != NULL) > 1) || (description && !devices) ||
        ((compare || devices || dest_vmstate) && (events || channel))) {
        fprintf(stderr, "migdump: %s\nusage: migdump [--json|--events] [--channel KIND] FILE|-\n"
                "       migdump --devices [--description REF] [--json] FILE\n"
                "       migdump --dest-vmstate DUMP [--json] FILE\n"
                "       migdump --compare-devices [--json] SRC DST\n"
                "       migdump [--json] CAPTURE | --extract DIR CAPTURE | --timeline FILE.svg CAPTURE\n",
                err ? err->message : "expected one FILE (two with --compare-devices), a "
                "positive --chunk, a power-of-two --page-size, and one device mode at most, "
                "on the main channel");
        return 2;
    }
    if (compare) {
        return compare_devices(argv[1], argv[2], (uint32_t)page_size, (size_t)chunk, json);
    }
    cfg.channel = MIG_CHANNEL_MAIN;
    if (channel) {
        static const MigChannelKind kinds[] = { MIG_CHANNEL_MAIN, MIG_CHANNEL_RETURN_PATH,
            MIG_CHANNEL_MULTIFD, MIG_CHANNEL_PREEMPT, MIG_CHANNEL_RECOVERY };
        bool found = false;

        for (guint i = 0; i < G_N_ELEMENTS(kinds); i++) {
            if (!strcmp(channel, mig_channel_name(kinds[i]))) {
                cfg.channel = kinds[i];
                found = true;
            }
        }
        if (!found) {
            fprintf(stderr, "migdump: unknown channel '%s'\n", channel);
            return 2;
        }
    }
    cfg.target_page_size = (uint32_t)page_size;
    path = argv[1];
    if (extract || timeline) {
        return capture_dump(path, json, extract, timeline);
    }
    if (description) {
        reference = load_reference(description, (uint32_t)page_size, (size_t)chunk);
        if (!reference) {
            return 2;
        }
    }
    if (!mp_stream_source_peek(path, &kind, &err)) {
        fprintf(stderr, "migdump: %s\n", err->message);
        return 2;
    }
    if (kind == MP_STREAM_SOURCE_CAPTURE && channel) {
        fprintf(stderr, "migdump: %s: a capture is read as its first migration's main "
                "connection; see the others with migdump CAPTURE or --extract\n", path);
        return 2;
    }
    /* a file written by migproxy --capture: its own summary, unless a mode
     * that reads one stream was asked for */
    if (kind == MP_STREAM_SOURCE_CAPTURE && !devices && !dest_vmstate && !events) {
        return capture_dump(path, json, NULL, NULL);
    }
    src = open_stream(path);
    if (!src) {
        return 2;
    }
    if (devices && !mp_stream_source_seekable(src)) {
        fprintf(stderr, "migdump: --devices reads device payloads back: give a file, "
                "not a pipe\n");
        return 2;
    }

    s.channel = cfg.channel;
    s.print_events = events;
    s.caps = g_ptr_array_new_with_free_func(g_free);
    s.blocks = g_array_new(FALSE, TRUE, sizeof(BlockRow));
    s.sections = g_array_new(FALSE, TRUE, sizeof(SectionRow));
    s.section_index = g_hash_table_new(g_direct_hash, g_direct_equal);
    s.commands = g_ptr_array_new_with_free_func(item_free);
    s.messages = g_ptr_array_new_with_free_func(item_free);
    if (devices || dest_vmstate) {
        s.devlog = device_log_new();
    } else if (!events && cfg.channel == MIG_CHANNEL_MAIN) {
        s.conv = mp_convergence_new((uint32_t)page_size);
        cfg.flags |= MIG_DECODER_PAGE_EVENTS;
    }
    dec = mig_decoder_new(&cfg, on_event, &s);

    rc = decode_source(src, dec, (size_t)chunk, &err);
    ok = rc == 0;
    if (rc == 1) {
        err_offset = mig_decoder_error_offset(dec);
    }
    s.certain = mig_decoder_certain(dec);
    if (rc == 2) {
        status = 2;
    } else if (devices || dest_vmstate) {
        status = device_modes(&s, src, devices, reference, dest_vmstate, json, err);
        status = ok ? status : MAX(status, 1);
    } else {
        if (json) {
            print_json(&s, mig_decoder_stats(dec), err, err_offset);
        } else if (!events) {
            print_text(path, &s, mig_decoder_stats(dec), err);
        } else if (err) {
            printf("error: %s\n", err->message);
        }
        if (err && (json || events)) {
            fprintf(stderr, "migdump: %s: %s\n", path, err->message);
        }
        status = ok ? 0 : 1;
    }
    mig_decoder_free(dec);
    summary_clear(&s);
    return status;
}
