#!/usr/bin/env bash
# devices-qemu72-aarch64.sh - migdump --devices on a real QEMU 7.2 aarch64
# "virt" stream (2 vCPUs, GIC, PL011, virtio-net and virtio-rng on PCIe).
# QEMU 7.2's analyze-migration.py gives up on this stream (it cannot skip
# the configuration's target-page-bits subsection); migdump decodes every
# FULL section field by field.  The guest is six hand-assembled
# instructions that set X1..X5 and spin, so the CPU state is known: the
# stream's env.xregs and env.pc of each vCPU must be what "info registers"
# says.
. "$(dirname "$0")/devices-functions.sh"
QEMU=${QEMU_AARCH64:-qemu-system-aarch64}
require_migdump
require_qemu_version 7.2
migtest_init

# movz x1,#0x1111 ... movz x5,#0x5555; b .   (little-endian words)
"$PYTHON" - "$TESTDIR/loop.bin" <<'PYEOF'
import struct, sys
words = [0xD2800000 | (v << 5) | r for r, v in
         ((1, 0x1111), (2, 0x2222), (3, 0x3333), (4, 0x4444), (5, 0x5555))]
words.append(0x14000000)
open(sys.argv[1], "wb").write(b"".join(struct.pack("<I", w) for w in words))
PYEOF

qemu_start src -M virt -cpu cortex-a57 -m 64M -smp 2 -kernel "$TESTDIR/loop.bin" \
    -device virtio-net-pci,id=nic0 -device virtio-rng-pci,id=rng0
for ((n = 0; n < 100; n++)); do
    hmp src "info registers" | grep -q 'X05=0000000000005555' && break
    sleep 0.1
done
hmp src "info registers" | grep -q 'X05=0000000000005555' || die "the guest did not reach its loop"
qmp src stop >/dev/null || die "stop failed"
migrate_to_file src "$TESTDIR/stream"
hmp src "info registers -a" >"$TESTDIR/registers" || die "info registers failed"
qmp src query-cpus-fast >"$TESTDIR/cpus" || die "query-cpus-fast failed"

"$MIGDUMP" --json "$TESTDIR/stream" >"$TESTDIR/summary.json" || die "migdump --json failed"
check_eq "the configuration carries target-page-bits (what analyze-migration.py cannot skip)" \
    "$(jget "$TESTDIR/summary.json" .target_page_bits)" 12
"$MIGDUMP" --devices --json "$TESTDIR/stream" >"$TESTDIR/devices.json"
check_eq "migdump --devices --json exits 0" "$?" 0
check_eq "one entry per START/FULL section, in stream order" \
    "$(jq -c 'keys_unsorted' "$TESTDIR/devices.json")" \
    "$(jq -c '[.sections[] | "\(.name) (\(.id))"]' "$TESTDIR/summary.json")"
check_eq "cpu sections = query-cpus-fast CPUs" \
    "$(jq '[keys[] | select(startswith("cpu ("))] | length' "$TESTDIR/devices.json")" \
    "$(jq length "$TESTDIR/cpus")"
check_jq "arm_gic, pl011 and the two virtio devices are decoded" "$TESTDIR/devices.json" \
    '[keys[] | select(test("^arm_gic |^pl011 |/virtio-net |/virtio-rng "))] | length == 4'

problems=$("$PYTHON" - "$TESTDIR/devices.json" "$TESTDIR/summary.json" "$TESTDIR/registers" <<'PYEOF'
import json, re, sys
dev = json.load(open(sys.argv[1]))
inst = {s["id"]: s["instance"] for s in json.load(open(sys.argv[2]))["sections"]}
text = open(sys.argv[3]).read()
parts = re.split(r"^CPU#(\d+)\s*$", text, flags=re.M)
hmp = {}
for i in range(1, len(parts), 2):
    body = parts[i + 1]
    regs = {int(n): int(v, 16) for n, v in re.findall(r"\bX(\d\d)=([0-9a-f]+)", body)}
    pc = re.search(r"\bPC=([0-9a-f]+)", body)
    hmp[int(parts[i])] = (regs, int(pc.group(1), 16) if pc else None)
problems, compared = [], 0
for key, val in dev.items():
    m = re.match(r"^cpu \((\d+)\)$", key)
    if not m:
        continue
    regs, pc = hmp.get(inst[int(m.group(1))], ({}, None))
    if len(regs) != 31 or pc is None:
        problems.append([key, "no registers in info registers"])
        continue
    got = [int(x, 16) for x in val["env.xregs"]]
    for n, v in regs.items():
        if got[n] != v:
            problems.append([key, "X%02d" % n, hex(got[n]), hex(v)])
    if int(val["env.pc"], 16) != pc:
        problems.append([key, "PC", val["env.pc"], hex(pc)])
    compared += 1
print(json.dumps({"problems": problems, "compared": compared,
                  "x5_cpu0": hmp.get(0, ({}, 0))[0].get(5)}))
PYEOF
) || die "register comparison failed"
check_eq "env.xregs and env.pc = info registers, for every vCPU" \
    "$(jq -c '[.problems, .compared]' <<<"$problems")" "[[],$(jq length "$TESTDIR/cpus")]"
check_eq "vCPU 0 ran the guest (X5 = 0x5555)" "$(jq .x5_cpu0 <<<"$problems")" 21845
finish
