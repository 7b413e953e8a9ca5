#!/usr/bin/env bash
# interop-qemu72-proxy-smp2.sh - accepted and completed through
# migproxy, bytes identical on every connection in both directions:
# two CPUs.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
require_tool sha256sum cmp
SRC_ARGS=(-M pc -m 128M -smp 2)
DST_ARGS=(-M pc -m 128M -smp 2)
SRC_CAPS=""
DEST_CAPS=""
PROXY_EXTRA=()
accept_case 1
check_eq "the destination has two CPUs" "$(qmp dst query-cpus-fast | jq length)" 2
finish
