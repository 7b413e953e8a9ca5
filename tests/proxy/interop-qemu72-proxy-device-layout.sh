#!/usr/bin/env bash
# interop-qemu72-proxy-device-layout.sh - the held device state walked with
# the destination's layouts (device-layout).  The destination's profile
# comes from `probe --sections-from` a stream that a paused copy of the
# destination's configuration wrote (its VMDESCRIPTION: "layouts").
# Rejected: a qemu-xhci with 8 USB 3 ports at the source, 4 at the
# destination (the same sections, versions and PCI addresses: no header
# check sees it; a real destination fails with "Missing section footer",
# tests/offline/offline-qemu72.sh): --hold-device-state cuts before the
# device state reaches the destination, with device-layout naming the xhci
# section; the source fails its migration and its VM keeps running.
# Fast: the same pair without a slowed source, whose device state may come
# with the prefix (then the gate walks it and rejects) or after it (the
# hold cuts): either way device-layout stops it before the destination.
# Accepted: the same pair with equal configurations completes, the walk
# having run (virtio-rng's one field is of a length only the device knows:
# an info finding, never an error).
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

# shellcheck disable=SC2054 # the commas are QEMU's option syntax
BASE=(-M pc -m 128M -device virtio-rng-pci)

# rejected: p3=8 -> p3=4
DEST_CAPS=return-path dest_start dst "${BASE[@]}" -device qemu-xhci,p3=4
sections_profile dst "$TESTDIR/dst.profile" "${BASE[@]}" -device qemu-xhci,p3=4
check_jq "the profile carries the destination's layouts, the xhci's among them" \
    "$TESTDIR/dst.profile" '[.layouts.devices[].name | select(endswith("/xhci"))] | length == 1'
SRC_CAPS=return-path SRC_PARAMS=$SLOW_SOURCE source_start src "${BASE[@]}" -device qemu-xhci,p3=8
proxy_start proxy --once --hold-device-state --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-profile "$TESTDIR/dst.profile"
migrate src "$PROXY_PORT"
proxy_wait 60
ev=$TESTDIR/proxy.events
check_event_members "$ev"
check_eq "rejected: proxy exit status 2" "$PROXY_STATUS" 2
check_eq "rejected: verdict accept, then one error: device-layout on the xhci section" \
    "$(events "$ev" '[.[] | select(.event == "verdict" or (.event == "finding" and
                     .severity == "error")) | .verdict // [.code, (.subject | sub("^[0-9a-f:.]*/"; ""))]]')" \
    '["accept",["device-layout","xhci"]]'
check_eq "rejected: the finding says where the walk ended and what QEMU would say" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "device-layout") | .message |
                     test("offset [0-9]+: .*payload bytes left after every described field") and
                     test("Missing section footer for 0000:[0-9a-f:.]*/xhci")]')" '[true]'
log "device-layout: $(events "$ev" '[.[] | select(.code == "device-layout") | .message][0]')"
check_held_and_cut "$ev" src
check_dest_log_lacks "rejected: " "dst" "Missing section footer" "the xhci section"
qemu_stop src
qemu_stop dst

# fast: p3=8 -> p3=4, the source not slowed
DEST_CAPS=return-path dest_start dst3 "${BASE[@]}" -device qemu-xhci,p3=4
SRC_CAPS=return-path source_start src3 "${BASE[@]}" -device qemu-xhci,p3=8
proxy_start proxy3 --once --hold-device-state --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-profile "$TESTDIR/dst.profile"
migrate src3 "$PROXY_PORT"
proxy_wait 60
ev=$TESTDIR/proxy3.events
check_event_members "$ev"
log "fast: verdict $(events "$ev" '[.[] | select(.event == "verdict") | .verdict]'), hold $(events "$ev" '[.[] | select(.event == "device-state") | .action]'), exit $PROXY_STATUS"
check_eq "fast: one error, device-layout on the xhci section" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .severity == "error") |
                     [.code, (.subject | sub("^[0-9a-f:.]*/"; ""))]]')" '[["device-layout","xhci"]]'
check_eq "fast: rejected at the gate or cut by the hold (exit 1 or 2)" \
    "$([ "$PROXY_STATUS" = 1 ] || [ "$PROXY_STATUS" = 2 ] && echo true)" true
check_eq "fast: the source's migration failed" \
    "$(qmp_py wait-migration src3 30 --until failed | jq -c .status)" '"failed"'
check_eq "fast: the source VM keeps running" \
    "$(qmp_py wait-status src3 20 running | jq -c .status)" '"running"'
check_dest_log_lacks "fast: " "dst3" "Missing section footer" "the xhci section"
qemu_stop src3
qemu_stop dst3

# accepted: p3=4 -> p3=4 (slowed, so that the hold, not the gate, walks it)
dest_start dst2 "${BASE[@]}" -device qemu-xhci,p3=4
sections_profile dst2 "$TESTDIR/dst2.profile" "${BASE[@]}" -device qemu-xhci,p3=4
SRC_PARAMS=$SLOW_SOURCE source_start src2 "${BASE[@]}" -device qemu-xhci,p3=4
proxy_start proxy2 --once --hold-device-state --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-profile "$TESTDIR/dst2.profile"
migrate src2 "$PROXY_PORT"
qmp_py wait-migration src2 120 >"$TESTDIR/src2.final" ||
    fail_check "accepted: the source's migration did not complete: $(cat "$TESTDIR/src2.final")"
proxy_wait 60
ev=$TESTDIR/proxy2.events
check_event_members "$ev"
check_eq "accepted: proxy exit status 0" "$PROXY_STATUS" 0
check_eq "accepted: no error or warning" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .severity != "info") | .code]')" '[]'
check_eq "accepted: the walk ran: virtio-rng's last field judged unchecked (info), nothing else of the PCI devices" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "device-layout-unchecked" and
                     (.subject | test("^0000:"))) | [.severity, (.subject | sub("^[0-9a-f:.]*/"; ""))]]')" \
    '[["info","virtio-rng"]]'
log "unchecked: $(events "$ev" '[.[] | select(.code == "device-layout-unchecked") | .message]')"
check_eq "accepted: the hold released the device state on confirmed boundaries" \
    "$(events "$ev" '[.[] | select(.event == "device-state") | {action, boundaries_confirmed}]')" \
    '[{"action":"released","boundaries_confirmed":true}]'
check_eq "accepted: end completed" \
    "$(events "$ev" '[.[] | select(.event == "end") | .outcome]')" '["completed"]'
check_eq "accepted: the destination's own query-migrate" \
    "$(qmp_py wait-migration dst2 30 | jq -c .status)" '"completed"'
check_eq "accepted: the destination runs" "$(qmp_py wait-status dst2 20 running | jq -c .status)" \
    '"running"'
finish
