#!/usr/bin/env bash
# reject-dest-vga-vram.sh - VGA with 16 MiB of video memory on the source,
# 8 MiB on the destination: the vga.vram RAM block differs.  QEMU itself
# would only fail once all of RAM crossed; migproxy stops it at the start.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
SRC_ARGS=(-M pc -m 128M -device VGA,vgamem_mb=16)
DST_ARGS=(-M pc -m 128M -device VGA,vgamem_mb=8)
SRC2_ARGS=(-M pc -m 128M -device VGA,vgamem_mb=8)
PROXY_EXTRA=()
reject_case ramblock-size '"16 MiB (0x1000000)"' '"8 MiB (0x800000)"'
