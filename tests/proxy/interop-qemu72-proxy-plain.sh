#!/usr/bin/env bash
# interop-qemu72-proxy-plain.sh - plain precopy, QEMU 7.2 "pc" 128 MiB on
# both sides, through migproxy.  A recording relay on each side of the
# proxy captures what the source sent and received and what the
# destination received and sent: the captures must be identical, the
# proxy's own counts and checksums must agree with them, and both QEMUs
# must say the migration completed, the destination running.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp

qemu_start src -M pc -m 128M
dest_start dst -M pc -m 128M

start_recorder "$TESTDIR/rec-dst" "$INCOMING_PORT"
rec_dst_pid=$RECORDER_PID
proxy_start proxy --once --checksum --connect "tcp:127.0.0.1:$RECORDER_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
start_recorder "$TESTDIR/rec-src" "$PROXY_PORT"
rec_src_pid=$RECORDER_PID

migrate src "$RECORDER_PORT"
qmp_py wait-migration src 60 >"$TESTDIR/src.final" ||
    die "migration did not complete: $(cat "$TESTDIR/src.final")"
proxy_wait 30
RECORDER_PID=$rec_src_pid RECORDER_DIR=$TESTDIR/rec-src wait_recorder 20
RECORDER_PID=$rec_dst_pid RECORDER_DIR=$TESTDIR/rec-dst wait_recorder 20

ev=$TESTDIR/proxy.events
check_eq "proxy exit status" "$PROXY_STATUS" 0
check_event_members "$ev"
check_eq "verdict accept" "$(events "$ev" '[.[] | select(.event == "verdict") | .verdict]')" '["accept"]'
check_eq "end: completed, destination says completed" \
    "$(events "$ev" '[.[] | select(.event == "end") | {outcome, destination_status}]')" \
    '[{"outcome":"completed","destination_status":"completed"}]'
check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
check_eq "destination's own query-migrate" "$(qmp dst query-migrate | jq -c .status)" '"completed"'
check_eq "source in postmigrate" "$(qmp src query-status | jq -c .status)" '"postmigrate"'

compare_captures "$TESTDIR/rec-src" "$TESTDIR/rec-dst"
check_eq "one connection (main only)" "$(ls "$TESTDIR/rec-src"/conn*.s2d | wc -l)" 1
s2d=$TESTDIR/rec-src/conn00.s2d
d2s=$TESTDIR/rec-src/conn00.d2s
check_eq "bytes_to_destination = what the source sent" \
    "$(events "$ev" '.[] | select(.event == "end") | .bytes_to_destination')" "$(stat -c %s "$s2d")"
check_eq "bytes_to_source = what the destination sent" \
    "$(events "$ev" '.[] | select(.event == "end") | .bytes_to_source')" "$(stat -c %s "$d2s")"
check_eq "proxy's sha256 of the main channel = the capture's" \
    "$(events "$ev" '.[] | select(.event == "end") | .channels[0].sha256_to_destination')" \
    "\"$(sha256sum <"$s2d" | cut -d' ' -f1)\""
finish
