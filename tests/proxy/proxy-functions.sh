# proxy-functions.sh - helpers for the tests that put migproxy between two
# real QEMU 7.2 processes.  Builds on tests/qemu/functions.sh (QEMU start,
# QMP, recorders, cleanup by pid); source this file instead of that one.
#
# Environment: MIGPROXY, path of the migproxy binary (set by meson).

. "$(dirname "${BASH_SOURCE[0]}")/../qemu/functions.sh"

require_migproxy() {
    [ -n "${MIGPROXY:-}" ] || skip "MIGPROXY not set (run through meson test)"
    [ -x "$MIGPROXY" ] || die "MIGPROXY=$MIGPROXY is not an executable"
}

# dest_start NAME ARGS...: a destination waiting with -incoming defer on a
# kernel-picked loopback port (INCOMING_PORT), with a second QMP socket
# $TESTDIR/NAME-proxy.qmp for the proxy (a QMP socket serves one client at
# a time and the test keeps using the first).  DEST_CAPS (words) and
# DEST_PARAMS (JSON) are set before it starts listening.
DEST_CAPS=""
DEST_PARAMS=""
dest_start() {
    local name=$1
    shift
    qemu_start "$name" "$@" -incoming defer \
        -qmp "unix:$TESTDIR/$name-proxy.qmp,server=on,wait=off"
    # shellcheck disable=SC2086
    [ -n "$DEST_CAPS" ] && set_caps "$name" $DEST_CAPS
    [ -n "$DEST_PARAMS" ] && set_params "$name" "$DEST_PARAMS"
    start_incoming "$name"
}

# source_start NAME ARGS...: a source; SRC_CAPS and SRC_PARAMS as above.
SRC_CAPS=""
SRC_PARAMS=""
source_start() {
    local name=$1
    shift
    qemu_start "$name" "$@"
    # shellcheck disable=SC2086
    [ -n "$SRC_CAPS" ] && set_caps "$name" $SRC_CAPS
    [ -n "$SRC_PARAMS" ] && set_params "$name" "$SRC_PARAMS"
    return 0
}

# proxy_start NAME ARGS...: run migproxy with --listen tcp:127.0.0.1:0,
# events in $TESTDIR/NAME.events, stderr in $TESTDIR/NAME.err; set
# PROXY_PID and PROXY_PORT (read from the "listening" event).
PROXY_PID=""
PROXY_PORT=""
proxy_start() {
    local name=$1 n
    shift
    rm -f "$TESTDIR/$name.events"       # the proxy appends; a new run starts afresh
    "$MIGPROXY" --listen tcp:127.0.0.1:0 --events "$TESTDIR/$name.events" "$@" \
        >"$TESTDIR/$name.out" 2>"$TESTDIR/$name.err" &
    PROXY_PID=$!
    MIGTEST_PIDS+=("$PROXY_PID")
    PROXY_PORT=""
    for ((n = 0; n < 100; n++)); do
        PROXY_PORT=$(jq -r 'select(.event == "listening") | .listen' \
                     "$TESTDIR/$name.events" 2>/dev/null | head -n1 | sed 's/.*://')
        [ -n "$PROXY_PORT" ] && break
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$PROXY_PORT" ] || { cat "$TESTDIR/$name.err" >&2; die "migproxy did not start"; }
}

# proxy_wait TIMEOUT: wait (bounded) for a --once proxy to exit; set
# PROXY_STATUS to its exit status.
PROXY_STATUS=""
proxy_wait() {
    local timeout=$1 n
    for ((n = 0; n < timeout * 10; n++)); do
        kill -0 "$PROXY_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$PROXY_PID" 2>/dev/null && die "migproxy still running after ${timeout}s"
    wait "$PROXY_PID"
    PROXY_STATUS=$?
}

# migrate NAME PORT: start a migration of NAME to tcp:127.0.0.1:PORT.
migrate() {
    qmp "$1" migrate "{\"uri\":\"tcp:127.0.0.1:$2\"}" >/dev/null || die "$1: migrate failed"
}

# events FILE JQ-FILTER: the filter applied to every event line (slurped).
events() {
    jq -cs "$2" "$1"
}

# check_rejected EVENTS CODE SOURCE DEST: the session was rejected with a
# finding CODE carrying both values, the destination was never contacted.
check_rejected() {
    local ev=$1 code=$2 src=$3 dst=$4
    check_eq "finding $code with both values" \
        "$(events "$ev" "[.[] | select(.event == \"finding\" and .code == \"$code\") |
                         {severity, source, destination}] | first")" \
        "{\"severity\":\"error\",\"source\":$src,\"destination\":$dst}"
    check_eq "finding $code has a message and a hint" \
        "$(events "$ev" "[.[] | select(.event == \"finding\" and .code == \"$code\") |
                         (.message | length > 0) and (.hint | length > 0)] | first")" true
    check_eq "verdict reject, destination not contacted" \
        "$(events "$ev" '[.[] | select(.event == "verdict") | {verdict, destination_contacted}]')" \
        '[{"verdict":"reject","destination_contacted":false}]'
    check_eq "end: rejected, nothing sent to the destination" \
        "$(events "$ev" '[.[] | select(.event == "end") |
                         {outcome, bytes_to_destination, destination_contacted}]')" \
        '[{"outcome":"rejected","bytes_to_destination":0,"destination_contacted":false}]'
}

# check_event_members EVENTS: every line has event and session; findings,
# verdicts and ends have the members other programs rely on.
check_event_members() {
    local ev=$1
    check_eq "every event has event and session" \
        "$(events "$ev" 'all(.[]; has("event") and has("session"))')" true
    check_eq "findings have their members" \
        "$(events "$ev" '[.[] | select(.event == "finding")] |
            all(.[]; has("code") and has("severity") and has("subject") and has("source")
                and has("destination") and has("message") and has("hint")
                and (.severity | IN("error", "warning", "info")))')" true
    check_eq "ends have their members" \
        "$(events "$ev" '[.[] | select(.event == "end")] |
            all(.[]; (.outcome | IN("completed", "rejected", "failed"))
                and has("bytes_to_destination") and has("bytes_to_source"))')" true
}

# check_dest_accepts NAME SRCNAME PROXY-ARGS...: the destination NAME,
# after a rejection, still takes a correct migration from SRCNAME through
# a new proxy: completed on both sides, destination running.
check_dest_accepts() {
    local dst=$1 src=$2
    shift 2
    check_eq "destination still waits for a migration" \
        "$(qmp "$dst" query-status | jq -c .status)" '"inmigrate"'
    proxy_start proxy2 --once --connect "tcp:127.0.0.1:$INCOMING_PORT" "$@"
    migrate "$src" "$PROXY_PORT"
    qmp_py wait-migration "$src" 60 >"$TESTDIR/$src.final" ||
        fail_check "correct migration after the rejection: $(cat "$TESTDIR/$src.final")"
    proxy_wait 30
    check_eq "proxy exit status for the correct migration" "$PROXY_STATUS" 0
    check_eq "end: completed" \
        "$(events "$TESTDIR/proxy2.events" '[.[] | select(.event == "end") | .outcome]')" \
        '["completed"]'
    check_eq "destination runs after the correct migration" \
        "$(qmp_py wait-status "$dst" 20 running | jq -c .status)" '"running"'
}

# compare_captures A B: two recorder directories saw the same connections
# with identical bytes in both directions.
compare_captures() {
    local a=$1 b=$2 f name
    local na nb
    na=$(cd "$a" && ls conn*.s2d 2>/dev/null | wc -l)
    nb=$(cd "$b" && ls conn*.s2d 2>/dev/null | wc -l)
    check_eq "same number of connections on both sides of the proxy" "$nb" "$na"
    # The main channel must come first on both sides (QEMU 7.2 takes the
    # first connection as main), so conn00 is compared by position.
    for f in "$a"/conn00.*; do
        name=$(basename "$f")
        if cmp -s "$f" "$b/$name"; then
            log "ok: $name identical ($(stat -c %s "$f") bytes)"
        else
            fail_check "$name differs across the proxy ($(stat -c %s "$f") vs $(stat -c %s "$b/$name" 2>/dev/null) bytes)"
        fi
    done
    # Multifd channels carry their id in their first packet and may reach
    # the recorders in either order: compare them as a set of connections,
    # each the pair of what went each way.
    check_eq "the other connections, both directions, identical as a set" \
        "$(conn_digests "$b")" "$(conn_digests "$a")"
}

# conn_digests DIR: one sorted line per connection but conn00, with the
# sha256 of each direction.
conn_digests() {
    local f
    for f in "$1"/conn*.s2d; do
        [ "$(basename "$f")" = conn00.s2d ] && continue
        echo "$(sha256sum <"$f" | cut -c1-16) $(sha256sum <"${f%.s2d}.d2s" 2>/dev/null | cut -c1-16)"
    done | sort
}

# Without a return path QEMU 7.2's source calls a migration completed once
# its last byte is in the socket buffers, and an idle 128 MiB test guest's
# whole stream (under 2 MB) fits there before any gate can answer; its VM
# would then stay paused although nothing reached the destination.  A
# bandwidth cap gives the small guest the duration of a real one, so the
# tests can check that a rejected source keeps running.
SLOW_SOURCE='{"max-bandwidth": 1000000}'

# reject_case CODE SOURCE-VALUE DEST-VALUE: the common body of the
# reject-* tests.  Uses the arrays SRC_ARGS, DST_ARGS, SRC2_ARGS (the
# correct source that follows), PROXY_EXTRA (PROXY2_EXTRA, if set, for the
# second proxy), and SRC_CAPS/SRC_PARAMS,
# SRC2_CAPS/SRC2_PARAMS, DEST_CAPS/DEST_PARAMS.  The rejected source must
# fail cleanly and keep running; the destination, never contacted, must
# then complete the correct migration.
reject_case() {
    local code=$1 srcval=$2 dstval=$3 ev
    dest_start dst "${DST_ARGS[@]}"
    SRC_PARAMS=${SRC_PARAMS:-$SLOW_SOURCE} source_start src "${SRC_ARGS[@]}"
    proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
        --dest-qmp "unix:$TESTDIR/dst-proxy.qmp" "${PROXY_EXTRA[@]}"
    migrate src "$PROXY_PORT"
    proxy_wait 30
    ev=$TESTDIR/proxy.events
    check_eq "proxy exit status 1 (rejected)" "$PROXY_STATUS" 1
    check_event_members "$ev"
    check_rejected "$ev" "$code" "$srcval" "$dstval"
    check_eq "the source's migration failed" \
        "$(qmp_py wait-migration src 30 --until failed | jq -c .status)" '"failed"'
    check_eq "the source VM keeps running" "$(qmp src query-status | jq -c .status)" '"running"'
    grep -q "\[$code\]" "$TESTDIR/proxy.err" && log "ok: human line for $code on stderr" ||
        fail_check "no human line for $code on stderr"

    SRC_CAPS=${SRC2_CAPS:-} SRC_PARAMS=${SRC2_PARAMS:-} source_start src2 "${SRC2_ARGS[@]}"
    if declare -p PROXY2_EXTRA &>/dev/null; then
        check_dest_accepts dst src2 --dest-qmp "unix:$TESTDIR/dst-proxy.qmp" "${PROXY2_EXTRA[@]}"
    else
        check_dest_accepts dst src2 --dest-qmp "unix:$TESTDIR/dst-proxy.qmp" "${PROXY_EXTRA[@]}"
    fi
    finish
}

# accept_case CONNECTIONS: the common body of the accepted-migration tests.
# Uses SRC_ARGS, DST_ARGS (arrays), SRC_CAPS/SRC_PARAMS, DEST_CAPS/
# DEST_PARAMS and PROXY_EXTRA.  The source migrates through a recording
# relay, the proxy, and a second recording relay to the destination; the
# migration must complete on both QEMUs with the destination running, the
# two captures must be identical connection by connection and direction by
# direction, there must be CONNECTIONS of them, and the proxy's counts and
# sha256 sums must be those of the captures.  Sets EV to the events file.
EV=""
accept_case() {
    local conns=$1 rec_dst rec_src a b
    dest_start dst "${DST_ARGS[@]}"
    source_start src "${SRC_ARGS[@]}"
    start_recorder "$TESTDIR/rec-dst" "$INCOMING_PORT"
    rec_dst=$RECORDER_PID
    proxy_start proxy --once --checksum --connect "tcp:127.0.0.1:$RECORDER_PORT" \
        --dest-qmp "unix:$TESTDIR/dst-proxy.qmp" "${PROXY_EXTRA[@]}"
    start_recorder "$TESTDIR/rec-src" "$PROXY_PORT"
    rec_src=$RECORDER_PID
    migrate src "$RECORDER_PORT"
    qmp_py wait-migration src 120 >"$TESTDIR/src.final" ||
        fail_check "the source's migration did not complete: $(cat "$TESTDIR/src.final")"
    proxy_wait 60
    RECORDER_PID=$rec_src RECORDER_DIR=$TESTDIR/rec-src wait_recorder 30
    RECORDER_PID=$rec_dst RECORDER_DIR=$TESTDIR/rec-dst wait_recorder 30

    EV=$TESTDIR/proxy.events
    check_eq "proxy exit status 0" "$PROXY_STATUS" 0
    check_event_members "$EV"
    check_eq "verdict accept" "$(events "$EV" '[.[] | select(.event == "verdict") | .verdict]')" \
        '["accept"]'
    check_eq "end: completed, the destination says completed" \
        "$(events "$EV" '[.[] | select(.event == "end") | {outcome, destination_status}]')" \
        '[{"outcome":"completed","destination_status":"completed"}]'
    check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
    check_eq "the destination's own query-migrate" \
        "$(qmp dst query-migrate | jq -c .status)" '"completed"'
    compare_captures "$TESTDIR/rec-src" "$TESTDIR/rec-dst"
    check_eq "connections of this migration" \
        "$(ls "$TESTDIR/rec-src"/conn*.s2d | wc -l)" "$conns"
    check_eq "proxy's connections" \
        "$(events "$EV" '.[] | select(.event == "end") | .channels | length')" "$conns"
    b=$(cat "$TESTDIR/rec-src"/conn*.d2s | wc -c)
    check_eq "bytes_to_source = what the destination sent back" \
        "$(events "$EV" '.[] | select(.event == "end") | .bytes_to_source')" "$b"
    check_forwarded_sums "$EV" "$TESTDIR/rec-src"
}

# check_forwarded_sums EV REC: the proxy (run with --checksum) forwarded
# what the recording relay REC on the source's side saw: bytes to the
# destination and the sha256 of every connection and direction.
check_forwarded_sums() {
    local ev=$1 rec=$2 a
    a=$(cat "$rec"/conn*.s2d | wc -c)
    check_eq "bytes_to_destination = what the source sent on all connections" \
        "$(events "$ev" '.[] | select(.event == "end") | .bytes_to_destination')" "$a"
    check_eq "proxy's sha256 per connection and direction = the captures'" \
        "$(events "$ev" '[.[] | select(.event == "end") | .channels[] |
                         .sha256_to_destination, .sha256_to_source] | sort')" \
        "$(for f in "$rec"/conn*; do sha256sum <"$f" | cut -d' ' -f1; done |
           jq -R . | jq -cs 'sort')"
}

# kill_case WHO: the common body of the killed-peer tests.  A slowed source
# migrates through the proxy; once the gate has accepted and bytes flow,
# WHO (src or dst) is killed with SIGKILL.  The proxy must end the session
# within 5 s, exit 2, and say in its end event who broke off and in which
# section; sets EV.
kill_case() {
    local who=$1 n t0 t1 pid
    dest_start dst -M pc -m 128M
    SRC_PARAMS='{"max-bandwidth": 300000}' source_start src -M pc -m 128M
    proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
        --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
    EV=$TESTDIR/proxy.events
    migrate src "$PROXY_PORT"
    for ((n = 0; n < 100; n++)); do
        [ "$(events "$EV" '[.[] | select(.event == "verdict")] | length')" = 1 ] && break
        sleep 0.1
    done
    check_eq "verdict accept" "$(events "$EV" '[.[] | select(.event == "verdict") | .verdict]')" \
        '["accept"]'
    sleep 1.5                   # mid-stream: the whole stream takes about 3 s
    pid=$(cat "$TESTDIR/$who.pid")
    kill -KILL "$pid"
    t0=$(date +%s%N)
    proxy_wait 15
    t1=$(date +%s%N)
    check_eq "the proxy ended the session within 5 s of the kill" \
        "$(( (t1 - t0) / 1000000 < 5000 ))" 1
    check_eq "proxy exit status 2 (failed)" "$PROXY_STATUS" 2
    check_event_members "$EV"
    check_eq "end: failed, broken off by the killed side, with the section" \
        "$(events "$EV" '[.[] | select(.event == "end") |
                          {outcome, broke_off, section: (.last_section != null)}]')" \
        "[{\"outcome\":\"failed\",\"broke_off\":\"$( [ "$who" = src ] && echo source || echo destination)\",\"section\":true}]"
    check_eq "some bytes had reached the destination" \
        "$(events "$EV" '.[] | select(.event == "end") | .bytes_to_destination > 0')" true
}

# sections_profile DST PROFILE ARGS...: the profile of the waiting
# destination DST with its own section list: a paused QEMU (-S) with the
# destination's command line ARGS migrates to a file, and `migproxy probe
# --sections-from` reads that file (with --dest-vmstate $SECTIONS_DUMP when
# set).  The paused QEMU is stopped again.
SECTIONS_DUMP=""
sections_profile() {
    local dst=$1 profile=$2 cfg="${1}cfg"
    shift 2
    qemu_start "$cfg" "$@" -S
    qmp "$cfg" migrate "{\"uri\":\"exec:cat > $TESTDIR/$cfg.stream\"}" >/dev/null ||
        die "$cfg: migrate to a file failed"
    qmp_py wait-migration "$cfg" 60 >"$TESTDIR/$cfg.final" ||
        die "$cfg: migration to a file did not complete: $(cat "$TESTDIR/$cfg.final")"
    qemu_stop "$cfg"
    "$MIGPROXY" probe --qmp "unix:$TESTDIR/$dst-proxy.qmp" \
        --sections-from "$TESTDIR/$cfg.stream" ${SECTIONS_DUMP:+--dest-vmstate "$SECTIONS_DUMP"} \
        --output "$profile" || die "migproxy probe --sections-from failed"
}

# check_held_and_cut EVENTS SRC: a device-state hold ended in a cut on
# confirmed boundaries before the destination got the held bytes, the
# session ended "failed", broken off by the proxy, and the QEMU named SRC
# saw its migration fail while its VM keeps running.
check_held_and_cut() {
    local ev=$1 src=$2 from_end
    check_eq "rejected: the hold ended in a cut on confirmed boundaries" \
        "$(events "$ev" '[.[] | select(.event == "device-state") | {action, boundaries_confirmed}]')" \
        '[{"action":"cut","boundaries_confirmed":true}]'
    from_end=$(events "$ev" '[.[] | select(.event == "device-state") | .from_end][0]')
    check_eq "rejected: the destination got less than the stream up to the first held header's end" \
        "$(events "$ev" "[.[] | select(.event == \"end\") | .bytes_to_destination < $from_end][0]")" true
    check_eq "rejected: end failed, broken off by the proxy" \
        "$(events "$ev" '[.[] | select(.event == "end") | {outcome, broke_off}]')" \
        '[{"outcome":"failed","broke_off":"proxy"}]'
    check_eq "rejected: the source's migration failed" \
        "$(qmp_py wait-migration "$src" 30 --until failed | jq -c .status)" '"failed"'
    check_eq "rejected: the source VM keeps running" \
        "$(qmp_py wait-status "$src" 20 running | jq -c .status)" '"running"'
}

# check_dest_log_lacks LABEL DST PATTERN WHAT: the log of the destination
# QEMU named DST has no PATTERN, QEMU's error on loading WHAT: the proxy
# kept WHAT from it.  LABEL prefixes the messages.
check_dest_log_lacks() {
    local label=$1 dst=$2 pattern=$3 what=$4
    if grep -q "$pattern" "$TESTDIR/$dst.log"; then
        fail_check "${label}the destination saw $what: $(tail -3 "$TESTDIR/$dst.log")"
    else
        log "ok: ${label}the destination never saw $what"
    fi
}
