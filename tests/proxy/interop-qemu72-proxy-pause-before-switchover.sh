#!/usr/bin/env bash
# interop-qemu72-proxy-pause-before-switchover.sh - a legit quiet time that
# the stall timeout must not cut: a source with pause-before-switchover
# stops after RAM and waits, silent, for its management's migrate-continue.
# With --source-qmp the proxy knows the capability: the migration, held at
# pre-switchover for twice --stall-timeout, completes.  The control run,
# without --source-qmp, shows that the same wait would be cut (a stalled
# event naming the source leg), so the first run proves something.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

# run NAME PROXY-ARGS...: one migration held at pre-switchover for 4 s
# through a proxy with --stall-timeout 2; sets FINAL (the source's status)
run() {
    local name=$1
    shift
    dest_start "dst-$name" -M pc -m 64M
    SRC_CAPS=pause-before-switchover source_start "src-$name" -M pc -m 64M \
        -qmp "unix:$TESTDIR/src-$name-proxy.qmp,server=on,wait=off"
    proxy_start "$name" --once --stall-timeout 2 --connect "tcp:127.0.0.1:$INCOMING_PORT" \
        --dest-qmp "unix:$TESTDIR/dst-$name-proxy.qmp" "$@"
    migrate "src-$name" "$PROXY_PORT"
    qmp_py wait-migration "src-$name" 60 --until pre-switchover,failed >/dev/null
    check_eq "$name: the source waits at pre-switchover" \
        "$(qmp "src-$name" query-migrate | jq -c .status)" '"pre-switchover"'
    sleep 4
    qmp "src-$name" migrate-continue '{"state": "pre-switchover"}' >/dev/null
    FINAL=$(qmp_py wait-migration "src-$name" 60 --until completed,failed | jq -c .status)
    proxy_wait 30
}

run known --source-qmp "unix:$TESTDIR/src-known-proxy.qmp"
check_eq "known: the source completed" "$FINAL" '"completed"'
check_eq "known: proxy exit status 0" "$PROXY_STATUS" 0
check_eq "known: no stalled event" \
    "$(events "$TESTDIR/known.events" '[.[] | select(.event == "stalled")] | length')" 0
check_eq "known: the destination runs" \
    "$(qmp_py wait-status dst-known 20 running | jq -c .status)" '"running"'

run unknown
check_eq "unknown: the wait was cut: stalled, naming the source leg" \
    "$(events "$TESTDIR/unknown.events" '[.[] | select(.event == "stalled") | .leg]')" '["source"]'
check_eq "unknown: the source's migration failed" "$FINAL" '"failed"'
check_eq "unknown: proxy exit status 2" "$PROXY_STATUS" 2
finish
