#!/usr/bin/env bash
# reject-policy-machine-type.sh - both QEMUs agree, the operator's policy
# does not: only q35 machines may migrate, the source is pc.  The policy's
# finding names the machine and the allowed list; the destination, never
# contacted, then takes the same kind of source through a proxy without
# that policy.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init
printf '[policy]\nallowed-machine-types=pc-q35-*\nmax-ram=1G\n' >"$TESTDIR/policy.ini"
SRC_ARGS=(-M pc -m 128M)
DST_ARGS=(-M pc -m 128M)
SRC2_ARGS=(-M pc -m 128M)
PROXY_EXTRA=(--policy "$TESTDIR/policy.ini")
PROXY2_EXTRA=()
reject_case policy-machine-type '"pc-i440fx-7.2"' '"pc-q35-*"'
