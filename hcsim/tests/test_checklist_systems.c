/* HCS contract §13 checklist, items 23-39: compute systems (§5.2, §7, §10). */
#include "checklist_util.h"
#include "test_port.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CFG_SCHEMA "\"SchemaVersion\":{\"Major\":2,\"Minor\":1}"

TEST(c13_23_duplicate_id) {
    cu_begin();
    HCS_SYSTEM a, b = (HCS_SYSTEM)1;
    REQUIRE(SUCCEEDED(cu_create(u"c13-23", CU_CFG_CONTAINER, &a)));
    CHECK_HR(HCS_E_SYSTEM_ALREADY_EXISTS, cu_create(u"c13-23", CU_CFG_CONTAINER, &b));
    CHECK(b == NULL);
    CHECK_HR(HCS_E_SYSTEM_ALREADY_EXISTS, cu_create(u"c13-23", CU_CFG_VM, &b));
    /* The original is untouched. */
    CHECK(cu_counts().Systems == 1);
    hj_value *props = cu_props(a, NULL);
    CHECK(cu_jstr_is(props, "State", "Created"));
    CHECK(cu_jstr_is(props, "SystemType", "Container"));
    /* Ids are compared exactly: a different id is fine. */
    HCS_SYSTEM c;
    CHECK_HR(S_OK, cu_create(u"c13-23x", CU_CFG_CONTAINER, &c));
    cu_kill_close(c);
    cu_kill_close(a);
    CU_END();
}

TEST(c13_24_invalid_configurations) {
    cu_begin();
    HCS_SYSTEM s;
    static const char *const malformed[] = {
        "{", "", "not json", "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Container\":{}", "[]",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        HRESULT hr = cu_create(u"c13-24", malformed[i], &s);
        CHECK_HR(HCS_E_INVALID_JSON, hr);
        CHECK(s == NULL);
    }
    /* Zero, or more than one, of Container / VirtualMachine / HostedSystem. */
    static const char *const bad_shape[] = {
        "{" CFG_SCHEMA ",\"Owner\":\"test\"}",
        "{" CFG_SCHEMA ",\"Container\":{},\"VirtualMachine\":{}}",
        "{" CFG_SCHEMA ",\"Container\":{},\"HostedSystem\":{\"SchemaVersion\":{\"Major\":2,"
        "\"Minor\":1},\"Container\":{}}}",
        "{" CFG_SCHEMA ",\"VirtualMachine\":{},\"HostedSystem\":{\"SchemaVersion\":{\"Major\":2,"
        "\"Minor\":1},\"Container\":{}}}",
    };
    for (size_t i = 0; i < sizeof bad_shape / sizeof bad_shape[0]; i++) {
        HRESULT hr = cu_create(u"c13-24", bad_shape[i], &s);
        CHECK_HR(HCS_E_INVALID_JSON, hr);
        CHECK(s == NULL);
    }
    /* HostedSystem naming an unknown host. */
    HRESULT hr = cu_create(u"c13-24",
                           "{" CFG_SCHEMA ",\"HostingSystemId\":\"c13-24-nohost\","
                           "\"HostedSystem\":{" CFG_SCHEMA ",\"Container\":{}}}",
                           &s);
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, hr);
    CHECK(s == NULL);
    /* Nothing of the failed creates remains. */
    HCS_SYSTEM o = NULL;
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, HcsOpenComputeSystem(u"c13-24", GENERIC_ALL, &o));
    CHECK(cu_counts().Systems == 0);

    /* Control: the same HostedSystem shape is accepted once its host exists. */
    HCS_SYSTEM host, hosted = NULL;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-24-host", CU_CFG_VM, &host)));
    hr = cu_create(u"c13-24",
                   "{" CFG_SCHEMA ",\"HostingSystemId\":\"c13-24-host\","
                   "\"HostedSystem\":{" CFG_SCHEMA ",\"Container\":{}}}",
                   &hosted);
    CHECK_HR(S_OK, hr);
    cu_kill_close(hosted);
    cu_kill_close(host);
    CU_END();
}

static void check_created(PCWSTR id, const char *id8, const char *cfg, const char *type,
                          const char *owner) {
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    char16_t *w = hj_utf8_to_utf16(cfg, strlen(cfg));
    HCS_SYSTEM s = NULL;
    HRESULT hr = HcsCreateComputeSystem(id, w, op, NULL, &s);
    free(w);
    CHECK_HR(S_OK, hr);
    CHECK(s != NULL); /* produced synchronously */
    PWSTR doc = NULL;
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, &doc));
    CHECK(doc == NULL);
    if (doc) LocalFree(doc);
    doc = NULL;
    CHECK_HR(S_OK, HcsGetOperationResult(op, &doc));
    CHECK(doc == NULL);
    if (doc) LocalFree(doc);
    HcsCloseOperation(op);
    REQUIRE(s != NULL);
    hj_value *p = cu_props(s, NULL);
    REQUIRE(p != NULL);
    CHECK(cu_jstr_is(p, "State", "Created"));
    CHECK(cu_jstr_is(p, "Id", id8));
    CHECK(cu_jstr_is(p, "SystemType", type));
    CHECK(cu_jstr_is(p, "Owner", owner));
    cu_kill_close(s);
}

TEST(c13_25_successful_create) {
    cu_begin();
    check_created(u"c13-25-container", "c13-25-container", CU_CFG_CONTAINER, "Container", "test");
    check_created(u"c13-25-vm", "c13-25-vm", CU_CFG_VM, "VirtualMachine", "test");
    check_created(u"c13-25-\u00e9t\u00e9", "c13-25-\xc3\xa9t\xc3\xa9",
                  "{" CFG_SCHEMA ",\"Owner\":\"own\xc3\xa9r\",\"Container\":{}}", "Container",
                  "own\xc3\xa9r");
    CU_END();
}

TEST(c13_26_open_system) {
    HCS_SYSTEM a = cu_begin_system(u"c13-26", CU_CFG_CONTAINER, 0);
    REQUIRE(a != NULL);
    HCS_SYSTEM b = NULL;
    CHECK_HR(S_OK, HcsOpenComputeSystem(u"c13-26", GENERIC_ALL, &b));
    REQUIRE(b != NULL);
    CHECK(b != a);
    CHECK(cu_counts().SystemHandles == 2);
    /* Independent: closing the creator's handle leaves b fully usable. */
    HcsCloseComputeSystem(a);
    CHECK(cu_counts().SystemHandles == 1);
    CHECK(cu_jstr_is(cu_props(b, NULL), "Id", "c13-26"));
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, b, NULL, NULL));
    CHECK(strcmp(cu_state(b), "Running") == 0);
    /* And its own callback slot. */
    CHECK(cu_watch_system(b, HcsEventOptionNone) != NULL);

    HCS_SYSTEM x = (HCS_SYSTEM)1;
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, HcsOpenComputeSystem(u"c13-26-nope", GENERIC_ALL, &x));
    CHECK(x == NULL);
    CHECK(cu_counts().SystemHandles == 1);
    cu_kill_close(b);
    CU_END();
}

TEST(c13_27_start_transitions) {
    HCS_SYSTEM s = cu_begin_system(u"c13-27", CU_CFG_VM, 0);
    REQUIRE(s != NULL);
    CHECK(strcmp(cu_state(s), "Created") == 0);
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, s, NULL, NULL));
    CHECK(strcmp(cu_state(s), "Running") == 0);
    CHECK_HR(HCS_E_INVALID_STATE, cu_sys_call(HcsStartComputeSystem, s, NULL, NULL));
    CHECK(strcmp(cu_state(s), "Running") == 0);
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, s, NULL, NULL));
    CHECK_HR(HCS_E_INVALID_STATE, cu_sys_call(HcsStartComputeSystem, s, NULL, NULL));
    CHECK(strcmp(cu_state(s), "Paused") == 0);
    cu_kill_close(s);
    CU_END();
}

TEST(c13_28_pause_resume_transitions) {
    HCS_SYSTEM s = cu_begin_system(u"c13-28", CU_CFG_VM, 0);
    REQUIRE(s != NULL);
    CHECK_HR(HCS_E_INVALID_STATE, cu_sys_call(HcsPauseComputeSystem, s, NULL, NULL));
    CHECK_HR(HCS_E_INVALID_STATE, cu_sys_call(HcsResumeComputeSystem, s, NULL, NULL));
    CHECK(strcmp(cu_state(s), "Created") == 0);
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, s, NULL, NULL));
    CHECK_HR(HCS_E_INVALID_STATE, cu_sys_call(HcsResumeComputeSystem, s, NULL, NULL));
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, s, NULL, NULL));
    CHECK(strcmp(cu_state(s), "Paused") == 0);
    CHECK_HR(HCS_E_INVALID_STATE, cu_sys_call(HcsPauseComputeSystem, s, NULL, NULL));
    CHECK(strcmp(cu_state(s), "Paused") == 0);
    CHECK_HR(S_OK, cu_sys_call(HcsResumeComputeSystem, s, NULL, NULL));
    CHECK(strcmp(cu_state(s), "Running") == 0);
    /* With PauseOptions as in the documented sample. */
    PCWSTR opts = u"{\"SuspensionLevel\":\"Suspend\",\"HostedNotification\":{\"Reason\":\"Save\"}}";
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, s, opts, NULL));
    CHECK(strcmp(cu_state(s), "Paused") == 0);
    CHECK_HR(S_OK, cu_sys_call(HcsResumeComputeSystem, s, NULL, NULL));
    CHECK(strcmp(cu_state(s), "Running") == 0);
    cu_kill_close(s);
    CU_END();
}

TEST(c13_29_save_to_file_and_template) {
    cu_begin();
    const char *dir = cu_tmpdir();
    const char *path = cu_s("%s/c13-29.vmrs", dir);
    PCWSTR to_file = cu_w("{\"SaveType\":\"ToFile\",\"SaveStateFilePath\":\"%s\"}", path);
    HCS_SYSTEM s;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-29", CU_CFG_VM, &s)));
    cu_evq *q = cu_watch_system(s, HcsEventOptionNone);
    CHECK_HR(HCS_E_INVALID_STATE, cu_sys_call(HcsSaveComputeSystem, s, to_file, NULL));
    CHECK(access(path, F_OK) != 0);
    CHECK(strcmp(cu_state(s), "Running") == 0);
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, s, NULL, NULL));
    CHECK_HR(S_OK, cu_sys_call(HcsSaveComputeSystem, s, to_file, NULL));
    CHECK(access(path, F_OK) == 0);
    CHECK(strcmp(cu_state(s), "Paused") == 0);
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_count(q, HcsEventSystemExited) == 0); /* ToFile raises no exit */
    cu_kill_close(s);

    HCS_SYSTEM t;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-29t", CU_CFG_VM, &t)));
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, t, NULL, NULL));
    CHECK_HR(S_OK, cu_sys_call(HcsSaveComputeSystem, t, u"{\"SaveType\":\"AsTemplate\"}", NULL));
    CHECK(strcmp(cu_state(t), "SavedAsTemplate") == 0);
    CHECK_HR(HCS_E_INVALID_STATE, cu_sys_call(HcsStartComputeSystem, t, NULL, NULL));
    CHECK_HR(HCS_E_INVALID_STATE, cu_sys_call(HcsResumeComputeSystem, t, NULL, NULL));
    CHECK(strcmp(cu_state(t), "SavedAsTemplate") == 0);
    cu_kill_close(t);
    CU_END();
}

/* Exit status of a SystemExited event in q. */
static hj_value *exit_status(cu_evq *q) {
    int idx = cu_evq_wait(q, HcsEventSystemExited, 0, CU_EVENT_TIMEOUT_MS);
    return idx >= 0 ? cu_evq_json(q, (size_t)idx) : NULL;
}

static int has_attribution(const hj_value *st, const char *detail, const char *initiator) {
    const hj_value *a = hj_get(st, "Attribution");
    for (size_t i = 0; i < hj_count(a); i++) {
        const hj_value *se = hj_get(hj_at(a, i), "SystemExit");
        if (se && cu_jstr_is(se, "Detail", detail) && cu_jstr_is(se, "Initiator", initiator))
            return 1;
    }
    return 0;
}

TEST(c13_30_shutdown) {
    HCS_SYSTEM s = cu_begin_system(u"c13-30", CU_CFG_VM, 0);
    REQUIRE(s != NULL);
    cu_evq *q = cu_watch_system(s, HcsEventOptionNone);
    CHECK_HR(HCS_E_INVALID_STATE, cu_sys_call(HcsShutDownComputeSystem, s, NULL, NULL));
    CHECK(strcmp(cu_state(s), "Created") == 0);
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, s, NULL, NULL));
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, s, NULL, NULL));
    CHECK_HR(HCS_E_INVALID_STATE, cu_sys_call(HcsShutDownComputeSystem, s, NULL, NULL));
    CHECK(strcmp(cu_state(s), "Paused") == 0);
    CHECK_HR(S_OK, cu_sys_call(HcsResumeComputeSystem, s, NULL, NULL));
    CHECK(cu_evq_count(q, HcsEventSystemExited) == 0);
    CHECK_HR(S_OK, cu_sys_call(HcsShutDownComputeSystem, s, NULL, NULL));
    hj_value *st = exit_status(q);
    REQUIRE(st != NULL);
    CHECK(cu_jstr_is(st, "ExitType", "GracefulExit"));
    CHECK(has_attribution(st, "Shutdown", "Client"));
    int64_t status = -1;
    CHECK(cu_jint(st, "Status", &status) && status == 0);
    HcsCloseComputeSystem(s);

    /* ShutdownOptions as multipass sends them are accepted too. */
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-30b", CU_CFG_VM, &s)));
    cu_evq *q2 = cu_watch_system(s, HcsEventOptionNone);
    PCWSTR opts = u"{\"Mechanism\":\"IntegrationService\",\"Type\":\"Shutdown\"}";
    CHECK_HR(S_OK, cu_sys_call(HcsShutDownComputeSystem, s, opts, NULL));
    st = exit_status(q2);
    CHECK(cu_jstr_is(st, "ExitType", "GracefulExit"));
    HcsCloseComputeSystem(s);
    CU_END();
}

TEST(c13_31_terminate_from_any_state) {
    cu_begin();
    static const char *const states[] = {"Created", "Running", "Paused"};
    for (int i = 0; i < 3; i++) {
        PCWSTR id = cu_w("c13-31-%s", states[i]);
        HCS_SYSTEM s;
        REQUIRE(SUCCEEDED(cu_create(id, CU_CFG_VM, &s)));
        if (i >= 1) CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, s, NULL, NULL));
        if (i >= 2) CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, s, NULL, NULL));
        CHECK(strcmp(cu_state(s), states[i]) == 0);
        cu_evq *q = cu_watch_system(s, HcsEventOptionNone);
        CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, s, NULL, NULL));
        hj_value *st = exit_status(q);
        CHECK(st != NULL);
        CHECK(cu_jstr_is(st, "ExitType", "ForcedExit"));
        CHECK_HR(HCS_E_SYSTEM_ALREADY_STOPPED,
                 cu_sys_call(HcsTerminateComputeSystem, s, NULL, NULL));
        CHECK_HR(HCS_E_SYSTEM_ALREADY_STOPPED,
                 cu_sys_call(HcsShutDownComputeSystem, s, NULL, NULL));
        cu_sleep_ms(50);
        CHECK(cu_evq_count(q, HcsEventSystemExited) == 1);
        HcsCloseComputeSystem(s);
    }
    CU_END();
}

TEST(c13_32_after_exit) {
    cu_begin();
    const char *dir = cu_tmpdir();
    HCS_SYSTEM s;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-32", CU_CFG_VM, &s)));
    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, s, NULL, NULL));
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(s, CU_OP_TIMEOUT_MS, NULL));

    hj_value *p = cu_props(s, NULL);
    REQUIRE(p != NULL);
    CHECK(cu_jbool(p, "Stopped") == 1);
    CHECK(cu_jstr_is(p, "ExitType", "ForcedExit"));
    CHECK(cu_jstr_is(p, "Id", "c13-32"));

    CHECK_FAILED(cu_sys_call(HcsStartComputeSystem, s, NULL, NULL));
    CHECK_FAILED(cu_sys_call(HcsPauseComputeSystem, s, NULL, NULL));
    CHECK_FAILED(cu_sys_call(HcsResumeComputeSystem, s, NULL, NULL));
    CHECK_FAILED(cu_sys_call(HcsCrashComputeSystem, s, NULL, NULL));
    PCWSTR save = cu_w("{\"SaveType\":\"ToFile\",\"SaveStateFilePath\":\"%s/x.vmrs\"}", dir);
    CHECK_FAILED(cu_sys_call(HcsSaveComputeSystem, s, save, NULL));
    CHECK_FAILED(cu_modify(s,
                           u"{\"ResourcePath\":\"VirtualMachine/ComputeTopology/Memory/SizeInMB\","
                           u"\"RequestType\":\"Update\",\"Settings\":2048}",
                           NULL));
    HCS_PROCESS pr;
    HCS_PROCESS_INFORMATION pi;
    CHECK_FAILED(cu_spawn(s, "{\"CommandArgs\":[" TP_ARGS_TRUE "]}", &pr, &pi));
    CHECK(pr == NULL);

    HRESULT hr;
    hj_value *all = cu_enum(NULL, NULL, &hr);
    CHECK_HR(S_OK, hr);
    CHECK(hj_typeof(all) == HJ_ARRAY);
    CHECK(hj_count(all) == 0);
    HCS_SYSTEM o = NULL;
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, HcsOpenComputeSystem(u"c13-32", GENERIC_ALL, &o));
    CHECK(o == NULL);
    /* The handle still answers afterwards. */
    p = cu_props(s, NULL);
    CHECK(cu_jbool(p, "Stopped") == 1);
    HcsCloseComputeSystem(s);
    CU_END();
}

TEST(c13_33_pending_ops_fail_on_exit) {
    cu_begin();
    for (int how = 0; how < 2; how++) {
        PCWSTR id = how ? u"c13-33-crash" : u"c13-33-guest";
        HCS_SYSTEM s;
        REQUIRE(SUCCEEDED(cu_create_running(id, CU_CFG_VM, &s)));
        CHECK_HR(S_OK, HcsimSetDelay("HcsPauseComputeSystem", 3000, 0));
        CHECK_HR(S_OK, HcsimSetDelay("HcsModifyComputeSystem", 3000, 0));
        HCS_OPERATION o1 = HcsCreateOperation(NULL, NULL);
        HCS_OPERATION o2 = HcsCreateOperation(NULL, NULL);
        CHECK_HR(S_OK, HcsPauseComputeSystem(s, o1, NULL));
        HRESULT hr = HcsModifyComputeSystem(
            s, o2,
            u"{\"ResourcePath\":\"VirtualMachine/"
            u"ComputeTopology/Memory/SizeInMB\",\"RequestType\":\"Update\",\"Settings\":2048}",
            NULL);
        CHECK_HR(S_OK, hr);
        CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(o1, NULL));
        CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(o2, NULL));
        /* A process operation of the same system, pending too. */
        HCS_PROCESS pr;
        HCS_PROCESS_INFORMATION pi;
        REQUIRE(SUCCEEDED(cu_spawn(s, "{\"CommandArgs\":[" TP_ARGS_SLEEP("30") "]}", &pr, &pi)));
        CHECK_HR(S_OK, HcsimSetDelay("HcsGetProcessProperties", 3000, 0));
        HCS_OPERATION o3 = HcsCreateOperation(NULL, NULL);
        CHECK_HR(S_OK, HcsGetProcessProperties(pr, o3, NULL));
        CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(o3, NULL));
        if (how)
            CHECK_HR(S_OK, HcsimCrashSystem(NULL, id));
        else
            CHECK_HR(S_OK, HcsimGuestShutdown(NULL, id));
        CHECK_HR(S_OK, HcsWaitForComputeSystemExit(s, CU_OP_TIMEOUT_MS, NULL));
        CHECK_HR(HCS_E_SYSTEM_ALREADY_STOPPED,
                 HcsWaitForOperationResult(o1, CU_OP_TIMEOUT_MS, NULL));
        CHECK_HR(HCS_E_SYSTEM_ALREADY_STOPPED,
                 HcsWaitForOperationResult(o2, CU_OP_TIMEOUT_MS, NULL));
        CHECK_FAILED(HcsWaitForOperationResult(o3, CU_OP_TIMEOUT_MS, NULL));
        CHECK(cu_counts().PendingOperations == 0);
        CHECK(cu_jbool(cu_props(s, NULL), "Stopped") == 1);
        CHECK_HR(S_OK, HcsimSetDelay("HcsGetProcessProperties", 0, 0));
        HcsCloseOperation(o3);
        HcsCloseProcess(pr);
        CHECK_HR(S_OK, HcsimSetDelay("HcsPauseComputeSystem", 0, 0));
        CHECK_HR(S_OK, HcsimSetDelay("HcsModifyComputeSystem", 0, 0));
        HcsCloseOperation(o1);
        HcsCloseOperation(o2);
        HcsCloseComputeSystem(s);
    }
    CU_END();
}

static HRESULT open_poll_gone(PCWSTR id, unsigned timeout_ms) {
    uint64_t end = cu_now_ms() + timeout_ms;
    for (;;) {
        HCS_SYSTEM h = NULL;
        HRESULT hr = HcsOpenComputeSystem(id, GENERIC_ALL, &h);
        if (h) HcsCloseComputeSystem(h);
        if (hr == HCS_E_SYSTEM_NOT_FOUND || cu_now_ms() >= end) return hr;
        cu_sleep_ms(20);
    }
}

TEST(c13_34_terminate_on_last_handle_closed) {
    cu_begin();
    /* true: closing the last handle terminates; an earlier close does not. */
    const char *cfg_t =
        "{" CFG_SCHEMA ",\"Owner\":\"test\",\"ShouldTerminateOnLastHandleClosed\":true,"
        "\"Container\":{}}";
    HCS_SYSTEM a, a2 = NULL;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-34t", cfg_t, &a)));
    CHECK_HR(S_OK, HcsOpenComputeSystem(u"c13-34t", GENERIC_ALL, &a2));
    REQUIRE(a2 != NULL);
    cu_evq *q = cu_watch_system(a2, HcsEventOptionNone);
    HcsCloseComputeSystem(a);
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(strcmp(cu_state(a2), "Running") == 0);
    CHECK(cu_evq_count(q, HcsEventSystemExited) == 0);
    HcsCloseComputeSystem(a2);
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, open_poll_gone(u"c13-34t", 5000));
    CHECK(cu_evq_count(q, HcsEventSystemExited) == 0); /* no callback after close */
    CHECK(cu_counts().Systems == 0);

    /* The same from the Created state. */
    HCS_SYSTEM c;
    REQUIRE(SUCCEEDED(cu_create(u"c13-34c", cfg_t, &c)));
    HcsCloseComputeSystem(c);
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, open_poll_gone(u"c13-34c", 5000));

    /* false / absent: the system survives and can be reopened. */
    const char *cfg_f =
        "{" CFG_SCHEMA ",\"Owner\":\"test\",\"ShouldTerminateOnLastHandleClosed\":false,"
        "\"Container\":{}}";
    HCS_SYSTEM f, n;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-34f", cfg_f, &f)));
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-34n", CU_CFG_CONTAINER, &n)));
    HcsCloseComputeSystem(f);
    HcsCloseComputeSystem(n);
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_counts().Systems == 2);
    CHECK(cu_counts().SystemHandles == 0);
    HCS_SYSTEM f2 = NULL, n2 = NULL;
    CHECK_HR(S_OK, HcsOpenComputeSystem(u"c13-34f", GENERIC_ALL, &f2));
    CHECK_HR(S_OK, HcsOpenComputeSystem(u"c13-34n", GENERIC_ALL, &n2));
    REQUIRE(f2 && n2);
    CHECK(strcmp(cu_state(f2), "Running") == 0);
    CHECK(strcmp(cu_state(n2), "Running") == 0);
    cu_kill_close(f2);
    cu_kill_close(n2);
    CU_END();
}

typedef struct delayed_kill {
    HCS_SYSTEM sys;
    unsigned ms;
} delayed_kill;

static void *kill_later(void *arg) {
    delayed_kill *d = arg;
    cu_sleep_ms(d->ms);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    if (SUCCEEDED(HcsTerminateComputeSystem(d->sys, op, NULL)))
        HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, NULL);
    HcsCloseOperation(op);
    return NULL;
}

TEST(c13_35_wait_for_system_exit) {
    HCS_SYSTEM s = cu_begin_system(u"c13-35", CU_CFG_CONTAINER, 1);
    REQUIRE(s != NULL);
    PWSTR doc = NULL;
    uint64_t t0 = cu_now_ms();
    CHECK_HR(HCS_E_OPERATION_TIMEOUT, HcsWaitForComputeSystemExit(s, 100, &doc));
    CHECK(cu_now_ms() - t0 >= 90);
    CHECK(doc == NULL);
    CHECK_HR(HCS_E_OPERATION_TIMEOUT, HcsWaitForComputeSystemExit(s, 0, NULL));
    CHECK(cu_counts().Documents == 0);

    delayed_kill d = {s, 400};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, kill_later, &d) == 0);
    t0 = cu_now_ms();
    doc = NULL;
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(s, CU_OP_TIMEOUT_MS, &doc));
    CHECK(cu_now_ms() - t0 >= 300);
    pthread_join(t, NULL);
    hj_value *st = cu_doc(doc);
    REQUIRE(st != NULL);
    int64_t status = -1;
    CHECK(cu_jint(st, "Status", &status));
    CHECK(cu_jstr_is(st, "ExitType", "ForcedExit"));
    /* After exit it answers at once, every time. */
    t0 = cu_now_ms();
    doc = NULL;
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(s, CU_OP_TIMEOUT_MS, &doc));
    CHECK(cu_now_ms() - t0 < 1000);
    hj_value *st2 = cu_doc(doc);
    CHECK(st2 && hj_equal(st, st2));
    HcsCloseComputeSystem(s);
    CU_END();
}

TEST(c13_36_restore_from_saved_state) {
    cu_begin();
    const char *dir = cu_tmpdir();
    const char *path = cu_s("%s/c13-36.vmrs", dir);
    HCS_SYSTEM a;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-36a", CU_CFG_LINUX_VM, &a)));
    /* Give the saved system state that differs from the restoring configuration. */
    CHECK_HR(S_OK,
             cu_modify(a,
                       u"{\"ResourcePath\":\"VirtualMachine/ComputeTopology/Memory/SizeInMB\","
                       u"\"RequestType\":\"Update\",\"Settings\":3072}",
                       NULL));
    hj_value *pa = cu_props(a, u"{\"PropertyTypes\":[\"Memory\"]}");
    REQUIRE(pa != NULL);
    CHECK(cu_jstr_is(pa, "RuntimeOsType", "Linux"));
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, a, NULL, NULL));
    PCWSTR save = cu_w("{\"SaveType\":\"ToFile\",\"SaveStateFilePath\":\"%s\"}", path);
    CHECK_HR(S_OK, cu_sys_call(HcsSaveComputeSystem, a, save, NULL));
    CHECK(access(path, F_OK) == 0);
    cu_kill_close(a);

    const char *cfg =
        cu_s("{" CFG_SCHEMA ",\"Owner\":\"test\",\"VirtualMachine\":{"
             "\"ComputeTopology\":{\"Memory\":{\"SizeInMB\":1024},\"Processor\":{\"Count\":1}},"
             "\"RestoreState\":{\"SaveStateFilePath\":\"%s\"}}}",
             path);
    HCS_SYSTEM b;
    REQUIRE(SUCCEEDED(cu_create(u"c13-36b", cfg, &b)));
    CHECK_HR(S_OK, HcsGrantVmAccess(u"c13-36b", cu_w("%s", path))); /* README "VM access" */
    CHECK(strcmp(cu_state(b), "Created") == 0);
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, b, NULL, NULL));
    hj_value *pb = cu_props(b, u"{\"PropertyTypes\":[\"Memory\"]}");
    REQUIRE(pb != NULL);
    CHECK(cu_jstr_is(pb, "State", "Running"));
    /* The saved state, not the new configuration (plain 1024 MB, no Linux kernel). */
    CHECK(cu_jstr_is(pb, "RuntimeOsType", "Linux"));
    const hj_value *ma = cu_jget(pa, "Memory.VirtualMachineMemory.AssignedMemory");
    const hj_value *mb = cu_jget(pb, "Memory.VirtualMachineMemory.AssignedMemory");
    CHECK(ma != NULL && mb != NULL && hj_equal(ma, mb));
    cu_kill_close(b);

    const char *missing = cu_s("{" CFG_SCHEMA ",\"Owner\":\"test\",\"VirtualMachine\":{"
                               "\"RestoreState\":{\"SaveStateFilePath\":\"%s/missing.vmrs\"}}}",
                               dir);
    HCS_SYSTEM c;
    REQUIRE(SUCCEEDED(cu_create(u"c13-36c", missing, &c)));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND),
             cu_sys_call(HcsStartComputeSystem, c, NULL, NULL));
    CHECK(strcmp(cu_state(c), "Running") != 0);
    cu_kill_close(c);
    CU_END();
}

/* The sorted, comma-joined Ids of an enumeration result (arena). */
static const char *ids_of(const hj_value *arr) {
    if (hj_typeof(arr) != HJ_ARRAY) return "(not an array)";
    size_t n = hj_count(arr);
    const char *ids[32];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 32; i++) {
        const char *id = cu_jstr(hj_at(arr, i), "Id");
        ids[k++] = id ? id : "(no Id)";
    }
    return cu_sorted_join(ids, k);
}

static const char *enum_ids(const char *query) {
    HRESULT hr;
    hj_value *v = cu_enum(NULL, query ? cu_w("%s", query) : NULL, &hr);
    if (FAILED(hr)) return cu_s("(failed 0x%08x)", (unsigned)hr);
    return ids_of(v);
}

#define CHECK_ENUM(query, expected)                                                                \
    do {                                                                                           \
        const char *got_ = enum_ids(query);                                                        \
        if (strcmp(got_, (expected)) != 0) {                                                       \
            fprintf(stderr, "    enumerate %s: got [%s], want [%s]\n", (query) ? (query) : "NULL", \
                    got_, (expected));                                                             \
            CHECK(!"enumeration result");                                                          \
        }                                                                                          \
    } while (0)

TEST(c13_37_enumerate_and_filters) {
    cu_begin();
    HCS_SYSTEM a, b, c, d, e;
    REQUIRE(
        SUCCEEDED(cu_create(u"e37-a", "{" CFG_SCHEMA ",\"Owner\":\"o1\",\"Container\":{}}", &a)));
    REQUIRE(SUCCEEDED(cu_create_running(
        u"e37-b", "{" CFG_SCHEMA ",\"Owner\":\"o1\",\"VirtualMachine\":{}}", &b)));
    REQUIRE(SUCCEEDED(
        cu_create_running(u"e37-c", "{" CFG_SCHEMA ",\"Owner\":\"o2\",\"Container\":{}}", &c)));
    REQUIRE(SUCCEEDED(
        cu_create(u"e37-d", "{" CFG_SCHEMA ",\"Owner\":\"o2\",\"VirtualMachine\":{}}", &d)));
    REQUIRE(SUCCEEDED(
        cu_create_running(u"e37-e", "{" CFG_SCHEMA ",\"Owner\":\"o1\",\"Container\":{}}", &e)));
    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, e, NULL, NULL)); /* exited: not listed */

    HRESULT hr;
    hj_value *all = cu_enum(NULL, NULL, &hr);
    CHECK_HR(S_OK, hr);
    REQUIRE(hj_typeof(all) == HJ_ARRAY);
    CHECK_ENUM(NULL, "e37-a,e37-b,e37-c,e37-d");
    for (size_t i = 0; i < hj_count(all); i++) {
        const hj_value *p = hj_at(all, i);
        const char *id = cu_jstr(p, "Id");
        REQUIRE(id != NULL);
        int vm = id[4] == 'b' || id[4] == 'd';
        CHECK(cu_jstr_is(p, "SystemType", vm ? "VirtualMachine" : "Container"));
        CHECK(cu_jstr_is(p, "Owner", (id[4] == 'a' || id[4] == 'b') ? "o1" : "o2"));
        CHECK(cu_jstr_is(p, "State", (id[4] == 'b' || id[4] == 'c') ? "Running" : "Created"));
    }
    CHECK_ENUM("{}", "e37-a,e37-b,e37-c,e37-d");
    CHECK_ENUM("{\"Ids\":[\"e37-a\",\"e37-c\"]}", "e37-a,e37-c");
    CHECK_ENUM("{\"Ids\":[\"e37-a\",\"nope\"]}", "e37-a");
    CHECK_ENUM("{\"Ids\":[\"e37-e\"]}", "");
    CHECK_ENUM("{\"Types\":[\"VirtualMachine\"]}", "e37-b,e37-d");
    CHECK_ENUM("{\"Types\":[\"Container\",\"VirtualMachine\"]}", "e37-a,e37-b,e37-c,e37-d");
    CHECK_ENUM("{\"Owners\":[\"o1\"]}", "e37-a,e37-b");
    CHECK_ENUM("{\"Owners\":[\"o1\",\"o2\"]}", "e37-a,e37-b,e37-c,e37-d");
    CHECK_ENUM("{\"Owners\":[\"o1\"],\"Types\":[\"Container\"]}", "e37-a");
    CHECK_ENUM("{\"Ids\":[\"e37-a\",\"e37-b\"],\"Owners\":[\"o2\"]}", "");
    CHECK_ENUM("{\"Ids\":[\"e37-c\",\"e37-d\"],\"Types\":[\"VirtualMachine\"],\"Owners\":[\"o2\"]}",
               "e37-d");
    /* Names: whatever name the listing reports selects exactly the systems bearing it. */
    for (size_t i = 0; i < hj_count(all); i++) {
        const char *name = cu_jstr(hj_at(all, i), "Name");
        if (!name) continue;
        const char *q = cu_s("{\"Names\":[\"%s\"]}", name);
        const char *got = enum_ids(q);
        CHECK(strstr(got, cu_jstr(hj_at(all, i), "Id")) != NULL);
    }
    CHECK_ENUM("{\"Names\":[\"no-such-name-37\"]}", "");

    cu_kill_close(a);
    cu_kill_close(b);
    cu_kill_close(c);
    cu_kill_close(d);
    HcsCloseComputeSystem(e);
    CU_END();
}

/* Keys of a properties document as a sorted comma-joined string (arena). */
static const char *keys_of(const hj_value *obj) {
    if (hj_typeof(obj) != HJ_OBJECT) return "(not an object)";
    const char *k[64];
    size_t n = hj_count(obj) < 64 ? hj_count(obj) : 64;
    for (size_t i = 0; i < n; i++) k[i] = hj_key_at(obj, i);
    return cu_sorted_join(k, n);
}

/* basic ∪ extra, as keys_of would print them. */
static const char *keys_plus(const hj_value *basic, const char *extra1, const char *extra2) {
    hj_value *v = hj_clone(basic);
    hj_set(v, extra1, hj_null());
    if (extra2) hj_set(v, extra2, hj_null());
    const char *s = keys_of(v);
    hj_free(v);
    return s;
}

static const char *const optional_members[] = {
    "Memory",
    "Statistics",
    "ProcessList",
    "TerminateOnLastHandleClosed",
    "SharedMemoryRegionInfo",
    "GuestConnectionInfo",
    "PropertyResponses",
};

TEST(c13_38_property_queries) {
    HCS_SYSTEM s = cu_begin_system(u"c13-38", CU_CFG_VM, 1);
    REQUIRE(s != NULL);
    HCS_PROCESS pr;
    HCS_PROCESS_INFORMATION pi;
    CHECK_HR(S_OK, cu_spawn(s, "{\"CommandArgs\":[" TP_ARGS_SLEEP("30") "]}", &pr, &pi));

    hj_value *basic = cu_props(s, NULL);
    REQUIRE(basic != NULL);
    hj_value *basic2 = cu_props(s, u"{\"PropertyTypes\":[]}");
    REQUIRE(basic2 != NULL);
    CHECK(strcmp(keys_of(basic), keys_of(basic2)) == 0);
    CHECK(cu_jstr_is(basic, "Id", "c13-38"));
    CHECK(cu_jstr_is(basic, "SystemType", "VirtualMachine"));
    for (size_t i = 0; i < sizeof optional_members / sizeof optional_members[0]; i++) {
        CHECK(!cu_has_key(basic, optional_members[i]));
        CHECK(!cu_has_key(basic2, optional_members[i]));
    }

    static const struct {
        const char *type, *member;
    } one[] = {
        {"Statistics", "Statistics"},
        {"ProcessList", "ProcessList"},
        {"Memory", "Memory"},
        {"TerminateOnLastHandleClosed", "TerminateOnLastHandleClosed"},
    };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        hj_value *p = cu_props(s, cu_w("{\"PropertyTypes\":[\"%s\"]}", one[i].type));
        const char *got = keys_of(p), *want = keys_plus(basic, one[i].member, NULL);
        if (strcmp(got, want) != 0) {
            fprintf(stderr, "    %s: keys [%s], want [%s]\n", one[i].type, got, want);
            CHECK(!"exactly the requested members");
        }
    }
    hj_value *two = cu_props(s, u"{\"PropertyTypes\":[\"ProcessList\",\"Statistics\"]}");
    CHECK(strcmp(keys_of(two), keys_plus(basic, "ProcessList", "Statistics")) == 0);
    CHECK(hj_typeof(cu_jget(two, "ProcessList")) == HJ_ARRAY);
    CHECK(hj_count(cu_jget(two, "ProcessList")) >= 1); /* the sleep above */
    CHECK(hj_typeof(cu_jget(two, "Statistics")) == HJ_OBJECT);
    hj_value *tl = cu_props(s, u"{\"PropertyTypes\":[\"TerminateOnLastHandleClosed\"]}");
    CHECK(cu_jbool(tl, "TerminateOnLastHandleClosed") == 0);

    hj_value *doc = NULL;
    PCWSTR bad = u"{\"PropertyTypes\":[\"NoSuchPropertyType\"]}";
    CHECK_HR(HCS_E_INVALID_JSON, cu_sys_call(HcsGetComputeSystemProperties, s, bad, &doc));
    CHECK(doc == NULL || cu_is_result_error(doc, HCS_E_INVALID_JSON));
    CHECK_HR(HCS_E_INVALID_JSON, cu_sys_call(HcsGetComputeSystemProperties, s, u"{", NULL));

    if (pr) {
        cu_proc_call(HcsTerminateProcess, pr, NULL, NULL);
        HcsCloseProcess(pr);
    }
    cu_kill_close(s);
    CU_END();
}

TEST(c13_39_modify_settings) {
    HCS_SYSTEM s = cu_begin_system(u"c13-39", CU_CFG_VM, 1);
    REQUIRE(s != NULL);
    PCWSTR ok = u"{\"ResourcePath\":\"VirtualMachine/ComputeTopology/Memory/SizeInMB\","
                u"\"RequestType\":\"Update\",\"Settings\":2048}";
    CHECK_HR(S_OK, cu_modify(s, ok, NULL));
    PCWSTR ok_add = u"{\"ResourcePath\":\"VirtualMachine/ComputeTopology/Memory/SizeInMB\","
                    u"\"RequestType\":\"Add\",\"Settings\":4096}";
    CHECK_HR(S_OK, cu_modify(s, ok_add, NULL)); /* "any" RequestType for this path */

    static const char *const bad[] = {
        "{\"ResourcePath\":\"VirtualMachine/ComputeTopology/Memory/SizeInMB\","
        "\"RequestType\":\"Replace\",\"Settings\":2048}",
        "{\"ResourcePath\":\"VirtualMachine/Devices/MappedPipes/p1\",\"RequestType\":\"Update\"}",
        "{\"ResourcePath\":\"VirtualMachine/ComputeTopology/Processor/IdledProcessors\","
        "\"RequestType\":\"Add\",\"Settings\":{\"IdleProcessorCount\":1}}",
        "{\"ResourcePath\":\"VirtualMachine/Devices/VirtualPMem/Devices/"
        "0\",\"RequestType\":\"Update\","
        "\"Settings\":{\"HostPath\":\"/tmp/x.vhd\"}}",
        "{\"ResourcePath\":\"VirtualMachine/Devices/FlexibleIov/f1\",\"RequestType\":\"Remove\"}",
        "{\"ResourcePath\":\"VirtualMachine/ComputeTopology/Gpu\",\"RequestType\":\"Add\","
        "\"Settings\":{\"AssignmentMode\":\"Disabled\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hj_value *doc = NULL;
        HRESULT hr = cu_modify(s, cu_w("%s", bad[i]), &doc);
        if (hr != E_INVALIDARG) fprintf(stderr, "    modify %s -> 0x%08x\n", bad[i], (unsigned)hr);
        CHECK_HR(E_INVALIDARG, hr);
        CHECK(doc == NULL || cu_is_result_error(doc, E_INVALIDARG));
    }
    CHECK(strcmp(cu_state(s), "Running") == 0);
    cu_kill_close(s);
    CU_END();
}
