#!/usr/bin/env bash
# interop-qemu72-proxy-kill-source.sh - the source QEMU is killed in the
# middle of its stream: the proxy closes the destination's connection at
# once (QEMU 7.2's destination then fails its incoming migration and
# exits), and its events say the source broke off, and where.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
kill_case src
check_eq "finding source-failed names the section" \
    "$(events "$EV" '[.[] | select(.event == "finding" and .code == "source-failed") |
                      (.subject | test("section .* at stream offset [0-9]+"))]')" '[true]'
dpid=$(cat "$TESTDIR/dst.pid")
for ((n = 0; n < 100; n++)); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$dpid" 2>/dev/null && fail_check "the destination QEMU still runs 10 s after the source died" ||
    log "ok: the destination saw the closed stream and exited, as QEMU 7.2 does on a failed load"
grep -q "load of migration failed" "$TESTDIR/dst.log" && log "ok: the destination's log says why" ||
    fail_check "no 'load of migration failed' in the destination's log"
finish
