#!/usr/bin/env bash
# load-dry-runs.sh - one daemon, many migrations in a row (LOAD_DRY_RUNS,
# default 1000), each a dry run: the start of a real QEMU 10.2 stream
# replayed by a stand-in source (peer.py), judged, closed.  What must
# hold: every one ends (an end event each, every connection closed by the
# proxy), and the daemon keeps nothing from them: the same number of open
# descriptors after as before, and its resident memory about the same
# (read from /proc/PID/fd and /proc/PID/status, after a warm-up that lets
# the allocator and the worker thread pool reach their steady size).
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
migtest_init
require_tool xz
PEER_PY="$(dirname "$0")/peer.py"
runs=${LOAD_DRY_RUNS:-1000}
warmup=200
stream=$(dirname "$0")/../data/qemu-10.2/v10-pc-switchover-ack/conn00.s2d.xz
# the whole stream (700 KB): the proxy judges its prefix, then closes
xz -dc "$stream" >"$TESTDIR/stream" || die "cannot unpack $stream"

# In a sanitizer build freed memory waits in ASan's quarantine (up to 256
# MiB), which the RSS check would take for a leak; LeakSanitizer checks
# at the proxy's exit instead (below).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
proxy_start proxy --dry-run --connect tcp:127.0.0.1:1 --settle-ms 0
ev=$TESTDIR/proxy.events
ends() { jq -s '[.[] | select(.event == "end")] | length' "$ev"; }
wait_ends() {
    local want=$1 n
    for ((n = 0; n < 300; n++)); do
        [ "$(ends)" -ge "$want" ] && return 0
        sleep 0.1
    done
    return 1
}
fds() { find "/proc/$PROXY_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$PROXY_PID/status"; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$PROXY_PID/status"; }

check_eq "warm-up: all closed" \
    "$("$PYTHON" "$PEER_PY" replay "127.0.0.1:$PROXY_PORT" "$TESTDIR/stream" "$warmup")" "$warmup"
wait_ends "$warmup" || die "the warm-up sessions did not end"
sleep 0.5
fd0=$(fds) rss0=$(rss_kib) th0=$(threads)
t0=$(date +%s)
closed=$("$PYTHON" "$PEER_PY" replay "127.0.0.1:$PROXY_PORT" "$TESTDIR/stream" "$runs")
wait_ends "$((warmup + runs))" || fail_check "not every session ended: $(ends) end events"
sleep 0.5
fd1=$(fds) rss1=$(rss_kib) th1=$(threads)
log "$runs dry runs in $(( $(date +%s) - t0 )) s; descriptors $fd0 -> $fd1," \
    "RSS $rss0 -> $rss1 KiB, threads $th0 -> $th1"
check_eq "every connection was closed by the proxy" "$closed" "$runs"
check_eq "an end event per session, each a rejected dry run" \
    "$(jq -s -c "[.[] | select(.event == \"end\") | {outcome, dry_run}] | unique" "$ev")" \
    '[{"dry_run":true,"outcome":"rejected"}]'
check_eq "no descriptor kept" "$fd1" "$fd0"
# Allocator noise is well under a MiB; a leak of even 1 KiB per session is more.
check_eq "resident memory grew by under 1 MiB" "$(( rss1 - rss0 < 1024 ))" 1
check_eq "the proxy still runs" "$(kill -0 "$PROXY_PID" 2>/dev/null && echo yes)" yes
# SIGTERM: the daemon frees everything and exits 0 (LeakSanitizer, when
# built in, makes it fail on a leak)
kill -TERM "$PROXY_PID"
proxy_wait 20
check_eq "the daemon exits cleanly on SIGTERM" "$PROXY_STATUS" 0
[ "$PROXY_STATUS" = 0 ] || tail -n 30 "$TESTDIR/proxy.err" >&2
finish
