#!/usr/bin/env bash
# interop-qemu102-pc-switchover-ack.sh - a recorded QEMU 10.2 migration
# with return-path and switchover-ack: the destination sends the 8.1+
# SWITCHOVER_ACK return-path message, and the source the 10.0+
# SWITCHOVER_START command.  Checked against the run's facts.json.
. "$(dirname "$0")/functions.sh"
require_migdump
migtest_init
unpack_case v10-pc-switchover-ack conn00.s2d conn00.d2s
check_eq "facts: return-path and switchover-ack on, migration accepted" \
    "$(jq -c '[(.capabilities_on | sort), .result]' "$CASE_FACTS")" \
    '[["return-path","switchover-ack"],"accept"]'

out=$TESTDIR/main.json
run_migdump "$out" "$CASE_DIR/conn00.s2d" || finish
check_case_main "$out"
check_eq "stream ends with EOF" "$(jget "$out" .eof)" true
check_eq "VMDESCRIPTION present" "$(jget "$out" .vmdesc)" true
check_eq "stream opens the return path: OPEN_RETURN_PATH, PING 1" \
    "$(jget "$out" '[.commands[:2][] | [.name, .value]]')" '[["open-return-path",null],["ping",1]]'
check_eq "one SWITCHOVER_START (10.0+ machine types)" \
    "$(jget "$out" '[.commands[] | select(.name == "switchover-start")] | length')" 1
check_jq "pages were sent on the main channel (no multifd)" "$out" \
    '.pages.normal + .pages.zero >= .ram_total / 4096'

# The return path.  Members relied on (migdump --channel return-path
# --json): error, messages[].type ("switchover-ack", "pong", "shut"),
# messages[].value, bytes.
rp=$TESTDIR/rp.json
run_migdump "$rp" --channel return-path "$CASE_DIR/conn00.d2s" || finish
check_eq "return path: error is null" "$(jget "$rp" .error)" null
check_eq "return path: every byte read" "$(jget "$rp" .bytes)" "$(stat -c %s "$CASE_DIR/conn00.d2s")"
check_eq "exactly one SWITCHOVER_ACK" \
    "$(jget "$rp" '[.messages[] | select(.type == "switchover-ack")] | length')" 1
check_eq "every PING answered by a PONG with its value" \
    "$(jget "$rp" '[.messages[] | select(.type == "pong") | .value] | sort')" \
    "$(jget "$out" '[.commands[] | select(.name == "ping") | .value] | sort')"
check_eq "last message: SHUT 0 (facts: accepted)" \
    "$(jget "$rp" '.messages[-1] | [.type, .value]')" '["shut",0]'
finish
