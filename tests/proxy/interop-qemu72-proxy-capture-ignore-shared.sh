#!/usr/bin/env bash
# interop-qemu72-proxy-capture-ignore-shared.sh - x-ignore-shared on both
# sides (guest RAM in one shared memory-backend-file) through migproxy
# --capture-pages hash.  The capture's summary must carry the capability
# in the configuration, the RAM blocks and the byte count as the stream
# has them; its holes must be exactly the normal pages' payloads the stream
# carries (none of the shared block's).
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_migdump
require_qemu_version 7.2
migtest_init
require_tool truncate
truncate -s 128M "$TESTDIR/guest-ram" || die "cannot create the shared RAM file"
mem=(-object "memory-backend-file,id=mem,size=128M,mem-path=$TESTDIR/guest-ram,share=on")
SRC_ARGS=(-M pc,memory-backend=mem -m 128M "${mem[@]}")
DST_ARGS=(-M pc,memory-backend=mem -m 128M "${mem[@]}")
SRC_CAPS="x-ignore-shared"
DEST_CAPS="x-ignore-shared"
cap=$TESTDIR/shared.cap
PROXY_EXTRA=(--capture "$cap" --capture-pages hash)
accept_case 1

"$MIGDUMP" --json "$TESTDIR/rec-dst/conn00.s2d" >"$TESTDIR/stream.json"
"$MIGDUMP" --json "$cap" >"$TESTDIR/cap.json" || fail_check "migdump --json CAPTURE failed"
check_eq "the capture's configuration names x-ignore-shared" \
    "$(jq -c '.sessions[0].connections[0].configuration | test("cap=x-ignore-shared")' "$TESTDIR/cap.json")" true
check_eq "RAM blocks, RAM total and bytes as in the stream" \
    "$(jq -c '.sessions[0].connections[0] | {b: [.ramblocks[] | [.name, .length]], t: .ram_total,
              n: .to_destination.bytes}' "$TESTDIR/cap.json")" \
    "$(jq -c --arg n "$(stat -c %s "$TESTDIR/rec-dst/conn00.s2d")" \
       '{b: [.ramblocks[] | [.name, .length]], t: .ram_total, n: ($n | tonumber)}' "$TESTDIR/stream.json")"
log "normal pages in the stream: $(jq .pages.normal "$TESTDIR/stream.json"), capture $(stat -c %s "$cap") bytes"
check_eq "holes: the stream's normal pages' payloads, nothing more" \
    "$(jq '.sessions[0].connections[0].to_destination.hole_bytes' "$TESTDIR/cap.json")" \
    "$(jq '.pages.normal * 4096' "$TESTDIR/stream.json")"
finish
