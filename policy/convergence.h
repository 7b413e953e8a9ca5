/*
 * convergence.h - whether a precopy migration is converging, as seen on the
 * wire: passes over RAM, the pages each pass sent and sent again, the dirty
 * rate they imply, and the policy's limits on them.
 *
 * QEMU scans its dirty bitmap in RAM-block order and by rising offset, so a
 * pass over RAM shows on the wire as the page position of a channel going
 * back down: that is where one round ends and the next begins.  With
 * multifd each channel gets pages in scan order, so each channel is watched
 * on its own and the migration's round is the furthest any channel has got.
 * No I/O: the caller feeds page records with its own clock.
 */
#ifndef MP_POLICY_CONVERGENCE_H
#define MP_POLICY_CONVERGENCE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include "check.h"
#include "decoder.h"

G_BEGIN_DECLS

/* Pages whose "sent before" bit is kept: 2^28 pages is 1 TiB of 4 KiB
 * pages, a 32 MiB bitmap; pages beyond it count as sent once. */
#define MP_CONVERGENCE_MAX_TRACKED_PAGES (1u << 28)
/* Channels told apart (main plus multifd; QEMU allows 255 multifd). */
#define MP_CONVERGENCE_MAX_CHANNELS 256u
/* Rounds kept (48 bytes each); later pages count in the last one. */
#define MP_CONVERGENCE_MAX_ROUNDS 65536u

typedef struct {
    guint index;              /* 1: the first pass (every page once) */
    gint64 start_ns;          /* caller's clock; 0 when it has none */
    gint64 end_ns;
    uint64_t bytes;           /* page records and multifd packets */
    uint64_t pages;
    uint64_t pages_again;     /* pages this migration had sent before */
} MpRound;

typedef struct MpConvergence MpConvergence;

MpConvergence *mp_convergence_new(uint32_t target_page_size);
void mp_convergence_free(MpConvergence *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MpConvergence, mp_convergence_free)

/* The RAM-block list, in stream order (the order QEMU scans in). */
void mp_convergence_add_block(MpConvergence *c, const char *name, uint64_t length);

/*
 * One page sent on @channel (0 = main, multifd channels after it).  It
 * counts in its channel's round.  Returns TRUE when rounds became final
 * (mp_convergence_n_rounds() grew; see close_rounds() for when).  Pages of
 * a block not in the list, or past its end, are counted but not placed.
 */
bool mp_convergence_page(MpConvergence *c, guint channel, const char *block,
                         uint64_t offset, gint64 now_ns);
/*
 * Feed one decoder event of @channel (0 = main, multifd channels after it):
 * the RAM-block list, page records, multifd packets, and the points where
 * the source stops iterating (device state, postcopy, EOF).  The main
 * channel's decoder must have MIG_DECODER_PAGE_EVENTS.  Returns TRUE when
 * a round was closed.
 */
bool mp_convergence_feed(MpConvergence *c, guint channel, const MigEvent *ev, gint64 now_ns);

/* Wire bytes that carried pages on @channel (headers and payloads). */
void mp_convergence_bytes(MpConvergence *c, guint channel, uint64_t bytes);

/*
 * The source stopped iterating (device state, or postcopy began): the open
 * rounds become final and later pages no longer count.  Returns TRUE when
 * rounds became final by this call.
 */
bool mp_convergence_stop(MpConvergence *c, gint64 now_ns);
bool mp_convergence_stopped(const MpConvergence *c);

/* Final rounds, oldest first. */
guint mp_convergence_n_rounds(const MpConvergence *c);
const MpRound *mp_convergence_round(const MpConvergence *c, guint index);
/* Everything fed so far, the open round included. */
uint64_t mp_convergence_total_bytes(const MpConvergence *c);
uint64_t mp_convergence_total_pages(const MpConvergence *c);
uint64_t mp_convergence_total_pages_again(const MpConvergence *c);
/* Bytes per second the guest dirtied in @r as the wire shows it: pages
 * sent again times the page size over the round's time; 0 without time. */
double mp_round_dirty_rate(const MpRound *r, uint32_t target_page_size);

/*
 * The policy's limits (policy/FINDINGS.md, "convergence-bytes",
 * "convergence-stalled"): adds each finding at most once per migration, so
 * it may be called as often as the caller likes.  @ram_total is the
 * source's RAM (the stream's total).  Returns the finding added now, or NULL.
 */
const MpFinding *mp_check_convergence(MpConvergence *c, uint64_t ram_total,
                                      const MpPolicy *policy, MpReport *report);

G_END_DECLS

#endif
