#!/usr/bin/env bash
# interop-qemu72-proxy-capture-replay.sh - a multifd-4 migration (QEMU 7.2
# "pc", 128 MiB, 32 MiB of random RAM) captured in full through migproxy,
# then `migproxy replay` sends the captured source side into fresh
# destination QEMUs, without any source: once at the captured pace, once
# as fast as possible.  Each destination must complete the migration and
# run; its RAM must hold the random data (checked with pmemsave).
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool head cmp
head -c $((32 * 1024 * 1024)) /dev/urandom >"$TESTDIR/random.bin"
LOADER=(-device "loader,file=$TESTDIR/random.bin,addr=0x1000000,force-raw=on")
SRC_ARGS=(-M pc -m 128M "${LOADER[@]}")
DST_ARGS=(-M pc -m 128M "${LOADER[@]}")
SRC_CAPS="multifd"
DEST_CAPS="multifd"
SRC_PARAMS='{"multifd-channels": 4}'
DEST_PARAMS='{"multifd-channels": 4}'
cap=$TESTDIR/replay.cap
PROXY_EXTRA=(--capture "$cap")
accept_case 5

for pace in captured fast; do
    # a fresh destination, its RAM's random region zeroed first (no loader),
    # so that only the replayed stream can put the data there
    dest_start "dst-$pace" -M pc -m 128M
    "$MIGPROXY" replay "$cap" --connect "tcp:127.0.0.1:$INCOMING_PORT" --pace "$pace" \
        >"$TESTDIR/replay-$pace.out" 2>"$TESTDIR/replay-$pace.err"
    check_eq "replay ($pace) exit status" "$?" 0
    check_eq "replay ($pace): five connections, every byte sent" \
        "$(grep -c 'sent \([0-9]*\) of \1 bytes' "$TESTDIR/replay-$pace.out")" 5
    check_eq "destination after the $pace replay runs" \
        "$(qmp_py wait-status "dst-$pace" 30 running | jq -c .status)" '"running"'
    check_eq "its own query-migrate after the $pace replay" \
        "$(qmp "dst-$pace" query-migrate | jq -c .status)" '"completed"'
    qmp "dst-$pace" pmemsave "{\"val\": 16777216, \"size\": 33554432, \"filename\": \"$TESTDIR/mem-$pace.bin\"}" >/dev/null
    cmp -s "$TESTDIR/mem-$pace.bin" "$TESTDIR/random.bin" &&
        log "ok: the $pace replay put the source's 32 MiB of random data into the destination's RAM" ||
        fail_check "the destination's RAM after the $pace replay is not the source's"
done
finish
