# offline-functions.sh - helpers for the migproxy diff/check tests; sources
# tests/devices/devices-functions.sh (and through it tests/qemu/functions.sh:
# temp dir, QEMU started and killed by its pid, QMP, check_eq).
. "$(dirname "${BASH_SOURCE[0]}")/../devices/devices-functions.sh"

# MIGPROXY unset: started by hand without a build, skip; set but not
# runnable: a broken build, fail.
require_migproxy() {
    [ -n "${MIGPROXY:-}" ] || skip "MIGPROXY not set (run through meson test)"
    [ -x "$MIGPROXY" ] || die "MIGPROXY=$MIGPROXY is not an executable"
}

# run_offline OUT CMD ARGS...: run `migproxy CMD ARGS...` with stdout in OUT
# and stderr in OUT.err; set RC to its exit status.
RC=0
run_offline() {
    local out=$1
    shift
    "$MIGPROXY" "$@" >"$out" 2>"$out.err"
    RC=$?
    if [ -s "$out.err" ]; then
        log "migproxy $1 stderr: $(cat "$out.err")"
    fi
}

# findings OUT: the "code subject" pairs of a --json report, sorted, one line.
findings() {
    jq -c '[.findings[] | "\(.code) \(.subject)"] | sort' "$1"
}

# save_config NAME ARGS...: start QEMU NAME with -S and ARGS, write its
# stream to $TESTDIR/NAME.mig, stop it.
save_config() {
    local name=$1
    shift
    qemu_start "$name" -S "$@"
    migrate_to_file "$name" "$TESTDIR/$name.mig"
    qemu_stop "$name"
}

# load_file NAME FILE: the waiting destination NAME (-incoming defer) loads
# FILE; wait (at most 30 s) for it to exit, as QEMU does when a load
# fails, then make sure it is gone.  Its log is $TESTDIR/NAME.log.
load_file() {
    local name=$1 file=$2 pid n
    # before the load: QEMU removes its pid file when it exits
    pid=$(cat "$TESTDIR/$name.pid")
    qmp "$name" migrate-incoming "{\"uri\":\"exec:cat $file\"}" >/dev/null ||
        die "$name: migrate-incoming failed"
    for ((n = 0; n < 300; n++)); do
        kill -0 "$pid" 2>/dev/null || break
        [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] && break
        sleep 0.1
    done
    kill_pid "$pid"
}
