#!/usr/bin/env bash
# interop-qemu72-proxy-postcopy-device-layout.sh - device-layout in
# postcopy: QEMU 7.2 sends the device state in a PACKAGED blob that ends
# with POSTCOPY_RUN, which migproxy always holds and judges at its end.
# A qemu-xhci with 8 USB 3 ports at the source, 4 at the destination
# (same sections, versions and PCI addresses), a destination profile from
# `probe --sections-from` (with its layouts), a real postcopy migration of
# a guest that keeps writing its RAM: the walk of the held blob finds the
# xhci section does not fit and the blob is cut before POSTCOPY_RUN
# reaches the destination, which never loads the xhci's state.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
make_dirty_rom "$TESTDIR/dirty.rom"

base=(-M pc -m 128M -option-rom "$TESTDIR/dirty.rom")
DEST_CAPS="postcopy-ram" dest_start dst "${base[@]}" -device qemu-xhci,p3=4
sections_profile dst "$TESTDIR/dst.profile" "${base[@]}" -device qemu-xhci,p3=4
SRC_CAPS="postcopy-ram" SRC_PARAMS='{"max-bandwidth": 300000}' \
    source_start src "${base[@]}" -device qemu-xhci,p3=8
proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-profile "$TESTDIR/dst.profile"
migrate src "$PROXY_PORT"
qmp_py wait-migration src 30 --until active >/dev/null || die "no migration"
sleep 1
qmp src migrate-start-postcopy >/dev/null || die "migrate-start-postcopy failed"
proxy_wait 120
EV=$TESTDIR/proxy.events
check_event_members "$EV"
check_eq "verdict accept (no header check sees it)" \
    "$(events "$EV" '[.[] | select(.event == "verdict") | .verdict]')" '["accept"]'
check_eq "one error: device-layout on the xhci section" \
    "$(events "$EV" '[.[] | select(.event == "finding" and .severity == "error") |
                     [.code, (.subject | sub("^[0-9a-f:.]*/"; ""))]]')" '[["device-layout","xhci"]]'
log "device-layout: $(events "$EV" '[.[] | select(.code == "device-layout") | .message][0]')"
check_eq "the blob cut at its end, on boundaries the blob confirms" \
    "$(events "$EV" '[.[] | select(.event == "device-state") | {action, boundaries_confirmed}]')" \
    '[{"action":"cut","boundaries_confirmed":true}]'
check_eq "failed, broken off by the proxy" \
    "$(events "$EV" '[.[] | select(.event == "end") | {outcome, broke_off}]')" \
    '[{"outcome":"failed","broke_off":"proxy"}]'
off=$(events "$EV" '[.[] | select(.event == "device-state") | .from_offset][0]')
check_eq "the destination got nothing of the blob (less than its start, $off)" \
    "$(events "$EV" "[.[] | select(.event == \"end\") | .bytes_to_destination <= $off][0]")" true
check_dest_log_lacks "" "dst" "Missing section footer" "the device state"
log "the source says $(qmp src query-migrate | jq -c .status), VM $(qmp src query-status | jq -c .status)"
finish
