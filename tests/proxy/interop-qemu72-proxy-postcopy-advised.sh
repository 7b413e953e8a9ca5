#!/usr/bin/env bash
# interop-qemu72-proxy-postcopy-advised.sh - postcopy-ram on both sides:
# the source advises postcopy (a 16-byte POSTCOPY_ADVISE, which the gate
# checks against the destination's capability) and opens the return path;
# the migration completes in precopy.  Accepted, bytes identical.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp
SRC_ARGS=(-M pc -m 128M)
DST_ARGS=(-M pc -m 128M)
SRC_CAPS="postcopy-ram"
DEST_CAPS="postcopy-ram"
PROXY_EXTRA=()
accept_case 1
run_migdump "$TESTDIR/stream.json" "$TESTDIR/rec-dst/conn00.s2d"
check_eq "the stream opens the return path and advises postcopy" \
    "$(jget "$TESTDIR/stream.json" '[.commands[].name] | index("open-return-path") != null and index("postcopy-advise") != null')" true
check_eq "the return path ended with SHUT 0" \
    "$(events "$EV" '.[] | select(.event == "end") | .return_path_shut')" 0
finish
