#!/usr/bin/env bash
# offline-qemu102-check.sh - migproxy check on the recorded QEMU 10.2
# mapped-ram files (migrate to file: with mapped-ram, with and without
# multifd) against profiles written here from what QEMU said about the
# source (facts.json: command line, capabilities, info ramblock): the
# source's own configuration can restore them; a 128 MiB destination
# cannot (QEMU 10.2 is reported to load a 64 MiB guest's mapped-ram file
# into 128 MiB without a word; no 10.2 here to confirm it), nor can a
# destination without mapped-ram or of another machine type.
. "$(dirname "$0")/offline-functions.sh"
require_migproxy
migtest_init

# profile OUT PC_RAM_BYTES MAPPED_RAM MACHINE: a destination profile of the
# recorded source's configuration, with pc.ram, mapped-ram and the machine
# type replaced.
profile() {
    jq -n --slurpfile blocks "$CASE_DIR/ramblocks.json" --slurpfile facts "$CASE_FACTS" \
        --argjson ram "$2" --argjson mr "$3" --arg machine "$4" '
        ($facts[0].capabilities_on) as $on
        | {migproxy_profile: 1, machine: $machine, target_page_bits: null,
           host_page_size: 4096,
           capabilities: {"mapped-ram": $mr, multifd: ($on | index("multifd") != null),
                          "x-ignore-shared": false, "postcopy-ram": false},
           parameters: ($facts[0].parameters_set), cpus: 1, pci_devices: null,
           ramblocks: [$blocks[0][] | {name, used_length: .used, max_length: .total,
                                       page_size, addr: null}
                       | if .name == "pc.ram" then .used_length = $ram | .max_length = $ram
                         else . end]}' >"$1" || die "cannot write $1"
}

for case in v10-mapped-ram-save v10-mapped-ram-multifd4-save; do
    log "== $case"
    unpack_case "$case" mapped-ram.bin
    file=$CASE_DIR/mapped-ram.bin
    machine=$(case_machine | jq -r .)
    ram=$(jq '.[] | select(.name == "pc.ram") | .used' "$CASE_DIR/ramblocks.json")
    check_eq "$case: the source had 64 MiB" "$ram" 67108864
    profile "$CASE_DIR/same.profile" "$ram" true "$machine"
    profile "$CASE_DIR/big.profile" $((ram * 2)) true "$machine"
    profile "$CASE_DIR/nomr.profile" "$ram" false "$machine"
    profile "$CASE_DIR/old.profile" "$ram" true pc-i440fx-7.2

    run_offline "$CASE_DIR/same.json" check --json "$file" --dest-profile "$CASE_DIR/same.profile"
    check_eq "$case: the source's own configuration: exit 0" "$RC" 0
    check_eq "$case: no error or warning" \
        "$(jq -c '[.findings[] | select(.severity != "info")]' "$CASE_DIR/same.json")" '[]'
    check_eq "$case: the file's machine is the command line's" \
        "$(jq -c .file.machine "$CASE_DIR/same.json")" "\"$machine\""

    run_offline "$CASE_DIR/big.json" check --json "$file" --dest-profile "$CASE_DIR/big.profile"
    check_eq "$case: a 128 MiB destination: exit 1" "$RC" 1
    check_eq "$case: pc.ram's lengths, the file's and the destination's" \
        "$(jq -c '[.findings[] | select(.severity == "error") | [.code, .subject, .file, .destination]]' "$CASE_DIR/big.json")" \
        '[["ramblock-size","pc.ram","64 MiB (0x4000000)","128 MiB (0x8000000)"]]'
    run_offline "$CASE_DIR/big.txt" check "$file" --dest-profile "$CASE_DIR/big.profile"
    check_eq "$case: text: exit 1 and the verdict line" "$RC $(tail -1 "$CASE_DIR/big.txt" | cut -d: -f1)" \
        "1 cannot be restored"

    run_offline "$CASE_DIR/nomr.json" check --json "$file" --dest-profile "$CASE_DIR/nomr.profile"
    check_eq "$case: a destination without mapped-ram: exit 1, QEMU's capability check" \
        "$RC $(jq -c '[.findings[] | select(.severity == "error") | [.code, .subject, .file, .destination]]' "$CASE_DIR/nomr.json")" \
        '1 [["capability-mismatch","mapped-ram","on","off"]]'

    run_offline "$CASE_DIR/old.json" check --json "$file" --dest-profile "$CASE_DIR/old.profile"
    check_eq "$case: another machine type: exit 1, machine-type" \
        "$RC $(jq -c '[.findings[] | select(.severity == "error") | .code]' "$CASE_DIR/old.json")" \
        '1 ["machine-type"]'
done

# Both files come from the same configuration; multifd only changed who
# wrote the pages.
run_offline "$TESTDIR/diff.json" diff --json "$TESTDIR/v10-mapped-ram-save/mapped-ram.bin" \
    "$TESTDIR/v10-mapped-ram-multifd4-save/mapped-ram.bin"
check_eq "diff of the two files: exit 0" "$RC" 0
check_eq "diff of the two files: no differences" "$(findings "$TESTDIR/diff.json")" '[]'
run_offline "$TESTDIR/diff-prof.json" diff --json "$TESTDIR/v10-mapped-ram-save/big.profile" \
    "$TESTDIR/v10-mapped-ram-save/mapped-ram.bin"
check_eq "diff of a 128 MiB profile against the 64 MiB file: exit 1" "$RC" 1
check_jq "ramblock-size pc.ram" "$TESTDIR/diff-prof.json" \
    '[.findings[] | select(.severity == "error") | "\(.code) \(.subject)"] == ["ramblock-size pc.ram"]'
finish
