#!/usr/bin/env bash
# interop-qemu72-proxy-tls-passthrough.sh - --tls passthrough: a source and
# a destination with TLS credentials the proxy does not hold migrate with
# multifd (4 channels) through it.  The proxy forwards each connection
# opaquely in arrival order, says (event and stderr) that nothing can be
# checked, and still logs connections, bytes and timings; the ciphertext
# recorded on both sides of the proxy is identical, connection by
# connection and direction by direction.
. "$(dirname "$0")/tls-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp
pki=$TESTDIR/pki
tls_make_creds "$pki" migproxy-test localhost 127.0.0.1
SRC_ARGS=(-M pc -m 128M -object "tls-creds-x509,id=tls0,dir=$pki,endpoint=client")
# shellcheck disable=SC2207
DST_ARGS=(-M pc -m 128M $(tls_dest_args "$pki"))
SRC_CAPS="multifd"
DEST_CAPS="multifd"
SRC_PARAMS='{"multifd-channels": 4, "tls-creds": "tls0", "tls-hostname": "localhost"}'
DEST_PARAMS='{"multifd-channels": 4, "tls-creds": "tls0"}'
PROXY_EXTRA=(--tls passthrough)
accept_case 5
check_eq "listening event: tls passthrough" \
    "$(events "$EV" '[.[] | select(.event == "listening") | .tls]')" '["passthrough"]'
check_eq "a warning that nothing can be checked, in the session" \
    "$(events "$EV" '[.[] | select(.event == "finding") | {code, severity, session}]')" \
    '[{"code":"tls-passthrough","severity":"warning","session":1}]'
check_eq "verdict marked unchecked" \
    "$(events "$EV" '[.[] | select(.event == "verdict") | .unchecked]')" '[true]'
check_eq "every connection logged as a tls channel, with bytes both ways" \
    "$(events "$EV" '[.[] | select(.event == "end") | .channels[] |
                     {kind, both: (.bytes_to_destination > 0)}] | unique')" \
    '[{"kind":"tls","both":true}]'
check_eq "four channel events after the session's first connection" \
    "$(events "$EV" '[.[] | select(.event == "channel") | .kind]')" '["tls","tls","tls","tls"]'
check_eq "timings: the end has a duration" \
    "$(events "$EV" '[.[] | select(.event == "end") | .duration_s > 0]')" '[true]'
if grep -q "NOTHING" "$TESTDIR/proxy.err"; then
    log "ok: stderr says nothing can be checked"
else
    fail_check "stderr does not say that nothing can be checked"
fi
finish
