#!/usr/bin/env bash
# interop-qemu72-proxy-capture-check.sh - a capture as an input of `migproxy
# check` and `diff` ("would last night's migration have gone to that
# destination?") and of migdump's stream modes (--devices, --events,
# --compare-devices, --description) and of probe --sections-from.  A QEMU 7.2 guest with a qemu-xhci (p3=8) migrates through
# migproxy --capture-pages hash (accepted, the destination runs).  Then the
# capture, with no guest memory in it, is checked against a profile of a
# destination with p3=4 (device-layout on the xhci, as for the stream the
# destination received) and of one like the source (nothing against it);
# each report must equal the one on the received stream, finding for
# finding, and migdump must print for the capture what it prints for that
# stream.  A capture cut short reads up to the cut and says so; a full
# capture reads like the stream too.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_migdump
require_qemu_version 7.2
migtest_init

# shellcheck disable=SC2054 # the commas are QEMU's option syntax
BASE=(-M pc -m 64M)
SRC_ARGS=("${BASE[@]}" -device qemu-xhci,p3=8)
DST_ARGS=("${BASE[@]}" -device qemu-xhci,p3=8)
cap=$TESTDIR/hash.cap
PROXY_EXTRA=(--capture "$cap" --capture-pages hash)
accept_case 1
# the second migration below records into rec-dst again
mv "$TESTDIR/rec-dst" "$TESTDIR/rec-dst-hash"
mv "$TESTDIR/rec-src" "$TESTDIR/rec-src-hash"
stream=$TESTDIR/rec-dst-hash/conn00.s2d
qemu_stop src
qemu_stop dst

dest_start dst4 "${BASE[@]}" -device qemu-xhci,p3=4
sections_profile dst4 "$TESTDIR/p4.profile" "${BASE[@]}" -device qemu-xhci,p3=4
dest_start dst8 "${BASE[@]}" -device qemu-xhci,p3=8
sections_profile dst8 "$TESTDIR/p8.profile" "${BASE[@]}" -device qemu-xhci,p3=8

# run_check OUT ARGS...: migproxy ARGS into OUT (stderr OUT.err); RC
run_check() {
    local out=$1
    shift
    "$MIGPROXY" "$@" >"$out" 2>"$out.err"
    RC=$?
    [ -s "$out.err" ] && log "migproxy $1 stderr: $(cat "$out.err")"
    return 0
}
# findings_of OUT: the report's findings, everything in them
findings_of() {
    jq -c '[.findings[] | [.severity, .code, .subject, .message]]' "$1"
}

run_check "$TESTDIR/cap4.json" check --json "$cap" --dest-profile "$TESTDIR/p4.profile"
check_eq "check CAPTURE against p3=4: exit 1, device-layout on the xhci" \
    "$RC $(jq -c '[.findings[] | select(.severity != "info") | [.code, (.subject | sub("^[0-9a-f:.]*/"; ""))]]' "$TESTDIR/cap4.json")" \
    '1 [["device-layout","xhci"]]'
check_jq "the report says it read a hash capture's first session" "$TESTDIR/cap4.json" \
    '.file.capture_pages == "hash" and .file.capture_session == 1 and .file.kind == "stream"'
run_check "$TESTDIR/stream4.json" check --json "$stream" --dest-profile "$TESTDIR/p4.profile"
check_eq "the received stream gives the same findings, offsets and all" \
    "$RC $(findings_of "$TESTDIR/cap4.json")" "1 $(findings_of "$TESTDIR/stream4.json")"

run_check "$TESTDIR/cap8.json" check --json "$cap" --dest-profile "$TESTDIR/p8.profile"
check_eq "check CAPTURE against p3=8: exit 0, notes only" \
    "$RC $(jq -c '[.findings[] | select(.severity != "info")]' "$TESTDIR/cap8.json")" '0 []'
run_check "$TESTDIR/stream8.json" check --json "$stream" --dest-profile "$TESTDIR/p8.profile"
check_eq "the same as for the received stream" \
    "$(findings_of "$TESTDIR/cap8.json")" "$(findings_of "$TESTDIR/stream8.json")"

run_check "$TESTDIR/diff4.json" diff --json "$cap" "$TESTDIR/p4.profile"
check_eq "diff CAPTURE p3=4-profile: exit 1, one error: the ports array's length" \
    "$RC $(jq -c '[.findings[] | select(.severity == "error") | [.code, (.subject | sub("^[0-9a-f:.]*/"; ""))]]' "$TESTDIR/diff4.json")" \
    '1 [["device-field-length","xhci.xhci.ports"]]'
# the running source's CPU sends a subsection the paused reference did not
check_eq "and one warning: the subsection a paused reference cannot show" \
    "$(jq -c '[.findings[] | select(.severity == "warning") | [.code, .subject]]' "$TESTDIR/diff4.json")" \
    '[["subsection-not-shown","cpu:cpu/msr_smi_count"]]'
run_check "$TESTDIR/diffs.json" diff --json "$cap" "$stream"
check_eq "diff CAPTURE against the received stream: exit 0, no finding at all" \
    "$RC $(jq -c '.findings' "$TESTDIR/diffs.json")" '0 []'

# migdump reads the capture as that stream: device state is kept in full
# in every mode, page payloads read as zeros where only the structure counts
# migdump_of OUT ARGS...: migdump ARGS into OUT (stderr OUT.err); RC
migdump_of() {
    local out=$1
    shift
    "$MIGDUMP" "$@" >"$out" 2>"$out.err"
    RC=$?
}
migdump_of "$TESTDIR/dev-cap.json" --devices --json "$cap"
check_eq "migdump --devices CAPTURE: exit 0, the xhci decoded field by field" \
    "$RC $(jq -c '[to_entries[] | select(.key | test("xhci")) | .value.xhci | has("ports")]' \
           "$TESTDIR/dev-cap.json")" "0 [true]"
migdump_of "$TESTDIR/dev-stream.json" --devices --json "$stream"
check_eq "... every section and field as for the received stream" \
    "$(md5sum <"$TESTDIR/dev-cap.json")" "$(md5sum <"$TESTDIR/dev-stream.json")"
migdump_of "$TESTDIR/ev-cap.txt" --events "$cap"
check_eq "migdump --events CAPTURE: exit 0" "$RC" 0
migdump_of "$TESTDIR/ev-stream.txt" --events "$stream"
check_eq "... the received stream's $(wc -l <"$TESTDIR/ev-stream.txt") events, line for line" \
    "$(md5sum <"$TESTDIR/ev-cap.txt")" "$(md5sum <"$TESTDIR/ev-stream.txt")"
migdump_of "$TESTDIR/cmp.txt" --compare-devices "$cap" "$stream"
check_eq "migdump --compare-devices CAPTURE STREAM: exit 0, no finding" \
    "$RC $(tail -1 "$TESTDIR/cmp.txt")" "0 0 finding(s), 0 error(s)"
# a profile's layouts as the description, the profile indented as a
# person might save it (a file that starts with white space is a profile too)
{ printf '\n   '; cat "$TESTDIR/p8.profile"; } >"$TESTDIR/p8-indented.profile"
# (exit 1: the running source's CPU sends a subsection the paused reference
# the profile was made from did not)
migdump_of "$TESTDIR/desc-cap.json" --devices --json --description "$TESTDIR/p8-indented.profile" "$cap"
check_eq "--description an indented profile, CAPTURE: exit 1, only the CPU not decoded" \
    "$RC $(grep -c "cpu (5): .*no description of subsection 'cpu/msr_smi_count'" "$TESTDIR/desc-cap.json.err") $(jq -c '[to_entries[] | select(.key | test("xhci")) | .value.xhci | has("ports")]' "$TESTDIR/desc-cap.json")" \
    "1 1 [true]"
migdump_of "$TESTDIR/desc-stream.json" --devices --json --description "$TESTDIR/p8.profile" "$stream"
check_eq "... the same output as for the received stream" \
    "$RC $(md5sum <"$TESTDIR/desc-cap.json")" "1 $(md5sum <"$TESTDIR/desc-stream.json")"
migdump_of "$TESTDIR/desc-ref.json" --devices --json --description "$cap" "$stream"
check_eq "--description CAPTURE: its VMDESCRIPTION describes the stream" \
    "$RC $(jq -c '[to_entries[] | select(.key | test("xhci")) | .value.xhci | has("ports")]' \
           "$TESTDIR/desc-ref.json")" "0 [true]"
migdump_of "$TESTDIR/chan.txt" --events --channel return-path "$cap"
check_eq "--channel on a capture: exit 2, says how to see its other connections" \
    "$RC $(grep -c "see the others with migdump CAPTURE or --extract" "$TESTDIR/chan.txt.err")" "2 1"
migdump_of "$TESTDIR/prof.txt" "$TESTDIR/p8-indented.profile"
check_eq "migdump PROFILE: exit 2, a profile is not a stream" \
    "$RC $(grep -c "a profile, not a stream" "$TESTDIR/prof.txt.err")" "2 1"

# probe --sections-from a capture: the section list (and layouts) of the
# stream it holds, as probe gives from the received stream itself
probe_of() {
    local out=$1
    shift
    "$MIGPROXY" probe --qmp "unix:$TESTDIR/dst8-proxy.qmp" "$@" >"$out" 2>"$out.err"
    RC=$?
}
probe_of "$TESTDIR/probe-cap.profile" --sections-from "$cap"
check_eq "probe --sections-from CAPTURE: exit 0, the xhci's section listed" \
    "$RC $(jq -c '[.sections[] | select(.idstr | test("xhci")) | .instance]' "$TESTDIR/probe-cap.profile")" \
    "0 [0]"
probe_of "$TESTDIR/probe-stream.profile" --sections-from "$stream"
check_eq "... every section and layout as from the received stream" \
    "$(jq -cS '[.sections, .layouts]' "$TESTDIR/probe-cap.profile" | md5sum)" \
    "$(jq -cS '[.sections, .layouts]' "$TESTDIR/probe-stream.profile" | md5sum)"
probe_of "$TESTDIR/probe-prof.profile" --sections-from "$TESTDIR/p8.profile"
check_eq "probe --sections-from PROFILE: exit 2, says what it takes" \
    "$RC $(grep -c "a profile, not a stream: --sections-from takes a stream file or a capture" \
           "$TESTDIR/probe-prof.profile.err") $(wc -c <"$TESTDIR/probe-prof.profile")" "2 1 0"

# text output names the capture
run_check "$TESTDIR/cap4.txt" check "$cap" --dest-profile "$TESTDIR/p4.profile"
check_eq "text: the input line says capture, session and page mode" \
    "$(head -1 "$TESTDIR/cap4.txt" | grep -c "(capture, session 1, hash pages, stream, ")" 1

# cut short: the first half of the capture; the stream stops inside RAM
size=$(stat -c %s "$cap")
head -c $((size / 2)) "$cap" >"$TESTDIR/cut.cap"
run_check "$TESTDIR/cut.json" check --json "$TESTDIR/cut.cap" --dest-profile "$TESTDIR/p8.profile"
check_eq "a capture cut short: exit 2, nothing on stdout" "$RC $(wc -c <"$TESTDIR/cut.json")" "2 0"
check_eq "the message says where the stream ended and that the capture was cut" \
    "$(grep -Ec "truncated: input ended at offset [0-9]+ .*\(the capture is cut short: at byte [0-9]+: capture cut short inside a record" "$TESTDIR/cut.json.err")" 1
migdump_of "$TESTDIR/cut-dev.txt" --devices "$TESTDIR/cut.cap"
check_eq "migdump --devices on it: exit 1, the same reason" \
    "$RC $(grep -Ec "truncated: input ended at offset [0-9]+ .*\(the capture is cut short: at byte [0-9]+" "$TESTDIR/cut-dev.txt.err")" "1 1"

probe_of "$TESTDIR/probe-cut.profile" --sections-from "$TESTDIR/cut.cap"
check_eq "probe --sections-from it: exit 2, no profile, the same reason" \
    "$RC $(wc -c <"$TESTDIR/probe-cut.profile") $(grep -Ec "truncated: input ended at offset [0-9]+ .*\(the capture is cut short: at byte [0-9]+" "$TESTDIR/probe-cut.profile.err")" \
    "2 0 1"

# a full capture of the same migration reads like the stream too
qemu_stop dst8
PROXY_EXTRA=(--capture "$TESTDIR/full.cap" --capture-pages full)
accept_case 1
run_check "$TESTDIR/full4.json" check --json "$TESTDIR/full.cap" --dest-profile "$TESTDIR/p4.profile"
check_eq "full capture against p3=4: exit 1" "$RC" 1
run_check "$TESTDIR/fstream4.json" check --json "$TESTDIR/rec-dst/conn00.s2d" \
    --dest-profile "$TESTDIR/p4.profile"
check_eq "full capture: the received stream's findings" \
    "$(findings_of "$TESTDIR/full4.json")" "$(findings_of "$TESTDIR/fstream4.json")"
finish
