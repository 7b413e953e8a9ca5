#!/usr/bin/env bash
# interop-qemu72-proxy-late-smp.sh - "-smp 2" into "-smp 1" without
# --source-qmp: the gate cannot see it.  The per-CPU sections arrive at
# the end, after device sections whose ends the decoder had to guess, so
# the proxy says what will fail (a warning: no verdict rests on a guess)
# and forwards; the destination fails on that section, the source (with a
# return path) sees it and runs on, and the end event says failed.
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
check_eq "a warning on the second CPU's section, before it was forwarded" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "section-unknown-late") |
                      {severity, source, destination, guessed: (.message | test("guess"))}] | first')" \
    '{"severity":"warning","source":"CPU 1","destination":"1 CPU","guessed":true}'
# Whether the proxy sees the destination's close as an error on a write or
# as a clean end with SHUT 1 on the return path depends on timing; either
# way the outcome is failed and the finding blames the destination.
check_eq "end: failed" "$(events "$ev" '[.[] | select(.event == "end") | .outcome]')" '["failed"]'
check_eq "finding destination-failed" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "destination-failed")] | length')" 1
grep -q "Unknown savevm section or instance 'cpu_common' 1" "$TESTDIR/dst.log" &&
    log "ok: the destination failed on that very section" ||
    fail_check "the destination's log does not show the expected failure: $(tail -3 "$TESTDIR/dst.log")"
check_eq "the source's migration failed" \
    "$(qmp_py wait-migration src 30 --until failed | jq -c .status)" '"failed"'
check_eq "the source VM runs on" "$(qmp src query-status | jq -c .status)" '"running"'
finish
