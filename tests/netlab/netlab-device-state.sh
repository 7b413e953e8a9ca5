#!/usr/bin/env bash
# netlab-device-state.sh FAULT - a fault while the source has sent its
# whole stream, device state included, and waits with its VM paused for
# the destination's answer (return-path capability).  The destination leg
# is shaped to 800 kbit/s so that the small stream (idle guest, under
# 1 MB) is still on its way through the proxy when the fault comes.
# FAULT is one of:
#   kill-destination   SIGKILL of the destination QEMU
#   reset-destination  the proxy's socket to the destination destroyed
#                      by the kernel (ss -K): ECONNABORTED here, RST there
#   reset-source       the same on the proxy's socket to the source
# The proxy must close the other leg within one second; the source's
# migration fails and QEMU restarts the source VM (it does when a
# completion fails and the VM ran before); the events say which side broke
# off and in which section.
. "$(dirname "$0")/lab.sh"
fault=${1:-}
case $fault in
    kill-destination | reset-destination) side=destination ;;
    reset-source) side=source ;;
    *) die "usage: $0 kill-destination|reset-destination|reset-source" ;;
esac
lab_require
require_tool ss
lab_init

lab_netlab "$LAB_PROXY" rate px-d 800
DEST_CAPS="return-path" lab_dest_start dst "$LAB_DST_ADDR" -M pc -m 128M
DST_PID=$(cat "$TESTDIR/dst.pid")
SRC_CAPS="return-path" lab_source_start src -M pc -m 128M
lab_proxy_start proxy --once --connect "tcp:$LAB_DST_ADDR:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
# shellcheck disable=SC2034  # EV: read by the lab_check_* helpers
EV=$TESTDIR/proxy.events
lab_migrate src "$LAB_PROXY_SADDR" "$PROXY_PORT"
qmp_py wait-status src 30 finish-migrate,postmigrate >"$TESTDIR/src.status" ||
    die "the source never paused for completion: $(cat "$TESTDIR/src.status")"
check_eq "the source waits for the destination (VM paused, migration active)" \
    "$(qmp src query-migrate | jq -c .status)/$(qmp src query-status | jq -c .status)" \
    '"active"/"finish-migrate"'

case $fault in
    kill-destination) kill -KILL "$DST_PID" ;;
    reset-destination | reset-source)
        [ "$side" = source ] && peer=$LAB_SRC_ADDR || peer=$LAB_DST_ADDR
        killed=$(lab_ns "$LAB_PROXY" ss -t -n -K dst "$peer" 2>"$TESTDIR/ss.err" | grep -c "$peer")
        [ "$killed" -ge 1 ] || skip "ss -K destroyed no socket: $(cat "$TESTDIR/ss.err")"
        ;;
esac
t0=$(now_ms)
log "$fault while the source waits"
lab_check_broken_within_1s "$t0" fault "the break"
final=$(qmp_py wait-migration src 10 --until failed | jq -c .status)
log "source migration $final $(( $(now_ms) - t0 )) ms after the fault"
check_eq "the source's migration failed" "$final" '"failed"'
check_eq "the source VM runs again" "$(qmp_py wait-status src 5 running | jq -c .status)" '"running"'
if wait_gone "$DST_PID" 10; then
    log "ok: destination QEMU gone $(( $(now_ms) - t0 )) ms after the fault"
else
    fail_check "the destination QEMU still runs 10 s after the fault: $(qmp dst query-status | jq -c .status)"
fi
lab_check_failed_end "$side"
finish
