/* A conformance scenario that replays how microsoft/hcsshim's computecore client
 * (internal/hcs/v2) drives a Windows container: the order of its calls, its options and
 * what it waits for, as its source shows them (README "Real clients"). The code is ours. */
#include "conformance.h"
#include "../test_port.h"

#define OPT_LIVE_MIGRATION  0x4u /* HcsEventOptionEnableLiveMigrationEvents (current SDK) */
#define WIN_PROCESS_ABORTED 1067

/* hcsshim's "submit" calls (ShutDown, Terminate, TerminateProcess): a fresh operation,
 * the call with L"" options, and the operation closed at once, its result never read. */
static HRESULT submit_sys(cu_sys_fn fn, HCS_SYSTEM sys) {
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HRESULT hr = fn(sys, op, u"");
    HcsCloseOperation(op);
    return hr;
}

static HRESULT submit_proc(cu_proc_fn fn, HCS_PROCESS p) {
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HRESULT hr = fn(p, op, u"");
    HcsCloseOperation(op);
    return hr;
}

/* hcsshim's exec: HcsCreateProcess waited for with its process information, and only
 * then the process callback registered (no options), after which the client waits for
 * ProcessExited alone. The exit code the event carries, or -1. */
static int64_t exec_and_wait(HCS_SYSTEM sys, const char *params, int kill) {
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    if (FAILED(cu_spawn(sys, params, &p, &pi))) return -1;
    cu_close_pi(&pi);
    cu_evq *q = cu_watch_process(p, HcsEventOptionNone);
    if (kill) CHECK_HR(S_OK, submit_proc(HcsTerminateProcess, p));
    int64_t code = -1;
    hj_value *st = NULL;
    if (cu_evq_wait(q, HcsEventProcessExited, 0, CONF_WAIT_MS) >= 0) st = cu_evq_json(q, 0);
    CHECK(st != NULL);
    if (st) cu_jint(st, "ExitCode", &code);
    HcsCloseProcess(p);
    CHECK(cu_evq_total(q) == 1); /* ProcessExited, once */
    return code;
}

/* A container's life as hcsshim lives it: create (plain operation, waited for), then the
 * system callback registered with the live-migration option hcsshim always passes; Start
 * with L"" (waited for); an exec of a process that ends at once (its exit has usually
 * happened before the late registration) and one of a long process that is then killed
 * with TerminateProcess L"" (unread; the exit comes as ProcessExited, with the code a
 * Windows guest reports for a terminated process); ShutDown with L"" (unread), then
 * SystemExited, a graceful exit, as the last event; the handle closed. */
SCENARIO(hcsshim_container_lifecycle) {
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    HCS_SYSTEM sys = NULL;
    CHECK_HR(S_OK,
             HcsCreateComputeSystem(u"hcsshim", cu_w("%s", CU_CFG_CONTAINER), op, NULL, &sys));
    CHECK_HR(S_OK, cu_wait_op(op, NULL));
    HcsCloseOperation(op);
    REQUIRE(sys != NULL);
    cu_evq *q = cu_watch_system(sys, (HCS_EVENT_OPTIONS)OPT_LIVE_MIGRATION);
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, sys, u"", NULL));
    CHECK(exec_and_wait(sys, "{\"CommandArgs\":[" TP_ARGS_TRUE "]}", 0) == 0);
    CHECK(exec_and_wait(sys, "{\"CommandArgs\":[" TP_ARGS_SLEEP("30") "]}", 1) ==
          WIN_PROCESS_ABORTED);
    CHECK_HR(S_OK, submit_sys(HcsShutDownComputeSystem, sys));
    int exited = cu_evq_wait(q, HcsEventSystemExited, 0, CONF_WAIT_MS);
    CHECK(exited >= 0 && (size_t)exited == cu_evq_total(q) - 1);
    CHECK(cu_jstr_is(cu_evq_json(q, exited < 0 ? 0 : (size_t)exited), "ExitType", "GracefulExit"));
    HcsCloseComputeSystem(sys);
}
