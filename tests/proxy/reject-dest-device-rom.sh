#!/usr/bin/env bash
# reject-dest-device-rom.sh - a VGA card on the source only.  QEMU 7.2
# would fail only after all of RAM, on the device's section; but the card's
# video memory and option ROM are RAM blocks, so the block list at the
# start shows them and migproxy rejects before the destination is
# contacted.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
SRC_ARGS=(-M pc -m 128M -device VGA)
DST_ARGS=(-M pc -m 128M)
SRC2_ARGS=(-M pc -m 128M)
PROXY_EXTRA=()
reject_case ramblock-missing '"16 MiB (0x1000000)"' '"absent"'
