#!/usr/bin/env bash
# interop-qemu72-proxy-dry-run.sh - `migproxy probe` writes a profile of a
# waiting destination that agrees with QEMU's own facts; `--dry-run` with
# that profile judges a source as compatible, and with a profile edited to
# 256 MiB as incompatible.  Either way the destination is never contacted
# (it still waits and then completes a real migration), the source's
# migration fails cleanly and its VM keeps running.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

dest_start dst -M pc -m 128M
profile=$TESTDIR/dst.profile
"$MIGPROXY" probe --qmp "unix:$TESTDIR/dst-proxy.qmp" --output "$profile" ||
    die "migproxy probe failed"
check_eq "profile machine = QOM type of /machine less -machine" \
    "$(jq -c .machine "$profile")" \
    "$(qmp dst qom-get '{"path":"/machine","property":"type"}' | jq -c 'sub("-machine$"; "")')"
check_eq "profile RAM blocks = info ramblock (name, Used, Total, PSize)" \
    "$(jq -c '[.ramblocks[] | {name, used: .used_length, total: .max_length, page_size}]' "$profile")" \
    "$(qmp_py ramblocks dst | jq -c '[.[] | {name, used, total, page_size}]')"
check_eq "profile capabilities = query-migrate-capabilities" \
    "$(jq -cS .capabilities "$profile")" \
    "$(qmp dst query-migrate-capabilities | jq -cS 'map({(.capability): .state}) | add')"

# dry_run NAME PROFILE: one source through a --dry-run proxy; sets EV.
dry_run() {
    local name=$1 prof=$2
    SRC_PARAMS=$SLOW_SOURCE source_start "$name" -M pc -m 128M
    proxy_start "proxy-$name" --once --dry-run --dest-profile "$prof" \
        --connect "tcp:127.0.0.1:$INCOMING_PORT"
    migrate "$name" "$PROXY_PORT"
    proxy_wait 30
    EV=$TESTDIR/proxy-$name.events
    check_event_members "$EV"
    check_eq "$name: the source's migration failed" \
        "$(qmp_py wait-migration "$name" 30 --until failed | jq -c .status)" '"failed"'
    check_eq "$name: the source VM keeps running" \
        "$(qmp "$name" query-status | jq -c .status)" '"running"'
    check_eq "$name: end rejected (dry run), destination not contacted" \
        "$(events "$EV" '[.[] | select(.event == "end") |
                          {outcome, dry_run, destination_contacted, bytes_to_destination}]')" \
        '[{"outcome":"rejected","dry_run":true,"destination_contacted":false,"bytes_to_destination":0}]'
}

dry_run good "$profile"
check_eq "compatible: exit 0" "$PROXY_STATUS" 0
check_eq "compatible: verdict accept" \
    "$(events "$EV" '[.[] | select(.event == "verdict") | {verdict, dry_run}]')" \
    '[{"verdict":"accept","dry_run":true}]'

jq '(.ramblocks[] | select(.name == "pc.ram") | .used_length, .max_length) |= 268435456' \
    "$profile" >"$TESTDIR/bad.profile" || die "cannot edit the profile"
dry_run bad "$TESTDIR/bad.profile"
check_eq "incompatible: exit 1" "$PROXY_STATUS" 1
check_rejected "$EV" ramblock-size '"128 MiB (0x8000000)"' '"256 MiB (0x10000000)"'

source_start src2 -M pc -m 128M
check_dest_accepts dst src2 --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
finish
