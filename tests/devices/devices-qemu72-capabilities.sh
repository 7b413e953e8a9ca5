#!/usr/bin/env bash
# devices-qemu72-capabilities.sh - migdump --devices on real QEMU 7.2
# streams of the kinds QEMU 7.2's analyze-migration.py gives up on: XBZRLE
# pages (a guest that keeps writing, several rounds) with the
# validate-uuid configuration subsection, compressed pages, and
# x-ignore-shared (RAM in a shared file, the capabilities subsection).  Every FULL section decodes
# field by field; values against QEMU's own, as in devices-qemu72-pc.sh
# (the guest is paused before the last round, so the state sent is the
# state "info registers" shows).
. "$(dirname "$0")/devices-functions.sh"
require_migdump
require_qemu_version 7.2
migtest_init

make_dirty_rom "$TESTDIR/dirty.rom"
qemu_start src -M pc -m 64M -smp 2 -option-rom "$TESTDIR/dirty.rom" \
    -uuid 5f3c8c62-6a3e-4a56-9d6b-8e1f2d6c7a10 -device e1000,id=nic0
set_caps src xbzrle validate-uuid
migrate_dirty_guest_to_file src "$TESTDIR/stream" \
    --at-least xbzrle-cache.pages $((3 * DIRTY_ROM_PAGES))
"$MIGDUMP" --json "$TESTDIR/stream" >"$TESTDIR/summary.json" || die "migdump --json failed"
check_eq "xbzrle: no validated capability announced" "$(jget "$TESTDIR/summary.json" .capabilities)" '[]'
check_eq "xbzrle: uuid subsection = -uuid" "$(jget "$TESTDIR/summary.json" .uuid)" \
    '"5f3c8c626a3e4a569d6b8e1f2d6c7a10"'
check_jq "xbzrle: XBZRLE pages in the stream" "$TESTDIR/summary.json" '.pages.xbzrle > 0'
check_devices_dump src "$TESTDIR/stream" 4 "uuid subsection, XBZRLE pages"
qemu_stop src

qemu_start comp -M pc -m 64M -smp 2 -option-rom "$TESTDIR/dirty.rom" -device e1000,id=nic0
set_caps comp compress
migrate_dirty_guest_to_file comp "$TESTDIR/comp.mig" --sync 3
"$MIGDUMP" --json "$TESTDIR/comp.mig" >"$TESTDIR/comp.summary.json" || die "migdump --json failed"
check_jq "compress: COMPRESS_PAGE records in the stream" "$TESTDIR/comp.summary.json" \
    '.pages.compressed > 0'
check_devices_dump comp "$TESTDIR/comp.mig" 4 "compressed pages"
qemu_stop comp

qemu_start shared -M pc -m 64M \
    -object "memory-backend-file,id=pc.ram,size=64M,mem-path=$TESTDIR/guest-ram,share=on" \
    -machine memory-backend=pc.ram -device virtio-net-pci,id=nic0
set_caps shared x-ignore-shared
migrate_to_file shared "$TESTDIR/shared.mig"
"$MIGDUMP" --json "$TESTDIR/shared.mig" >"$TESTDIR/shared.summary.json" || die "migdump --json failed"
check_eq "x-ignore-shared announced" "$(jget "$TESTDIR/shared.summary.json" .capabilities)" \
    '["x-ignore-shared"]'
check_devices_dump shared "$TESTDIR/shared.mig" 4 "capabilities subsection"
finish
