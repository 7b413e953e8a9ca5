#!/usr/bin/env bash
# reject-source-multifd-one-side.sh - multifd on the source only.  QEMU 7.2
# would have the destination take the multifd connections for something
# else; migproxy counts them and rejects before the destination is touched.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
SRC_ARGS=(-M pc -m 128M)
SRC_CAPS="multifd"
DST_ARGS=(-M pc -m 128M)
SRC2_ARGS=(-M pc -m 128M)
PROXY_EXTRA=()
reject_case multifd-one-side '"on"' '"off"'
