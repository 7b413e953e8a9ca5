#!/usr/bin/env bash
# reject-source-device-sections.sh - a device on the source only
# (virtio-rng-pci, no RAM block) and -smp 2 into -smp 1, with --source-qmp
# and a destination profile that carries the destination's own section
# list (probe --sections-from a stream its configuration wrote).  Rejected
# at the gate, before RAM is sent.  With the full profile the PCI and CPU
# lists already differ (pci-device-missing, cpu-count); with a profile that
# has only the section list (pci_devices and cpus removed) the source's
# PCI devices and CPUs are mapped to section idstrs (device-missing).  The
# profile also carries version ranges from the destination's -dump-vmstate.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

dest_start dst -M pc -m 128M
"$QEMU" -M pc -dump-vmstate "$TESTDIR/dst-vmstate.json" </dev/null >/dev/null 2>&1 ||
    die "-dump-vmstate failed"
SECTIONS_DUMP=$TESTDIR/dst-vmstate.json sections_profile dst "$TESTDIR/dst.profile" -M pc -m 128M
check_eq "the profile carries the RTC's loadable range from -dump-vmstate, none for ram" \
    "$(jq -c '[.sections[] | select(.idstr == "mc146818rtc" or .idstr == "ram") |
              [.idstr, .version, .minimum_version, .maximum_version]]' "$TESTDIR/dst.profile")" \
    '[["ram",4,null,null],["mc146818rtc",3,1,3]]'
check_eq "the profile lists cpu_common instance 0 and no instance 1" \
    "$(jq -c '[.sections[] | select(.idstr == "cpu_common") | .instance]' "$TESTDIR/dst.profile")" \
    '[0]'
check_eq "the profile has no section under 0000:00:02.0" \
    "$(jq -c '[.sections[] | select(.idstr | startswith("0000:00:02.0/"))] | length' \
       "$TESTDIR/dst.profile")" 0
jq '.pci_devices = null | .cpus = null' "$TESTDIR/dst.profile" >"$TESTDIR/dst-sections-only.profile"

SRC_PARAMS=$SLOW_SOURCE source_start src -M pc -m 128M -smp 2 -device virtio-rng-pci \
    -qmp "unix:$TESTDIR/src-proxy.qmp,server=on,wait=off"

run_case() {
    local name=$1 profile=$2 ev
    proxy_start "$name" --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
        --dest-profile "$profile" --source-qmp "unix:$TESTDIR/src-proxy.qmp"
    migrate src "$PROXY_PORT"
    proxy_wait 30
    ev=$TESTDIR/$name.events
    check_eq "$name: proxy exit status 1 (rejected)" "$PROXY_STATUS" 1
    check_event_members "$ev"
    check_eq "$name: verdict reject, destination not contacted" \
        "$(events "$ev" '[.[] | select(.event == "verdict") | {verdict, destination_contacted}]')" \
        '[{"verdict":"reject","destination_contacted":false}]'
    check_eq "$name: nothing sent to the destination" \
        "$(events "$ev" '[.[] | select(.event == "end") | {outcome, bytes_to_destination}]')" \
        '[{"outcome":"rejected","bytes_to_destination":0}]'
    check_eq "$name: the source's migration failed" \
        "$(qmp_py wait-migration src 30 --until failed | jq -c .status)" '"failed"'
    check_eq "$name: the source VM keeps running" \
        "$(qmp src query-status | jq -c .status)" '"running"'
}

run_case full "$TESTDIR/dst.profile"
check_eq "full profile: pci-device-missing and cpu-count, no duplicate device-missing" \
    "$(events "$TESTDIR/full.events" '[.[] | select(.event == "finding" and .severity == "error") |
                                        {code, subject}]')" \
    '[{"code":"pci-device-missing","subject":"0000:00:02.0"},{"code":"cpu-count","subject":"CPUs"}]'

run_case sections "$TESTDIR/dst-sections-only.profile"
check_eq "section list only: the PCI device and CPU 1 mapped to sections the destination lacks" \
    "$(events "$TESTDIR/sections.events" '[.[] | select(.event == "finding" and .severity == "error") |
                                            {code, subject, destination}]')" \
    '[{"code":"device-missing","subject":"0000:00:02.0","destination":"no section with this path"},{"code":"device-missing","subject":"cpu_common","destination":"no section '"'"'cpu_common'"'"' for every CPU"}]'
check_eq "destination still waits for a migration" \
    "$(qmp dst query-status | jq -c .status)" '"inmigrate"'
finish
