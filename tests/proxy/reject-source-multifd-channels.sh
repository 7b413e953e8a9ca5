#!/usr/bin/env bash
# reject-source-multifd-channels.sh - multifd on both sides, 4 channels at
# the source and 2 at the destination: QEMU 7.2 stays silent (and may leave
# pages unloaded); migproxy counts the connections and rejects.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
SRC_ARGS=(-M pc -m 128M)
SRC_CAPS="multifd"
SRC_PARAMS='{"multifd-channels": 4, "max-bandwidth": 1000000}'
DEST_CAPS="multifd"
DEST_PARAMS='{"multifd-channels": 2}'
DST_ARGS=(-M pc -m 128M)
SRC2_ARGS=(-M pc -m 128M)
SRC2_CAPS="multifd"
SRC2_PARAMS='{"multifd-channels": 2}'
PROXY_EXTRA=()
reject_case multifd-channels '"4"' '"2"'
