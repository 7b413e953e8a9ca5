#!/usr/bin/env bash
# reject-dest-machine-type.sh - a q35 source towards a pc destination:
# rejected with both machine types; the destination then takes a pc source.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
SRC_ARGS=(-M q35 -m 128M)
DST_ARGS=(-M pc -m 128M)
SRC2_ARGS=(-M pc -m 128M)
PROXY_EXTRA=()
reject_case machine-type '"pc-q35-7.2"' '"pc-i440fx-7.2"'
