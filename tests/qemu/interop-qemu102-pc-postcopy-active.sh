#!/usr/bin/env bash
# interop-qemu102-pc-postcopy-active.sh - a recorded QEMU 10.2 postcopy
# migration that really ran in postcopy: discards, PACKAGED device state
# with 10.2's extra PING 0x42, and page requests on the return path.
# Checked against the run's facts.json.
. "$(dirname "$0")/functions.sh"
require_migdump
migtest_init
unpack_case v10-pc-postcopy-active conn00.s2d conn00.d2s
check_eq "facts: postcopy-ram on, migration accepted" \
    "$(jq -c '[.capabilities_on, .result]' "$CASE_FACTS")" '[["postcopy-ram"],"accept"]'

out=$TESTDIR/main.json
run_migdump "$out" "$CASE_DIR/conn00.s2d" || finish
check_case_main "$out"
check_eq "stream ends with EOF (postcopy: the very last byte)" "$(jget "$out" .eof)" true
check_eq "no VMDESCRIPTION after postcopy" "$(jget "$out" .vmdesc)" false
check_eq "stream starts with OPEN_RETURN_PATH, PING 1, POSTCOPY_ADVISE" \
    "$(jget "$out" '[.commands[:3][] | .name]')" '["open-return-path","ping","postcopy-advise"]'
check_eq "POSTCOPY_ADVISE: page size summary = OR of info ramblock PSize, TPS 4096" \
    "$(jget "$out" '[.commands[] | select(.name == "postcopy-advise") | [.page_size_summary, .target_page_size]]')" \
    "$(jq -c '[[([.[].page_size] | unique | add), 4096]]' "$CASE_DIR/ramblocks.json")"
check_eq "no per-block page size (all blocks have host-sized pages)" \
    "$(jget "$out" '[.ramblocks[] | select(.page_size != null)]')" '[]'
check_jq "at least one POSTCOPY_RAM_DISCARD" "$out" 'any(.commands[]; .name == "postcopy-ram-discard")'
check_eq "PACKAGED: LISTEN, PING 3, PING 0x42 (10.2: package loaded), RUN" \
    "$(jget "$out" '[.commands[] | select(.in_packaged == true) | [.name, .value]]')" \
    '[["postcopy-listen",null],["ping",3],["ping",66],["postcopy-run",null]]'

# The return path.  Members relied on (migdump --channel return-path
# --json): error, bytes, messages[].type ("pong", "req-pages-id",
# "req-pages", "shut"), .value, .start, .length, .block.
rp=$TESTDIR/rp.json
run_migdump "$rp" --channel return-path "$CASE_DIR/conn00.d2s" || finish
check_eq "return path: error is null" "$(jget "$rp" .error)" null
check_eq "return path: every byte read" "$(jget "$rp" .bytes)" "$(stat -c %s "$CASE_DIR/conn00.d2s")"
check_jq "the destination requested pages" "$rp" \
    '[.messages[] | select(.type | startswith("req-pages"))] | length > 0'
check_eq "every PING answered by a PONG with its value" \
    "$(jget "$rp" '[.messages[] | select(.type == "pong") | .value] | sort')" \
    "$(jget "$out" '[.commands[] | select(.name == "ping") | .value] | sort')"
check_eq "last message: SHUT 0 (facts: accepted)" \
    "$(jget "$rp" '.messages[-1] | [.type, .value]')" '["shut",0]'
check_eq "requests: known block, length = its page size, inside the block" \
    "$(jq -c --slurpfile rb "$CASE_DIR/ramblocks.json" '
        ($rb[0] | map({(.name): .}) | add) as $blocks
        | reduce (.messages[] | select(.type | startswith("req-pages"))) as $m
            ({block: null, bad: []};
             .block = ($m.block // .block)
             | if ($blocks[.block] == null
                   or $m.length != $blocks[.block].page_size
                   or $m.start + $m.length > $blocks[.block].used)
               then .bad += [$m] else . end)
        | .bad' "$rp")" '[]'
check_eq "the first request names its block (REQ_PAGES_ID)" \
    "$(jget "$rp" '[.messages[] | select(.type | startswith("req-pages"))][0].type')" '"req-pages-id"'
finish
