/* HCS contract §13 checklist, items 1-13: the operation model (§4.1, §5.1). */
#include "checklist_util.h"
#include "test_port.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

TEST(c13_01_create_operation_defaults) {
    cu_begin();
    int ctx1 = 1, ctx2 = 2;
    HCS_OPERATION op = HcsCreateOperation(&ctx1, NULL);
    REQUIRE(op != NULL);
    CHECK(HcsGetOperationType(op) == HcsOperationTypeNone);
    CHECK((int)HcsGetOperationType(op) == -1);
    CHECK(HcsGetOperationContext(op) == &ctx1);
    CHECK_HR(S_OK, HcsSetOperationContext(op, &ctx2));
    CHECK(HcsGetOperationContext(op) == &ctx2);
    CHECK_HR(S_OK, HcsSetOperationContext(op, NULL));
    CHECK(HcsGetOperationContext(op) == NULL);
    CHECK(cu_counts().Operations == 1);

    /* Both arguments are optional. */
    HCS_OPERATION op2 = HcsCreateOperation(NULL, NULL);
    REQUIRE(op2 != NULL);
    CHECK(op2 != op);
    CHECK(HcsGetOperationContext(op2) == NULL);
    CHECK(HcsGetOperationType(op2) == HcsOperationTypeNone);
    /* With a callback too: creating it runs nothing. */
    cu_opcb *r = cu_opcb_new(0);
    HCS_OPERATION op3 = HcsCreateOperation(r, cu_opcb_fn);
    REQUIRE(op3 != NULL);
    CHECK(HcsGetOperationContext(op3) == r);
    CHECK(cu_counts().Operations == 3);
    HcsCloseOperation(op);
    HcsCloseOperation(op2);
    HcsCloseOperation(op3);
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_opcb_calls(r) == 0);
    CU_END();
}

TEST(c13_02_unused_operation_not_started) {
    cu_begin();
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    PWSTR doc = NULL;
    CHECK_HR(HCS_E_OPERATION_NOT_STARTED, HcsGetOperationResult(op, &doc));
    CHECK(doc == NULL);
    CHECK_HR(HCS_E_OPERATION_NOT_STARTED, HcsGetOperationResult(op, NULL));

    /* Wait returns at once (I), even with a long timeout. */
    uint64_t t0 = cu_now_ms();
    doc = NULL;
    CHECK_HR(HCS_E_OPERATION_NOT_STARTED, HcsWaitForOperationResult(op, 10000, &doc));
    CHECK(doc == NULL);
    CHECK(cu_now_ms() - t0 < 1000);
    t0 = cu_now_ms();
    CHECK_HR(HCS_E_OPERATION_NOT_STARTED, HcsWaitForOperationResult(op, INFINITE, NULL));
    CHECK(cu_now_ms() - t0 < 1000);
    CHECK(cu_counts().Documents == 0);
    CHECK(HcsGetOperationType(op) == HcsOperationTypeNone);
    HcsCloseOperation(op);
    CU_END();
}

TEST(c13_03_pending_and_wait_timeout) {
    HCS_SYSTEM sys = cu_begin_system(u"c13-03", CU_CFG_CONTAINER, 0);
    REQUIRE(sys != NULL);
    HCS_OPERATION op = CU_START_DELAYED(HcsStartComputeSystem, sys, NULL, 1500);
    REQUIRE(op != NULL);
    PWSTR doc = NULL;
    CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(op, &doc));
    CHECK(doc == NULL);
    CHECK(cu_counts().PendingOperations == 1);
    uint64_t t0 = cu_now_ms();
    CHECK_HR(HCS_E_OPERATION_TIMEOUT, HcsWaitForOperationResult(op, 50, &doc));
    uint64_t waited = cu_now_ms() - t0;
    CHECK(waited >= 40);
    CHECK(waited < 1400);
    CHECK(doc == NULL);
    CHECK_HR(HCS_E_OPERATION_TIMEOUT, HcsWaitForOperationResult(op, 0, NULL));
    /* Still pending after the timed-out waits; the work completes later. */
    CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(op, NULL));
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, NULL));
    CHECK(cu_now_ms() - t0 >= 1000);
    CHECK(strcmp(cu_state(sys), "Running") == 0);
    CHECK(cu_counts().PendingOperations == 0);
    CHECK_HR(S_OK, HcsimSetDelay("HcsStartComputeSystem", 0, 0));
    HcsCloseOperation(op);
    cu_kill_close(sys);
    CU_END();
}

static int docs_equal(PWSTR a, PWSTR b) {
    if (!a || !b) return a == b;
    hj_value *va = cu_parse16(a), *vb = cu_parse16(b);
    return va && vb && hj_equal(va, vb);
}

TEST(c13_04_completed_result_is_stable) {
    HCS_SYSTEM sys = cu_begin_system(u"c13-04", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);

    /* A successful operation with a document. */
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    CHECK_HR(S_OK, HcsGetComputeSystemProperties(sys, op, NULL));
    PWSTR d1 = NULL, d2 = NULL, d3 = NULL, d4 = NULL;
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, &d1));
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, &d2));
    CHECK_HR(S_OK, HcsGetOperationResult(op, &d3));
    CHECK_HR(S_OK, HcsGetOperationResult(op, &d4));
    CHECK(d1 != NULL);
    CHECK(docs_equal(d1, d2));
    CHECK(docs_equal(d1, d3));
    CHECK(docs_equal(d1, d4));
    /* Each call hands out its own buffer. */
    CHECK(d1 != d2 && d1 != d3 && d3 != d4);
    CHECK(cu_counts().Documents == 4);
    LocalFree(d1);
    LocalFree(d2);
    LocalFree(d3);
    LocalFree(d4);
    CHECK(cu_counts().Documents == 0);

    /* A failed operation (Start on Running -> HCS_E_INVALID_STATE). */
    HRESULT hr = HcsStartComputeSystem(sys, op, NULL);
    if (SUCCEEDED(hr)) {
        d1 = d2 = d3 = d4 = NULL;
        HRESULT h1 = HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, &d1);
        HRESULT h2 = HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, &d2);
        HRESULT h3 = HcsGetOperationResult(op, &d3);
        HRESULT h4 = HcsGetOperationResult(op, &d4);
        CHECK_HR(HCS_E_INVALID_STATE, h1);
        CHECK_HR(h1, h2);
        CHECK_HR(h1, h3);
        CHECK_HR(h1, h4);
        CHECK(docs_equal(d1, d2));
        CHECK(docs_equal(d1, d3));
        CHECK(docs_equal(d1, d4));
        LocalFree(d1);
        LocalFree(d2);
        LocalFree(d3);
        LocalFree(d4);
    } else {
        CHECK_HR(HCS_E_INVALID_STATE, hr);
    }
    HcsCloseOperation(op);
    cu_kill_close(sys);
    CU_END();
}

/* Issues fn on a new operation, checks its type right away, waits, closes. */
#define EXPECT_TYPE(expected, call_with_op)                 \
    do {                                                    \
        HCS_OPERATION op_ = HcsCreateOperation(NULL, NULL); \
        REQUIRE(op_ != NULL);                               \
        HCS_OPERATION op = op_;                             \
        HRESULT hr_ = (call_with_op);                       \
        CHECK_HR(S_OK, hr_);                                \
        CHECK_HR((expected), HcsGetOperationType(op_));     \
        if (SUCCEEDED(hr_)) cu_wait_op(op_, NULL);          \
        CHECK_HR((expected), HcsGetOperationType(op_));     \
        HcsCloseOperation(op_);                             \
    } while (0)

TEST(c13_05_operation_types) {
    cu_begin();
    const char *dir = cu_tmpdir();
    HCS_SYSTEM a = NULL, b = NULL, c = NULL;
    char16_t *cfg = hj_utf8_to_utf16(CU_CFG_VM, strlen(CU_CFG_VM));
    EXPECT_TYPE(HcsOperationTypeCreate, HcsCreateComputeSystem(u"c13-05a", cfg, op, NULL, &a));
    free(cfg);
    REQUIRE(a != NULL);
    EXPECT_TYPE(HcsOperationTypeEnumerate, HcsEnumerateComputeSystems(NULL, op));
    EXPECT_TYPE(HcsOperationTypeStart, HcsStartComputeSystem(a, op, NULL));
    EXPECT_TYPE(HcsOperationTypeGetProperties, HcsGetComputeSystemProperties(a, op, NULL));
    EXPECT_TYPE(HcsOperationTypeModify,
                HcsModifyComputeSystem(
                    a, op,
                    u"{\"ResourcePath\":\"VirtualMachine/ComputeTopology/Memory/SizeInMB\","
                    u"\"RequestType\":\"Update\",\"Settings\":2048}",
                    NULL));

    /* Process operations. */
    HCS_PROCESS p = NULL;
    EXPECT_TYPE(HcsOperationTypeCreateProcess,
                HcsCreateProcess(a, u"{\"CommandArgs\":[" TP_ARGS_SLEEP("30") "]}", op, NULL, &p));
    REQUIRE(p != NULL);
    EXPECT_TYPE(HcsOperationTypeGetProcessInfo, HcsGetProcessInfo(p, op));
    EXPECT_TYPE(HcsOperationTypeGetProcessProperties, HcsGetProcessProperties(p, op, NULL));
    {
        HCS_PROCESS p2;
        HCS_PROCESS_INFORMATION pi2;
        REQUIRE(SUCCEEDED(cu_spawn(
            a, "{\"CommandArgs\":[" TP_ARGS_CAT "],\"CreateStdInPipe\":true}", &p2, &pi2)));
        EXPECT_TYPE(
            HcsOperationTypeModifyProcess,
            HcsModifyProcess(
                p2, op, u"{\"Operation\":\"CloseHandle\",\"CloseHandle\":{\"Handle\":\"StdIn\"}}"));
        cu_close_pi(&pi2);
        cu_proc_call(HcsTerminateProcess, p2, NULL, NULL);
        HcsCloseProcess(p2);
    }

    /* ...AndProcessInfo on other operation types -> E_INVALIDARG. */
    {
        HCS_PROCESS_INFORMATION pi;
        HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
        REQUIRE(op != NULL);
        CHECK_HR(S_OK, HcsGetComputeSystemProperties(a, op, NULL));
        CHECK_HR(S_OK, cu_wait_op(op, NULL));
        memset(&pi, 0, sizeof pi);
        CHECK_HR(E_INVALIDARG, HcsGetOperationResultAndProcessInfo(op, &pi, NULL));
        CHECK_HR(E_INVALIDARG, HcsWaitForOperationResultAndProcessInfo(op, 1000, &pi, NULL));
        CHECK(cu_counts().PipeHandles == 0);
        CHECK_HR(S_OK, HcsGetProcessProperties(p, op, NULL));
        CHECK_HR(S_OK, cu_wait_op(op, NULL));
        CHECK_HR(E_INVALIDARG, HcsGetOperationResultAndProcessInfo(op, &pi, NULL));
        CHECK_HR(E_INVALIDARG, HcsWaitForOperationResultAndProcessInfo(op, 1000, &pi, NULL));
        /* ...and accepted for the two process-info types. */
        CHECK_HR(S_OK, HcsGetProcessInfo(p, op));
        CHECK_HR(S_OK, HcsWaitForOperationResultAndProcessInfo(op, CU_OP_TIMEOUT_MS, &pi, NULL));
        CHECK(pi.ProcessId != 0);
        CHECK_HR(S_OK, HcsGetOperationResultAndProcessInfo(op, &pi, NULL));
        CHECK(pi.ProcessId != 0);
        cu_close_pi(&pi);
        HcsCloseOperation(op);
    }
    EXPECT_TYPE(HcsOperationTypeSignalProcess, HcsSignalProcess(p, op, u"{\"Signal\":\"CtrlC\"}"));
    cu_proc_call(HcsTerminateProcess, p, NULL, NULL);
    HcsCloseProcess(p);

    EXPECT_TYPE(HcsOperationTypePause, HcsPauseComputeSystem(a, op, NULL));
    PCWSTR save = cu_w("{\"SaveType\":\"ToFile\",\"SaveStateFilePath\":\"%s/a.vmrs\"}", dir);
    EXPECT_TYPE(HcsOperationTypeSave, HcsSaveComputeSystem(a, op, save));
    EXPECT_TYPE(HcsOperationTypeResume, HcsResumeComputeSystem(a, op, NULL));
    EXPECT_TYPE(HcsOperationTypeShutdown, HcsShutDownComputeSystem(a, op, NULL));
    HcsCloseComputeSystem(a);

    REQUIRE(SUCCEEDED(cu_create_running(u"c13-05b", CU_CFG_VM, &b)));
    EXPECT_TYPE(HcsOperationTypeCrash, HcsCrashComputeSystem(b, op, NULL));
    HcsCloseComputeSystem(b);
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-05c", CU_CFG_CONTAINER, &c)));
    EXPECT_TYPE(HcsOperationTypeTerminate, HcsTerminateComputeSystem(c, op, NULL));
    HcsCloseComputeSystem(c);
    CU_END();
}

TEST(c13_06_system_and_process_from_operation) {
    HCS_SYSTEM sys = cu_begin_system(u"c13-06", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    HCS_OPERATION unused = HcsCreateOperation(NULL, NULL);
    REQUIRE(unused != NULL);
    CHECK(HcsGetComputeSystemFromOperation(unused) == NULL);
    CHECK(HcsGetProcessFromOperation(unused) == NULL);

    /* An active (pending) system operation answers with the handle it was issued on. */
    HCS_OPERATION op = CU_START_DELAYED(HcsGetComputeSystemProperties, sys, NULL, 1000);
    REQUIRE(op != NULL);
    CHECK(HcsGetComputeSystemFromOperation(op) == sys);
    CHECK_HR(S_OK, cu_wait_op(op, NULL));
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 0, 0));

    /* A pending Create answers with the handle it produced. */
    CHECK_HR(S_OK, HcsimSetDelay("HcsCreateComputeSystem", 1000, 0));
    HCS_SYSTEM created = NULL;
    HRESULT hr = HcsCreateComputeSystem(u"c13-06b",
                                        u"{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},"
                                        u"\"Container\":{}}",
                                        op, NULL, &created);
    CHECK_HR(S_OK, hr);
    CHECK(created != NULL);
    CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(op, NULL));
    CHECK(HcsGetComputeSystemFromOperation(op) == created);
    CHECK(HcsGetProcessFromOperation(op) == NULL);
    CHECK_HR(S_OK, cu_wait_op(op, NULL));
    CHECK_HR(S_OK, HcsimSetDelay("HcsCreateComputeSystem", 0, 0));
    cu_kill_close(created);

    /* Process operations answer with the process. */
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(SUCCEEDED(cu_spawn(sys, "{\"CommandArgs\":[" TP_ARGS_SLEEP("30") "]}", &p, &pi)));
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetProcessProperties", 1000, 0));
    CHECK_HR(S_OK, HcsGetProcessProperties(p, op, NULL));
    CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(op, NULL));
    CHECK(HcsGetProcessFromOperation(op) == p);
    CHECK_HR(S_OK, cu_wait_op(op, NULL));
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetProcessProperties", 0, 0));

    CHECK_HR(S_OK, HcsimSetDelay("HcsGetProcessInfo", 1000, 0));
    CHECK_HR(S_OK, HcsGetProcessInfo(p, op));
    CHECK(HcsGetProcessFromOperation(op) == p);
    memset(&pi, 0, sizeof pi);
    CHECK_HR(S_OK, HcsWaitForOperationResultAndProcessInfo(op, CU_OP_TIMEOUT_MS, &pi, NULL));
    cu_close_pi(&pi);
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetProcessInfo", 0, 0));

    /* CreateProcess: the out handle is produced synchronously and the op reports it. */
    CHECK_HR(S_OK, HcsimSetDelay("HcsCreateProcess", 1000, 0));
    HCS_PROCESS p2 = NULL;
    CHECK_HR(S_OK,
             HcsCreateProcess(sys, u"{\"CommandArgs\":[" TP_ARGS_SLEEP("30") "]}", op, NULL, &p2));
    CHECK(p2 != NULL);
    CHECK(HcsGetProcessFromOperation(op) == p2);
    memset(&pi, 0, sizeof pi);
    CHECK_HR(S_OK, HcsWaitForOperationResultAndProcessInfo(op, CU_OP_TIMEOUT_MS, &pi, NULL));
    cu_close_pi(&pi);
    CHECK_HR(S_OK, HcsimSetDelay("HcsCreateProcess", 0, 0));

    HcsCloseOperation(op);
    HcsCloseOperation(unused);
    cu_proc_call(HcsTerminateProcess, p, NULL, NULL);
    if (p2) cu_proc_call(HcsTerminateProcess, p2, NULL, NULL);
    HcsCloseProcess(p);
    if (p2) HcsCloseProcess(p2);
    cu_kill_close(sys);
    CU_END();
}

TEST(c13_07_operation_ids_unique) {
    cu_begin();
    HCS_OPERATION ops[16];
    for (int i = 0; i < 16; i++) {
        ops[i] = HcsCreateOperation(NULL, NULL);
        REQUIRE(ops[i] != NULL);
    }
    for (int i = 0; i < 16; i++) {
        UINT64 id = HcsGetOperationId(ops[i]);
        CHECK(id != HCS_INVALID_OPERATION_ID);
        for (int j = 0; j < i; j++) CHECK(HcsGetOperationId(ops[j]) != id);
    }
    /* Still unique (and stable) once used. */
    UINT64 before = HcsGetOperationId(ops[0]);
    CHECK_HR(S_OK, HcsEnumerateComputeSystems(NULL, ops[0]));
    CHECK_HR(S_OK, HcsEnumerateComputeSystems(NULL, ops[1]));
    CHECK_HR(S_OK, cu_wait_op(ops[0], NULL));
    CHECK_HR(S_OK, cu_wait_op(ops[1], NULL));
    CHECK(HcsGetOperationId(ops[0]) != HcsGetOperationId(ops[1]));
    CHECK(HcsGetOperationId(ops[0]) != HCS_INVALID_OPERATION_ID);
    (void)before;
    for (int i = 0; i < 16; i++) HcsCloseOperation(ops[i]);
    CU_END();
}

TEST(c13_08_operation_reuse) {
    cu_begin();
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    HCS_SYSTEM sys = NULL;
    PCWSTR cfg =
        u"{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"test\",\"Container\":{}}";
    HRESULT hr = HcsCreateComputeSystem(u"c13-08", cfg, op, NULL, &sys);
    CHECK_HR(S_OK, hr);
    REQUIRE(sys != NULL);
    PWSTR doc = NULL;
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, &doc));
    CHECK(doc == NULL); /* a successful create yields no document */
    CHECK(HcsGetOperationType(op) == HcsOperationTypeCreate);

    CHECK_HR(S_OK, HcsStartComputeSystem(sys, op, NULL));
    CHECK(HcsGetOperationType(op) == HcsOperationTypeStart);
    CHECK_HR(S_OK, cu_wait_op(op, NULL));

    CHECK_HR(S_OK, HcsGetComputeSystemProperties(sys, op, NULL));
    CHECK(HcsGetOperationType(op) == HcsOperationTypeGetProperties);
    hj_value *props = NULL;
    CHECK_HR(S_OK, cu_wait_op(op, &props));
    CHECK(cu_jstr_is(props, "State", "Running"));

    /* A failing call: the op now reports that failure, and no stale document. */
    hr = HcsStartComputeSystem(sys, op, NULL);
    if (SUCCEEDED(hr)) {
        CHECK(HcsGetOperationType(op) == HcsOperationTypeStart);
        hj_value *d = NULL;
        CHECK_HR(HCS_E_INVALID_STATE, cu_wait_op(op, &d));
        CHECK(d == NULL || !cu_has_key(d, "State"));
    } else {
        CHECK_HR(HCS_E_INVALID_STATE, hr);
    }

    CHECK_HR(S_OK, HcsTerminateComputeSystem(sys, op, NULL));
    CHECK(HcsGetOperationType(op) == HcsOperationTypeTerminate);
    CHECK_HR(S_OK, cu_wait_op(op, NULL));
    HcsCloseOperation(op);
    HcsCloseComputeSystem(sys);
    CU_END();
}

TEST(c13_09_pending_operation_already_started) {
    HCS_SYSTEM sys = cu_begin_system(u"c13-09", CU_CFG_CONTAINER, 0);
    REQUIRE(sys != NULL);
    HCS_OPERATION op = CU_START_DELAYED(HcsGetComputeSystemProperties, sys, NULL, 1000);
    REQUIRE(op != NULL);
    CHECK_HR(HCS_E_OPERATION_ALREADY_STARTED, HcsStartComputeSystem(sys, op, NULL));
    CHECK_HR(HCS_E_OPERATION_ALREADY_STARTED, HcsGetComputeSystemProperties(sys, op, NULL));
    CHECK_HR(HCS_E_OPERATION_ALREADY_STARTED, HcsEnumerateComputeSystems(NULL, op));
    CHECK(HcsGetOperationType(op) == HcsOperationTypeGetProperties);
    /* The first call still completes normally, and the rejected Start did nothing. */
    hj_value *props = NULL;
    CHECK_HR(S_OK, cu_wait_op(op, &props));
    CHECK(cu_jstr_is(props, "State", "Created"));
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 0, 0));
    CHECK(strcmp(cu_state(sys), "Created") == 0);
    HcsCloseOperation(op);
    cu_kill_close(sys);
    CU_END();
}

TEST(c13_10_completion_callback_once_other_thread) {
    HCS_SYSTEM sys = cu_begin_system(u"c13-10", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    pthread_t me = pthread_self();

    /* Immediate completions and delayed ones both run on another thread, once. */
    for (int delayed = 0; delayed < 2; delayed++) {
        CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", delayed ? 200 : 0, 0));
        cu_opcb *r = cu_opcb_new(0);
        HCS_OPERATION op = HcsCreateOperation(r, cu_opcb_fn);
        REQUIRE(op != NULL);
        CHECK_HR(S_OK, HcsGetComputeSystemProperties(sys, op, NULL));
        CHECK(cu_opcb_wait(r, 1, CU_OP_TIMEOUT_MS));
        cu_sleep_ms(CU_QUIET_MS);
        pthread_mutex_lock(&r->m);
        CHECK(r->calls == 1);
        CHECK(!pthread_equal(r->thread, me));
        CHECK(r->op == op);
        CHECK_HR(S_OK, r->hr); /* never PENDING inside the callback */
        CHECK(!r->doc_is_null);
        pthread_mutex_unlock(&r->m);
        CHECK_HR(S_OK, HcsGetOperationResult(op, NULL));
        HcsCloseOperation(op);
    }
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 0, 0));

    /* Closing the operation inside its own callback is safe; a failing call too. */
    for (int i = 0; i < 20; i++) {
        cu_opcb *r = cu_opcb_new(1);
        HCS_OPERATION op = HcsCreateOperation(r, cu_opcb_fn);
        REQUIRE(op != NULL);
        HRESULT hr = (i % 2) ? HcsStartComputeSystem(sys, op, NULL) /* fails: Running */
                             : HcsGetComputeSystemProperties(sys, op, NULL);
        CHECK_HR(S_OK, hr);
        CHECK(cu_opcb_wait(r, 1, CU_OP_TIMEOUT_MS));
        pthread_mutex_lock(&r->m);
        CHECK(!pthread_equal(r->thread, me));
        CHECK_HR((i % 2) ? HCS_E_INVALID_STATE : S_OK, r->hr);
        pthread_mutex_unlock(&r->m);
    }
    HCSIM_COUNTS c;
    uint64_t end = cu_now_ms() + 5000;
    do {
        c = cu_counts();
        if (c.Operations == 0) break;
        cu_sleep_ms(10);
    } while (cu_now_ms() < end);
    CHECK(c.Operations == 0); /* every op closed inside its callback */
    CHECK(c.Documents == 0);
    cu_kill_close(sys);
    CU_END();
}

TEST(c13_11_set_operation_callback) {
    HCS_SYSTEM sys = cu_begin_system(u"c13-11", CU_CFG_CONTAINER, 0);
    REQUIRE(sys != NULL);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    cu_opcb *r = cu_opcb_new(0);
    CHECK_HR(S_OK, HcsSetOperationCallback(op, r, cu_opcb_fn));
    CHECK(HcsGetOperationContext(op) == r);
    cu_sleep_ms(50);
    CHECK(cu_opcb_calls(r) == 0); /* setting it runs nothing */
    CHECK_HR(S_OK, HcsStartComputeSystem(sys, op, NULL));
    CHECK(cu_opcb_wait(r, 1, CU_OP_TIMEOUT_MS));
    pthread_mutex_lock(&r->m);
    CHECK(r->op == op);
    CHECK_HR(S_OK, r->hr);
    CHECK(!pthread_equal(r->thread, pthread_self()));
    pthread_mutex_unlock(&r->m);
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_opcb_calls(r) == 1);
    CHECK(strcmp(cu_state(sys), "Running") == 0);
    HcsCloseOperation(op);
    cu_kill_close(sys);
    CU_END();
}

TEST(c13_12_cancel_not_implemented) {
    cu_begin();
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    CHECK_HR(E_NOTIMPL, HcsCancelOperation(op));
    CHECK((uint32_t)HcsCancelOperation(op) == 0x80004001u);
    CHECK(HcsGetOperationType(op) == HcsOperationTypeNone);
    CHECK_HR(HCS_E_OPERATION_NOT_STARTED, HcsGetOperationResult(op, NULL));

    /* On a pending operation: nothing is cancelled, the work completes. */
    HCS_SYSTEM sys;
    REQUIRE(SUCCEEDED(cu_create(u"c13-12", CU_CFG_CONTAINER, &sys)));
    CHECK_HR(S_OK, HcsimSetDelay("HcsStartComputeSystem", 500, 0));
    CHECK_HR(S_OK, HcsStartComputeSystem(sys, op, NULL));
    CHECK_HR(E_NOTIMPL, HcsCancelOperation(op));
    CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(op, NULL));
    CHECK_HR(S_OK, cu_wait_op(op, NULL));
    CHECK_HR(E_NOTIMPL, HcsCancelOperation(op));
    CHECK_HR(S_OK, HcsGetOperationResult(op, NULL));
    CHECK(HcsGetOperationType(op) == HcsOperationTypeStart);
    CHECK_HR(S_OK, HcsimSetDelay("HcsStartComputeSystem", 0, 0));
    CHECK(strcmp(cu_state(sys), "Running") == 0);
    HcsCloseOperation(op);
    cu_kill_close(sys);
    CU_END();
}

TEST(c13_13_close_pending_operation) {
    HCS_SYSTEM sys = cu_begin_system(u"c13-13", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    cu_evq *q = cu_watch_system(sys, HcsEventOptionNone);
    CHECK_HR(S_OK, HcsimSetDelay("HcsTerminateComputeSystem", 500, 0));
    cu_opcb *r = cu_opcb_new(0);
    HCS_OPERATION op = HcsCreateOperation(r, cu_opcb_fn);
    REQUIRE(op != NULL);
    CHECK_HR(S_OK, HcsTerminateComputeSystem(sys, op, NULL));
    CHECK(cu_counts().PendingOperations == 1);
    HcsCloseOperation(op); /* fire and forget */
    /* The terminate still happens... */
    CHECK(cu_evq_wait(q, HcsEventSystemExited, 0, CU_EVENT_TIMEOUT_MS) >= 0);
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(sys, CU_OP_TIMEOUT_MS, NULL));
    hj_value *props = cu_props(sys, NULL);
    CHECK(cu_jbool(props, "Stopped") == 1);
    /* ...but the closed operation's callback never runs. */
    cu_sleep_ms(500 + CU_QUIET_MS);
    CHECK(cu_opcb_calls(r) == 0);
    CHECK_HR(S_OK, HcsimSetDelay("HcsTerminateComputeSystem", 0, 0));
    HcsCloseComputeSystem(sys);
    CU_END();
}
