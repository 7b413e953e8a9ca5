#!/usr/bin/env bash
# interop-qemu72-pc-plain.sh - the simplest real stream: QEMU 7.2 "pc",
# 64 MiB, no capability, migrated to a file; migdump must decode all of
# it and agree with what QEMU reports about the machine, its RAM blocks
# and the pages it sent.
. "$(dirname "$0")/functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

qemu_start src -M pc -m 64M
qmp src migrate "{\"uri\":\"exec:cat > $TESTDIR/stream\"}" >/dev/null || die "migrate failed"
qmp_py wait-migration src 60 >"$TESTDIR/final.json" ||
    die "migration did not complete: $(cat "$TESTDIR/final.json")"
collect_facts src pc "$TESTDIR/facts.json"

out=$TESTDIR/migdump.json
run_migdump "$out" "$TESTDIR/stream" || finish
check_migration_completed "$TESTDIR/facts.json"
check_stream_basics "$out"
check_machine "$out" "$TESTDIR/facts.json"
check_ramblocks "$out" "$TESTDIR/facts.json"
check_page_counters "$out" "$TESTDIR/facts.json"
check_eq "machine resolves pc to pc-i440fx-7.2" "$(jget "$out" .machine)" '"pc-i440fx-7.2"'
# Only x-ignore-shared is announced in 7.2, and nothing is on.
check_eq "no capabilities announced" "$(jget "$out" .capabilities)" '[]'
check_eq "no commands without return path or postcopy" "$(command_names "$out")" '[]'
check_eq "precopy stream carries a VMDESCRIPTION" "$(jget "$out" .vmdesc)" true
check_eq "no page-size or addr fields without postcopy/x-ignore-shared" \
    "$(jget "$out" '[.ramblocks[] | select(.page_size != null or .addr != null)]')" '[]'
# MEM_SIZE carries the sum of all migratable blocks; with nothing ignored
# that is query-migrate's ram.total.
check_eq "ram_total = query-migrate ram.total" \
    "$(jget "$out" .ram_total)" "$(jget "$TESTDIR/facts.json" .migrate.ram.total)"
check_eq "the RAM section is the first section (only live handler)" \
    "$(jget "$out" '.sections[0].name')" '"ram"'
finish
