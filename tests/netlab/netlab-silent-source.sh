#!/usr/bin/env bash
# netlab-silent-source.sh MODE - a peer on the source leg that connects to
# the proxy and then stalls: MODE "silent" sends nothing at all, "header"
# sends the stream's magic and version (QEVM, 3) and nothing after it.
# Issue 5 asks that such a peer be closed after a configurable timeout per
# phase, with a clear event.  The test waits 15 s for the proxy to close
# the connection and reports what it saw.  No QEMU is needed: nothing may
# reach a destination before a whole prefix has arrived, so the proxy's
# destination does not exist (its facts are unreachable, which only
# matters once there is a prefix to judge).
. "$(dirname "$0")/lab.sh"
mode=${1:-}
case $mode in
    silent | header) ;;
    *) die "usage: $0 silent|header" ;;
esac
lab_require
lab_init
lab_proxy_start proxy --once --connect "tcp:$LAB_DST_ADDR:1" \
    --dest-qmp "unix:$TESTDIR/no-destination.qmp"
EV=$TESTDIR/proxy.events
# The client prints how the connection ended and after how many ms:
# "eof MS", "reset MS", or "open" after 15 s.
lab_ns "$LAB_SRC" "$PYTHON" - "$LAB_PROXY_SADDR" "$PROXY_PORT" "$mode" \
    >"$TESTDIR/client.out" 2>"$TESTDIR/client.err" <<'PYEOF' &
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
if sys.argv[3] == "header":
    s.sendall(b"QEVM\x00\x00\x00\x03")
t0 = time.monotonic()
s.settimeout(15)
try:
    data = s.recv(1)
    print("eof" if not data else "data", int((time.monotonic() - t0) * 1000))
except socket.timeout:
    print("open")
except OSError:
    print("reset", int((time.monotonic() - t0) * 1000))
PYEOF
client=$!
MIGTEST_PIDS+=("$client")
wait_gone "$client" 20 || die "the client did not end within 20 s"
wait "$client"
forget_pid "$client"
read -r how ms <"$TESTDIR/client.out" || die "no result from the client: $(cat "$TESTDIR/client.err")"
log "$mode peer: connection ${how}${ms:+ after $ms ms};" \
    "proxy $(kill -0 "$PROXY_PID" 2>/dev/null && echo running || echo exited);" \
    "events: $(events "$EV" '[.[] | .event]')"
check_eq "the proxy closed the stalled $mode peer within 15 s" \
    "$( [ "$how" = eof ] || [ "$how" = reset ] && echo 1 || echo 0)" 1
finish
