#!/usr/bin/env bash
# interop-qemu102-pc-multifd4.sh - a recorded QEMU 10.2 multifd migration
# (4 channels, zero-page-detection=multifd): the 9.0+ packet with its
# zero-page list, and per-round syncs (RAM_SAVE_FLAG_MULTIFD_FLUSH) that
# QEMU 7.2 cannot write.  Checked against the run's facts.json.
. "$(dirname "$0")/functions.sh"
require_migdump
migtest_init
unpack_case v10-pc-multifd4 conn00.s2d conn01.s2d conn02.s2d conn03.s2d conn04.s2d
channels=$(jq '.parameters_set."multifd-channels"' "$CASE_FACTS")
check_eq "facts: 4 channels, zero pages detected by multifd" \
    "$(jq -c '[.parameters_set."multifd-channels", .parameters_set."zero-page-detection"]' "$CASE_FACTS")" \
    '[4,"multifd"]'

out=$TESTDIR/main.json
run_migdump "$out" "$CASE_DIR/conn00.s2d" || finish
check_case_main "$out"
check_eq "stream ends with EOF" "$(jget "$out" .eof)" true
check_eq "VMDESCRIPTION present" "$(jget "$out" .vmdesc)" true
# With zero-page-detection=multifd every page, zero or not, travels on the
# multifd channels: the main channel has RAM sections with no page in them.
check_eq "main channel: no page records at all" \
    "$(jget "$out" '.pages | [.normal, .zero, .xbzrle, .compressed]')" '[0,0,0,0]'
check_jq "per-round syncs: MULTIFD_FLUSH on the main channel" "$out" '.multifd_flush > 0'

# The multifd channels.  Members relied on (migdump --channel multifd
# --json): error, channel, channel_id, sync_packets, device_state_packets,
# pages.normal, pages.zero, bytes.
all=$TESTDIR/multifd.json
: >"$all"
for ((i = 1; i <= channels; i++)); do
    c=$(printf 'conn%02d' "$i")
    run_migdump "$TESTDIR/$c.json" --channel multifd "$CASE_DIR/$c.s2d" || continue
    jq -c --argjson size "$(stat -c %s "$CASE_DIR/$c.s2d")" '. + {file_size: $size}' \
        "$TESTDIR/$c.json" >>"$all"
done
mf=$(jq -cs . "$all")
check_eq "multifd channels: error null, channel multifd" \
    "$(jq -c '[.[] | [.error, .channel]] | unique' <<<"$mf")" '[[null,"multifd"]]'
check_eq "channel ids 0..multifd-channels-1, one per connection" \
    "$(jq -c '[.[].channel_id] | sort' <<<"$mf")" "$(jq -nc "[range($channels)]")"
check_eq "migdump read every byte of each capture" \
    "$(jq -c '[.[] | .bytes == .file_size] | unique' <<<"$mf")" '[true]'
check_eq "no device-state packets (no VFIO)" \
    "$(jq '[.[].device_state_packets] | add' <<<"$mf")" 0
check_jq "zero pages are listed in the packets" <(echo "$mf") '[.[].pages.zero] | add > 0'
# The first pass sends every page of every block once, as data or as a
# zero-list entry; later passes only add.
check_jq "pages on the channels >= all pages of all blocks" <(echo "$mf") \
    '([.[].pages.normal, .[].pages.zero] | add) >= ($total / 4096)' \
    --argjson total "$(jget "$out" .ram_total)"
# Each MULTIFD_FLUSH on the main channel pairs with one SYNC per channel.
check_eq "SYNC packets per channel = MULTIFD_FLUSH markers on main" \
    "$(jq -c '[.[].sync_packets] | unique' <<<"$mf")" "[$(jget "$out" .multifd_flush)]"
finish
