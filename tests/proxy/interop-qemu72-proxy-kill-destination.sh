#!/usr/bin/env bash
# interop-qemu72-proxy-kill-destination.sh - the destination QEMU is killed
# in the middle of the stream: the proxy closes the source's connection at
# once, the source's migration fails with its VM running, and the events
# say the destination broke off, where, and that its QMP is gone.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
kill_case dst
check_eq "finding destination-failed names the section and the destination's state" \
    "$(events "$EV" '[.[] | select(.event == "finding" and .code == "destination-failed") |
                      (.subject | test("section .* at stream offset [0-9]+")),
                      (.destination | test("gone"))]')" '[true,true]'
check_eq "the source's migration failed" \
    "$(qmp_py wait-migration src 10 --until failed | jq -c .status)" '"failed"'
check_eq "the source VM keeps running" "$(qmp src query-status | jq -c .status)" '"running"'
finish
