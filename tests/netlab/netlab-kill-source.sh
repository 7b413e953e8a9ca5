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
lab_check_broken_within_1s "$t0" kill "the source's break"
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
lab_check_failed_end "source"
check_eq "finding source-failed names the section and offset" \
    "$(events "$EV" '[.[] | select(.event == "finding" and .code == "source-failed") |
                      (.subject | test("section .* at stream offset [0-9]+"))]')" '[true]'
finish
