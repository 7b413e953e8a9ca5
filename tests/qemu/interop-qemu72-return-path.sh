#!/usr/bin/env bash
# interop-qemu72-return-path.sh - QEMU 7.2 to QEMU 7.2 with the
# return-path capability, through a recording relay: the main stream
# opens the return path (OPEN_RETURN_PATH, PING 1) and the destination
# answers on the same connection (PONG 1, then SHUT 0 when done).  migdump
# must decode both directions; checked against both QEMUs.
. "$(dirname "$0")/functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

qemu_start src -M pc -m 64M
qemu_start dst -M pc -m 64M -incoming defer
set_caps src return-path
set_caps dst return-path
rec=$TESTDIR/rec
migrate_via_recorder src dst "$rec"
facts=$TESTDIR/facts.json
collect_facts src pc "$facts"

[ -f "$rec/conn00.s2d" ] && [ ! -e "$rec/conn01.s2d" ] ||
    die "expected exactly one connection: $(ls "$rec")"
out=$TESTDIR/main.json
run_migdump "$out" "$rec/conn00.s2d" || finish
check_migration_completed "$facts"
check_stream_basics "$out"
check_machine "$out" "$facts"
check_ramblocks "$out" "$facts"
check_page_counters "$out" "$facts"
check_destination dst "$out"
check_eq "return-path is not announced in the stream" "$(jget "$out" .capabilities)" '[]'
check_eq "commands: OPEN_RETURN_PATH then PING 1" \
    "$(jget "$out" '[.commands[] | [.name, .value]]')" '[["open-return-path",null],["ping",1]]'

# The return path.  Members relied on (migdump --channel return-path
# --json): error, messages[].type, messages[].value (PONG, SHUT).
rp=$TESTDIR/rp.json
run_migdump "$rp" --channel return-path "$rec/conn00.d2s" || finish
check_eq "return path: error is null" "$(jget "$rp" .error)" null
check_eq "return path: PONG 1 (answer to PING 1), then SHUT 0 (destination OK)" \
    "$(jget "$rp" '[.messages[] | [.type, .value]]')" '[["pong",1],["shut",0]]'
finish
