/*
 * diff.h - `migproxy diff A B`: every difference between two VM
 * configurations that matters for migrating from A (the source side) to B
 * (the destination side), as findings in a report; the verdict says
 * whether A's migration stream would load on B.
 *
 * Made of the checks the proxy makes at the gate (mp_check_facts(),
 * mp_check_late_section(), mp_check_device_set()) plus what only two
 * complete streams can show: capabilities announced by one side only when
 * neither side is a profile, section versions that differ without
 * failing, and, where both sides carry a VMDESCRIPTION (a profile: its
 * layouts), each device's fields and subsections at equal section
 * versions (what QEMU's
 * scripts/vmstate-static-checker.py compares between two binaries).
 * Pure logic; codes in FINDINGS.md, "Offline comparison".
 */
#ifndef MP_POLICY_DIFF_H
#define MP_POLICY_DIFF_H

#include "findings.h"
#include "vmconfig.h"

G_BEGIN_DECLS

void mp_diff_configs(MpReport *report, const MpVmConfig *a, const MpVmConfig *b);

G_END_DECLS

#endif
