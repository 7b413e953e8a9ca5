#!/usr/bin/env bash
# interop-qemu72-proxy-convergence.sh - a precopy migration that cannot
# converge (a guest that rewrites 128 pages in a loop, 1 MiB/s of bandwidth,
# a 1 ms downtime limit), through migproxy with a policy that makes
# "convergence-stalled" an error after 2 rounds that did not shrink: the
# proxy reports each round over RAM, then stops the migration while it is
# still precopy, so the source's migration fails and its VM keeps running.
. "$(dirname "$0")/proxy-functions.sh"
require_migproxy
require_qemu_version 7.2
migtest_init

make_dirty_rom "$TESTDIR/dirty.rom"
cat >"$TESTDIR/policy" <<'POLICY'
[policy]
max-stalled-rounds=2
[severity]
convergence-stalled=error
POLICY

SRC_PARAMS='{"downtime-limit":1,"max-bandwidth":1048576}'
source_start src -M pc -m 64M -option-rom "$TESTDIR/dirty.rom"
dest_start dst -M pc -m 64M -option-rom "$TESTDIR/dirty.rom"
proxy_start proxy --once --connect "tcp:127.0.0.1:$INCOMING_PORT" \
    --dest-qmp "unix:$TESTDIR/dst-proxy.qmp" --policy "$TESTDIR/policy"
migrate src "$PROXY_PORT"
proxy_wait 120
final=$(qmp_py wait-migration src 30 2>&1)

ev=$TESTDIR/proxy.events
check_event_members "$ev"
check_eq "verdict accept" "$(events "$ev" '[.[] | select(.event == "verdict") | .verdict]')" '["accept"]'
check_jq "at least 4 round events (2 to compare, 2 stalled)" "$ev" \
    '[.[] | select(.event == "round")] | length >= 4' -s
check_jq "round 1 is the bulk pass over 64 MiB (16384 pages of pc.ram at least)" "$ev" \
    '[.[] | select(.event == "round")][0] | .pages >= 16384 and .pages_again == 0' -s
check_jq "every later round re-sends pages sent before, with a time and a dirty rate" "$ev" \
    '[.[] | select(.event == "round" and .round > 1) |
      .pages > 0 and .pages == .pages_again and .duration_s > 0 and .dirty_rate_bytes_per_s > 0] | all' -s
check_eq "finding convergence-stalled, an error with a hint" \
    "$(events "$ev" '[.[] | select(.event == "finding" and .code == "convergence-stalled") |
                     {severity, hint: (.hint | test("postcopy"))}]')" \
    '[{"severity":"error","hint":true}]'
check_eq "end: failed, the proxy broke off, saying why" \
    "$(events "$ev" '[.[] | select(.event == "end") |
                     {outcome, broke_off, why: (.error | test("stopped in precopy"))}]')" \
    '[{"outcome":"failed","broke_off":"proxy","why":true}]'
check_eq "proxy exit status (not completed)" "$PROXY_STATUS" 2
check_eq "the source's migration failed" "$(jq -c .status <<<"$final")" '"failed"'
check_eq "the source's VM keeps running" "$(qmp_py wait-status src 20 running | jq -c .status)" '"running"'
finish
