/*
 * devgate.h - the device-state gate of one session: checks each device
 * section header as it arrives (against the destination's PCI devices and
 * CPUs, and its own section list when the profile has one) and, when a
 * verdict cannot rest on what is known yet, holds the device state until it
 * can.  No I/O: the proxy feeds it the main channel's events and chunks and
 * asks what to do with each chunk.
 *
 * Why a hold: QEMU's device sections carry no length, so after the first
 * one every boundary is a guess until the VMDESCRIPTION after EOF confirms
 * it, and no verdict rests on a guess.  Holding the bytes from the
 * switchover to that confirmation (a few hundred KiB for a small VM, the VM
 * already stopped) lets a finding on a guessed header become certain
 * before anything of that section reaches the destination; the source,
 * seeing its connection cut, fails its migration and resumes its VM (with
 * the return-path capability, or a stream larger than the socket buffers).
 *
 * When a hold starts:
 *   - --hold-device-state: at the first FULL section after the RAM setup
 *     (QEMU 7.2 sends the device state as FULL sections after the last RAM
 *     iteration, with the VM stopped);
 *   - without it: at a header after a guessed boundary that a check finds
 *     wrong (a suspicion hold); nothing is held while all is well.
 * When it ends: at EOF when no boundary was guessed, else at the
 * VMDESCRIPTION's check of the guessed boundaries, at the end of the input,
 * when the decoder loses the stream, after MP_HOLD_TIMEOUT_S, or when more
 * than MP_LIMIT_DEVICE_STATE_HOLD bytes would be held.  The last two add
 * a finding (device-state-hold-timeout, device-state-over-limit; warnings
 * by default: the held bytes are released and the rest forwarded; as
 * errors, via the policy's [severity], the migration is cut).  Then:
 * confirmed findings that are errors cut the migration; findings on
 * boundaries still unconfirmed become warnings and the bytes are released.
 * In postcopy the device state travels in a PACKAGED blob that ends with
 * POSTCOPY_RUN: the whole blob is always held (bounded as above) and judged
 * at its end, where the blob's own length confirms the boundaries found in
 * it; an error cuts the migration before the guest could start at the
 * destination.  One hold per session.
 *
 * With the destination's device layouts in its profile (MpFacts.layouts),
 * a hold that ends with its boundaries confirmed also walks every FULL
 * section it holds with the destination's layout (policy/device-layout.h)
 * before releasing: a section that does not fit (device-layout, an error
 * by default) cuts, one that cannot be judged is an info finding.
 */
#ifndef MP_PROXY_DEVGATE_H
#define MP_PROXY_DEVGATE_H

#include <glib.h>
#include "check.h"
#include "decoder.h"
#include "facts.h"
#include "findings.h"

G_BEGIN_DECLS

/* at most this much device state is held (a 7.2 pc VM sends ~100 KiB plus VGA) */
#define MP_LIMIT_DEVICE_STATE_HOLD (4u * 1024u * 1024u)
/* a hold unresolved after this long is given up (see above) */
#define MP_HOLD_TIMEOUT_S 5

typedef enum {
    MP_DEVGATE_PASS,            /* forward the chunk */
    MP_DEVGATE_HOLD,            /* keep it (mp_devgate_keep) */
    MP_DEVGATE_RELEASE,         /* keep it, then write everything held */
    MP_DEVGATE_CUT,             /* forward nothing more */
} MpDevGateAction;

typedef struct MpDevGate MpDevGate;
typedef void (*MpDevGateEmit)(const MpFinding *f, void *opaque);

MpDevGate *mp_devgate_new(bool hold_all, const MpPolicy *policy, MpDevGateEmit emit,
                          void *opaque);
void mp_devgate_free(MpDevGate *g);

/* Every event of the main channel, from the first byte on. */
void mp_devgate_event(MpDevGate *g, const MigEvent *ev);
/* The decoder lost the stream: nothing more can be confirmed. */
void mp_devgate_lost(MpDevGate *g);

/*
 * Before the verdict: device state has arrived with the prefix and is
 * still being judged (wait for more of it before deciding).
 */
bool mp_devgate_pending(const MpDevGate *g);

/*
 * At the verdict: from now on findings go to @report (emitted by the
 * caller for this call, through the callback later).  Checks the headers
 * that came with the prefix (errors there make the verdict a rejection,
 * before the destination is contacted) and, with a section list in @dst,
 * what is known of the source (mp_check_sections_at_start).  @prefix: the
 * @len bytes of the main channel from its first byte that came before the
 * verdict (may be NULL); when the device state came with them and its
 * boundaries are confirmed, each of its FULL sections is walked with the
 * destination's layouts, findings into @report.
 */
void mp_devgate_gate(MpDevGate *g, const MpFacts *src, const MpFacts *dst,
                     const guint8 *prefix, gsize len, MpReport *report);
/* After the verdict, once a chunk has been fed: what to do with it. */
MpDevGateAction mp_devgate_poll(MpDevGate *g);
/*
 * Every chunk of the main channel's upstream, as it is fed to the decoder:
 * where the held bytes lie in the stream.
 */
void mp_devgate_fed(MpDevGate *g, gsize n);
/* Keep a chunk (the one just fed) during a hold; over the limit the hold ends (see above). */
void mp_devgate_keep(MpDevGate *g, const guint8 *data, gsize n);
/* On RELEASE: the held bytes (the caller owns them now). */
GByteArray *mp_devgate_take_held(MpDevGate *g);
/* The hold ran MP_HOLD_TIMEOUT_S: give up (see above); then poll. */
void mp_devgate_timeout(MpDevGate *g);

const char *mp_devgate_cut_reason(const MpDevGate *g);
/* Is a hold under way (or was one)?  Its start: the header's offset, monotonic time. */
bool mp_devgate_holding(const MpDevGate *g);
bool mp_devgate_hold_info(const MpDevGate *g, uint64_t *from_offset, uint64_t *from_end,
                          gint64 *start_us, uint64_t *bytes, bool *certain);

G_END_DECLS

#endif
