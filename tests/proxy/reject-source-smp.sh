#!/usr/bin/env bash
# reject-source-smp.sh - "-smp 2" into "-smp 1".  The RAM-block lists agree
# and QEMU 7.2 would fail only at the end, on the second CPU's section,
# after all of RAM.  With --source-qmp migproxy compares the CPU counts at
# the gate and rejects before the destination is contacted.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
SRC_ARGS=(-M pc -m 128M -smp 2 -qmp "unix:$TESTDIR/src-proxy.qmp,server=on,wait=off")
DST_ARGS=(-M pc -m 128M -smp 1)
SRC2_ARGS=(-M pc -m 128M -smp 1)
PROXY_EXTRA=(--source-qmp "unix:$TESTDIR/src-proxy.qmp")
PROXY2_EXTRA=()
reject_case cpu-count '"2"' '"1"'
