#!/usr/bin/env bash
# reject-source-stalled.sh - peers that connect and stall: one sends
# nothing at all, one sends QEMU's magic and version and then nothing.
# With --prefix-timeout 3 the proxy closes each within a few seconds, says
# why (a "silent" event; a stream-prefix-timeout finding and a rejection),
# and the destination is never contacted: it then takes a real migration.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

dest_start dst -M pc -m 128M
proxy_start proxy --prefix-timeout 3 --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
ev=$TESTDIR/proxy.events

# stalled_peer MODE: connect, send per MODE, print how the proxy ended it
stalled_peer() {
    "$PYTHON" - "$PROXY_PORT" "$1" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
if sys.argv[2] == "header":
    s.sendall(b"QEVM\x00\x00\x00\x03")
t0 = time.monotonic()
s.settimeout(15)
try:
    data = s.recv(1)
    print("eof" if not data else "data", int((time.monotonic() - t0) * 1000))
except socket.timeout:
    print("open 15000")
except OSError:
    print("reset", int((time.monotonic() - t0) * 1000))
PYEOF
}

read -r how ms < <(stalled_peer silent)
check_eq "a silent peer is closed after 3 to 5 s" \
    "$( [ "$how" != open ] && [ "$how" != data ] && [ "$ms" -ge 2500 ] && [ "$ms" -le 5500 ] &&
        echo true || echo "\"$how $ms\"")" true
check_eq "a silent event says so" "$(events "$ev" '[.[] | select(.event == "silent") | .timeout_s]')" '[3]'

read -r how ms < <(stalled_peer header)
check_eq "a peer stalled after the header is closed after 3 to 5 s" \
    "$( [ "$how" != open ] && [ "$how" != data ] && [ "$ms" -ge 2500 ] && [ "$ms" -le 5500 ] &&
        echo true || echo "\"$how $ms\"")" true
for ((n = 0; n < 50; n++)); do
    [ "$(events "$ev" '[.[] | select(.event == "end")] | length')" = 1 ] && break
    sleep 0.1
done
check_rejected "$ev" stream-prefix-timeout '"8 bytes"' '"3 s"'
check_eq "no other finding from half a prefix" \
    "$(events "$ev" '[.[] | select(.event == "finding") | .code]')" '["stream-prefix-timeout"]'
kill_pid "$PROXY_PID"

source_start src2 -M pc -m 128M
check_dest_accepts dst src2 --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
finish
