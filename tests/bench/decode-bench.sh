#!/bin/bash
# decode-bench.sh - how much decoding costs over just reading a stream.
# Makes a real multi-GiB stream with QEMU 7.2: the guest's RAM is a file
# backend filled with random bytes, so every page travels as a full PAGE
# record (4 KiB of payload), the case that costs a decoder the most bytes.
# Then, in one run, alternates `cat FILE >/dev/null` and `migdump FILE`
# (both from the page cache) and prints the medians and their ratio.
# usage: decode-bench.sh MIGDUMP [RAM-MiB (default 2048)] [ROUNDS (default 5)]
set -euo pipefail
migdump=$1 ram_mib=${2:-2048} rounds=${3:-5}
tmp=$(mktemp -d /var/tmp/migbench.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

echo "filling ${ram_mib} MiB of guest RAM with random bytes"
head -c "$((ram_mib * 1024 * 1024))" /dev/urandom >"$tmp/ram"
qemu-system-x86_64 -nodefaults -display none -accel tcg -S -M pc -m "${ram_mib}M" \
  -object memory-backend-file,id=mem,size="${ram_mib}M",mem-path="$tmp/ram",share=off \
  -machine memory-backend=mem -qmp unix:"$tmp/qmp",server=on,wait=off \
  -pidfile "$tmp/pid" -daemonize
pid=$(cat "$tmp/pid")
python3 "$(dirname "$0")/../qemu/qmp.py" "$tmp/qmp" migrate "{\"uri\": \"exec:cat > $tmp/stream\"}" >/dev/null
python3 "$(dirname "$0")/../qemu/qmp.py" wait-migration "$tmp/qmp" 600 >/dev/null
kill "$pid"; pid=""
rm -f "$tmp/ram"
size=$(stat -c %s "$tmp/stream")
echo "stream: $size bytes"
"$migdump" "$tmp/stream" | grep -E "^pages|^end"

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cat "$tmp/stream" >/dev/null   # warm the page cache once
: >"$tmp/cat.ns"; : >"$tmp/dec.ns"
for _ in $(seq "$rounds"); do
  t0=$(now); cat "$tmp/stream" >/dev/null; t1=$(now)
  "$migdump" --json "$tmp/stream" >/dev/null; t2=$(now)
  echo $((t1 - t0)) >>"$tmp/cat.ns"; echo $((t2 - t1)) >>"$tmp/dec.ns"
done
c=$(median <"$tmp/cat.ns"); d=$(median <"$tmp/dec.ns")
awk -v c="$c" -v d="$d" -v s="$size" 'BEGIN {
  printf "cat:     %.3f s  (%.0f MiB/s)\n", c / 1e9, s / c * 1e9 / 1048576
  printf "migdump: %.3f s  (%.0f MiB/s)\n", d / 1e9, s / d * 1e9 / 1048576
  printf "ratio decode/read: %.2f\n", d / c }'
