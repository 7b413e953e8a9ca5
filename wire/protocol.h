/*
 * protocol.h - constants of QEMU's migration stream, named as QEMU names them.
 *
 * Every name that appears in a decoder message or in migdump's output comes
 * from the tables derived from these constants (names.c), so that a reader
 * can grep QEMU's source for the same word.  Sources: migration/savevm.h,
 * migration/savevm.c, migration/ram.h, migration/migration.c,
 * migration/multifd.h (QEMU 7.2 to 10.2).
 */
#ifndef MIG_WIRE_PROTOCOL_H
#define MIG_WIRE_PROTOCOL_H

#include <stdint.h>

/* File header (migration/savevm.h) */
#define QEMU_VM_FILE_MAGIC          0x5145564Du /* "QEVM" */
#define QEMU_VM_FILE_VERSION_COMPAT 0x00000002u
#define QEMU_VM_FILE_VERSION        0x00000003u

/* Top-level type bytes (migration/savevm.h) */
enum {
    QEMU_VM_EOF             = 0x00,
    QEMU_VM_SECTION_START   = 0x01,
    QEMU_VM_SECTION_PART    = 0x02,
    QEMU_VM_SECTION_END     = 0x03,
    QEMU_VM_SECTION_FULL    = 0x04,
    QEMU_VM_SUBSECTION      = 0x05,
    QEMU_VM_VMDESCRIPTION   = 0x06,
    QEMU_VM_CONFIGURATION   = 0x07,
    QEMU_VM_COMMAND         = 0x08,
    QEMU_VM_SECTION_FOOTER  = 0x7e,
};

/* Commands carried by QEMU_VM_COMMAND (enum order in migration/savevm.c) */
enum {
    MIG_CMD_INVALID = 0,
    MIG_CMD_OPEN_RETURN_PATH,
    MIG_CMD_PING,
    MIG_CMD_POSTCOPY_ADVISE,
    MIG_CMD_POSTCOPY_LISTEN,
    MIG_CMD_POSTCOPY_RUN,
    MIG_CMD_POSTCOPY_RAM_DISCARD,
    MIG_CMD_PACKAGED,
    MIG_CMD_ENABLE_COLO,
    MIG_CMD_POSTCOPY_RESUME,
    MIG_CMD_RECV_BITMAP,
    MIG_CMD_SWITCHOVER_START, /* 10.0+ */
    MIG_CMD_MAX
};

/* PING values the source sends (migration/migration.c, migration/savevm.h) */
#define MIG_PING_PACKAGED_LOADED 0x42u

/* Return-path message types (migration/migration.c) */
enum {
    MIG_RP_MSG_INVALID = 0,
    MIG_RP_MSG_SHUT,
    MIG_RP_MSG_PONG,
    MIG_RP_MSG_REQ_PAGES_ID,
    MIG_RP_MSG_REQ_PAGES,
    MIG_RP_MSG_RECV_BITMAP,
    MIG_RP_MSG_RESUME_ACK,
    MIG_RP_MSG_SWITCHOVER_ACK, /* 8.1+ */
    MIG_RP_MSG_MAX
};
#define MIG_RP_MAX_LEN             512u   /* source rejects longer messages */
#define MIG_RP_BITMAP_END_MARK     0x0123456789ABCDEFull
#define MIGRATION_RESUME_ACK_VALUE 1u

/* RAM record flags (migration/ram.h); the low bits of each be64 word. */
#define RAM_SAVE_FLAG_FULL          0x001u /* obsolete, never sent */
#define RAM_SAVE_FLAG_ZERO          0x002u
#define RAM_SAVE_FLAG_MEM_SIZE      0x004u
#define RAM_SAVE_FLAG_PAGE          0x008u
#define RAM_SAVE_FLAG_EOS           0x010u
#define RAM_SAVE_FLAG_CONTINUE      0x020u
#define RAM_SAVE_FLAG_XBZRLE        0x040u
#define RAM_SAVE_FLAG_HOOK          0x080u /* RDMA only */
#define RAM_SAVE_FLAG_COMPRESS_PAGE 0x100u /* <= 9.0 */
#define RAM_SAVE_FLAG_MULTIFD_FLUSH 0x200u /* 8.0+ */
/* QEMU promises flags stay below 1 KiB, the smallest target page. */
#define RAM_SAVE_FLAG_MASK          0x3ffu
#define ENCODING_FLAG_XBZRLE        0x01u

/* mapped-ram per-block header (migration/ram.c, 9.0+) */
#define MAPPED_RAM_HDR_VERSION      1u
#define MAPPED_RAM_HDR_SIZE         28u

/* Multifd (migration/multifd.c, migration/multifd.h) */
#define MULTIFD_MAGIC               0x11223344u
#define MULTIFD_VERSION             1u
#define MULTIFD_INIT_SIZE           64u
#define MULTIFD_PACKET_SIZE         (512u * 1024u)
#define MULTIFD_FLAG_SYNC           0x01u
#define MULTIFD_FLAG_COMPRESSION_MASK 0x3eu
#define MULTIFD_FLAG_NOCOMP         0x00u
#define MULTIFD_FLAG_ZLIB           0x02u
#define MULTIFD_FLAG_ZSTD           0x04u
#define MULTIFD_FLAG_QPL            0x08u
#define MULTIFD_FLAG_UADK           0x10u
#define MULTIFD_FLAG_QATZIP         0x20u
#define MULTIFD_FLAG_DEVICE_STATE   0x40u  /* 10.0+ */
#define MULTIFD_RAM_HEADER_FIXED    320u   /* bytes before the offset array */
#define MULTIFD_DEVICE_HEADER_SIZE  276u

/* Names of the configuration subsections (migration/savevm.c) */
#define MIG_CONFIG_SUB_PAGE_BITS    "configuration/target-page-bits"
#define MIG_CONFIG_SUB_CAPABILITIES "configuration/capabilities"
#define MIG_CONFIG_SUB_UUID         "configuration/uuid"

/* Markers of the postcopy-recovery and CPR channels */
#define QEMU_CPR_MAGIC              0x51435052u /* "QCPR" */

#endif
