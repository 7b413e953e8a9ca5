/*
 * dest-sections.h - a side's own device-section list in a profile, and the
 * checks the gate makes with it.
 *
 * Why: QEMU's destination fails on a device section it does not know
 * ("Unknown savevm section or instance") or cannot load ("unsupported
 * version") only after all of RAM has crossed.  Neither QMP nor
 * -dump-vmstate says which (idstr, instance) pairs a configured
 * destination will accept; a stream written by the destination's own
 * configuration (started with the same command line and -S, migrated to
 * a file) does, and so does a capture of a migration from such a source.
 * `migproxy probe --sections-from STREAM` stores that list in the profile
 * ("sections", FINDINGS.md), optionally with each section's loadable range
 * from the destination's -dump-vmstate.
 *
 * Two moments to use it: at the gate (mp_check_sections_at_start), with
 * what is known of the source before its device state exists; and at the
 * switchover (mp_check_section_arriving), one header at a time.
 */
#ifndef MP_POLICY_DEST_SECTIONS_H
#define MP_POLICY_DEST_SECTIONS_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include "decoder.h"
#include "devices.h"
#include "facts.h"
#include "findings.h"
#include "vmstate-dump.h"

G_BEGIN_DECLS

/* A stream file larger than this is not read for its section list. */
#define MP_LIMIT_SECTIONS_STREAM (64ull * 1024u * 1024u * 1024u)

/*
 * Read the stream file at @path with the decoder and return its START and
 * FULL headers, each (idstr, instance) once, in stream order.  *@machine
 * (may be NULL) gets the configuration's machine type.  NULL with @error
 * when the file cannot be read or decoded, or holds no section.
 */
GArray *mp_sections_from_stream_file(const char *path, char **machine, GError **error);

/*
 * Fill each section's min_version/max_version from @dump: the entries
 * with the section's vmsd name whose version_id is the section's version
 * (the version a destination writes is the one it loads at most); set
 * only when they agree.  Returns how many sections got a range.
 */
guint mp_sections_apply_dump(GArray *sections, const MpVmstateDump *dump);

/*
 * For `migproxy probe --sections-from STREAM [--dest-vmstate DUMP]`: set
 * @facts->sections from the stream file, ranged from the -dump-vmstate
 * file when given, and @facts->layouts from its VMDESCRIPTION (left NULL
 * when the stream has none, e.g. postcopy).  Refuses a stream whose
 * machine type is not @facts' (a stream of another configuration).  *@ranged (may be NULL) gets how
 * many sections got a range.
 */
bool mp_facts_add_sections_from(MpFacts *facts, const char *stream, const char *dump_path,
                                guint *ranged, GError **error);

/*
 * Feeds a whole stream to @dec and finishes it; FALSE with @error.  For a
 * stream kept in something other than a plain file (a capture), which
 * policy/ does not read itself.
 */
typedef bool (*MpStreamFeedFn)(MigDecoder *dec, void *opaque, GError **error);

/* The same from the stream @feed gives, @name standing for it in messages. */
bool mp_facts_add_sections_from_feed(MpFacts *facts, const char *name, MpStreamFeedFn feed,
                                     void *opaque, const char *dump_path, guint *ranged,
                                     GError **error);

/* The "sections" member of a profile: write it, or read it into *@out. */
void mp_sections_to_json(JsonBuilder *b, const GArray *sections);
bool mp_sections_from_json(JsonObject *obj, GArray **out, GError **error);

/*
 * At the gate, before the destination is contacted, with @dst->sections
 * known: (1) with @src_sections (a source profile's list) every source
 * section against the destination's (device-missing, device-version-newer,
 * section-version-too-old/-too-new, device-extra); otherwise (2) the
 * source's PCI devices (--source-qmp) must each have a section with that
 * qdev path in the destination's list, and (3) the source's CPU count
 * (--source-qmp) must have its per-CPU sections ("cpu_common" instance
 * 0..n-1) there.  A device already reported by pci-device-missing or CPUs
 * already reported by cpu-count are not reported twice.  Returns the
 * number of findings added.
 */
guint mp_check_sections_at_start(const MpFacts *src, const MpFacts *dst,
                                 const GArray *src_sections, MpReport *report);

/*
 * One section header as it arrives: against @dst->sections (presence and
 * the destination's own version) and the range the profile carries.
 * Adds a finding and returns it, or NULL when the header is fine or the
 * profile has no section list.  @where names the section and offset.
 */
const MpFinding *mp_check_section_arriving(const MpFacts *dst, const char *idstr,
                                           uint32_t instance, uint32_t version,
                                           const char *where, MpReport *report);

G_END_DECLS

#endif
