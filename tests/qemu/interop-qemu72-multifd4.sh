#!/usr/bin/env bash
# interop-qemu72-multifd4.sh - QEMU 7.2 multifd with 4 channels into a
# real destination, each connection recorded separately: the main
# connection carries the section stream (7.2: zero pages only), the four
# multifd connections carry every other page in packets.  migdump must
# decode all five; checked against both QEMUs.
. "$(dirname "$0")/functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

CHANNELS=4
make_dirty_rom "$TESTDIR/dirty.rom"
qemu_start src -M pc -m 64M -option-rom "$TESTDIR/dirty.rom"
qemu_start dst -M pc -m 64M -option-rom "$TESTDIR/dirty.rom" -incoming defer
for q in src dst; do
    set_caps "$q" multifd
    set_params "$q" "{\"multifd-channels\":$CHANNELS}"
done
# Several rounds, so that the per-section SYNCs repeat: precopy cannot
# converge while the guest writes (1 ms downtime); after 4 dirty syncs the
# source is paused, the next round finds nothing dirty and it completes.
set_params src '{"downtime-limit":1,"max-bandwidth":4194304}'
rec=$TESTDIR/rec
start_incoming dst
start_recorder "$rec" "$INCOMING_PORT"
qmp src migrate "{\"uri\":\"tcp:127.0.0.1:$RECORDER_PORT\"}" >/dev/null || die "migrate failed"
qmp_py wait-migration src 60 --until active --sync 4 >"$TESTDIR/rounds.json" ||
    die "no 4 dirty syncs: $(cat "$TESTDIR/rounds.json")"
qmp src stop >/dev/null || die "stop failed"
wait_migration_via_recorder src dst "$rec" paused
facts=$TESTDIR/facts.json
collect_facts src pc "$facts"

# 7.2 tells the channels apart by arrival order only: main first.
check_eq "connections recorded: main + one per channel" \
    "$(ls "$rec" | grep -c '\.s2d$')" $((CHANNELS + 1))
check_eq "conn00 starts with the QEVM magic" \
    "\"$(head -c 4 "$rec/conn00.s2d" | od -An -tx1 | tr -d ' \n')\"" '"5145564d"'
for ((i = 1; i <= CHANNELS; i++)); do
    c=$(printf 'conn%02d' "$i")
    check_eq "$c starts with the multifd magic" \
        "\"$(head -c 4 "$rec/$c.s2d" | od -An -tx1 | tr -d ' \n')\"" '"11223344"'
done
check_eq "nothing flows back on any connection (no return path)" \
    "$(cat "$rec"/conn*.d2s | wc -c)" 0

out=$TESTDIR/main.json
run_migdump "$out" "$rec/conn00.s2d" || finish
check_migration_completed "$facts"
check_stream_basics "$out"
check_machine "$out" "$facts"
check_ramblocks "$out" "$facts"
check_destination dst "$out"
check_eq "multifd is not announced" "$(jget "$out" .capabilities)" '[]'
check_eq "no commands" "$(command_names "$out")" '[]'
# 7.2: zero pages are found by the migration thread and sent as ZERO
# records on the main channel, everything else goes to multifd.
check_eq "main channel: no PAGE records" "$(jget "$out" .pages.normal)" 0
check_eq "main channel: ZERO records = query-migrate ram.duplicate" \
    "$(jget "$out" .pages.zero)" "$(jget "$facts" .migrate.ram.duplicate)"
check_eq "no RAM_SAVE_FLAG_MULTIFD_FLUSH in 7.2 (per-section sync)" \
    "$(jget "$out" .multifd_flush)" 0

# The multifd channels.  Members relied on (migdump --channel multifd
# --json): error, channel, channel_id, packets, sync_packets,
# pages.normal, pages.zero, bytes.
all=$TESTDIR/multifd.json
: >"$all"
for ((i = 1; i <= CHANNELS; i++)); do
    c=$(printf 'conn%02d' "$i")
    run_migdump "$TESTDIR/$c.json" --channel multifd "$rec/$c.s2d" || continue
    jq -c --arg c "$c" --argjson size "$(stat -c %s "$rec/$c.s2d")" \
        '. + {conn: $c, file_size: $size}' "$TESTDIR/$c.json" >>"$all"
done
mf=$(jq -cs . "$all")
check_eq "multifd channels: error null, channel multifd" \
    "$(jq -c '[.[] | [.error, .channel]] | unique' <<<"$mf")" '[[null,"multifd"]]'
# The channels connect concurrently: ids come in any order.
check_eq "channel ids 0..3, one per connection" \
    "$(jq -c '[.[].channel_id] | sort' <<<"$mf")" '[0,1,2,3]'
check_eq "migdump read every byte of each capture" \
    "$(jq -c '[.[] | .bytes == .file_size] | unique' <<<"$mf")" '[true]'
# multifd-bytes adds, per packet sent, packet_len (320 + 8 x 128 page
# slots = 1344 with 4 KiB pages) + the page data: exact.
check_eq "query-migrate multifd-bytes = 1344 x packets + 4096 x pages" \
    "$(jget "$facts" '.migrate.ram."multifd-bytes"')" \
    "$(jq '1344 * ([.[].packets] | add) + 4096 * ([.[].pages.normal] | add)' <<<"$mf")"
# ram.normal counts each page once when queued (ram_save_multifd_page),
# but 7.2's multifd_queue_page queues the page that fills a packet a
# second time when the spare page array it swaps in has no block yet, so
# that page travels twice (seen: offset 0x8f000 as the last page of a
# full packet and alone in the next).  At most one extra per packet.
check_jq "ram.normal <= multifd pages <= ram.normal + packets" "$TESTDIR/facts.json" \
    '.migrate.ram.normal as $n
     | ($mf[0] | [.[].pages.normal] | add) as $p
     | ($mf[0] | [.[].packets] | add) as $k
     | $n <= $p and $p <= $n + $k' --slurpfile mf <(echo "$mf")
check_eq "7.2 multifd packets carry no zero-page list" \
    "$(jq '[.[].pages.zero] | add' <<<"$mf")" 0
check_jq "the guest's pages went through multifd" "$facts" \
    ".migrate.ram.normal >= $DIRTY_ROM_PAGES"
# multifd-bytes adds packet_len + next_packet_size per packet; the 64-byte
# initial packet of each channel is not counted.
check_eq "query-migrate multifd-bytes = capture sizes - 64 per channel" \
    "$(jget "$facts" '.migrate.ram."multifd-bytes"')" \
    "$(jq "[.[].file_size] | add - 64 * $CHANNELS" <<<"$mf")"
# 7.2 syncs every channel before each RAM EOS on the main channel (per
# section): one SYNC packet per channel per EOS.
check_eq "SYNC packets per channel = RAM EOS markers on the main channel" \
    "$(jq -c '[.[].sync_packets] | unique' <<<"$mf")" "[$(jget "$out" .ram_eos)]"
finish
