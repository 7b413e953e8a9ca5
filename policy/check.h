/*
 * check.h - the gate: compare the source's facts with the destination's and
 * the operator's rules, and return findings and a verdict.
 *
 * Pure logic: no I/O, no sockets.  The checks are a flat list of named
 * functions in check.c, in the order QEMU's incoming side runs its own,
 * followed by what QEMU cannot see from one side and the policy's rules.
 */
#ifndef MP_POLICY_CHECK_H
#define MP_POLICY_CHECK_H

#include <glib.h>
#include "facts.h"
#include "findings.h"

G_BEGIN_DECLS

typedef enum {
    MP_LATE_UNDECODABLE_FORWARD,  /* keep forwarding, with a warning */
    MP_LATE_UNDECODABLE_REJECT,   /* cut both legs */
} MpLateUndecodable;

typedef struct {
    GStrv allowed_machines;       /* glob patterns; NULL = any */
    bool has_max_ram;
    uint64_t max_ram;             /* bytes, sum of the source's RAM blocks */
    GStrv required_caps;
    GStrv forbidden_caps;
    MpLateUndecodable late_undecodable;
    /* convergence limits; 0 turns one off (policy/convergence.h) */
    double max_bytes_ratio;       /* page bytes over this times RAM */
    guint max_stalled_rounds;     /* rounds in a row that sent no fewer pages */
    GHashTable *severity;         /* code -> GINT_TO_POINTER(severity + 1) */
} MpPolicy;

/* The convergence limits without a policy file (warnings by default). */
#define MP_DEFAULT_MAX_BYTES_RATIO 3.0
#define MP_DEFAULT_MAX_STALLED_ROUNDS 5u

#define MP_POLICY_ERROR (mp_policy_error_quark())
GQuark mp_policy_error_quark(void);
typedef enum {
    MP_POLICY_ERROR_INVALID,
} MpPolicyErrorCode;

MpPolicy *mp_policy_new(void);
void mp_policy_free(MpPolicy *policy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MpPolicy, mp_policy_free)

/*
 * Load a policy key file (format in policy/FINDINGS.md, "Policy file").
 * Returns NULL with @error naming the group and key that is wrong.
 */
MpPolicy *mp_policy_load_data(const char *data, gsize length, GError **error);
MpPolicy *mp_policy_load_file(const char *path, GError **error);

/* A report with the policy's severity overrides installed. */
MpReport *mp_policy_new_report(const MpPolicy *policy);

/*
 * Check the prefix of a migration (everything before the first iteration)
 * against the destination.  @dst may be NULL (no destination facts: only
 * the stream's own sanity and the policy are checked).  Adds findings to
 * @report; the verdict is mp_report_verdict(@report).
 */
void mp_check_prefix(const MpFacts *src, const MpFacts *dst,
                     const MpPolicy *policy, MpReport *report);

/*
 * The comparisons of mp_check_prefix() that need two sides' facts and
 * nothing of a live stream (no header, no policy): machine type, page bits,
 * capabilities, postcopy, RAM blocks, devices, multifd.  `migproxy diff`
 * uses it on two configurations read from files.
 */
void mp_check_facts(const MpFacts *src, const MpFacts *dst, MpReport *report);

/*
 * Is @name a capability QEMU announces in the stream's configuration
 * section and checks at the destination (x-ignore-shared, mapped-ram)?
 */
bool mp_check_cap_validated(const char *name);

/*
 * Check one device section that arrives after the gate (FULL or START) with
 * @idstr and @instance against what the destination is known to have: its
 * PCI devices (for qdev paths) and its CPU count (for the per-CPU sections
 * cpu, cpu_common, apic).  @where says which section and offset, for the
 * message.  When the decoder found the section after a boundary it had to
 * guess (@certain false) the finding is only a warning: no verdict rests on
 * a guess.  Returns the finding added to @report, or NULL when the facts
 * show no problem or cannot say.
 */
const MpFinding *mp_check_late_section(const MpFacts *dst, const char *idstr,
                                       uint32_t instance, bool certain,
                                       const char *where, MpReport *report);

/* Parse "123", "64M", "2G", "1T" (binary units); FALSE when malformed. */
bool mp_parse_size(const char *text, uint64_t *out);
/* "128 MiB" style for messages; returns a new string. */
char *mp_format_size(uint64_t bytes);

G_END_DECLS

#endif
