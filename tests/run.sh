#!/bin/bash
# tests/run.sh - set up a Debian 12 machine and run every test of migproxy:
#   1. a warning-free (-Werror, optimized) build, with the suites that need
#      no QEMU: unit, streams, fuzz replay;
#   2. a build with AddressSanitizer and UndefinedBehaviorSanitizer running
#      the whole suite: those, and every test against real QEMU 7.2 (qemu,
#      proxy, devices, offline, access, load, netlab).  The real-QEMU tests
#      run once, in the build that also catches memory errors and leaks:
#      running them twice took CI past half an hour;
#   3. each libFuzzer harness for a short bounded run (clang).
# Installs what is missing with apt-get (run as root or with sudo).
# Ends with one line: "N passed, N failed, N skipped".  Exit status 0 only
# when nothing failed.
#   FUZZ_SECONDS   seconds per harness (default 20; 0 skips fuzzing)
#   SUITES         meson suites to run (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fuzz_seconds=${FUZZ_SECONDS:-20}

packages=(build-essential meson ninja-build pkg-config libglib2.0-dev
          libjson-glib-dev clang libclang-rt-14-dev qemu-system-x86
          qemu-system-arm qemu-system-misc python3 jq xz-utils socat
          libnl-3-dev libnl-route-3-dev iproute2 glib-networking gnutls-bin
          protobuf-c-compiler libprotobuf-c-dev libxxhash-dev librsvg2-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { echo "apt-get failed"; echo "0 passed, 1 failed"; exit 1; }
fi

passed=0 failed=0 skipped=0
suite_args=()
for s in ${SUITES:-}; do suite_args+=(--suite "$s"); done

# Count one meson build's results from its JSON log.
count_meson() {
  local counts
  counts=$(python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
  ) || counts="0 1 0"
  read -r p f s <<<"$counts"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

run_build() { # DIR SUITES MESON-OPTIONS...   (SUITES: "" for all, or "a b")
  local dir=$1 args=() s
  for s in $2; do args+=(--suite "$s"); done
  [ ${#suite_args[@]} -gt 0 ] && args=("${suite_args[@]}")
  shift 2
  echo "=== build $dir: $*"
  if ! { meson setup --wipe "$dir" "$@" >"$dir.setup.log" 2>&1 ||
         meson setup "$dir" "$@" >"$dir.setup.log" 2>&1; } ||
     ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
    cat "$dir.setup.log" "$dir.build.log" 2>/dev/null | tail -40
    echo "build $dir failed"
    failed=$((failed + 1))
    return
  fi
  meson test -C "$dir" --print-errorlogs --num-processes 2 "${args[@]}"
  count_meson "$dir"
}

run_build build-test "unit streams fuzz" --werror -Dbuildtype=debugoptimized
CC=gcc run_build build-sanitize "" --werror -Db_sanitize=address,undefined \
  -Db_lundef=false -Dbuildtype=debug

if [ "$fuzz_seconds" -gt 0 ]; then
  echo "=== libFuzzer: ${fuzz_seconds}s per harness"
  if CC=clang meson setup --wipe build-fuzz -Dfuzzing=true \
       -Db_sanitize=address,undefined -Db_lundef=false >build-fuzz.setup.log 2>&1 ||
     CC=clang meson setup build-fuzz -Dfuzzing=true \
       -Db_sanitize=address,undefined -Db_lundef=false >build-fuzz.setup.log 2>&1; then
    ninja -C build-fuzz >build-fuzz.build.log 2>&1 || { tail -30 build-fuzz.build.log; failed=$((failed + 1)); }
    for h in main return-path multifd preempt vmstate dump-vmstate profile policy diff capture session; do
      bin=build-fuzz/tests/fuzz/fuzz-$h
      [ -x "$bin" ] || bin=build-fuzz/tests/devices/fuzz-$h
      work=$(mktemp -d)
      cp tests/fuzz/corpus/$h/* "$work/"
      if [ -x "$bin" ] && timeout $((fuzz_seconds + 60)) "$bin" -max_total_time="$fuzz_seconds" \
           -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
           -artifact_prefix="$root/build-fuzz/crash-$h-" "$work" >"build-fuzz/$h.log" 2>&1; then
        echo "fuzz-$h: $(grep -m1 number_of_executed_units "build-fuzz/$h.log")"
        passed=$((passed + 1))
      else
        echo "fuzz-$h FAILED"; tail -30 "build-fuzz/$h.log"
        failed=$((failed + 1))
      fi
      rm -rf "$work"
    done
  else
    tail -20 build-fuzz.setup.log; failed=$((failed + 1))
  fi
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
