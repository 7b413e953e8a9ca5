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
lab_check_broken_within_1s "$t0" kill "the destination's break"
final=$(qmp_py wait-migration src 10 --until failed | jq -c .status)
log "source migration $final $(( $(now_ms) - t0 )) ms after the kill"
check_eq "the source's migration failed" "$final" '"failed"'
check_eq "the source VM keeps running" "$(qmp src query-status | jq -c .status)" '"running"'
lab_check_failed_end "destination"
check_eq "finding destination-failed names the section and offset" \
    "$(events "$EV" '[.[] | select(.event == "finding" and .code == "destination-failed") |
                      (.subject | test("section .* at stream offset [0-9]+"))]')" '[true]'
finish
