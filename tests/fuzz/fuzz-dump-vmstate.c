/*
 * fuzz-dump-vmstate.c - libFuzzer harness for policy/vmstate-dump.c (a
 * destination's -dump-vmstate file) and the version check that uses it.
 * Corpus: tests/fuzz/corpus/dump-vmstate (an excerpt of real QEMU 7.2
 * output).
 */
#include <stdint.h>
#include <stdlib.h>
#include "devices.h"
#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MpVmstateDump) dump = mp_vmstate_dump_parse((const char *)data, size, &err);
    g_autoptr(GArray) sections = NULL;
    g_autoptr(MpReport) report = NULL;

    if (!dump) {
        if (!err) {
            abort();        /* a refusal always says why */
        }
        return 0;
    }
    sections = mp_section_list_new();
    mp_section_list_add(sections, "ram", 0, 4, 2, QEMU_VM_SECTION_START);
    mp_section_list_add(sections, "mc146818rtc", 0, 3, 17, QEMU_VM_SECTION_FULL);
    mp_section_list_add(sections, "0000:00:04.0/virtio-net", 0, 11, 30, QEMU_VM_SECTION_FULL);
    mp_section_list_add(sections, "0000:00:05.0/ne2000", 0, 3, 31, QEMU_VM_SECTION_FULL);
    report = mp_report_new();
    if (mp_check_section_versions(report, sections, dump) > sections->len) {
        abort();
    }
    return 0;
}
