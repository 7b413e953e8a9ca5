#!/usr/bin/env bash
# offline-qemu72.sh - migproxy diff and check on real QEMU 7.2
# configurations, each started with -S and migrated to a file: the same
# configuration twice (no difference), pc against q35, a virtio-rng on one
# side, -smp 2 against 1, -m 128M against 64M, an xhci with 8 USB 3 ports
# against 4 (found in the device fields, and by check walking the device
# state with the destination's layouts), an ISA watchdog only a section list
# shows missing, a stream against a profile (migproxy probe) and check
# --dest-qmp against a waiting destination.  The
# values in the findings are compared with what QEMU says over QMP, and two
# verdicts with what a real destination does with the stream.
. "$(dirname "$0")/offline-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

base=(-M pc -m 64M)
save_config pc "${base[@]}"
save_config same "${base[@]}"
save_config q35 -M q35 -m 64M
qemu_start rng -S "${base[@]}" -device virtio-rng-pci,id=rng0
rngaddr=$(qmp rng query-pci | jq -r '
    def hex2: [(. / 16 | floor), (. % 16)] | map("0123456789abcdef"[.:.+1]) | add;
    [.[] | .bus as $b | .devices[] | select(.qdev_id == "rng0")
     | "0000:\($b | hex2):\(.slot | hex2).\(.function)/virtio-rng"][0]')
pcmachine=$(resolve_machine rng pc)
q35machine=$(resolve_machine rng q35)
migrate_to_file rng "$TESTDIR/rng.mig"
qemu_stop rng
save_config smp2 "${base[@]}" -smp 2
save_config m128 -M pc -m 128M
save_config xhci8 "${base[@]}" -device qemu-xhci,p3=8
save_config xhci4 "${base[@]}" -device qemu-xhci,p3=4
save_config xhci8-nodesc "${base[@]}" -device qemu-xhci,p3=8 -machine suppress-vmdesc=on
save_config ib700 "${base[@]}" -device ib700
T=$TESTDIR

# the same configuration twice
run_offline "$T/same.json" diff --json "$T/pc.mig" "$T/same.mig"
check_eq "same configuration: exit 0" "$RC" 0
check_eq "same configuration: no differences at all" "$(findings "$T/same.json")" '[]'
check_jq "same configuration: both carry a VMDESCRIPTION, so fields were compared" \
    "$T/same.json" '.a.vmdescription and .b.vmdescription and .compatible'
run_offline "$T/same.txt" diff "$T/pc.mig" "$T/same.mig"
check_eq "same configuration, text: exit 0" "$RC" 0
check_eq "text verdict" "\"$(tail -1 "$T/same.txt")\"" \
    '"compatible: 0 error(s), 0 warning(s), 0 note(s)"'

# pc against q35
run_offline "$T/q35.json" diff --json "$T/pc.mig" "$T/q35.mig"
check_eq "pc -> q35: exit 1" "$RC" 1
check_eq "machine types as query-machines resolves pc and q35" \
    "$(jq -c '[.findings[] | select(.code == "machine-type") | [.a, .b]]' "$T/q35.json")" \
    "$(jq -cn --arg a "$pcmachine" --arg b "$q35machine" '[[$a, $b]]')"
check_jq "pc -> q35: the i440FX host bridge and PIIX3 are missing at the destination" \
    "$T/q35.json" '[.findings[] | select(.code == "device-missing") | .subject]
                   | index("0000:00:00.0/I440FX") != null and index("0000:00:01.0/PIIX3") != null'
check_jq "pc -> q35: the ICH9 LPC is extra at the destination" "$T/q35.json" \
    '[.findings[] | select(.code == "device-extra") | .subject] | index("0000:00:1f.0/ICH9LPC") != null'
check_eq "pc -> q35: PCIBUS.nirq, which QEMU checks for equality: 4 PCI IRQs against 8" \
    "$(jq -c '[.findings[] | select(.code == "device-field-equal") | [.subject, .a, .b]]' "$T/q35.json")" \
    '[["PCIBUS.nirq","0x00000004","0x00000008"]]'
run_offline "$T/q35.txt" diff "$T/pc.mig" "$T/q35.mig"
check_eq "pc -> q35, text: exit 1" "$RC" 1
check_eq "text names the field and both values" \
    "$(grep -A2 '^error   machine-type: machine type$' "$T/q35.txt" | tail -2 | tr -s ' ' | jq -Rsc 'split("\n") | map(select(length > 0))')" \
    "$(jq -cn --arg a "$pcmachine" --arg b "$q35machine" '[" A: \($a)", " B: \($b)"]')"

# a device on one side only
run_offline "$T/rng.json" diff --json "$T/rng.mig" "$T/pc.mig"
check_eq "virtio-rng only at the source: exit 1" "$RC" 1
check_eq "device-missing: exactly the rng, at its query-pci address" \
    "$(findings "$T/rng.json")" "$(jq -cn --arg r "$rngaddr" '["device-missing \($r)"]')"
run_offline "$T/rng-rev.json" diff --json "$T/pc.mig" "$T/rng.mig"
check_eq "virtio-rng only at the destination: exit 0" "$RC" 0
check_eq "device-extra: exactly the rng" \
    "$(findings "$T/rng-rev.json")" "$(jq -cn --arg r "$rngaddr" '["device-extra \($r)"]')"

# -smp 2 against -smp 1
run_offline "$T/smp.json" diff --json "$T/smp2.mig" "$T/pc.mig"
check_eq "-smp 2 -> -smp 1: exit 1" "$RC" 1
check_eq "-smp 2 -> -smp 1: vCPU 1's three sections are missing" "$(findings "$T/smp.json")" \
    '["device-missing apic instance 1","device-missing cpu instance 1","device-missing cpu_common instance 1"]'

# -m 128M against 64M
run_offline "$T/mem.json" diff --json "$T/m128.mig" "$T/pc.mig"
check_eq "-m 128M -> -m 64M: exit 1" "$RC" 1
check_eq "-m 128M -> -m 64M: pc.ram's lengths" \
    "$(jq -c '[.findings[] | [.code, .subject, .a, .b]]' "$T/mem.json")" \
    '[["ramblock-size","pc.ram","128 MiB (0x8000000)","64 MiB (0x4000000)"]]'

# a device property: the same xhci with 8 USB 3 ports against 4, found
# in the device fields (both streams carry a VMDESCRIPTION); QEMU's own
# verdict on the pair comes from a real destination.
run_offline "$T/xhci.json" diff --json "$T/xhci8.mig" "$T/xhci4.mig"
check_eq "xhci p3=8 -> p3=4: exit 1" "$RC" 1
check_eq "xhci p3=8 -> p3=4: one finding, the ports array's length (4 + 8 against 4 + 4)" \
    "$(jq -c '[.findings[] | [.code, (.subject | sub("^[0-9a-f:.]*/"; "")), .a, .b]]' "$T/xhci.json")" \
    '[["device-field-length","xhci.xhci.ports","struct, 4 bytes x 12","struct, 4 bytes x 8"]]'
printf '[severity]\ndevice-field-length = warning\n' >"$T/lenient.policy"
run_offline "$T/xhci-lenient.json" diff --json --policy "$T/lenient.policy" "$T/xhci8.mig" "$T/xhci4.mig"
check_eq "with a policy lowering device-field-length: exit 0" "$RC" 0
# the destination's profile with its layouts (probe --sections-from a
# stream of its configuration): check walks the file's device state with
# them, as the proxy's hold does, and diff compares fields with them
qemu_start xhcidst "${base[@]}" -device qemu-xhci,p3=4 -incoming defer
"$MIGPROXY" probe --qmp "unix:$T/xhcidst.qmp" --sections-from "$T/xhci4.mig" \
    -o "$T/xhci4.profile" || die "migproxy probe --sections-from failed"
run_offline "$T/xhci-check.json" check --json "$T/xhci8.mig" --dest-profile "$T/xhci4.profile"
check_eq "check xhci p3=8 against the p3=4 destination's layouts: exit 1, device-layout on the xhci" \
    "$RC $(jq -c '[.findings[] | select(.severity != "info") | [.code, (.subject | sub("^[0-9a-f:.]*/"; ""))]]' "$T/xhci-check.json")" \
    '1 [["device-layout","xhci"]]'
check_jq "the finding says where the walk ended: bytes left over" "$T/xhci-check.json" \
    '[.findings[] | select(.code == "device-layout") | .message
      | test("offset [0-9]+: .*payload bytes left after every described field")] == [true]'
run_offline "$T/xhci4-check.json" check --json "$T/xhci4.mig" --dest-profile "$T/xhci4.profile"
check_eq "check xhci p3=4 against its own configuration's layouts: exit 0, notes only" \
    "$RC $(jq -c '[.findings[] | select(.severity != "info")]' "$T/xhci4-check.json")" '0 []'
check_jq "every section fit its layout: none went unchecked" "$T/xhci4-check.json" \
    '[.findings[] | select(.code == "device-layout-unchecked")] == [] and .destination.layouts'
run_offline "$T/nodesc-check.json" check --json "$T/xhci8-nodesc.mig" --dest-profile "$T/xhci4.profile"
check_eq "without a VMDESCRIPTION the boundaries are guesses: not walked, a note, exit 0" \
    "$RC $(jq -c '[.findings[] | select(.code | startswith("device-layout")) | [.code, .severity]]' "$T/nodesc-check.json")" \
    '0 [["device-layout-unchecked","info"]]'
run_offline "$T/xhci-prof.json" diff --json "$T/xhci8.mig" "$T/xhci4.profile"
check_eq "diff against the profile finds what diff against the stream found" \
    "$RC $(jq -c '[.findings[] | select(.severity != "info") | [.code, (.subject | sub("^[0-9a-f:.]*/"; "")), .a, .b]]' "$T/xhci-prof.json")" \
    "1 $(jq -c '[.findings[] | [.code, (.subject | sub("^[0-9a-f:.]*/"; "")), .a, .b]]' "$T/xhci.json")"
load_file xhcidst "$T/xhci8.mig"
said=$(grep -m1 'Missing section footer\|load of migration failed' "$T/xhcidst.log")
log "QEMU said: $said"
for report in xhci xhci-check; do
    check_jq "QEMU failed on the section $report names" "$T/$report.json" \
        '[.findings[] | select(.severity == "error")][0].subject as $s | $said
         | test("Missing section footer for ") and
           (sub("^.*Missing section footer for "; "") as $idstr | $s | startswith($idstr))' \
        --arg said "$said"
done

# a destination waiting with -incoming: its profile, and check --dest-qmp
qemu_start dst "${base[@]}" -incoming defer
"$MIGPROXY" probe --qmp "unix:$T/dst.qmp" -o "$T/dst.profile" || die "migproxy probe failed"
run_offline "$T/prof-same.json" diff --json "$T/pc.mig" "$T/dst.profile"
check_eq "stream against the profile of the same configuration: exit 0" "$RC" 0
check_eq "no error or warning, only what a profile cannot show" \
    "$(jq -c '[.findings[] | select(.severity != "info")]' "$T/prof-same.json")" '[]'
check_jq "the profile side says it lists no sections" "$T/prof-same.json" \
    '[.findings[] | .code] | index("diff-partial") != null'
run_offline "$T/prof-smp.json" diff --json "$T/smp2.mig" "$T/dst.profile"
check_eq "-smp 2 stream against a 1-CPU profile: exit 1" "$RC" 1
check_eq "the profile's CPU count ($(jq .cpus "$T/dst.profile")) finds vCPU 1's sections" \
    "$(jq -c '[.findings[] | select(.severity == "error") | "\(.code) \(.subject) \(.a)"] | sort' "$T/prof-smp.json")" \
    '["section-unknown-late apic CPU 1","section-unknown-late cpu CPU 1","section-unknown-late cpu_common CPU 1"]'
run_offline "$T/prof-rng.json" diff --json "$T/rng.mig" "$T/dst.profile"
check_eq "rng stream against the profile: exit 1" "$RC" 1
check_eq "the profile's PCI devices find the rng" \
    "$(jq -c '[.findings[] | select(.severity == "error") | .subject]' "$T/prof-rng.json")" \
    "$(jq -cn --arg r "$rngaddr" '[$r]')"

# the same destination's profile with its own section list (from a stream
# of its configuration): the whole section list compares, as for a stream
"$MIGPROXY" probe --qmp "unix:$T/dst.qmp" --sections-from "$T/pc.mig" -o "$T/dst-sections.profile" ||
    die "migproxy probe --sections-from failed"
run_offline "$T/secprof-same.json" diff --json "$T/pc.mig" "$T/dst-sections.profile"
check_eq "stream against the section-list profile of its configuration: exit 0, no finding" \
    "$RC $(jq -c '[.findings[] | select(.severity != "info")]' "$T/secprof-same.json")" "0 []"
check_jq "a profile with sections is not partial" "$T/secprof-same.json" \
    '[.findings[] | .code] | index("diff-partial") == null'
run_offline "$T/secprof-rng.json" diff --json "$T/rng.mig" "$T/dst-sections.profile"
check_eq "rng stream against it: exit 1, device-missing on the rng's section" \
    "$RC $(jq -c '[.findings[] | select(.severity == "error") | .code + " " + .subject]' "$T/secprof-rng.json")" \
    "1 $(jq -cn --arg r "$rngaddr" '["device-missing \($r)"]')"
# an ISA watchdog has no PCI address: only the section list knows it is
# missing, for diff and for check alike; a real destination refuses it
run_offline "$T/secprof-ib700.json" diff --json "$T/ib700.mig" "$T/dst-sections.profile"
check_eq "diff: exit 1, device-missing on ib700_wdt and nothing else" \
    "$RC $(jq -c '[.findings[] | select(.severity != "info") | .code + " " + .subject]' "$T/secprof-ib700.json")" \
    '1 ["device-missing ib700_wdt"]'
run_offline "$T/check-ib700.json" check --json "$T/ib700.mig" --dest-profile "$T/dst-sections.profile"
check_eq "check: the same" \
    "$RC $(jq -c '[.findings[] | select(.severity != "info") | .code + " " + .subject]' "$T/check-ib700.json")" \
    '1 ["device-missing ib700_wdt"]'
run_offline "$T/check-ib700-qmp.json" check --json "$T/ib700.mig" --dest-qmp "unix:$T/dst.qmp"
check_eq "check --dest-qmp cannot see it (no section list): exit 0" "$RC" 0
qemu_start ibdst "${base[@]}" -incoming defer
load_file ibdst "$T/ib700.mig"
said=$(grep -m1 'ib700_wdt' "$T/ibdst.log")
log "QEMU said: $said"
check_eq "QEMU refused the watchdog's section too" \
    "$(grep -c "Unknown savevm section or instance 'ib700_wdt' 0" "$T/ibdst.log")" 1

# --dest-vmstate: the destination binary's own descriptions, as written,
# then edited to load neither the rtc's version nor a fw_cfg subsection.
timeout 60 "$QEMU" -nodefaults -display none -M pc -dump-vmstate "$T/pc.dump" </dev/null ||
    die "-dump-vmstate failed"
jq '(.[] | objects | .Description? | objects | select(.name == "mc146818rtc")) |= (.version_id = 2)
    | (.[] | objects | .Description? | objects | select(.name == "fw_cfg") | .Subsections)
      |= map(select(.name != "fw_cfg/acpi_mr"))' "$T/pc.dump" >"$T/edited.dump" ||
    die "cannot edit the dump"
run_offline "$T/vmstate.json" check --json "$T/pc.mig" --dest-profile "$T/dst.profile" \
    --dest-vmstate "$T/pc.dump"
check_eq "check --dest-vmstate with the binary's own dump: exit 0" "$RC" 0
check_eq "only notes: what the dump does not describe" \
    "$(jq -c '[.findings[] | select(.severity != "info") | .code]' "$T/vmstate.json")" '[]'
check_jq "the CPU sections are among those the dump does not describe" "$T/vmstate.json" \
    '[.findings[] | select(.code == "section-version-unchecked") | .file | split(", ")][0]
     | index("cpu") != null'
run_offline "$T/vmstate-edited.json" check --json "$T/pc.mig" --dest-profile "$T/dst.profile" \
    --dest-vmstate "$T/edited.dump"
check_eq "check --dest-vmstate with the edited dump: exit 1" "$RC" 1
check_eq "the rtc's version and the fw_cfg subsection" \
    "$(jq -c '[.findings[] | select(.severity == "error") | "\(.code) \(.subject)"] | sort' "$T/vmstate-edited.json")" \
    '["section-version-too-new mc146818rtc","subsection-unknown fw_cfg"]'

run_offline "$T/check-ok.json" check --json "$T/pc.mig" --dest-qmp "unix:$T/dst.qmp"
check_eq "check --dest-qmp, same configuration: exit 0" "$RC" 0
check_jq "verdict accept" "$T/check-ok.json" '.verdict == "accept"'
run_offline "$T/check-mem.json" check --json "$T/m128.mig" --dest-qmp "unix:$T/dst.qmp"
check_eq "check --dest-qmp, a 128M file on a 64M destination: exit 1" "$RC" 1
check_eq "ramblock-size on pc.ram, the file's and the destination's lengths" \
    "$(jq -c '[.findings[] | select(.severity == "error") | [.code, .subject, .file, .destination]]' "$T/check-mem.json")" \
    '[["ramblock-size","pc.ram","128 MiB (0x8000000)","64 MiB (0x4000000)"]]'

# QEMU's own verdict on the same file: the waiting destination loads it.
load_file dst "$T/m128.mig"
log "QEMU said: $(grep -m1 'pc.ram' "$T/dst.log")"
check_jq "QEMU refused the file over pc.ram's length too" "$T/check-mem.json" \
    '$said | test("pc.ram") and test("0x8000000")' --arg said "$(grep -m1 'pc.ram' "$T/dst.log")"
finish
