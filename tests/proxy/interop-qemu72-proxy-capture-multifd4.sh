#!/usr/bin/env bash
# interop-qemu72-proxy-capture-multifd4.sh - multifd with 4 channels (QEMU
# 7.2 "pc", 128 MiB, 32 MiB of random RAM so that the channels carry
# pages) through migproxy --capture (full pages).  `migdump --extract` must
# give back every connection's bytes in both directions: the same set as
# what the destination and the source received (recording relays).
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_migdump
require_qemu_version 7.2
migtest_init
require_tool sha256sum head
head -c $((32 * 1024 * 1024)) /dev/urandom >"$TESTDIR/random.bin"
SRC_ARGS=(-M pc -m 128M -device "loader,file=$TESTDIR/random.bin,addr=0x1000000,force-raw=on")
DST_ARGS=(-M pc -m 128M -device "loader,file=$TESTDIR/random.bin,addr=0x1000000,force-raw=on")
SRC_CAPS="multifd"
DEST_CAPS="multifd"
SRC_PARAMS='{"multifd-channels": 4}'
DEST_PARAMS='{"multifd-channels": 4}'
cap=$TESTDIR/multifd.cap
PROXY_EXTRA=(--capture "$cap")
accept_case 5

"$MIGDUMP" --extract "$TESTDIR/x" "$cap" >"$TESTDIR/extract.out" 2>"$TESTDIR/extract.err" ||
    fail_check "migdump --extract failed: $(cat "$TESTDIR/extract.err")"
digests() { # DIR GLOB: sorted sha256 of the non-empty files
    local f
    for f in "$1"/$2; do
        [ -s "$f" ] && sha256sum <"$f" | cut -d' ' -f1
    done | sort
}
check_eq "five connections extracted towards the destination" \
    "$(ls "$TESTDIR/x"/*.s2d | wc -l)" 5
check_eq "extracted streams = what the destination received, as a set" \
    "$(digests "$TESTDIR/x" '*.s2d')" "$(digests "$TESTDIR/rec-dst" 'conn*.s2d')"
check_eq "extracted return bytes = what the source received, as a set" \
    "$(digests "$TESTDIR/x" '*.d2s')" "$(digests "$TESTDIR/rec-src" 'conn*.d2s')"
cmp -s "$TESTDIR/x/s1-conn00.s2d" "$TESTDIR/rec-dst/conn00.s2d" &&
    log "ok: main channel first, identical" || fail_check "main channel differs"
"$MIGDUMP" --json "$cap" >"$TESTDIR/cap.json" || fail_check "migdump --json CAPTURE failed"
check_eq "summary: one main and four multifd connections, verdict, outcome" \
    "$(jq -c '[.sessions[] | {verdict, outcome, kinds: [.connections[].kind]}]' "$TESTDIR/cap.json")" \
    '[{"verdict":"accept","outcome":"completed","kinds":["main","multifd","multifd","multifd","multifd"]}]'
check_eq "summary: the multifd connections carried packets" \
    "$(jq -c '[.sessions[0].connections[1:][] | .multifd_packets > 0] | unique' "$TESTDIR/cap.json")" \
    '[true]'
finish
