#!/usr/bin/env bash
# access-limits.sh CASE - who may connect and how much the daemon takes,
# with stand-in peers (peer.py), no QEMU.  Every refusal must come with a
# "refused" event (listen, peer, reason) and a line on stderr, and a
# refused peer must never reach the destination (a stand-in that logs
# every connection it accepts).  CASE:
#   allow         --allow ranges without loopback: a loopback source is
#                 refused before it is read; with 127.0.0.0/8 allowed the
#                 same source starts a session
#   max-pending   --max-pending 1: a second connection while one is silent
#   max-sessions  --max-sessions 1: a second migration while one is held
#   max-channels  --max-channels 1: a multifd connection for a session
#                 that already has its main one
#   max-prefix    --max-prefix-bytes 100: the start of a real stream (its
#                 prefix is 211 bytes) sent 50 bytes at a time is judged
#                 undecodable at 100 bytes; with the default limit the
#                 same bytes make a whole prefix (dry runs, no destination)
#   unix-socket   --socket-mode/--socket-owner/--socket-group on a unix
#                 listen socket (root only)
#   user          --user nobody: root dropped after binding, the listen
#                 socket still served (root only)
. "$(dirname "$0")/proxy-functions.sh"
case=${1:-}
require_migproxy
migtest_init
PEER_PY="$(dirname "$0")/peer.py"
HEADER=5145564d00000003     # QEVM, version 3: a main channel's first bytes
MULTIFD=11223344            # the multifd channel's magic

# a destination that only logs the connections it gets
"$PYTHON" "$PEER_PY" listen "$TESTDIR/dst.port" "$TESTDIR/dst.log" 60 &
MIGTEST_PIDS+=("$!")
for ((n = 0; n < 50; n++)); do [ -s "$TESTDIR/dst.port" ] && break; sleep 0.1; done
[ -s "$TESTDIR/dst.port" ] || die "the stand-in destination did not start"
DST="tcp:127.0.0.1:$(cat "$TESTDIR/dst.port")"
: >"$TESTDIR/dst.log"

# send NAME HEX SECONDS: a stand-in source in the background; its result
# ("closed MS" or "open") lands in $TESTDIR/NAME.out
send() {
    "$PYTHON" "$PEER_PY" send "127.0.0.1:$PROXY_PORT" "$2" "$3" >"$TESTDIR/$1.out" 2>&1 &
    MIGTEST_PIDS+=("$!")
}
# wait_out NAME: until NAME's result is there (bounded)
wait_out() {
    local n
    for ((n = 0; n < 200; n++)); do [ -s "$TESTDIR/$1.out" ] && return 0; sleep 0.1; done
    return 1
}
refused() {
    events "$TESTDIR/proxy.events" "[.[] | select(.event == \"refused\") | $1]"
}
# check_refused REASON-SUBSTRING: one refused event with the peer and that reason,
# and the same on stderr; nothing reached the destination
check_refused() {
    check_eq "one refused event with the loopback peer and the reason" \
        "$(refused "{peer: (.peer | startswith(\"127.0.0.1:\")), reason: (.reason | contains(\"$1\"))}")" \
        '[{"peer":true,"reason":true}]'
    check_eq "stderr says it" "$(grep -c "refused 127.0.0.1:.*$1" "$TESTDIR/proxy.err")" 1
    check_eq "the destination got no connection" "$(wc -l <"$TESTDIR/dst.log")" 0
}
sessions() {
    events "$TESTDIR/proxy.events" '[.[] | select(.event == "session")] | length'
}

case $case in
allow)
    proxy_start proxy --allow 192.0.2.0/24 --allow 2001:db8::/32 --connect "$DST" \
        --prefix-timeout 2
    send refused "$HEADER" 10
    wait_out refused || die "the refused source got no answer"
    log "refused source: $(cat "$TESTDIR/refused.out")"
    check_eq "the refused source was closed" "$(cut -d' ' -f1 "$TESTDIR/refused.out")" closed
    check_refused "not in --allow"
    check_eq "no session started" "$(sessions)" 0
    kill_pid "$PROXY_PID"
    # the control: the same source, allowed, starts a session
    proxy_start proxy --allow 192.0.2.0/24 --allow 127.0.0.0/8 --connect "$DST" \
        --prefix-timeout 2
    send allowed "$HEADER" 10
    wait_out allowed || die "the allowed source got no answer"
    check_eq "allowed: a session started" "$(sessions)" 1
    check_eq "allowed: nothing refused" "$(refused .peer)" '[]'
    ;;
max-pending)
    proxy_start proxy --max-pending 1 --connect "$DST" --prefix-timeout 3
    send silent "" 10
    sleep 0.5
    send second "$HEADER" 10
    wait_out second || die "the second source got no answer"
    check_eq "the second connection was closed" "$(cut -d' ' -f1 "$TESTDIR/second.out")" closed
    check_refused "--max-pending"
    check_eq "no session started" "$(sessions)" 0
    ;;
max-sessions)
    proxy_start proxy --max-sessions 1 --connect "$DST" --prefix-timeout 3
    send first "$HEADER" 10
    for ((n = 0; n < 50; n++)); do [ "$(sessions)" = 1 ] && break; sleep 0.1; done
    send second "$HEADER" 10
    wait_out second || die "the second source got no answer"
    check_eq "the second migration was closed" "$(cut -d' ' -f1 "$TESTDIR/second.out")" closed
    check_refused "--max-sessions"
    check_eq "one session" "$(sessions)" 1
    ;;
max-channels)
    proxy_start proxy --max-channels 1 --connect "$DST" --prefix-timeout 3
    send main "$HEADER" 10
    for ((n = 0; n < 50; n++)); do [ "$(sessions)" = 1 ] && break; sleep 0.1; done
    send multifd "$MULTIFD" 10
    wait_out multifd || die "the multifd connection got no answer"
    check_eq "the multifd connection was closed" "$(cut -d' ' -f1 "$TESTDIR/multifd.out")" closed
    check_refused "--max-channels"
    check_eq "no channel joined" \
        "$(events "$TESTDIR/proxy.events" '[.[] | select(.event == "channel")] | length')" 0
    ;;
max-prefix)
    require_tool xz
    xz -dc "$(dirname "$0")/../data/qemu-10.2/v10-pc-switchover-ack/conn00.s2d.xz" \
        >"$TESTDIR/stream" || die "cannot unpack the stream"
    # limit (empty: the default) -> the stream-undecodable finding's source text
    prefix_case() {
        rm -f "$TESTDIR/proxy.events"
        proxy_start proxy --once --dry-run --connect "$DST" ${1:+--max-prefix-bytes "$1"}
        "$PYTHON" "$PEER_PY" trickle "127.0.0.1:$PROXY_PORT" "$TESTDIR/stream" 400 50 \
            >"$TESTDIR/trickle.out" 2>&1
        proxy_wait 20
        events "$TESTDIR/proxy.events" \
            '[.[] | select(.event == "finding" and .code == "stream-undecodable") | .source]'
    }
    check_eq "limit 100: judged undecodable at the limit" "$(prefix_case 100)" \
        '["no end of the setup sections within the first 100 bytes"]'
    check_eq "default limit: the whole prefix decoded" "$(prefix_case "")" '[]'
    check_eq "the destination got no connection (dry runs)" "$(wc -l <"$TESTDIR/dst.log")" 0
    ;;
unix-socket)
    [ "$(id -u)" = 0 ] || skip "chown needs root"
    proxy_start proxy --connect "$DST" --listen "unix:$TESTDIR/px.sock" --connect "$DST" \
        --socket-mode 0640 --socket-owner nobody --socket-group nogroup
    check_eq "mode, owner and group of the unix listen socket" \
        "$(stat -c '%a %U %G' "$TESTDIR/px.sock")" "640 nobody nogroup"
    check_eq "the tcp listen address is served as well" \
        "$(events "$TESTDIR/proxy.events" '[.[] | select(.event == "listening")] | length')" 2
    ;;
user)
    [ "$(id -u)" = 0 ] || skip "dropping root needs root"
    chmod 755 "$TESTDIR"
    proxy_start proxy --user nobody --connect "$DST" --prefix-timeout 2
    uid=$(id -u nobody)
    check_eq "real, effective, saved and fs uid are nobody's" \
        "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$PROXY_PID/status")" \
        "$uid $uid $uid $uid"
    check_eq "no supplementary group of root's" \
        "$(awk '/^Groups:/ { for (i = 2; i <= NF; i++) if ($i == 0) print "root" }' \
            "/proc/$PROXY_PID/status")" ""
    send after "$HEADER" 10
    wait_out after || die "the source got no answer"
    check_eq "the listen socket still serves: a session started" "$(sessions)" 1
    ;;
*)
    die "usage: $0 allow|max-pending|max-sessions|max-channels|max-prefix|unix-socket|user"
    ;;
esac
check_event_members "$TESTDIR/proxy.events"
finish
