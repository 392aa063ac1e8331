/* Concurrency stress for hcsim: several caller threads drive systems, processes and
 * operations at once while callbacks close things re-entrantly. Run under TSan/ASan by
 * `make tsan` / `make asan`; afterwards every counter must be back to zero. */
#include "test_core_util.h"
#include "test_port.h"

#include <pthread.h>
#include <stdio.h>

#define THREADS 4
#define ROUNDS  25

typedef struct stress_ctx {
    atomic_int events;
} stress_ctx;

static stress_ctx g_ctx;

static void stress_event(HCS_EVENT *ev, void *ctx) {
    stress_ctx *c = ctx;
    atomic_fetch_add(&c->events, 1);
    if (ev->Type == HcsEventOperationCallback && ev->Operation) {
        HcsGetOperationResult(ev->Operation, NULL);
        HcsCloseOperation(ev->Operation);
    }
}

static void stress_done(HCS_OPERATION op, void *ctx) {
    (void)ctx;
    PWSTR d = NULL;
    HcsGetOperationResult(op, &d);
    if (d) LocalFree(d);
    HcsCloseOperation(op);
}

static void fire_and_forget(HRESULT (*fn)(HCS_SYSTEM, HCS_OPERATION, PCWSTR), HCS_SYSTEM s) {
    HCS_OPERATION op = HcsCreateOperation(NULL, stress_done);
    if (fn(s, op, NULL) != S_OK) HcsCloseOperation(op);
}

static void *stress_thread(void *arg) {
    int t = (int)(intptr_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        char id[64];
        snprintf(id, sizeof id, "stress-%d-%d", t, r);
        const char *cfg = (r % 3 == 0)
                              ? "{\"ShouldTerminateOnLastHandleClosed\":true,\"Container\":{}}"
                              : "{\"VirtualMachine\":{\"GuestConnection\":{}}}";
        HCS_SYSTEM s;
        if (tc_create(id, cfg, 1, &s) != S_OK) {
            CHECK(0);
            continue;
        }
        HCS_SYSTEM s2;
        char16_t *wid = tc_w(id);
        CHECK_HR(S_OK, HcsOpenComputeSystem(wid, GENERIC_ALL, &s2));
        CHECK_HR(S_OK, HcsSetComputeSystemCallback(s2, HcsEventOptionEnableOperationCallbacks,
                                                   &g_ctx, stress_event));
        HCS_PROCESS p = NULL;
        HCS_PROCESS_INFORMATION pi;
        if (tc_spawn(s, "{\"CommandArgs\":[" TP_ARGS_SLEEP_PATH("5") "],\"CreateStdOutPipe\":true}",
                     &p, &pi) == S_OK) {
            CHECK_HR(S_OK, HcsSetProcessCallback(p, HcsEventOptionNone, &g_ctx, stress_event));
        }
        /* operations in flight on both handles, some completing through the event callback */
        HCS_OPERATION ops[5];
        for (int k = 0; k < 5; k++) {
            fire_and_forget(HcsGetComputeSystemProperties, s);
            ops[k] = HcsCreateOperation(NULL, NULL); /* usually closed by stress_event */
            HcsGetComputeSystemProperties(s2, ops[k], NULL);
        }
        HcsimRaiseSystemEvent(NULL, wid, HcsEventSystemGuestConnectionClosed, NULL);
        if (r == 0) /* at least one delivery before handles start closing under it */
            for (int k = 0; k < 1000 && atomic_load(&g_ctx.events) == 0; k++) tc_sleep_ms(1);
        if (r % 2) fire_and_forget(HcsPauseComputeSystem, s);
        if (r % 4 == 1) fire_and_forget(HcsTerminateComputeSystem, s2);
        tc_close_pi(&pi);
        if (p) HcsCloseProcess(p);
        HcsCloseComputeSystem(s2);
        for (int k = 0; k < 5; k++) HcsCloseOperation(ops[k]); /* a second close is harmless */
        if (r % 3 != 0) {
            HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
            HcsTerminateComputeSystem(s, op, NULL);
            HcsWaitForOperationResult(op, 10000, NULL);
            HcsCloseOperation(op);
        }
        HcsCloseComputeSystem(s);
        free(wid);
    }
    return NULL;
}

TEST(core_stress_concurrent_callers) {
    HcsimReset();
    atomic_store(&g_ctx.events, 0);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, stress_thread, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    /* everything the threads left behind completes or is cleaned up */
    HCSIM_COUNTS c;
    for (int i = 0; i < 500; i++) {
        HcsimGetCounts(&c);
        if (!c.Operations && !c.PendingOperations && !c.Systems && !c.Processes) break;
        tc_sleep_ms(10);
    }
    CHECK(c.Operations == 0 && c.PendingOperations == 0 && c.Systems == 0);
    CHECK(c.SystemHandles == 0 && c.ProcessHandles == 0 && c.PipeHandles == 0 && c.Documents == 0);
    CHECK(atomic_load(&g_ctx.events) > 0);
    HcsimReset();
    CHECK(tc_counts_zero());
}
