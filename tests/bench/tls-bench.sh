#!/usr/bin/env bash
# tls-bench.sh - what TLS through migproxy costs, as ratios against TLS
# direct, measured in the same run, alternating round by round:
#   direct       source (tls-creds) -> destination (tls-creds)
#   terminate    source -> migproxy --tls-creds-dir (decrypts, decodes,
#                gates, encrypts again) -> destination
#   passthrough  source -> migproxy --tls passthrough -> destination
# The guest's RAM starts as a file of random bytes (a private
# memory-backend-file), so every page is sent and encrypted: a TLS
# workload, not a stream of zero pages.  Figures: the source's total time
# and its transferred bytes per second (query-migrate), medians.
#
# Usage: MIGPROXY=build/proxy/migproxy tests/bench/tls-bench.sh
# Environment: ROUNDS (3), RAM (1G), MODES ("terminate passthrough").
# Not a test: it reports figures; exit 0 unless something broke.
. "$(dirname "$0")/../proxy/tls-functions.sh"

ROUNDS=${ROUNDS:-3}
RAM=${RAM:-1G}
MODES=${MODES:-"terminate passthrough"}
require_migproxy
require_qemu_version 7.2
migtest_init
QMP_WAIT=60
pki=$TESTDIR/pki
tls_make_creds "$pki" migproxy-bench localhost 127.0.0.1
head -c "$(numfmt --from=iec "$RAM")" /dev/urandom >"$TESTDIR/ram.img" || die "no RAM image"

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

one_round() {
    local mode=$1 round=$2 f port
    DEST_PARAMS='{"tls-creds":"tls0"}'
    # shellcheck disable=SC2046
    dest_start dst -M pc -m "$RAM" $(tls_dest_args "$pki")
    SRC_PARAMS='{"max-bandwidth": 1000000000000}'
    # the backend's id names the RAM block as the destination's plain -m does
    source_start src -M pc,memory-backend=pc.ram -m "$RAM" \
        -object "memory-backend-file,id=pc.ram,size=$RAM,mem-path=$TESTDIR/ram.img,share=off"
    tls_source src "$pki" localhost
    case $mode in
    direct) port=$INCOMING_PORT ;;
    terminate)
        proxy_start proxy --once --tls-creds-dir "$pki" --connect "tcp:127.0.0.1:$INCOMING_PORT" \
            --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
        port=$PROXY_PORT ;;
    passthrough)
        proxy_start proxy --once --tls passthrough --connect "tcp:127.0.0.1:$INCOMING_PORT" \
            --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
        port=$PROXY_PORT ;;
    esac
    migrate src "$port"
    f=$TESTDIR/$round-$mode.json
    qmp_py wait-migration src 600 >"$f" || die "$mode round $round: $(cat "$f")"
    [ "$mode" = direct ] || proxy_wait 60
    [ "$mode" = direct ] || [ "$PROXY_STATUS" = 0 ] || die "$mode round $round: proxy exit $PROXY_STATUS"
    qmp_py wait-status dst 30 running >/dev/null || die "$mode: destination not running"
    jq -r --arg m "$mode" '"\($m) \(."total-time") \(.ram.transferred)"' "$f" >>"$TESTDIR/results"
    log "round $round $mode: $(tail -n1 "$TESTDIR/results")"
    qemu_stop src
    qemu_stop dst
}

: >"$TESTDIR/results"
for ((round = 1; round <= ROUNDS; round++)); do
    for mode in direct $MODES; do
        one_round "$mode" "$round"
    done
done
td=$(awk '$1 == "direct" {print $2}' "$TESTDIR/results" | median)
bd=$(awk '$1 == "direct" {print $3}' "$TESTDIR/results" | median)
echo "TLS migration of a $RAM guest of random bytes, $ROUNDS rounds, medians:"
echo "   direct:      ${td} ms, $(awk -v b="$bd" -v t="$td" 'BEGIN {printf "%.0f", b / t / 1000}') MB/s"
for mode in $MODES; do
    t=$(awk -v m="$mode" '$1 == m {print $2}' "$TESTDIR/results" | median)
    b=$(awk -v m="$mode" '$1 == m {print $3}' "$TESTDIR/results" | median)
    echo "   $mode: ${t} ms, $(awk -v b="$b" -v t="$t" 'BEGIN {printf "%.0f", b / t / 1000}') MB/s," \
         "time ratio $mode/direct $(ratio "$t" "$td")"
done
exit 0
