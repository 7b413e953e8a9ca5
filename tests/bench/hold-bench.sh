#!/usr/bin/env bash
# hold-bench.sh - the downtime that --hold-device-state adds: a guest that
# keeps writing to its RAM (proxy-bench.sh's fill ROM) migrated with
# max-bandwidth lifted and the return-path capability on both sides
# (so that the source's downtime lasts until the destination has loaded
# the device state, which is where a hold delays it), round by round in
# turn: directly, through migproxy, through migproxy --hold-device-state
# (the order rotated each round).
# Reports medians of the source's downtime and total time, their ratios,
# and the proxy's own measure of each hold (held_ms of the device-state
# event: first held byte to release).
#
# Usage: MIGPROXY=build/proxy/migproxy tests/bench/hold-bench.sh
# Environment: ROUNDS (3), RAM (256M).
# Not a test: it reports figures; exit 0 unless something broke.
# shellcheck source=/dev/null # followed, its final exit (not reached when sourced) hides the rest
PARTS="" . "$(dirname "$0")/proxy-bench.sh"

ROUNDS=${ROUNDS:-3}
RAM=${RAM:-256M}

: >"$TESTDIR/h.results"
modes=(direct proxy hold)
for ((round = 1; round <= ROUNDS; round++)); do
    # rotate the order each round, so that no mode always follows another
    for ((k = 0; k < 3; k++)); do
        mode=${modes[(k + round - 1) % 3]}
        DEST_CAPS=return-path guest_start dst "$RAM" incoming
        guest_start src "$RAM"
        set_caps src return-path
        set_params src '{"max-bandwidth": 1000000000000}'
        held=-
        case $mode in
        direct) migrate src "$INCOMING_PORT" ;;
        proxy) proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
                   --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
               migrate src "$PROXY_PORT" ;;
        hold) proxy_start proxy --once --hold-device-state \
                  --connect "tcp:127.0.0.1:$INCOMING_PORT" --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
              migrate src "$PROXY_PORT" ;;
        esac
        f=$TESTDIR/h-$round-$mode.json
        qmp_py wait-migration src 300 >"$f" || die "$mode round $round: $(cat "$f")"
        if [ "$mode" != direct ]; then
            proxy_wait 60
            [ "$PROXY_STATUS" = 0 ] || die "$mode round $round: proxy exit status $PROXY_STATUS"
        fi
        if [ "$mode" = hold ]; then
            held=$(jq -r 'select(.event == "device-state") | "\(.held_ms) \(.bytes_held)"' \
                   "$TESTDIR/proxy.events")
            [ -n "$held" ] || die "hold round $round: no device-state event"
        fi
        qmp_py wait-status dst 30 running >/dev/null || die "$mode: destination not running"
        jq -r --arg m "$mode" --arg h "$held" '"\($m) \(."total-time") \(.downtime) \($h)"' \
            "$f" >>"$TESTDIR/h.results"
        log "round $round $mode: $(tail -n1 "$TESTDIR/h.results")"
        qemu_stop src
        qemu_stop dst
    done
done
med() { awk -v m="$1" -v c="$2" '$1 == m {print $c}' "$TESTDIR/h.results" | median; }
td=$(med direct 2); tp=$(med proxy 2); th=$(med hold 2)
dd=$(med direct 3); dp=$(med proxy 3); dh=$(med hold 3)
hm=$(med hold 4); hb=$(med hold 5)
echo "$RAM guest writing its RAM, return-path, $ROUNDS rounds in turn, medians:"
echo "   downtime:   direct ${dd} ms, proxy ${dp} ms, proxy+hold ${dh} ms;" \
     "ratios proxy/direct $(ratio "$dp" "$dd"), hold/direct $(ratio "$dh" "$dd"), hold/proxy $(ratio "$dh" "$dp")"
echo "   total time: direct ${td} ms, proxy ${tp} ms, proxy+hold ${th} ms;" \
     "ratios proxy/direct $(ratio "$tp" "$td"), hold/direct $(ratio "$th" "$td")"
echo "   the hold (proxy's measure): ${hm} ms, ${hb} bytes held"
echo "   every round: $(tr '\n' ';' <"$TESTDIR/h.results")"
exit 0
