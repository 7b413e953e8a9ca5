#!/usr/bin/env bash
# netlab-reset-leg.sh LEG - one leg is reset in the middle of RAM, LEG
# "source" or "destination": inside the proxy's namespace the kernel
# destroys the proxy's socket on that leg (`ss -K`, sock_diag), as a
# middlebox or a crashed conntrack would: the proxy gets ECONNABORTED on
# that socket and the peer a RST, while both QEMUs keep running.  The
# proxy must close the other leg within one second, the source's
# migration fail with its VM running, the destination's load fail, and
# the events say which leg broke and where in the stream.
. "$(dirname "$0")/lab.sh"
leg=${1:-}
case $leg in
    source) peer=$LAB_SRC_ADDR ;;
    destination) peer=$LAB_DST_ADDR ;;
    *) die "usage: $0 source|destination" ;;
esac
lab_require
require_tool ss
lab_init
lab_midstream_start

# ss -K prints each socket it destroyed; none means this kernel lacks
# CONFIG_INET_DIAG_DESTROY (or the filter is wrong): no reset, no test.
killed=$(lab_ns "$LAB_PROXY" ss -t -n -K dst "$peer" 2>"$TESTDIR/ss.err" | grep -c "$peer")
t0=$(now_ms)
[ "$killed" -ge 1 ] || skip "ss -K destroyed no socket: $(cat "$TESTDIR/ss.err")"
log "reset the $leg leg ($killed socket(s) towards $peer destroyed)"
lab_check_broken_within_1s "$t0" reset "the broken $leg leg"
final=$(qmp_py wait-migration src 10 --until failed | jq -c .status)
log "source migration $final $(( $(now_ms) - t0 )) ms after the reset"
check_eq "the source's migration failed" "$final" '"failed"'
check_eq "the source VM keeps running" "$(qmp src query-status | jq -c .status)" '"running"'
if wait_gone "$DST_PID" 10; then
    log "ok: destination QEMU gone $(( $(now_ms) - t0 )) ms after the reset (its load failed)"
else
    fail_check "the destination QEMU still runs 10 s after the reset: $(qmp dst query-status | jq -c .status)"
fi
lab_check_failed_end "$leg"
finish
