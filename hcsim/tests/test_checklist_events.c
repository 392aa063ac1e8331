/* HCS contract §13 checklist, items 14-22: events (§4.2, §6). */
#include "checklist_util.h"
#include "test_port.h"

#include <pthread.h>
#include <string.h>

#define SLEEP30 "{\"CommandArgs\":[" TP_ARGS_SLEEP("30") "]}"

/* Asserts that fn rejects an operation carrying its own completion callback. */
#define EXPECT_CB_REJECTED(call_with_op)                                        \
    do {                                                                        \
        HCS_OPERATION op = HcsCreateOperation(r, cu_opcb_fn);                   \
        REQUIRE(op != NULL);                                                    \
        HRESULT hr_ = (call_with_op);                                           \
        CHECK_HR(HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET, hr_);             \
        CHECK(HcsGetOperationType(op) == HcsOperationTypeNone);                 \
        CHECK_HR(HCS_E_OPERATION_NOT_STARTED, HcsGetOperationResult(op, NULL)); \
        if (SUCCEEDED(hr_)) cu_wait_op(op, NULL);                               \
        HcsCloseOperation(op);                                                  \
    } while (0)

TEST(c13_14_op_callback_rejected_with_handle_op_events) {
    HCS_SYSTEM sys = cu_begin_system(u"c13-14", CU_CFG_VM, 1);
    REQUIRE(sys != NULL);
    CHECK(cu_watch_system(sys, HcsEventOptionEnableOperationCallbacks) != NULL);
    cu_opcb *r = cu_opcb_new(0);

    EXPECT_CB_REJECTED(HcsGetComputeSystemProperties(sys, op, NULL));
    EXPECT_CB_REJECTED(HcsStartComputeSystem(sys, op, NULL));
    EXPECT_CB_REJECTED(HcsPauseComputeSystem(sys, op, NULL));
    EXPECT_CB_REJECTED(HcsResumeComputeSystem(sys, op, NULL));
    EXPECT_CB_REJECTED(HcsSaveComputeSystem(sys, op, NULL));
    EXPECT_CB_REJECTED(HcsShutDownComputeSystem(sys, op, NULL));
    EXPECT_CB_REJECTED(HcsTerminateComputeSystem(sys, op, NULL));
    EXPECT_CB_REJECTED(HcsCrashComputeSystem(sys, op, NULL));
    EXPECT_CB_REJECTED(HcsModifyComputeSystem(
        sys, op,
        u"{\"ResourcePath\":\"VirtualMachine/ComputeTopology/Memory/SizeInMB\","
        u"\"RequestType\":\"Update\",\"Settings\":2048}",
        NULL));
    {
        HCS_PROCESS p = NULL;
        EXPECT_CB_REJECTED(HcsCreateProcess(sys, u"" SLEEP30, op, NULL, &p));
        CHECK(p == NULL);
        CHECK(cu_counts().ProcessHandles == 0);
        CHECK(cu_counts().Processes == 0);
    }
    /* A callback attached later with HcsSetOperationCallback counts too. */
    {
        HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
        REQUIRE(op != NULL);
        CHECK_HR(S_OK, HcsSetOperationCallback(op, r, cu_opcb_fn));
        HRESULT hr = HcsGetComputeSystemProperties(sys, op, NULL);
        CHECK_HR(HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET, hr);
        CHECK_HR(HCS_E_OPERATION_NOT_STARTED, HcsGetOperationResult(op, NULL));
        HcsCloseOperation(op);
    }
    /* Nothing happened: still Running, no completion callback ran. */
    CHECK(strcmp(cu_state(sys), "Running") == 0);
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_opcb_calls(r) == 0);

    /* The same rule on a process handle. */
    HCS_SYSTEM sys2;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-14b", CU_CFG_CONTAINER, &sys2)));
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(SUCCEEDED(cu_spawn(sys2, SLEEP30, &p, &pi)));
    cu_evq *pq = cu_watch_process(p, HcsEventOptionEnableOperationCallbacks);
    EXPECT_CB_REJECTED(HcsGetProcessProperties(p, op, NULL));
    EXPECT_CB_REJECTED(HcsGetProcessInfo(p, op));
    EXPECT_CB_REJECTED(HcsSignalProcess(p, op, u"{\"Signal\":\"CtrlC\"}"));
    EXPECT_CB_REJECTED(HcsTerminateProcess(p, op, NULL));
    EXPECT_CB_REJECTED(HcsModifyProcess(
        p, op, u"{\"Operation\":\"ConsoleSize\",\"ConsoleSize\":{\"Height\":25,\"Width\":80}}"));
    hj_value *st = cu_pstatus(p);
    CHECK(cu_jbool(st, "Exited") == 0); /* terminate/signal were not carried out */
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_opcb_calls(r) == 0);
    CHECK(cu_evq_count(pq, HcsEventProcessExited) == 0);

    cu_proc_call(HcsTerminateProcess, p, NULL, NULL);
    HcsCloseProcess(p);
    cu_kill_close(sys2);
    cu_kill_close(sys);
    CU_END();
}

/* Index of the OperationCallback event for op in q, waiting; -1 if none. */
static int wait_op_event(cu_evq *q, HCS_OPERATION op) {
    uint64_t end = cu_now_ms() + CU_EVENT_TIMEOUT_MS;
    for (size_t nth = 0;; nth++) {
        uint64_t now = cu_now_ms();
        int idx =
            cu_evq_wait(q, HcsEventOperationCallback, nth, now < end ? (unsigned)(end - now) : 0);
        if (idx < 0) return -1;
        if (cu_evq_at(q, (size_t)idx).op == op) return idx;
    }
}

static size_t count_op_events(cu_evq *q, HCS_OPERATION op) {
    size_t k = 0, n = cu_evq_total(q);
    for (size_t i = 0; i < n; i++) {
        cu_event e = cu_evq_at(q, i);
        if (e.type == HcsEventOperationCallback && e.op == op) k++;
    }
    return k;
}

TEST(c13_15_op_completion_as_handle_event) {
    cu_begin();
    /* As in the documented sample: a callback-less Create, registration afterwards,
     * completion delivered as an event. */
    CHECK_HR(S_OK, HcsimSetDelay("HcsCreateComputeSystem", 500, 0));
    HCS_OPERATION cop = HcsCreateOperation(NULL, NULL);
    REQUIRE(cop != NULL);
    HCS_SYSTEM sys = NULL;
    HRESULT hr = HcsCreateComputeSystem(u"c13-15",
                                        u"{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},"
                                        u"\"Owner\":\"test\",\"Container\":{}}",
                                        cop, NULL, &sys);
    CHECK_HR(S_OK, hr);
    REQUIRE(sys != NULL);
    CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(cop, NULL));
    cu_evq *q = cu_watch_system(sys, HcsEventOptionEnableOperationCallbacks);
    int idx = wait_op_event(q, cop);
    CHECK(idx >= 0);
    if (idx >= 0) {
        cu_event e = cu_evq_at(q, (size_t)idx);
        CHECK(e.data == NULL);
        CHECK_HR(S_OK, e.op_hr); /* HcsGetOperationResult inside the callback */
        CHECK(!pthread_equal(e.thread, pthread_self()));
    }
    CHECK_HR(S_OK, HcsWaitForOperationResult(cop, CU_OP_TIMEOUT_MS, NULL));
    CHECK_HR(S_OK, HcsimSetDelay("HcsCreateComputeSystem", 0, 0));

    /* An operation issued before registration on a second handle and completing after. */
    HCS_SYSTEM h2 = NULL;
    CHECK_HR(S_OK, HcsOpenComputeSystem(u"c13-15", GENERIC_ALL, &h2));
    REQUIRE(h2 != NULL);
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 500, 0));
    HCS_OPERATION gop = HcsCreateOperation(NULL, NULL);
    CHECK_HR(S_OK, HcsGetComputeSystemProperties(h2, gop, NULL));
    cu_evq *q2 = cu_watch_system(h2, HcsEventOptionEnableOperationCallbacks);
    idx = wait_op_event(q2, gop);
    CHECK(idx >= 0);
    if (idx >= 0) CHECK(cu_evq_at(q2, (size_t)idx).data == NULL);
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 0, 0));
    CHECK(count_op_events(q, gop) == 0); /* only the handle it was issued on */

    /* Operations issued after registration. */
    HCS_OPERATION sop = HcsCreateOperation(NULL, NULL);
    CHECK_HR(S_OK, HcsStartComputeSystem(sys, sop, NULL));
    idx = wait_op_event(q, sop);
    CHECK(idx >= 0);
    if (idx >= 0) CHECK_HR(S_OK, cu_evq_at(q, (size_t)idx).op_hr);
    HCS_OPERATION fop = HcsCreateOperation(NULL, NULL);
    CHECK_HR(S_OK, HcsStartComputeSystem(sys, fop, NULL)); /* fails: already Running */
    idx = wait_op_event(q, fop);
    CHECK(idx >= 0);
    if (idx >= 0) CHECK_HR(HCS_E_INVALID_STATE, cu_evq_at(q, (size_t)idx).op_hr);

    /* Process handles too. */
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(SUCCEEDED(cu_spawn(sys, SLEEP30, &p, &pi)));
    cu_evq *pq = cu_watch_process(p, HcsEventOptionEnableOperationCallbacks);
    HCS_OPERATION pop = HcsCreateOperation(NULL, NULL);
    CHECK_HR(S_OK, HcsGetProcessProperties(p, pop, NULL));
    idx = wait_op_event(pq, pop);
    CHECK(idx >= 0);
    if (idx >= 0) {
        CHECK(cu_evq_at(pq, (size_t)idx).data == NULL);
        CHECK_HR(S_OK, cu_evq_at(pq, (size_t)idx).op_hr);
    }

    /* Exactly one event per completion, and only on the issuing handle. */
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(count_op_events(q, cop) == 1);
    CHECK(count_op_events(q2, gop) == 1);
    CHECK(count_op_events(q, sop) == 1);
    CHECK(count_op_events(q, fop) == 1);
    CHECK(count_op_events(pq, pop) == 1);
    CHECK(count_op_events(q, pop) == 0);
    CHECK(count_op_events(q2, sop) == 0);

    HcsCloseOperation(cop);
    HcsCloseOperation(gop);
    HcsCloseOperation(sop);
    HcsCloseOperation(fop);
    HcsCloseOperation(pop);
    HcsCloseProcess(p); /* closed before the system goes: no callback may follow */
    HcsCloseComputeSystem(h2);
    cu_kill_close(sys);
    CU_END();
}

TEST(c13_16_no_op_events_without_option) {
    HCS_SYSTEM sys = cu_begin_system(u"c13-16", CU_CFG_CONTAINER, 0);
    REQUIRE(sys != NULL);
    cu_evq *q = cu_watch_system(sys, HcsEventOptionNone);
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, sys, NULL, NULL));
    CHECK_HR(S_OK, cu_sys_call(HcsGetComputeSystemProperties, sys, NULL, NULL));
    CHECK_HR(HCS_E_INVALID_STATE, cu_sys_call(HcsStartComputeSystem, sys, NULL, NULL));
    /* An operation with its own callback is fine without the option. */
    cu_opcb *r = cu_opcb_new(0);
    HCS_OPERATION op = HcsCreateOperation(r, cu_opcb_fn);
    CHECK_HR(S_OK, HcsGetComputeSystemProperties(sys, op, NULL));
    CHECK(cu_opcb_wait(r, 1, CU_OP_TIMEOUT_MS));
    HcsCloseOperation(op);

    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(SUCCEEDED(cu_spawn(sys, SLEEP30, &p, &pi)));
    cu_evq *pq = cu_watch_process(p, HcsEventOptionNone);
    CHECK_HR(S_OK, cu_proc_call(HcsGetProcessProperties, p, NULL, NULL));
    CHECK_HR(S_OK, cu_proc_call(HcsTerminateProcess, p, NULL, NULL));
    CHECK(cu_evq_wait(pq, HcsEventProcessExited, 0, CU_EVENT_TIMEOUT_MS) >= 0);
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_count(q, HcsEventOperationCallback) == 0);
    CHECK(cu_evq_count(pq, HcsEventOperationCallback) == 0);
    HcsCloseProcess(p);
    cu_kill_close(sys);
    CU_END();
}

TEST(c13_17_second_callback_rejected) {
    HCS_SYSTEM sys = cu_begin_system(u"c13-17", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    cu_evq *q1 = cu_evq_new(), *q2 = cu_evq_new();
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(sys, HcsEventOptionNone, q1, cu_evq_cb));
    HRESULT hr = HcsSetComputeSystemCallback(sys, HcsEventOptionNone, q2, cu_evq_cb);
    CHECK_HR(HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET, hr);
    hr = HcsSetComputeSystemCallback(sys, HcsEventOptionEnableOperationCallbacks, q2, cu_evq_cb);
    CHECK_HR(HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET, hr);

    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(SUCCEEDED(cu_spawn(sys, SLEEP30, &p, &pi)));
    cu_evq *p1 = cu_evq_new(), *p2 = cu_evq_new();
    CHECK_HR(S_OK, HcsSetProcessCallback(p, HcsEventOptionNone, p1, cu_evq_cb));
    hr = HcsSetProcessCallback(p, HcsEventOptionNone, p2, cu_evq_cb);
    CHECK_HR(HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET, hr);

    /* The first registrations stay in force; the rejected ones receive nothing. */
    CHECK_HR(S_OK, cu_proc_call(HcsTerminateProcess, p, NULL, NULL));
    CHECK(cu_evq_wait(p1, HcsEventProcessExited, 0, CU_EVENT_TIMEOUT_MS) >= 0);
    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, sys, NULL, NULL));
    CHECK(cu_evq_wait(q1, HcsEventSystemExited, 0, CU_EVENT_TIMEOUT_MS) >= 0);
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_total(q2) == 0);
    CHECK(cu_evq_total(p2) == 0);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(sys);

    /* The rule is configurable (hcsim option RejectSecondCallback, default 1). */
    CHECK_HR(S_OK, HcsimSetOption("RejectSecondCallback", 0));
    HCS_SYSTEM s2;
    REQUIRE(SUCCEEDED(cu_create(u"c13-17b", CU_CFG_CONTAINER, &s2)));
    cu_evq *r1 = cu_evq_new(), *r2 = cu_evq_new();
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(s2, HcsEventOptionNone, r1, cu_evq_cb));
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(s2, HcsEventOptionNone, r2, cu_evq_cb));
    CHECK_HR(S_OK, HcsimSetOption("RejectSecondCallback", 1));
    cu_kill_close(s2);
    CU_END();
}

/* How the system is made to exit in item 18. */
enum { EXIT_TERMINATE, EXIT_SHUTDOWN, EXIT_GUEST };

static void check_exit_fanout(int how) {
    static const char *const ids[] = {"c13-18-terminate", "c13-18-shutdown", "c13-18-guest"};
    static const char *const types[] = {"ForcedExit", "GracefulExit", "GracefulExit"};
    PCWSTR id = cu_w("%s", ids[how]);
    HCS_SYSTEM h1, h2 = NULL, h3 = NULL;
    REQUIRE(SUCCEEDED(cu_create_running(id, CU_CFG_VM, &h1)));
    CHECK_HR(S_OK, HcsOpenComputeSystem(id, GENERIC_ALL, &h2));
    CHECK_HR(S_OK, HcsOpenComputeSystem(id, GENERIC_ALL, &h3));
    REQUIRE(h2 && h3);
    cu_evq *q1 = cu_evq_new(), *q2 = cu_evq_new();
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(h1, HcsEventOptionNone, q1, cu_evq_cb));
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(h2, HcsEventOptionEnableOperationCallbacks, q2,
                                               cu_evq_cb));
    /* h3 has no callback. */
    if (how == EXIT_TERMINATE)
        CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, h3, NULL, NULL));
    else if (how == EXIT_SHUTDOWN)
        CHECK_HR(S_OK, cu_sys_call(HcsShutDownComputeSystem, h3, NULL, NULL));
    else
        CHECK_HR(S_OK, HcsimGuestShutdown(NULL, id));
    cu_evq *qs[2] = {q1, q2};
    for (int i = 0; i < 2; i++) {
        int idx = cu_evq_wait(qs[i], HcsEventSystemExited, 0, CU_EVENT_TIMEOUT_MS);
        CHECK(idx >= 0);
        if (idx < 0) continue;
        hj_value *st = cu_evq_json(qs[i], (size_t)idx);
        REQUIRE(st != NULL);
        int64_t status = -1;
        CHECK(cu_jint(st, "Status", &status));
        CHECK(status >= INT32_MIN && status <= INT32_MAX);
        CHECK(status == 0);
        CHECK(cu_jstr_is(st, "ExitType", types[how]));
        if (how == EXIT_GUEST)
            CHECK(cu_jstr_is(st, "Attribution.0.SystemExit.Initiator", "GuestOS"));
    }
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_count(q1, HcsEventSystemExited) == 1);
    CHECK(cu_evq_count(q2, HcsEventSystemExited) == 1);
    HcsCloseComputeSystem(h1);
    HcsCloseComputeSystem(h2);
    HcsCloseComputeSystem(h3);
}

TEST(c13_18_system_exited_to_every_handle) {
    cu_begin();
    check_exit_fanout(EXIT_TERMINATE);
    check_exit_fanout(EXIT_SHUTDOWN);
    check_exit_fanout(EXIT_GUEST);
    CU_END();
}

TEST(c13_19_process_exited_only_to_process_handles) {
    HCS_SYSTEM sys = cu_begin_system(u"c13-19", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    cu_evq *sq = cu_watch_system(sys, HcsEventOptionNone);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    HRESULT hr = cu_spawn(sys,
                          "{\"CommandArgs\":[" TP_ARGS_READ_EXIT("7") "],"
                                                                      "\"CreateStdInPipe\":true}",
                          &p, &pi);
    REQUIRE(SUCCEEDED(hr));
    REQUIRE(cu_present(pi.StdInput));
    cu_evq *pq = cu_evq_new(), *pq2 = cu_evq_new();
    CHECK_HR(S_OK, HcsSetProcessCallback(p, HcsEventOptionNone, pq, cu_evq_cb));
    HCS_PROCESS p2 = NULL;
    CHECK_HR(S_OK, HcsOpenProcess(sys, pi.ProcessId, GENERIC_ALL, &p2));
    if (p2) CHECK_HR(S_OK, HcsSetProcessCallback(p2, HcsEventOptionNone, pq2, cu_evq_cb));

    cu_close_pi(&pi); /* EOF on stdin: the shell exits with 7 */
    cu_evq *qs[2] = {pq, pq2};
    for (int i = 0; i < (p2 ? 2 : 1); i++)
        CHECK(cu_pstatus_is(cu_evq_wait_json(qs[i], HcsEventProcessExited, 0), 1, 7, pi.ProcessId));
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_count(pq, HcsEventProcessExited) == 1);
    if (p2) CHECK(cu_evq_count(pq2, HcsEventProcessExited) == 1);
    CHECK(cu_evq_count(sq, HcsEventProcessExited) == 0);
    /* Also not when the system goes away afterwards. */
    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, sys, NULL, NULL));
    CHECK(cu_evq_wait(sq, HcsEventSystemExited, 0, CU_EVENT_TIMEOUT_MS) >= 0);
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_count(sq, HcsEventProcessExited) == 0);
    CHECK(cu_evq_count(pq, HcsEventProcessExited) == 1);
    HcsCloseProcess(p);
    if (p2) HcsCloseProcess(p2);
    HcsCloseComputeSystem(sys);
    CU_END();
}

/* Raises events on a system from another thread until told to stop. */
typedef struct raiser {
    PCWSTR id;
    volatile int stop;
    pthread_mutex_t m;
} raiser;

static void *raise_loop(void *arg) {
    raiser *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->m);
        int stop = r->stop;
        pthread_mutex_unlock(&r->m);
        if (stop) break;
        HcsimRaiseSystemEvent(NULL, r->id, HcsEventSystemRdpEnhancedModeStateChanged, NULL);
        cu_sleep_ms(1);
    }
    return NULL;
}

TEST(c13_20_close_stops_callbacks) {
    HCS_SYSTEM keep = cu_begin_system(u"c13-20", CU_CFG_VM, 1);
    REQUIRE(keep != NULL);

    /* Close waits for a callback that is executing. */
    HCS_SYSTEM h1 = NULL;
    CHECK_HR(S_OK, HcsOpenComputeSystem(u"c13-20", GENERIC_ALL, &h1));
    REQUIRE(h1 != NULL);
    cu_evq *q1 = cu_evq_new();
    q1->sleep_ms = 500;
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(h1, HcsEventOptionNone, q1, cu_evq_cb));
    HRESULT hr =
        HcsimRaiseSystemEvent(NULL, u"c13-20", HcsEventSystemRdpEnhancedModeStateChanged, NULL);
    CHECK_HR(S_OK, hr);
    CHECK(cu_evq_wait_running(q1, CU_EVENT_TIMEOUT_MS));
    HcsCloseComputeSystem(h1);
    cu_evq_mark_closed(q1);
    pthread_mutex_lock(&q1->m);
    CHECK(q1->running == 0); /* the running callback finished before close returned */
    CHECK(q1->finished == (int)q1->n);
    pthread_mutex_unlock(&q1->m);
    size_t seen = cu_evq_total(q1);
    hr = HcsimRaiseSystemEvent(NULL, u"c13-20", HcsEventSystemRdpEnhancedModeStateChanged, NULL);
    CHECK_HR(S_OK, hr);
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_total(q1) == seen);
    CHECK(cu_evq_late(q1) == 0);

    /* No synthetic event from close: a system handle and a process handle. */
    HCS_SYSTEM h3 = NULL;
    CHECK_HR(S_OK, HcsOpenComputeSystem(u"c13-20", GENERIC_ALL, &h3));
    REQUIRE(h3 != NULL);
    cu_evq *q3 = cu_watch_system(h3, HcsEventOptionEnableOperationCallbacks);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(SUCCEEDED(cu_spawn(keep, SLEEP30, &p, &pi)));
    cu_evq *pq = cu_watch_process(p, HcsEventOptionEnableOperationCallbacks);
    HcsCloseComputeSystem(h3);
    cu_evq_mark_closed(q3);
    HcsCloseProcess(p);
    cu_evq_mark_closed(pq);
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_total(q3) == 0);
    CHECK(cu_evq_total(pq) == 0);
    /* Closing the process handle did not end the process. */
    HCS_PROCESS p2 = NULL;
    CHECK_HR(S_OK, HcsOpenProcess(keep, pi.ProcessId, GENERIC_ALL, &p2));
    REQUIRE(p2 != NULL);
    hj_value *st = cu_pstatus(p2);
    CHECK(cu_jbool(st, "Exited") == 0);
    /* HcsCloseProcess also waits for a callback that is executing: p3 holds a slow
     * callback, the process is ended through p2, p3 is closed while ProcessExited runs. */
    HCS_PROCESS p3 = NULL;
    CHECK_HR(S_OK, HcsOpenProcess(keep, pi.ProcessId, GENERIC_ALL, &p3));
    REQUIRE(p3 != NULL);
    cu_evq *pq3 = cu_evq_new();
    pq3->sleep_ms = 500;
    CHECK_HR(S_OK, HcsSetProcessCallback(p3, HcsEventOptionNone, pq3, cu_evq_cb));
    CHECK_HR(S_OK, cu_proc_call(HcsTerminateProcess, p2, NULL, NULL));
    CHECK(cu_evq_wait_running(pq3, CU_EVENT_TIMEOUT_MS));
    HcsCloseProcess(p3);
    cu_evq_mark_closed(pq3);
    pthread_mutex_lock(&pq3->m);
    CHECK(pq3->running == 0);
    CHECK(pq3->n == 1 && pq3->finished == 1);
    pthread_mutex_unlock(&pq3->m);
    HcsCloseProcess(p2);
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_late(pq3) == 0);

    /* Racing events against close: nothing may start after close returned. */
    raiser rz = {u"c13-20", 0, PTHREAD_MUTEX_INITIALIZER};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, raise_loop, &rz) == 0);
    cu_evq *qs[20] = {NULL};
    for (int i = 0; i < 20; i++) {
        HCS_SYSTEM h = NULL;
        CHECK_HR(S_OK, HcsOpenComputeSystem(u"c13-20", GENERIC_ALL, &h));
        if (!h) continue;
        qs[i] = cu_evq_new();
        CHECK_HR(S_OK, HcsSetComputeSystemCallback(h, HcsEventOptionNone, qs[i], cu_evq_cb));
        cu_sleep_ms(5);
        HcsCloseComputeSystem(h);
        cu_evq_mark_closed(qs[i]);
    }
    pthread_mutex_lock(&rz.m);
    rz.stop = 1;
    pthread_mutex_unlock(&rz.m);
    pthread_join(t, NULL);
    cu_sleep_ms(CU_QUIET_MS);
    int late = 0;
    for (int i = 0; i < 20; i++)
        if (qs[i]) late += cu_evq_late(qs[i]);
    CHECK(late == 0);
    cu_evq_mark_closed(q1);
    CHECK(cu_evq_late(q1) == 0);

    cu_kill_close(keep);
    CU_END();
}

TEST(c13_21_service_disconnect) {
    cu_begin();
    HCS_SYSTEM a, b;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-21a", CU_CFG_CONTAINER, &a)));
    REQUIRE(SUCCEEDED(cu_create(u"c13-21b", CU_CFG_VM, &b)));
    HCS_SYSTEM a2 = NULL;
    CHECK_HR(S_OK, HcsOpenComputeSystem(u"c13-21a", GENERIC_ALL, &a2));
    REQUIRE(a2 != NULL);
    cu_evq *qa = cu_evq_new(), *qa2 = cu_evq_new(), *qb = cu_evq_new(), *qp = cu_evq_new();
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(a, HcsEventOptionNone, qa, cu_evq_cb));
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(a2, HcsEventOptionEnableOperationCallbacks, qa2,
                                               cu_evq_cb));
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(b, HcsEventOptionNone, qb, cu_evq_cb));
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(SUCCEEDED(cu_spawn(a, SLEEP30, &p, &pi)));
    CHECK_HR(S_OK, HcsSetProcessCallback(p, HcsEventOptionNone, qp, cu_evq_cb));

    /* Pending operations of several kinds, on several handles. */
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 4000, 0));
    CHECK_HR(S_OK, HcsimSetDelay("HcsStartComputeSystem", 4000, 0));
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetProcessProperties", 4000, 0));
    CHECK_HR(S_OK, HcsimSetDelay("HcsEnumerateComputeSystems", 4000, 0));
    HCS_OPERATION o1 = HcsCreateOperation(NULL, NULL);
    HCS_OPERATION o2 = HcsCreateOperation(NULL, NULL);
    HCS_OPERATION o3 = HcsCreateOperation(NULL, NULL);
    cu_opcb *r = cu_opcb_new(0);
    HCS_OPERATION o4 = HcsCreateOperation(r, cu_opcb_fn);
    CHECK_HR(S_OK, HcsGetComputeSystemProperties(a, o1, NULL));
    CHECK_HR(S_OK, HcsStartComputeSystem(b, o2, NULL));
    CHECK_HR(S_OK, HcsGetProcessProperties(p, o3, NULL));
    CHECK_HR(S_OK, HcsEnumerateComputeSystems(NULL, o4));
    CHECK(cu_counts().PendingOperations == 4);

    uint64_t t0 = cu_now_ms();
    CHECK_HR(S_OK, HcsimDisconnectService());
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, HcsWaitForOperationResult(o1, CU_OP_TIMEOUT_MS, NULL));
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, HcsWaitForOperationResult(o2, CU_OP_TIMEOUT_MS, NULL));
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, HcsWaitForOperationResult(o3, CU_OP_TIMEOUT_MS, NULL));
    CHECK(cu_opcb_wait(r, 1, CU_OP_TIMEOUT_MS));
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, r->hr);
    CHECK(cu_now_ms() - t0 < 3500); /* failed at the disconnect, not after the delay */

    cu_evq *qs[4] = {qa, qa2, qb, qp};
    for (int i = 0; i < 4; i++) {
        int idx = cu_evq_wait(qs[i], HcsEventServiceDisconnect, 0, CU_EVENT_TIMEOUT_MS);
        CHECK(idx >= 0);
    }
    cu_sleep_ms(CU_QUIET_MS);
    for (int i = 0; i < 4; i++) CHECK(cu_evq_count(qs[i], HcsEventServiceDisconnect) == 1);
    /* Later calls to the lost service fail the same way (until HcsimReset). */
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, cu_sys_call(HcsGetComputeSystemProperties, a, NULL, NULL));
    HCS_SYSTEM lost = NULL;
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, cu_create(u"c13-21c", CU_CFG_CONTAINER, &lost));
    CHECK(lost == NULL);

    HcsCloseOperation(o1);
    HcsCloseOperation(o2);
    HcsCloseOperation(o3);
    HcsCloseOperation(o4);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(a);
    HcsCloseComputeSystem(a2);
    HcsCloseComputeSystem(b);
    /* Caller-owned objects are all released even with the service gone. */
    HCSIM_COUNTS c = cu_counts();
    CHECK(c.Operations == 0);
    CHECK(c.SystemHandles == 0);
    CHECK(c.ProcessHandles == 0);
    CHECK(c.PipeHandles == 0);
    CHECK(c.Documents == 0);
    /* The systems themselves live in the (lost) service: HcsimReset reconnects and
     * clears them. */
    CHECK_HR(S_OK, HcsimReset());
    CU_END();
}

TEST(c13_22_crash_event_sequence) {
    HCS_SYSTEM sys = cu_begin_system(u"c13-22", CU_CFG_VM, 1);
    REQUIRE(sys != NULL);
    cu_evq *q = cu_watch_system(sys, HcsEventOptionNone);
    CHECK_HR(S_OK, cu_sys_call(HcsCrashComputeSystem, sys, NULL, NULL));
    int ic = cu_evq_wait(q, HcsEventSystemCrashInitiated, 0, CU_EVENT_TIMEOUT_MS);
    int ir = cu_evq_wait(q, HcsEventSystemCrashReport, 0, CU_EVENT_TIMEOUT_MS);
    int ie = cu_evq_wait(q, HcsEventSystemExited, 0, CU_EVENT_TIMEOUT_MS);
    CHECK(ic >= 0 && ir >= 0 && ie >= 0);
    CHECK(ic < ir);
    CHECK(ir < ie);
    for (int k = 0; k < 2; k++) {
        int idx = k ? ir : ic;
        if (idx < 0) continue;
        hj_value *rep = cu_evq_json(q, (size_t)idx);
        REQUIRE(rep != NULL);
        CHECK(hj_typeof(rep) == HJ_OBJECT);
        CHECK(hj_typeof(cu_jget(rep, "CrashParameters")) == HJ_ARRAY);
        CHECK(hj_count(cu_jget(rep, "CrashParameters")) >= 1);
    }
    if (ie >= 0) {
        hj_value *st = cu_evq_json(q, (size_t)ie);
        CHECK(cu_jstr_is(st, "ExitType", "UnexpectedExit"));
        int64_t status = 0;
        CHECK(cu_jint(st, "Status", &status) && status == (int32_t)HCS_E_UNEXPECTED_EXIT);
    }
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_count(q, HcsEventSystemCrashInitiated) == 1);
    CHECK(cu_evq_count(q, HcsEventSystemCrashReport) == 1);
    CHECK(cu_evq_count(q, HcsEventSystemExited) == 1);
    /* SystemExited is the last event for the handle. */
    CHECK(cu_evq_total(q) == (size_t)ie + 1);

    /* hcsim's own crash trigger is a worker death: no guest crash report, just an
     * unexpected exit (the §6.4 mapping for crash/worker death). */
    HCS_SYSTEM s2;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-22b", CU_CFG_VM, &s2)));
    cu_evq *q2 = cu_watch_system(s2, HcsEventOptionNone);
    CHECK_HR(S_OK, HcsimCrashSystem(NULL, u"c13-22b"));
    ie = cu_evq_wait(q2, HcsEventSystemExited, 0, CU_EVENT_TIMEOUT_MS);
    CHECK(ie >= 0);
    if (ie >= 0) {
        hj_value *st = cu_evq_json(q2, (size_t)ie);
        int64_t status = 0;
        CHECK(cu_jstr_is(st, "ExitType", "UnexpectedExit"));
        CHECK(cu_jint(st, "Status", &status) && status == (int32_t)HCS_E_UNEXPECTED_EXIT);
    }
    HcsCloseComputeSystem(sys);
    HcsCloseComputeSystem(s2);
    CU_END();
}
