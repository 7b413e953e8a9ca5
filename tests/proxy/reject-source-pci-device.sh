#!/usr/bin/env bash
# reject-source-pci-device.sh - a virtio-rng-pci device on the source only.
# It has no RAM block, so the block lists agree, and QEMU 7.2 would fail
# only at the end, on the device's section.  With --source-qmp migproxy
# compares the two sides' PCI devices at the gate and rejects before the
# destination is contacted.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
SRC_ARGS=(-M pc -m 128M -device virtio-rng-pci -qmp "unix:$TESTDIR/src-proxy.qmp,server=on,wait=off")
DST_ARGS=(-M pc -m 128M)
SRC2_ARGS=(-M pc -m 128M)
PROXY_EXTRA=(--source-qmp "unix:$TESTDIR/src-proxy.qmp")
PROXY2_EXTRA=()
reject_case pci-device-missing '"present"' '"absent"'
