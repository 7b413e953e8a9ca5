#!/usr/bin/env bash
# netlab-kill-source.sh - the source QEMU, in its own namespace behind a
# veth link, is killed with SIGKILL in the middle of RAM (the lab version
# of tests/proxy's kill test on loopback).  Its kernel resets the
# connection across the link; the proxy must close the destination leg
# within one second (QEMU 7.2's destination then fails its load and
# exits) and its events say the source broke off, and where.
. "$(dirname "$0")/lab.sh"
lab_require
lab_init
lab_midstream_start

kill -KILL "$SRC_PID"
t0=$(now_ms)
if wait_event "$EV" '.event == "broken"' 10; then
    t_broken=$(( $(now_ms) - t0 ))
    log "broken event ${t_broken} ms after the kill"
else
    t_broken=""
fi
check_eq "the proxy reported the source's break within 1 s" \
    "$( [ -n "$t_broken" ] && [ "$t_broken" -le 1000 ] && echo 1 || echo 0)" 1
if wait_gone "$DST_PID" 10; then
    t_dst=$(( $(now_ms) - t0 ))
    log "destination QEMU gone ${t_dst} ms after the kill"
    check_eq "the destination leg was closed within 1 s (destination QEMU gone)" \
        "$(( t_dst <= 1000 ))" 1
else
    fail_check "the destination QEMU still runs 10 s after the source died"
fi
if grep -q "load of migration failed" "$TESTDIR/dst.log"; then
    log "ok: the destination's log says why"
else
    fail_check "no 'load of migration failed' in the destination's log"
fi
proxy_wait 15
log "proxy ended $(( $(now_ms) - t0 )) ms after the kill; end event: $(events "$EV" '.[] | select(.event == "end")')"
check_eq "proxy exit status 2 (failed)" "$PROXY_STATUS" 2
check_event_members "$EV"
check_eq "end: failed, broken off by the source, with the section and its offset" \
    "$(events "$EV" '[.[] | select(.event == "end") |
        {outcome, broke_off, section: (.last_section != null),
         offset: (.last_section_offset != null)}]')" \
    '[{"outcome":"failed","broke_off":"source","section":true,"offset":true}]'
check_eq "finding source-failed names the section and offset" \
    "$(events "$EV" '[.[] | select(.event == "finding" and .code == "source-failed") |
                      (.subject | test("section .* at stream offset [0-9]+"))]')" '[true]'
finish
