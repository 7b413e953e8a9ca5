#!/usr/bin/env bash
# netlab-lossy-path.sh MODE LEG - a migration through the proxy completes
# over a long, lossy leg, LEG "source" or "destination": 25 ms each way
# (50 ms RTT) and 1% of the packets lost in both directions; MODE
# "reorder" also lets 25% of them be overtaken.  The impairment is the
# kernel's netem when it has it, else netlab-wan (lab_impair_leg says
# which).  The proxy's own TCP samples of its socket on that leg (the end
# event's tcp summary, --capture) must show an RTT of at least 40 ms, and
# the sender on that leg must have retransmitted: on the destination leg
# that is the proxy (the end event's retransmits), on the source leg the
# source's recorder (the src namespace's own TCP RetransSegs counter, in
# /proc/net/snmp; only that connection leaves the namespace).  Otherwise
# the impairment was not in the path and the test proved nothing.
# Recorders on both legs show the bytes are identical across the proxy;
# the proxy's counts and sha256 sums must be the captures'; the
# destination runs with the source's RAM.
. "$(dirname "$0")/lab.sh"
case ${1:-} in
    loss) reorder=0 ;;
    reorder) reorder=25 ;;
    *) die "usage: $0 loss|reorder source|destination" ;;
esac
leg=${2:-}
case $leg in
    source) sender_ns=$LAB_SRC ;;
    destination) sender_ns=$LAB_PROXY ;;
    *) die "usage: $0 loss|reorder source|destination" ;;
esac
lab_require
lab_init
DELAY_MS=25
LOSS_PERMILLE=10
lab_impair_leg "$leg" "$DELAY_MS" "$LOSS_PERMILLE" "$reorder"

lab_random_guest "$TESTDIR/ram.img"
# dst ns: QEMU on loopback, its recorder on the lab address in front of it.
lab_dest_start dst 127.0.0.1 "${LAB_DST_RAM[@]}"
lab_recorder "$LAB_DST" "$TESTDIR/rec-dst" "tcp:$LAB_DST_ADDR:0" "tcp:127.0.0.1:$INCOMING_PORT"
rec_dst=$RECORDER_PID
SRC_PARAMS="{\"max-bandwidth\": $LAB_SRC_BANDWIDTH}" lab_source_start src "${LAB_SRC_RAM[@]}"
lab_proxy_start proxy --once --checksum --connect "tcp:$LAB_DST_ADDR:$RECORDER_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp" \
    --capture "$TESTDIR/proxy.cap" --capture-pages none
# src ns: the source migrates to its recorder on loopback, which crosses
# the source leg to the proxy.
lab_recorder "$LAB_SRC" "$TESTDIR/rec-src" tcp:127.0.0.1:0 "tcp:$LAB_PROXY_SADDR:$PROXY_PORT"
rec_src=$RECORDER_PID
# snmp_retrans: TCP segments retransmitted so far in the namespace that
# sends across the leg.
snmp_retrans() {
    # shellcheck disable=SC2016  # awk's own $i
    ip netns exec "$sender_ns" awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 }
                                             else print $c["RetransSegs"] }' /proc/net/snmp
}
retrans0=$(snmp_retrans)
lab_migrate_recorded "$rec_src" "$rec_dst" 100
a=$(cat "$TESTDIR/rec-src"/conn*.s2d | wc -c)
check_ram_equal src dst "$LAB_RAM_MB" $((LAB_RAM_MB - 4))

# What the path did, as the proxy's sockets on that leg saw it.
tcp=$(events "$EV" "[.[] | select(.event == \"end\") | .tcp[] | select(.side == \"$leg\")]")
retrans=$(( $(snmp_retrans) - retrans0 ))
log "impairment $LAB_IMPAIRMENT on the $leg leg; migration $LAB_MIGRATION_MS ms for $a bytes;" \
    "the proxy's $leg sockets: $(jq -c '[.[] | {channel, samples, rtt_us, rtt_max_us, retransmits}]' <<<"$tcp");" \
    "segments retransmitted in $sender_ns: $retrans"
check_eq "the proxy sampled its $leg socket" \
    "$(jq 'length > 0 and all(.[]; .samples > 0)' <<<"$tcp")" true
# 40 ms: the 50 ms configured less room for the kernel's smoothing; a
# path without the delay gives a few ms at most here.
check_eq "the RTT the proxy measured on the $leg leg is at least 40 ms" \
    "$(jq 'map(.rtt_us) | min >= 40000' <<<"$tcp")" true
check_eq "the RTT stays sane (under 5 s)" "$(jq 'map(.rtt_max_us) | max < 5000000' <<<"$tcp")" true
# A clean path retransmits too, now and then (1 in a run without loss):
# 1% lost must show as at least 0.2% of the stream's segments resent.
min_retrans=$((a / 1448 / 500))
if [ "$leg" = destination ]; then
    check_eq "the loss made the proxy retransmit (at least $min_retrans segments)" \
        "$(jq --argjson m "$min_retrans" 'map(.retransmits) | add >= $m' <<<"$tcp")" true
fi
check_eq "the loss made the sender on the $leg leg retransmit (at least $min_retrans segments)" \
    "$(( retrans >= min_retrans ))" 1
if [ "$LAB_IMPAIRMENT" = userspace ]; then
    lab_wan_stop
    check_eq "netlab-wan lost packets on the way to the destination" \
        "$(( $(lab_wan_count 'a->b' lost) > 0 ))" 1
    if [ "$reorder" -gt 0 ]; then
        check_eq "netlab-wan let packets be overtaken" \
            "$(( $(lab_wan_count 'a->b' reordered) > 0 ))" 1
    fi
    check_eq "netlab-wan's queue never overflowed (the loss is the configured one)" \
        "$(lab_wan_count 'a->b' overflow)" 0
fi
finish
