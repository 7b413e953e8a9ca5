#!/usr/bin/env bash
# devices-qemu72-pc.sh - migdump --devices on a real QEMU 7.2 "pc" stream
# with 2 vCPUs, VGA, e1000, virtio-net and a USB tablet on UHCI: every FULL
# section decoded field by field, values against QEMU's own (registers,
# halted state, PCI ids, CMOS size) and, with ANALYZE_MIGRATION, against
# analyze-migration.py.
. "$(dirname "$0")/devices-functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

qemu_start src -M pc -m 64M -smp 2 \
    -device VGA,id=vga0 -device e1000,id=nic0 -device virtio-net-pci,id=nic1 \
    -device piix3-usb-uhci,id=usb0 -device usb-tablet,bus=usb0.0
migrate_to_file src "$TESTDIR/stream"
# VGA, e1000, UHCI, PIIX3, PIIX4 PM, I440FX (virtio-net's config is inside
# its opaque "virtio" field)
check_devices_dump src "$TESTDIR/stream" 5
finish
