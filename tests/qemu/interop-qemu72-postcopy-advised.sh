#!/usr/bin/env bash
# interop-qemu72-postcopy-advised.sh - QEMU 7.2 to QEMU 7.2 with
# postcopy-ram on both sides but never started: a precopy stream that
# still opens the return path and carries the 16-byte POSTCOPY_ADVISE,
# and ends with a VMDESCRIPTION like any precopy stream.  (postcopy-ram
# with an exec: file target cannot finish: the source waits forever for
# the destination to close the return path, so this needs a destination.)
. "$(dirname "$0")/functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

qemu_start src -M pc -m 64M
qemu_start dst -M pc -m 64M -incoming defer
qmp dst migrate-set-capabilities \
    '{"capabilities":[{"capability":"postcopy-ram","state":true}]}' >/dev/null 2>&1 ||
    skip "destination cannot do postcopy (userfaultfd unavailable?)"
set_caps src postcopy-ram
rec=$TESTDIR/rec
migrate_via_recorder src dst "$rec"
facts=$TESTDIR/facts.json
collect_facts src pc "$facts"

out=$TESTDIR/main.json
run_migdump "$out" "$rec/conn00.s2d" || finish
check_migration_completed "$facts"
check_stream_basics "$out"
check_machine "$out" "$facts"
check_ramblocks "$out" "$facts"
check_page_counters "$out" "$facts"
check_destination dst "$out"
check_eq "postcopy-ram is not announced in the configuration" "$(jget "$out" .capabilities)" '[]'
check_eq "precopy end: VMDESCRIPTION present" "$(jget "$out" .vmdesc)" true
check_eq "commands: OPEN_RETURN_PATH, PING 1, POSTCOPY_ADVISE and nothing else" \
    "$(jget "$out" '[.commands[] | [.name, .length]]')" \
    '[["open-return-path",0],["ping",4],["postcopy-advise",16]]'
check_eq "POSTCOPY_ADVISE: page size summary and target page size" \
    "$(jget "$out" '[.commands[] | select(.name == "postcopy-advise") | [.page_size_summary, .target_page_size]]')" \
    "$(jget "$facts" '[[([.ramblocks[].page_size] | unique | add), .migrate.ram."page-size"]]')"
check_eq "no per-block page size (all blocks have host-sized pages)" \
    "$(jget "$out" '[.ramblocks[] | select(.page_size != null)]')" '[]'

# The return path.  Members relied on (migdump --channel return-path
# --json): error, messages[].type, messages[].value.
rp=$TESTDIR/rp.json
run_migdump "$rp" --channel return-path "$rec/conn00.d2s" || finish
check_eq "return path: error is null" "$(jget "$rp" .error)" null
check_eq "return path: PONG 1, then SHUT 0" \
    "$(jget "$rp" '[.messages[] | [.type, .value]]')" '[["pong",1],["shut",0]]'
finish
