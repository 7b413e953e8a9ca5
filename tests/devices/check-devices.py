#!/usr/bin/env python3
# check-devices.py - compares `migdump --devices --json` of a real stream
# with what QEMU itself said about the same VM (the source, paused in
# postmigrate, so its state is the state it sent).  Prints one JSON object:
# per check, the list of mismatches ([] when all agree) and how many
# things were compared, so that a check that compared nothing shows up.
#
# Usage: check-devices.py DEVICES.json SUMMARY.json REGISTERS.txt PCI.json
#   DEVICES.json   migdump --devices --json FILE
#   SUMMARY.json   migdump --json FILE (section ids -> instances)
#   REGISTERS.txt  HMP "info registers -a"
#   PCI.json       QMP query-pci
#
# What is compared, and why those:
#   cpu registers  env.regs, env.eip, env.eflags, env.cr[0,2,3,4] of each
#                  "cpu" section against "info registers" of the CPU with
#                  the section's instance (= cpu-index); in 32-bit mode
#                  QEMU prints the low 32 bits only, so only those count
#   halted         cpu_common.halted against HLT= of the same CPU
#   pci config     every 256/4096-byte "config..." buffer of a section
#                  "DDDD:BB:SS.F/..." starts with the vendor and device id
#                  (little-endian) that query-pci reports at that address
#   cmos           mc146818rtc.cmos_data is 128 bytes (the RTC's CMOS)

import json
import re
import sys

REG_INDEX = {"AX": 0, "CX": 1, "DX": 2, "BX": 3, "SP": 4, "BP": 5, "SI": 6, "DI": 7}


def parse_registers(text):
    cpus = {}
    parts = re.split(r"^CPU#(\d+)\s*$", text, flags=re.M)
    for i in range(1, len(parts), 2):
        idx, body = int(parts[i]), parts[i + 1]
        regs = {}
        wide = re.search(r"\bRAX=", body) is not None
        for name, val in re.findall(r"\b[RE](AX|BX|CX|DX|SI|DI|BP|SP)=([0-9a-f]+)", body):
            regs[REG_INDEX[name]] = int(val, 16)
        for n, val in re.findall(r"\bR(8|9|1[0-5]) ?=([0-9a-f]+)", body):
            regs[int(n)] = int(val, 16)
        m = re.search(r"\b[RE]IP=([0-9a-f]+) [RE]FL=([0-9a-f]+).*HLT=(\d)", body)
        cr = re.search(r"CR0=([0-9a-f]+) CR2=([0-9a-f]+) CR3=([0-9a-f]+) CR4=([0-9a-f]+)", body)
        if not m or not cr:
            continue
        cpus[idx] = {
            "wide": wide, "regs": regs, "eip": int(m.group(1), 16),
            "eflags": int(m.group(2), 16), "halted": int(m.group(3)),
            "cr": [int(cr.group(k), 16) for k in range(1, 5)],
        }
    return cpus


def hexint(s):
    # "0x00ab" or "0xff (-1)"
    return int(s.split()[0], 16)


def strings_named_config(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str) and k.startswith("config") and len(v.split()) in (256, 4096):
                yield path + "." + k, v
            else:
                yield from strings_named_config(v, path + "." + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from strings_named_config(v, "%s[%d]" % (path, i))


def main(argv):
    devices = json.load(open(argv[1]))
    summary = json.load(open(argv[2]))
    cpus = parse_registers(open(argv[3]).read())
    pci = json.load(open(argv[4]))
    instance = {s["id"]: s["instance"] for s in summary["sections"]}
    result = {"cpu_registers": [], "cpus_compared": 0, "halted": [], "halted_compared": 0,
              "pci_config": [], "pci_compared": 0, "cmos": [], "cmos_compared": 0,
              "cpus_in_hmp": len(cpus)}

    for key, val in devices.items():
        m = re.match(r"^(.*) \((\d+)\)$", key)
        idstr, sid = m.group(1), int(m.group(2))
        inst = instance.get(sid)
        if idstr == "cpu":
            cpu = cpus.get(inst)
            if cpu is None:
                result["cpu_registers"].append([key, "no CPU#%s in info registers" % inst])
                continue
            mask = (1 << 64) - 1 if cpu["wide"] else 0xffffffff
            want = {"eip": cpu["eip"], "eflags": cpu["eflags"]}
            got = {"eip": hexint(val["env.eip"]) & mask,
                   "eflags": hexint(val["env.eflags"]) & mask}
            for i, v in cpu["regs"].items():
                want["regs[%d]" % i] = v
                got["regs[%d]" % i] = hexint(val["env.regs"][i]) & mask
            for n, v in zip((0, 2, 3, 4), cpu["cr"]):
                want["cr[%d]" % n] = v
                got["cr[%d]" % n] = hexint(val["env.cr[%d]" % n]) & mask
            for k in want:
                if want[k] != got[k]:
                    result["cpu_registers"].append([key, k, hex(got[k]), hex(want[k])])
            result["cpus_compared"] += 1
        elif idstr == "cpu_common":
            cpu = cpus.get(inst)
            if cpu is None:
                result["halted"].append([key, "no CPU#%s in info registers" % inst])
                continue
            if hexint(val["halted"]) != cpu["halted"]:
                result["halted"].append([key, val["halted"], cpu["halted"]])
            result["halted_compared"] += 1
        elif idstr == "mc146818rtc":
            if len(val["cmos_data"].split()) != 128:
                result["cmos"].append([key, len(val["cmos_data"].split())])
            result["cmos_compared"] += 1
        m = re.match(r"^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])/", idstr)
        if m:
            bus, slot, fn = int(m.group(2), 16), int(m.group(3), 16), int(m.group(4))
            dev = [d for b in pci for d in b["devices"]
                   if d["bus"] == bus and d["slot"] == slot and d["function"] == fn]
            for path, cfg in strings_named_config(val):
                b = [int(x, 16) for x in cfg.split()[:4]]
                if not dev:
                    result["pci_config"].append([key, path, "no device at this address"])
                    continue
                ids = dev[0]["id"]
                want = [ids["vendor"] & 0xff, ids["vendor"] >> 8,
                        ids["device"] & 0xff, ids["device"] >> 8]
                if b != want:
                    result["pci_config"].append([key, path, b, want])
                result["pci_compared"] += 1
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
