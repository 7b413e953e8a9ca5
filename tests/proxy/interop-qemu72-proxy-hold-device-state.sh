#!/usr/bin/env bash
# interop-qemu72-proxy-hold-device-state.sh - --hold-device-state: the
# device state is held from the first device section after the RAM setup
# to the VMDESCRIPTION's check of its boundaries, then released.
# Accepted: a q35 guest with several devices completes, the bytes on both
# sides of the proxy identical (recording relays and --checksum), the hold
# released on confirmed boundaries.  Rejected: a device on the source only,
# a destination profile with its section list: the hold ends in a cut, the
# source's VM keeps running (return-path), the destination never got the
# device state (less than the stream up to the first held header).
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp

# shellcheck disable=SC2054 # the commas are QEMU's option syntax
SRC_ARGS=(-M q35 -m 128M -smp 2 -device virtio-rng-pci -device e1000,netdev=n0
          -netdev user,id=n0 -device VGA)
DST_ARGS=("${SRC_ARGS[@]}")
PROXY_EXTRA=(--hold-device-state)
accept_case 1
check_eq "accepted: the hold released the device state on confirmed boundaries" \
    "$(events "$EV" '[.[] | select(.event == "device-state") |
                     {action, boundaries_confirmed, held: (.bytes_held > 0)}]')" \
    '[{"action":"released","boundaries_confirmed":true,"held":true}]'
qemu_stop dst
qemu_stop src

# rejected
DEST_CAPS=return-path dest_start dst2 -M pc -m 128M
sections_profile dst2 "$TESTDIR/dst2.profile" -M pc -m 128M
SRC_CAPS=return-path SRC_PARAMS=$SLOW_SOURCE source_start src2 -M pc -m 128M -device virtio-rng-pci
proxy_start proxy2 --once --hold-device-state --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-profile "$TESTDIR/dst2.profile"
migrate src2 "$PROXY_PORT"
proxy_wait 60
ev=$TESTDIR/proxy2.events
check_event_members "$ev"
check_eq "rejected: proxy exit status 2" "$PROXY_STATUS" 2
check_eq "rejected: verdict accept, then device-missing on the device's section" \
    "$(events "$ev" '[.[] | select(.event == "verdict" or (.event == "finding" and
                     .code == "device-missing")) | .verdict // .subject]')" \
    '["accept","0000:00:02.0/virtio-rng"]'
# shellcheck disable=SC2016 # $o is jq's
check_eq "rejected: the hold began before the device's own section" \
    "$(events "$ev" '([.[] | select(.event == "finding" and .code == "section-unknown-late") |
                      .message | capture("stream offset (?<o>[0-9]+)").o | tonumber][0]) as $o |
                     [.[] | select(.event == "device-state") | .from_offset < $o][0]')" true
check_held_and_cut "$ev" src2
check_dest_log_lacks "rejected: " "dst2" "Unknown savevm section" "the section"
finish
