#!/usr/bin/env bash
# interop-qemu72-proxy-slow-source.sh - a migration that takes longer than
# any timeout in the proxy (the source capped at 45 kB/s: about 15 s for an
# idle 128 MiB guest), while the destination, without a return path, says
# nothing on the main connection the whole time.  The proxy must not give
# up on the silent direction: completed, destination running.  (A
# connect timeout left on the destination's socket once cut such
# migrations off after 10 s.)
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
dest_start dst -M pc -m 128M
SRC_PARAMS='{"max-bandwidth": 45000}' source_start src -M pc -m 128M
proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
migrate src "$PROXY_PORT"
qmp_py wait-migration src 90 >"$TESTDIR/src.final" ||
    fail_check "the migration did not complete: $(cat "$TESTDIR/src.final")"
check_eq "it took longer than 12 s" "$(jq '."total-time" > 12000' "$TESTDIR/src.final")" true
proxy_wait 30
ev=$TESTDIR/proxy.events
check_eq "proxy exit status 0" "$PROXY_STATUS" 0
check_eq "end: completed, nothing came back from the destination" \
    "$(events "$ev" '[.[] | select(.event == "end") | {outcome, bytes_to_source}]')" \
    '[{"outcome":"completed","bytes_to_source":0}]'
check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
finish
