/*
 * limits.h - every bound the decoder puts on a length or count that comes
 * from the wire.  A peer can claim any size; these are what we believe
 * before we allocate or hold anything.  README.md lists them for users.
 */
#ifndef MIG_WIRE_LIMITS_H
#define MIG_WIRE_LIMITS_H

/* Machine type name in the configuration section (QEMU names are < 64). */
#define MIG_LIMIT_MACHINE_NAME      256u
/* Capabilities announced in the configuration section (QEMU has ~25). */
#define MIG_LIMIT_CAPABILITIES      64u
/* RAM blocks in one MEM_SIZE list (a large VM with many devices has ~50). */
#define MIG_LIMIT_RAMBLOCKS         4096u
/* Distinct section ids kept in the id -> (idstr, instance) map. */
#define MIG_LIMIT_SECTIONS          65536u
/* VMDESCRIPTION JSON held in memory to be parsed (7.2 q35: ~150 KiB). */
#define MIG_LIMIT_VMDESC            (16u * 1024u * 1024u)
/* JSON nesting depth accepted in a VMDESCRIPTION (real ones nest < 20). */
#define MIG_LIMIT_JSON_DEPTH        64u
/* PACKAGED blob (QEMU's own cap is MAX_VM_CMD_PACKAGED_SIZE, 4 GiB). */
#define MIG_LIMIT_PACKAGED          (1024ull * 1024u * 1024u)
/* Nested PACKAGED blobs: QEMU never nests them; one level is enough. */
#define MIG_LIMIT_PACKAGED_DEPTH    1u
/* Device section payload scanned for its footer before giving up. */
#define MIG_LIMIT_SCANNED_SECTION   (64u * 1024u * 1024u)
/* A postcopy received-bitmap following RP RECV_BITMAP (1 TiB of 4 KiB pages). */
#define MIG_LIMIT_RP_BITMAP         (32ull * 1024u * 1024u)
/* Target page size accepted (target-page-bits subsection, advise). */
#define MIG_LIMIT_PAGE_BITS_MIN     10u
#define MIG_LIMIT_PAGE_BITS_MAX     16u

/* Values (fields, elements, structs) produced by walking one device
 * section by its description (7.2 q35 "cpu": ~1,500). */
#define MIG_LIMIT_VMSTATE_VALUES    (1u << 20)
/* FULL device payloads held at once to be walked field by field, all
 * sections together (7.2 q35 with many devices: ~250 KiB). */
#define MIG_LIMIT_DEVICE_STATE      (16u * 1024u * 1024u)
/* A destination's `-dump-vmstate` file (7.2 x86_64: ~800 KiB). */
#define MIG_LIMIT_DUMP_VMSTATE      (32u * 1024u * 1024u)

#endif
