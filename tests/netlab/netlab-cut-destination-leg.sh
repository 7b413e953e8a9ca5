#!/usr/bin/env bash
# netlab-cut-destination-leg.sh - the destination leg's link goes down in
# the middle of RAM (netlab link-down on the destination's end: the
# proxy's end loses its carrier).  TCP sees only silence: the proxy's
# writes to the destination stay unacknowledged, the source is slowed by
# backpressure.  What issue 5 asks: within one second the proxy closes the
# source leg, so the source's migration fails with its VM running, and the
# events say the destination leg failed and where in the stream.
#
# Timings are measured within a 10 s window; then the link comes back so
# that the destination can learn the outcome.
. "$(dirname "$0")/lab.sh"
lab_require
lab_init
lab_midstream_start

lab_netlab "$LAB_DST" link-down d-px
t0=$(now_ms)
lab_check_broken_within_1s "$t0" cut "the broken destination leg"
t_fail=""
if qmp_py wait-migration src 1 --until failed >/dev/null; then
    t_fail=$(( $(now_ms) - t0 ))
    log "source migration failed ${t_fail} ms after the cut"
fi
log "during the cut: proxy $(kill -0 "$PROXY_PID" 2>/dev/null && echo running || echo exited)," \
    "source migration $(qmp src query-migrate | jq -c '{status, transferred: .ram.transferred}')," \
    "destination $(qmp dst query-status | jq -c .status)"
check_eq "the source's migration failed within the window (source leg closed)" \
    "$( [ -n "$t_fail" ] && echo 1 || echo 0)" 1
check_eq "the source VM keeps running" "$(qmp src query-status | jq -c .status)" '"running"'

lab_netlab "$LAB_DST" link-up d-px
t_up=$(now_ms)
log "link back up $((t_up - t0)) ms after the cut"
final=$(qmp_py wait-migration src 45 --until failed,completed | jq -c .status)
log "source migration: $final $(( $(now_ms) - t_up )) ms after the link came back"
# A proxy that closed both legs leaves the destination a reset to meet
# once the link is back: its load fails and QEMU 7.2 exits.
if wait_gone "$DST_PID" 10; then
    log "ok: the destination QEMU is gone (its load failed)"
else
    fail_check "the destination QEMU still runs after the link came back: $(qmp dst query-status | jq -c .status)"
fi
lab_check_failed_end "destination"
finish
