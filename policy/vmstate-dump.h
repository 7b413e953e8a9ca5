/*
 * vmstate-dump.h - reads the file `qemu-system-ARCH -M TYPE -dump-vmstate
 * FILE` writes: every device class of the destination binary that has a
 * VMState description, with the description's name and the range of
 * versions it loads (wire-format.md 6.3).
 *
 * The file is keyed by QOM type; a stream's section is named by the vmsd
 * (its idstr is "<qdev path>/<vmsd name>" or the vmsd name alone), so the
 * lookup here is by vmsd name.  Several QOM types may share one vmsd name
 * (every e1000 variant has "e1000"); on QEMU 7.2 x86_64 two names are
 * shared by types with different ranges ("ne2000", "cirrus_vga"), so a
 * lookup returns every candidate.  Handlers registered without a device
 * class (ram, timer, cpu, apic, ide, globalstate, ...) are not in the file.
 */
#ifndef MP_POLICY_VMSTATE_DUMP_H
#define MP_POLICY_VMSTATE_DUMP_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
    char *qom_type;             /* the file's key */
    char *vmsd_name;            /* Description.name */
    uint32_t version_id;        /* Description.version_id */
    uint32_t minimum_version_id;
    /* The whole Description (Fields, Subsections, nested Descriptions),
     * valid as long as the dump. */
    JsonObject *description;
} MpVmstateEntry;

typedef struct MpVmstateDump MpVmstateDump;

/*
 * Parse @len bytes of -dump-vmstate output.  Refuses more than
 * MIG_LIMIT_DUMP_VMSTATE bytes and nesting over MIG_LIMIT_JSON_DEPTH
 * before parsing; returns NULL with @error (G_IO_ERROR_INVALID_DATA) when
 * the text is not JSON, not an object, or an entry lacks its names or
 * versions.
 */
MpVmstateDump *mp_vmstate_dump_parse(const char *text, size_t len, GError **error);
/* Same, from a file. */
MpVmstateDump *mp_vmstate_dump_load(const char *path, GError **error);
void mp_vmstate_dump_free(MpVmstateDump *dump);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MpVmstateDump, mp_vmstate_dump_free)

/* vmschkmachine.Name (the machine class the file was written for), or NULL. */
const char *mp_vmstate_dump_machine(const MpVmstateDump *dump);
guint mp_vmstate_dump_count(const MpVmstateDump *dump);

/*
 * Every entry whose vmsd is @vmsd_name, in file order (MpVmstateEntry *,
 * owned by @dump), or NULL when none.
 */
const GPtrArray *mp_vmstate_dump_lookup(const MpVmstateDump *dump, const char *vmsd_name);

/* The vmsd name a section's idstr stands for: what follows the last '/'. */
const char *mp_vmstate_vmsd_of_idstr(const char *idstr);

G_END_DECLS

#endif
