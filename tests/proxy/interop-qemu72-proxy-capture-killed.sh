#!/usr/bin/env bash
# interop-qemu72-proxy-capture-killed.sh - migproxy --capture is killed
# with SIGKILL in the middle of a (slowed) QEMU 7.2 migration.  The capture
# must still read up to the cut: the session, its verdict and its main
# connection with the bytes read so far, which are a prefix of what the
# source sent (recording relay); cut inside a record (the file shortened
# by a few bytes) it reads up to the last whole record and says where it
# was cut.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_migdump
require_qemu_version 7.2
migtest_init
require_tool head cmp
dest_start dst -M pc -m 128M
SRC_PARAMS='{"max-bandwidth": 300000}' source_start src -M pc -m 128M
cap=$TESTDIR/killed.cap
proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp" --capture "$cap"
EV=$TESTDIR/proxy.events
start_recorder "$TESTDIR/rec-src" "$PROXY_PORT"
migrate src "$RECORDER_PORT"
for ((n = 0; n < 100; n++)); do
    [ "$(events "$EV" '[.[] | select(.event == "verdict")] | length')" = 1 ] && break
    sleep 0.1
done
check_eq "verdict accept" "$(events "$EV" '[.[] | select(.event == "verdict") | .verdict]')" \
    '["accept"]'
sleep 1                         # mid-stream: the whole stream takes about 3 s
kill -KILL "$PROXY_PID"
wait "$PROXY_PID" 2>/dev/null
forget_pid "$PROXY_PID"
wait_recorder 30

"$MIGDUMP" --json "$cap" >"$TESTDIR/cap.json" 2>"$TESTDIR/cap.err"
rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail_check "migdump on the killed capture exited $rc"
check_eq "killed capture: session, verdict, no end, a main connection" \
    "$(jq -c '[.sessions[] | {verdict, outcome, kinds: [.connections[].kind]}]' "$TESTDIR/cap.json")" \
    '[{"verdict":"accept","outcome":null,"kinds":["main"]}]'
got=$(jq '.sessions[0].connections[0].to_destination.bytes' "$TESTDIR/cap.json")
sent=$(stat -c %s "$TESTDIR/rec-src/conn00.s2d")
log "capture holds $got of the $sent bytes the source sent"
[ "$got" -gt 0 ] && [ "$got" -lt "$sent" ] && log "ok: part of the stream, not all of it" ||
    fail_check "expected part of the $sent bytes, the capture holds $got"
"$MIGDUMP" "$cap" >"$TESTDIR/cap.txt" 2>/dev/null
grep -q "ends before the session did" "$TESTDIR/cap.txt" && log "ok: says the session had not ended" ||
    fail_check "no word of the missing end: $(head -5 "$TESTDIR/cap.txt")"
"$MIGDUMP" --extract "$TESTDIR/x" "$cap" >/dev/null 2>&1
[ -s "$TESTDIR/x/s1-conn00.s2d" ] && cmp -s "$TESTDIR/x/s1-conn00.s2d" "$TESTDIR/rec-src/conn00.s2d" \
    -n "$(stat -c %s "$TESTDIR/x/s1-conn00.s2d")" &&
    log "ok: the extracted bytes are a prefix of what the source sent" ||
    fail_check "the extracted bytes are not a prefix of what the source sent"

# cut inside the last record
head -c -3 "$cap" >"$TESTDIR/cut.cap"
"$MIGDUMP" --json "$TESTDIR/cut.cap" >"$TESTDIR/cut.json" 2>"$TESTDIR/cut.err"
check_eq "cut capture: exit status 1" "$?" 1
grep -q "cut short inside a record of [0-9]* bytes" "$TESTDIR/cut.err" &&
    log "ok: $(cat "$TESTDIR/cut.err")" || fail_check "message: $(cat "$TESTDIR/cut.err")"
check_eq "cut capture: still the session and its verdict, the cut said in the summary" \
    "$(jq -c '[(.sessions[] | .verdict), (.cut_short | test("^at byte [0-9]+: capture cut short"))]' \
       "$TESTDIR/cut.json")" '["accept",true]'
finish
