#!/usr/bin/env bash
# interop-qemu102-mapped-ram-multifd4-save.sh - a recorded QEMU 10.2
# migration to a file with mapped-ram and multifd: the 4 channels write
# pages straight into the file at their fixed offsets, so the stream looks
# like plain mapped-ram (no multifd packet, multifd not announced).
# migdump's offsets are checked against the file's own bytes and against
# the run's facts.json.
. "$(dirname "$0")/functions.sh"
require_migdump
migtest_init
unpack_case v10-mapped-ram-multifd4-save mapped-ram.bin
out=$TESTDIR/main.json
run_migdump "$out" "$CASE_DIR/mapped-ram.bin" || finish
check_mapped_ram_stream "$out" "$CASE_DIR/mapped-ram.bin"
finish
