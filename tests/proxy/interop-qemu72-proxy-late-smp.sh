#!/usr/bin/env bash
# interop-qemu72-proxy-late-smp.sh - "-smp 2" into "-smp 1": the RAM-block
# lists agree, so the gate accepts; QEMU 7.2 would fail only at the end, on
# the second CPU's section, after all of RAM.  migproxy checks the per-CPU
# sections against the destination's CPU count before forwarding them and
# cuts the migration there; with a return path the source sees it, its
# migration fails and its VM runs on.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

DEST_CAPS=return-path dest_start dst -M pc -m 128M -smp 1
SRC_CAPS=return-path source_start src -M pc -m 128M -smp 2
proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
migrate src "$PROXY_PORT"
proxy_wait 60
ev=$TESTDIR/proxy.events
check_event_members "$ev"
check_eq "proxy exit status 2 (failed after the gate)" "$PROXY_STATUS" 2
check_eq "accepted at the gate" "$(events "$ev" '[.[] | select(.event == "verdict") | .verdict]')" \
    '["accept"]'
check_eq "finding section-unknown-late on the second CPU" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "section-unknown-late") |
                      {severity, source, destination}] | first')" \
    '{"severity":"error","source":"CPU 1","destination":"1 CPU"}'
check_eq "the hint names -smp" \
    "$(events "$ev" '[.[] | select(.code == "section-unknown-late") | .hint | test("-smp")] | first')" true
check_eq "end: failed, cut by the proxy" \
    "$(events "$ev" '[.[] | select(.event == "end") | {outcome, broke_off}]')" \
    '[{"outcome":"failed","broke_off":"proxy"}]'
check_eq "the source's migration failed" \
    "$(qmp_py wait-migration src 30 --until failed | jq -c .status)" '"failed"'
check_eq "the source VM runs on" "$(qmp src query-status | jq -c .status)" '"running"'
finish
