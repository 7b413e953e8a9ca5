#!/usr/bin/env bash
# netlab-stalled-peer.sh MODE - a peer that stops after the gate, with its
# connection healthy: TCP sees nothing wrong, only the proxy's phase
# timeouts can end the session.  MODE:
#   source           the source QEMU stopped (SIGSTOP) in the middle of
#                    RAM; --stall-timeout 3: the proxy breaks off, naming
#                    the source leg and the ram phase; once continued, the
#                    source meets a closed connection, fails, VM running
#   destination-end  the destination QEMU stopped while a return-path
#                    source waits, VM paused, after its last byte;
#                    --end-timeout 3: broken off naming the destination
#                    leg; the source's migration fails, its VM runs again
. "$(dirname "$0")/lab.sh"
mode=${1:-}
case $mode in
    source) side=source ;;
    destination-end) side=destination ;;
    *) die "usage: $0 source|destination-end" ;;
esac
lab_require
lab_init

if [ "$mode" = source ]; then
    LAB_PROXY_ARGS=(--stall-timeout 3)
    lab_midstream_start
    kill -STOP "$SRC_PID"
    want_phase=ram
else
    lab_netlab "$LAB_PROXY" rate px-d 800
    DEST_CAPS="return-path" lab_dest_start dst "$LAB_DST_ADDR" -M pc -m 128M
    DST_PID=$(cat "$TESTDIR/dst.pid")
    SRC_CAPS="return-path" lab_source_start src -M pc -m 128M
    SRC_PID=$(cat "$TESTDIR/src.pid")
    lab_proxy_start proxy --once --connect "tcp:$LAB_DST_ADDR:$INCOMING_PORT" \
        --dest-qmp "unix:$TESTDIR/dst-proxy.qmp" --end-timeout 3
    EV=$TESTDIR/proxy.events
    lab_migrate src "$LAB_PROXY_SADDR" "$PROXY_PORT"
    qmp_py wait-status src 30 finish-migrate,postmigrate >"$TESTDIR/src.status" ||
        die "the source never paused for completion: $(cat "$TESTDIR/src.status")"
    kill -STOP "$DST_PID"
    want_phase=end
fi
t0=$(now_ms)
log "$side stopped"
wait_event "$EV" '.event == "stalled"' 15 || fail_check "no stalled event within 15 s of the stop"
log "stalled event $(( $(now_ms) - t0 )) ms after the stop: $(events "$EV" '.[] | select(.event == "stalled")')"
check_eq "stalled: the $side leg, $want_phase phase, where in the stream" \
    "$(events "$EV" '[.[] | select(.event == "stalled") |
        {leg, phase, timeout_s, offset: (.source_offset > 0)}]')" \
    "[{\"leg\":\"$side\",\"phase\":\"$want_phase\",\"timeout_s\":3,\"offset\":true}]"
check_eq "broken off by the $side" \
    "$(events "$EV" '[.[] | select(.event == "broken") | .broke_off]')" "[\"$side\"]"
if [ "$mode" = source ]; then
    # the destination's stream was cut: QEMU fails its incoming migration and exits
    wait_gone "$DST_PID" 10 || fail_check "the destination QEMU still runs 10 s after the break"
    kill -CONT "$SRC_PID"
    final=$(qmp_py wait-migration src 30 --until failed,completed | jq -c .status)
    check_eq "the source's migration failed" "$final" '"failed"'
    check_eq "the source VM keeps running" "$(qmp src query-status | jq -c .status)" '"running"'
else
    final=$(qmp_py wait-migration src 10 --until failed,completed | jq -c .status)
    check_eq "the source's migration failed" "$final" '"failed"'
    check_eq "the source VM runs again" "$(qmp_py wait-status src 5 running | jq -c .status)" '"running"'
    kill -CONT "$DST_PID"
    wait_gone "$DST_PID" 10 || fail_check "the destination QEMU still runs 10 s after it was continued"
fi
proxy_wait 15
check_eq "proxy exit status 2 (failed)" "$PROXY_STATUS" 2
check_event_members "$EV"
check_eq "end: failed, broken off by the $side" \
    "$(events "$EV" '[.[] | select(.event == "end") | {outcome, broke_off}]')" \
    "[{\"outcome\":\"failed\",\"broke_off\":\"$side\"}]"
finish
