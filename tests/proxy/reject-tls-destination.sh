#!/usr/bin/env bash
# reject-tls-destination.sh - TLS misconfigured on the destination's side
# of the proxy, found by the proxy's own handshake after the verdict: a
# host name the destination's certificate does not name (tls-bad-identity),
# a destination whose certificate comes from another CA (tls-unknown-ca),
# a destination without TLS (tls-destination-plain: TLS where plain text
# was expected), a destination that refuses the proxy's client certificate
# (tls-destination-refused, seen through its QMP).  Each time the session
# is broken off by the destination, the proxy exits 2, and the source's
# migration fails with its VM running; with --tls-verify-destination no
# the other CA's destination is accepted.
. "$(dirname "$0")/tls-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
pki=$TESTDIR/pki other=$TESTDIR/other
tls_make_creds "$pki" migproxy-test localhost 127.0.0.1
tls_make_creds "$other" other-ca localhost 127.0.0.1
SRC_PARAMS=$SLOW_SOURCE source_start src -M pc -m 128M
tls_source src "$pki" localhost

# check_broken NAME: the end event says the destination broke off
check_broken() {
    check_eq "$1: end failed, broken off by the destination" \
        "$(events "$TESTDIR/$1.events" '[.[] | select(.event == "end") | {outcome, broke_off}]')" \
        '[{"outcome":"failed","broke_off":"destination"}]'
}

DEST_PARAMS='{"tls-creds":"tls0"}'
# shellcheck disable=SC2046
dest_start dst -M pc -m 128M $(tls_dest_args "$pki")
tls_reject_case wrong-hostname-at-destination tls-bad-identity 1 \
    "the destination's server certificate" 2 --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --tls-creds-dir "$pki" --tls-hostname wrong.example
check_eq "wrong-hostname-at-destination: names found and name expected" \
    "$(events "$TESTDIR/wrong-hostname-at-destination.events" \
        '[.[] | select(.event == "finding" and .code == "tls-bad-identity") | [.source, .destination]]')" \
    '[["localhost, 127.0.0.1","wrong.example"]]'
check_broken wrong-hostname-at-destination

# the other CA's destination presents a server certificate of its own CA
# and trusts both CAs (QEMU checks its own certificate against its
# ca-cert.pem, and the proxy's client certificate is of ours)
mkdir "$TESTDIR/dst2-creds"
cp "$other/server-cert.pem" "$other/server-key.pem" "$TESTDIR/dst2-creds/"
cat "$other/ca-cert.pem" "$pki/ca-cert.pem" >"$TESTDIR/dst2-creds/ca-cert.pem"
# shellcheck disable=SC2046
dest_start dst2 -M pc -m 128M $(tls_dest_args "$TESTDIR/dst2-creds")
tls_reject_case wrong-ca-at-destination tls-unknown-ca 1 \
    "the destination's server certificate" 2 --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --tls-creds-dir "$pki"
check_broken wrong-ca-at-destination
proxy_start unverified --once --connect "tcp:127.0.0.1:$INCOMING_PORT" --tls-creds-dir "$pki" \
    --tls-verify-destination no --dest-qmp "unix:$TESTDIR/dst2-proxy.qmp"
set_params src '{"max-bandwidth":1000000000}'
migrate src "$PROXY_PORT"
qmp_py wait-migration src 60 >"$TESTDIR/src.final" ||
    fail_check "--tls-verify-destination no: the migration did not complete: $(cat "$TESTDIR/src.final")"
proxy_wait 30
check_eq "--tls-verify-destination no: completed" "$PROXY_STATUS" 0
check_eq "dst2 runs" "$(qmp_py wait-status dst2 20 running | jq -c .status)" '"running"'

qmp src cont >/dev/null
set_params src "$SLOW_SOURCE"
DEST_PARAMS=""
dest_start dst3 -M pc -m 128M
tls_reject_case plain-destination tls-destination-plain 1 \
    "the destination's TLS handshake" 2 --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --tls-creds-dir "$pki"
check_broken plain-destination

# a destination that trusts only its own CA refuses the proxy's client
# certificate after the handshake; its QMP shows it never began to load
DEST_PARAMS='{"tls-creds":"tls0"}'
# shellcheck disable=SC2046
dest_start dst4 -M pc -m 128M $(tls_dest_args "$other")
tls_reject_case client-cert-refused tls-destination-refused 1 \
    "the proxy's client certificate" 2 --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --tls-creds-dir "$pki" --tls-verify-destination no --dest-qmp "unix:$TESTDIR/dst4-proxy.qmp"
check_broken client-cert-refused
finish
