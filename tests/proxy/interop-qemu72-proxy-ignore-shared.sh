#!/usr/bin/env bash
# interop-qemu72-proxy-ignore-shared.sh - x-ignore-shared on both sides,
# guest RAM in one shared memory-backend-file that both QEMUs map: the
# stream announces the capability, carries each block's address, and sends
# no page of the shared block.  Accepted, completed, bytes identical.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp truncate
truncate -s 128M "$TESTDIR/guest-ram" || die "cannot create the shared RAM file"
mem=(-object "memory-backend-file,id=mem,size=128M,mem-path=$TESTDIR/guest-ram,share=on")
SRC_ARGS=(-M pc,memory-backend=mem -m 128M "${mem[@]}")
DST_ARGS=(-M pc,memory-backend=mem -m 128M "${mem[@]}")
SRC_CAPS="x-ignore-shared"
DEST_CAPS="x-ignore-shared"
PROXY_EXTRA=()
accept_case 1
run_migdump "$TESTDIR/stream.json" "$TESTDIR/rec-dst/conn00.s2d"
check_eq "the stream announces x-ignore-shared" \
    "$(jget "$TESTDIR/stream.json" .capabilities)" '["x-ignore-shared"]'
check_eq "every RAM block carries its address" \
    "$(jget "$TESTDIR/stream.json" '[.ramblocks[] | .addr != null] | all')" true
check_eq "the shared block's 128 MiB did not cross: under 8 MiB sent" \
    "$(events "$EV" '.[] | select(.event == "end") | .bytes_to_destination < 8388608')" true
finish
