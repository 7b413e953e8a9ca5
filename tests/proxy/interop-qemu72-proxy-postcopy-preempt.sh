#!/usr/bin/env bash
# interop-qemu72-proxy-postcopy-preempt.sh - postcopy-ram and
# postcopy-preempt on both sides.  QEMU 7.2 opens the preempt channel right
# after the main one and sends nothing on it unless postcopy starts, so the
# proxy sees a silent second connection; with postcopy advised it takes it
# as the session's preempt channel and connects it upstream right after the
# main one (the 7.2 destination goes by arrival order).  The migration
# completes in precopy; both connections identical on both sides.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp
SRC_ARGS=(-M pc -m 128M)
DST_ARGS=(-M pc -m 128M)
SRC_CAPS="postcopy-ram postcopy-preempt"
DEST_CAPS="postcopy-ram postcopy-preempt"
PROXY_EXTRA=()
accept_case 2
check_eq "proxy: a main and a preempt channel" \
    "$(events "$EV" '[.[] | select(.event == "end") | .channels[].kind]')" '["main","preempt"]'
finish
