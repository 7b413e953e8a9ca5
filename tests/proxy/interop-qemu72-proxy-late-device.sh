#!/usr/bin/env bash
# interop-qemu72-proxy-late-device.sh - a device on the source only
# (virtio-rng-pci, which has no RAM block) and no --source-qmp: the gate
# cannot see it.  Its section comes at the end, after device sections whose
# ends the decoder had to guess, so the proxy warns before forwarding it
# (no verdict rests on a guess).  The destination fails on it as QEMU does;
# without a return path QEMU 7.2's source says "completed" - and migproxy's
# end event says "failed", naming the side that broke off.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

dest_start dst -M pc -m 128M
source_start src -M pc -m 128M -device virtio-rng-pci
proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
migrate src "$PROXY_PORT"
qmp_py wait-migration src 60 >"$TESTDIR/src.final"
proxy_wait 60
ev=$TESTDIR/proxy.events
check_event_members "$ev"
check_eq "QEMU 7.2's source, without a return path, says completed" \
    "$(jq -c .status "$TESTDIR/src.final")" '"completed"'
check_eq "proxy exit status 2" "$PROXY_STATUS" 2
check_eq "a warning on the device's section: its path, absent at the destination" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "section-unknown-late") |
                      {severity, subject, source, destination}]')" \
    '[{"severity":"warning","subject":"0000:00:02.0/virtio-rng","source":"0000:00:02.0","destination":"absent"}]'
check_eq "end: failed although the source says completed" \
    "$(events "$ev" '[.[] | select(.event == "end") | .outcome]')" '["failed"]'
check_eq "finding destination-failed" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "destination-failed")] | length')" 1
grep -q "Unknown savevm section or instance '0000:00:02.0/virtio-rng'" "$TESTDIR/dst.log" &&
    log "ok: the destination failed on that very section" ||
    fail_check "the destination's log does not show the expected failure: $(tail -3 "$TESTDIR/dst.log")"
finish
