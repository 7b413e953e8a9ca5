#!/usr/bin/env bash
# tls-cli.sh - migproxy's TLS options refused when they contradict each
# other or the credentials cannot be read: exit status 2 and a message that
# names the option or the file, before anything listens.
set -u
[ -x "${MIGPROXY:-}" ] || { echo "MIGPROXY not set (run through meson test)"; exit 77; }
failures=0
# expect WORDS ARGS...: exit status 2 and WORDS in the message
expect() {
    local words=$1 out status
    shift
    out=$("$MIGPROXY" --listen tcp:127.0.0.1:0 "$@" 2>&1 </dev/null)
    status=$?
    if [ "$status" = 2 ] && [[ $out == *"$words"* ]]; then
        echo "ok: $* -> $words"
    else
        echo "FAIL: $*: status $status, message: $out"
        failures=$((failures + 1))
    fi
}
tcp=(--connect tcp:127.0.0.1:1)
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
expect "give --tls-hostname" --connect unix:/nonexistent.sock --tls-creds-dir "$dir"
expect "$dir/ca-cert.pem" "${tcp[@]}" --tls-creds-dir "$dir"
expect "never uses --tls-creds-dir" "${tcp[@]}" --tls passthrough --tls-creds-dir "$dir"
expect "not 'bogus'" "${tcp[@]}" --tls bogus
expect "need --tls-creds-dir" "${tcp[@]}" --tls-hostname dst.example
expect "needs --tls-creds-dir" "${tcp[@]}" --tls terminate
expect "yes or no, not 'maybe'" "${tcp[@]}" --tls-creds-dir "$dir" --tls-verify-source maybe
# a CA file that is there but no server certificate: named too
if command -v certtool >/dev/null; then
    certtool --generate-privkey --outfile "$dir/ca-key.pem" >/dev/null 2>&1
    printf 'cn = t\nca\ncert_signing_key\n' >"$dir/ca.info"
    certtool --generate-self-signed --load-privkey "$dir/ca-key.pem" --template "$dir/ca.info" \
        --outfile "$dir/ca-cert.pem" >/dev/null 2>&1
    expect "server-cert.pem" "${tcp[@]}" --tls-creds-dir "$dir"
fi
[ "$failures" = 0 ] || exit 1
