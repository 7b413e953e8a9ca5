/*
 * fuzz-profile.c - libFuzzer harness for destination profiles (the JSON
 * `migproxy probe` writes, read by --dest-profile): any input is refused
 * with a reason or read; what is read writes back to a profile that reads
 * to the same text again, and the gate runs on it without harm.
 * Corpus: tests/fuzz/corpus/profile (profiles probed from real QEMU 7.2).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "facts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A library complaining on the console is a bug the fuzzer must see. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MpFacts) facts = mp_facts_from_json((const char *)data, (gssize)size, &err);
    g_autoptr(MpFacts) again = NULL;
    g_autoptr(MpReport) report = NULL;
    g_autofree char *text = NULL, *text2 = NULL;

    if (!facts) {
        if (!err) {
            abort();        /* a refusal always says why */
        }
        return 0;
    }
    text = mp_facts_to_json(facts);
    again = mp_facts_from_json(text, -1, NULL);
    if (!again) {
        abort();            /* what migproxy writes, it reads */
    }
    text2 = mp_facts_to_json(again);
    if (strcmp(text, text2) != 0) {
        abort();
    }
    report = mp_report_new();
    mp_check_prefix(facts, again, NULL, report);
    return 0;
}
