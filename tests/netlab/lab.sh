# lab.sh - the network fault lab: three hosts as network namespaces (src,
# proxy, dst) joined by two veth links, real QEMU 7.2 at both ends and
# migproxy in the middle; source this file instead of proxy-functions.sh.
#
#   src ns                 proxy ns                       dst ns
#   s-px 10.77.1.1/24 <--> px-s 10.77.1.2/24
#                          px-d 10.77.2.1/24 <--> d-px 10.77.2.2/24
#
# Real links are what the loopback tests cannot give: a link that goes
# down resets nothing, and each end's kernel only sees silence.  Links go
# down and up, and rates are shaped with a tbf qdisc, by netlab (netlink,
# libnl-route); resets are the kernel's own (ss -K in the tests that use
# them).  The namespaces have no route to the outside and no default
# route: the lab's addresses exist only in them.
# Names carry the test's pid so that concurrent labs never collide.
#
# Cleanup: the EXIT trap deletes the namespaces, then functions.sh's
# cleanup kills every process by its pid (a namespace lives on until its
# last process is gone, so the order only matters for the names).
#
# Environment: NETLAB (path of the netlab tool), MIGPROXY, MIGDUMP (meson).

. "$(dirname "${BASH_SOURCE[0]}")/../proxy/proxy-functions.sh"

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_RECORD_PY="$LAB_DIR/lab-record.py"
LAB_SRC="mpl$$-src"
LAB_PROXY="mpl$$-proxy"
LAB_DST="mpl$$-dst"
LAB_SRC_ADDR=10.77.1.1
LAB_PROXY_SADDR=10.77.1.2     # the proxy on the source leg
LAB_PROXY_DADDR=10.77.2.1     # the proxy on the destination leg
LAB_DST_ADDR=10.77.2.2
LAB_NAMESPACES=()             # the ones this test created, to delete

# lab_require: root, the netlab tool, ip(8) (for `ip netns` only),
# migproxy and QEMU 7.2; skip otherwise (lab_init skips when the kernel
# refuses a namespace).
lab_require() {
    [ "$(id -u)" = 0 ] || skip "the lab needs root (network namespaces)"
    [ -n "${NETLAB:-}" ] || skip "NETLAB not set (run through meson test)"
    [ -x "$NETLAB" ] || die "NETLAB=$NETLAB is not an executable"
    require_tool ip
    require_migproxy
    require_qemu_version 7.2
}

lab_cleanup() {
    local status=$? ns
    for ns in "${LAB_NAMESPACES[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    (exit "$status")
    migtest_cleanup
}

# lab_ns NS CMD...: run CMD inside namespace NS.  `ip netns exec` execs
# CMD in place, so $! of a background lab_ns is CMD's own pid.
lab_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# lab_netlab NS ARGS...: the netlab tool inside NS; a refusal ends the test.
lab_netlab() {
    local ns=$1
    shift
    ip netns exec "$ns" "$NETLAB" "$@" || die "netlab $* in $ns failed"
}

# lab_init: temp dir, traps, the three namespaces and both links, up.
lab_init() {
    local ns
    migtest_init
    trap lab_cleanup EXIT
    for ns in "$LAB_SRC" "$LAB_PROXY" "$LAB_DST"; do
        ip netns add "$ns" 2>"$TESTDIR/netns.err" ||
            skip "cannot create a network namespace: $(cat "$TESTDIR/netns.err")"
        LAB_NAMESPACES+=("$ns")
        lab_netlab "$ns" link-up lo
    done
    lab_netlab "$LAB_SRC" veth s-px px-s "$LAB_PROXY"
    lab_netlab "$LAB_SRC" addr s-px "$LAB_SRC_ADDR/24"
    lab_netlab "$LAB_SRC" link-up s-px
    lab_netlab "$LAB_PROXY" addr px-s "$LAB_PROXY_SADDR/24"
    lab_netlab "$LAB_PROXY" link-up px-s
    lab_netlab "$LAB_PROXY" veth px-d d-px "$LAB_DST"
    lab_netlab "$LAB_PROXY" addr px-d "$LAB_PROXY_DADDR/24"
    lab_netlab "$LAB_PROXY" link-up px-d
    lab_netlab "$LAB_DST" addr d-px "$LAB_DST_ADDR/24"
    lab_netlab "$LAB_DST" link-up d-px
    log "lab: $LAB_SRC $LAB_SRC_ADDR <-> $LAB_PROXY_SADDR $LAB_PROXY $LAB_PROXY_DADDR <-> $LAB_DST_ADDR $LAB_DST"
}

# lab_qemu_start NS NAME ARGS...: qemu_start, inside namespace NS (QMP
# stays on a unix socket in $TESTDIR, reachable from the test's shell).
lab_qemu_start() {
    local ns=$1
    shift
    # qemu_start reads QEMU_PREFIX; a local array shadows the global one
    # shellcheck disable=SC2034
    local QEMU_PREFIX=(ip netns exec "$ns")
    qemu_start "$@"
}

# lab_dest_start NAME HOST ARGS...: a destination in the dst namespace,
# waiting on HOST (its lab address, or 127.0.0.1 behind a recorder) on a
# kernel-picked port (INCOMING_PORT); second QMP socket NAME-proxy.qmp
# for the proxy; DEST_CAPS as dest_start.
lab_dest_start() {
    local name=$1 host=$2
    shift 2
    lab_qemu_start "$LAB_DST" "$name" "$@" -incoming defer \
        -qmp "unix:$TESTDIR/$name-proxy.qmp,server=on,wait=off"
    # shellcheck disable=SC2086
    [ -n "$DEST_CAPS" ] && set_caps "$name" $DEST_CAPS
    qmp "$name" migrate-incoming "{\"uri\":\"tcp:$host:0\"}" >/dev/null ||
        die "$name: migrate-incoming failed"
    INCOMING_PORT=$(qmp "$name" query-migrate | jq -r '."socket-address"[0].port // empty')
    [ -n "$INCOMING_PORT" ] || die "$name: no listening port in query-migrate"
}

# lab_source_start NAME ARGS...: a source in the src namespace;
# SRC_CAPS and SRC_PARAMS as source_start.
lab_source_start() {
    local name=$1
    shift
    lab_qemu_start "$LAB_SRC" "$name" "$@"
    # shellcheck disable=SC2086
    [ -n "$SRC_CAPS" ] && set_caps "$name" $SRC_CAPS
    [ -n "$SRC_PARAMS" ] && set_params "$name" "$SRC_PARAMS"
    return 0
}

# lab_proxy_start NAME ARGS...: migproxy in the proxy namespace listening
# on its source-leg address (port picked by the kernel: PROXY_PORT), events
# in $TESTDIR/NAME.events; sets PROXY_PID.
lab_proxy_start() {
    local name=$1 n
    shift
    rm -f "$TESTDIR/$name.events"
    ip netns exec "$LAB_PROXY" "$MIGPROXY" --listen "tcp:$LAB_PROXY_SADDR:0" \
        --events "$TESTDIR/$name.events" "$@" \
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

# lab_recorder NS DIR LISTEN TARGET: record.py (through lab-record.py,
# which also admits the lab's addresses) inside NS; sets RECORDER_PID,
# RECORDER_DIR and RECORDER_PORT, for wait_recorder.
lab_recorder() {
    local ns=$1 dir=$2 listen=$3 target=$4 n
    mkdir -p "$dir"
    RECORDER_DIR=$dir
    ip netns exec "$ns" "$PYTHON" "$LAB_RECORD_PY" --listen "$listen" --target "$target" \
        --dir "$dir" --port-file "$dir/port" --idle 1 --max-time 120 \
        >"$dir/record.log" 2>&1 &
    RECORDER_PID=$!
    MIGTEST_PIDS+=("$RECORDER_PID")
    for ((n = 0; n < 100; n++)); do
        [ -s "$dir/port" ] && break
        kill -0 "$RECORDER_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -s "$dir/port" ] || { cat "$dir/record.log" >&2; die "lab-record.py did not start"; }
    RECORDER_PORT=$(cat "$dir/port")
}

# lab_migrate NAME HOST PORT: start NAME's migration to tcp:HOST:PORT.
lab_migrate() {
    qmp "$1" migrate "{\"uri\":\"tcp:$2:$3\"}" >/dev/null || die "$1: migrate failed"
}

# lab_migrate_recorded REC_SRC_PID REC_DST_PID TIMEOUT: the source "src"
# migrates to its recorder (RECORDER_PORT) through the proxy to the
# destination's recorder; wait for it (bounded), then check that it
# completed at both ends, the destination runs and every byte crossed
# unchanged (recordings, the proxy's counts and sums: --checksum).  Sets
# EV and LAB_MIGRATION_MS (from migrate to the proxy's exit).
lab_migrate_recorded() {
    local rec_src=$1 rec_dst=$2 timeout=$3 t0
    t0=$(now_ms)
    lab_migrate src 127.0.0.1 "$RECORDER_PORT"
    qmp_py wait-migration src "$timeout" >"$TESTDIR/src.final" ||
        fail_check "the source's migration did not complete: $(cat "$TESTDIR/src.final")"
    proxy_wait 60
    LAB_MIGRATION_MS=$(( $(now_ms) - t0 ))
    RECORDER_PID=$rec_src RECORDER_DIR=$TESTDIR/rec-src wait_recorder 30
    RECORDER_PID=$rec_dst RECORDER_DIR=$TESTDIR/rec-dst wait_recorder 30
    EV=$TESTDIR/proxy.events
    check_eq "proxy exit status 0" "$PROXY_STATUS" 0
    check_event_members "$EV"
    check_eq "end: completed, the destination says completed" \
        "$(events "$EV" '[.[] | select(.event == "end") | {outcome, destination_status}]')" \
        '[{"outcome":"completed","destination_status":"completed"}]'
    check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
    compare_captures "$TESTDIR/rec-src" "$TESTDIR/rec-dst"
    check_forwarded_sums "$EV" "$TESTDIR/rec-src"
}

# now_ms: a monotonic-enough wall clock in milliseconds for the timings.
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# wait_event FILE JQ-SELECT TIMEOUT: wait (bounded) until an event line
# matches the select expression; 0 when one did.
wait_event() {
    local file=$1 sel=$2 timeout=$3 end
    # A deadline, not a count of polls: each poll forks jq, whose time
    # on a loaded machine would stretch a counted loop well past TIMEOUT.
    end=$(( $(now_ms) + timeout * 1000 ))
    while [ "$(now_ms)" -lt "$end" ]; do
        [ "$(jq -cs "[.[] | select($sel)] | length" "$file" 2>/dev/null)" -gt 0 ] 2>/dev/null &&
            return 0
        sleep 0.05
    done
    return 1
}

# wait_gone PID TIMEOUT: wait (bounded) until PID has exited (or is a
# zombie); 0 when it has.
wait_gone() {
    local pid=$1 timeout=$2 end
    [ -n "$pid" ] || die "wait_gone: no pid"
    end=$(( $(now_ms) + timeout * 1000 ))
    while [ "$(now_ms)" -lt "$end" ]; do
        kill -0 "$pid" 2>/dev/null || return 0
        [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] && return 0
        sleep 0.05
    done
    return 1
}

# lab_check_broken_within_1s T0 FAULT WHAT: after a fault made at T0
# (now_ms) -- "kill", "cut", "reset" -- wait (10 s at most) for the
# proxy's broken event, and check it came within 1 s ("the proxy
# reported WHAT within 1 s").  Sets T_BROKEN, the delay (empty: none).
T_BROKEN=""
lab_check_broken_within_1s() {
    local t0=$1 fault=$2 what=$3
    if wait_event "$EV" '.event == "broken"' 10; then
        T_BROKEN=$(( $(now_ms) - t0 ))
        log "broken event ${T_BROKEN} ms after the $fault"
    else
        T_BROKEN=""
        log "no broken event within 10 s of the $fault"
    fi
    check_eq "the proxy reported $what within 1 s" \
        "$( [ -n "$T_BROKEN" ] && [ "$T_BROKEN" -le 1000 ] && echo 1 || echo 0)" 1
}

# lab_check_failed_end SIDE [TIMEOUT]: the proxy exits (TIMEOUT s at most,
# 15 by default) with status 2, and its events, whole, end the session
# "failed", broken off by SIDE ("source" or "destination"), naming the
# last section and its offset.
lab_check_failed_end() {
    local side=$1
    proxy_wait "${2:-15}"
    log "proxy exit status $PROXY_STATUS; end event: $(events "$EV" '.[] | select(.event == "end")')"
    check_eq "proxy exit status 2 (failed)" "$PROXY_STATUS" 2
    check_event_members "$EV"
    check_eq "end: failed, broken off by the $side, with the section and its offset" \
        "$(events "$EV" '[.[] | select(.event == "end") |
            {outcome, broke_off, section: (.last_section != null),
             offset: (.last_section_offset != null)}]')" \
        "[{\"outcome\":\"failed\",\"broke_off\":\"$side\",\"section\":true,\"offset\":true}]"
}

# The fault tests' guest: 32 MiB of RAM read from a file of random bytes
# (a private mapping, so the file is never written), sent at 4 MB/s by the
# source's max-bandwidth.  An idle guest's RAM is zero pages and its whole
# stream (under 1 MB) fits in the proxy's buffers and the socket buffers:
# the source would finish "sending" while the fault holds the bytes, and a
# test meant for the middle of RAM would test the end of the stream.
# 32 MiB of incompressible pages last about 8 s and outgrow every buffer
# on the path (2 x 512 KiB in the proxy, a few MiB per socket).
LAB_RAM_MB=32
LAB_SRC_BANDWIDTH=4000000

# lab_random_guest FILE: fill FILE with random RAM (in the temp dir);
# sets LAB_SRC_RAM and LAB_DST_RAM, the arrays of QEMU options for the
# source (RAM from FILE) and the destination (RAM of the same block name).
LAB_SRC_RAM=()
LAB_DST_RAM=()
lab_random_guest() {
    random_guest "$1" "$LAB_RAM_MB"
    LAB_SRC_RAM=("${RANDOM_SRC_RAM[@]}")
    LAB_DST_RAM=("${RANDOM_DST_RAM[@]}")
}

# LAB_PROXY_ARGS: more migproxy options for lab_pair_start (e.g. timeouts).
LAB_PROXY_ARGS=()

# lab_pair_start: the random guest above as a source in the src
# namespace, a destination for it in the dst namespace, and migproxy
# (--once, --dest-qmp) between them; nothing migrates yet.  Sets EV, and
# SRC_PID and DST_PID (read now: QEMU deletes its pid file when it exits).
# shellcheck disable=SC2034  # SRC_PID, DST_PID: for the tests
lab_pair_start() {
    lab_random_guest "$TESTDIR/ram.img"
    lab_dest_start dst "$LAB_DST_ADDR" "${LAB_DST_RAM[@]}"
    DST_PID=$(cat "$TESTDIR/dst.pid")
    SRC_PARAMS="{\"max-bandwidth\": $LAB_SRC_BANDWIDTH}" lab_source_start src "${LAB_SRC_RAM[@]}"
    SRC_PID=$(cat "$TESTDIR/src.pid")
    lab_proxy_start proxy --once --connect "tcp:$LAB_DST_ADDR:$INCOMING_PORT" \
        --dest-qmp "unix:$TESTDIR/dst-proxy.qmp" "${LAB_PROXY_ARGS[@]}"
    EV=$TESTDIR/proxy.events
}

# lab_midstream_start: the common start of the fault tests: lab_pair_start,
# then the migration, through the proxy; returns once the gate accepted
# and 2 s of RAM (about 8 MB) have flowed.
lab_midstream_start() {
    lab_pair_start
    lab_migrate src "$LAB_PROXY_SADDR" "$PROXY_PORT"
    wait_event "$EV" '.event == "verdict"' 10 || die "no verdict 10 s after the migration started"
    check_eq "verdict accept" "$(events "$EV" '[.[] | select(.event == "verdict") | .verdict]')" \
        '["accept"]'
    sleep 2
    check_eq "the migration is still active when the fault comes" \
        "$(qmp src query-migrate | jq -c .status)" '"active"'
    log "fault at $(qmp src query-migrate | jq -c '.ram | {transferred, remaining}')"
}

# lab_impair_leg LEG DELAY_MS LOSS_PERMILLE REORDER_PCT: a long, lossy
# path on LEG (source or destination), both directions: DELAY_MS one way
# (the RTT is twice that), LOSS_PERMILLE of the packets lost, REORDER_PCT
# of them overtaken.  With the kernel's netem (`netlab netem` on both
# ends of the veth) when it has it; otherwise (netlab exits 3) the veth is
# deleted and netlab-wan becomes the link: a TUN device of the same name
# and address at each end, the packets carried in userspace (the lab's
# addresses do not change, so nothing else in the test does).  Sets
# LAB_IMPAIRMENT (netem or userspace) and, for userspace, LAB_WAN_PID and
# LAB_WAN_OUT (its counts, written when it gets SIGTERM: lab_wan_stop).
LAB_IMPAIRMENT=""
LAB_WAN_PID=""
LAB_WAN_OUT=""
lab_impair_leg() {
    local leg=$1 delay=$2 loss=$3 reorder=$4 ns_a if_a addr_a ns_b if_b addr_b rc n
    case $leg in
    source) ns_a=$LAB_SRC if_a=s-px addr_a=$LAB_SRC_ADDR
            ns_b=$LAB_PROXY if_b=px-s addr_b=$LAB_PROXY_SADDR ;;
    destination) ns_a=$LAB_PROXY if_a=px-d addr_a=$LAB_PROXY_DADDR
                 ns_b=$LAB_DST if_b=d-px addr_b=$LAB_DST_ADDR ;;
    *) die "lab_impair_leg: no leg '$leg'" ;;
    esac
    ip netns exec "$ns_a" "$NETLAB" netem "$if_a" "$delay" "$loss" "$reorder" \
        2>"$TESTDIR/netem.err"
    rc=$?
    if [ "$rc" = 0 ]; then
        lab_netlab "$ns_b" netem "$if_b" "$delay" "$loss" "$reorder"
        LAB_IMPAIRMENT=netem
    elif [ "$rc" = 3 ]; then
        log "netem: $(cat "$TESTDIR/netem.err")"
        if [ -z "${NETLAB_WAN:-}" ] || [ ! -x "$NETLAB_WAN" ]; then
            die "no netem here and NETLAB_WAN='${NETLAB_WAN:-}' is not an executable"
        fi
        lab_netlab "$ns_a" del "$if_a"      # the veth, with its peer
        LAB_WAN_OUT=$TESTDIR/wan.out
        "$NETLAB_WAN" "$ns_a" "$if_a" "$ns_b" "$if_b" "$delay" "$loss" "$reorder" \
            "${LAB_WAN_SEED:-1}" "$TESTDIR/wan.ready" >"$LAB_WAN_OUT" 2>"$TESTDIR/wan.err" &
        LAB_WAN_PID=$!
        MIGTEST_PIDS+=("$LAB_WAN_PID")
        for ((n = 0; n < 50; n++)); do
            [ -s "$TESTDIR/wan.ready" ] && break
            kill -0 "$LAB_WAN_PID" 2>/dev/null || break
            sleep 0.1
        done
        [ -s "$TESTDIR/wan.ready" ] || die "netlab-wan did not start: $(cat "$TESTDIR/wan.err")"
        lab_netlab "$ns_a" addr "$if_a" "$addr_a/24"
        lab_netlab "$ns_a" link-up "$if_a"
        lab_netlab "$ns_b" addr "$if_b" "$addr_b/24"
        lab_netlab "$ns_b" link-up "$if_b"
        LAB_IMPAIRMENT=userspace
    else
        die "netlab netem failed ($rc): $(cat "$TESTDIR/netem.err")"
    fi
    log "impairment: $LAB_IMPAIRMENT on the $leg leg: ${delay} ms each way," \
        "$loss/1000 lost, $reorder% reordered"
}

# lab_wan_stop: stop netlab-wan (SIGTERM) and wait for its counts.
lab_wan_stop() {
    [ -n "$LAB_WAN_PID" ] || return 0
    kill_pid "$LAB_WAN_PID"
    LAB_WAN_PID=""
    log "netlab-wan: $(tr '\n' ';' <"$LAB_WAN_OUT")"
    [ -s "$TESTDIR/wan.err" ] && log "netlab-wan said: $(cat "$TESTDIR/wan.err")"
    return 0
}

# lab_wan_count DIRECTION FIELD: one of netlab-wan's counts ("a->b" is
# from the leg's source side to its destination side).
lab_wan_count() {
    awk -v d="$1" -v f="$2" '$1 == d { for (i = 2; i < NF; i += 2) if ($i == f) print $(i + 1) }' \
        "$LAB_WAN_OUT"
}
