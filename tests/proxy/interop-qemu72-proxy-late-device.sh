#!/usr/bin/env bash
# interop-qemu72-proxy-late-device.sh - a device on the source only
# (virtio-rng-pci, which has no RAM block, so the gate's prefix checks pass).
# QEMU 7.2 would fail only at the end, after all of RAM, with the source's
# VM stopped; without a return path the source would even say "completed".
#  1. By default migproxy checks the device sections that come after the
#     gate against the destination's PCI devices and cuts the migration
#     before forwarding that section.  With the return-path capability the
#     source waits for the destination's word, so it sees the cut: its
#     migration fails and its VM runs on.
#  2. With the finding relaxed to a warning by the policy, the section is
#     forwarded, the destination fails on it as QEMU does, the source says
#     "completed" - and migproxy's end event says "failed", naming the
#     section and the side that broke off.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

# 1. cut before the section
DEST_CAPS=return-path dest_start dst -M pc -m 128M
SRC_CAPS=return-path source_start src -M pc -m 128M -device virtio-rng-pci
proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
migrate src "$PROXY_PORT"
proxy_wait 60
ev=$TESTDIR/proxy.events
check_event_members "$ev"
check_eq "proxy exit status 2 (failed after the gate)" "$PROXY_STATUS" 2
check_eq "accepted at the gate" "$(events "$ev" '[.[] | select(.event == "verdict") | .verdict]')" \
    '["accept"]'
check_eq "finding section-unknown-late: the device's section, its path, absent" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "section-unknown-late") |
                      {severity, subject, source, destination}]')" \
    '[{"severity":"error","subject":"0000:00:02.0/virtio-rng","source":"0000:00:02.0","destination":"absent"}]'
check_eq "end: failed, cut by the proxy" \
    "$(events "$ev" '[.[] | select(.event == "end") | {outcome, broke_off}]')" \
    '[{"outcome":"failed","broke_off":"proxy"}]'
check_eq "the source's migration failed" \
    "$(qmp_py wait-migration src 30 --until failed | jq -c .status)" '"failed"'
check_eq "the source VM runs on" "$(qmp src query-status | jq -c .status)" '"running"'
qemu_stop dst
qemu_stop src

# 2. forwarded as a warning: the destination fails, the source says completed
printf '[severity]\nsection-unknown-late=warning\n' >"$TESTDIR/policy.ini"
dest_start dst2 -M pc -m 128M
source_start src2 -M pc -m 128M -device virtio-rng-pci
proxy_start proxy2 --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst2-proxy.qmp" --policy "$TESTDIR/policy.ini"
migrate src2 "$PROXY_PORT"
qmp_py wait-migration src2 60 >"$TESTDIR/src2.final"
proxy_wait 60
ev=$TESTDIR/proxy2.events
check_eq "QEMU 7.2's source, without a return path, says completed" \
    "$(jq -c .status "$TESTDIR/src2.final")" '"completed"'
check_eq "proxy exit status 2" "$PROXY_STATUS" 2
check_eq "the finding is a warning now" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "section-unknown-late") | .severity]')" \
    '["warning"]'
check_eq "end: failed although the source says completed" \
    "$(events "$ev" '[.[] | select(.event == "end") | .outcome]')" '["failed"]'
check_eq "finding destination-failed" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "destination-failed")] | length')" 1
grep -q "Unknown savevm section or instance '0000:00:02.0/virtio-rng'" "$TESTDIR/dst2.log" &&
    log "ok: the destination failed on that very section" ||
    fail_check "the destination's log does not show the expected failure: $(tail -3 "$TESTDIR/dst2.log")"
finish
