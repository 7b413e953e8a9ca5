#!/bin/bash
# demo.sh - the main job, end to end, on a Debian 12 machine: builds
# migproxy, then puts it between two small real QEMUs twice:
#   1. source and destination alike (pc, 128 MiB): the proxy decodes the
#      stream's prefix, checks it against the destination's facts (read
#      over QMP), accepts, and forwards the migration byte for byte;
#   2. a source with 256 MiB against a destination with 128 MiB: the proxy
#      rejects it before the destination is touched, says which field
#      differs with both values, and the waiting destination is unharmed.
# Installs what is missing with apt-get (run as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

packages=(build-essential meson ninja-build pkg-config libglib2.0-dev
          libjson-glib-dev protobuf-c-compiler libprotobuf-c-dev libxxhash-dev
          libnl-3-dev libnl-route-3-dev qemu-system-x86
          python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -d build-demo ] || meson setup build-demo >/dev/null
ninja -C build-demo >/dev/null
migproxy=$top/build-demo/proxy/migproxy
qmp="python3 $top/tests/qemu/qmp.py"

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# vm NAME ARGS...: a paused-free small guest with QMP at $tmp/NAME.qmp (and
# NAME-proxy.qmp for migproxy: a QMP socket serves one client at a time).
vm() {
  local name=$1; shift
  qemu-system-x86_64 -nodefaults -display none -accel tcg -M pc "$@" \
    -qmp unix:"$tmp/$name.qmp",server=on,wait=off \
    -qmp unix:"$tmp/$name-proxy.qmp",server=on,wait=off \
    -pidfile "$tmp/$name.pid" -daemonize
  pids+=("$(cat "$tmp/$name.pid")")
}

status() { $qmp "$tmp/$1.qmp" query-status | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }

# one_migration TITLE SOURCE-RAM DEST-RAM
one_migration() {
  local title=$1 src_ram=$2 dst_ram=$3 n=$4
  local dport pport
  dport=$(free_port); pport=$(free_port)
  echo
  echo "=== $title: source -m $src_ram, destination -m $dst_ram"
  vm "dst$n" -m "$dst_ram" -incoming "tcp:127.0.0.1:$dport"
  "$migproxy" --once --listen "tcp:127.0.0.1:$pport" --connect "tcp:127.0.0.1:$dport" \
    --dest-qmp "unix:$tmp/dst$n-proxy.qmp" --events "$tmp/events$n.jsonl" &
  local proxy=$!
  pids+=("$proxy")
  vm "src$n" -m "$src_ram"
  sleep 0.5
  $qmp "$tmp/src$n.qmp" migrate "{\"uri\": \"tcp:127.0.0.1:$pport\"}" >/dev/null
  $qmp wait-migration "$tmp/src$n.qmp" 60 --until completed,failed >/dev/null || true
  local rc=0
  for _ in $(seq 100); do kill -0 "$proxy" 2>/dev/null || break; sleep 0.1; done
  wait "$proxy" || rc=$?
  echo "--- migproxy exit status: $rc (0 forwarded and completed, 1 rejected)"
  echo "--- source: $(status "src$n"), destination: $(status "dst$n")"
  echo "--- events for programs ($tmp/events$n.jsonl):"
  grep -E '"event": ?"(finding|verdict|end)"' "$tmp/events$n.jsonl" | cut -c1-400
}

one_migration "compatible" 128M 128M 1
one_migration "incompatible" 256M 128M 2
