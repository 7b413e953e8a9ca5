#!/usr/bin/env bash
# interop-qemu72-xbzrle.sh - QEMU 7.2 with the xbzrle capability and a
# guest that keeps changing 4 bytes in each of 128 pages: after the first
# rounds, pages go out as XBZRLE deltas.  migdump must decode every
# record and count the XBZRLE, PAGE and ZERO records exactly as QEMU's
# query-migrate counters do.
. "$(dirname "$0")/functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

make_dirty_rom "$TESTDIR/dirty.rom"
qemu_start src -M pc -m 64M -option-rom "$TESTDIR/dirty.rom"
set_caps src xbzrle
# Round 1 sends everything, round 2 fills the xbzrle cache, later rounds
# send deltas: wait until QEMU counted three rounds' worth of the dirty set.
migrate_dirty_guest_to_file src "$TESTDIR/stream" \
    --at-least xbzrle-cache.pages $((3 * DIRTY_ROM_PAGES))
facts=$TESTDIR/facts.json
collect_facts src pc "$facts"

out=$TESTDIR/migdump.json
run_migdump "$out" "$TESTDIR/stream" || finish
check_migration_completed "$facts"
check_stream_basics "$out"
check_machine "$out" "$facts"
check_ramblocks "$out" "$facts"
check_normal_pages "$out" "$facts"
check_eq "pages.zero = query-migrate ram.duplicate" \
    "$(jget "$out" .pages.zero)" "$(jget "$facts" .migrate.ram.duplicate)"
check_eq "no COMPRESS_PAGE records" "$(jget "$out" .pages.compressed)" 0
check_eq "xbzrle is not announced in the stream" "$(jget "$out" .capabilities)" '[]'
check_eq "no commands" "$(command_names "$out")" '[]'
# query-migrate's xbzrle-cache.pages is not the number of XBZRLE records:
# 7.2 counts every xbzrle cache hit (save_xbzrle_page), i.e. records sent
# + overflows (sent as PAGE, also counted in ram.normal) + pages found
# unchanged, which are not sent at all and not reported anywhere.  Pages
# are found unchanged only once the guest is paused (it rewrites each
# page every few microseconds while running), each at most once: so the
# difference is between 0 and the size of the dirty set.
check_jq "XBZRLE records = xbzrle-cache.pages - overflow - skipped, 0 <= skipped <= $DIRTY_ROM_PAGES" \
    "$out" '($f[0].migrate."xbzrle-cache" | .pages - .overflow) - .pages.xbzrle
            | . >= 0 and . <= $dirty' \
    --slurpfile f "$facts" --argjson dirty "$DIRTY_ROM_PAGES"
# xbzrle-cache.bytes is exact: per record, header - 8 + 3 (flag byte, be16
# length) + encoded length, + 4096 per overflow.  Every XBZRLE record here
# is in pc.ram right after another pc.ram record, so its header is the
# 8-byte CONTINUE word.  page_bytes (migdump) = 4096 x PAGE + encoded
# lengths (+ compressed lengths, none here).
check_jq "xbzrle-cache.bytes = 3 x XBZRLE records + encoded bytes + 4096 x overflow" \
    "$out" '. as $o | $f[0].migrate."xbzrle-cache"
            | .bytes == 3 * $o.pages.xbzrle + ($o.page_bytes - 4096 * $o.pages.normal)
                        + 4096 * .overflow' \
    --slurpfile f "$facts"
# The run must have exercised what it is named after.
check_jq "XBZRLE records in the stream (at least one round of the dirty set)" "$out" \
    ".pages.xbzrle >= $DIRTY_ROM_PAGES"
check_jq "several RAM iterations (PART sections) in the stream" "$out" '.ram_eos >= 4'
finish
