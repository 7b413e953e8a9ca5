#!/usr/bin/env bash
# interop-qemu72-proxy-multifd4.sh - accepted and completed through
# migproxy, bytes identical on every connection in both directions: multifd
# with 4 channels on both sides, five connections, main first (QEMU 7.2's
# destination tells them apart only by arrival order).
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp
SRC_ARGS=(-M pc -m 128M)
DST_ARGS=(-M pc -m 128M)
SRC_CAPS="multifd"
DEST_CAPS="multifd"
PROXY_EXTRA=()
SRC_PARAMS='{"multifd-channels": 4}'
DEST_PARAMS='{"multifd-channels": 4}'
accept_case 5
check_eq "proxy: one main and four multifd channels" \
    "$(events "$EV" '[.[] | select(.event == "end") | .channels[].kind]')" \
    '["main","multifd","multifd","multifd","multifd"]'
magic_counts() {
    local f
    for f in "$TESTDIR/rec-dst"/conn*.s2d; do
        head -c4 "$f" | od -An -tx1 | tr -d ' \n'
        echo
    done | jq -R . | jq -cs 'group_by(.) | map({(.[0]): length}) | add'
}
check_eq "what the destination got: one QEVM stream, four multifd channels" \
    "$(magic_counts)" '{"11223344":4,"5145564d":1}'
# The pages travel in the multifd packets: their offsets place each page, so
# the bulk pass over RAM shows as one round holding every page of the 128 MiB
# guest (32768 pages of pc.ram and the ROM and VGA blocks) once.
check_jq "round 1 from the multifd packets: every page of pc.ram once, at least" "$EV" \
    '[.[] | select(.event == "round")][0] | .pages - .pages_again >= 32768 and .bytes > 0' -s
finish
