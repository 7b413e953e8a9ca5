#!/usr/bin/env bash
# interop-qemu72-compress.sh - QEMU 7.2 with the (since removed) compress
# capability: non-zero pages go out as COMPRESS_PAGE records (zlib),
# written by compression threads.  migdump must count them as QEMU does.
. "$(dirname "$0")/functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

make_dirty_rom "$TESTDIR/dirty.rom"
qemu_start src -M pc -m 64M -option-rom "$TESTDIR/dirty.rom"
set_caps src compress
# Compression applies from the first round on; later rounds re-send the
# guest's dirty pages compressed too (xbzrle, which would take over, is
# off).
# Round 1 ends at the second dirty sync; the guest keeps the next rounds
# busy.
migrate_dirty_guest_to_file src "$TESTDIR/stream" --sync 3
facts=$TESTDIR/facts.json
collect_facts src pc "$facts"

out=$TESTDIR/migdump.json
run_migdump "$out" "$TESTDIR/stream" || finish
check_migration_completed "$facts"
check_stream_basics "$out"
check_machine "$out" "$facts"
check_ramblocks "$out" "$facts"
check_normal_pages "$out" "$facts"
check_eq "no XBZRLE records" "$(jget "$out" .pages.xbzrle)" 0
# 7.2's compression.pages and ram.duplicate over-count: flush_compressed_data
# and compress_page_with_multi_thread call update_compress_thread_counts
# for a thread whose output was already taken, with 0 bytes, which counts
# its previous page again (as a compressed page or, if that was a zero
# page, as a duplicate) and adds 0 - 8 to compressed-size.  (Fixed after
# 8.0 by resetting the thread's result.)  So the record counts are only
# bounded by those counters, but compressed-size ties them down exactly:
#   compressed-size = sum over records (header - 8 + 4 + zlib length)
#                     - 8 x (compression.pages - records)
# where every COMPRESS_PAGE header is the 8-byte CONTINUE word (7.2 sends
# the first page of each block as a normal page precisely so), and
# migdump's page_bytes = 4096 x PAGE records + the zlib lengths.
check_jq "ZERO records <= ram.duplicate (phantom counts only add)" "$out" \
    '.pages.zero <= $f[0].migrate.ram.duplicate' --slurpfile f "$facts"
check_jq "COMPRESS_PAGE records <= compression.pages" "$out" \
    '.pages.compressed <= $f[0].migrate.compression.pages' --slurpfile f "$facts"
check_jq "compressed-size + 8 x compression.pages = 12 x records + zlib bytes" "$out" \
    '. as $o | $f[0].migrate.compression
     | ."compressed-size" + 8 * .pages
       == 12 * $o.pages.compressed + ($o.page_bytes - 4096 * $o.pages.normal)' \
    --slurpfile f "$facts"
check_eq "compress is not announced in the stream" "$(jget "$out" .capabilities)" '[]'
check_eq "no commands" "$(command_names "$out")" '[]'
check_jq "compressed pages in the stream (more than one round of the dirty set)" "$out" \
    ".pages.compressed > $DIRTY_ROM_PAGES"
finish
