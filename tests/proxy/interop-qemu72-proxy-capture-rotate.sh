#!/usr/bin/env bash
# interop-qemu72-proxy-capture-rotate.sh - a real migration (QEMU 7.2 "pc",
# 32 MiB of random RAM, so the stream is about 33 MB) through migproxy
# --capture with --capture-max-size 8 MiB: the capture rotates several
# times.  What stays on disk must be two whole captures (FILE.1 and FILE),
# each readable on its own, with consecutive part numbers, each within the
# cap plus one record; the migration itself is untouched.  --extract on
# the newest file must not pass off the stream's tail as a whole stream:
# it names the rotation and writes nothing for that direction.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_migdump
require_qemu_version 7.2
migtest_init
require_tool cmp
random_guest "$TESTDIR/ram" 32
SRC_ARGS=("${RANDOM_SRC_RAM[@]}")
DST_ARGS=("${RANDOM_DST_RAM[@]}")
cap=$TESTDIR/rot.cap
max=$((8 << 20))
PROXY_EXTRA=(--capture "$cap" --capture-pages full --capture-max-size "$max")
accept_case 1

[ -s "$cap" ] && [ -s "$cap.1" ] || fail_check "expected $cap and $cap.1 after rotation"
for f in "$cap.1" "$cap"; do
    n=$(stat -c %s "$f")
    # a record is at most one 512 KiB chunk and its framing
    [ "$n" -le $((max + (1 << 20))) ] && log "ok: $(basename "$f"): $n bytes, cap $max" ||
        fail_check "$(basename "$f") holds $n bytes, over the cap $max"
    "$MIGDUMP" --json "$f" >"$f.json" 2>"$f.err" ||
        fail_check "migdump --json $(basename "$f") failed: $(cat "$f.err")"
done
p1=$(jq '.part' "$cap.1.json")
p0=$(jq '.part' "$cap.json")
log "parts on disk: $p1 and $p0"
[ "$p1" -ge 1 ] && [ "$p0" -eq $((p1 + 1)) ] && log "ok: consecutive parts after at least two rotations" ||
    fail_check "parts $p1 and $p0: expected consecutive, the older >= 1"
check_eq "the newest part ends with the session's outcome" \
    "$(jq -c '[.sessions[] | .outcome]' "$cap.json")" '["completed"]'

"$MIGDUMP" --extract "$TESTDIR/x" "$cap" >"$TESTDIR/x.out" 2>"$TESTDIR/x.err"
status=$?
check_eq "--extract on a rotated part: exit status 1" "$status" 1
grep -q "earlier file\|rotated" "$TESTDIR/x.err" && log "ok: $(head -1 "$TESTDIR/x.err")" ||
    fail_check "--extract did not name the rotation: $(cat "$TESTDIR/x.err")"
[ ! -e "$TESTDIR/x/s1-conn00.s2d" ] && log "ok: no partial stream written" ||
    fail_check "--extract wrote the stream's tail as if it were whole"
finish
