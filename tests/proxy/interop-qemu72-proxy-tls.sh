#!/usr/bin/env bash
# interop-qemu72-proxy-tls.sh - TLS on both legs, decoded and gated: the
# source (tls-creds, tls-hostname naming the proxy) migrates over TLS to a
# migproxy with --tls-creds-dir, which opens TLS to a second one, which
# opens TLS to the destination (tls-creds, verify-peer).  Completed, the
# destination runs, and the plain text inside the TLS is the same on both
# sides of the middle link (see tls_chain_case).
. "$(dirname "$0")/tls-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
SRC_ARGS=(-M pc -m 128M)
DST_ARGS=(-M pc -m 128M)
SRC_CAPS="return-path"
tls_chain_case 1
check_eq "A: TLS 1.3 towards the source (QEMU 7.2's GnuTLS default)" \
    "$(events "$EVA" '[.[] | select(.event == "end") | .channels[0].tls_source | startswith("TLS 1.3")]')" \
    '[true]'
check_eq "the return path crossed too (SHUT 0 decoded by both proxies)" \
    "$(jq -cs '[.[] | select(.event == "end") | .return_path_shut]' "$EVA" "$EVB")" '[0,0]'
finish
