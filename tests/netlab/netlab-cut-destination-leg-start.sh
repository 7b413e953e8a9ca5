#!/usr/bin/env bash
# netlab-cut-destination-leg-start.sh - the destination leg is down before
# the migration starts: the gate accepts from the destination's facts (its
# QMP is a unix socket, still reachable), then the proxy's connection to
# the destination gets no answer at all (no SYN-ACK, no RST).  What issue 5
# asks: the source leg closed within a bounded time, the source's
# migration failed with its VM running, and an event that says the
# destination could not be reached.  Measured here within 20 s, then the
# link comes back and the outcome is recorded.
#
# On this one-hop lab the proxy's connect fails by itself after about 3 s:
# the destination's address cannot be resolved (ARP) on a link without
# carrier, and the kernel answers EHOSTUNREACH.  That is the kernel's
# bound, not the proxy's: behind a router, an unanswered SYN would take
# TCP's full SYN retries (over two minutes with Linux's defaults).
. "$(dirname "$0")/lab.sh"
lab_require
lab_init
lab_pair_start

lab_netlab "$LAB_DST" link-down d-px
lab_migrate src "$LAB_PROXY_SADDR" "$PROXY_PORT"
t0=$(now_ms)
wait_event "$EV" '.event == "verdict"' 10 || die "no verdict 10 s after the migration started"
log "verdict $(events "$EV" '[.[] | select(.event == "verdict") | .verdict]') $(( $(now_ms) - t0 )) ms after the start"
if qmp_py wait-migration src 20 --until failed >/dev/null; then
    t_fail=$(( $(now_ms) - t0 ))
    log "source migration failed ${t_fail} ms after the start"
else
    t_fail=""
    log "20 s after the start: source migration $(qmp src query-migrate | jq -c '{status, transferred: .ram.transferred}')," \
        "proxy $(kill -0 "$PROXY_PID" 2>/dev/null && echo running || echo exited)," \
        "events: $(events "$EV" '[.[] | .event]')"
fi
check_eq "the source's migration failed within 20 s (destination unreachable)" \
    "$( [ -n "$t_fail" ] && echo 1 || echo 0)" 1
check_eq "the source VM keeps running" "$(qmp src query-status | jq -c .status)" '"running"'

lab_netlab "$LAB_DST" link-up d-px
t_up=$(now_ms)
final=$(qmp_py wait-migration src 60 --until failed,completed | jq -c .status)
log "source migration: $final $(( $(now_ms) - t_up )) ms after the link came back"
proxy_wait 15
log "proxy exit status $PROXY_STATUS; end event: $(events "$EV" '.[] | select(.event == "end")')"
check_eq "proxy exit status 2 (failed)" "$PROXY_STATUS" 2
check_eq "end: failed, broken off by the destination" \
    "$(events "$EV" '[.[] | select(.event == "end") | {outcome, broke_off}]')" \
    '[{"outcome":"failed","broke_off":"destination"}]'
finish
