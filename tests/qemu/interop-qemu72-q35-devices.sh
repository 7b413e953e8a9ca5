#!/usr/bin/env bash
# interop-qemu72-q35-devices.sh - a busier real stream: QEMU 7.2 "q35",
# 2 vCPUs, PCI devices with option ROMs and video RAM (extra RAM blocks)
# and device sections under qdev paths.  Checks migdump against QEMU's
# machine, RAM blocks, page counters, CPUs (query-cpus-fast) and where the
# PCI devices sit (query-pci).
. "$(dirname "$0")/functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

# Devices that need no host resource (NICs without a backend: QEMU only
# warns that they have no peer).
qemu_start src -M q35 -m 128M -smp 2 \
    -device VGA,id=vga0 \
    -device e1000,id=nic0 \
    -device virtio-net-pci,id=nic1 \
    -device virtio-rng-pci,id=rng0 \
    -device virtio-balloon-pci,id=balloon0 \
    -device pci-testdev,id=testdev0 \
    -chardev null,id=ser0 -device isa-serial,id=serial0,chardev=ser0
qmp src migrate "{\"uri\":\"exec:cat > $TESTDIR/stream\"}" >/dev/null || die "migrate failed"
qmp_py wait-migration src 60 >"$TESTDIR/final.json" ||
    die "migration did not complete: $(cat "$TESTDIR/final.json")"
facts=$TESTDIR/facts.json
collect_facts src q35 "$facts"

out=$TESTDIR/migdump.json
run_migdump "$out" "$TESTDIR/stream" || finish
check_migration_completed "$facts"
check_stream_basics "$out"
check_machine "$out" "$facts"
check_eq "machine resolves q35 to pc-q35-7.2" "$(jget "$out" .machine)" '"pc-q35-7.2"'
check_ramblocks "$out" "$facts"
check_page_counters "$out" "$facts"
check_eq "no capabilities announced" "$(jget "$out" .capabilities)" '[]'
check_eq "no commands" "$(command_names "$out")" '[]'
check_eq "VMDESCRIPTION present" "$(jget "$out" .vmdesc)" true
check_eq "ram_total = query-migrate ram.total" \
    "$(jget "$out" .ram_total)" "$(jget "$facts" .migrate.ram.total)"

# The video RAM and the NIC option ROMs are RAM blocks named after the
# device's PCI address; info ramblock already lists them, make sure the
# test really has them so that the comparison above covers them.
check_jq "info ramblock lists vga.vram and the e1000 ROM" "$facts" \
    '[.ramblocks[].name] | (any(endswith("/vga.vram")) and any(endswith("/e1000.rom")))'

# One "cpu" section per vCPU, instance = cpu-index (QEMU's CPU list).
check_eq "cpu sections: one per vCPU, instance = cpu-index" \
    "$(jget "$out" '[.sections[] | select(.name == "cpu") | .instance] | sort')" \
    "$(jget "$facts" '[.cpus[]."cpu-index"] | sort')"

# PCI device sections are named "<domain:bus:slot.fn>/<vmsd name>"; the
# address comes from query-pci, the vmsd name is the device model's.
# jq has no printf: pad the hex numbers by hand.
expected=$(jq -c '
    def hex2: [(. / 16 | floor), (. % 16)] | map("0123456789abcdef"[.:.+1]) | add;
    {vga0: "vga", nic0: "e1000", nic1: "virtio-net",
     rng0: "virtio-rng", balloon0: "virtio-balloon"} as $vmsd
    | [.pci[] | .bus as $bus | .devices[]
       | select($vmsd[.qdev_id] != null)
       | "0000:\($bus | hex2):\(.slot | hex2).\(.function)/\($vmsd[.qdev_id])"]
    | sort' "$facts")
check_eq "query-pci found the five devices" "$(jq 'length' <<<"$expected")" 5
check_eq "a section for each PCI device at its query-pci address" \
    "$(jq -c --argjson want "$expected" '[.sections[].name | select(IN($want[]))] | sort' "$out")" \
    "$expected"
check_eq "one serial section (isa-serial)" \
    "$(jget "$out" '[.sections[] | select(.name == "serial")] | length')" 1
finish
