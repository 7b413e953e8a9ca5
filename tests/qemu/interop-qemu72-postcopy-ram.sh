#!/usr/bin/env bash
# interop-qemu72-postcopy-ram.sh - a real postcopy migration between two
# QEMU 7.2, through a recording relay, with a guest that keeps writing
# 128 pages: the main stream carries POSTCOPY_ADVISE, discards, the
# PACKAGED device state and the pages pushed after the switch; the
# destination asks for the pages it faults on over the return path.
# migdump must decode both directions; checked against both QEMUs.
. "$(dirname "$0")/functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

make_dirty_rom "$TESTDIR/dirty.rom"
qemu_start src -M pc -m 64M -option-rom "$TESTDIR/dirty.rom"
qemu_start dst -M pc -m 64M -option-rom "$TESTDIR/dirty.rom" -incoming defer
# The destination needs userfaultfd; QEMU refuses the capability without.
qmp dst migrate-set-capabilities \
    '{"capabilities":[{"capability":"postcopy-ram","state":true}]}' >/dev/null 2>&1 ||
    skip "destination cannot do postcopy (userfaultfd unavailable?)"
set_caps src postcopy-ram
# Precopy must not converge on its own (1 ms downtime against 128 pages
# rewritten all the time), and after the switch the background push is
# slow enough (1 MiB/s) for the running destination to fault on pages it
# has not got yet, so that it requests some.
set_params src '{"downtime-limit":1,"max-bandwidth":4194304,"max-postcopy-bandwidth":1048576}'
rec=$TESTDIR/rec
start_incoming dst
start_recorder "$rec" "$INCOMING_PORT"
qmp src migrate "{\"uri\":\"tcp:127.0.0.1:$RECORDER_PORT\"}" >/dev/null || die "migrate failed"
# Two precopy rounds after setup, so the discard list is not empty.
qmp_py wait-migration src 60 --until active --sync 3 >"$TESTDIR/precopy.json" ||
    die "precopy did not get going: $(cat "$TESTDIR/precopy.json")"
qmp src migrate-start-postcopy >/dev/null || die "migrate-start-postcopy failed"
wait_migration_via_recorder src dst "$rec"
facts=$TESTDIR/facts.json
collect_facts src pc "$facts"

out=$TESTDIR/main.json
run_migdump "$out" "$rec/conn00.s2d" || finish
check_migration_completed "$facts"
check_eq "error is null" "$(jget "$out" .error)" null
check_eq "stream ends with EOF (postcopy: the very last byte)" "$(jget "$out" .eof)" true
check_eq "no VMDESCRIPTION after postcopy" "$(jget "$out" .vmdesc)" false
check_machine "$out" "$facts"
check_ramblocks "$out" "$facts"
check_page_counters "$out" "$facts"
check_destination dst "$out"
check_eq "postcopy-ram is not announced in the configuration" "$(jget "$out" .capabilities)" '[]'
# Page sizes follow a block only when they differ from the host's: none
# here, info ramblock says 4 KiB everywhere.
check_jq "info ramblock: every block has 4 KiB pages" "$facts" \
    '[.ramblocks[].page_size] | unique == [4096]'
check_eq "no per-block page size in the stream" \
    "$(jget "$out" '[.ramblocks[] | select(.page_size != null)]')" '[]'
check_eq "stream starts with OPEN_RETURN_PATH, PING 1, POSTCOPY_ADVISE" \
    "$(jget "$out" '[.commands[:3][] | .name]')" '["open-return-path","ping","postcopy-advise"]'
# ADVISE: the OR of all blocks' page sizes (ram_pagesize_summary; page
# sizes are powers of two, so the OR is the sum of the distinct ones) and
# the target page size.
check_eq "POSTCOPY_ADVISE page size summary = OR of info ramblock PSize" \
    "$(jget "$out" '[.commands[] | select(.name == "postcopy-advise") | .page_size_summary]')" \
    "$(jget "$facts" '[[.ramblocks[].page_size] | unique | add]')"
check_eq "POSTCOPY_ADVISE target page size = query-migrate ram.page-size" \
    "$(jget "$out" '[.commands[] | select(.name == "postcopy-advise") | .target_page_size]')" \
    "$(jget "$facts" '[.migrate.ram."page-size"]')"
check_jq "at least one POSTCOPY_RAM_DISCARD" "$out" \
    'any(.commands[]; .name == "postcopy-ram-discard")'
check_eq "PACKAGED holds LISTEN ... RUN" \
    "$(jget "$out" '[.commands[] | select(.in_packaged == true) | .name]')" \
    '["postcopy-listen","ping","postcopy-run"]'
check_eq "PINGs: 1 after open, 2 before PACKAGED, 3 inside, 4 after" \
    "$(jget "$out" '[.commands[] | select(.name == "ping") | .value]')" '[1,2,3,4]'

# The return path.  Members relied on (migdump --channel return-path
# --json): error, messages[].type ("pong", "req-pages-id", "req-pages",
# "shut"), .value (PONG, SHUT), .start, .length, .block (REQ_PAGES_ID).
rp=$TESTDIR/rp.json
run_migdump "$rp" --channel return-path "$rec/conn00.d2s" || finish
check_eq "return path: error is null" "$(jget "$rp" .error)" null
# ram_save_queue_pages counts each REQ_PAGES(_ID) received in
# ram.postcopy-requests: exact.
check_eq "page requests on the return path = query-migrate ram.postcopy-requests" \
    "$(jget "$rp" '[.messages[] | select(.type == "req-pages" or .type == "req-pages-id")] | length')" \
    "$(jget "$facts" '.migrate.ram."postcopy-requests"')"
check_jq "the destination did request pages (postcopy really ran)" "$facts" \
    '.migrate.ram."postcopy-requests" > 0'
check_eq "every PING answered by a PONG with its value" \
    "$(jget "$rp" '[.messages[] | select(.type == "pong") | .value] | sort')" \
    "$(jget "$out" '[.commands[] | select(.name == "ping") | .value] | sort')"
check_eq "last message: SHUT 0 (destination finished OK)" \
    "$(jget "$rp" '.messages[-1] | [.type, .value]')" '["shut",0]'
# Each request names (or continues) a block of the stream, asks for one
# page of that block's page size, inside the block.
check_eq "requests: known block, length = its page size, inside the block" \
    "$(jq -c --slurpfile f "$facts" '
        ($f[0].ramblocks | map({(.name): .}) | add) as $blocks
        | reduce (.messages[] | select(.type | startswith("req-pages"))) as $m
            ({block: null, bad: []};
             .block = ($m.block // .block)
             | if ($blocks[.block] == null
                   or $m.length != $blocks[.block].page_size
                   or $m.start + $m.length > $blocks[.block].used)
               then .bad += [$m] else . end)
        | .bad' "$rp")" '[]'
finish
