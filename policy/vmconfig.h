/*
 * vmconfig.h - one VM configuration as `migproxy diff` and `migproxy check`
 * see it offline: its facts (machine, page bits, capabilities, RAM blocks)
 * and, when the input shows them, its device sections and its
 * VMDESCRIPTION.
 *
 * Two kinds of input today: a stream file (a migration written with
 * `migrate "exec:cat > FILE"` or `file:FILE`, mapped-ram included), whose
 * facts come from decoder events fed to mp_vmconfig_stream_event(), and a
 * destination profile (`migproxy probe`), which has facts but no section
 * list.  A third kind, a capture of a proxied migration (recorded
 * connections), is meant to fill the same structure from its main
 * connection's events; nothing here assumes a file.
 *
 * No I/O: the caller reads the input and hands over events or text.
 */
#ifndef MP_POLICY_VMCONFIG_H
#define MP_POLICY_VMCONFIG_H

#include <glib.h>
#include <stdbool.h>
#include "decoder.h"
#include "facts.h"
#include "vmstate.h"

G_BEGIN_DECLS

typedef enum {
    MP_VMCONFIG_STREAM,
    MP_VMCONFIG_PROFILE,
} MpVmConfigKind;

typedef struct {
    MpVmConfigKind kind;
    MpFacts *facts;
    /* MpSectionRef of every START/FULL header; NULL when the input has none */
    GArray *sections;
    /* the stream's VMDESCRIPTION, parsed; NULL when absent or unreadable */
    MigVmstateDesc *vmdesc;
    char *vmdesc_error;         /* why a VMDESCRIPTION that came did not parse */
    bool has_eof;               /* the stream reached QEMU_VM_EOF */
    bool certain;               /* no section boundary was left a guess */
    /*
     * Where each FULL section's payload lies in the stream (MpVmPayload,
     * parallel to @sections), so that a caller holding the bytes can walk
     * it, and the values so walked: "instance:idstr" -> JsonNode
     * (mig_vmstate_walk()), for the sections a comparison needs.
     */
    GArray *payloads;
    GHashTable *values;
    /* private to the stream collector */
    GByteArray *vmdesc_text;
    GHashTable *last_header;    /* section id -> index in @sections + 1 */
    bool ram_list_done;
} MpVmConfig;

typedef struct {
    bool complete;              /* a FULL section whose end was seen */
    uint64_t offset;            /* stream offset of the payload */
    uint64_t length;
} MpVmPayload;

MpVmConfig *mp_vmconfig_new(MpVmConfigKind kind);
void mp_vmconfig_free(MpVmConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MpVmConfig, mp_vmconfig_free)

/* "stream" or "profile". */
const char *mp_vmconfig_kind_name(MpVmConfigKind kind);

/*
 * A MigEventFunc for a main-channel decoder; @opaque is a stream
 * MpVmConfig.  Takes the header, configuration, postcopy advise, the first
 * RAM block list, every START/FULL header and the VMDESCRIPTION text.
 */
void mp_vmconfig_stream_event(const MigEvent *ev, void *opaque);

/*
 * After the decoder finished: parse the VMDESCRIPTION that was held.  A
 * description that does not parse is not an error of the stream (QEMU
 * never reads it); vmdesc stays NULL and vmdesc_error says why.
 */
void mp_vmconfig_stream_done(MpVmConfig *config);

/*
 * A profile's text (mp_facts_from_json()).  The capabilities QEMU announces
 * in a stream's configuration (mp_check_cap_validated()) that the profile
 * has on become the facts' announced_caps, as a stream of that
 * configuration would announce them.  NULL with @error when malformed.
 */
/*
 * Does the description of section @index of @config hold a field QEMU
 * compares with the destination's own value on load ("int32 equal" and
 * the like)?  Only then does a comparison need the section's values.
 */
bool mp_vmconfig_needs_values(const MpVmConfig *config, guint index);

/* Keep @values (taken) as the walked values of section @index. */
void mp_vmconfig_set_values(MpVmConfig *config, guint index, JsonNode *values);

/*
 * The device descriptions of @config: a stream's VMDESCRIPTION, or a
 * profile's layouts (the VMDESCRIPTION of a stream its configuration
 * wrote, `probe --sections-from`); NULL when it has neither.
 */
const MigVmstateDesc *mp_vmconfig_layouts(const MpVmConfig *config);

/* The values kept for (@idstr, @instance), or NULL. */
JsonNode *mp_vmconfig_values(const MpVmConfig *config, const char *idstr, uint32_t instance);

MpVmConfig *mp_vmconfig_from_profile(const char *text, gssize length, GError **error);
/* The same from a profile already read (mp_facts_load); takes @facts. */
MpVmConfig *mp_vmconfig_from_facts(MpFacts *facts);

G_END_DECLS

#endif
