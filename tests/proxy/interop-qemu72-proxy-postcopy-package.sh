#!/usr/bin/env bash
# interop-qemu72-proxy-postcopy-package.sh - the gate holds for postcopy.
# In postcopy QEMU 7.2 sends the device state inside a PACKAGED blob that
# ends with POSTCOPY_RUN; once that reaches the destination the guest runs
# there, and a device it cannot load loses the VM.  So migproxy holds the
# whole blob and judges it at its end.  Two real postcopy migrations
# (postcopy-ram, a guest that keeps writing its RAM, a slowed source):
#   match:  the same devices: the blob is held, released, and the
#           migration completes with the destination running;
#   device: virtio-rng-pci at the source only, a destination profile with
#           the destination's section list, no --source-qmp (the gate at
#           the start cannot see it): the blob is cut at its end, before
#           POSTCOPY_RUN reaches the destination, which never loads the
#           device's section.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
make_dirty_rom "$TESTDIR/dirty.rom"

# package_case NAME SRC-EXTRA-ARGS...: a postcopy migration through the
# proxy with the destination's section list; sets EV.
package_case() {
    local name=$1 dst_args=(-M pc -m 128M -option-rom "$TESTDIR/dirty.rom")
    shift
    DEST_CAPS="postcopy-ram" dest_start "$name-dst" "${dst_args[@]}"
    sections_profile "$name-dst" "$TESTDIR/$name.profile" "${dst_args[@]}"
    SRC_CAPS="postcopy-ram" SRC_PARAMS='{"max-bandwidth": 300000}' \
        source_start "$name-src" "${dst_args[@]}" "$@"
    proxy_start "$name" --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
        --dest-profile "$TESTDIR/$name.profile"
    migrate "$name-src" "$PROXY_PORT"
    qmp_py wait-migration "$name-src" 30 --until active >/dev/null || die "$name: no migration"
    sleep 1
    qmp "$name-src" migrate-start-postcopy >/dev/null || die "$name: migrate-start-postcopy failed"
    proxy_wait 120
    EV=$TESTDIR/$name.events
    check_event_members "$EV"
    check_eq "$name: verdict accept" \
        "$(events "$EV" '[.[] | select(.event == "verdict") | .verdict]')" '["accept"]'
    check_eq "$name: the PACKAGED blob was seen" \
        "$(events "$EV" '[.[] | select(.event == "device-state")] | length')" 1
}

package_case match
check_eq "match: the blob held, then released on confirmed boundaries" \
    "$(events "$EV" '[.[] | select(.event == "device-state") | {action, boundaries_confirmed}]')" \
    '[{"action":"released","boundaries_confirmed":true}]'
check_eq "match: proxy exit status 0, completed" \
    "$PROXY_STATUS $(events "$EV" '[.[] | select(.event == "end") | .outcome]')" '0 ["completed"]'
check_eq "match: destination runs" \
    "$(qmp_py wait-status match-dst 20 running | jq -c .status)" '"running"'

package_case device -device virtio-rng-pci
check_eq "device: device-missing on the virtio-rng section, an error" \
    "$(events "$EV" '[.[] | select(.event == "finding" and .code == "device-missing") |
                     {severity, subject}] | first')" \
    '{"severity":"error","subject":"0000:00:02.0/virtio-rng"}'
check_eq "device: the blob cut at its end, on boundaries the blob confirms" \
    "$(events "$EV" '[.[] | select(.event == "device-state") | {action, boundaries_confirmed}]')" \
    '[{"action":"cut","boundaries_confirmed":true}]'
check_eq "device: failed, broken off by the proxy, not paused for a recovery" \
    "$(events "$EV" '[.[] | select(.event == "end") | {outcome, broke_off}]'),$(events "$EV" '[.[] | select(.event == "paused")] | length')" \
    '[{"outcome":"failed","broke_off":"proxy"}],0'
off=$(events "$EV" '[.[] | select(.event == "device-state") | .from_offset][0]')
check_eq "device: the destination got nothing of the blob (less than its start, $off)" \
    "$(events "$EV" "[.[] | select(.event == \"end\") | .bytes_to_destination <= $off][0]")" true
check_dest_log_lacks "device: " "device-dst" "Unknown savevm section" "the device state"
# What QEMU 7.2's source does then is its own: it had switched to postcopy
# before sending the blob, so it waits paused, its VM stopped but whole.
log "device: the source says $(qmp device-src query-migrate | jq -c .status), VM $(qmp device-src query-status | jq -c .status)"
finish
