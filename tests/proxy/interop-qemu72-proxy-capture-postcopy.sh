#!/usr/bin/env bash
# interop-qemu72-proxy-capture-postcopy.sh - a real postcopy migration
# (QEMU 7.2 "pc", 128 MiB, a guest that keeps writing its RAM, the source
# slowed, migrate-start-postcopy during precopy) through migproxy --capture
# (full pages).  `migdump --extract` must give back both directions of the
# main connection as the recording relays saw them (the stream with its
# PACKAGED switch to postcopy, and the return path with whatever the
# destination asked for), and the summary must show the commands and the
# return-path messages.
#
# With the argument "preempt", postcopy-preempt is on at both ends: QEMU
# 7.2 opens a second connection for urgent pages once postcopy starts, and
# the capture must hold it as its own channel, extracted as exactly.
. "$(dirname "$0")/proxy-functions.sh"
mode=${1:-plain}
case $mode in
    plain) caps="postcopy-ram" conns="00" params='{"max-bandwidth": 300000}' ;;
    # postcopy's background stream slowed too, so that the pages the
    # destination's guest faults on are asked for before they come anyway
    # and cross on the preempt channel
    preempt) caps="postcopy-ram postcopy-preempt" conns="00 01"
             params='{"max-bandwidth": 300000, "max-postcopy-bandwidth": 100000}' ;;
    *) die "usage: $0 [plain|preempt]" ;;
esac
require_migproxy
require_migdump
require_qemu_version 7.2
migtest_init
require_tool cmp
make_dirty_rom "$TESTDIR/dirty.rom"
cap=$TESTDIR/postcopy.cap

DEST_CAPS="$caps" dest_start dst -M pc -m 128M -option-rom "$TESTDIR/dirty.rom"
SRC_CAPS="$caps" SRC_PARAMS="$params" \
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
for conn in $conns; do
    for dir in s2d d2s; do
        want=$TESTDIR/rec-dst/conn$conn.$dir
        [ "$dir" = d2s ] && want=$TESTDIR/rec-src/conn$conn.d2s
        [ -s "$want" ] || [ -s "$TESTDIR/x/s1-conn$conn.$dir" ] || continue
        cmp -s "$TESTDIR/x/s1-conn$conn.$dir" "$want" &&
            log "ok: extracted conn$conn $dir = what the other side received ($(stat -c %s "$want") bytes)" ||
            fail_check "extracted conn$conn $dir differs from what the other side received"
    done
done
if [ "$mode" = preempt ]; then
    check_eq "capture: a main and a preempt connection, the preempt one carried pages" \
        "$("$MIGDUMP" --json "$cap" | jq -c '[.sessions[0].connections[] | .kind]')" '["main","preempt"]'
    # more than the channel's 8-byte greeting: pages the destination asked for
    n=$(stat -c %s "$TESTDIR/rec-dst/conn01.s2d" 2>/dev/null || echo 0)
    [ "$n" -gt 4096 ] && log "ok: the preempt channel carried $n bytes" ||
        fail_check "the preempt channel carried $n bytes, no page"
fi
"$MIGDUMP" --json "$cap" >"$TESTDIR/cap.json" || fail_check "migdump --json CAPTURE failed"
check_eq "summary: commands (advise, packaged ...), return-path messages, the outcome" \
    "$(jq -c '.sessions[0] | {c: (.connections[0].commands > 0),
              rp: (.connections[0].return_path_messages > 0), outcome}' "$TESTDIR/cap.json")" \
    '{"c":true,"rp":true,"outcome":"completed"}'
finish
