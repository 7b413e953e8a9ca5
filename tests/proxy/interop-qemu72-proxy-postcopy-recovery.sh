#!/usr/bin/env bash
# interop-qemu72-proxy-postcopy-recovery.sh LEG - postcopy recovery through
# migproxy.  A 32 MiB guest of random RAM migrates with postcopy-ram,
# slowly enough that postcopy is still sending pages when the proxy's
# socket on LEG (source or destination) is destroyed by the kernel
# (ss -K: a reset, as a network failure gives).  Both QEMUs must pause
# (postcopy-paused), the proxy must keep the session and say so; then the
# operator's recovery goes through the proxy: migrate-recover at the
# destination on the address migproxy connects to, migrate resume=true at
# the source to migproxy.  The proxy takes the new connection (commands,
# no header) as the paused session's recovery channel, reports the
# recovery handshake both ways, and the migration completes: destination
# running, its RAM equal to the source's.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool ss cmp
leg=${1:-}
case $leg in
source | destination) ;;
*) die "usage: $0 source|destination" ;;
esac

random_guest "$TESTDIR/ram.img" 32
DEST_CAPS="postcopy-ram" dest_start dst "${RANDOM_DST_RAM[@]}"
SRC_CAPS="postcopy-ram" SRC_PARAMS='{"max-bandwidth": 4000000, "max-postcopy-bandwidth": 2000000}' \
    source_start src "${RANDOM_SRC_RAM[@]}"
proxy_start proxy --once --dest-qmp "unix:$TESTDIR/dst-proxy.qmp" \
    --connect "tcp:127.0.0.1:$INCOMING_PORT"
EV=$TESTDIR/proxy.events

migrate src "$PROXY_PORT"
qmp_py wait-migration src 30 --until active >/dev/null || die "the migration did not start"
sleep 1
qmp src migrate-start-postcopy >/dev/null || die "migrate-start-postcopy failed"
qmp_py wait-migration src 30 --until postcopy-active >/dev/null || die "postcopy did not start"
sleep 1     # about 2 MB of the ~24 MB left cross in postcopy

# The proxy's own socket on that leg: local port = the proxy's on the
# source leg; peer port = the destination's on the other.
if [ "$leg" = source ]; then
    filter="sport = :$PROXY_PORT"
else
    filter="dport = :$INCOMING_PORT"
fi
killed=$(ss -t -n -K state established "( $filter )" 2>"$TESTDIR/ss.err" | grep -c "127\.0\.0\.1")
[ "$killed" -ge 1 ] || skip "ss -K destroyed no socket (kernel without INET_DIAG_DESTROY?): $(cat "$TESTDIR/ss.err")"

for ((n = 0; n < 100; n++)); do
    s=$(qmp src query-migrate | jq -r .status)
    d=$(qmp dst query-migrate | jq -r .status)
    [ "$s" = postcopy-paused ] && [ "$d" = postcopy-paused ] && break
    sleep 0.2
done
check_eq "both QEMUs paused after the reset on the $leg leg" "$s $d" "postcopy-paused postcopy-paused"
check_eq "the proxy kept the session: paused, broken off by the $leg side" \
    "$(events "$EV" '[.[] | select(.event == "paused") | .broke_off]')" "[\"$leg\"]"
check_eq "no end event while paused" "$(events "$EV" '[.[] | select(.event == "end")] | length')" 0

qmp dst migrate-recover "{\"uri\":\"tcp:127.0.0.1:$INCOMING_PORT\"}" >/dev/null ||
    die "migrate-recover failed"
qmp src migrate "{\"uri\":\"tcp:127.0.0.1:$PROXY_PORT\",\"resume\":true}" >/dev/null ||
    die "migrate resume=true failed"
qmp_py wait-migration src 120 >"$TESTDIR/src.final" ||
    fail_check "the recovered migration did not complete: $(cat "$TESTDIR/src.final")"
proxy_wait 60

check_eq "proxy exit status 0" "$PROXY_STATUS" 0
check_event_members "$EV"
check_eq "resumed once" \
    "$(events "$EV" '[.[] | select(.event == "resumed") | .recoveries]')" '[1]'
blocks=$(qmp dst human-monitor-command '{"command-line":"info ramblock"}' |
         jq -r . | awk 'NR > 1 && NF >= 5 {n++} END {print n}')
check_eq "the source asked for each RAM block's bitmap ($blocks blocks)" \
    "$(events "$EV" '[.[] | select(.event == "recovery" and .from == "source" and .message == "RECV_BITMAP")] | length')" \
    "$blocks"
check_eq "the destination sent each one back on the return path" \
    "$(events "$EV" '[.[] | select(.event == "recovery" and .from == "destination" and .message == "RECV_BITMAP")] | length')" \
    "$blocks"
check_jq "the guest RAM block 'mem' is among them" "$EV" \
    '[.[] | select(.event == "recovery" and .message == "RECV_BITMAP") | .block] | index("mem") != null' -s
check_eq "then POSTCOPY_RESUME and RESUME_ACK, once each, in that order" \
    "$(events "$EV" '[.[] | select(.event == "recovery" and (.message | test("RESUME"))) | .message]')" \
    '["POSTCOPY_RESUME","RESUME_ACK"]'
check_eq "end: completed, one recovery, the main and the recovery channel" \
    "$(events "$EV" '[.[] | select(.event == "end") | {outcome, recoveries, kinds: [.channels[].kind]}]')" \
    '[{"outcome":"completed","recoveries":1,"kinds":["main","recovery"]}]'
check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'

# The guest's RAM above the first MiB (SeaBIOS works below it) is the
# random image on both sides: every page crossed, before or after the cut.
check_ram_equal src dst 32 28
finish
