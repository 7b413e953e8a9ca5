/*
 * test-convergence.c - rounds over RAM (policy/convergence.c) on hand-made
 * page sequences: one channel, several channels read out of step, pages it
 * cannot place, the stop at the switchover, the tracking limit, and the
 * policy's limits and their keys.
 */
#include <string.h>
#include "convergence.h"

#define PAGE 4096u

static MpConvergence *two_blocks(void)
{
    MpConvergence *c = mp_convergence_new(PAGE);

    mp_convergence_add_block(c, "pc.ram", 8 * PAGE);
    mp_convergence_add_block(c, "vga.vram", 2 * PAGE);
    return c;
}

/* Every page of both blocks once, on @channel, in scan order. */
static void bulk_pass(MpConvergence *c, guint channel, gint64 *now)
{
    for (uint64_t p = 0; p < 8; p++) {
        mp_convergence_page(c, channel, "pc.ram", p * PAGE, (*now)++);
    }
    for (uint64_t p = 0; p < 2; p++) {
        mp_convergence_page(c, channel, "vga.vram", p * PAGE, (*now)++);
    }
}

static void test_one_channel(void)
{
    g_autoptr(MpConvergence) c = two_blocks();
    gint64 now = 100;

    bulk_pass(c, 0, &now);
    g_assert_cmpuint(mp_convergence_n_rounds(c), ==, 0);
    /* the guest dirtied pages 2 and 3: the scan starts over */
    g_assert_true(mp_convergence_page(c, 0, "pc.ram", 2 * PAGE, now++));
    g_assert_cmpuint(mp_convergence_n_rounds(c), ==, 1);
    g_assert_cmpuint(mp_convergence_round(c, 0)->pages, ==, 10);
    g_assert_cmpuint(mp_convergence_round(c, 0)->pages_again, ==, 0);
    g_assert_cmpint(mp_convergence_round(c, 0)->start_ns, ==, 100);
    g_assert_cmpint(mp_convergence_round(c, 0)->end_ns, ==, 110);
    g_assert_false(mp_convergence_page(c, 0, "pc.ram", 3 * PAGE, now++));
    g_assert_true(mp_convergence_stop(c, 200));
    g_assert_true(mp_convergence_stopped(c));
    g_assert_cmpuint(mp_convergence_n_rounds(c), ==, 2);
    g_assert_cmpuint(mp_convergence_round(c, 1)->index, ==, 2);
    g_assert_cmpuint(mp_convergence_round(c, 1)->pages, ==, 2);
    g_assert_cmpuint(mp_convergence_round(c, 1)->pages_again, ==, 2);
    g_assert_cmpint(mp_convergence_round(c, 1)->end_ns, ==, 200);
    /* 2 pages in 90 ns: 8192 bytes per 90e-9 s */
    g_assert_cmpfloat_with_epsilon(mp_round_dirty_rate(mp_convergence_round(c, 1), PAGE),
                                   2.0 * PAGE * 1e9 / 90, 1);
    /* after the stop nothing counts */
    g_assert_false(mp_convergence_page(c, 0, "pc.ram", 0, now++));
    g_assert_cmpuint(mp_convergence_total_pages(c), ==, 12);
    g_assert_false(mp_convergence_stop(c, 300));
}

/*
 * Multifd: channel 1 wraps before channel 2 has sent its last pages of the
 * bulk pass; those still count in round 1, and round 1 is final only when
 * channel 2 moves on too.
 */
static void test_channels_out_of_step(void)
{
    g_autoptr(MpConvergence) c = two_blocks();

    for (uint64_t p = 0; p < 4; p++) {
        mp_convergence_page(c, 1, "pc.ram", p * PAGE, 1);
    }
    mp_convergence_page(c, 2, "pc.ram", 4 * PAGE, 2);
    g_assert_false(mp_convergence_page(c, 1, "pc.ram", 0, 3));   /* round 2 on 1 */
    g_assert_cmpuint(mp_convergence_n_rounds(c), ==, 0);
    for (uint64_t p = 5; p < 8; p++) {
        g_assert_false(mp_convergence_page(c, 2, "pc.ram", p * PAGE, 4));
    }
    g_assert_true(mp_convergence_page(c, 2, "pc.ram", PAGE, 5)); /* round 2 on 2 */
    g_assert_cmpuint(mp_convergence_n_rounds(c), ==, 1);
    g_assert_cmpuint(mp_convergence_round(c, 0)->pages, ==, 8);
    g_assert_cmpuint(mp_convergence_round(c, 0)->pages_again, ==, 0);
    mp_convergence_stop(c, 6);
    g_assert_cmpuint(mp_convergence_round(c, 1)->pages, ==, 2);
    g_assert_cmpuint(mp_convergence_round(c, 1)->pages_again, ==, 2);
}

/* A channel that stops carrying pages (7.2's main channel under multifd
 * once the zero pages are sent) holds a round open only until the round
 * after the next begins. */
static void test_idle_channel(void)
{
    g_autoptr(MpConvergence) c = two_blocks();

    mp_convergence_page(c, 0, "pc.ram", 0, 1);                   /* main: a zero page */
    for (uint64_t p = 1; p < 8; p++) {
        mp_convergence_page(c, 1, "pc.ram", p * PAGE, 1);
    }
    mp_convergence_page(c, 1, "pc.ram", PAGE, 2);                /* round 2 */
    g_assert_cmpuint(mp_convergence_n_rounds(c), ==, 0);
    mp_convergence_page(c, 1, "pc.ram", 2 * PAGE, 3);
    g_assert_true(mp_convergence_page(c, 1, "pc.ram", PAGE, 4)); /* round 3 */
    /* round 1 waited for round 3; round 2, which no channel is in, with it */
    g_assert_cmpuint(mp_convergence_n_rounds(c), ==, 2);
    g_assert_cmpuint(mp_convergence_round(c, 0)->pages, ==, 8);
    g_assert_cmpuint(mp_convergence_round(c, 1)->pages, ==, 2);
}

/* Unknown blocks and offsets past a block's end are counted, not placed. */
static void test_unplaced(void)
{
    g_autoptr(MpConvergence) c = two_blocks();
    gint64 now = 0;

    bulk_pass(c, 0, &now);
    g_assert_false(mp_convergence_page(c, 0, "nonexistent", 0, now++));
    g_assert_false(mp_convergence_page(c, 0, "pc.ram", 8 * PAGE, now++));
    g_assert_false(mp_convergence_page(c, 0, NULL, 0, now++));
    g_assert_false(mp_convergence_page(c, 9999, "pc.ram", 0, now++));
    mp_convergence_bytes(c, 0, 100);
    mp_convergence_stop(c, now);
    g_assert_cmpuint(mp_convergence_n_rounds(c), ==, 1);
    g_assert_cmpuint(mp_convergence_round(c, 0)->pages, ==, 14);
    g_assert_cmpuint(mp_convergence_round(c, 0)->pages_again, ==, 0);
    g_assert_cmpuint(mp_convergence_total_bytes(c), ==, 100);
}

/* A block list larger than the tracking limit: its pages count as sent
 * once, and no bitmap is allocated for them. */
static void test_tracking_limit(void)
{
    g_autoptr(MpConvergence) c = mp_convergence_new(PAGE);

    mp_convergence_add_block(c, "huge", (uint64_t)MP_CONVERGENCE_MAX_TRACKED_PAGES * PAGE + 1);
    mp_convergence_add_block(c, "small", 2 * PAGE);
    mp_convergence_add_block(c, "small", 4 * PAGE);              /* repeated: ignored */
    mp_convergence_page(c, 0, "huge", PAGE, 1);
    mp_convergence_page(c, 0, "huge", 0, 2);                     /* round 2 */
    mp_convergence_page(c, 0, "small", 0, 3);
    mp_convergence_page(c, 0, "small", PAGE, 4);
    mp_convergence_page(c, 0, "small", 0, 5);                    /* round 3 */
    mp_convergence_stop(c, 6);
    g_assert_cmpuint(mp_convergence_n_rounds(c), ==, 3);
    g_assert_cmpuint(mp_convergence_total_pages_again(c), ==, 1);
    g_assert_cmpuint(mp_convergence_round(c, 2)->pages_again, ==, 1);
}

/* Events: the block list, pages, multifd packets with their offsets, and
 * the stop at the first device section. */
static void test_feed_events(void)
{
    g_autoptr(MpConvergence) c = mp_convergence_new(PAGE);
    uint8_t offsets[3 * 8] = { 0 };
    MigEvent ev;

    memset(&ev, 0, sizeof(ev));
    ev.type = MIG_EV_RAMBLOCK;
    ev.u.ramblock.idstr = "pc.ram";
    ev.u.ramblock.used_length = 4 * PAGE;
    mp_convergence_feed(c, 0, &ev, 0);

    offsets[8 + 6] = 0x10;                                       /* 0x1000 */
    offsets[16 + 6] = 0x30;                                      /* 0x3000 */
    memset(&ev, 0, sizeof(ev));
    ev.type = MIG_EV_MULTIFD_PACKET;
    ev.offset = 1000;
    ev.end = 1000 + 344 + 2 * PAGE;
    ev.u.mf_packet.block = "pc.ram";
    ev.u.mf_packet.offsets = offsets;
    ev.u.mf_packet.n_offsets = 3;
    g_assert_cmpuint(mig_multifd_page_offset(&ev.u.mf_packet, 2), ==, 0x3000);
    mp_convergence_feed(c, 1, &ev, 1);
    offsets[16 + 6] = 0x20;
    offsets[8 + 6] = 0x00;
    mp_convergence_feed(c, 1, &ev, 2);                           /* 0, 0, 0x2000: wraps */

    memset(&ev, 0, sizeof(ev));
    ev.type = MIG_EV_SECTION;
    ev.u.section.type = QEMU_VM_SECTION_FULL;
    ev.u.section.idstr = "timer";
    g_assert_true(mp_convergence_feed(c, 0, &ev, 3));
    g_assert_true(mp_convergence_stopped(c));
    g_assert_cmpuint(mp_convergence_n_rounds(c), ==, 2);
    g_assert_cmpuint(mp_convergence_round(c, 0)->pages, ==, 3);
    g_assert_cmpuint(mp_convergence_round(c, 0)->bytes, ==, 344 + 2 * PAGE);
    g_assert_cmpuint(mp_convergence_round(c, 1)->pages, ==, 3);
    /* page 0 twice in one packet (hostile, not QEMU): counted again too */
    g_assert_cmpuint(mp_convergence_round(c, 1)->pages_again, ==, 2);
}

/* Round sizes 100, 10, 10, 10, 10: rounds 3..5 did not shrink. */
static MpConvergence *stalled_rounds(guint n_flat)
{
    MpConvergence *c = mp_convergence_new(PAGE);
    gint64 now = 0;

    mp_convergence_add_block(c, "pc.ram", 100 * PAGE);
    for (uint64_t p = 0; p < 100; p++) {
        mp_convergence_page(c, 0, "pc.ram", p * PAGE, now++);
    }
    for (guint r = 0; r < n_flat; r++) {
        for (uint64_t p = 0; p < 10; p++) {
            mp_convergence_page(c, 0, "pc.ram", p * PAGE, now++);
        }
    }
    mp_convergence_page(c, 0, "pc.ram", 0, now++);               /* closes the last */
    mp_convergence_bytes(c, 0, 1000);
    return c;
}

static void test_check_stalled(void)
{
    g_autoptr(MpPolicy) policy = mp_policy_new();
    g_autoptr(MpConvergence) c = stalled_rounds(4);
    g_autoptr(MpReport) report = mp_report_new();
    const MpFinding *f;

    policy->max_stalled_rounds = 4;
    g_assert_null(mp_check_convergence(c, 100 * PAGE, policy, report));
    policy->max_stalled_rounds = 3;
    f = mp_check_convergence(c, 100 * PAGE, policy, report);
    g_assert_nonnull(f);
    g_assert_cmpstr(f->code, ==, "convergence-stalled");
    g_assert_cmpint(f->severity, ==, MP_SEVERITY_WARNING);
    g_assert_nonnull(strstr(f->hint, "postcopy"));
    g_assert_nonnull(strstr(f->source, "3 rounds"));
    g_assert_null(mp_check_convergence(c, 100 * PAGE, policy, report));   /* once */
}

static void test_check_bytes(void)
{
    g_autoptr(MpPolicy) policy = NULL;
    g_autoptr(MpConvergence) c = stalled_rounds(0);
    g_autoptr(MpReport) report = NULL;
    const MpFinding *f;
    g_autoptr(GError) error = NULL;
    static const char text[] = "[policy]\nmax-bytes-ratio=1.5\nmax-stalled-rounds=0\n"
                               "[severity]\nconvergence-bytes=error\n";

    policy = mp_policy_load_data(text, sizeof(text) - 1, &error);
    g_assert_no_error(error);
    g_assert_cmpfloat(policy->max_bytes_ratio, ==, 1.5);
    g_assert_cmpuint(policy->max_stalled_rounds, ==, 0);
    report = mp_policy_new_report(policy);
    g_assert_null(mp_check_convergence(c, 1000, policy, report));        /* 1000 <= 1500 */
    mp_convergence_bytes(c, 0, 501);
    f = mp_check_convergence(c, 1000, policy, report);
    g_assert_nonnull(f);
    g_assert_cmpstr(f->code, ==, "convergence-bytes");
    g_assert_cmpint(f->severity, ==, MP_SEVERITY_ERROR);
    g_assert_cmpint(mp_report_verdict(report), ==, MP_VERDICT_REJECT);
}

static void test_defaults_and_bad_keys(void)
{
    g_autoptr(MpPolicy) policy = mp_policy_new();
    g_autoptr(MpConvergence) c = stalled_rounds(MP_DEFAULT_MAX_STALLED_ROUNDS + 1);
    g_autoptr(MpReport) report = mp_report_new();
    static const char *const bad[] = {
        "[policy]\nmax-bytes-ratio=lots\n",
        "[policy]\nmax-bytes-ratio=-1\n",
        "[policy]\nmax-bytes-ratio=\n",
        "[policy]\nmax-stalled-rounds=2.5\n",
        "[policy]\nmax-stalled-rounds=-3\n",
    };

    g_assert_cmpfloat(policy->max_bytes_ratio, ==, MP_DEFAULT_MAX_BYTES_RATIO);
    g_assert_cmpuint(policy->max_stalled_rounds, ==, MP_DEFAULT_MAX_STALLED_ROUNDS);
    /* no policy file: the defaults apply, as warnings */
    g_assert_nonnull(mp_check_convergence(c, 100 * PAGE, NULL, report));
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;

        g_assert_null(mp_policy_load_data(bad[i], strlen(bad[i]), &error));
        g_assert_error(error, MP_POLICY_ERROR, MP_POLICY_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, "max-"));
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/convergence/one-channel", test_one_channel);
    g_test_add_func("/convergence/channels-out-of-step", test_channels_out_of_step);
    g_test_add_func("/convergence/idle-channel", test_idle_channel);
    g_test_add_func("/convergence/unplaced", test_unplaced);
    g_test_add_func("/convergence/tracking-limit", test_tracking_limit);
    g_test_add_func("/convergence/feed-events", test_feed_events);
    g_test_add_func("/convergence/check-stalled", test_check_stalled);
    g_test_add_func("/convergence/check-bytes", test_check_bytes);
    g_test_add_func("/convergence/defaults-and-bad-keys", test_defaults_and_bad_keys);
    return g_test_run();
}
