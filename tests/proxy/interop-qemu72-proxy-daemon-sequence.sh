#!/usr/bin/env bash
# interop-qemu72-proxy-daemon-sequence.sh - one migproxy daemon (no --once)
# on one route serves migrations one after another: a 256 MiB source is
# rejected against the 128 MiB destination, then a 128 MiB source goes
# through to the same destination and completes; the daemon keeps running
# and its events tell the two sessions apart.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

dest_start dst -M pc -m 128M
SRC_PARAMS=$SLOW_SOURCE source_start src1 -M pc -m 256M
source_start src2 -M pc -m 128M
proxy_start proxy --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
ev=$TESTDIR/proxy.events

migrate src1 "$PROXY_PORT"
check_eq "the first source's migration failed" \
    "$(qmp_py wait-migration src1 30 --until failed | jq -c .status)" '"failed"'
for ((n = 0; n < 100; n++)); do
    [ "$(events "$ev" '[.[] | select(.event == "end")] | length')" = 1 ] && break
    sleep 0.1
done
migrate src2 "$PROXY_PORT"
qmp_py wait-migration src2 60 >"$TESTDIR/src2.final" ||
    fail_check "the second migration did not complete: $(cat "$TESTDIR/src2.final")"
for ((n = 0; n < 100; n++)); do
    [ "$(events "$ev" '[.[] | select(.event == "end")] | length')" = 2 ] && break
    sleep 0.1
done
kill -0 "$PROXY_PID" 2>/dev/null && log "ok: the daemon keeps serving" ||
    fail_check "the daemon exited"
check_event_members "$ev"
check_eq "session 1 rejected on pc.ram, session 2 completed" \
    "$(events "$ev" '[.[] | select(.event == "end") | {session, outcome}]')" \
    '[{"session":1,"outcome":"rejected"},{"session":2,"outcome":"completed"}]'
check_eq "the rejection's finding belongs to session 1" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "ramblock-size") | .session]')" '[1]'
check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
check_eq "the first source runs on" "$(qmp src1 query-status | jq -c .status)" '"running"'
kill_pid "$PROXY_PID"
finish
