#!/usr/bin/env bash
# interop-qemu72-proxy-late-sections.sh - a device on the source only
# (virtio-rng-pci, no RAM block) and, separately, -smp 2 into -smp 1, with
# a destination profile carrying the destination's section list and no
# --source-qmp: the gate cannot see them.  Their sections arrive at the
# switchover, after boundaries the decoder had to guess; the proxy holds
# the device state from the suspect header until the VMDESCRIPTION confirms
# the boundaries, then cuts the migration before that section is forwarded.
# With the return-path capability the source sees its migration fail and
# its VM keeps running; the destination never got the section.  A slowed
# source makes sure the device state comes after the gate (a fast one may
# send it with the prefix, and then the gate itself rejects).
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

# late_case NAME SECTION INSTANCE DST-ARGS -- SRC-ARGS
late_case() {
    local name=$1 section=$2 instance=$3 dst_args=() src_args=() ev off
    shift 3
    while [ "$1" != -- ]; do dst_args+=("$1"); shift; done
    shift
    src_args=("$@")
    DEST_CAPS=return-path dest_start "$name-dst" "${dst_args[@]}"
    sections_profile "$name-dst" "$TESTDIR/$name.profile" "${dst_args[@]}"
    SRC_CAPS=return-path SRC_PARAMS=$SLOW_SOURCE source_start "$name-src" "${src_args[@]}"
    proxy_start "$name" --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
        --dest-profile "$TESTDIR/$name.profile"
    migrate "$name-src" "$PROXY_PORT"
    proxy_wait 60
    ev=$TESTDIR/$name.events
    check_event_members "$ev"
    check_eq "$name: proxy exit status 2 (cut after the gate)" "$PROXY_STATUS" 2
    check_eq "$name: verdict accept (the gate cannot see it)" \
        "$(events "$ev" '[.[] | select(.event == "verdict") | .verdict]')" '["accept"]'
    check_eq "$name: device-missing, an error, first on the section" \
        "$(events "$ev" "[.[] | select(.event == \"finding\" and .code == \"device-missing\") |
                         {severity, subject}] | first")" \
        "{\"severity\":\"error\",\"subject\":\"$section${instance:+ instance $instance}\"}"
    check_eq "$name: the hold ended in a cut, on confirmed boundaries" \
        "$(events "$ev" '[.[] | select(.event == "device-state") | {action, boundaries_confirmed}]')" \
        '[{"action":"cut","boundaries_confirmed":true}]'
    check_eq "$name: broken off by the proxy" \
        "$(events "$ev" '[.[] | select(.event == "end") | {outcome, broke_off}]')" \
        '[{"outcome":"failed","broke_off":"proxy"}]'
    check_eq "$name: no side is blamed for the proxy's own cut" \
        "$(events "$ev" '[.[] | select(.event == "finding" and
                         (.code == "source-failed" or .code == "destination-failed"))] | length')" 0
    # chunks up to the one that ends the suspect header may have gone
    off=$(events "$ev" '[.[] | select(.event == "device-state") | .from_end][0]')
    check_eq "$name: the destination got less than the stream up to the held header's end" \
        "$(events "$ev" "[.[] | select(.event == \"end\") | .bytes_to_destination < $off][0]")" true
    check_eq "$name: the source's migration failed" \
        "$(qmp_py wait-migration "$name-src" 30 --until failed | jq -c .status)" '"failed"'
    check_eq "$name: the source VM keeps running" \
        "$(qmp_py wait-status "$name-src" 20 running | jq -c .status)" '"running"'
    check_dest_log_lacks "$name: " "$name-dst" "Unknown savevm section" "the section"
}

late_case device 0000:00:02.0/virtio-rng "" -M pc -m 128M -- -M pc -m 128M -device virtio-rng-pci
late_case smp cpu_common 1 -M pc -m 128M -smp 1 -- -M pc -m 128M -smp 2
finish
