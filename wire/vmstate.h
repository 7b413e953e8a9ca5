/*
 * vmstate.h - walks a device section's payload field by field, using the
 * description QEMU gives of it, and gives the values back as a JSON tree.
 *
 * A FULL section's payload has no length and no field boundaries of its
 * own (wire-format.md 2.6): only a description says where each field
 * starts.  The description here is one device object of the stream's own
 * VMDESCRIPTION (wire-format.md 6.1): its "fields" (name, type, size,
 * "array_len" or "index", a nested "struct") and the "subsections" that
 * were sent.  The values come back in the shape of QEMU's
 * scripts/analyze-migration.py "-d state" output, so the two can be
 * compared directly:
 *
 *   integers   "0x" + hex padded to the field's width; a negative signed
 *              value adds its decimal: "0xffffffff (-1)"
 *   bool       true / false
 *   nullptr    "nullptr"
 *   struct     an object, field name -> value
 *   arrays     a list (fields that carry "array_len" or "index")
 *   subsection an object under the subsection's name, after the fields
 *   any other  the field's bytes as space-separated hex ("00 1f 80")
 *
 * No I/O: the caller hands over the payload bytes.  Nothing is read past
 * the buffer; every failure is a GError in MIG_WIRE_ERROR whose message
 * starts with the stream offset (the payload's @base_offset plus the
 * position inside it).
 */
#ifndef MIG_WIRE_VMSTATE_H
#define MIG_WIRE_VMSTATE_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>
#include "decoder.h"

G_BEGIN_DECLS

/* A parsed VMDESCRIPTION: its device objects, looked up by section. */
typedef struct MigVmstateDesc MigVmstateDesc;

/*
 * Parse the VMDESCRIPTION JSON (the text of MIG_EV_VMDESC).  Refuses more
 * than MIG_LIMIT_VMDESC bytes and nesting deeper than MIG_LIMIT_JSON_DEPTH
 * before parsing.  Returns NULL with @error (MIG_WIRE_ERROR_CORRUPT or
 * _LIMIT, offset 0 of the JSON) when it is not an object with a "devices"
 * list of objects.
 */
MigVmstateDesc *mig_vmstate_desc_parse(const char *json, size_t len,
                                       GError **error);
void mig_vmstate_desc_free(MigVmstateDesc *desc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MigVmstateDesc, mig_vmstate_desc_free)

/*
 * The same from a JSON tree already parsed (a profile keeps a reference
 * stream's VMDESCRIPTION as a member, policy/facts.c): the same checks but
 * the text's size and nesting, which its reader bounds.  Takes a reference.
 */
MigVmstateDesc *mig_vmstate_desc_from_node(JsonNode *root, GError **error);
/* The whole VMDESCRIPTION tree (owned by @desc), to store it elsewhere. */
JsonNode *mig_vmstate_desc_root(const MigVmstateDesc *desc);

/* "page_size" of the description, 0 when absent. */
uint64_t mig_vmstate_desc_page_size(const MigVmstateDesc *desc);

/*
 * The device object describing section (@idstr, @instance), or NULL.  As
 * in analyze-migration.py, a later entry for the same pair wins.  Owned by
 * @desc.
 */
JsonObject *mig_vmstate_desc_lookup(const MigVmstateDesc *desc,
                                    const char *idstr, uint32_t instance);

/*
 * Walk @len payload bytes at @buf by @vmsd (a device object, or any
 * object with "fields" and optional "subsections").  The description must
 * account for every byte: leftover bytes are an error, as is a field that
 * runs past the end.  Returns a new JSON object node (the device's values)
 * or NULL with @error; error offsets are @base_offset + position.  At most
 * MIG_LIMIT_VMSTATE_VALUES values are produced.
 */
JsonNode *mig_vmstate_walk(JsonObject *vmsd, const uint8_t *buf, size_t len,
                           uint64_t base_offset, GError **error);

/*
 * Walk by a description that is not the stream's own: @vmsd comes from a
 * reference VMDESCRIPTION written by the same configuration (for the
 * destination, the stream `probe --sections-from` read), @buf is a payload
 * of another stream, which may have none (postcopy, suppress-vmdesc, cut).
 * Two things differ from mig_vmstate_walk():
 *   - the description's "version" must be @section_version (the section
 *     header's): a layout of another version is never guessed;
 *   - which subsections follow the fields is the source's needed()
 *     decision, so they are read from the stream as QEMU's loader reads
 *     them (0x05, counted name starting with the level's vmsd_name, be32
 *     version) and each is looked up by name in the description, whose
 *     own list only says what the reference happened to send.
 * A third: a field's "size" holds for another stream only for types of
 * fixed length (integers, buffers, timers, PCI config ...); for others
 * (QEMU's "virtio", "qtailq", "str" ...) it is what the reference's own
 * stream needed.  Such a field is read as the payload's rest when it is
 * the device's last and nothing is described after it (virtio devices),
 * and *@exact (may be NULL) is then FALSE: the walk shows the values but
 * proves nothing about where the payload ends.  Anywhere else it is
 * refused.
 * Errors: MIG_WIRE_ERROR_UNSUPPORTED when the description cannot be
 * applied (version differs, a subsection the reference has no description
 * of, a field of such a type, a struct described without fields): the
 * payload is not judged.  Any other code means the payload does not fit
 * the layout: a destination with that layout would fail to load it.
 */
JsonNode *mig_vmstate_walk_foreign(JsonObject *vmsd, uint32_t section_version,
                                   const uint8_t *buf, size_t len, uint64_t base_offset,
                                   bool *exact, GError **error);

/*
 * TRUE when no object or array in the @n bytes of JSON at @s nests deeper
 * than @max.  json-glib recurses once per level, so anything that parses
 * JSON from a peer or a file checks this first.
 */
bool mig_json_nesting_ok(const char *s, size_t n, unsigned max);

G_END_DECLS

#endif
