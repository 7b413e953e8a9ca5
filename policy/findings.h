/*
 * findings.h - the findings a check produces, their stable codes, and the
 * verdict drawn from them.
 *
 * Every code is listed once in the table in findings.c and documented in
 * policy/FINDINGS.md; programs read the code, people read the message and
 * the hint.  A finding's severity starts at the code's default and may be
 * changed by the operator's policy ([severity] in the policy file).
 */
#ifndef MP_POLICY_FINDINGS_H
#define MP_POLICY_FINDINGS_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

G_BEGIN_DECLS

typedef enum {
    MP_SEVERITY_INFO,
    MP_SEVERITY_WARNING,
    MP_SEVERITY_ERROR,
} MpSeverity;

typedef enum {
    MP_VERDICT_ACCEPT,
    MP_VERDICT_REJECT,
} MpVerdict;

typedef struct {
    const char *code;           /* stable, e.g. "ramblock-size" */
    MpSeverity severity;
    char *subject;              /* e.g. "pc.ram", "machine type" */
    char *source;               /* the source's value, or NULL */
    char *destination;          /* the destination's value, or NULL */
    char *message;              /* one line for a person */
    char *hint;                 /* what to do; may be NULL */
} MpFinding;

/* One entry of the code table. */
typedef struct {
    const char *code;
    MpSeverity default_severity;
    const char *summary;
} MpFindingCode;

/* The table of all codes, terminated by an entry with code == NULL. */
const MpFindingCode *mp_finding_codes(void);
const MpFindingCode *mp_finding_code_lookup(const char *code);

const char *mp_severity_name(MpSeverity severity);   /* "error" ... */
bool mp_severity_from_name(const char *name, MpSeverity *out);
const char *mp_verdict_name(MpVerdict verdict);       /* "accept" ... */

typedef struct MpReport MpReport;

MpReport *mp_report_new(void);
void mp_report_free(MpReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MpReport, mp_report_free)

/*
 * Adds a finding with @code's default severity (which must be in the table:
 * an unknown code is a programming error).  @source and @destination may be
 * NULL; @hint may be NULL.  Returns the finding, owned by the report.
 */
MpFinding *mp_report_add(MpReport *report, const char *code,
                         const char *subject, const char *source,
                         const char *destination, const char *hint,
                         const char *message_format, ...) G_GNUC_PRINTF(7, 8);

/* From now on findings with @code get @severity (the operator's policy). */
void mp_report_override_severity(MpReport *report, const char *code,
                                 MpSeverity severity);

/*
 * From now on findings with @code carry @hint (NULL: none) instead of the
 * check's own: the offline commands have no --source-qmp to suggest.
 */
void mp_report_override_hint(MpReport *report, const char *code, const char *hint);

guint mp_report_count(const MpReport *report);
const MpFinding *mp_report_get(const MpReport *report, guint index);
guint mp_report_count_severity(const MpReport *report, MpSeverity severity);
/*
 * A finding as JSON members (the shape FINDINGS.md documents): code,
 * severity, subject, the two sides' values under @source_member and
 * @destination_member ("source"/"destination", or "a"/"b" for a diff),
 * message, hint; absent values are null.  The one place events, migdump
 * and the offline commands write findings.
 */
JsonObject *mp_finding_to_json(const MpFinding *f, const char *source_member,
                               const char *destination_member);

/* Reject when at least one finding is an error. */
MpVerdict mp_report_verdict(const MpReport *report);

G_END_DECLS

#endif
