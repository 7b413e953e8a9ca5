/*
 * devices.h - checks on a stream's device sections against the
 * destination: section versions against the destination's -dump-vmstate
 * (mp_check_section_versions), and the set of sections against the
 * sections a stream from the destination's own configuration carries
 * (mp_check_device_set).  Findings are documented in FINDINGS.md under
 * "Device sections".
 *
 * When each can be made: both need only section headers.  A START
 * section's header comes at the start of a migration, so live handlers
 * (ram, block, dirty-bitmap, vfio) are checked before RAM is sent; FULL
 * sections (every other device) arrive only at the switchover, unless the
 * source's own section list is known in advance (a dry run, or a stream
 * written earlier from the same configuration), which is how migdump
 * uses these checks: on complete streams.
 */
#ifndef MP_POLICY_DEVICES_H
#define MP_POLICY_DEVICES_H

#include <glib.h>
#include <stdint.h>
#include "findings.h"
#include "vmstate.h"
#include "vmstate-dump.h"

G_BEGIN_DECLS

/* One START or FULL section header as the stream carried it. */
typedef struct {
    char *idstr;
    uint32_t instance;
    uint32_t version;
    uint32_t section_id;
    uint8_t type;               /* QEMU_VM_SECTION_START or _FULL */
    /* the versions the side loads (a profile with -dump-vmstate ranges) */
    bool has_range;
    uint32_t min_version, max_version;
} MpSectionRef;

/* A GArray of MpSectionRef that frees the idstrs with the array. */
GArray *mp_section_list_new(void);
void mp_section_list_add(GArray *list, const char *idstr, uint32_t instance,
                         uint32_t version, uint32_t section_id, uint8_t type);

/*
 * For each section of @sections (each (idstr, instance) once) whose vmsd
 * name is in @dump: the destination loads it only when
 * minimum_version_id <= version <= version_id.  Adds
 * "section-version-too-new" / "section-version-too-old" when no entry of
 * that name accepts the version, "section-version-ambiguous" when some
 * entries of that name do and others do not, and one
 * "section-version-unchecked" (info) listing the sections the file does
 * not describe.  Returns the number of sections checked.
 */
guint mp_check_section_versions(MpReport *report, const GArray *sections,
                                const MpVmstateDump *dump);

/*
 * The subsections the source sent, as its VMDESCRIPTION @vmdesc lists
 * them for each FULL section of @sections (also inside nested structs),
 * against the destination's descriptions of the same vmsd in @dump:
 * "subsection-unknown" when the destination's vmsd has no subsection of
 * that name (QEMU 7.2 fails the load with ENOENT and no message of its
 * own; 10.2 says "VM subsection '%s' in '%s' does not exist"),
 * "subsection-version" when its version is outside the destination's
 * range.  Only when every -dump-vmstate entry of that vmsd name agrees.
 * Returns the number of subsections compared.
 */
guint mp_check_subsections(MpReport *report, const GArray *sections,
                           const MigVmstateDesc *vmdesc, const MpVmstateDump *dump);

/*
 * @source's sections against @destination's (both from complete streams):
 * "device-missing" for a source (idstr, instance) the destination lacks
 * (QEMU: "Unknown savevm section or instance"), "device-version-newer"
 * when the source's version is above the destination's own (QEMU:
 * "unsupported version"), "device-extra" for a destination section the
 * source does not send.
 */
void mp_check_device_set(MpReport *report, const GArray *source,
                         const GArray *destination);

/*
 * One section header as it arrives (for a proxy that checks each START or
 * FULL header before forwarding it) against the destination's section
 * list: adds "device-missing" or "device-version-newer" as
 * mp_check_device_set() would, and returns FALSE when it did.
 */
bool mp_check_section_known(MpReport *report, const char *idstr, uint32_t instance,
                            uint32_t version, const GArray *destination);

G_END_DECLS

#endif
