#!/usr/bin/env bash
# reject-tls-source.sh - TLS misconfigured on the source's side of the
# proxy, each named by its own finding instead of QEMU's "Not a migration
# stream": a plain source to a TLS proxy or to a pass-through proxy
# (tls-expected), a TLS source to a plain proxy (tls-unexpected), a
# source whose client certificate comes
# from another CA (tls-unknown-ca), a source whose tls-hostname is not in
# the proxy's certificate and one that trusts another CA (both
# tls-peer-refused: QEMU refuses silently after the handshake).  The
# source's migration fails each time with its VM running, the destination
# is never contacted, and it then takes a correct TLS migration.
. "$(dirname "$0")/tls-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
pki=$TESTDIR/pki other=$TESTDIR/other
tls_make_creds "$pki" migproxy-test localhost 127.0.0.1
tls_make_creds "$other" other-ca localhost 127.0.0.1
DEST_PARAMS='{"tls-creds":"tls0"}'
# shellcheck disable=SC2046
dest_start dst -M pc -m 128M $(tls_dest_args "$pki")
DEST_PARAMS=""
# slowed: a plain source's whole stream would otherwise fit in the socket
# buffers before the proxy closes, and QEMU 7.2 would call it completed
SRC_PARAMS=$SLOW_SOURCE source_start src -M pc -m 128M
dq=(--dest-qmp "unix:$TESTDIR/dst-proxy.qmp")
to_dst=(--connect "tcp:127.0.0.1:$INCOMING_PORT")

tls_reject_case plain-to-tls tls-expected 0 "the source's first bytes" 1 \
    "${to_dst[@]}" "${dq[@]}" --tls-creds-dir "$pki"
check_eq "plain-to-tls: the bytes seen are QEMU's magic" \
    "$(events "$TESTDIR/plain-to-tls.events" '[.[] | select(.event == "finding") | .source]')" \
    '["5145564d"]'
tls_reject_case plain-to-passthrough tls-expected 0 "the source's first bytes" 1 \
    "${to_dst[@]}" "${dq[@]}" --tls passthrough

tls_source src "$pki" localhost
tls_reject_case tls-to-plain tls-unexpected 1 "stream magic" 1 "${to_dst[@]}" "${dq[@]}"
check_eq "tls-to-plain: rejected before the destination" \
    "$(events "$TESTDIR/tls-to-plain.events" '[.[] | select(.event == "verdict") |
                                              {verdict, destination_contacted}]')" \
    '[{"verdict":"reject","destination_contacted":false}]'
check_eq "tls-to-plain: the message says TLS client hello" \
    "$(events "$TESTDIR/tls-to-plain.events" '[.[] | select(.event == "finding") | .message |
        startswith("TLS client hello where plain text was expected")] | first')" true

set_params src '{"tls-hostname":"wrong.example"}'
tls_reject_case wrong-hostname-at-source tls-peer-refused 0 "the proxy's server certificate" 1 \
    "${to_dst[@]}" "${dq[@]}" --tls-creds-dir "$pki"
check_eq "wrong-hostname-at-source: the finding lists the certificate's names" \
    "$(events "$TESTDIR/wrong-hostname-at-source.events" '[.[] | select(.event == "finding") | .source]')" \
    '["localhost, 127.0.0.1"]'

tls_source src "$other" localhost tls1
tls_reject_case wrong-ca-at-source tls-unknown-ca 0 "the source's client certificate" 1 \
    "${to_dst[@]}" "${dq[@]}" --tls-creds-dir "$pki"
tls_reject_case wrong-ca-unverified-source tls-peer-refused 0 "the proxy's server certificate" 1 \
    "${to_dst[@]}" "${dq[@]}" --tls-creds-dir "$pki" --tls-verify-source no

check_eq "the destination was never contacted: it still waits" \
    "$(qmp dst query-status | jq -c .status)" '"inmigrate"'
set_params src '{"tls-creds":"tls0","tls-hostname":"localhost","max-bandwidth":1000000000}'
proxy_start good --once "${to_dst[@]}" "${dq[@]}" --tls-creds-dir "$pki"
migrate src "$PROXY_PORT"
qmp_py wait-migration src 60 >"$TESTDIR/src.final" ||
    fail_check "the correct TLS migration did not complete: $(cat "$TESTDIR/src.final")"
proxy_wait 30
check_eq "then a correct TLS migration completes" "$PROXY_STATUS" 0
check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
finish
