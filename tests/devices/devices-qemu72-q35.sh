#!/usr/bin/env bash
# devices-qemu72-q35.sh - migdump --devices on a real QEMU 7.2 "q35" stream
# with many devices (VGA, e1000, virtio-net, virtio-blk, virtio-rng,
# virtio-balloon, XHCI with a tablet, a serial port, 2 vCPUs), checked as
# in devices-qemu72-pc.sh.
. "$(dirname "$0")/devices-functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

qemu_start src -M q35 -m 128M -smp 2 \
    -device VGA,id=vga0 -device e1000,id=nic0 -device virtio-net-pci,id=nic1 \
    -blockdev null-co,node-name=disk0,size=1048576 -device virtio-blk-pci,drive=disk0,id=blk0 \
    -device virtio-rng-pci,id=rng0 -device virtio-balloon-pci,id=balloon0 \
    -device qemu-xhci,id=xhci0 -device usb-tablet,bus=xhci0.0 \
    -chardev null,id=ser0 -device isa-serial,id=serial0,chardev=ser0
migrate_to_file src "$TESTDIR/stream"
check_devices_dump src "$TESTDIR/stream" 4
check_jq "the stream has the virtio-blk, virtio-rng and xhci sections" \
    "$TESTDIR/src.devices.json" \
    '[keys[] | select(test("/virtio-blk |/virtio-rng |/xhci "))] | length == 3'
finish
