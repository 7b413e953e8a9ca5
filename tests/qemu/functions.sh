# functions.sh - shared helpers for the real-QEMU tests; source it first.
#
# Every test starts real QEMU processes and helper relays.  Whatever way a
# test ends (pass, failed assertion, error, meson's timeout signal), each
# process it started must be killed by its own pid and its temporary
# folder removed, so that a broken run never leaves a QEMU eating one of
# the two CPUs of the build machine.  Hence: one temp dir per test, every
# pid recorded at start, one EXIT trap that undoes everything, and a bound
# on every wait.
#
# Exit codes follow meson/automake: 0 pass, 1 fail, 77 skip.
#
# Environment:
#   QEMU        QEMU binary (default qemu-system-x86_64)
#   MIGDUMP     path of the migdump binary (set by tests/qemu/meson.build)
#   MIGTEST_KEEP=1   keep the temp dir (streams, logs) for a post-mortem

set -u
set -o pipefail

MIGTEST_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QMP_PY="$MIGTEST_SRCDIR/qmp.py"
RECORD_PY="$MIGTEST_SRCDIR/record.py"
QEMU=${QEMU:-qemu-system-x86_64}
: "${PYTHON:=python3}"

TESTDIR=""
MIGTEST_PIDS=()          # every background process we started
MIGTEST_FAILURES=0

# Seconds allowed for QEMU to show its QMP socket, and for helpers to exit.
QMP_WAIT=20
KILL_WAIT=5

log() { printf '%s\n' "$*" >&2; }

skip() {
    log "SKIP: $*"
    exit 77
}

# Stop the test now: for errors that make further checks meaningless.
die() {
    log "FAIL: $*"
    exit 1
}

# Record a failed check and go on, so one run reports every mismatch.
fail_check() {
    log "FAIL: $*"
    MIGTEST_FAILURES=$((MIGTEST_FAILURES + 1))
}

# Exit with the verdict of all checks made so far.
finish() {
    if [ "$MIGTEST_FAILURES" -ne 0 ]; then
        log "$MIGTEST_FAILURES check(s) failed"
        exit 1
    fi
    log "PASS"
    exit 0
}

require_tool() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || skip "$t not installed"
    done
}

# MIGDUMP unset means the script was started by hand without a build: skip.
# Set but not runnable means the build is broken: that is a failure.
require_migdump() {
    [ -n "${MIGDUMP:-}" ] || skip "MIGDUMP not set (run through meson test)"
    [ -x "$MIGDUMP" ] || die "MIGDUMP=$MIGDUMP is not an executable"
}

# The expected counters and stream contents below are those of QEMU 7.2;
# other versions write other streams (see wire-format.md section 9).
require_qemu_version() {
    local want=$1 v
    require_tool "$QEMU"
    v=$("$QEMU" --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9]*\.[0-9]*\).*/\1/p')
    [ "$v" = "$want" ] || skip "these checks are for QEMU $want, $QEMU is '${v:-unknown}'"
}

migtest_cleanup() {
    local status=$? i
    local pids=("${MIGTEST_PIDS[@]}")
    trap - EXIT INT TERM HUP
    # Newest first: relays before the QEMUs they talk to.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill_pid "${pids[i]}"
    done
    if [ -n "$TESTDIR" ] && [ -d "$TESTDIR" ]; then
        if [ "${MIGTEST_KEEP:-0}" = 1 ]; then
            log "kept $TESTDIR"
        else
            rm -rf -- "$TESTDIR"
        fi
    fi
    exit "$status"
}

# Send TERM, wait at most KILL_WAIT seconds, then KILL, and reap.  Only
# pids this test recorded ever get here.  They are children of this shell
# and stay zombies until reaped, so the pid cannot have been reused by an
# unrelated process; once reaped it is forgotten for the same reason.
kill_pid() {
    local pid=$1 n
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for ((n = 0; n < KILL_WAIT * 10; n++)); do
            kill -0 "$pid" 2>/dev/null || break
            # a zombie still answers kill -0: stop waiting once it is one
            [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] && break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    forget_pid "$pid"
    return 0
}

# forget_pid PID: drop a reaped child from the list the cleanup kills.
forget_pid() {
    local p keep=()
    for p in "${MIGTEST_PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    MIGTEST_PIDS=("${keep[@]}")
}

# Create the per-test temp dir and install the cleanup trap.
migtest_init() {
    require_tool "$PYTHON" jq
    TESTDIR=$(mktemp -d "${TMPDIR:-/tmp}/migtest.XXXXXX") || die "mktemp failed"
    trap migtest_cleanup EXIT
    trap 'log "interrupted"; exit 1' INT TERM HUP
}

# qemu_start NAME ARGS...: start a QEMU named NAME in the background with
# QMP on $TESTDIR/NAME.qmp, pid file $TESTDIR/NAME.pid and its output in
# $TESTDIR/NAME.log; return once QMP answers.  QEMU_PREFIX (an array, empty
# by default) goes before the command and must exec it, keeping the pid:
# the network lab starts QEMU with "ip netns exec NS".
QEMU_PREFIX=()
qemu_start() {
    local name=$1 pid
    shift
    require_tool "$QEMU"
    "${QEMU_PREFIX[@]}" "$QEMU" -nodefaults -display none -accel tcg -name "$name" \
        -qmp "unix:$TESTDIR/$name.qmp,server=on,wait=off" \
        -pidfile "$TESTDIR/$name.pid" \
        "$@" </dev/null >"$TESTDIR/$name.log" 2>&1 &
    pid=$!
    MIGTEST_PIDS+=("$pid")
    if ! "$PYTHON" "$QMP_PY" wait "$TESTDIR/$name.qmp" "$QMP_WAIT"; then
        cat "$TESTDIR/$name.log" >&2
        die "QEMU $name did not answer on QMP within ${QMP_WAIT}s"
    fi
    # QEMU wrote the pid file before opening QMP; it must be the process we
    # started (the background job execs QEMU directly).
    [ "$(cat "$TESTDIR/$name.pid" 2>/dev/null)" = "$pid" ] ||
        die "pid file of $name does not hold $pid"
}

# qemu_stop NAME: kill one QEMU by the pid in its pid file.
qemu_stop() {
    local pid
    pid=$(cat "$TESTDIR/$1.pid" 2>/dev/null) || return 0
    kill_pid "$pid"
}

# qmp NAME COMMAND [JSON-ARGS]: print the "return" member.
qmp() {
    local name=$1
    shift
    "$PYTHON" "$QMP_PY" "$TESTDIR/$name.qmp" "$@"
}

# hmp NAME 'COMMAND LINE': print the HMP text.
hmp() {
    "$PYTHON" "$QMP_PY" hmp "$TESTDIR/$1.qmp" "$2"
}

# qmp_py SUBCOMMAND NAME ARGS...: the other qmp.py subcommands on NAME.
qmp_py() {
    local sub=$1 name=$2
    shift 2
    "$PYTHON" "$QMP_PY" "$sub" "$TESTDIR/$name.qmp" "$@"
}

# set_caps NAME CAP...: switch migration capabilities on.
set_caps() {
    local name=$1 cap json=""
    shift
    for cap in "$@"; do
        json+="${json:+,}{\"capability\":\"$cap\",\"state\":true}"
    done
    qmp "$name" migrate-set-capabilities "{\"capabilities\":[$json]}" >/dev/null ||
        die "$name: cannot set capabilities $*"
}

# set_params NAME JSON: migrate-set-parameters.
set_params() {
    qmp "$1" migrate-set-parameters "$2" >/dev/null ||
        die "$1: cannot set parameters $2"
}

# resolve_machine NAME MACHINE: the machine type name QEMU resolves
# MACHINE (a name or an alias like "pc") to, according to query-machines.
resolve_machine() {
    qmp "$1" query-machines |
        jq -r --arg m "$2" '[.[] | select(.name == $m or .alias == $m)][0].name // empty'
}

# start_incoming NAME: put a destination started with "-incoming defer"
# on a loopback port picked by the kernel (no guessing of free ports) and
# set INCOMING_PORT.  Not for $(...): die must end the test itself.
INCOMING_PORT=""
start_incoming() {
    qmp "$1" migrate-incoming '{"uri":"tcp:127.0.0.1:0"}' >/dev/null ||
        die "$1: migrate-incoming failed"
    INCOMING_PORT=$(qmp "$1" query-migrate | jq -r '."socket-address"[0].port // empty')
    [ -n "$INCOMING_PORT" ] || die "$1: no listening port in query-migrate"
}

# start_recorder DIR TARGET_PORT: run record.py relaying 127.0.0.1:<free>
# to 127.0.0.1:TARGET_PORT, captures in DIR; set RECORDER_PORT and
# RECORDER_PID.  Not for $(...): the pid must be recorded in this shell.
RECORDER_PID=""
RECORDER_DIR=""
RECORDER_PORT=""
start_recorder() {
    local dir=$1 target=$2 n
    mkdir -p "$dir"
    RECORDER_DIR=$dir
    "$PYTHON" "$RECORD_PY" --listen tcp:127.0.0.1:0 \
        --target "tcp:127.0.0.1:$target" --dir "$dir" \
        --port-file "$dir/port" --idle 1 --max-time 120 \
        >"$dir/record.log" 2>&1 &
    RECORDER_PID=$!
    MIGTEST_PIDS+=("$RECORDER_PID")
    for ((n = 0; n < 100; n++)); do
        [ -s "$dir/port" ] && break
        kill -0 "$RECORDER_PID" 2>/dev/null || break
        sleep 0.1
    done
    [ -s "$dir/port" ] || { cat "$dir/record.log" >&2; die "record.py did not start"; }
    RECORDER_PORT=$(cat "$dir/port")
}

# wait_recorder TIMEOUT: wait (bounded) for record.py to finish on its own
# after the migration closed every connection; fail if it reports trouble.
wait_recorder() {
    local timeout=$1 n rc
    for ((n = 0; n < timeout * 10; n++)); do
        kill -0 "$RECORDER_PID" 2>/dev/null || break
        [ "$(ps -o stat= -p "$RECORDER_PID" 2>/dev/null | cut -c1)" = Z ] && break
        sleep 0.1
    done
    kill -0 "$RECORDER_PID" 2>/dev/null && [ "$(ps -o stat= -p "$RECORDER_PID" | cut -c1)" != Z ] &&
        die "record.py still running after ${timeout}s"
    wait "$RECORDER_PID"
    rc=$?
    forget_pid "$RECORDER_PID"
    [ "$rc" = 0 ] || { cat "$RECORDER_DIR/record.log" >&2; die "record.py exited $rc"; }
}

# make_dirty_rom FILE: write a 512-byte x86 option ROM whose init entry
# never returns and keeps writing guest RAM, so that migrations have pages
# to send again (xbzrle, multifd rounds, postcopy requests).  SeaBIOS
# calls it during POST in real mode.  Bytes written by hand; the
# disassembly is beside them.
#
# Each pass adds 1 to every 16th dword of 128 pages (0x10000-0x8ffff):
# a page's xbzrle delta is then ~800 bytes, so an xbzrle round over the
# dirty set is big enough (~100 KiB) to be rate limited, which spaces the
# rounds out and lets the guest run between dirty syncs even on a busy
# machine (otherwise 7.2 may find nothing dirty and converge by itself).
# The CR4.PSE toggle is there for TCG: QEMU 7.2 marks a page dirty for
# migration only on the first write through a fresh TLB entry, so without
# a TLB flush each pass a page is seen dirty once and never again (seen on
# real runs: 128 pages re-sent once, then nothing).
make_dirty_rom() {
    "$PYTHON" - "$1" <<'EOF'
import sys
code = bytes.fromhex(
    "55aa01"        # 00 option ROM signature, length 1 x 512 bytes
    "fa"            # 03 cli                  entry point; no interrupts
    "0f20e0"        # 04 mov eax,cr4          pass: flush TCG's TLB by
    "6683f010"      # 07 xor eax,0x10         toggling CR4.PSE (harmless
    "0f22e0"        # 0b mov cr4,eax          without paging)
    "b80010"        # 0e mov ax,0x1000        first page: 0x10000
    "8ec0"          # 11 mov es,ax            page loop
    "31ff"          # 13 xor di,di
    "2666ff05"      # 15 inc dword [es:di]    dword loop
    "83c710"        # 19 add di,16            every 16th byte
    "81ff0010"      # 1c cmp di,0x1000
    "72f3"          # 20 jb 0x15
    "050001"        # 22 add ax,0x100         next 4 KiB page
    "3d0090"        # 25 cmp ax,0x9000        up to 0x90000: 128 pages
    "72e7"          # 28 jb 0x11
    "ebd8"          # 2a jmp 0x04
)
rom = bytearray(512)
rom[:len(code)] = code
rom[511] = (-sum(rom)) & 0xFF     # SeaBIOS wants the bytes to sum to 0
open(sys.argv[1], "wb").write(rom)
EOF
}
# random_guest FILE MB: write MB MiB of random bytes to FILE and set
# RANDOM_SRC_RAM and RANDOM_DST_RAM, the QEMU options of a source whose RAM
# is a private mapping of FILE (the file is never written) and of a
# destination with a RAM block of the same name.  An idle guest's RAM is
# zero pages and crosses in a blink; incompressible pages take time, so a
# test can act while RAM is still flowing.  Used by the network lab, the
# load test and the postcopy-recovery tests.
RANDOM_SRC_RAM=()
RANDOM_DST_RAM=()
random_guest() {
    local file=$1 mb=$2
    head -c "$((mb << 20))" /dev/urandom >"$file" || die "cannot write $file"
    # QEMU's options take commas; these are not array separators.
    # shellcheck disable=SC2054
    RANDOM_SRC_RAM=(-m "${mb}M" -machine pc,memory-backend=mem
        -object "memory-backend-file,id=mem,size=${mb}M,mem-path=$file,share=off")
    # shellcheck disable=SC2054
    RANDOM_DST_RAM=(-m "${mb}M" -machine pc,memory-backend=mem
        -object "memory-backend-ram,id=mem,size=${mb}M")
}

# check_ram_equal SRC DST RAM_MB COMPARE_MB: after a migration from the
# QEMU named SRC to DST, their guest RAM (pmemsave of RAM_MB MiB) is the
# same for COMPARE_MB MiB from 1 MiB up: below it SeaBIOS keeps working on
# each side, and near the top the guests may differ for the same reason.
check_ram_equal() {
    local src=$1 dst=$2 ram_mb=$3 compare_mb=$4 q
    for q in "$src" "$dst"; do
        qmp "$q" pmemsave \
            "{\"val\":0,\"size\":$((ram_mb << 20)),\"filename\":\"$TESTDIR/$q.mem\"}" >/dev/null
    done
    if cmp -s -i $((1 << 20)) -n $((compare_mb << 20)) "$TESTDIR/$src.mem" "$TESTDIR/$dst.mem"; then
        log "ok: $dst's RAM from 1 MiB for $compare_mb MiB is $src's"
    else
        fail_check "$dst's RAM differs from $src's: $(cmp -i $((1 << 20)) -n $((compare_mb << 20)) \
                    "$TESTDIR/$src.mem" "$TESTDIR/$dst.mem" 2>&1 | head -1)"
    fi
    rm -f "$TESTDIR/$src.mem" "$TESTDIR/$dst.mem"
}

# Pages the ROM above keeps dirty.
DIRTY_ROM_PAGES=128

# run_migdump OUT ARGS...: run "$MIGDUMP --json ARGS" into OUT (stderr in
# OUT.err).  A non-zero exit is a failed check; the output is kept.
run_migdump() {
    local out=$1 rc
    shift
    "$MIGDUMP" --json "$@" >"$out" 2>"$out.err"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        fail_check "migdump --json $* exited $rc: $(head -c 500 "$out.err")"
        return 1
    fi
    jq -e . "$out" >/dev/null 2>&1 || { fail_check "migdump --json $* printed no JSON"; return 1; }
    return 0
}

# check_eq DESCRIPTION ACTUAL EXPECTED: compare two JSON values (compact,
# keys sorted), record a failure with both values when they differ.
check_eq() {
    local what=$1 a b
    a=$(printf '%s' "$2" | jq -cS . 2>/dev/null) || a="(not JSON: $2)"
    b=$(printf '%s' "$3" | jq -cS . 2>/dev/null) || b="(not JSON: $3)"
    if [ "$a" = "$b" ]; then
        log "ok: $what"
    else
        fail_check "$what: got $a, expected $b"
    fi
}

# check_jq DESCRIPTION FILE JQ-EXPR [jq options]: the expression must be true.
check_jq() {
    local what=$1 file=$2 expr=$3
    shift 3
    if jq -e "$@" "$expr" "$file" >/dev/null 2>&1; then
        log "ok: $what"
    else
        fail_check "$what: '$expr' is not true for $file"
    fi
}

# jget FILE JQ-EXPR: one value from a JSON file, compact.
jget() {
    jq -c "$2" "$1"
}

# ---------------------------------------------------------------------------
# QEMU's own facts, and checks of migdump's JSON against them.
#
# migdump --json (main channel) is an object with at least: version,
# machine, capabilities[], target_page_bits, ramblocks[{name, length,
# page_size, addr}], sections[{id, name, instance, version}], commands[
# {name, ...}], pages{zero, normal, xbzrle, compressed}, eof, vmdesc, error.

# collect_facts NAME MACHINE OUT: write what QEMU NAME reports about
# itself and its finished outgoing migration to OUT (JSON): the machine
# type MACHINE resolves to (query-machines), the QOM type of /machine,
# "info ramblock", query-migrate, the CPUs and the PCI devices.  Call it
# after the migration ended: the source stays alive in postmigrate.
collect_facts() {
    local name=$1 machine=$2 out=$3 resolved qom
    resolved=$(resolve_machine "$name" "$machine")
    [ -n "$resolved" ] || die "$name: query-machines does not know $machine"
    qom=$(qmp "$name" qom-get '{"path":"/machine","property":"type"}') ||
        die "$name: qom-get /machine type failed"
    qmp_py ramblocks "$name" >"$out.ramblocks" || die "$name: info ramblock failed"
    qmp "$name" query-migrate >"$out.migrate" || die "$name: query-migrate failed"
    qmp "$name" query-cpus-fast >"$out.cpus" || die "$name: query-cpus-fast failed"
    qmp "$name" query-pci >"$out.pci" || die "$name: query-pci failed"
    jq -n --arg resolved "$resolved" --argjson qom "$qom" \
        --slurpfile rb "$out.ramblocks" --slurpfile mig "$out.migrate" \
        --slurpfile cpus "$out.cpus" --slurpfile pci "$out.pci" \
        '{machine: $resolved, qom_type: $qom, ramblocks: $rb[0],
          migrate: $mig[0], cpus: $cpus[0], pci: $pci[0]}' >"$out" ||
        die "cannot write $out"
}

# check_stream_basics OUT: a complete, cleanly decoded precopy stream.
check_stream_basics() {
    local out=$1
    check_eq "error is null" "$(jget "$out" .error)" null
    check_eq "stream version" "$(jget "$out" .version)" 3
    check_eq "stream ends with EOF" "$(jget "$out" .eof)" true
    check_eq "ram section: instance 0, version 4 (ram.c)" \
        "$(jget "$out" '[.sections[] | select(.name == "ram") | {instance, version}]')" \
        '[{"instance":0,"version":4}]'
    check_eq "no target-page-bits subsection on x86" "$(jget "$out" .target_page_bits)" null
}

# check_machine OUT FACTS: the configuration section names the machine
# type QEMU resolved -M to, which is also /machine's QOM type.
check_machine() {
    local out=$1 facts=$2
    check_eq "machine is what query-machines resolves -M to" \
        "$(jget "$out" .machine)" "$(jget "$facts" .machine)"
    check_eq "machine + '-machine' is the QOM type of /machine" \
        "$(jget "$out" '.machine + "-machine"')" "$(jget "$facts" .qom_type)"
}

# check_ramblocks OUT FACTS: the RAM block list of the setup section is
# "info ramblock" on the source: same names, same order (both walk
# ram_list), length = the Used column.  Every block is migratable in the
# configurations these tests use.
check_ramblocks() {
    local out=$1 facts=$2
    check_eq "ramblocks = info ramblock (name, Used)" \
        "$(jget "$out" '[.ramblocks[] | {name, length}]')" \
        "$(jget "$facts" '[.ramblocks[] | {name, length: .used}]')"
}

# check_page_counters OUT FACTS: page records in the stream against the
# source's query-migrate counters, for runs without xbzrle and compress,
# where 7.2's counters are exact: "normal" is incremented once per PAGE
# record (save_normal_page) and once per page queued to multifd
# (ram_save_multifd_page), "duplicate" once per ZERO record
# (save_zero_page).  With xbzrle or compress the related counters are not
# record counts; those tests say why and check what is exact instead.
check_page_counters() {
    local out=$1 facts=$2
    check_normal_pages "$out" "$facts"
    check_eq "pages.zero = query-migrate ram.duplicate" \
        "$(jget "$out" .pages.zero)" "$(jget "$facts" .migrate.ram.duplicate)"
    check_eq "no XBZRLE records" "$(jget "$out" .pages.xbzrle)" 0
    check_eq "no COMPRESS_PAGE records" "$(jget "$out" .pages.compressed)" 0
}

check_normal_pages() {
    check_eq "pages.normal = query-migrate ram.normal" \
        "$(jget "$1" .pages.normal)" "$(jget "$2" .migrate.ram.normal)"
}

# check_migration_completed FACTS: the source says the migration is done.
check_migration_completed() {
    check_eq "source query-migrate status" "$(jget "$1" .migrate.status)" '"completed"'
}

# command_names OUT: the command names in stream order, as a JSON list.
command_names() {
    jget "$1" '[.commands[].name]'
}

# migrate_dirty_guest_to_file NAME FILE WAIT-OPTION...: migrate QEMU NAME
# (running the make_dirty_rom guest) to FILE, let rounds go by until
# query-migrate satisfies the qmp.py wait-migration options given (e.g.
# --sync 4, or --at-least xbzrle-cache.pages 384), then let it finish;
# the final query-migrate is left in FILE.final.  Bandwidth and downtime
# are set so that precopy cannot converge on its own while the guest
# writes; once enough went by the guest is paused, so the next round
# finds nothing dirty and the migration completes deterministically (a
# pending size of 0 ends precopy whatever the downtime estimate says).
# Waiting on QEMU's counters rather than on time keeps this working on a
# loaded machine, where the guest gets less CPU per round.
migrate_dirty_guest_to_file() {
    local name=$1 file=$2
    shift 2
    set_params "$name" '{"downtime-limit":1,"max-bandwidth":1048576}'
    qmp "$name" migrate "{\"uri\":\"exec:cat > $file\"}" >/dev/null || die "migrate failed"
    # Some capabilities (compress) let 7.2 converge anyway: fine, as long
    # as what was asked for happened.
    qmp_py wait-migration "$name" 60 --until active,completed "$@" >"$file.rounds" ||
        die "$name: migration did not reach $*: $(cat "$file.rounds")"
    if [ "$(jq -r .status "$file.rounds")" = active ]; then
        qmp "$name" stop >/dev/null || die "$name: stop failed"
    fi
    qmp_py wait-migration "$name" 60 >"$file.final" ||
        die "$name: migration did not complete: $(cat "$file.final")"
}


# migrate_via_recorder SRC DST DIR: migrate QEMU SRC to QEMU DST (started
# with "-incoming defer") through record.py, which leaves the bytes of
# each connection in DIR/connNN.{s2d,d2s}.  Returns once the source says
# completed (its final query-migrate is in DIR/final.json), the relay has
# exited and the destination runs again.
migrate_via_recorder() {
    local src=$1 dst=$2 dir=$3
    start_incoming "$dst"
    start_recorder "$dir" "$INCOMING_PORT"
    qmp "$src" migrate "{\"uri\":\"tcp:127.0.0.1:$RECORDER_PORT\"}" >/dev/null ||
        die "$src: migrate failed"
    wait_migration_via_recorder "$src" "$dst" "$dir"
}

# wait_migration_via_recorder SRC DST DIR [STATE]: the second half of the
# above, for tests that act in between.  STATE is the run state the
# destination must reach: "running", or "paused" when the source was
# paused before the switchover (the destination takes over the source's
# run state from the globalstate section).
wait_migration_via_recorder() {
    local src=$1 dst=$2 dir=$3 state=${4:-running}
    qmp_py wait-migration "$src" 90 >"$dir/final.json" ||
        die "$src: migration did not complete: $(cat "$dir/final.json")"
    wait_recorder 30
    qmp_py wait-status "$dst" 30 "$state" >"$dir/dst-status.json" ||
        die "$dst: not $state after migration: $(cat "$dir/dst-status.json")"
}

# check_destination DST OUT: the destination accepted the stream: its
# incoming migration completed, and its own RAM blocks are the ones the
# stream announced.
check_destination() {
    local dst=$1 out=$2
    check_eq "destination query-migrate status" \
        "$(qmp "$dst" query-migrate | jq -c .status)" '"completed"'
    check_eq "destination info ramblock = ramblocks in the stream" \
        "$(qmp_py ramblocks "$dst" | jq -c '[.[] | {name, length: .used}]')" \
        "$(jget "$out" '[.ramblocks[] | {name, length}]')"
}

# ---------------------------------------------------------------------------
# Recorded QEMU 10.2 streams (tests/data/qemu-10.2, see its README).

DATA102="$MIGTEST_SRCDIR/../data/qemu-10.2"

# unpack_case CASE FILE...: decompress FILE.xz of CASE into $TESTDIR/CASE/
# and check each against the sha256 in the case's facts.json, so that a
# damaged copy fails here instead of as a decoder bug.  Sets CASE_DIR and
# CASE_FACTS.
CASE_DIR=""
CASE_FACTS=""
unpack_case() {
    local case=$1 f want got
    shift
    require_tool xz sha256sum
    CASE_FACTS="$DATA102/$case/facts.json"
    [ -f "$CASE_FACTS" ] || die "missing $CASE_FACTS"
    CASE_DIR="$TESTDIR/$case"
    mkdir -p "$CASE_DIR"
    for f in "$@"; do
        xz -dc "$DATA102/$case/$f.xz" >"$CASE_DIR/$f" || die "cannot decompress $case/$f.xz"
        want=$(jq -r --arg f "$f.xz" '.streams[] | select(.file == $f) | .sha256' "$CASE_FACTS")
        got=$(sha256sum "$CASE_DIR/$f" | cut -d' ' -f1)
        [ -n "$want" ] && [ "$want" = "$got" ] || die "$case/$f: sha256 $got, facts.json says '$want'"
    done
    # QEMU's own words, in the shapes the checks use.
    jq -r .info_ramblock "$CASE_FACTS" | "$PYTHON" "$QMP_PY" parse-ramblocks \
        >"$CASE_DIR/ramblocks.json" || die "$case: cannot parse info_ramblock"
}

# case_machine: the -M argument on the recorded source's command line.
case_machine() {
    jq -c '.source_command_line_without_paths as $c
           | [range(0; $c | length - 1) | select($c[.] == "-M") | $c[. + 1]][0]' "$CASE_FACTS"
}

# check_case_main OUT: what every recorded main stream must satisfy:
# decoded without error, the machine of the command line, the RAM blocks
# of info ramblock, and exactly the validated capabilities that were on.
check_case_main() {
    local out=$1
    check_eq "error is null" "$(jget "$out" .error)" null
    check_eq "stream version" "$(jget "$out" .version)" 3
    check_eq "machine = -M of the recorded command line" "$(jget "$out" .machine)" "$(case_machine)"
    check_eq "ramblocks = info ramblock of the source (name, Used)" \
        "$(jget "$out" '[.ramblocks[] | {name, length}]')" \
        "$(jq -c '[.[] | {name, length: .used}]' "$CASE_DIR/ramblocks.json")"
    # 10.2 announces x-ignore-shared and mapped-ram only (validated ones).
    check_eq "capabilities = the validated ones that were on" \
        "$(jget "$out" '.capabilities | sort')" \
        "$(jq -c '[.capabilities_on[] | select(. == "x-ignore-shared" or . == "mapped-ram")] | sort' "$CASE_FACTS")"
    check_eq "ram_total = sum of Used" "$(jget "$out" .ram_total)" \
        "$(jq '[.[].used] | add' "$CASE_DIR/ramblocks.json")"
}

# mapped_ram_layout_problems FILE OUT: read the mapped-ram FILE itself at
# the offsets migdump reported (OUT) and print a JSON list of what does
# not fit QEMU's layout (migration/ram.c, wire-format.md section 7); [] if
# all fits.  Per block: a 28-byte header (be32 version 1, be64 page size,
# be64 bitmap offset = the header's end, be64 pages offset = the value
# migdump gave), a bitmap of ceil(pages/64) longs, the pages at the next
# 1 MiB boundary, and right after them the next block's record (u8 name
# length, name, be64 used length) or, after the last block, the RAM EOS
# word.  Block 0's header is found by searching the first MiB.
mapped_ram_layout_problems() {
    "$PYTHON" - "$1" "$2" <<'PYEOF'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
out = json.load(open(sys.argv[2]))
blocks = out["ramblocks"]
problems = []
MIB = 1 << 20

def header_at(pos, blk):
    if pos + 28 > len(data):
        return "header beyond end of file"
    ver, psize, bmoff, pgoff = struct.unpack(">IQQQ", data[pos:pos + 28])
    bitmap = -(-blk["length"] // 4096 // 64) * 8
    want = -(-(pos + 28 + bitmap) // MIB) * MIB
    if (ver, psize, bmoff) != (1, 4096, pos + 28):
        return "header %d/%d/%d" % (ver, psize, bmoff)
    if pgoff != blk["mapped_ram_pages_offset"] or pgoff != want:
        return "pages offset %d, migdump %s, layout %d" % (
            pgoff, blk["mapped_ram_pages_offset"], want)
    return None

for i, blk in enumerate(blocks):
    name = blk["name"].encode()
    if i == 0:
        # record: u8 len, name, be64 used, then the header
        rec = data.find(bytes([len(name)]) + name + struct.pack(">Q", blk["length"]), 0, MIB)
        if rec < 0:
            problems.append([blk["name"], "record not found in the first MiB"])
            continue
    else:
        prev = blocks[i - 1]
        rec = prev["mapped_ram_pages_offset"] + prev["length"]
        if data[rec:rec + 1 + len(name) + 8] != bytes([len(name)]) + name + struct.pack(">Q", blk["length"]):
            problems.append([blk["name"], "record not right after the previous block's pages"])
            continue
    err = header_at(rec + 1 + len(name) + 8, blk)
    if err:
        problems.append([blk["name"], err])
last = blocks[-1] if blocks else None
if last is not None:
    end = last["mapped_ram_pages_offset"] + last["length"]
    if data[end:end + 8] != struct.pack(">Q", 0x10):
        problems.append([last["name"], "no RAM EOS after the last block's pages"])
print(json.dumps(problems))
PYEOF
}

# check_mapped_ram_stream OUT FILE: the checks both mapped-ram cases share.
check_mapped_ram_stream() {
    local out=$1 file=$2
    check_case_main "$out"
    check_eq "stream ends with EOF" "$(jget "$out" .eof)" true
    check_eq "VMDESCRIPTION present" "$(jget "$out" .vmdesc)" true
    check_eq "migdump read the whole file (facts: raw_bytes)" "$(jget "$out" .bytes)" \
        "$(jq '.streams[] | select(.file == "mapped-ram.bin.xz") | .raw_bytes' "$CASE_FACTS")"
    check_eq "pages sit at fixed offsets: no page records" \
        "$(jget "$out" '.pages | [.normal, .zero, .xbzrle, .compressed]')" '[0,0,0,0]'
    check_eq "every block has a mapped-ram pages offset" \
        "$(jget "$out" '[.ramblocks[] | select(.mapped_ram_pages_offset == null) | .name]')" '[]'
    check_eq "the file's own bytes agree with each block's mapped-ram offsets" \
        "$(mapped_ram_layout_problems "$file" "$out")" '[]'
}
