#!/usr/bin/env bash
# capture-size.sh - how large a `--capture-pages hash` (and `none`) capture
# of a real migration is against the stream it records: a guest whose RAM
# (RAM_MB, default 1024) is random bytes, so that every page is a normal
# page, migrated with max-bandwidth lifted through migproxy --capture.
# The aim (issue 4): under 1 % of the stream for a 1 GiB guest in hash mode.
#
# Usage: MIGPROXY=build/proxy/migproxy tests/bench/capture-size.sh
# Not a test: it reports the figures; exit 0 unless something broke.
. "$(dirname "$0")/../proxy/proxy-functions.sh"

RAM_MB=${RAM_MB:-1024}
MODES=${MODES:-"hash none"}
require_migproxy
require_qemu_version 7.2
migtest_init
QMP_WAIT=60

random_guest "$TESTDIR/ram.img" "$RAM_MB"
for mode in $MODES; do
    dest_start "dst-$mode" "${RANDOM_DST_RAM[@]}"
    SRC_PARAMS='{"max-bandwidth": 10000000000}' source_start "src-$mode" "${RANDOM_SRC_RAM[@]}"
    proxy_start "proxy-$mode" --once --checksum --connect "tcp:127.0.0.1:$INCOMING_PORT" \
        --capture "$TESTDIR/$mode.cap" --capture-pages "$mode"
    migrate "src-$mode" "$PROXY_PORT"
    qmp_py wait-migration "src-$mode" 600 >"$TESTDIR/$mode.final" ||
        die "$mode: migration did not complete: $(cat "$TESTDIR/$mode.final")"
    proxy_wait 120
    stream=$(events "$TESTDIR/proxy-$mode.events" '.[] | select(.event == "end") | .bytes_to_destination')
    cap=$(stat -c %s "$TESTDIR/$mode.cap")
    dropped=$(events "$TESTDIR/proxy-$mode.events" '.[] | select(.event == "end") | .capture_dropped // 0')
    log "$mode: ${RAM_MB} MiB guest, stream $stream bytes, capture $cap bytes," \
        "$(awk -v c="$cap" -v s="$stream" 'BEGIN { printf "%.3f %%", 100 * c / s }') of the stream," \
        "$dropped records dropped"
    qemu_stop "src-$mode"
    qemu_stop "dst-$mode"
done
finish
