#!/usr/bin/env bash
# reject-source-compress.sh - the source compresses pages (capability
# "compress"), the destination does not expect them.  The stream does not
# announce it; --source-qmp gives the proxy the source's full capability
# set, and the gate rejects before the destination would have failed on the
# first compressed page ("Received an unexpected compressed page").
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
SRC_ARGS=(-M pc -m 128M -qmp "unix:$TESTDIR/src-proxy.qmp,server=on,wait=off")
SRC_CAPS="compress"
DST_ARGS=(-M pc -m 128M)
SRC2_ARGS=(-M pc -m 128M)
PROXY_EXTRA=(--source-qmp "unix:$TESTDIR/src-proxy.qmp")
PROXY2_EXTRA=()
reject_case capability-differs '"on"' '"off"'
