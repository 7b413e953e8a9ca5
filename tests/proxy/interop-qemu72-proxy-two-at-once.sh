#!/usr/bin/env bash
# interop-qemu72-proxy-two-at-once.sh - one migproxy daemon with two routes
# serves two migrations at the same time (each source slowed so that they
# overlap), both complete, each destination runs, the sessions' times
# overlap, and each destination says its migration completed.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

dest_start dst1 -M pc -m 128M
port1=$INCOMING_PORT
dest_start dst2 -M pc -m 64M
port2=$INCOMING_PORT
SRC_PARAMS=$SLOW_SOURCE source_start src1 -M pc -m 128M
SRC_PARAMS=$SLOW_SOURCE source_start src2 -M pc -m 64M

"$MIGPROXY" --events "$TESTDIR/proxy.events" --checksum \
    --listen tcp:127.0.0.1:0 --connect "tcp:127.0.0.1:$port1" \
    --dest-qmp "unix:$TESTDIR/dst1-proxy.qmp" \
    --listen tcp:127.0.0.1:0 --connect "tcp:127.0.0.1:$port2" \
    --dest-qmp "unix:$TESTDIR/dst2-proxy.qmp" \
    >"$TESTDIR/proxy.out" 2>"$TESTDIR/proxy.err" &
PROXY_PID=$!
MIGTEST_PIDS+=("$PROXY_PID")
for ((n = 0; n < 100; n++)); do
    [ "$(jq -s '[.[] | select(.event == "listening")] | length' "$TESTDIR/proxy.events" 2>/dev/null)" = 2 ] && break
    sleep 0.1
done
lp() { jq -rs ".[] | select(.event == \"listening\" and .connect == \"tcp:127.0.0.1:$1\") | .listen" \
       "$TESTDIR/proxy.events" | sed 's/.*://'; }
lport1=$(lp "$port1")
lport2=$(lp "$port2")
[ -n "$lport1" ] && [ -n "$lport2" ] || { cat "$TESTDIR/proxy.err" >&2; die "migproxy did not listen twice"; }

migrate src1 "$lport1"
migrate src2 "$lport2"
for s in src1 src2; do
    qmp_py wait-migration "$s" 120 >"$TESTDIR/$s.final" ||
        fail_check "$s did not complete: $(cat "$TESTDIR/$s.final")"
done
for ((n = 0; n < 100; n++)); do
    [ "$(jq -s '[.[] | select(.event == "end")] | length' "$TESTDIR/proxy.events")" = 2 ] && break
    sleep 0.1
done
kill -0 "$PROXY_PID" 2>/dev/null && log "ok: the daemon keeps serving" ||
    fail_check "the daemon exited after the migrations"

ev=$TESTDIR/proxy.events
check_event_members "$ev"
check_eq "two sessions, both completed" \
    "$(events "$ev" '[.[] | select(.event == "end") | .outcome]')" '["completed","completed"]'
check_eq "the sessions overlap in time (the second starts before the first ends)" \
    "$(events "$ev" '([.[] | select(.event == "session") | .time] | max) <
                     ([.[] | select(.event == "end") | .time] | min)')" true
for d in dst1 dst2; do
    check_eq "$d runs" "$(qmp_py wait-status "$d" 20 running | jq -c .status)" '"running"'
done
for d in dst1 dst2; do
    check_eq "$d's own query-migrate" "$(qmp "$d" query-migrate | jq -c .status)" '"completed"'
done
kill_pid "$PROXY_PID"
finish
