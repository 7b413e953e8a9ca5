#!/usr/bin/env bash
# interop-qemu72-proxy-capture-postcopy.sh - a real postcopy migration
# (QEMU 7.2 "pc", 128 MiB, a guest that keeps writing its RAM, the source
# slowed, migrate-start-postcopy during precopy) through migproxy --capture
# (full pages).  `migdump --extract` must give back both directions of the
# main connection as the recording relays saw them (the stream with its
# PACKAGED switch to postcopy, and the return path with whatever the
# destination asked for), and the summary must show the commands and the
# return-path messages.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_migdump
require_qemu_version 7.2
migtest_init
require_tool cmp
make_dirty_rom "$TESTDIR/dirty.rom"
cap=$TESTDIR/postcopy.cap

DEST_CAPS="postcopy-ram" dest_start dst -M pc -m 128M -option-rom "$TESTDIR/dirty.rom"
SRC_CAPS="postcopy-ram" SRC_PARAMS='{"max-bandwidth": 300000}' \
    source_start src -M pc -m 128M -option-rom "$TESTDIR/dirty.rom"
start_recorder "$TESTDIR/rec-dst" "$INCOMING_PORT"
rec_dst=$RECORDER_PID
proxy_start proxy --once --connect "tcp:127.0.0.1:$RECORDER_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp" --capture "$cap"
start_recorder "$TESTDIR/rec-src" "$PROXY_PORT"
rec_src=$RECORDER_PID
migrate src "$RECORDER_PORT"
qmp_py wait-migration src 30 --until active >/dev/null || die "the migration did not start"
sleep 1
qmp src migrate-start-postcopy >/dev/null || die "migrate-start-postcopy failed"
qmp_py wait-migration src 120 >"$TESTDIR/src.final" ||
    fail_check "the postcopy migration did not complete: $(cat "$TESTDIR/src.final")"
proxy_wait 60
RECORDER_PID=$rec_src RECORDER_DIR=$TESTDIR/rec-src wait_recorder 30
RECORDER_PID=$rec_dst RECORDER_DIR=$TESTDIR/rec-dst wait_recorder 30
EV=$TESTDIR/proxy.events
check_eq "end: completed" "$(events "$EV" '[.[] | select(.event == "end") | .outcome]')" '["completed"]'

"$MIGDUMP" --extract "$TESTDIR/x" "$cap" >"$TESTDIR/x.out" 2>"$TESTDIR/x.err" ||
    fail_check "migdump --extract failed: $(cat "$TESTDIR/x.err")"
for dir in s2d d2s; do
    want=$TESTDIR/rec-dst/conn00.$dir
    [ "$dir" = d2s ] && want=$TESTDIR/rec-src/conn00.d2s
    cmp -s "$TESTDIR/x/s1-conn00.$dir" "$want" &&
        log "ok: extracted $dir = what the other side received ($(stat -c %s "$want") bytes)" ||
        fail_check "extracted $dir differs from what the other side received"
done
"$MIGDUMP" --json "$cap" >"$TESTDIR/cap.json" || fail_check "migdump --json CAPTURE failed"
check_eq "summary: commands (advise, packaged ...), return-path messages, the outcome" \
    "$(jq -c '.sessions[0] | {c: (.connections[0].commands > 0),
              rp: (.connections[0].return_path_messages > 0), outcome}' "$TESTDIR/cap.json")" \
    '{"c":true,"rp":true,"outcome":"completed"}'
finish
