#!/usr/bin/env python3
"""check-timeline.py SVG PNG EXPECT-JSON - check what a migdump --timeline
picture shows, on the SVG's elements and on the pixels rsvg-convert drew
(PNG, 8-bit RGB/RGBA, as rsvg-convert writes it; decoded here without
libraries).  EXPECT: {"lines": N, "phases": [...], "verdict": "accept",
"failure": bool, "ram_fraction": F or null}.  Prints what it checked;
exits 1 on the first thing that is not as expected."""
import json
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

NS = "{http://www.w3.org/2000/svg}"
LEFT, RIGHT, TOP, BOTTOM = 80, 760, 60, 380      # tools/capture-dump.c TL_*


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                fail(f"PNG kind not handled: depth {depth} colour {ctype}")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return rows


def hexrgb(s):
    return tuple(int(s[i:i + 2], 16) for i in (1, 3, 5))


def main():
    svg, png, expect = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    root = ET.parse(svg).getroot()
    lines = [e for e in root.iter(NS + "polyline") if e.get("class") == "rate"]
    if len(lines) != expect["lines"]:
        fail(f"{len(lines)} rate lines, expected {expect['lines']}")
    phases = [g.get("id")[6:] for g in root.iter(NS + "g") if g.get("class") == "phase"]
    xs = {g.get("id")[6:]: float(g.find(NS + "line").get("x1"))
          for g in root.iter(NS + "g") if g.get("class") == "phase"}
    if phases != expect["phases"] or [xs[p] for p in phases] != sorted(xs[p] for p in phases):
        fail(f"phases {phases} at {xs}, expected {expect['phases']} left to right")
    print(f"ok: {len(lines)} rate lines; phases {phases} left to right")
    rows = read_png(png)
    for e in lines:
        col = hexrgb(e.get("stroke"))
        pts = [tuple(map(float, p.split(","))) for p in e.get("points").split()]
        above = sum(1 for _, y in pts if y < BOTTOM - 1)
        drawn = sum(1 for y in range(TOP, BOTTOM - 3) for x in range(LEFT, RIGHT + 1)
                    if rows[y][x] == col)
        if above == 0 or drawn < 20:
            fail(f"{e.get('id')}: {above} buckets above zero, {drawn} pixels of {e.get('stroke')}")
        print(f"ok: {e.get('id')} drawn: {drawn} pixels of {e.get('stroke')} above the baseline, "
              f"{above} of {len(pts)} buckets above zero")
    red = sum(1 for y in range(TOP, BOTTOM) for x in range(LEFT, RIGHT + 1)
              if rows[y][x] == (255, 0, 0))
    verdict = root.find(f".//{NS}g[@id='verdict']")
    if verdict is None or verdict.find(NS + "text").text != "verdict " + expect["verdict"]:
        fail("no verdict mark for " + expect["verdict"])
    want_red = expect["verdict"] == "reject" or expect["failure"]
    if (red > 100) != want_red:
        fail(f"{red} red pixels in the plot; expected {'a red mark' if want_red else 'none'}")
    print(f"ok: verdict {expect['verdict']} marked; {red} red pixels in the plot")
    if expect.get("ram_fraction") is not None:
        y = BOTTOM + 47
        blue = sum(1 for x in range(LEFT, RIGHT + 1) if rows[y][x] == (0x1f, 0x77, 0xb4))
        frac = blue / (RIGHT - LEFT)
        if abs(frac - expect["ram_fraction"]) > 0.02:
            fail(f"RAM bar filled {frac:.3f}, expected {expect['ram_fraction']:.3f}")
        print(f"ok: RAM bar filled {frac:.3f} of the width (expected {expect['ram_fraction']:.3f})")


main()
