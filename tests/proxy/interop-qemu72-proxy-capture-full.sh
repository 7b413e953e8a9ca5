#!/usr/bin/env bash
# interop-qemu72-proxy-capture-full.sh - plain precopy (QEMU 7.2 "pc",
# 128 MiB) through migproxy --capture (full pages).  Recording relays on
# both sides of the proxy keep what each QEMU received; `migdump --extract`
# must give those bytes back from the capture, direction by direction, and
# `migdump CAPTURE` must summarise the migration: its connection, its
# phases in order, the verdict and the outcome, and the kernel's TCP
# figures for both of the proxy's sockets.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_migdump
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp
SRC_ARGS=(-M pc -m 128M)
DST_ARGS=(-M pc -m 128M)
cap=$TESTDIR/full.cap
PROXY_EXTRA=(--capture "$cap" --capture-pages full)
accept_case 1

"$MIGDUMP" --extract "$TESTDIR/x" "$cap" >"$TESTDIR/extract.out" 2>"$TESTDIR/extract.err" ||
    fail_check "migdump --extract failed: $(cat "$TESTDIR/extract.err")"
# the destination's relay saw what the destination received; the source's
# relay what the source received
cmp "$TESTDIR/x/s1-conn00.s2d" "$TESTDIR/rec-dst/conn00.s2d" &&
    log "ok: extracted main stream = what the destination received ($(stat -c %s "$TESTDIR/x/s1-conn00.s2d") bytes)" ||
    fail_check "extracted main stream differs from what the destination received"
cmp "$TESTDIR/x/s1-conn00.d2s" "$TESTDIR/rec-src/conn00.d2s" 2>/dev/null ||
    { [ ! -s "$TESTDIR/rec-src/conn00.d2s" ] && [ ! -e "$TESTDIR/x/s1-conn00.d2s" ]; } &&
    log "ok: extracted return direction = what the source received" ||
    fail_check "extracted return direction differs from what the source received"
check_eq "extracted main stream's sha256 = the proxy's" \
    "\"$(sha256sum <"$TESTDIR/x/s1-conn00.s2d" | cut -d' ' -f1)\"" \
    "$(events "$EV" '.[] | select(.event == "end") | .channels[0].sha256_to_destination')"

"$MIGDUMP" --json "$cap" >"$TESTDIR/cap.json" || fail_check "migdump --json CAPTURE failed"
check_eq "summary: verdict, outcome, one main connection" \
    "$(jq -c '[.sessions[] | {verdict, outcome, kinds: [.connections[].kind]}]' "$TESTDIR/cap.json")" \
    '[{"verdict":"accept","outcome":"completed","kinds":["main"]}]'
check_eq "summary: bytes to the destination = the relay's" \
    "$(jq '.sessions[0].connections[0].to_destination.bytes' "$TESTDIR/cap.json")" \
    "$(stat -c %s "$TESTDIR/rec-dst/conn00.s2d")"
check_eq "summary: phases header, setup, iterate, switchover, eof, in that order" \
    "$(jq -c '.sessions[0].connections[0].phases_ms | to_entries | sort_by(.value) | map(.key)' \
       "$TESTDIR/cap.json")" '["header","setup","iterate","switchover","eof"]'
check_eq "summary: nothing dropped, not cut short" \
    "$(jq -c '{dropped_records, cut_short}' "$TESTDIR/cap.json")" \
    '{"dropped_records":0,"cut_short":null}'
"$MIGDUMP" --json "$TESTDIR/rec-dst/conn00.s2d" >"$TESTDIR/stream.json"
check_eq "summary: configuration, RAM blocks and RAM total as the stream has them" \
    "$(jq -c '.sessions[0].connections[0] | {m: (.configuration | test("machine=pc-i440fx-7.2")),
              blocks: [.ramblocks[] | [.name, .length]], total: .ram_total}' "$TESTDIR/cap.json")" \
    "$(jq -c '{m: true, blocks: [.ramblocks[] | [.name, .length]], total: .ram_total}' "$TESTDIR/stream.json")"
log "round events: $(events "$EV" '[.[] | select(.event == "round")] | length')"
check_eq "summary: the daemon's rounds over RAM = its round events" \
    "$(jq -c '[.sessions[0].rounds[] | [.round, .bytes, .pages]]' "$TESTDIR/cap.json")" \
    "$(events "$EV" '[.[] | select(.event == "round") | [.round, .bytes, .pages]]')"
check_eq "the end event counts no dropped capture records" \
    "$(events "$EV" '.[] | select(.event == "end") | .capture_dropped')" 0
# TCP_INFO of the proxy's two sockets of the main connection: sampled in
# the capture, summed up in the end event from the same last sample
check_eq "end event: tcp figures for both sockets of the main connection" \
    "$(events "$EV" '[.[] | select(.event == "end") | .tcp[] | select(.samples > 0) |
                     "\(.channel) \(.side)"] | sort')" '["0 destination","0 source"]'
check_eq "capture: the same last figures as the end event" \
    "$(jq -c '.sessions[0].connections[0].tcp | [.source, .destination] |
              map({rtt_max_us, retransmits, has_limits: has("rwnd_limited_us")})' "$TESTDIR/cap.json")" \
    "$(events "$EV" '[.[] | select(.event == "end") | .tcp[]] | sort_by(.side) | reverse |
                     map({rtt_max_us, retransmits, has_limits: true})')"
"$MIGDUMP" "$cap" >"$TESTDIR/cap.txt" || fail_check "migdump CAPTURE failed"
grep -q "tcp to the destination: [0-9]* samples" "$TESTDIR/cap.txt" &&
    log "ok: $(grep "tcp to the destination" "$TESTDIR/cap.txt")" ||
    fail_check "no tcp line in the text summary"
grep -q "session 1: verdict accept, outcome completed" "$TESTDIR/cap.txt" &&
    log "ok: text summary" || fail_check "text summary: $(head -5 "$TESTDIR/cap.txt")"
finish
