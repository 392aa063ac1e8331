/* hcsim conformance scenarios: client call sequences written from Microsoft's public HCS
 * documentation and samples and from how hcsshim calls the API (README, "Conformance").
 * Each scenario is one run of one client; the runner (runner.c) repeats every scenario
 * (100 times by default) on a fresh emulator per run, spread over worker processes, and
 * prints "scenario | runs | passed". A run passes when no CHECK/REQUIRE failed and every
 * hcsim object it made is released afterwards.
 *
 * Scenarios use the checks of harness.h and the helpers of checklist_util.h; each one is
 * registered with SCENARIO(name) and runs in name order in the table. */
#ifndef HCSIM_CONFORMANCE_H
#define HCSIM_CONFORMANCE_H

#include "../checklist_util.h"

typedef void (*scenario_fn)(void);
void conformance_register(const char *name, scenario_fn fn);

#define SCENARIO(name)                                               \
    static void scenario_##name(void);                               \
    __attribute__((constructor)) static void register_##name(void) { \
        conformance_register(#name, scenario_##name);                \
    }                                                                \
    static void scenario_##name(void)

/* How long a scenario waits for a completion or an event that must come: long against
 * the realistic profile's figures (README "Latency profiles"), short enough that a run
 * that lost it fails in reasonable time. */
#define CONF_WAIT_MS 2000u

#endif
