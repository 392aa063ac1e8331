/* Small helpers for hcsim's white-box tests (test_core_*.c). */
#ifndef HCSIM_TEST_CORE_UTIL_H
#define HCSIM_TEST_CORE_UTIL_H

#include "harness.h"
#include "hcsim.h"
#include "json.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t tc_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void tc_sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* UTF-8 literal -> UTF-16 (caller frees). */
static inline char16_t *tc_w(const char *s) { return hj_utf8_to_utf16(s, strlen(s)); }

/* Waits for op; returns hr and (optionally) the parsed document (caller hj_free's). */
static inline HRESULT tc_wait(HCS_OPERATION op, hj_value **doc) {
    PWSTR d = NULL;
    HRESULT hr = HcsWaitForOperationResult(op, 10000, &d);
    if (doc) *doc = d ? hj_parse_utf16(d) : NULL;
    if (d) LocalFree(d);
    return hr;
}

static inline HRESULT tc_create(const char *id, const char *cfg, int start, HCS_SYSTEM *out) {
    char16_t *wid = tc_w(id), *wcfg = tc_w(cfg);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HRESULT hr = HcsCreateComputeSystem(wid, wcfg, op, NULL, out);
    if (hr == S_OK) hr = tc_wait(op, NULL);
    if (hr == S_OK && start) {
        hr = HcsStartComputeSystem(*out, op, NULL);
        if (hr == S_OK) hr = tc_wait(op, NULL);
    }
    HcsCloseOperation(op);
    free(wid);
    free(wcfg);
    return hr;
}

/* Waits for the operation of a call that returned hr, then closes it and frees w. */
static inline HRESULT tc_finish(HRESULT hr, HCS_OPERATION op, hj_value **doc, char16_t *w) {
    if (hr == S_OK) hr = tc_wait(op, doc);
    HcsCloseOperation(op);
    free(w);
    return hr;
}

/* Runs one system (tc_call) or process (tc_pcall) call taking (handle, op, options) on a
 * new operation and waits for it. */
static inline HRESULT tc_call(HRESULT (*fn)(HCS_SYSTEM, HCS_OPERATION, PCWSTR), HCS_SYSTEM s,
                              const char *options, hj_value **doc) {
    char16_t *w = options ? tc_w(options) : NULL;
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    return tc_finish(fn(s, op, w), op, doc, w);
}

static inline HRESULT tc_pcall(HRESULT (*fn)(HCS_PROCESS, HCS_OPERATION, PCWSTR), HCS_PROCESS p,
                               const char *options, hj_value **doc) {
    char16_t *w = options ? tc_w(options) : NULL;
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    return tc_finish(fn(p, op, w), op, doc, w);
}

static inline HRESULT tc_spawn(HCS_SYSTEM s, const char *params, HCS_PROCESS *p,
                               HCS_PROCESS_INFORMATION *pi) {
    char16_t *w = tc_w(params);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    memset(pi, 0, sizeof *pi);
    HRESULT hr = HcsCreateProcess(s, w, op, NULL, p);
    if (hr == S_OK) hr = HcsWaitForOperationResultAndProcessInfo(op, 10000, pi, NULL);
    HcsCloseOperation(op);
    free(w);
    return hr;
}

static inline void tc_close_pi(HCS_PROCESS_INFORMATION *pi) {
    if (pi->StdInput) CloseHandle(pi->StdInput);
    if (pi->StdOutput) CloseHandle(pi->StdOutput);
    if (pi->StdError) CloseHandle(pi->StdError);
    memset(pi, 0, sizeof *pi);
}

static inline int tc_counts_zero(void) {
    HCSIM_COUNTS c;
    for (int i = 0; i < 200; i++) {
        HcsimGetCounts(&c);
        if (!c.Operations && !c.PendingOperations && !c.Systems && !c.SystemHandles &&
            !c.ProcessHandles && !c.Processes && !c.PipeHandles && !c.Documents)
            return 1;
        tc_sleep_ms(10);
    }
    fprintf(stderr, "  counts: ops %u pend %u sys %u sysh %u proch %u procs %u pipes %u docs %u\n",
            c.Operations, c.PendingOperations, c.Systems, c.SystemHandles, c.ProcessHandles,
            c.Processes, c.PipeHandles, c.Documents);
    return 0;
}

#endif
