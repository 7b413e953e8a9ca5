#!/usr/bin/env bash
# interop-qemu72-proxy-profile.sh - the destination's facts from a profile
# written earlier by `migproxy probe`, and no QMP during the migration:
# accepted and completed, the outcome judged from the stream's clean end
# and the return path's SHUT 0 (there is no destination status to ask).
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

DEST_CAPS=return-path dest_start dst -M q35 -m 128M -smp 2
"$MIGPROXY" probe --qmp "unix:$TESTDIR/dst-proxy.qmp" --output "$TESTDIR/dst.profile" ||
    die "migproxy probe failed"
check_eq "the profile says q35, 2 CPUs, return-path on" \
    "$(jq -c '[.machine, .cpus, .capabilities."return-path"]' "$TESTDIR/dst.profile")" \
    '["pc-q35-7.2",2,true]'
SRC_CAPS=return-path source_start src -M q35 -m 128M -smp 2
proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-profile "$TESTDIR/dst.profile"
migrate src "$PROXY_PORT"
qmp_py wait-migration src 60 >"$TESTDIR/src.final" ||
    fail_check "the migration did not complete: $(cat "$TESTDIR/src.final")"
proxy_wait 30
ev=$TESTDIR/proxy.events
check_eq "proxy exit status 0" "$PROXY_STATUS" 0
check_event_members "$ev"
check_eq "end: completed on the stream's clean end and SHUT 0, no destination status" \
    "$(events "$ev" '[.[] | select(.event == "end") |
                      {outcome, return_path_shut, status: has("destination_status")}]')" \
    '[{"outcome":"completed","return_path_shut":0,"status":false}]'
check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
finish
