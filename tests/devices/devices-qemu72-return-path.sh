#!/usr/bin/env bash
# devices-qemu72-return-path.sh - migdump --devices on the main connection
# of a real QEMU 7.2 migration with a return path (recorded between two
# QEMUs by record.py): OPEN_RETURN_PATH and PING commands come before the
# sections, which QEMU 7.2's analyze-migration.py cannot read past.  The
# device state against the source's own (registers, PCI ids) and against
# the destination's, which loaded it: its registers after the migration
# are the ones in the stream.
. "$(dirname "$0")/devices-functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

qemu_start src -M pc -m 64M -smp 2 -device e1000,id=nic0
qemu_start dst -M pc -m 64M -smp 2 -device e1000,id=nic0 -incoming defer
set_caps src return-path
set_caps dst return-path
qmp src stop >/dev/null || die "stop failed"
start_incoming dst
start_recorder "$TESTDIR/rec" "$INCOMING_PORT"
qmp src migrate "{\"uri\":\"tcp:127.0.0.1:$RECORDER_PORT\"}" >/dev/null || die "migrate failed"
wait_migration_via_recorder src dst "$TESTDIR/rec" paused
stream=$TESTDIR/rec/conn00.s2d
"$MIGDUMP" --json "$stream" >"$TESTDIR/summary.json" || die "migdump --json failed"
check_eq "commands before the device state" \
    "$(jget "$TESTDIR/summary.json" '[.commands[].name]')" '["open-return-path","ping"]'
check_devices_dump src "$stream" 4 "return-path commands"
# The destination loaded this state and stays paused: its registers now.
hmp dst "info registers -a" >"$TESTDIR/dst.registers" || die "info registers on dst failed"
qmp dst query-pci >"$TESTDIR/dst.pci" || die "query-pci on dst failed"
"$PYTHON" "$DEVICES_SRCDIR/check-devices.py" "$TESTDIR/src.devices.json" "$TESTDIR/summary.json" \
    "$TESTDIR/dst.registers" "$TESTDIR/dst.pci" >"$TESTDIR/dst.check.json" || die "check-devices.py failed"
check_eq "the destination's registers after loading = the stream's, for every CPU" \
    "$(jq -c '[.cpu_registers, .cpus_compared]' "$TESTDIR/dst.check.json")" '[[],2]'
finish
