#!/usr/bin/env bash
# devices-qemu72-description.sh - migdump --devices --description: real
# QEMU 7.2 streams without a VMDESCRIPTION of their own, walked with the
# VMDESCRIPTION of another stream (or a profile) of the same configuration.
#   - a stream cut just before its VMDESCRIPTION, with the whole stream as
#     reference: the same values as --devices on the whole stream;
#   - a running guest's stream written with suppress-vmdesc=on, with the
#     stream of another running guest of its configuration as reference
#     (a paused one sends fewer subsections: cpu/msr_smi_count): every
#     section walked exactly, every guessed boundary confirmed but those of
#     virtio devices (their one field's length is the device's own), CPU
#     registers and PCI ids as QEMU reports them;
#   - qemu-xhci p3=8 walked with a p3=4 configuration's description: the
#     xhci section does not fit (and says where), every other one does.
. "$(dirname "$0")/devices-functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init
T=$TESTDIR

"$QEMU" -machine pc,help 2>&1 | grep -q 'suppress-vmdesc=' ||
    skip "this QEMU has no -machine suppress-vmdesc"

# shellcheck disable=SC2054 # the commas are QEMU's option syntax
CFG=(-m 64M -smp 2 -device VGA -device e1000 -device virtio-net-pci
     -device piix3-usb-uhci,id=usb0 -device usb-tablet,bus=usb0.0 -device qemu-xhci,p3=4)

# 1. a whole stream, and the same cut before its VMDESCRIPTION
qemu_start full -M pc "${CFG[@]}"
migrate_to_file full "$T/full.mig"
qemu_stop full
vmdesc_at=$("$MIGDUMP" --events "$T/full.mig" | sed -n 's/^\([0-9]*\)-[0-9]* ~*vmdesc .*/\1/p')
[ -n "$vmdesc_at" ] || die "no VMDESCRIPTION in the whole stream"
head -c "$vmdesc_at" "$T/full.mig" >"$T/cut.mig"
"$MIGDUMP" --devices --json "$T/full.mig" >"$T/full.json" || die "migdump --devices failed"
"$MIGDUMP" --devices --json --description "$T/full.mig" "$T/cut.mig" >"$T/cut.json" 2>"$T/cut.err"
check_eq "cut stream walked with the whole stream's description: exit 0" "$?" 0
check_eq "cut stream: every value equals --devices on the whole stream" \
    "$(jq -cS . "$T/cut.json" | sha256sum)" "$(jq -cS . "$T/full.json" | sha256sum)"
check_eq "cut stream: the same sections in the same order" \
    "$(jq -c keys_unsorted "$T/cut.json")" "$(jq -c keys_unsorted "$T/full.json")"
nsec=$(jq '[keys[] | select(startswith("ram (") | not)] | length' "$T/full.json")
nvirtio=$(jq '[keys[] | select(test("/virtio-"))] | length' "$T/full.json")
log "cut stream: $nsec device sections, $nvirtio virtio; $(cat "$T/cut.err")"
check_eq "cut stream: every guessed boundary confirmed by the walk but the virtio ones (stderr)" \
    "$(sed -n 's/^migdump: \([0-9]*\) of \([0-9]*\) section boundaries guessed.*confirmed by the walk$/\1 \2/p' "$T/cut.err")" \
    "$((nsec - nvirtio)) $nsec"
"$MIGDUMP" --devices "$T/cut.mig" >/dev/null 2>&1
check_eq "cut stream without --description: not decoded (exit 1)" "$?" 1

# 2. a running guest written with suppress-vmdesc=on; the reference is a
# paused copy of the same configuration (with its VMDESCRIPTION)
qemu_start ref -M pc "${CFG[@]}"
sleep 1     # as the source below: the firmware ran
migrate_to_file ref "$T/ref.mig"
qemu_stop ref
qemu_start src -M pc,suppress-vmdesc=on "${CFG[@]}"
sleep 1     # let the firmware run: registers away from their reset values
migrate_to_file src "$T/src.mig"
"$MIGDUMP" --json "$T/src.mig" >"$T/src.summary.json" || die "migdump --json failed"
check_jq "the suppressed stream has no VMDESCRIPTION" "$T/src.summary.json" \
    '.vmdesc == false'
"$MIGDUMP" --devices --description "$T/ref.mig" "$T/src.mig" >"$T/src.txt" 2>"$T/src.err"
check_eq "suppressed stream walked by the reference: exit 0" "$?" 0
[ -s "$T/src.err" ] && log "stderr: $(cat "$T/src.err")"
nsec=$(jq '[.sections[] | select(.name != "ram")] | length' "$T/src.summary.json")
check_eq "every device section walked exactly ($nsec), none not" \
    "$(tail -2 "$T/src.txt" | head -1)" "$nsec device section(s) decoded field by field, 0 not"
check_eq "every guessed boundary confirmed by the walk, but the $nvirtio virtio ones" \
    "$(tail -1 "$T/src.txt")" \
    "$((nsec - nvirtio)) of $nsec section boundaries guessed by the footer scan confirmed by the walk"
log "$(tail -2 "$T/src.txt" | tr '\n' ' ')"
"$MIGDUMP" --devices --json --description "$T/ref.mig" "$T/src.mig" >"$T/src.json" 2>/dev/null ||
    die "--json failed"
hmp src "info registers -a" >"$T/src.registers" || die "info registers failed"
qmp src query-pci >"$T/src.pci" || die "query-pci failed"
"$PYTHON" "$DEVICES_SRCDIR/check-devices.py" "$T/src.json" "$T/src.summary.json" \
    "$T/src.registers" "$T/src.pci" >"$T/src.check.json" || die "check-devices.py failed"
check_eq "cpu registers of both CPUs = info registers" \
    "$(jq -c '[.cpu_registers, .cpus_compared]' "$T/src.check.json")" '[[],2]'
check_eq "cpu_common.halted = info registers, both CPUs" \
    "$(jq -c '[.halted, .halted_compared]' "$T/src.check.json")" '[[],2]'
check_eq "PCI config spaces start with query-pci's ids" "$(jq -c .pci_config "$T/src.check.json")" '[]'
check_jq "PCI configs compared: at least 6" "$T/src.check.json" '.pci_compared >= 6'
qemu_stop src

# 3. a description that does not fit: xhci p3=8 read by p3=4's layout
qemu_start x8 -S -M pc -m 64M -device qemu-xhci,p3=8
migrate_to_file x8 "$T/x8.mig"
qemu_stop x8
qemu_start x4 -S -M pc -m 64M -device qemu-xhci,p3=4
migrate_to_file x4 "$T/x4.mig"
qemu_stop x4
vmdesc_at=$("$MIGDUMP" --events "$T/x8.mig" | sed -n 's/^\([0-9]*\)-[0-9]* ~*vmdesc .*/\1/p')
head -c "$vmdesc_at" "$T/x8.mig" >"$T/x8cut.mig"
"$MIGDUMP" --devices --description "$T/x4.mig" "$T/x8cut.mig" >"$T/x8.txt" 2>"$T/x8.err"
check_eq "p3=8 by p3=4's layout: exit 1" "$?" 1
log "$(cat "$T/x8.err")"
nsec=$("$MIGDUMP" --json "$T/x8.mig" | jq '[.sections[] | select(.name != "ram")] | length')
check_eq "one section not decoded, every other one decoded" \
    "$(grep 'device section(s) decoded' "$T/x8.txt")" \
    "$((nsec - 1)) device section(s) decoded field by field, 1 not"
# shellcheck disable=SC2016 # $e is jq's
check_jq "the one not decoded is the xhci, with the offset where the walk broke" /dev/null \
    '$e | test("^migdump: [0-9a-f:.]*/xhci \\([0-9]+\\): the walk does not land on the boundary the footer scan guessed \\([0-9]+ bytes\\): offset [0-9]+: ")' -n --arg e "$(cat "$T/x8.err")"
grep -q '/xhci (.*NOT DECODED' "$T/x8.txt" || fail_check "the text output does not name the xhci as not decoded"
finish
