#!/usr/bin/env bash
# interop-qemu72-proxy-capture-return-path.sh - a migration with the
# return-path capability (QEMU 7.2 "pc", 128 MiB) through migproxy
# --capture-pages none.  The destination's answers on the main connection
# are captured whole (they carry no page payloads) and decoded: the
# summary counts the return-path messages; --extract writes the direction
# back, equal to what the source received, and refuses the stream's
# direction, which has holes.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_migdump
require_qemu_version 7.2
migtest_init
require_tool cmp
SRC_ARGS=(-M pc -m 128M)
DST_ARGS=(-M pc -m 128M)
SRC_CAPS="return-path"
DEST_CAPS="return-path"
cap=$TESTDIR/rp.cap
PROXY_EXTRA=(--capture "$cap" --capture-pages none)
accept_case 1

"$MIGDUMP" --json "$cap" >"$TESTDIR/cap.json" || fail_check "migdump --json CAPTURE failed"
check_eq "bytes back = what the source received" \
    "$(jq '.sessions[0].connections[0].to_source.bytes' "$TESTDIR/cap.json")" \
    "$(stat -c %s "$TESTDIR/rec-src/conn00.d2s")"
[ "$(jq '.sessions[0].connections[0].return_path_messages' "$TESTDIR/cap.json")" -gt 0 ] &&
    log "ok: $(jq '.sessions[0].connections[0].return_path_messages' "$TESTDIR/cap.json") return-path messages decoded from the capture" ||
    fail_check "no return-path message in the capture"
log "return path: $(jq -c '[.sessions[0].connections[0].return_path[].message]' "$TESTDIR/cap.json")"
check_eq "the return path's messages include shut 0" \
    "$(jq -c '[.sessions[0].connections[0].return_path[].message | test("shut len=4 data=00000000")] | any' \
       "$TESTDIR/cap.json")" true
check_eq "page payloads left out (none mode), the return path kept whole" \
    "$(jq -c '.sessions[0].connections[0] | {down_holes: .to_source.holes, up_holes: (.to_destination.holes > 0)}' \
       "$TESTDIR/cap.json")" '{"down_holes":0,"up_holes":true}'
"$MIGDUMP" --extract "$TESTDIR/x" "$cap" >"$TESTDIR/x.out" 2>"$TESTDIR/x.err"
check_eq "--extract: exit status 1 (the stream's direction has holes)" "$?" 1
cmp -s "$TESTDIR/x/s1-conn00.d2s" "$TESTDIR/rec-src/conn00.d2s" &&
    log "ok: the direction back extracted = what the source received" ||
    fail_check "the extracted direction back differs"
[ ! -e "$TESTDIR/x/s1-conn00.s2d" ] && log "ok: no stream written from a capture without pages" ||
    fail_check "a stream was written from a capture without page payloads"
finish
