#!/usr/bin/env bash
# interop-qemu72-x-ignore-shared.sh - QEMU 7.2 with guest RAM in a shared
# file and the x-ignore-shared capability: the stream announces the
# capability in the configuration section, carries a MemoryRegion address
# after every RAM block, and sends no page of the shared block.  migdump
# must decode the extra fields, and its addresses and counts must match
# what QEMU reports (info ramblock, info mtree, query-migrate).
. "$(dirname "$0")/functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

# The backend keeps the name "pc.ram" so the block list looks as usual.
qemu_start src -M pc -m 64M \
    -object "memory-backend-file,id=pc.ram,size=64M,mem-path=$TESTDIR/guest-ram,share=on" \
    -machine memory-backend=pc.ram
set_caps src x-ignore-shared
qmp src migrate "{\"uri\":\"exec:cat > $TESTDIR/stream\"}" >/dev/null || die "migrate failed"
qmp_py wait-migration src 60 >"$TESTDIR/final.json" ||
    die "migration did not complete: $(cat "$TESTDIR/final.json")"
facts=$TESTDIR/facts.json
collect_facts src pc "$facts"
qmp_py mtree src >"$TESTDIR/mtree.json" || die "info mtree failed"

out=$TESTDIR/migdump.json
run_migdump "$out" "$TESTDIR/stream" || finish
check_migration_completed "$facts"
check_stream_basics "$out"
check_machine "$out" "$facts"
check_ramblocks "$out" "$facts"
check_page_counters "$out" "$facts"
check_eq "x-ignore-shared announced (validated capability)" \
    "$(jget "$out" .capabilities)" '["x-ignore-shared"]'
check_eq "no commands" "$(command_names "$out")" '[]'

# Every block carries mr->addr; for these regions that is where info
# mtree shows the region itself mapped (pc.bios at 4G-256K, pc.rom at
# 0xc0000), and 0 for regions only reached through aliases (pc.ram) or
# never mapped (fw_cfg ROM blobs).
check_eq "addr of each block = its address in info mtree (0 if unmapped)" \
    "$(jget "$out" '[.ramblocks[] | {name, addr}]')" \
    "$(jq -c --slurpfile mt "$TESTDIR/mtree.json" \
        '[.ramblocks[] | {name, addr: ($mt[0][.name] // 0)}]' "$facts")"
check_jq "mtree really maps pc.bios below 4G (the check above is not all zeros)" \
    "$TESTDIR/mtree.json" '."pc.bios" == 4294705152'
check_eq "no page-size fields without postcopy" \
    "$(jget "$out" '[.ramblocks[] | select(.page_size != null)]')" '[]'

# MEM_SIZE still counts the ignored block, query-migrate's ram.total does
# not (ram_bytes_total excludes ignored blocks): the difference is pc.ram.
check_eq "ram_total = query-migrate ram.total + Used of the shared pc.ram" \
    "$(jget "$out" .ram_total)" \
    "$(jq '.migrate.ram.total + ([.ramblocks[] | select(.name == "pc.ram") | .used] | add)' "$facts")"
# Nothing of pc.ram (16384 pages) is sent: the pages in the stream are
# those of the other blocks (ram.total, 130 pages), plus the few the idle
# guest dirties again before the end.
check_jq "pages in the stream: at most twice the non-shared blocks" "$out" \
    '.pages.normal + .pages.zero <= 2 * ($f[0].migrate.ram.total / 4096)' \
    --slurpfile f "$facts"
finish
