#!/usr/bin/env bash
# netlab-cut-source-leg.sh - the source leg's link goes down in the middle
# of RAM (netlab link-down on the source's end: the proxy's end loses its
# carrier).  Nothing is closed or reset: TCP on either end only sees
# silence, so the proxy must notice the stall by itself.  What issue 5
# asks: the proxy closes the destination leg within one second and its
# events say the source leg failed and where in the stream; once the link
# is back the source meets a closed connection, its migration fails and
# its VM keeps running.
#
# The test measures how long the proxy takes (bounded: 10 s window) and
# then brings the link back up, whatever happened, so that the source can
# learn the outcome.
. "$(dirname "$0")/lab.sh"
lab_require
lab_init
lab_midstream_start

lab_netlab "$LAB_SRC" link-down s-px
t0=$(now_ms)
# The destination leg is closed when the destination QEMU, which exits
# when its incoming stream fails, is gone; the broken event is the proxy's
# own word for it.
lab_check_broken_within_1s "$t0" cut "the broken source leg"
if wait_gone "$DST_PID" 2; then
    t_dst=$(( $(now_ms) - t0 ))
    log "destination QEMU gone ${t_dst} ms after the cut"
else
    t_dst=""
fi
log "during the cut: proxy $(kill -0 "$PROXY_PID" 2>/dev/null && echo running || echo exited)," \
    "source migration $(qmp src query-migrate | jq -c .status)," \
    "destination $( [ -n "$t_dst" ] && echo gone || qmp dst query-status | jq -c .status)"
check_eq "the destination leg was closed within 1 s (destination QEMU gone)" \
    "$( [ -n "$t_dst" ] && [ "$t_dst" -le 1000 ] && echo 1 || echo 0)" 1

lab_netlab "$LAB_SRC" link-up s-px
t_up=$(now_ms)
log "link back up $((t_up - t0)) ms after the cut"
# TCP's retransmission backoff after ~12 s of silence is several seconds:
# allow 45 s for the source's next segment to meet the proxy's verdict.
final=$(qmp_py wait-migration src 45 --until failed,completed | jq -c .status)
log "source migration: $final $(( $(now_ms) - t_up )) ms after the link came back"
check_eq "the source's migration failed" "$final" '"failed"'
check_eq "the source VM keeps running" "$(qmp src query-status | jq -c .status)" '"running"'
lab_check_failed_end "source"
finish
