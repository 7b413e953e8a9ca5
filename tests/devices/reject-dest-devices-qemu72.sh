#!/usr/bin/env bash
# reject-dest-devices-qemu72.sh - migdump --compare-devices on real QEMU
# 7.2 streams: the source (pc, -smp 2, a virtio-rng) against streams
# written by destination configurations started with -S and migrated to a
# file.  The same configuration: no finding.  A destination without the
# rng and with one vCPU: device-missing for exactly what it lacks, and a
# real destination of that configuration refuses the source's stream with
# QEMU's "Unknown savevm section or instance" for one of them.
. "$(dirname "$0")/devices-functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

src_args=(-M pc -m 64M -smp 2 -device virtio-rng-pci,id=rng0)
dst_args=(-M pc -m 64M -smp 1)

qemu_start src "${src_args[@]}"
migrate_to_file src "$TESTDIR/src.mig"
rngaddr=$(qmp src query-pci | jq -r '
    def hex2: [(. / 16 | floor), (. % 16)] | map("0123456789abcdef"[.:.+1]) | add;
    [.[] | .bus as $b | .devices[] | select(.qdev_id == "rng0")
     | "0000:\($b | hex2):\(.slot | hex2).\(.function)/virtio-rng"][0]')
qemu_stop src

qemu_start same -S "${src_args[@]}"
migrate_to_file same "$TESTDIR/same.mig"
qemu_stop same
qemu_start dst -S "${dst_args[@]}"
migrate_to_file dst "$TESTDIR/dst.mig"
qemu_stop dst

"$MIGDUMP" --compare-devices --json "$TESTDIR/src.mig" "$TESTDIR/same.mig" >"$TESTDIR/same.out"
check_eq "same configuration: exit 0" "$?" 0
check_eq "same configuration: no findings" "$(jq -c . "$TESTDIR/same.out")" '[]'

"$MIGDUMP" --compare-devices --json "$TESTDIR/src.mig" "$TESTDIR/dst.mig" >"$TESTDIR/dst.out"
check_eq "destination without the rng and the second vCPU: exit 1" "$?" 1
check_eq "device-missing: the rng at its query-pci address and vCPU 1's sections" \
    "$(jq -c '[.[] | select(.code == "device-missing") | .subject] | sort' "$TESTDIR/dst.out")" \
    "$(jq -cn --arg rng "$rngaddr" '[$rng, "apic instance 1", "cpu instance 1", "cpu_common instance 1"] | sort')"
check_eq "nothing else" "$(jq -c '[.[] | select(.code != "device-missing")]' "$TESTDIR/dst.out")" '[]'
"$MIGDUMP" --compare-devices "$TESTDIR/dst.mig" "$TESTDIR/src.mig" >"$TESTDIR/reverse.out"
check_eq "the other way round: exit 0 (warnings only)" "$?" 0
check_eq "the other way round: device-extra for the same four" \
    "$(grep -c '^warning device-extra: ' "$TESTDIR/reverse.out")" 4

# QEMU's own verdict on the same pair: the destination's configuration
# loading the source's stream.
qemu_start real "${dst_args[@]}" -incoming defer
qmp real migrate-incoming "{\"uri\":\"exec:cat $TESTDIR/src.mig\"}" >/dev/null ||
    die "migrate-incoming failed"
# 7.2 exits when an incoming migration fails: wait (bounded) for that.
realpid=$(cat "$TESTDIR/real.pid")
for ((n = 0; n < 300; n++)); do
    kill -0 "$realpid" 2>/dev/null || break
    [ "$(ps -o stat= -p "$realpid" 2>/dev/null | cut -c1)" = Z ] && break
    sleep 0.1
done
check_eq "the real destination gave up and exited" \
    "$(kill -0 "$realpid" 2>/dev/null && [ "$(ps -o stat= -p "$realpid" | cut -c1)" != Z ] && echo running || echo exited)" \
    exited
qemu_stop real
unknown=$(sed -n "s/^.*Unknown savevm section or instance '\([^']*\)' \([0-9]*\)\..*$/\1 instance \2/p" \
          "$TESTDIR/real.log" | head -1)
log "QEMU said: $(grep -m1 'Unknown savevm section' "$TESTDIR/real.log")"
check_jq "QEMU's unknown section ($unknown) is one migdump found missing" "$TESTDIR/dst.out" \
    '[.[] | select(.code == "device-missing") | .subject] | index($u) != null' --arg u "$unknown"
finish
