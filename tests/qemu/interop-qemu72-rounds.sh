#!/usr/bin/env bash
# interop-qemu72-rounds.sh - precopy rounds over RAM as migdump sees them
# on the wire, on a real QEMU 7.2 stream from a guest that keeps writing
# 128 pages.  The first round is the bulk pass, so it sends every page of
# RAM once; every page of a later round was sent before; the rounds hold no
# more pages and bytes than the stream; and the guest's re-sent pages show
# as rounds after the first.
. "$(dirname "$0")/functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

make_dirty_rom "$TESTDIR/dirty.rom"
qemu_start src -M pc -m 64M -option-rom "$TESTDIR/dirty.rom"
migrate_dirty_guest_to_file src "$TESTDIR/stream" --at-least ram.dirty-sync-count 5
facts=$TESTDIR/facts.json
collect_facts src pc "$facts"

out=$TESTDIR/migdump.json
run_migdump "$out" "$TESTDIR/stream" || finish
check_migration_completed "$facts"
check_stream_basics "$out"
check_jq "at least 3 rounds (bulk pass, then the guest's pages again)" "$out" '.rounds | length >= 3'
check_jq "rounds are numbered 1, 2, 3, ..." "$out" '[.rounds[].round] == [range(1; (.rounds | length) + 1)]'
check_eq "round 1: pages - pages_again = RAM pages" \
    "$(jq '.rounds[0] | .pages - .pages_again' "$out")" \
    "$(( $(jget "$facts" .migrate.ram.total) / 4096 ))"
check_jq "every page of a later round was sent before" "$out" \
    '[.rounds[1:][] | .pages == .pages_again] | all'
check_jq "later rounds carry the guest's dirty pages" "$out" \
    '[.rounds[1:][] | .pages > 0] | all'
check_jq "the rounds hold no more pages than the stream" "$out" \
    '([.rounds[].pages] | add) <= (.pages | .zero + .normal + .xbzrle + .compressed)'
check_jq "the rounds hold no more bytes than the stream" "$out" \
    '([.rounds[].bytes] | add) < .bytes'
check_jq "a round's bytes cover its pages' record headers (at least 9 bytes each)" "$out" \
    '[.rounds[] | .bytes >= 9 * .pages] | all'
finish
