#!/usr/bin/env bash
# load-migrations.sh - one migproxy daemon serving many real migrations at
# once, each to its own destination (LOAD_MIGRATIONS pairs of QEMU 7.2,
# default 16; small guests: 32 MiB of RAM read from a file of random bytes,
# so that every stream carries 32 MiB of pages that must arrive intact).
# Checked: every migration completed on both sides and in the proxy's end
# event, the proxy passed on every byte it read (per channel), and each
# destination's guest memory is identical to its source's (pmemsave of the
# whole RAM on both, both VMs paused: the source after completion, the
# destination started with -S), so nothing was lost or altered.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
count=${LOAD_MIGRATIONS:-16}
ram_mb=32

random_guest "$TESTDIR/ram.img" "$ram_mb"
src_ram=("${RANDOM_SRC_RAM[@]}")
dst_ram=("${RANDOM_DST_RAM[@]}")

routes=()
for ((i = 1; i <= count; i++)); do
    dest_start "dst$i" -S "${dst_ram[@]}"
    routes+=(--listen tcp:127.0.0.1:0 --connect "tcp:127.0.0.1:$INCOMING_PORT"
             --dest-qmp "unix:$TESTDIR/dst$i-proxy.qmp")
    eval "port_dst$i=$INCOMING_PORT"
    # 4 MB/s: each migration lasts about 8 s, so that all of them overlap
    SRC_PARAMS='{"max-bandwidth": 4000000}' source_start "src$i" "${src_ram[@]}"
done
"$MIGPROXY" --events "$TESTDIR/proxy.events" --checksum "${routes[@]}" \
    >"$TESTDIR/proxy.out" 2>"$TESTDIR/proxy.err" &
PROXY_PID=$!
MIGTEST_PIDS+=("$PROXY_PID")
ev=$TESTDIR/proxy.events
for ((n = 0; n < 100; n++)); do
    [ "$(jq -s '[.[] | select(.event == "listening")] | length' "$ev" 2>/dev/null)" = "$count" ] &&
        break
    sleep 0.1
done
lp() { jq -rs ".[] | select(.event == \"listening\" and .connect == \"tcp:127.0.0.1:$1\") | .listen" \
       "$ev" | sed 's/.*://'; }

t0=$(date +%s)
for ((i = 1; i <= count; i++)); do
    p=$(eval echo "\$port_dst$i")
    lport=$(lp "$p")
    [ -n "$lport" ] || { cat "$TESTDIR/proxy.err" >&2; die "no route for dst$i"; }
    migrate "src$i" "$lport"
done
for ((i = 1; i <= count; i++)); do
    qmp_py wait-migration "src$i" 600 >"$TESTDIR/src$i.final" ||
        fail_check "src$i did not complete: $(cat "$TESTDIR/src$i.final")"
done
for ((n = 0; n < 300; n++)); do
    [ "$(jq -s '[.[] | select(.event == "end")] | length' "$ev")" = "$count" ] && break
    sleep 0.1
done
log "$count migrations through one daemon in $(( $(date +%s) - t0 )) s"
check_event_members "$ev"
check_eq "$count sessions, all completed" \
    "$(jq -s -c '[.[] | select(.event == "end") | .outcome] | unique' "$ev")" '["completed"]'
check_eq "$count end events" "$(jq -s '[.[] | select(.event == "end")] | length' "$ev")" "$count"
check_eq "every channel passed on every byte it read" \
    "$(jq -s '[.[] | select(.event == "end") | .channels[] |
        select(.bytes_from_source != .bytes_to_destination)] | length' "$ev")" 0
check_eq "the sessions overlap in time (the last starts before the first ends)" \
    "$(events "$ev" '([.[] | select(.event == "session") | .time] | max) <
                     ([.[] | select(.event == "end") | .time] | min)')" true
same=0
for ((i = 1; i <= count; i++)); do
    st=$(qmp "dst$i" query-migrate | jq -r .status)
    [ "$st" = completed ] || fail_check "dst$i's own query-migrate: $st"
    qmp "src$i" pmemsave "{\"val\": 0, \"size\": $((ram_mb << 20)), \"filename\": \"$TESTDIR/src$i.mem\"}" >/dev/null
    qmp "dst$i" pmemsave "{\"val\": 0, \"size\": $((ram_mb << 20)), \"filename\": \"$TESTDIR/dst$i.mem\"}" >/dev/null
    if cmp -s "$TESTDIR/src$i.mem" "$TESTDIR/dst$i.mem" && [ -s "$TESTDIR/src$i.mem" ]; then
        same=$((same + 1))
    else
        fail_check "guest memory of dst$i differs from src$i"
    fi
    rm -f "$TESTDIR/src$i.mem" "$TESTDIR/dst$i.mem"
done
check_eq "every destination's guest memory equals its source's" "$same" "$count"
kill -0 "$PROXY_PID" 2>/dev/null || fail_check "the daemon exited"
finish
