#!/usr/bin/env bash
# interop-qemu72-proxy-late-smp.sh - "-smp 2" into "-smp 1" without
# --source-qmp: the gate cannot see it.  The per-CPU sections arrive at
# the end, after device sections whose ends the decoder had to guess; the
# destination's QMP says it has one CPU, so the proxy holds the device
# state from the second CPU's first section until the VMDESCRIPTION
# confirms the boundaries, then cuts the migration before that section is
# forwarded.  The source (with a return path) sees its migration fail and
# runs on; the destination never got the section; the end event says
# failed, broken off by the proxy.  (A slowed source sends the device
# state after the gate; a fast one may send it with the prefix, and the
# gate itself would reject.)
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

DEST_CAPS=return-path dest_start dst -M pc -m 128M -smp 1
SRC_CAPS=return-path SRC_PARAMS=$SLOW_SOURCE source_start src -M pc -m 128M -smp 2
proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
migrate src "$PROXY_PORT"
proxy_wait 60
ev=$TESTDIR/proxy.events
check_event_members "$ev"
check_eq "proxy exit status 2 (failed after the gate)" "$PROXY_STATUS" 2
check_eq "accepted at the gate" "$(events "$ev" '[.[] | select(.event == "verdict") | .verdict]')" \
    '["accept"]'
check_eq "an error on the second CPU's section, its boundary confirmed" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "section-unknown-late") |
                      {severity, source, destination, guessed: (.message | test("guess"))}] | first')" \
    '{"severity":"error","source":"CPU 1","destination":"1 CPU","guessed":false}'
check_eq "the device state was held and the hold ended in a cut" \
    "$(events "$ev" '[.[] | select(.event == "device-state") | {action, boundaries_confirmed}]')" \
    '[{"action":"cut","boundaries_confirmed":true}]'
check_eq "end: failed, broken off by the proxy" \
    "$(events "$ev" '[.[] | select(.event == "end") | {outcome, broke_off}]')" \
    '[{"outcome":"failed","broke_off":"proxy"}]'
check_dest_log_lacks "" "dst" "Unknown savevm section" "the section"
check_eq "the source's migration failed" \
    "$(qmp_py wait-migration src 30 --until failed | jq -c .status)" '"failed"'
check_eq "the source VM runs on" "$(qmp src query-status | jq -c .status)" '"running"'
finish
