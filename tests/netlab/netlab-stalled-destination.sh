#!/usr/bin/env bash
# netlab-stalled-destination.sh - the destination stops reading in the
# middle of RAM (its QEMU is stopped with SIGSTOP, in its own namespace
# behind the veth link): TCP's window closes, and the proxy must pass the
# stall back to the source instead of queueing the stream.  Checked: the
# source's transferred count stops growing (backpressure), the proxy's
# resident memory stays within its buffers (2 x 512 KiB per direction
# and connection, plus slack), and once the destination reads again the
# migration completes, nothing lost.  A destination that takes nothing
# for --stall-timeout (30 s) would be broken off (netlab-stalled-peer.sh
# tests the timeouts); this one is stopped for less, and TCP_USER_TIMEOUT
# must not end it either: it answers with a zero window.
. "$(dirname "$0")/lab.sh"
lab_require
lab_init
# The buffers on the path (socket buffers grown by autotuning at both ends
# of both legs, the proxy's own) held up to 20 MB when the destination
# stopped: with 32 MiB a source could finish its stream into them and
# never stall.  64 MiB leaves over 40 MB behind the stall.
LAB_RAM_MB=64
lab_midstream_start

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$PROXY_PID/status"; }
tx() { qmp src query-migrate | jq '.ram.transferred'; }
rss0=$(rss_kib)
tx0=$(tx)
kill -STOP "$DST_PID"
t0=$(now_ms)
# The socket buffers on the path (the destination's receive buffer, the
# proxy's two sockets, the source's send buffer) grow by autotuning and
# take a few seconds to fill; then the source must stall.  Stalled: no
# progress over one second.  If the proxy queued the stream instead, the
# source would go on at 4 MB/s to the end of its 33 MB.
stalled=""
prev=$(tx)
for ((n = 0; n < 20; n++)); do
    sleep 1
    cur=$(tx)
    if [ "$cur" = "$prev" ]; then
        stalled=$(( $(now_ms) - t0 ))
        break
    fi
    prev=$cur
done
rss1=$(rss_kib)
log "destination stopped: source stalled after ${stalled:-(never within 20 s)} ms,"     "$((prev - tx0)) bytes after the stop; proxy RSS ${rss0} -> ${rss1} KiB"
check_eq "backpressure: the source stalled within 20 s of the destination's stop"     "$( [ -n "$stalled" ] && echo 1 || echo 0)" 1
check_eq "the proxy's memory grew by under 4 MiB while the destination read nothing"     "$(( rss1 - rss0 < 4096 ))" 1
check_eq "the source's migration is still active, its VM running" \
    "$(qmp src query-migrate | jq -c .status)/$(qmp src query-status | jq -c .status)" \
    '"active"/"running"'
kill -CONT "$DST_PID"
qmp_py wait-migration src 90 >"$TESTDIR/src.final" ||
    fail_check "the migration did not complete after the destination resumed: $(jq -c .status "$TESTDIR/src.final")"
proxy_wait 30
check_eq "proxy exit status 0" "$PROXY_STATUS" 0
check_eq "end: completed, the destination says completed, all bytes passed" \
    "$(events "$EV" '[.[] | select(.event == "end") |
        {outcome, destination_status, all: (.bytes_to_destination == .channels[0].bytes_from_source)}]')" \
    '[{"outcome":"completed","destination_status":"completed","all":true}]'
check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
finish
