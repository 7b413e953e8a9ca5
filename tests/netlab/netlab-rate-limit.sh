#!/usr/bin/env bash
# netlab-rate-limit.sh LEG - a migration through the proxy completes when
# one leg, LEG "source" or "destination", is shaped to 4 Mbit/s by a tbf
# qdisc on the egress that carries the stream (the source's end of the
# source leg, the proxy's end of the destination leg).  The proxy must
# pass the slowness on as backpressure, never lose or reorder bytes.
# Recorders on both legs (inside the src and dst namespaces) show the bytes
# are identical across the proxy; the proxy's own counts and sha256 sums
# must be the captures'; and the migration must have taken at least the
# time the rate allows, or the limit was not in the path and the test
# proved nothing.
. "$(dirname "$0")/lab.sh"
case ${1:-} in
    source) shaped_ns=$LAB_SRC shaped_if=s-px ;;
    destination) shaped_ns=$LAB_PROXY shaped_if=px-d ;;
    *) die "usage: $0 source|destination" ;;
esac
lab_require
lab_init

RATE_KBIT=4000
lab_netlab "$shaped_ns" rate "$shaped_if" "$RATE_KBIT"

# dst ns: QEMU on loopback, its recorder on the lab address in front of it.
lab_dest_start dst 127.0.0.1 -M pc -m 128M
lab_recorder "$LAB_DST" "$TESTDIR/rec-dst" "tcp:$LAB_DST_ADDR:0" "tcp:127.0.0.1:$INCOMING_PORT"
rec_dst=$RECORDER_PID
lab_source_start src -M pc -m 128M
lab_proxy_start proxy --once --checksum --connect "tcp:$LAB_DST_ADDR:$RECORDER_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
# src ns: the source migrates to its recorder on loopback, which crosses
# the source leg to the proxy.
lab_recorder "$LAB_SRC" "$TESTDIR/rec-src" tcp:127.0.0.1:0 "tcp:$LAB_PROXY_SADDR:$PROXY_PORT"
rec_src=$RECORDER_PID
lab_migrate_recorded "$rec_src" "$rec_dst" 120
a=$(cat "$TESTDIR/rec-src"/conn*.s2d | wc -c)
# The stream cannot cross a RATE_KBIT link faster than the rate (the
# bucket lets ~20 ms through at once); 90% leaves room for rounding.
min_ms=$((a * 8 * 9 / (RATE_KBIT * 10)))
log "stream $a bytes in $LAB_MIGRATION_MS ms through $RATE_KBIT kbit/s (at least $min_ms ms)"
check_eq "the migration took at least the time the rate limit allows" \
    "$(( LAB_MIGRATION_MS >= min_ms ))" 1
lab_netlab "$shaped_ns" unrate "$shaped_if"
finish
