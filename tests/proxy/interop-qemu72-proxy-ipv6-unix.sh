#!/usr/bin/env bash
# interop-qemu72-proxy-ipv6-unix.sh - QEMU's other address forms: the
# source migrates to the proxy over IPv6 loopback (tcp:[::1]:PORT), the
# proxy reaches the destination on a unix socket (migrate-incoming
# unix:PATH).  Completed, destination running.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
[ -e /proc/net/if_inet6 ] && grep -q " lo$" /proc/net/if_inet6 || skip "no IPv6 loopback"

qemu_start dst -M pc -m 128M -incoming defer \
    -qmp "unix:$TESTDIR/dst-proxy.qmp,server=on,wait=off"
qmp dst migrate-incoming "{\"uri\":\"unix:$TESTDIR/incoming.sock\"}" >/dev/null ||
    die "migrate-incoming unix: failed"
source_start src -M pc -m 128M

"$MIGPROXY" --once --listen "tcp:[::1]:0" --connect "unix:$TESTDIR/incoming.sock" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp" --events "$TESTDIR/proxy.events" \
    >"$TESTDIR/proxy.out" 2>"$TESTDIR/proxy.err" &
PROXY_PID=$!
MIGTEST_PIDS+=("$PROXY_PID")
for ((n = 0; n < 100; n++)); do
    listen=$(jq -r 'select(.event == "listening") | .listen' "$TESTDIR/proxy.events" 2>/dev/null)
    [ -n "$listen" ] && break
    sleep 0.1
done
[ -n "$listen" ] || { cat "$TESTDIR/proxy.err" >&2; die "migproxy did not start"; }
check_eq "the listening event names the IPv6 address" \
    "$(jq -c 'select(.event == "listening") | .listen | startswith("tcp:[::1]:")' "$TESTDIR/proxy.events")" true
qmp src migrate "{\"uri\":\"$listen\"}" >/dev/null || die "migrate to $listen failed"
qmp_py wait-migration src 60 >"$TESTDIR/src.final" ||
    fail_check "the migration did not complete: $(cat "$TESTDIR/src.final")"
proxy_wait 30
check_eq "proxy exit status 0" "$PROXY_STATUS" 0
check_eq "end: completed" \
    "$(events "$TESTDIR/proxy.events" '[.[] | select(.event == "end") | .outcome]')" '["completed"]'
check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
finish
