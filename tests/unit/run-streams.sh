#!/bin/bash
# run-streams.sh - feeds real streams to test-streams: the QEMU 10.2
# references in tests/data (xz-compressed, unpacked here) and, with
# --qemu72, small streams that the local QEMU 7.2 writes right now
# (-M none, the smallest real stream, and a 64 MiB pc).
# usage: run-streams.sh TEST_STREAMS [--qemu72] [CHANNEL:FILE[.xz]]...
set -euo pipefail
bin=$1; shift
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Start a paused QEMU, migrate it to a file, wait (bounded) for the result.
save_stream() { # NAME QEMU-ARGS...
  local name=$1; shift
  qemu-system-x86_64 -nodefaults -display none -accel tcg -S "$@" \
    -qmp unix:"$tmp/$name.qmp",server=on,wait=off -pidfile "$tmp/$name.pid" -daemonize
  pids+=("$(cat "$tmp/$name.pid")")
  python3 - "$tmp/$name.qmp" "$tmp/$name.bin" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(30); s.connect(sys.argv[1])
f = s.makefile('rw')
def cmd(name, **args):
    f.write(json.dumps({"execute": name, "arguments": args}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if 'return' in r or 'error' in r:
            return r
f.readline(); cmd("qmp_capabilities")
r = cmd("migrate", uri="exec:cat > " + sys.argv[2])
assert 'return' in r, r
for _ in range(300):
    st = cmd("query-migrate")["return"].get("status")
    if st in ("completed", "failed"):
        break
    time.sleep(0.1)
if st != "completed":
    sys.exit("migration to file ended as %s" % st)
PY
  kill "$(cat "$tmp/$name.pid")"
}

args=()
for a in "$@"; do
  case $a in
  --qemu72)
    if ! command -v qemu-system-x86_64 >/dev/null; then echo "no QEMU"; exit 77; fi
    save_stream none -M none
    save_stream pc -M pc -m 64M
    args+=("main:$tmp/none.bin" "main:$tmp/pc.bin")
    ;;
  *.xz)
    chan=${a%%:*}; file=${a#*:}
    out="$tmp/$(basename "$(dirname "$file")")-$(basename "$file" .xz)"
    xz -dc "$file" > "$out"
    args+=("$chan:$out")
    ;;
  *) args+=("$a") ;;
  esac
done
"$bin" "${args[@]}"
