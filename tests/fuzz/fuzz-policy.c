/*
 * fuzz-policy.c - libFuzzer harness for the policy file (--policy, a GLib
 * key file): any input is refused with a reason naming what is wrong, or
 * read and applied to a gate check without harm.
 * Corpus: tests/fuzz/corpus/policy.
 */
#include <stdint.h>
#include <stdlib.h>
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
    g_autoptr(MpPolicy) policy = mp_policy_load_data((const char *)data, size, &err);
    g_autoptr(MpFacts) src = NULL, dst = NULL;
    g_autoptr(MpReport) report = NULL;

    if (!policy) {
        if (!err) {
            abort();
        }
        return 0;
    }
    src = mp_facts_new(MP_FACTS_FROM_STREAM);
    dst = mp_facts_new(MP_FACTS_FROM_PROFILE);
    src->machine = g_strdup("pc-i440fx-7.2");
    dst->machine = g_strdup("pc-q35-7.2");
    mp_facts_add_ramblock(src, "pc.ram", 128u << 20);
    mp_facts_add_ramblock(dst, "pc.ram", 64u << 20);
    report = mp_policy_new_report(policy);
    mp_check_prefix(src, dst, policy, report);
    (void)mp_report_verdict(report);
    return 0;
}
