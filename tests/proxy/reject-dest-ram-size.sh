#!/usr/bin/env bash
# reject-dest-ram-size.sh - the source has 256 MiB, the destination 128 MiB:
# rejected before the destination is contacted, with both sizes and the -m
# to use; the destination then takes a 128 MiB source.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
SRC_ARGS=(-M pc -m 256M)
DST_ARGS=(-M pc -m 128M)
SRC2_ARGS=(-M pc -m 128M)
PROXY_EXTRA=()
reject_case ramblock-size '"256 MiB (0x10000000)"' '"128 MiB (0x8000000)"'
