#!/usr/bin/env bash
# interop-qemu72-proxy-multifd-fast.sh - a QEMU 7.2 multifd source (2
# channels, 128 MiB of random RAM, bandwidth unlimited) through migproxy
# with its default --max-held-bytes.  Such a source fills each multifd
# connection with pages while the ram section's footer still sits in its
# main channel's buffer (QEMU flushes it at the end of the first round,
# which waits for those connections).  The proxy used to wait for that
# footer with the multifd connections held at their limit: both sides
# stalled, and the prefix timeout rejected a good migration after 10 s.
# The gate must judge once the ram section's data has ended and a multifd
# connection is held full, and the migration complete with every byte
# forwarded and the destination's RAM equal to the source's.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool cmp
random_guest "$TESTDIR/ram" 128
DEST_CAPS=multifd DEST_PARAMS='{"multifd-channels": 2}' dest_start dst "${RANDOM_DST_RAM[@]}"
SRC_CAPS=multifd SRC_PARAMS='{"multifd-channels": 2, "max-bandwidth": 10000000000}' \
    source_start src "${RANDOM_SRC_RAM[@]}"
proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
migrate src "$PROXY_PORT"
qmp_py wait-migration src 120 >"$TESTDIR/src.final" ||
    fail_check "the source's migration did not complete: $(cat "$TESTDIR/src.final")"
proxy_wait 60
EV=$TESTDIR/proxy.events
check_eq "proxy exit status 0" "$PROXY_STATUS" 0
check_eq "verdict accept, no prefix timeout" \
    "$(events "$EV" '[.[] | select(.event == "verdict" or .code == "stream-prefix-timeout") |
                     .verdict // .code]')" '["accept"]'
check_eq "end: completed, a main and two multifd connections, every byte read forwarded" \
    "$(events "$EV" '[.[] | select(.event == "end") | {outcome, kinds: [.channels[].kind],
                     all: ([.channels[] | .bytes_from_source == .bytes_to_destination] | all)}]')" \
    '[{"outcome":"completed","kinds":["main","multifd","multifd"],"all":true}]'
check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
check_ram_equal src dst 128 120
finish
