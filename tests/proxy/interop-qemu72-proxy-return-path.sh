#!/usr/bin/env bash
# interop-qemu72-proxy-return-path.sh - accepted and completed through
# migproxy, bytes identical in both directions: the return-path capability,
# so the destination answers on the main connection (PONG, SHUT), and that
# goes back to the source untouched.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp
SRC_ARGS=(-M pc -m 128M)
DST_ARGS=(-M pc -m 128M)
SRC_CAPS="return-path"
DEST_CAPS="return-path"
PROXY_EXTRA=()
accept_case 1
[ -s "$TESTDIR/rec-dst/conn00.d2s" ] && log "ok: the destination sent something back" ||
    fail_check "nothing came back on the return path"
check_eq "the return path ended with SHUT 0 (destination finished well)" \
    "$(events "$EV" '.[] | select(.event == "end") | .return_path_shut')" 0
check_eq "OPEN_RETURN_PATH in the stream" \
    "$("$MIGDUMP" --json "$TESTDIR/rec-dst/conn00.s2d" | jq -c '[.commands[].name] | index("open-return-path") != null')" true
finish
