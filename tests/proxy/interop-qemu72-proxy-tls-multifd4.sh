#!/usr/bin/env bash
# interop-qemu72-proxy-tls-multifd4.sh - multifd with 4 channels over TLS
# through two TLS-terminating proxies: every channel does its own
# handshake on each leg, the proxies classify them by their plain text
# (main first, then four multifd), and the plain text crosses unchanged.
. "$(dirname "$0")/tls-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
SRC_ARGS=(-M pc -m 128M)
DST_ARGS=(-M pc -m 128M)
SRC_CAPS="multifd"
DEST_CAPS="multifd"
SRC_PARAMS='{"multifd-channels": 4}'
DEST_PARAMS='{"multifd-channels": 4}'
tls_chain_case 5
check_eq "both proxies: one main and four multifd channels" \
    "$(jq -cs '[.[] | select(.event == "end") | [.channels[].kind] | sort]' "$EVA" "$EVB")" \
    '[["main","multifd","multifd","multifd","multifd"],["main","multifd","multifd","multifd","multifd"]]'
finish
