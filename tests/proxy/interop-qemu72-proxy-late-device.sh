#!/usr/bin/env bash
# interop-qemu72-proxy-late-device.sh - a device on the source only
# (virtio-rng-pci, which has no RAM block) and no --source-qmp: the gate
# cannot see it.  Its section comes at the end, after device sections whose
# ends the decoder had to guess; the destination's QMP shows no PCI device
# at its path, so the proxy holds the device state from that section until
# the VMDESCRIPTION confirms the boundaries, then cuts the migration before
# the section is forwarded: the destination never gets it.  Without a
# return path QEMU 7.2's source says "completed" (its last bytes were in
# the socket buffers) and stays paused - QEMU's behaviour with any
# destination that fails; migproxy's end event says "failed", broken off
# by the proxy.  (interop-qemu72-proxy-late-sections.sh shows the source
# running on with a return path.)
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

dest_start dst -M pc -m 128M
SRC_PARAMS=$SLOW_SOURCE source_start src -M pc -m 128M -device virtio-rng-pci
proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
migrate src "$PROXY_PORT"
qmp_py wait-migration src 60 >"$TESTDIR/src.final"
proxy_wait 60
ev=$TESTDIR/proxy.events
check_event_members "$ev"
# Whether the source's last bytes were still in its socket buffers when the
# proxy cut depends on timing: "completed" leaves its VM paused, "failed"
# resumes it.
case "$(jq -r .status "$TESTDIR/src.final")/$(qmp src query-status | jq -r .status)" in
completed/postmigrate | failed/running) log "ok: source: $(jq -r .status "$TESTDIR/src.final")" ;;
*) fail_check "source: $(jq -c .status "$TESTDIR/src.final"), $(qmp src query-status | jq -c .status)" ;;
esac
check_eq "proxy exit status 2" "$PROXY_STATUS" 2
check_eq "an error on the device's section: its path, absent at the destination" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "section-unknown-late") |
                      {severity, subject, source, destination}]')" \
    '[{"severity":"error","subject":"0000:00:02.0/virtio-rng","source":"0000:00:02.0","destination":"absent"}]'
check_eq "the device state was held and the hold ended in a cut" \
    "$(events "$ev" '[.[] | select(.event == "device-state") | {action, boundaries_confirmed}]')" \
    '[{"action":"cut","boundaries_confirmed":true}]'
check_eq "end: failed, broken off by the proxy, whatever the source says" \
    "$(events "$ev" '[.[] | select(.event == "end") | {outcome, broke_off}]')" \
    '[{"outcome":"failed","broke_off":"proxy"}]'
check_dest_log_lacks "" "dst" "Unknown savevm section" "the section"
finish
