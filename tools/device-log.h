/*
 * device-log.h - what migdump gathers about device sections while the
 * decoder runs, and the three things it does with it: print every FULL
 * section field by field (--devices), check section versions against a
 * destination's -dump-vmstate (--dest-vmstate) and compare the section
 * lists of two streams (--compare-devices).
 */
#ifndef MIGDUMP_DEVICE_LOG_H
#define MIGDUMP_DEVICE_LOG_H

#include <stdbool.h>
#include <stdio.h>
#include "decoder.h"
#include "devices.h"
#include "stream-source.h"
#include "vmstate.h"

typedef struct DeviceLog DeviceLog;

DeviceLog *device_log_new(void);
void device_log_free(DeviceLog *log);

/* Feed every decoder event of the main channel. */
void device_log_event(DeviceLog *log, const MigEvent *ev);

/* The (idstr, instance, version) of every START/FULL section seen. */
const GArray *device_log_sections(const DeviceLog *log);   /* MpSectionRef */

/* TRUE once the stream's VMDESCRIPTION went by. */
bool device_log_has_vmdesc(const DeviceLog *log);

/*
 * The stream's VMDESCRIPTION, parsed on first use; NULL when the stream
 * had none or it does not parse (said once on stderr).  Owned by @log.
 */
const MigVmstateDesc *device_log_vmdesc(DeviceLog *log);

/* The parsed VMDESCRIPTION, now the caller's (NULL as above). */
MigVmstateDesc *device_log_take_vmdesc(DeviceLog *log);

/*
 * Print every section that analyze-migration.py prints, from the stream
 * of @src (payloads are read back at the offsets the events gave):
 * as text, or with @json as one object keyed "IDSTR (SECTION_ID)".
 * With @reference (a VMDESCRIPTION of another stream of the same
 * configuration) sections are walked by it (mig_vmstate_walk_foreign)
 * instead of the stream's own, which need not exist; a section whose
 * walk lands exactly on a boundary the footer scan guessed confirms it.
 * Problems go to stderr.  Returns 0 when every FULL section was decoded
 * field by field, 1 when one was not, 2 when @src cannot be read back.
 */
int device_log_print(DeviceLog *log, MpStreamSource *src, const MigVmstateDesc *reference,
                     bool json, FILE *out);

#endif
