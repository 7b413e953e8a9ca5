#!/usr/bin/env bash
# reject-source-ignore-shared.sh - x-ignore-shared on the source only: the
# stream announces it, the destination has it off (QEMU's "Capability
# x-ignore-shared is off, but received capability is on").
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
SRC_ARGS=(-M pc -m 128M)
SRC_CAPS="x-ignore-shared"
DST_ARGS=(-M pc -m 128M)
SRC2_ARGS=(-M pc -m 128M)
PROXY_EXTRA=()
reject_case capability-mismatch '"on"' '"off"'
