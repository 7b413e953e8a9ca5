#!/usr/bin/env bash
# interop-qemu72-proxy-capture-hash.sh - plain precopy of a QEMU 7.2 "pc"
# guest whose RAM holds 32 MiB of random bytes (loaded with -device
# loader) through migproxy --capture-pages hash.  The capture must keep the
# stream's structure (every byte but page payloads: stream length = kept
# bytes + holes, the holes exactly the normal pages' payloads) and no page payload: no 4 KiB
# piece of the random data may appear in it.  It must be a small fraction
# of the stream.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_migdump
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp head
head -c $((32 * 1024 * 1024)) /dev/urandom >"$TESTDIR/random.bin"
SRC_ARGS=(-M pc -m 128M -device "loader,file=$TESTDIR/random.bin,addr=0x1000000,force-raw=on")
DST_ARGS=(-M pc -m 128M -device "loader,file=$TESTDIR/random.bin,addr=0x1000000,force-raw=on")
cap=$TESTDIR/hash.cap
PROXY_EXTRA=(--capture "$cap" --capture-pages hash)
accept_case 1

stream=$TESTDIR/rec-dst/conn00.s2d
"$MIGDUMP" --json "$stream" >"$TESTDIR/stream.json" || fail_check "migdump on the stream failed"
"$MIGDUMP" --json "$cap" >"$TESTDIR/cap.json" || fail_check "migdump --json CAPTURE failed"
normal=$(jq '.pages.normal' "$TESTDIR/stream.json")
log "stream: $(stat -c %s "$stream") bytes, $normal normal pages; capture: $(stat -c %s "$cap") bytes"
[ "$normal" -ge 8192 ] && log "ok: the random data went as normal pages ($normal)" ||
    fail_check "expected at least 8192 normal pages, found $normal"
check_eq "summary: bytes to the destination = the stream's length" \
    "$(jq '.sessions[0].connections[0].to_destination.bytes' "$TESTDIR/cap.json")" "$(stat -c %s "$stream")"
# a payload split by a read is one hole in each chunk: at least one per page
check_eq "holes: every normal page's 4 KiB, nothing else" \
    "$(jq -c '.sessions[0].connections[0].to_destination | {many: (.holes >= '"$normal"'), hole_bytes}' \
       "$TESTDIR/cap.json")" "{\"many\":true,\"hole_bytes\":$((normal * 4096))}"
"$PYTHON" - "$TESTDIR/random.bin" "$stream" "$cap" <<'PY' || fail_check "page contents in the capture"
import sys
data = open(sys.argv[1], "rb").read()
stream = open(sys.argv[2], "rb").read()
cap = open(sys.argv[3], "rb").read()
pages = [data[i:i + 4096] for i in range(0, len(data), 4096)]
in_stream = sum(1 for p in pages[::64] if p in stream)
# any 64 bytes of any page would do; test a 64-byte piece of every 16th page
leaked = [i for i in range(0, len(pages), 16) if pages[i][1000:1064] in cap]
print(f"{in_stream} of {len(pages[::64])} sampled pages in the stream, "
      f"{len(leaked)} pieces in the capture", file=sys.stderr)
sys.exit(0 if in_stream == len(pages[::64]) and not leaked else 1)
PY
size=$(stat -c %s "$cap")
total=$(stat -c %s "$stream")
[ $((size * 20)) -lt "$total" ] && log "ok: capture $size bytes < 5% of the stream's $total" ||
    fail_check "capture $size bytes is not under 5% of the stream's $total"
"$MIGDUMP" --extract "$TESTDIR/x" "$cap" >/dev/null 2>"$TESTDIR/extract.err" &&
    fail_check "--extract rebuilt a stream from a hash capture" ||
    { grep -q "left out" "$TESTDIR/extract.err" && log "ok: --extract refuses a hash capture"; } ||
    fail_check "--extract: $(cat "$TESTDIR/extract.err")"
finish
