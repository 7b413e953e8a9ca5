#!/usr/bin/env bash
# offline-cli.sh - migproxy diff and check on inputs that are not what they
# should be: garbage, an empty file, a truncated stream, a broken or foreign
# JSON file, a directory, a capture of garbage or of a version to come, a
# missing or unreadable file, and wrong usage.
# Each must exit 2 with one line that names the file and, for a stream,
# the offset where reading stopped; none may crash.  No QEMU: the valid
# stream is the recorded 10.2 mapped-ram file.
. "$(dirname "$0")/offline-functions.sh"
require_migproxy
migtest_init
unpack_case v10-mapped-ram-save mapped-ram.bin
good=$CASE_DIR/mapped-ram.bin
T=$TESTDIR

# random after a fixed first byte: a '{' would make it a (broken) profile
{ printf '\211'; head -c 4096 /dev/urandom; } >"$T/garbage"
{ printf '  \n\211'; head -c 4096 /dev/urandom; } >"$T/garbage-space"
printf 'QEVM' >"$T/garbage-magic"; head -c 4092 /dev/urandom >>"$T/garbage-magic"
: >"$T/empty"
head -c 1000000 "$good" >"$T/truncated"
printf '{ "migproxy_profile": 1, ' >"$T/broken.json"
printf '{ "hello": "world" }\n' >"$T/foreign.json"
mkdir "$T/capture"
# a capture's magic and version, then random bytes; one of a version to come
{ printf 'MIGPCAP\032\0\0\0\001'; head -c 4096 /dev/urandom; } >"$T/garbage.cap"
{ printf 'MIGPCAP\032\0\0\0\011'; head -c 64 /dev/urandom; } >"$T/future.cap"

# expect_error NAME PATTERN ARGS...: migproxy ARGS exits 2, says nothing on
# stdout, and its stderr matches the extended regex PATTERN.
expect_error() {
    local name=$1 pattern=$2 out=$T/$1.out
    shift 2
    run_offline "$out" "$@"
    check_eq "$name: exit 2" "$RC" 2
    check_eq "$name: nothing on stdout" "$(wc -c <"$out")" 0
    if grep -Eq -- "$pattern" "$out.err"; then
        log "ok: $name: stderr matches '$pattern'"
    else
        fail_check "$name: stderr '$(cat "$out.err")' does not match '$pattern'"
    fi
}

expect_error garbage "^migproxy diff: $T/garbage: not a stream .*offset 0: .*magic" \
    diff "$T/garbage" "$good"
expect_error garbage-b "^migproxy diff: $T/garbage: not a stream .*offset 0: " \
    diff "$good" "$T/garbage"
expect_error garbage-after-space "^migproxy diff: $T/garbage-space: not a stream .*offset 0: .*magic" \
    diff "$T/garbage-space" "$good"
expect_error garbage-after-magic "^migproxy diff: $T/garbage-magic: not a stream .*offset [0-9]+" \
    diff "$T/garbage-magic" "$good"
expect_error empty "^migproxy diff: $T/empty: .*offset 0: truncated" diff "$T/empty" "$good"
expect_error truncated "^migproxy check: $T/truncated: .*offset [0-9]+: truncated" \
    check "$T/truncated" --dest-profile "$T/foreign.json"
expect_error broken-json "^migproxy diff: $T/broken.json: " diff "$good" "$T/broken.json"
expect_error foreign-json "^migproxy diff: $T/foreign.json: .*migproxy_profile" \
    diff "$T/foreign.json" "$good"
expect_error directory "^migproxy diff: $T/capture: a directory" diff "$T/capture" "$good"
expect_error capture-garbage "^migproxy check: $T/garbage.cap: no migration in the capture.*at byte [0-9]+" \
    check "$T/garbage.cap" --dest-profile "$T/foreign.json"
expect_error capture-version "^migproxy diff: $T/future.cap: .*version 9" \
    diff "$T/future.cap" "$good"
expect_error missing "^migproxy diff: $T/nonexistent: No such file" diff "$T/nonexistent" "$good"
if [ "$(id -u)" != 0 ]; then
    cp "$T/empty" "$T/unreadable" && chmod 000 "$T/unreadable"
    expect_error unreadable "^migproxy diff: $T/unreadable: Permission denied" \
        diff "$T/unreadable" "$good"
else
    log "note: running as root: an unreadable file cannot be made"
fi

expect_error diff-no-args "usage: migproxy diff" diff
expect_error diff-one-arg "usage: migproxy diff" diff "$good"
expect_error diff-three-args "usage: migproxy diff" diff "$good" "$good" "$good"
expect_error diff-bad-option "Unknown option" diff --frobnicate "$good" "$good"
expect_error check-no-dest "usage: migproxy check" check "$good"
expect_error check-two-dests "usage: migproxy check" \
    check "$good" --dest-qmp unix:/nonexistent --dest-profile "$T/foreign.json"
expect_error check-dead-qmp "^migproxy check: --dest-qmp unix:$T/none.qmp: " \
    check "$good" --dest-qmp "unix:$T/none.qmp" --timeout 1
printf '{"migproxy_profile": 1, "parameters": {}, "capabilities": {}, "ramblocks": []}\n' \
    >"$T/minimal.profile"
expect_error check-bad-dest-vmstate "^migproxy check: --dest-vmstate $T/garbage: " \
    check "$good" --dest-profile "$T/minimal.profile" --dest-vmstate "$T/garbage"
expect_error check-stream-as-profile "is a stream, not a profile" \
    check "$good" --dest-profile "$good"
finish
