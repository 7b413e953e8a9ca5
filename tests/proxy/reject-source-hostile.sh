#!/usr/bin/env bash
# reject-source-hostile.sh - traffic that is not a migration, or a
# migration stream with absurd sizes, sent to one migproxy daemon in front
# of a real waiting QEMU 7.2 destination: each connection is rejected from
# its first bytes, with a finding that says why (and the byte offset where
# it applies), nothing reaches the destination, the daemon's memory stays
# small, and the destination then takes a real migration.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool socat

dest_start dst -M pc -m 128M
proxy_start proxy --connect "tcp:127.0.0.1:$INCOMING_PORT" --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
ev=$TESTDIR/proxy.events

# send NAME: the bytes in $TESTDIR/NAME.in to the proxy; a clean close
send() {
    timeout 20 socat -t 5 "OPEN:$TESTDIR/$1.in" "TCP:127.0.0.1:$PROXY_PORT" \
        >"$TESTDIR/$1.reply" 2>&1 || fail_check "$1: no clean close within 20 s"
}
printf 'GET / HTTP/1.1\r\nHost: migproxy\r\n\r\n' >"$TESTDIR/http.in"
# a TLS 1.2 ClientHello record header and the start of its handshake
printf '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03' >"$TESTDIR/tls.in"
head -c 65536 /dev/urandom >"$TESTDIR/random.in"
# QEVM v3 and a RAM setup that claims 2^64 bytes of RAM in 5,000 blocks:
# the decoder refuses the list at its named limit (4096 blocks)
"$PYTHON" - "$TESTDIR/blocks.in" <<'PYEOF'
import struct, sys
b = b"QEVM" + struct.pack(">I", 3) + b"\x07" + struct.pack(">I", 13) + b"pc-i440fx-7.2"
b += b"\x01" + struct.pack(">I", 2) + bytes([3]) + b"ram" + struct.pack(">II", 0, 4)
b += struct.pack(">Q", 0xfffffffffffff000 | 4)
for i in range(5000):
    name = ("b%d" % i).encode()
    b += bytes([len(name)]) + name + struct.pack(">Q", 4096)
open(sys.argv[1], "wb").write(b)
PYEOF
for name in http tls random blocks; do
    send "$name"
done
for ((n = 0; n < 50; n++)); do
    [ "$(events "$ev" '[.[] | select(.event == "end")] | length')" -ge 4 ] && break
    sleep 0.2
done
check_eq "four sessions, each rejected, the destination never contacted" \
    "$(events "$ev" '[.[] | select(.event == "end") | {outcome, bytes_to_destination, destination_contacted}] | unique')" \
    '[{"outcome":"rejected","bytes_to_destination":0,"destination_contacted":false}]'
check_eq "each got an error finding" \
    "$(events "$ev" '[.[] | select(.event == "verdict") | .errors > 0] | unique')" '[true]'
check_eq "HTTP and random bytes: not a migration, with the magic seen" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "stream-not-migration") | .source] | .[0:1]')" \
    '["0x47455420"]'
check_eq "the TLS hello: named as TLS where plain text was expected, not as 'Not a migration'" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "tls-unexpected") | .source]')" \
    '["0x16030100"]'
check_eq "the 5,000-block list is refused at the limit, with the offset" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "stream-undecodable") | .source]')" \
    '["offset 56285: more than 4096 RAM blocks in the list"]'
check_eq "nothing was sent back to any of them" "$(cat "$TESTDIR"/*.reply | wc -c)" 0
rss=$(awk '/VmRSS/ {print $2}' "/proc/$PROXY_PID/status")
if [ "$rss" -lt 65536 ]; then
    log "ok: the daemon's RSS is ${rss} KiB after them (< 64 MiB)"
else
    fail_check "the daemon's RSS is ${rss} KiB after four hostile peers"
fi
check_eq "the destination still waits" "$(qmp dst query-status | jq -c .status)" '"inmigrate"'

source_start src -M pc -m 128M
migrate src "$PROXY_PORT"
qmp_py wait-migration src 60 >"$TESTDIR/src.final" ||
    fail_check "the real migration after them: $(cat "$TESTDIR/src.final")"
check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
for ((n = 0; n < 50; n++)); do
    [ "$(events "$ev" '[.[] | select(.event == "end")] | length')" -ge 5 ] && break
    sleep 0.2
done
check_eq "the fifth session completed" \
    "$(events "$ev" '[.[] | select(.event == "end") | .outcome] | last')" '"completed"'
finish
