#!/usr/bin/env bash
# netlab-remote-cut.sh LEG - the path of one leg is cut somewhere away
# from the proxy, in the middle of RAM: blackhole routes at both ends of
# that leg drop everything (netlab blackhole), while every link keeps its
# carrier, so the proxy's link monitor sees nothing and only TCP can tell.
# With --tcp-timeout 3: on the source leg the proxy is only reading, and
# keepalives find the peer gone; on the destination leg the proxy's data
# goes unacknowledged (TCP_USER_TIMEOUT).  Either way the session must be
# broken off naming that leg, the other leg closed, and the source's
# migration must fail with its VM running.  The time it takes is measured
# and logged (bounded wait of 20 s), not asserted.
. "$(dirname "$0")/lab.sh"
leg=${1:-}
case $leg in
    source) a_ns=$LAB_SRC; a_peer=$LAB_PROXY_SADDR; b_peer=$LAB_SRC_ADDR ;;
    destination) a_ns=$LAB_DST; a_peer=$LAB_PROXY_DADDR; b_peer=$LAB_DST_ADDR ;;
    *) die "usage: $0 source|destination" ;;
esac
lab_require
lab_init
LAB_PROXY_ARGS=(--tcp-timeout 3)
lab_midstream_start

lab_netlab "$a_ns" blackhole "$a_peer/32"
lab_netlab "$LAB_PROXY" blackhole "$b_peer/32"
t0=$(now_ms)
if wait_event "$EV" '.event == "broken"' 20; then
    log "broken event $(( $(now_ms) - t0 )) ms after the cut:" \
        "$(events "$EV" '.[] | select(.event == "broken") | {broke_off, error, phase}')"
else
    fail_check "no broken event within 20 s of the cut"
fi
check_eq "broken off by the $leg, in the ram phase" \
    "$(events "$EV" '[.[] | select(.event == "broken") | {broke_off, phase}]')" \
    "[{\"broke_off\":\"$leg\",\"phase\":\"ram\"}]"
if [ "$leg" = source ]; then
    # the destination leg is whole: its QEMU sees the stream end and exits
    wait_gone "$DST_PID" 10 || fail_check "the destination QEMU still runs 10 s after the break"
fi
lab_netlab "$a_ns" unblackhole "$a_peer/32"
lab_netlab "$LAB_PROXY" unblackhole "$b_peer/32"
t_up=$(now_ms)
final=$(qmp_py wait-migration src 45 --until failed,completed | jq -c .status)
log "source migration: $final $(( $(now_ms) - t0 )) ms after the cut"
check_eq "the source's migration failed" "$final" '"failed"'
check_eq "the source VM keeps running" "$(qmp src query-status | jq -c .status)" '"running"'
lab_check_failed_end "$leg" 20
: "$t_up"
finish
