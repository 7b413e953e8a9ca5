#!/usr/bin/env bash
# interop-qemu72-proxy-q35-devices.sh - accepted and completed through
# migproxy, bytes identical on every connection in both directions:
# a q35 machine with several devices
# (VGA, virtio-rng, virtio-balloon, xhci with a tablet, virtio-serial).
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp
SRC_ARGS=(-M q35 -m 128M -device VGA,vgamem_mb=8 -device virtio-rng-pci -device virtio-balloon-pci -device qemu-xhci -device usb-tablet -device virtio-serial-pci)
DST_ARGS=(-M q35 -m 128M -device VGA,vgamem_mb=8 -device virtio-rng-pci -device virtio-balloon-pci -device qemu-xhci -device usb-tablet -device virtio-serial-pci)
SRC_CAPS=""
DEST_CAPS=""
PROXY_EXTRA=()
accept_case 1
finish
