#!/usr/bin/env bash
# netlab-postcopy-recovery.sh LEG - postcopy recovery after a link cut, in
# the lab.  A 32 MiB guest of random RAM migrates with postcopy-ram
# through migproxy; while postcopy is still sending pages the link of LEG
# (source or destination) goes down.  The proxy sees its end lose carrier,
# keeps the session (paused, waiting for a recovery) and closes the other
# leg, whose QEMU pauses at once.  The QEMU behind the cut link sees only
# silence, so the operator pauses it (migrate-pause), as QEMU expects.
# Then the link comes back and the recovery goes through the proxy:
# migrate-recover at the destination on the address the proxy connects to,
# migrate resume=true at the source to the proxy.  The migration completes,
# the destination runs, and its RAM is the source's.
. "$(dirname "$0")/lab.sh"
lab_require
lab_init
leg=${1:-}
case $leg in
source) ns=$LAB_SRC; link=s-px; far=src ;;
destination) ns=$LAB_DST; link=d-px; far=dst ;;
*) die "usage: $0 source|destination" ;;
esac

lab_random_guest "$TESTDIR/ram.img"
DEST_CAPS="postcopy-ram" lab_dest_start dst "$LAB_DST_ADDR" "${LAB_DST_RAM[@]}"
SRC_CAPS="postcopy-ram" \
SRC_PARAMS="{\"max-bandwidth\": $LAB_SRC_BANDWIDTH, \"max-postcopy-bandwidth\": 2000000}" \
    lab_source_start src "${LAB_SRC_RAM[@]}"
lab_proxy_start proxy --once --connect "tcp:$LAB_DST_ADDR:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
EV=$TESTDIR/proxy.events
lab_migrate src "$LAB_PROXY_SADDR" "$PROXY_PORT"
qmp_py wait-migration src 30 --until active >/dev/null || die "the migration did not start"
sleep 1
qmp src migrate-start-postcopy >/dev/null || die "migrate-start-postcopy failed"
qmp_py wait-migration src 30 --until postcopy-active >/dev/null || die "postcopy did not start"
sleep 1

lab_netlab "$ns" link-down "$link"
if wait_event "$EV" '.event == "paused"' 10; then
    log "ok: the proxy paused the session: $(events "$EV" '.[] | select(.event == "paused") | {broke_off, error}')"
else
    fail_check "no paused event within 10 s of the cut"
fi
check_eq "no end event: the session waits for its recovery" \
    "$(events "$EV" '[.[] | select(.event == "end")] | length')" 0
# the QEMU behind the cut sees nothing: its operator pauses it
qmp "$far" migrate-pause >/dev/null || die "$far: migrate-pause failed"
for ((n = 0; n < 100; n++)); do
    s=$(qmp src query-migrate | jq -r .status)
    d=$(qmp dst query-migrate | jq -r .status)
    [ "$s" = postcopy-paused ] && [ "$d" = postcopy-paused ] && break
    sleep 0.2
done
check_eq "both QEMUs paused" "$s $d" "postcopy-paused postcopy-paused"

lab_netlab "$ns" link-up "$link"
qmp dst migrate-recover "{\"uri\":\"tcp:$LAB_DST_ADDR:$INCOMING_PORT\"}" >/dev/null ||
    die "migrate-recover failed"
qmp src migrate "{\"uri\":\"tcp:$LAB_PROXY_SADDR:$PROXY_PORT\",\"resume\":true}" >/dev/null ||
    die "migrate resume=true failed"
qmp_py wait-migration src 120 >"$TESTDIR/src.final" ||
    fail_check "the recovered migration did not complete: $(cat "$TESTDIR/src.final")"
proxy_wait 60
check_eq "proxy exit status 0" "$PROXY_STATUS" 0
check_eq "paused once, broken off on the $leg leg" \
    "$(events "$EV" '[.[] | select(.event == "paused") | .broke_off]')" "[\"$leg\"]"
check_eq "resumed once, the handshake seen both ways" \
    "$(events "$EV" '[([.[] | select(.event == "resumed")] | length),
                      ([.[] | select(.event == "recovery" and (.message | test("RESUME")))] | length)]')" \
    '[1,2]'
check_eq "end: completed after one recovery" \
    "$(events "$EV" '[.[] | select(.event == "end") | {outcome, recoveries}]')" \
    '[{"outcome":"completed","recoveries":1}]'
check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
check_ram_equal src dst "$LAB_RAM_MB" $((LAB_RAM_MB - 4))
finish
