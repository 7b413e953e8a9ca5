#!/usr/bin/env bash
# devices-cli.sh - migdump's device modes as a user meets them, on a
# recorded QEMU 10.2 stream (no QEMU started): text output, usage errors
# (exit 2), a pipe where --devices needs a file, a truncated stream, and
# --compare-devices of a stream with itself.
. "$(dirname "$0")/devices-functions.sh"
require_migdump
migtest_init

unpack_case v10-pc-switchover-ack conn00.s2d
stream=$CASE_DIR/conn00.s2d

"$MIGDUMP" --devices "$stream" >"$TESTDIR/text" 2>"$TESTDIR/text.err"
check_eq "text: exit 0" "$?" 0
check_eq "text: a header line per section, the RAM block sizes, a closing count" \
    "$(grep -c '^[^ ].* ([0-9]*): instance [0-9]*, version [0-9]*' "$TESTDIR/text"),$(grep -c '^    pc.ram: 0x0000000004000000$' "$TESTDIR/text"),$(tail -1 "$TESTDIR/text")" \
    "31,1,30 device section(s) decoded field by field, 0 not"
check_eq "text: the CPU's registers as a list, nested structs indented" \
    "$(grep -c '^  env.regs: \[0x[0-9a-f]\{16\}\(, 0x[0-9a-f]\{16\}\)\{15\}\]$' "$TESTDIR/text"),$(grep -c '^  env.segs\[0\]:$' "$TESTDIR/text"),$(grep -c '^    selector: 0x[0-9a-f]\{8\}$' "$TESTDIR/text")" \
    "1,1,10"

for args in "--devices" "--devices --events $stream" "--devices --channel multifd $stream" \
            "--compare-devices $stream" "--devices --dest-vmstate x $stream" \
            "--devices --compare-devices $stream $stream" "--description $stream $stream" \
            "--devices --description $TESTDIR/nonexistent $stream"; do
    # shellcheck disable=SC2086
    "$MIGDUMP" $args >/dev/null 2>&1
    check_eq "usage error exits 2: migdump $args" "$?" 2
done
"$MIGDUMP" --devices - <"$stream" >/dev/null 2>&1
check_eq "--devices from a file on stdin works" "$?" 0
cat "$stream" | "$MIGDUMP" --devices - >/dev/null 2>"$TESTDIR/pipe.err"
check_eq "--devices from a pipe: exit 2" "$?" 2
check_eq "--devices from a pipe: says it needs a file" "$(grep -c 'give a file, not a pipe' "$TESTDIR/pipe.err")" 1
printf '{"migproxy_profile":1}' >"$TESTDIR/no-layouts.profile"
"$MIGDUMP" --devices --description "$TESTDIR/no-layouts.profile" "$stream" >/dev/null \
    2>"$TESTDIR/nolayouts.err"
check_eq "--description with a profile without layouts: exit 2, saying so" \
    "$?,$(grep -c 'has no device layouts' "$TESTDIR/nolayouts.err")" "2,1"
"$MIGDUMP" --compare-devices "$stream" "$TESTDIR/nonexistent" >/dev/null 2>&1
check_eq "--compare-devices with a missing file: exit 2" "$?" 2

head -c 400000 "$stream" >"$TESTDIR/cut"
"$MIGDUMP" --devices --json "$TESTDIR/cut" >"$TESTDIR/cut.json" 2>"$TESTDIR/cut.err"
check_eq "truncated stream: exit 1" "$?" 1
check_eq "truncated stream: says where it ends, and why no device is shown" \
    "$(grep -c '^migdump: .*/cut: offset [0-9]*: truncated: input ended at offset 400000' "$TESTDIR/cut.err"),$(grep -c 'did not decode to its end, where the VMDESCRIPTION' "$TESTDIR/cut.err")" "1,1"

"$MIGDUMP" --compare-devices "$stream" "$stream" >"$TESTDIR/self"
check_eq "a stream against itself: exit 0, no findings" "$?,$(tail -1 "$TESTDIR/self")" \
    "0,0 finding(s), 0 error(s)"
finish
