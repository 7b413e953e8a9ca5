#!/usr/bin/env bash
# netlab-kill-destination.sh - the destination QEMU, in its own namespace
# behind a veth link, is killed with SIGKILL in the middle of RAM (the
# lab version of tests/proxy's kill test, which runs on loopback).  Its
# kernel resets the connection across the link; the proxy must close the
# source leg within one second, the source's migration fail with its VM
# running, and the events say the destination broke off, and where.
. "$(dirname "$0")/lab.sh"
lab_require
lab_init
lab_midstream_start

kill -KILL "$DST_PID"
t0=$(now_ms)
if wait_event "$EV" '.event == "broken"' 10; then
    t_broken=$(( $(now_ms) - t0 ))
    log "broken event ${t_broken} ms after the kill"
else
    t_broken=""
fi
check_eq "the proxy reported the destination's break within 1 s" \
    "$( [ -n "$t_broken" ] && [ "$t_broken" -le 1000 ] && echo 1 || echo 0)" 1
final=$(qmp_py wait-migration src 10 --until failed | jq -c .status)
log "source migration $final $(( $(now_ms) - t0 )) ms after the kill"
check_eq "the source's migration failed" "$final" '"failed"'
check_eq "the source VM keeps running" "$(qmp src query-status | jq -c .status)" '"running"'
proxy_wait 15
log "proxy ended $(( $(now_ms) - t0 )) ms after the kill; end event: $(events "$EV" '.[] | select(.event == "end")')"
check_eq "proxy exit status 2 (failed)" "$PROXY_STATUS" 2
check_event_members "$EV"
check_eq "end: failed, broken off by the destination, with the section and its offset" \
    "$(events "$EV" '[.[] | select(.event == "end") |
        {outcome, broke_off, section: (.last_section != null),
         offset: (.last_section_offset != null)}]')" \
    '[{"outcome":"failed","broke_off":"destination","section":true,"offset":true}]'
check_eq "finding destination-failed names the section and offset" \
    "$(events "$EV" '[.[] | select(.event == "finding" and .code == "destination-failed") |
                      (.subject | test("section .* at stream offset [0-9]+"))]')" '[true]'
finish
