# tls-functions.sh - helpers for the tests of migproxy with TLS: test
# certificates made with certtool in QEMU's tls-creds-x509 layout, TLS
# credentials for a source QEMU (object-add over QMP), and a chain of two
# TLS-terminating proxies whose plain text can be compared.  Source this
# file instead of proxy-functions.sh.

. "$(dirname "${BASH_SOURCE[0]}")/proxy-functions.sh"

# tls_make_creds DIR NAME HOST...: a CA named NAME, a server certificate
# for the HOSTs (DNS names or IPv4 addresses) and a client certificate,
# all in DIR in the layout of QEMU's tls-creds-x509 (ca-cert.pem,
# server-cert.pem, server-key.pem, client-cert.pem, client-key.pem).
tls_make_creds() {
    local dir=$1 name=$2 h
    shift 2
    require_tool certtool
    mkdir -p "$dir"
    {
        printf 'cn = %s CA\nca\ncert_signing_key\nexpiration_days = 2\n' "$name" >"$dir/ca.info"
        printf 'organization = %s\ncn = %s\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n' \
            "$name" "$1" >"$dir/server.info"
        for h in "$@"; do
            if [[ $h =~ ^[0-9.]+$ ]]; then
                echo "ip_address = $h" >>"$dir/server.info"
            else
                echo "dns_name = $h" >>"$dir/server.info"
            fi
        done
        printf 'organization = %s\ncn = %s client\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 2\n' \
            "$name" "$name" >"$dir/client.info"
        certtool --generate-privkey --bits 2048 --outfile "$dir/ca-key.pem" &&
        certtool --generate-self-signed --load-privkey "$dir/ca-key.pem" \
            --template "$dir/ca.info" --outfile "$dir/ca-cert.pem" &&
        certtool --generate-privkey --bits 2048 --outfile "$dir/server-key.pem" &&
        certtool --generate-certificate --load-privkey "$dir/server-key.pem" \
            --load-ca-certificate "$dir/ca-cert.pem" --load-ca-privkey "$dir/ca-key.pem" \
            --template "$dir/server.info" --outfile "$dir/server-cert.pem" &&
        certtool --generate-privkey --bits 2048 --outfile "$dir/client-key.pem" &&
        certtool --generate-certificate --load-privkey "$dir/client-key.pem" \
            --load-ca-certificate "$dir/ca-cert.pem" --load-ca-privkey "$dir/ca-key.pem" \
            --template "$dir/client.info" --outfile "$dir/client-cert.pem"
    } >"$dir/certtool.log" 2>&1 || { cat "$dir/certtool.log" >&2; die "certtool failed"; }
}

# tls_dest_args DIR: the QEMU arguments of a destination's TLS credentials
# (set DEST_PARAMS='{"tls-creds":"tls0"}' too).
tls_dest_args() {
    echo "-object" "tls-creds-x509,id=tls0,dir=$1,endpoint=server,verify-peer=on"
}

# tls_source NAME DIR HOSTNAME [ID]: give the running source NAME
# credentials from DIR (object-add, id ID, default tls0) and the migration
# parameters tls-creds and tls-hostname.
tls_source() {
    local id=${4:-tls0}
    qmp "$1" object-add "{\"qom-type\":\"tls-creds-x509\",\"id\":\"$id\",\"dir\":\"$2\",
                          \"endpoint\":\"client\",\"verify-peer\":true}" >/dev/null ||
        die "$1: object-add tls-creds-x509 failed"
    set_params "$1" "{\"tls-creds\":\"$id\",\"tls-hostname\":\"$3\"}"
}

# tls_reject_case NAME CODE SESSION SUBJECT STATUS PROXY-ARGS...: the
# source "src" migrates through a new --once proxy NAME, which must exit
# with STATUS after a finding CODE (error) in SESSION about SUBJECT, with
# its human line on stderr; the source's migration must fail and its VM
# keep running.  Logs the finding's message.
tls_reject_case() {
    local name=$1 code=$2 session=$3 subject=$4 status=$5 ev
    shift 5
    ev=$TESTDIR/$name.events
    proxy_start "$name" --once "$@"
    migrate src "$PROXY_PORT"
    proxy_wait 30
    check_eq "$name: proxy exit status $status" "$PROXY_STATUS" "$status"
    check_event_members "$ev"
    check_eq "$name: finding $code in session $session about $subject" \
        "$(events "$ev" "[.[] | select(.event == \"finding\" and .code == \"$code\") |
                         {session, subject, severity}] | first")" \
        "{\"session\":$session,\"subject\":\"$subject\",\"severity\":\"error\"}"
    log "   $(events "$ev" "[.[] | select(.event == \"finding\" and .code == \"$code\") | .message] | first")"
    if grep -q "\[$code\]" "$TESTDIR/$name.err"; then
        log "ok: $name: human line for $code on stderr"
    else
        fail_check "$name: no human line for $code on stderr"
    fi
    check_eq "$name: no finding says 'Not a migration stream'" \
        "$(events "$ev" '[.[] | select(.event == "finding" and .code == "stream-not-migration")] | length')" 0
    check_eq "$name: the source's migration failed" \
        "$(qmp_py wait-migration src 30 --until failed | jq -c .status)" '"failed"'
    check_eq "$name: the source VM keeps running" "$(qmp src query-status | jq -c .status)" '"running"'
}

# tls_chain_case CONNECTIONS: the source migrates over TLS to proxy A,
# which ends its TLS and opens TLS to proxy B, which does the same towards
# the destination.  Each proxy sees the plain text and its --checksum sums
# what it forwards; A's sums of what it sent on must be B's sums of what
# it received and sent on, connection by connection and direction by
# direction: the bytes inside the TLS cross both proxies unchanged.  Uses
# SRC_ARGS, DST_ARGS, SRC_CAPS/SRC_PARAMS (tls params added), DEST_CAPS/
# DEST_PARAMS (tls-creds added).  Sets EVA and EVB.
EVA=""
EVB=""
tls_chain_case() {
    local conns=$1 pki=$TESTDIR/pki pid_a pid_b port_b dp=${DEST_PARAMS:-}
    [ -n "$dp" ] || dp='{}'
    tls_make_creds "$pki" migproxy-test localhost 127.0.0.1
    # shellcheck disable=SC2046
    DEST_PARAMS=$(jq -cn --argjson p "$dp" '$p + {"tls-creds":"tls0"}') \
        dest_start dst "${DST_ARGS[@]}" $(tls_dest_args "$pki")
    source_start src "${SRC_ARGS[@]}"
    tls_source src "$pki" localhost
    proxy_start proxyb --once --checksum --tls-creds-dir "$pki" \
        --connect "tcp:127.0.0.1:$INCOMING_PORT" --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
    pid_b=$PROXY_PID port_b=$PROXY_PORT
    # A checks B's certificate by the name in it, not by --connect's address
    proxy_start proxya --once --checksum --tls-creds-dir "$pki" --tls-hostname localhost \
        --connect "tcp:127.0.0.1:$port_b"
    pid_a=$PROXY_PID
    migrate src "$PROXY_PORT"
    qmp_py wait-migration src 120 >"$TESTDIR/src.final" ||
        fail_check "the source's migration did not complete: $(cat "$TESTDIR/src.final")"
    PROXY_PID=$pid_a proxy_wait 60
    check_eq "proxy A exit status 0" "$PROXY_STATUS" 0
    PROXY_PID=$pid_b proxy_wait 60
    check_eq "proxy B exit status 0" "$PROXY_STATUS" 0
    EVA=$TESTDIR/proxya.events EVB=$TESTDIR/proxyb.events
    check_event_members "$EVA"
    check_event_members "$EVB"
    check_eq "both proxies: verdict accept, decoded (machine type read from the plain text)" \
        "$(jq -cs '[.[] | select(.event == "verdict") | {verdict, pc: (.machine | startswith("pc-i440fx"))}]' \
            "$EVA" "$EVB")" \
        '[{"verdict":"accept","pc":true},{"verdict":"accept","pc":true}]'
    check_eq "both proxies: end completed" \
        "$(jq -cs '[.[] | select(.event == "end") | .outcome]' "$EVA" "$EVB")" \
        '["completed","completed"]'
    check_eq "B: the destination says completed" \
        "$(events "$EVB" '[.[] | select(.event == "end") | .destination_status]')" '["completed"]'
    check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
    check_eq "connections through A" \
        "$(events "$EVA" '.[] | select(.event == "end") | .channels | length')" "$conns"
    check_eq "every connection is TLS on both legs of both proxies" \
        "$(jq -cs '[.[] | select(.event == "end") | .channels[] |
                    (.tls_source != null and .tls_destination != null)] | unique' "$EVA" "$EVB")" \
        '[true]'
    # multifd channels may reach B in another order than A's: compare as sets
    check_eq "plain text A sent on = plain text B received and sent on, per connection and direction" \
        "$(events "$EVB" '[.[] | select(.event == "end") | .channels[] |
                          [.kind, .sha256_to_destination, .sha256_to_source]] | sort')" \
        "$(events "$EVA" '[.[] | select(.event == "end") | .channels[] |
                          [.kind, .sha256_to_destination, .sha256_to_source]] | sort')"
    check_eq "B forwarded what it decoded: bytes_from_source = bytes_to_destination" \
        "$(events "$EVB" '[.[] | select(.event == "end") | .channels[] |
                          .bytes_from_source == .bytes_to_destination] | unique')" '[true]'
    check_eq "something crossed: over 500 kB to the destination" \
        "$(events "$EVB" '.[] | select(.event == "end") | .bytes_to_destination > 500000')" true
}
