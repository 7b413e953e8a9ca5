/*
 * convergence.c - rounds over RAM as the wire shows them, and the policy's
 * limits on a migration that does not converge (see convergence.h).
 */
#include <string.h>
#include "convergence.h"

typedef struct {
    char *name;
    uint64_t length;
    uint64_t first_page;          /* index of its first page in the bitmap */
    uint64_t n_pages;             /* 0: not tracked (over the limit) */
} Block;

typedef struct {
    guint round;                  /* 0 before its first placed page */
    guint block;                  /* position of its last page */
    uint64_t offset;
} ChannelPos;

struct MpConvergence {
    uint32_t page_size;
    GArray *blocks;               /* Block */
    GHashTable *block_index;      /* name -> index + 1 */
    uint64_t tracked_pages;
    guint8 *sent;                 /* one bit per tracked page, lazily */
    ChannelPos channels[MP_CONVERGENCE_MAX_CHANNELS];
    guint n_channels;             /* channels[] below this have had a placed page */
    GArray *rounds;               /* MpRound: index k - 1 is round k */
    guint closed;                 /* rounds 1..closed are final */
    uint64_t total_bytes, total_pages, total_again;
    bool stopped;
    bool reported_bytes, reported_stalled;
};

MpConvergence *mp_convergence_new(uint32_t target_page_size)
{
    MpConvergence *c = g_new0(MpConvergence, 1);

    c->page_size = target_page_size ? target_page_size : 4096;
    c->blocks = g_array_new(FALSE, TRUE, sizeof(Block));
    c->block_index = g_hash_table_new(g_str_hash, g_str_equal);
    c->rounds = g_array_new(FALSE, TRUE, sizeof(MpRound));
    return c;
}

void mp_convergence_free(MpConvergence *c)
{
    if (!c) {
        return;
    }
    for (guint i = 0; i < c->blocks->len; i++) {
        g_free(g_array_index(c->blocks, Block, i).name);
    }
    g_array_free(c->blocks, TRUE);
    g_hash_table_destroy(c->block_index);
    g_array_free(c->rounds, TRUE);
    g_free(c->sent);
    g_free(c);
}

void mp_convergence_add_block(MpConvergence *c, const char *name, uint64_t length)
{
    Block b = { .name = g_strdup(name), .length = length };
    uint64_t pages = length / c->page_size + (length % c->page_size != 0);

    if (g_hash_table_contains(c->block_index, name) || c->sent) {
        /* a repeated name, or a list that grows after pages began: QEMU
         * never sends either; keep the first placement */
        g_free(b.name);
        return;
    }
    if (pages <= MP_CONVERGENCE_MAX_TRACKED_PAGES - c->tracked_pages) {
        b.first_page = c->tracked_pages;
        b.n_pages = pages;
        c->tracked_pages += pages;
    }
    g_array_append_val(c->blocks, b);
    g_hash_table_insert(c->block_index, b.name, GUINT_TO_POINTER(c->blocks->len));
}

static MpRound *round_get(MpConvergence *c, guint k)
{
    return &g_array_index(c->rounds, MpRound, k - 1);
}

/* Round @k exists (and every round before it), started at @now_ns. */
static void round_begin(MpConvergence *c, guint k, gint64 now_ns)
{
    while (c->rounds->len < k) {
        MpRound r = { .index = c->rounds->len + 1, .start_ns = now_ns };

        g_array_append_val(c->rounds, r);
    }
}

/*
 * Rounds become final in order.  Channels are read at different moments
 * (by the proxy, or one after the other offline), so a channel may still
 * be sending round k when another has begun k + 1: round k is final once
 * no channel is still in it, or once round k + 2 has begun (a channel that
 * carries no pages any more, such as 7.2's main channel under multifd once
 * no zero pages are left, must not hold it open).
 */
static bool close_rounds(MpConvergence *c)
{
    guint before = c->closed;

    while (c->closed < c->rounds->len) {
        guint k = c->closed + 1;
        bool still_in_k = false;

        for (guint i = 0; i < c->n_channels && !still_in_k; i++) {
            still_in_k = c->channels[i].round == k;
        }
        if (c->rounds->len < k + 1 || (still_in_k && c->rounds->len < k + 2)) {
            break;
        }
        round_get(c, k)->end_ns = round_get(c, k + 1)->start_ns;
        c->closed++;
    }
    return c->closed > before;
}

/* TRUE when the page was sent before; marks it sent. */
static bool mark_sent(MpConvergence *c, const Block *b, uint64_t offset)
{
    uint64_t bit;
    guint8 mask;
    bool before;

    if (!b->n_pages) {
        return false;
    }
    if (!c->sent) {
        c->sent = g_malloc0((gsize)(c->tracked_pages / 8 + 1));
    }
    bit = b->first_page + offset / c->page_size;
    mask = (guint8)(1u << (bit % 8));
    before = (c->sent[bit / 8] & mask) != 0;
    c->sent[bit / 8] |= mask;
    return before;
}

/* The round a page or byte of @channel belongs to (at least 1). */
static guint channel_round(MpConvergence *c, guint channel)
{
    guint k = channel < MP_CONVERGENCE_MAX_CHANNELS ? c->channels[channel].round : 0;

    return k ? k : MAX(c->rounds->len, 1u);
}

bool mp_convergence_page(MpConvergence *c, guint channel, const char *block,
                         uint64_t offset, gint64 now_ns)
{
    guint idx = block ? GPOINTER_TO_UINT(g_hash_table_lookup(c->block_index, block)) : 0;
    const Block *b = idx ? &g_array_index(c->blocks, Block, idx - 1) : NULL;
    bool placed = b && offset < b->length && channel < MP_CONVERGENCE_MAX_CHANNELS;
    bool advanced = false;      /* the channel began a round: rounds may become final */
    MpRound *r;
    guint k;

    if (c->stopped) {
        return false;
    }
    if (placed) {
        ChannelPos *pos = &c->channels[channel];

        if (pos->round == 0) {
            pos->round = MAX(c->closed + 1, 1u);
            c->n_channels = MAX(c->n_channels, channel + 1);
            advanced = true;
        } else if ((idx - 1 < pos->block || (idx - 1 == pos->block && offset < pos->offset)) &&
                   pos->round < MP_CONVERGENCE_MAX_ROUNDS) {
            pos->round++;
            advanced = true;
        }
        pos->block = idx - 1;
        pos->offset = offset;
    }
    k = channel_round(c, channel);
    round_begin(c, k, now_ns);
    r = round_get(c, k);
    if (placed && mark_sent(c, b, offset)) {
        r->pages_again++;
        c->total_again++;
    }
    r->pages++;
    c->total_pages++;
    return advanced && close_rounds(c);
}

void mp_convergence_bytes(MpConvergence *c, guint channel, uint64_t bytes)
{
    guint k;

    if (c->stopped) {
        return;
    }
    k = channel_round(c, channel);
    round_begin(c, k, 0);
    round_get(c, k)->bytes += bytes;
    c->total_bytes += bytes;
}

bool mp_convergence_feed(MpConvergence *c, guint channel, const MigEvent *ev, gint64 now_ns)
{
    bool closed = false;

    switch (ev->type) {
    case MIG_EV_RAMBLOCK:
        mp_convergence_add_block(c, ev->u.ramblock.idstr, ev->u.ramblock.used_length);
        break;
    case MIG_EV_RAM_PAGE:
        closed = mp_convergence_page(c, channel, ev->u.page.block, ev->u.page.offset, now_ns);
        mp_convergence_bytes(c, channel, ev->end - ev->offset);
        break;
    case MIG_EV_MULTIFD_PACKET: {
        const MigMultifdPacketEvent *pk = &ev->u.mf_packet;

        if (pk->offsets) {
            for (uint32_t i = 0; i < pk->n_offsets; i++) {
                closed |= mp_convergence_page(c, channel, pk->block,
                                              mig_multifd_page_offset(pk, i), now_ns);
            }
            mp_convergence_bytes(c, channel, ev->end - ev->offset);
        }
        break;
    }
    case MIG_EV_SECTION:
        /* the last round (END) and device state are the switchover */
        if (ev->u.section.type == QEMU_VM_SECTION_END ||
            (ev->u.section.type == QEMU_VM_SECTION_FULL && c->rounds->len > 0)) {
            closed = mp_convergence_stop(c, now_ns);
        }
        break;
    case MIG_EV_COMMAND:
        if (ev->u.command.cmd == MIG_CMD_POSTCOPY_LISTEN ||
            ev->u.command.cmd == MIG_CMD_POSTCOPY_RUN) {
            closed = mp_convergence_stop(c, now_ns);
        }
        break;
    case MIG_EV_PACKAGED_BEGIN:
    case MIG_EV_EOF:
        closed = mp_convergence_stop(c, now_ns);
        break;
    default:
        break;
    }
    return closed;
}

bool mp_convergence_stop(MpConvergence *c, gint64 now_ns)
{
    guint before = c->closed;

    if (c->stopped) {
        return false;
    }
    c->stopped = true;
    while (c->closed < c->rounds->len) {
        guint k = ++c->closed;

        round_get(c, k)->end_ns = k < c->rounds->len ? round_get(c, k + 1)->start_ns : now_ns;
    }
    return c->closed > before;
}

bool mp_convergence_stopped(const MpConvergence *c)
{
    return c->stopped;
}

guint mp_convergence_n_rounds(const MpConvergence *c)
{
    return c->closed;
}

const MpRound *mp_convergence_round(const MpConvergence *c, guint index)
{
    g_return_val_if_fail(index < c->closed, NULL);
    return &g_array_index(c->rounds, MpRound, index);
}

uint64_t mp_convergence_total_bytes(const MpConvergence *c)
{
    return c->total_bytes;
}

uint64_t mp_convergence_total_pages(const MpConvergence *c)
{
    return c->total_pages;
}

uint64_t mp_convergence_total_pages_again(const MpConvergence *c)
{
    return c->total_again;
}

double mp_round_dirty_rate(const MpRound *r, uint32_t target_page_size)
{
    if (r->end_ns <= r->start_ns) {
        return 0;
    }
    return (double)r->pages_again * target_page_size * 1e9 / (double)(r->end_ns - r->start_ns);
}

/* Closed rounds after the second whose page count did not shrink, counted
 * back from the last one. */
static guint rounds_without_progress(const MpConvergence *c)
{
    guint n = 0;

    for (guint i = c->closed; i >= 3; i--) {
        const MpRound *r = &g_array_index(c->rounds, MpRound, i - 1);
        const MpRound *before = &g_array_index(c->rounds, MpRound, i - 2);

        if (r->pages < before->pages) {
            break;
        }
        n++;
    }
    return n;
}

static const char *const convergence_hint =
    "enable postcopy-ram and run migrate-start-postcopy, enable auto-converge, "
    "or raise max-bandwidth";

const MpFinding *mp_check_convergence(MpConvergence *c, uint64_t ram_total,
                                      const MpPolicy *policy, MpReport *report)
{
    g_autoptr(MpPolicy) defaults = policy ? NULL : mp_policy_new();

    if (!policy) {
        policy = defaults;
    }
    if (policy->max_bytes_ratio > 0 && ram_total > 0 && !c->reported_bytes &&
        (double)c->total_bytes > policy->max_bytes_ratio * (double)ram_total) {
        g_autofree char *sent = mp_format_size(c->total_bytes);
        g_autofree char *ram = mp_format_size(ram_total);
        g_autofree char *src = g_strdup_printf("%s sent in %u rounds", sent, c->rounds->len);
        g_autofree char *limit = g_strdup_printf("at most %g x %s", policy->max_bytes_ratio, ram);

        c->reported_bytes = true;
        return mp_report_add(report, "convergence-bytes", "RAM sent", src, limit,
                             convergence_hint,
                             "the source has sent %s of pages for %s of RAM, more than "
                             "%g times its RAM, and is still iterating",
                             sent, ram, policy->max_bytes_ratio);
    }
    if (policy->max_stalled_rounds > 0 && !c->reported_stalled) {
        guint stalled = rounds_without_progress(c);

        if (stalled >= policy->max_stalled_rounds) {
            const MpRound *last = round_get(c, c->closed);
            g_autofree char *src = g_strdup_printf("%u rounds without fewer pages (last: round %u, "
                                                   "%" G_GUINT64_FORMAT " pages, %"
                                                   G_GUINT64_FORMAT " sent again)",
                                                   stalled, last->index, last->pages,
                                                   last->pages_again);
            g_autofree char *limit = g_strdup_printf("at most %u", policy->max_stalled_rounds);

            c->reported_stalled = true;
            return mp_report_add(report, "convergence-stalled", "RAM rounds", src, limit,
                                 convergence_hint,
                                 "the guest dirties its memory as fast as it is sent: "
                                 "%u rounds over RAM in a row sent no fewer pages than "
                                 "the round before", stalled);
        }
    }
    return NULL;
}
