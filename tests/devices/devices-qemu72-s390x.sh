#!/usr/bin/env bash
# devices-qemu72-s390x.sh - migdump --devices on a real QEMU 7.2 s390x
# "s390-ccw-virtio" stream (2 vCPUs, virtio-net and virtio-rng on CCW; no
# boot device, so the firmware stops in a disabled wait, hence
# -action panic=none).  Every FULL section decodes field by field except
# "s390_css", whose 7.2 VMDESCRIPTION describes its array of pointers by a
# NULL first element ("struct": {}, 1 byte each): migdump says so for that
# section, decodes the others and exits 1.  The vCPUs' general registers
# and PSW in the stream must be what "info registers" says.
. "$(dirname "$0")/devices-functions.sh"
QEMU=${QEMU_S390X:-qemu-system-s390x}
require_migdump
require_qemu_version 7.2
migtest_init

qemu_start src -M s390-ccw-virtio -m 64M -smp 2 -action panic=none \
    -device virtio-net-ccw,id=nic0 -device virtio-rng-ccw,id=rng0
# let the firmware run until it gives up (R15 is its stack pointer)
for ((n = 0; n < 100; n++)); do
    hmp src "info registers" | grep -q 'R15=0000000000000000' || break
    sleep 0.1
done
qmp src stop >/dev/null || die "stop failed"
migrate_to_file src "$TESTDIR/stream"
hmp src "info registers -a" >"$TESTDIR/registers" || die "info registers failed"
qmp src query-cpus-fast >"$TESTDIR/cpus" || die "query-cpus-fast failed"

"$MIGDUMP" --json "$TESTDIR/stream" >"$TESTDIR/summary.json" || die "migdump --json failed"
"$MIGDUMP" --devices --json "$TESTDIR/stream" >"$TESTDIR/devices.json" 2>"$TESTDIR/devices.err"
check_eq "migdump --devices exits 1 (one section not decoded)" "$?" 1
check_eq "the one it cannot walk is s390_css, and it says why" \
    "$(grep -c "^migdump: s390_css ([0-9]*): offset [0-9]*: VMDESCRIPTION: struct field 'css' is described without its fields" "$TESTDIR/devices.err")" 1
check_eq "nothing else on stderr" "$(grep -vc 's390_css' "$TESTDIR/devices.err")" 0
check_eq "every other START/FULL section, in stream order" \
    "$(jq -c 'keys_unsorted' "$TESTDIR/devices.json")" \
    "$(jq -c '[.sections[] | select(.name != "s390_css") | "\(.name) (\(.id))"]' "$TESTDIR/summary.json")"
check_eq "cpu sections = query-cpus-fast CPUs" \
    "$(jq '[keys[] | select(startswith("cpu ("))] | length' "$TESTDIR/devices.json")" \
    "$(jq length "$TESTDIR/cpus")"
check_jq "s390-skeys (old-style), the flic and both virtio devices are decoded" "$TESTDIR/devices.json" \
    '[keys[] | select(test("^s390-skeys |^qemu-s390-flic |/virtio-net |/virtio-rng "))] | length == 4'

problems=$("$PYTHON" - "$TESTDIR/devices.json" "$TESTDIR/summary.json" "$TESTDIR/registers" <<'PYEOF'
import json, re, sys
dev = json.load(open(sys.argv[1]))
inst = {s["id"]: s["instance"] for s in json.load(open(sys.argv[2]))["sections"]}
parts = re.split(r"^CPU#(\d+)\s*$", open(sys.argv[3]).read(), flags=re.M)
hmp = {}
for i in range(1, len(parts), 2):
    body = parts[i + 1]
    regs = {int(n): int(v, 16) for n, v in re.findall(r"\bR(\d\d)=([0-9a-f]+)", body)}
    psw = re.search(r"PSW=mask ([0-9a-f]+) addr ([0-9a-f]+)", body)
    hmp[int(parts[i])] = (regs, psw)
problems, compared, nonzero = [], 0, 0
for key, val in dev.items():
    m = re.match(r"^cpu \((\d+)\)$", key)
    if not m:
        continue
    regs, psw = hmp.get(inst[int(m.group(1))], ({}, None))
    if len(regs) != 16 or not psw:
        problems.append([key, "no registers in info registers"])
        continue
    got = [int(x, 16) for x in val["env.regs"]]
    nonzero += sum(1 for v in got if v)
    for n, v in regs.items():
        if got[n] != v:
            problems.append([key, "R%02d" % n, hex(got[n]), hex(v)])
    for name, v in (("env.psw.mask", psw.group(1)), ("env.psw.addr", psw.group(2))):
        if int(val[name], 16) != int(v, 16):
            problems.append([key, name, val[name], v])
    compared += 1
print(json.dumps({"problems": problems, "compared": compared, "nonzero": nonzero}))
PYEOF
) || die "register comparison failed"
check_eq "env.regs and the PSW = info registers, for every vCPU" \
    "$(jq -c '[.problems, .compared]' <<<"$problems")" "[[],$(jq length "$TESTDIR/cpus")]"
check_jq "the firmware left non-zero registers to compare" - '.nonzero > 0' <<<"$problems"
finish
