#!/usr/bin/env bash
# devices-qemu102.sh - migdump --devices on the recorded QEMU 10.2 streams
# (tests/data/qemu-10.2): each precopy one (plain socket with multifd,
# switchover-ack, mapped-ram files) decodes every FULL section field by
# field from its 10.2 VMDESCRIPTION (with its "configuration" object and
# early-setup sections); values checked against fixed facts of the i440FX
# machine (PCI ids of its chipset functions, one vCPU, 128 bytes of
# CMOS).  The postcopy stream has no VMDESCRIPTION: exit 1, saying so;
# with --description the switchover-ack stream's (the same command line)
# it is walked whole, its device state inside the PACKAGED blob.
# With ANALYZE_MIGRATION_10 (QEMU 10.x's scripts/analyze-migration.py),
# every stream that script reads must give the same values; the ones it
# cannot read are named in the log.
. "$(dirname "$0")/devices-functions.sh"
require_migdump
migtest_init

analyzed=0
for case in v10-pc-multifd4:conn00.s2d v10-pc-switchover-ack:conn00.s2d \
            v10-mapped-ram-save:mapped-ram.bin v10-mapped-ram-multifd4-save:mapped-ram.bin; do
    name=${case%%:*} file=${case#*:}
    unpack_case "$name" "$file"
    stream=$CASE_DIR/$file dev=$CASE_DIR/devices.json
    "$MIGDUMP" --json "$stream" >"$CASE_DIR/summary.json" || die "$name: migdump --json failed"
    "$MIGDUMP" --devices --json "$stream" >"$dev" 2>"$CASE_DIR/devices.err"
    check_eq "$name: --devices exits 0" "$?" 0
    check_eq "$name: one entry per START/FULL section, in stream order" \
        "$(jq -c 'keys_unsorted' "$dev")" \
        "$(jq -c '[.sections[] | "\(.name) (\(.id))"]' "$CASE_DIR/summary.json")"
    check_eq "$name: one vCPU (no -smp)" "$(jq '[keys[] | select(startswith("cpu ("))] | length' "$dev")" 1
    check_eq "$name: cmos_data is 128 bytes" \
        "$(jq '[to_entries[] | select(.key | startswith("mc146818rtc (")) | .value.cmos_data | split(" ") | length]' "$dev")" '[128]'
    # Intel ids of the i440FX/PIIX3 functions (little-endian in config space).
    check_eq "$name: PCI vendor/device ids of the chipset functions" \
        "$(jq -c '[to_entries[] | select(.key | test("^0000:00:0[01]\\.[0-3]/"))
                   | [(.key | sub(" \\(.*"; "")), ([.value | .. | objects | to_entries[]
                      | select(.key | startswith("config")) | .value | split(" ")[0:4] | join("")][0])]]
                  | sort' "$dev")" \
        '[["0000:00:00.0/I440FX","86803712"],["0000:00:01.0/PIIX3","86800070"],["0000:00:01.1/ide","86801070"],["0000:00:01.3/piix4_pm","86801371"]]'
    if [ -n "${ANALYZE_MIGRATION_10:-}" ] && [ -f "$ANALYZE_MIGRATION_10" ]; then
        if "$PYTHON" "$ANALYZE_MIGRATION_10" -f "$stream" -d state >"$CASE_DIR/analyze.json" \
               2>"$CASE_DIR/analyze.err"; then
            check_eq "$name: --devices --json = analyze-migration.py (10.x) -d state" \
                "$(jq -cS . "$dev" | sha256sum)" "$(jq -cS . "$CASE_DIR/analyze.json" | sha256sum)"
            analyzed=$((analyzed + 1))
        else
            log "note: $name: analyze-migration.py (10.x) gives up: $(grep -m1 -o '[A-Za-z]*Error: .\{0,80\}\|Exception: [^(].\{0,80\}' "$CASE_DIR/analyze.err")"
        fi
    fi
done
if [ -n "${ANALYZE_MIGRATION_10:-}" ]; then
    check_jq "analyze-migration.py (10.x) read at least one of them" - '. >= 1' <<<"$analyzed"
fi

unpack_case v10-pc-postcopy-active conn00.s2d
"$MIGDUMP" --devices --json "$CASE_DIR/conn00.s2d" >"$CASE_DIR/devices.json" 2>"$CASE_DIR/devices.err"
check_eq "postcopy: --devices exits 1" "$?" 1
check_eq "postcopy: says there is no VMDESCRIPTION" \
    "$(grep -c 'has no VMDESCRIPTION' "$CASE_DIR/devices.err")" 1
check_eq "postcopy and switchover-ack: the same source command line" \
    "$(jq -c .source_command_line_without_paths "$CASE_FACTS")" \
    "$(jq -c .source_command_line_without_paths "$DATA102/v10-pc-switchover-ack/facts.json")"
"$MIGDUMP" --devices --description "$TESTDIR/v10-pc-switchover-ack/conn00.s2d" \
    "$CASE_DIR/conn00.s2d" >"$CASE_DIR/described.txt" 2>"$CASE_DIR/described.err"
check_eq "postcopy with the switchover-ack stream's description: exit 0" "$?" 0
"$MIGDUMP" --json "$CASE_DIR/conn00.s2d" >"$CASE_DIR/summary.json" || die "migdump --json failed"
n=$(jq '[.sections[] | select(.name != "ram")] | length' "$CASE_DIR/summary.json")
check_eq "postcopy: every device section ($n) walked, every guessed boundary confirmed" \
    "$(tail -2 "$CASE_DIR/described.txt" | tr '\n' '|')" \
    "$n device section(s) decoded field by field, 0 not|$n of $n section boundaries guessed by the footer scan confirmed by the walk|"
log "postcopy: $(tail -2 "$CASE_DIR/described.txt" | tr '\n' ' ')"
finish
