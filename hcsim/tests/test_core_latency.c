/* The latency profiles (README "Latency profiles"): the realistic profile's figures, the
 * instant profile, explicit delays winning over both, the seeded jitter, issue order on
 * a system, the options and the environment read by HcsimReset. The test runner itself
 * runs on the instant profile (main.c); these tests choose theirs. */
#include "checklist_util.h"
#include "hcsim_internal.h"
#include "test_port.h"

#include <string.h>

static void set_env_profile(const char *value) { tp_setenv("HCSIM_LATENCY", value); }

static int64_t option(const char *name) {
    int64_t v = -1;
    CHECK_HR(S_OK, HcsimGetOption(name, &v));
    return v;
}

/* The time a call of fn on sys takes to complete, in ms; *hr its result. The operation
 * must still be pending right after the call when pending_after is set. */
static uint64_t timed_call(cu_sys_fn fn, HCS_SYSTEM sys, int pending_after, HRESULT *hr) {
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    uint64_t t0 = cu_now_ms();
    *hr = fn(sys, op, NULL);
    if (pending_after) CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(op, NULL));
    if (SUCCEEDED(*hr)) *hr = cu_wait_op(op, NULL);
    uint64_t ms = cu_now_ms() - t0;
    HcsCloseOperation(op);
    return ms;
}

TEST(latency_realistic_operations_take_their_figures) {
    cu_begin();
    CHECK_HR(S_OK, HcsimSetOption("LatencyProfile", HC_LATENCY_REALISTIC));
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HCS_SYSTEM sys = NULL;
    uint64_t t0 = cu_now_ms();
    CHECK_HR(S_OK, HcsCreateComputeSystem(u"lat", cu_w("%s", CU_CFG_VM), op, NULL, &sys));
    CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(op, NULL));
    CHECK_HR(S_OK, cu_wait_op(op, NULL));
    CHECK(cu_now_ms() - t0 >= hc_latency_figure(FN_HcsCreateComputeSystem));
    HcsCloseOperation(op);
    REQUIRE(sys != NULL);
    HRESULT hr;
    static const struct {
        cu_sys_fn fn;
        fn_id id;
    } calls[] = {
        {HcsStartComputeSystem, FN_HcsStartComputeSystem},
        {HcsGetComputeSystemProperties, FN_HcsGetComputeSystemProperties},
        {HcsPauseComputeSystem, FN_HcsPauseComputeSystem},
        {HcsResumeComputeSystem, FN_HcsResumeComputeSystem},
        {HcsShutDownComputeSystem, FN_HcsShutDownComputeSystem},
    };
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
        uint64_t ms = timed_call(calls[i].fn, sys, 1, &hr);
        CHECK_HR(S_OK, hr);
        CHECK(ms >= hc_latency_figure(calls[i].id));
    }
    HcsCloseComputeSystem(sys);
    CU_END();
}

TEST(latency_instant_profile_takes_none) {
    cu_begin();
    CHECK(option("LatencyProfile") == HC_LATENCY_INSTANT); /* the runner's environment */
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        uint64_t t0 = cu_now_ms();
        HCS_SYSTEM sys = NULL;
        CHECK_HR(S_OK, cu_create_running(cu_w("inst-%d", i), CU_CFG_CONTAINER, &sys));
        uint64_t ms = cu_now_ms() - t0;
        if (ms < best) best = ms;
        cu_kill_close(sys);
    }
    /* create + start: far below the realistic 150 ms, even on a loaded machine */
    CHECK(best < (hc_latency_figure(FN_HcsCreateComputeSystem) +
                  hc_latency_figure(FN_HcsStartComputeSystem)) /
                     3);
    CU_END();
}

TEST(latency_explicit_delay_wins_over_the_profile) {
    HCS_SYSTEM sys = cu_begin_system(u"lat-delay", CU_CFG_CONTAINER, 0);
    REQUIRE(sys != NULL);
    CHECK_HR(S_OK, HcsimSetOption("LatencyProfile", HC_LATENCY_REALISTIC));
    CHECK_HR(S_OK, HcsimSetDelay("HcsStartComputeSystem", 5, 0));
    HRESULT hr;
    uint64_t ms = timed_call(HcsStartComputeSystem, sys, 0, &hr);
    CHECK_HR(S_OK, hr);
    CHECK(ms < hc_latency_figure(FN_HcsStartComputeSystem));
    /* "*" wins too; clearing it brings the profile's figure back */
    CHECK_HR(S_OK, HcsimSetDelay("*", 300, 0));
    ms = timed_call(HcsGetComputeSystemProperties, sys, 1, &hr);
    CHECK(ms >= 300);
    CHECK_HR(S_OK, HcsimSetDelay("*", 0, 0));
    CHECK_HR(S_OK, HcsimSetDelay("HcsPauseComputeSystem", 0, 0)); /* no rule: the profile */
    ms = timed_call(HcsPauseComputeSystem, sys, 1, &hr);
    CHECK_HR(S_OK, hr);
    CHECK(ms >= hc_latency_figure(FN_HcsPauseComputeSystem));
    cu_kill_close(sys);
    CU_END();
}

/* A profiled operation issued after another on the same system completes after it,
 * even when its own figure is shorter (Pause 10 ms, then GetProperties 2 ms). */
TEST(latency_profiled_operations_keep_issue_order) {
    HCS_SYSTEM sys = cu_begin_system(u"lat-order", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    CHECK_HR(S_OK, HcsimSetOption("LatencyProfile", HC_LATENCY_REALISTIC));
    for (int i = 0; i < 5; i++) {
        HCS_OPERATION pause = HcsCreateOperation(NULL, NULL),
                      props = HcsCreateOperation(NULL, NULL);
        CHECK_HR(S_OK, HcsPauseComputeSystem(sys, pause, NULL));
        CHECK_HR(S_OK, HcsGetComputeSystemProperties(sys, props, NULL));
        hj_value *doc = NULL;
        CHECK_HR(S_OK, cu_wait_op(props, &doc));
        CHECK_HR(S_OK, HcsGetOperationResult(pause, NULL)); /* already complete */
        CHECK(cu_jstr_is(doc, "State", "Paused"));
        CHECK_HR(S_OK, cu_sys_call(HcsResumeComputeSystem, sys, NULL, NULL));
        HcsCloseOperation(pause);
        HcsCloseOperation(props);
    }
    cu_kill_close(sys);
    CU_END();
}

TEST(latency_jitter_is_deterministic_under_a_seed) {
    cu_begin();
    CHECK_HR(S_OK, HcsimSetOption("LatencyProfile", HC_LATENCY_REALISTIC));
    uint32_t figure = hc_latency_figure(FN_HcsStartComputeSystem), a[32], b[32];
    CHECK_HR(S_OK, HcsimSetOption("LatencySeed", 42));
    CHECK(option("LatencySeed") == 42);
    int varies = 0;
    for (int i = 0; i < 32; i++) {
        a[i] = hc_latency_pick(FN_HcsStartComputeSystem);
        CHECK(a[i] >= figure && a[i] <= figure + figure / 5);
        varies |= a[i] != a[0];
    }
    CHECK(varies);
    CHECK_HR(S_OK, HcsimSetOption("LatencySeed", 42)); /* the same sequence again */
    for (int i = 0; i < 32; i++) b[i] = hc_latency_pick(FN_HcsStartComputeSystem);
    CHECK(!memcmp(a, b, sizeof a));
    CHECK_HR(S_OK, HcsimSetOption("LatencySeed", 43));
    for (int i = 0; i < 32; i++) b[i] = hc_latency_pick(FN_HcsStartComputeSystem);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK(hc_latency_pick(FN_HcsCloseOperation) == 0); /* no operation, no latency */
    CHECK_HR(S_OK, HcsimSetOption("LatencyProfile", HC_LATENCY_INSTANT));
    CHECK(hc_latency_pick(FN_HcsStartComputeSystem) == 0);
    CU_END();
}

TEST(latency_options_and_the_environment) {
    cu_begin();
    CHECK_HR(E_INVALIDARG, HcsimSetOption("LatencyProfile", 2));
    CHECK_HR(E_INVALIDARG, HcsimSetOption("LatencyProfile", -1));
    CHECK_HR(E_INVALIDARG, HcsimSetOption("LatencySeed", -1));
    int64_t v;
    CHECK_HR(E_INVALIDARG, HcsimGetOption("NoSuchOption", &v));
    CHECK_HR(E_INVALIDARG, HcsimGetOption("LatencyProfile", NULL));
    CHECK_HR(E_INVALIDARG, HcsimGetOption(NULL, &v));
    CHECK(option("WorkerThreads") == 4 && option("RejectSecondCallback") == 1);
    CHECK(option("SchemaMinorVersion") == 6 && option("LogicalProcessorCount") == 4);
    /* HcsimReset goes back to what the environment names, read again */
    CHECK_HR(S_OK, HcsimSetOption("LatencyProfile", HC_LATENCY_REALISTIC));
    CHECK_HR(S_OK, HcsimSetOption("LatencySeed", 7));
    CHECK_HR(S_OK, HcsimReset());
    CHECK(option("LatencyProfile") == HC_LATENCY_INSTANT && option("LatencySeed") == 1);
    set_env_profile("Realistic"); /* names ignore case */
    CHECK_HR(S_OK, HcsimReset());
    CHECK(option("LatencyProfile") == HC_LATENCY_REALISTIC);
    set_env_profile("no-such-profile"); /* unknown: the default */
    CHECK_HR(S_OK, HcsimReset());
    CHECK(option("LatencyProfile") == HC_LATENCY_REALISTIC);
    set_env_profile("instant");
    CHECK_HR(S_OK, HcsimReset());
    CHECK(option("LatencyProfile") == HC_LATENCY_INSTANT);
    CU_END();
}
