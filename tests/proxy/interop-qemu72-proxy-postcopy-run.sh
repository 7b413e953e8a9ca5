#!/usr/bin/env bash
# interop-qemu72-proxy-postcopy-run.sh - a real postcopy migration through
# the proxy: postcopy-ram on both sides, a guest that keeps writing its RAM,
# the source slowed so that precopy is still running when the test calls
# migrate-start-postcopy.  The destination then runs the guest and may ask
# for pages on the return path (whether it does depends on timing, so the
# test does not require it); everything crosses the proxy untouched (the
# PACKAGED blob that switches to postcopy, the requests, the pages).
# Completed, bytes identical.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp
make_dirty_rom "$TESTDIR/dirty.rom"

dest_start_pc() {
    DEST_CAPS="postcopy-ram" dest_start dst -M pc -m 128M -option-rom "$TESTDIR/dirty.rom"
}
dest_start_pc
SRC_CAPS="postcopy-ram" SRC_PARAMS='{"max-bandwidth": 300000}' \
    source_start src -M pc -m 128M -option-rom "$TESTDIR/dirty.rom"
start_recorder "$TESTDIR/rec-dst" "$INCOMING_PORT"
rec_dst=$RECORDER_PID
proxy_start proxy --once --checksum --connect "tcp:127.0.0.1:$RECORDER_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp"
start_recorder "$TESTDIR/rec-src" "$PROXY_PORT"
rec_src=$RECORDER_PID
migrate src "$RECORDER_PORT"
qmp_py wait-migration src 30 --until active >/dev/null || die "the migration did not start"
sleep 1
qmp src migrate-start-postcopy >/dev/null || die "migrate-start-postcopy failed"
qmp_py wait-migration src 120 >"$TESTDIR/src.final" ||
    fail_check "the postcopy migration did not complete: $(cat "$TESTDIR/src.final")"
proxy_wait 60
RECORDER_PID=$rec_src RECORDER_DIR=$TESTDIR/rec-src wait_recorder 30
RECORDER_PID=$rec_dst RECORDER_DIR=$TESTDIR/rec-dst wait_recorder 30

EV=$TESTDIR/proxy.events
check_eq "proxy exit status 0" "$PROXY_STATUS" 0
check_eq "end: completed" "$(events "$EV" '[.[] | select(.event == "end") | .outcome]')" '["completed"]'
check_eq "destination runs" "$(qmp_py wait-status dst 20 running | jq -c .status)" '"running"'
compare_captures "$TESTDIR/rec-src" "$TESTDIR/rec-dst"
run_migdump "$TESTDIR/stream.json" "$TESTDIR/rec-dst/conn00.s2d"
check_eq "the stream carries the PACKAGED postcopy blob" \
    "$(jget "$TESTDIR/stream.json" '[.commands[].name] | index("packaged") != null')" true
finish
