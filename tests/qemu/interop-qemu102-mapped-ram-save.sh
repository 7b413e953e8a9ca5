#!/usr/bin/env bash
# interop-qemu102-mapped-ram-save.sh - a recorded QEMU 10.2 migration to a
# file with mapped-ram (9.0+, announced in the configuration): each RAM
# block's pages sit at a fixed offset in the file instead of in page
# records.  migdump's offsets are checked against the file's own bytes and
# against the run's facts.json.
. "$(dirname "$0")/functions.sh"
require_migdump
migtest_init
unpack_case v10-mapped-ram-save mapped-ram.bin
out=$TESTDIR/main.json
run_migdump "$out" "$CASE_DIR/mapped-ram.bin" || finish
check_mapped_ram_stream "$out" "$CASE_DIR/mapped-ram.bin"
finish
