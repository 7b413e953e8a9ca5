#!/usr/bin/env bash
# netlab-cut-destination-leg-end.sh - the destination leg goes down after
# the source has sent its whole stream, device state included, and stopped
# its VM to wait for the destination's answer (return-path capability: the
# source completes only when the destination's SHUT comes back).  The
# destination leg is shaped to 800 kbit/s, so the source's small stream
# (under 1 MB, idle guest) is all in the proxy's and the kernel's buffers
# long before it reaches the destination; the cut then catches the stream
# between the proxy and the destination while the source VM is paused.
#
# What issue 5 asks: the proxy closes the source leg within one second, the
# source's migration fails and QEMU restarts its VM (it does on a failed
# completion when the VM was running before).  Measured here: how long the
# source VM stays paused while the leg is down (10 s window), then the link
# comes back and the outcome is recorded.
. "$(dirname "$0")/lab.sh"
lab_require
lab_init

lab_netlab "$LAB_PROXY" rate px-d 800
DEST_CAPS="return-path" lab_dest_start dst "$LAB_DST_ADDR" -M pc -m 128M
SRC_CAPS="return-path" lab_source_start src -M pc -m 128M
lab_proxy_start proxy --once --connect "tcp:$LAB_DST_ADDR:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
# shellcheck disable=SC2034  # EV: read by the lab_check_* helpers
EV=$TESTDIR/proxy.events
lab_migrate src "$LAB_PROXY_SADDR" "$PROXY_PORT"
# The source stops its VM for the last round once everything else is in
# the buffers; that is the moment to cut.
qmp_py wait-status src 30 finish-migrate,postmigrate >"$TESTDIR/src.status" ||
    die "the source never paused for completion: $(cat "$TESTDIR/src.status")"
log "source paused; its migration: $(qmp src query-migrate | jq -c '{status, transferred: .ram.transferred}')"
check_eq "the source waits for the destination (VM paused, migration active)" \
    "$(qmp src query-migrate | jq -c .status)/$(qmp src query-status | jq -c .status)" \
    '"active"/"finish-migrate"'
lab_netlab "$LAB_DST" link-down d-px
t0=$(now_ms)
lab_check_broken_within_1s "$t0" cut "the broken destination leg"
st=$(qmp_py wait-status src 1 running | jq -c .status)
log "10 s after the cut: source VM $st, source migration $(qmp src query-migrate | jq -c .status)," \
    "destination $(qmp dst query-status | jq -c .status)," \
    "proxy $(kill -0 "$PROXY_PID" 2>/dev/null && echo running || echo exited)"
check_eq "the source's VM runs again within the window (migration failed)" "$st" '"running"'

lab_netlab "$LAB_DST" link-up d-px
lab_netlab "$LAB_PROXY" unrate px-d
t_up=$(now_ms)
final=$(qmp_py wait-migration src 45 --until failed,completed | jq -c .status)
log "source migration: $final $(( $(now_ms) - t_up )) ms after the link came back;" \
    "source VM $(qmp src query-status | jq -c .status)"
lab_check_failed_end "destination"
finish
