#!/usr/bin/env bash
# reject-source-not-migration.sh - something that is not QEMU connects to
# the proxy and sends an HTTP request: rejected as not a migration stream
# (with the magic it saw), the destination never contacted, and it then
# takes a real migration.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool socat

dest_start dst -M pc -m 128M
proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
printf 'GET / HTTP/1.1\r\nHost: migproxy\r\n\r\n' |
    timeout 20 socat -t 10 - "TCP:127.0.0.1:$PROXY_PORT" >"$TESTDIR/reply" 2>&1
check_eq "the client got a clean close within its timeout" "$?" 0
proxy_wait 20
ev=$TESTDIR/proxy.events
check_eq "proxy exit status 1 (rejected)" "$PROXY_STATUS" 1
check_event_members "$ev"
check_rejected "$ev" stream-not-migration '"0x47455420"' '"0x5145564d"'
check_eq "nothing was sent back" "$(stat -c %s "$TESTDIR/reply")" 0

source_start src2 -M pc -m 128M
check_dest_accepts dst src2 --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
finish
