#!/usr/bin/env bash
# interop-qemu72-proxy-capture-check.sh - a capture as an input of `migproxy
# check` and `diff`: "would last night's migration have gone to that
# destination?"  A QEMU 7.2 guest with a qemu-xhci (p3=8) migrates through
# migproxy --capture-pages hash (accepted, the destination runs).  Then the
# capture, with no guest memory in it, is checked against a profile of a
# destination with p3=4 (device-layout on the xhci, as for the stream the
# destination received) and of one like the source (nothing against it);
# each report must equal the one on the received stream, finding for
# finding.  A capture cut short reads up to the cut and says so; a full
# capture reads like the stream too.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
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
