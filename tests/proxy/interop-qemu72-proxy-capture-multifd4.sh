#!/usr/bin/env bash
# interop-qemu72-proxy-capture-multifd4.sh - multifd with 4 channels (QEMU
# 7.2 "pc", 128 MiB, 32 MiB of random RAM so that the channels carry
# pages) through migproxy --capture (full pages).  `migdump --extract` must
# give back every connection's bytes in both directions: the same set as
# what the destination and the source received (recording relays).  The
# capture drawn with `migdump --timeline` and rendered with rsvg-convert
# must show a rate line per connection, the phases in order, the verdict,
# and the bytes sent against the RAM size; so must a real capture of a
# rejected connection (from the fuzz corpus), with the rejection in red.
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

"$MIGDUMP" --timeline "$TESTDIR/t.svg" "$cap" || fail_check "migdump --timeline failed"
"$MIGDUMP" --json "$TESTDIR/rec-dst/conn00.s2d" >"$TESTDIR/main.json"
expect=$(jq -c --slurpfile m "$TESTDIR/main.json" '{
    lines: [.sessions[0].connections[] | .to_destination, .to_source | select(.chunks > 0)] | length,
    phases: ["header", "setup", "iterate", "switchover", "eof"],
    verdict: "accept", failure: false,
    ram_fraction: (([.sessions[0].connections[].to_destination.bytes] | add) / $m[0].ram_total)
  }' "$TESTDIR/cap.json")
log "timeline expected: $expect"
if command -v rsvg-convert >/dev/null; then
    rsvg-convert -o "$TESTDIR/t.png" "$TESTDIR/t.svg" || fail_check "rsvg-convert failed"
    "$PYTHON" "$(dirname "$0")/check-timeline.py" "$TESTDIR/t.svg" "$TESTDIR/t.png" "$expect" >&2 &&
        log "ok: the timeline shows the migration" || fail_check "the timeline picture"
    rejected=$(dirname "$0")/../fuzz/corpus/capture/qemu72-rejected-not-migration
    "$MIGDUMP" --timeline "$TESTDIR/r.svg" "$rejected" &&
        rsvg-convert -o "$TESTDIR/r.png" "$TESTDIR/r.svg" &&
        "$PYTHON" "$(dirname "$0")/check-timeline.py" "$TESTDIR/r.svg" "$TESTDIR/r.png" \
            '{"lines":1,"phases":[],"verdict":"reject","failure":true}' >&2 &&
        log "ok: the timeline of a rejection shows it in red" || fail_check "the rejection's timeline"
else
    fail_check "rsvg-convert is missing (librsvg2-bin): the timeline is not checked"
fi
finish
