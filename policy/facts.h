/*
 * facts.h - what one side of a migration is known to be: machine type,
 * migration capabilities and parameters, RAM blocks.
 *
 * The same structure holds the source's facts (decoded from its stream,
 * optionally completed from its QMP) and the destination's (from its QMP or
 * a profile file written by `migproxy probe`).  Every member says whether
 * it is known, because each side only ever tells part of the story and a
 * check must never compare against a value nobody reported.
 */
#ifndef MP_POLICY_FACTS_H
#define MP_POLICY_FACTS_H

#include <glib.h>
#include "decoder.h"
#include "vmstate.h"
#include "wire-limits.h"
#include <stdbool.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef struct {
    char *name;
    uint64_t used_length;
    bool has_max_length;        /* destination: "Total" of info ramblock */
    uint64_t max_length;
    bool has_page_size;
    uint64_t page_size;
    bool has_addr;              /* x-ignore-shared: MemoryRegion address */
    uint64_t addr;
} MpRamBlock;

typedef enum {
    MP_FACTS_FROM_STREAM,       /* decoded from the source's main channel */
    MP_FACTS_FROM_QMP,
    MP_FACTS_FROM_PROFILE,
} MpFactsOrigin;

typedef struct {
    MpFactsOrigin origin;

    /* stream header (source only) */
    bool has_header;
    uint32_t magic;
    uint32_t version;
    bool has_configuration;

    char *machine;              /* NULL when unknown */
    bool has_page_bits;
    uint32_t page_bits;

    /*
     * Capabilities: name -> GINT_TO_POINTER(1 on / 0 off).  When
     * caps_complete is false (a stream announces only the validated ones)
     * a name missing from the table means "not known", not "off".
     */
    GHashTable *caps;
    bool caps_complete;
    /* source stream: the names its configuration section announced */
    GPtrArray *announced_caps;

    bool has_multifd_channels;
    uint32_t multifd_channels;
    char *multifd_compression;  /* NULL when unknown */

    /* host page size of the side (info ramblock's PSize of main RAM) */
    bool has_host_page_size;
    uint64_t host_page_size;

    /* RAM blocks (MpRamBlock *), in the order the side lists them */
    GPtrArray *ramblocks;
    bool ramblocks_complete;    /* the whole list was seen */
    bool has_ram_total;
    uint64_t ram_total;

    /*
     * PCI devices as QEMU names them in section idstrs ("0000:00:03.0",
     * "0000:00:1e.0:01.0" behind a bridge), from query-pci.
     */
    bool has_pci_devices;
    GPtrArray *pci_devices;     /* char * */
    bool has_cpus;              /* query-cpus-fast */
    uint32_t cpus;
    /*
     * The side's own device sections (MpSectionRef, see devices.h and
     * dest-sections.h), from a stream its configuration wrote; NULL when
     * unknown.
     */
    GArray *sections;
    /*
     * The side's device layouts: the VMDESCRIPTION of that same stream
     * (profile member "layouts"), by which its device state is walked
     * (wire/vmstate.h, mig_vmstate_walk_foreign); NULL when unknown.
     */
    MigVmstateDesc *layouts;

    /* source stream only: what the prefix showed */
    bool return_path_opened;
    bool has_postcopy_advise;
    uint32_t postcopy_advise_length;   /* 0 or 16 */
    uint64_t advise_page_summary;
    uint64_t advise_target_page_size;
    bool prefix_certain;        /* no boundary in the prefix was guessed */
    /* connections seen by the proxy for this migration */
    bool channels_counted;
    uint32_t multifd_connections;
    uint32_t preempt_connections;
} MpFacts;

MpFacts *mp_facts_new(MpFactsOrigin origin);
void mp_facts_free(MpFacts *facts);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MpFacts, mp_facts_free)

void mp_facts_set_cap(MpFacts *facts, const char *name, bool on);
/* Returns TRUE and sets *on when the capability's state is known. */
bool mp_facts_get_cap(const MpFacts *facts, const char *name, bool *on);
/* Appends a block; the facts own the copy of @name. */
/*
 * What one decoder event of a source's main channel says of the source:
 * header, configuration, return path, postcopy advice and, while
 * @in_prefix, the RAM-block list (a later list would be a resize, not the
 * source's configuration).  The proxy and the offline commands read a
 * stream's facts through this one function.
 */
void mp_facts_from_stream_event(MpFacts *facts, const MigEvent *ev, bool in_prefix);

MpRamBlock *mp_facts_add_ramblock(MpFacts *facts, const char *name,
                                  uint64_t used_length);
const MpRamBlock *mp_facts_find_ramblock(const MpFacts *facts,
                                         const char *name);
/*
 * Does @idstr name a PCI device (a qdev path "DDDD:BB:SS.F[:SS.F...]/vmsd")
 * that @facts, which must have has_pci_devices, lack?  FALSE for idstrs
 * that are not PCI device paths.  *@device is set to the path.
 */
bool mp_facts_lacks_pci_device(const MpFacts *facts, const char *idstr,
                               char **device);

/* Sum of used lengths; 0 when no block is known. */
uint64_t mp_facts_ram_size(const MpFacts *facts);

/*
 * Parse the text of HMP "info ramblock" (QEMU 7.2 to 10.x columns:
 * Block Name, PSize, Offset, Used, Total) into @facts.  Returns FALSE with
 * @error when no header line or a malformed row is found.
 */
bool mp_facts_parse_info_ramblock(MpFacts *facts, const char *text,
                                  GError **error);

/*
 * Profile file: a JSON object (see FINDINGS.md, "Profiles").  to_json
 * returns a newly allocated, pretty-printed text; from_json returns NULL
 * with @error on a malformed profile.
 */
char *mp_facts_to_json(const MpFacts *facts);
MpFacts *mp_facts_from_json(const char *text, gssize length, GError **error);
/*
 * A profile file is at most this long: its layouts hold a VMDESCRIPTION
 * (up to MIG_LIMIT_VMDESC) written again as JSON, a few times its size.
 */
#define MP_FACTS_PROFILE_MAX (4u * MIG_LIMIT_VMDESC)
/* The profile in the file @path; NULL with @error, which names @path. */
MpFacts *mp_facts_load(const char *path, GError **error);
/*
 * Does a file that starts with the @len bytes @head hold a profile (a JSON
 * object: '{' after any white space)?  A stream starts with QEMU's magic,
 * a capture with its own, so neither does.
 */
bool mp_facts_is_profile_text(const uint8_t *head, size_t len);

#define MP_FACTS_ERROR (mp_facts_error_quark())
GQuark mp_facts_error_quark(void);
typedef enum {
    MP_FACTS_ERROR_PARSE,
} MpFactsErrorCode;

G_END_DECLS

#endif
