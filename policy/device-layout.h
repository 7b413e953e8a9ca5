/*
 * device-layout.h - does a device section's payload fit the destination's
 * layout of that device?
 *
 * Why: a destination loads a FULL section field by field by its own
 * VMStateDescription; a payload written by another layout (a device
 * property that changes an array's length, another QEMU) is read
 * misaligned and QEMU fails only at the section's end ("Missing section
 * footer"), after all of RAM has crossed and the source has stopped.  The
 * destination's layout is the VMDESCRIPTION of a stream its configuration
 * wrote (MpFacts.layouts, `probe --sections-from`), walked here with the
 * source's payload before that payload is forwarded.
 */
#ifndef MP_POLICY_DEVICE_LAYOUT_H
#define MP_POLICY_DEVICE_LAYOUT_H

#include <glib.h>
#include <stdint.h>
#include "findings.h"
#include "vmstate.h"

G_BEGIN_DECLS

/*
 * Walk the @len payload bytes at @payload (stream offset @offset) of
 * section (@idstr, @instance, @version) with @layouts.  Adds and returns
 * "device-layout" (error) when the payload does not fit: the field where
 * the walk broke or the bytes left over; "device-layout-unchecked" (info)
 * when it cannot be judged (no layout of this section, a layout of another
 * version, a subsection the reference never sent); NULL when it fits.
 * @where names the section and its place for the message.
 */
const MpFinding *mp_check_device_layout(const MigVmstateDesc *layouts, const char *idstr,
                                        uint32_t instance, uint32_t version,
                                        const uint8_t *payload, size_t len, uint64_t offset,
                                        const char *where, MpReport *report);

/* "device-layout-unchecked" for a section the caller could not walk (@why). */
const MpFinding *mp_device_layout_unchecked(const char *idstr, uint32_t instance,
                                            const char *where, const char *why,
                                            MpReport *report);

G_END_DECLS

#endif
