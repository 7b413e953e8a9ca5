# devices-functions.sh - helpers shared by the device-state tests; sources
# tests/qemu/functions.sh (temp dir, QEMU started and killed by pid, QMP).
#
# Environment, beyond functions.sh's:
#   ANALYZE_MIGRATION  path of QEMU's scripts/analyze-migration.py (from
#                      QEMU's source, 7.2 for these streams); when set, the
#                      --devices output must equal its "-d state" output.
. "$(dirname "${BASH_SOURCE[0]}")/../qemu/functions.sh"
DEVICES_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# migrate_to_file NAME FILE: migrate QEMU NAME to FILE and wait until done.
migrate_to_file() {
    qmp "$1" migrate "{\"uri\":\"exec:cat > $2\"}" >/dev/null || die "$1: migrate failed"
    qmp_py wait-migration "$1" 60 >"$2.final" ||
        die "$1: migration did not complete: $(cat "$2.final")"
}

# check_devices_dump NAME STREAM MIN-PCI [WHY]: migdump --devices of STREAM
# (written by QEMU NAME, still paused in postmigrate) against the stream's
# own section list, against what QEMU NAME reports (check-devices.py: at
# least MIN-PCI PCI config spaces compared) and, when ANALYZE_MIGRATION is
# set, against analyze-migration.py, or, with WHY, check that the script
# still gives up on the stream (WHY says what it cannot read).
check_devices_dump() {
    local name=$1 stream=$2 dev=$TESTDIR/$1.devices.json sum=$TESTDIR/$1.summary.json
    local res=$TESTDIR/$1.check.json rc
    "$MIGDUMP" --json "$stream" >"$sum" || die "migdump --json failed"
    "$MIGDUMP" --devices --json "$stream" >"$dev" 2>"$dev.err"
    rc=$?
    check_eq "migdump --devices --json exits 0" "$rc" 0
    [ -s "$dev.err" ] && { log "stderr:"; cat "$dev.err" >&2; }
    check_eq "one entry per START/FULL section, keyed 'IDSTR (ID)', in stream order" \
        "$(jq -c 'keys_unsorted' "$dev")" \
        "$(jq -c '[.sections[] | "\(.name) (\(.id))"]' "$sum")"
    check_jq "every device section has at least one field" "$dev" \
        'to_entries | all(.value | type == "object" and length > 0)'
    "$MIGDUMP" --devices "$stream" >"$dev.txt" || fail_check "migdump --devices (text) failed"
    check_eq "text mode decodes the same sections" \
        "$(sed -n 's/^\([0-9]*\) device section(s) decoded field by field, \([0-9]*\) not$/[\1,\2]/p' "$dev.txt")" \
        "$(jq -c '[(to_entries | map(select(.key | startswith("ram (") | not)) | length), 0]' "$dev")"

    hmp "$name" "info registers -a" >"$TESTDIR/$name.registers" || die "info registers failed"
    qmp "$name" query-pci >"$TESTDIR/$name.pci" || die "query-pci failed"
    qmp "$name" query-cpus-fast >"$TESTDIR/$name.cpus" || die "query-cpus-fast failed"
    "$PYTHON" "$DEVICES_SRCDIR/check-devices.py" "$dev" "$sum" "$TESTDIR/$name.registers" \
        "$TESTDIR/$name.pci" >"$res" || die "check-devices.py failed"
    check_eq "cpu sections = query-cpus-fast CPUs" \
        "$(jq '[keys[] | select(startswith("cpu ("))] | length' "$dev")" \
        "$(jq length "$TESTDIR/$name.cpus")"
    check_eq "every cpu section compared with info registers" \
        "$(jq .cpus_compared "$res")" "$(jq length "$TESTDIR/$name.cpus")"
    check_eq "cpu registers (regs, eip, eflags, cr0/2/3/4) = info registers" \
        "$(jq -c .cpu_registers "$res")" '[]'
    check_eq "cpu_common.halted = HLT of info registers, for every CPU" \
        "$(jq -c '[.halted, .halted_compared]' "$res")" "[[],$(jq length "$TESTDIR/$name.cpus")]"
    check_eq "mc146818rtc cmos_data is 128 bytes" "$(jq -c '[.cmos, .cmos_compared]' "$res")" '[[],1]'
    check_eq "PCI config of each PCI section starts with query-pci's vendor/device id" \
        "$(jq -c .pci_config "$res")" '[]'
    check_jq "PCI configs compared: at least $3" "$res" ".pci_compared >= $3"

    if [ -n "${ANALYZE_MIGRATION:-}" ] && [ -f "$ANALYZE_MIGRATION" ] && [ -n "${4:-}" ]; then
        # a stream the script cannot read: say so, and that it still cannot
        if "$PYTHON" "$ANALYZE_MIGRATION" -f "$stream" -d state >/dev/null 2>"$TESTDIR/$name.analyze.err"; then
            fail_check "analyze-migration.py now reads a stream it was expected to give up on ($4)"
        else
            log "ok: analyze-migration.py gives up on this stream ($4): $(tail -1 "$TESTDIR/$name.analyze.err")"
        fi
    elif [ -n "${ANALYZE_MIGRATION:-}" ] && [ -f "$ANALYZE_MIGRATION" ]; then
        "$PYTHON" "$ANALYZE_MIGRATION" -f "$stream" -d state >"$TESTDIR/$name.analyze.json" ||
            die "analyze-migration.py failed on the stream"
        check_eq "migdump --devices --json = analyze-migration.py -d state (every value)" \
            "$(jq -cS . "$dev" | sha256sum)" "$(jq -cS . "$TESTDIR/$name.analyze.json" | sha256sum)"
        check_eq "same keys in the same order as analyze-migration.py" \
            "$(jq -c keys_unsorted "$dev")" "$(jq -c keys_unsorted "$TESTDIR/$name.analyze.json")"
    else
        log "note: ANALYZE_MIGRATION not set: no comparison with analyze-migration.py"
    fi
}
