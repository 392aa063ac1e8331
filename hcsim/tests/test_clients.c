/* How real clients call the API (issue 14, items 1-3 and 5): empty options strings, the
 * event options of the current SDK, terminal events for late registrations (hcsshim's
 * process sequence), the exit codes of Windows guests, and every published property
 * type. The sequences are written from the public documentation and from the order in
 * which hcsshim's computecore client makes its calls (README, "Real clients"). */
#include "checklist_util.h"
#include "test_port.h"

#include <string.h>

#define SLEEP30 "{\"CommandArgs\":[" TP_ARGS_SLEEP("30") "]}"
#define TRUE_   "{\"CommandArgs\":[" TP_ARGS_TRUE "]}"

/* The current SDK's HCS_EVENT_OPTIONS and event groups (computedefs.h). */
#define OPT_OPS            0x1u
#define OPT_VM_LIFECYCLE   0x2u
#define OPT_LIVE_MIGRATION 0x4u
#define GROUP_VM_LIFECYCLE 0x80000002u
#define GROUP_MIGRATION    0x80000003u
/* What a Windows guest reports for a terminated process and for one a console control
 * event ended. */
#define WIN_PROCESS_ABORTED 1067
#define WIN_CONTROL_C_EXIT  0xC000013Au

/* ---- item 1: L"" means "no options" ------------------------------------------------ */

/* A started system's lifecycle with L"" everywhere, as hcsshim calls it. */
TEST(clients_empty_options_system_calls) {
    HCS_SYSTEM sys = cu_begin_system(u"cl-empty", CU_CFG_VM, 0);
    REQUIRE(sys != NULL);
    cu_evq *q = cu_watch_system(sys, OPT_LIVE_MIGRATION);
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, sys, u"", NULL));
    CHECK(!strcmp(cu_state(sys), "Running"));
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, sys, u"", NULL));
    CHECK(!strcmp(cu_state(sys), "Paused"));
    /* Save and Modify need a document: L"" is refused as NULL is */
    CHECK_HR(E_INVALIDARG, cu_sys_call(HcsSaveComputeSystem, sys, NULL, NULL));
    CHECK_HR(E_INVALIDARG, cu_sys_call(HcsSaveComputeSystem, sys, u"", NULL));
    CHECK_HR(S_OK, cu_sys_call(HcsResumeComputeSystem, sys, u"", NULL));
    CHECK(!strcmp(cu_state(sys), "Running"));
    CHECK_HR(E_INVALIDARG, cu_modify(sys, NULL, NULL));
    CHECK_HR(E_INVALIDARG, cu_modify(sys, u"", NULL));
    hj_value *props = cu_props(sys, u"");
    CHECK(cu_jstr_is(props, "State", "Running"));
    CHECK(!cu_has_key(props, "Memory")); /* the basic properties */
    HRESULT hr;
    hj_value *all = cu_enum(NULL, u"", &hr);
    CHECK_HR(S_OK, hr);
    CHECK(cu_jstr_is(all, "0.Id", "cl-empty"));
    all = cu_enum(u"", u"", &hr);
    CHECK_HR(S_OK, hr);
    CHECK(cu_jstr_is(all, "0.Id", "cl-empty"));
    /* ShutDown as hcsshim does it: L"", the operation closed unread; SystemExited follows */
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    CHECK_HR(S_OK, HcsShutDownComputeSystem(sys, op, u""));
    HcsCloseOperation(op);
    hj_value *ex = cu_evq_wait_json(q, HcsEventSystemExited, 0);
    CHECK(cu_jstr_is(ex, "ExitType", "GracefulExit"));
    HcsCloseComputeSystem(sys);
    CU_END();
}

TEST(clients_empty_options_terminate_and_crash) {
    HCS_SYSTEM a = cu_begin_system(u"cl-term", CU_CFG_CONTAINER, 1), b = NULL;
    REQUIRE(a != NULL);
    REQUIRE(SUCCEEDED(cu_create_running(u"cl-crash", CU_CFG_VM, &b)));
    cu_evq *qa = cu_watch_system(a, OPT_LIVE_MIGRATION), *qb = cu_watch_system(b, 0);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    CHECK_HR(S_OK, HcsTerminateComputeSystem(a, op, u""));
    HcsCloseOperation(op); /* unread, as hcsshim does */
    CHECK(cu_jstr_is(cu_evq_wait_json(qa, HcsEventSystemExited, 0), "ExitType", "ForcedExit"));
    CHECK_HR(S_OK, cu_sys_call(HcsCrashComputeSystem, b, u"", NULL));
    CHECK(cu_evq_wait(qb, HcsEventSystemCrashReport, 0, CU_EVENT_TIMEOUT_MS) >= 0);
    CHECK(cu_jstr_is(cu_evq_wait_json(qb, HcsEventSystemExited, 0), "ExitType", "UnexpectedExit"));
    HcsCloseComputeSystem(a);
    HcsCloseComputeSystem(b);
    CU_END();
}

TEST(clients_empty_options_process_and_service_calls) {
    HCS_SYSTEM sys = cu_begin_system(u"cl-empty-p", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(SUCCEEDED(cu_spawn(sys, SLEEP30, &p, &pi)));
    hj_value *st = NULL;
    CHECK_HR(S_OK, cu_proc_call(HcsGetProcessProperties, p, u"", &st));
    CHECK(cu_pstatus_is(st, 0, -1, pi.ProcessId));
    CHECK_HR(E_INVALIDARG, cu_proc_call(HcsSignalProcess, p, NULL, NULL));
    CHECK_HR(E_INVALIDARG, cu_proc_call(HcsSignalProcess, p, u"", NULL));
    CHECK_HR(E_INVALIDARG, cu_proc_call(HcsModifyProcess, p, NULL, NULL));
    CHECK_HR(E_INVALIDARG, cu_proc_call(HcsModifyProcess, p, u"", NULL));
    CHECK_HR(S_OK, cu_proc_call(HcsTerminateProcess, p, u"", NULL));
    CHECK(cu_pstatus_is(cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS), 1, WIN_PROCESS_ABORTED, 0));
    HcsCloseProcess(p);
    cu_close_pi(&pi);
    /* the service: an empty query is the default query, empty settings are no settings */
    PWSTR doc = NULL;
    CHECK_HR(S_OK, HcsGetServiceProperties(u"", &doc));
    CHECK(cu_jget(cu_doc(doc), "Properties.0.SupportedSchemaVersions") != NULL);
    doc = NULL;
    CHECK_HR(E_INVALIDARG, HcsModifyServiceSettings(u"", &doc));
    CHECK(cu_is_result_error(cu_doc(doc), E_INVALIDARG));
    cu_kill_close(sys);
    CU_END();
}

/* The computestorage options: L"" is no options (ExportLayer), and where options are
 * required (SetupBaseOSVolume's OsLayerOptions) it is refused as NULL is. */
TEST(clients_empty_options_storage_calls) {
    cu_begin();
    const char *dir = cu_tmpdir();
    const char *src = cu_s("%s/src", dir), *base = cu_s("%s/base", dir);
    REQUIRE(tp_mkdir(src, 0700) == 0);
    PCWSTR none = u"{\"Layers\":[]}";
    CHECK_HR(S_OK, HcsImportLayer(cu_w("%s", base), cu_w("%s", src), none));
    CHECK_HR(S_OK, HcsExportLayer(cu_w("%s", base), cu_w("%s/exp1", dir), none, NULL));
    CHECK_HR(S_OK, HcsExportLayer(cu_w("%s", base), cu_w("%s/exp2", dir), none, u""));
    CHECK_HR(E_INVALIDARG, HcsSetupBaseOSVolume(cu_w("%s", base), cu_w("%s", dir), NULL));
    CHECK_HR(E_INVALIDARG, HcsSetupBaseOSVolume(cu_w("%s", base), cu_w("%s", dir), u""));
    CU_END();
}

/* ---- item 2: the event options of the current SDK ---------------------------------- */

TEST(clients_event_options_accepted_and_rejected) {
    HCS_SYSTEM sys = cu_begin_system(u"cl-opts", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(SUCCEEDED(cu_spawn(sys, SLEEP30, &p, &pi)));
    cu_evq *q = cu_evq_new();
    static const uint32_t good[] = {0, 1, 2, 4, 3, 5, 6, 7};
    static const uint32_t bad[] = {8, 0x10, 0x100, 0x10000, 0x80000000u, 1 | 8, 7 | 0x20};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        CHECK_HR(S_OK, HcsSetComputeSystemCallback(sys, (HCS_EVENT_OPTIONS)good[i], q, cu_evq_cb));
        CHECK_HR(S_OK, HcsSetComputeSystemCallback(sys, HcsEventOptionNone, NULL, NULL));
        CHECK_HR(S_OK, HcsSetProcessCallback(p, (HCS_EVENT_OPTIONS)good[i], q, cu_evq_cb));
        CHECK_HR(S_OK, HcsSetProcessCallback(p, HcsEventOptionNone, NULL, NULL));
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_HR(E_INVALIDARG,
                 HcsSetComputeSystemCallback(sys, (HCS_EVENT_OPTIONS)bad[i], q, cu_evq_cb));
        CHECK_HR(E_INVALIDARG, HcsSetProcessCallback(p, (HCS_EVENT_OPTIONS)bad[i], q, cu_evq_cb));
    }
    /* the create options take the same bits */
    for (int k = 0; k < 2; k++) {
        HCS_CREATE_OPTIONS_1 o;
        memset(&o, 0, sizeof o);
        o.Version = HcsCreateOptions_1;
        o.CallbackOptions = (HCS_EVENT_OPTIONS)(k ? 8u : OPT_LIVE_MIGRATION | OPT_VM_LIFECYCLE);
        o.CallbackContext = q;
        o.Callback = cu_evq_cb;
        HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
        HCS_SYSTEM s2 = NULL;
        HRESULT hr =
            HcsCreateComputeSystemInNamespace(NULL, u"cl-opts-2", cu_w("%s", CU_CFG_CONTAINER), op,
                                              (const HCS_CREATE_OPTIONS *)(const void *)&o, &s2);
        CHECK_HR(k ? E_INVALIDARG : S_OK, hr);
        if (SUCCEEDED(hr)) CHECK_HR(S_OK, cu_wait_op(op, NULL));
        HcsCloseOperation(op);
        cu_kill_close(s2);
    }
    CHECK_HR(S_OK, cu_proc_call(HcsTerminateProcess, p, NULL, NULL));
    HcsCloseProcess(p);
    cu_close_pi(&pi);
    cu_kill_close(sys);
    CU_END();
}

/* The VM-lifecycle and live-migration groups reach only registrations that ask for them
 * (hcsim raises none itself yet: HcsimRaiseSystemEvent stands in). */
TEST(clients_event_groups_follow_the_options) {
    HCS_SYSTEM h[4] = {NULL, NULL, NULL, NULL};
    h[0] = cu_begin_system(u"cl-groups", CU_CFG_VM, 1);
    REQUIRE(h[0] != NULL);
    static const uint32_t opts[4] = {OPT_OPS, OPT_VM_LIFECYCLE, OPT_LIVE_MIGRATION,
                                     OPT_VM_LIFECYCLE | OPT_LIVE_MIGRATION};
    cu_evq *q[4];
    for (int i = 0; i < 4; i++) {
        if (i) CHECK_HR(S_OK, HcsOpenComputeSystem(u"cl-groups", GENERIC_ALL, &h[i]));
        q[i] = cu_watch_system(h[i], (HCS_EVENT_OPTIONS)opts[i]);
    }
    CHECK_HR(S_OK, HcsimRaiseSystemEvent(NULL, u"cl-groups", GROUP_VM_LIFECYCLE, u"{}"));
    CHECK_HR(S_OK, HcsimRaiseSystemEvent(NULL, u"cl-groups", GROUP_MIGRATION, u"{}"));
    CHECK_HR(S_OK, HcsimRaiseSystemEvent(NULL, u"cl-groups",
                                         HcsEventSystemRdpEnhancedModeStateChanged, NULL));
    for (int i = 0; i < 4; i++) /* the plain event, raised last, reaches everyone */
        CHECK(cu_evq_wait(q[i], HcsEventSystemRdpEnhancedModeStateChanged, 0,
                          CU_EVENT_TIMEOUT_MS) >= 0);
    for (int i = 0; i < 4; i++) {
        CHECK(cu_evq_count(q[i], GROUP_VM_LIFECYCLE) == ((opts[i] & OPT_VM_LIFECYCLE) ? 1u : 0u));
        CHECK(cu_evq_count(q[i], GROUP_MIGRATION) == ((opts[i] & OPT_LIVE_MIGRATION) ? 1u : 0u));
    }
    for (int i = 3; i > 0; i--) HcsCloseComputeSystem(h[i]);
    cu_kill_close(h[0]);
    CU_END();
}

/* ---- item 3: the terminal event reaches a late registration once -------------------- */

/* hcsshim's exec: create the process, wait for the create operation, then register the
 * callback and wait for ProcessExited alone. The process (`true`) has usually exited by
 * the registration; 100 of 100 runs must see exactly one ProcessExited. */
TEST(clients_hcsshim_exec_short_process_100_runs) {
    HCS_SYSTEM sys = cu_begin_system(u"cl-exec", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    int ok = 0;
    for (int run = 0; run < 100; run++) {
        HCS_PROCESS p;
        HCS_PROCESS_INFORMATION pi;
        if (FAILED(cu_spawn(sys, TRUE_, &p, &pi))) break;
        cu_close_pi(&pi);
        cu_evq *q = cu_watch_process(p, HcsEventOptionNone);
        hj_value *st = cu_evq_wait_json(q, HcsEventProcessExited, 0);
        int good = cu_pstatus_is(st, 1, 0, pi.ProcessId);
        HcsCloseProcess(p); /* then nothing more can arrive */
        good = good && cu_evq_count(q, HcsEventProcessExited) == 1 && cu_evq_total(q) == 1;
        ok += good;
    }
    if (ok != 100) fprintf(stderr, "    %d of 100 runs saw exactly one ProcessExited\n", ok);
    CHECK(ok == 100);
    cu_kill_close(sys);
    CU_END();
}

TEST(clients_late_process_registration_gets_exit_once) {
    HCS_SYSTEM sys = cu_begin_system(u"cl-late-p", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    HCS_PROCESS p, other;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(
        SUCCEEDED(cu_spawn(sys,
                           "{\"CommandArgs\":[" TP_ARGS_READ_EXIT("3") "],"
                                                                       "\"CreateStdInPipe\":true}",
                           &p, &pi)));
    CHECK_HR(S_OK, HcsOpenProcess(sys, pi.ProcessId, GENERIC_ALL, &other));
    cu_evq *early = cu_watch_process(other, HcsEventOptionNone);
    CHECK(cu_write(pi.StdInput, "go\n") == 0);
    cu_close_pi(&pi);
    PWSTR doc = NULL;
    CHECK_HR(S_OK, HcsWaitForProcessExit(p, CU_OP_TIMEOUT_MS, &doc));
    cu_doc(doc);
    /* registered after the exit: the one ProcessExited comes at once */
    cu_evq *late = cu_watch_process(p, HcsEventOptionNone);
    CHECK(cu_pstatus_is(cu_evq_wait_json(late, HcsEventProcessExited, 0), 1, 3, 0));
    CHECK(cu_pstatus_is(cu_evq_wait_json(early, HcsEventProcessExited, 0), 1, 3, 0));
    /* unregistering and registering again brings nothing more, on either handle */
    CHECK_HR(S_OK, HcsSetProcessCallback(p, HcsEventOptionNone, NULL, NULL));
    CHECK_HR(S_OK, HcsSetProcessCallback(p, HcsEventOptionNone, late, cu_evq_cb));
    CHECK_HR(S_OK, HcsSetProcessCallback(other, HcsEventOptionNone, NULL, NULL));
    CHECK_HR(S_OK, HcsSetProcessCallback(other, HcsEventOptionNone, early, cu_evq_cb));
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_total(late) == 1 && cu_evq_total(early) == 1);
    HcsCloseProcess(p);
    HcsCloseProcess(other);
    cu_kill_close(sys);
    CU_END();
}

/* A handle opened before the exit whose callback comes after it gets SystemExited once;
 * a handle that had its callback at the exit gets nothing more by registering again. */
TEST(clients_late_system_registration_gets_exit_once) {
    HCS_SYSTEM a = cu_begin_system(u"cl-late-s", CU_CFG_CONTAINER, 1), b = NULL;
    REQUIRE(a != NULL);
    CHECK_HR(S_OK, HcsOpenComputeSystem(u"cl-late-s", GENERIC_ALL, &b));
    cu_evq *qa = cu_watch_system(a, OPT_LIVE_MIGRATION);
    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, a, u"", NULL));
    CHECK(cu_evq_wait(qa, HcsEventSystemExited, 0, CU_EVENT_TIMEOUT_MS) >= 0);
    PWSTR doc = NULL;
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(b, CU_OP_TIMEOUT_MS, &doc));
    cu_doc(doc);
    cu_evq *qb = cu_watch_system(b, OPT_LIVE_MIGRATION);
    hj_value *ex = cu_evq_wait_json(qb, HcsEventSystemExited, 0);
    CHECK(cu_jstr_is(ex, "ExitType", "ForcedExit"));
    CHECK(cu_jstr_is(ex, "Attribution.0.SystemExit.Detail", "Terminate"));
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(a, HcsEventOptionNone, NULL, NULL));
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(a, HcsEventOptionNone, qa, cu_evq_cb));
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(b, HcsEventOptionNone, NULL, NULL));
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(b, HcsEventOptionNone, qb, cu_evq_cb));
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_total(qa) == 1 && cu_evq_total(qb) == 1);
    HcsCloseComputeSystem(a);
    HcsCloseComputeSystem(b);
    CU_END();
}

/* ---- item 5: exit codes follow the guest OS; every property type --------------------- */

static int64_t exit_code(HCS_PROCESS p) {
    PWSTR doc = NULL;
    int64_t code = -1;
    if (HcsWaitForProcessExit(p, CU_OP_TIMEOUT_MS, &doc) == S_OK)
        cu_jint(cu_doc(doc), "ExitCode", &code);
    return code;
}

TEST(clients_exit_codes_follow_the_guest) {
    HCS_SYSTEM win = cu_begin_system(u"cl-codes-w", CU_CFG_CONTAINER, 1), lin = NULL;
    REQUIRE(win != NULL);
    REQUIRE(SUCCEEDED(cu_create_running(u"cl-codes-l", CU_CFG_LINUX_VM, &lin)));
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    /* terminated: ERROR_PROCESS_ABORTED on Windows, 128 + SIGKILL on Linux */
    REQUIRE(SUCCEEDED(cu_spawn(win, SLEEP30, &p, &pi)));
    CHECK_HR(S_OK, cu_proc_call(HcsTerminateProcess, p, NULL, NULL));
    CHECK(exit_code(p) == WIN_PROCESS_ABORTED);
    HcsCloseProcess(p);
    REQUIRE(SUCCEEDED(cu_spawn(lin, SLEEP30, &p, &pi)));
    CHECK_HR(S_OK, cu_proc_call(HcsTerminateProcess, p, NULL, NULL));
    CHECK(exit_code(p) == 137);
    HcsCloseProcess(p);
    /* a console control event nobody handles: STATUS_CONTROL_C_EXIT */
    static const char *const ctrl[] = {"CtrlC", "CtrlBreak", "CtrlShutdown"};
    for (size_t i = 0; i < sizeof ctrl / sizeof *ctrl; i++) {
        REQUIRE(SUCCEEDED(cu_spawn(win, SLEEP30, &p, &pi)));
        CHECK_HR(S_OK,
                 cu_proc_call(HcsSignalProcess, p, cu_w("{\"Signal\":\"%s\"}", ctrl[i]), NULL));
        CHECK(exit_code(p) == (int64_t)WIN_CONTROL_C_EXIT);
        HcsCloseProcess(p);
    }
    /* a process that exits by itself keeps its code; one ended with its system aborts */
    REQUIRE(SUCCEEDED(cu_spawn(win, "{\"CommandArgs\":[" TP_ARGS_EXIT("137") "]}", &p, &pi)));
    CHECK(exit_code(p) == 137);
    HcsCloseProcess(p);
    REQUIRE(SUCCEEDED(cu_spawn(win, SLEEP30, &p, &pi)));
    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, win, NULL, NULL));
    CHECK(exit_code(p) == WIN_PROCESS_ABORTED);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(win);
    cu_kill_close(lin);
    CU_END();
}

TEST(clients_every_system_property_type) {
    HCS_SYSTEM vm = cu_begin_system(u"cl-props", CU_CFG_VM, 1), ct = NULL;
    REQUIRE(vm != NULL);
    REQUIRE(SUCCEEDED(cu_create_running(u"cl-props-c", CU_CFG_CONTAINER, &ct)));
    static const struct {
        const char *type, *member; /* member NULL: adds nothing */
    } types[] = {
        {"Memory", "Memory"},
        {"Statistics", "Statistics"},
        {"ProcessList", "ProcessList"},
        {"TerminateOnLastHandleClosed", "TerminateOnLastHandleClosed"},
        {"SharedMemoryRegion", "SharedMemoryRegionInfo"},
        {"GuestConnection", "GuestConnectionInfo"},
        {"GuestMemory", NULL},
        {"ICHeartbeatStatus", "ICHeartbeatStatus"},
        {"SystemGUID", "SystemGUID"},
        {"MappedVirtualDisk", "MappedVirtualDiskControllers"},
    };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        hj_value *d = cu_props(vm, cu_w("{\"PropertyTypes\":[\"%s\"]}", types[i].type));
        CHECK(d != NULL);
        if (!d) fprintf(stderr, "    %s refused\n", types[i].type);
        if (types[i].member) CHECK(cu_has_key(d, types[i].member));
    }
    hj_value *d = cu_props(vm, u"{\"PropertyTypes\":[\"ICHeartbeatStatus\",\"SystemGUID\"]}");
    CHECK(cu_jstr_is(d, "ICHeartbeatStatus.State", "Ok"));
    CHECK(cu_jbool(d, "ICHeartbeatStatus.IsEnabled") == 1);
    const char *guid = cu_jstr(d, "SystemGUID");
    CHECK(guid && strlen(guid) == 36);
    hj_value *again = cu_props(vm, u"{\"PropertyTypes\":[\"SystemGUID\"]}");
    CHECK(guid && cu_jstr_is(again, "SystemGUID", guid)); /* stable */
    d = cu_props(ct, u"{\"PropertyTypes\":[\"ICHeartbeatStatus\"]}");
    CHECK(cu_jbool(d, "ICHeartbeatStatus.IsEnabled") == 0);
    hj_value *bad = NULL;
    CHECK_HR(HCS_E_INVALID_JSON, cu_sys_call(HcsGetComputeSystemProperties, vm,
                                             u"{\"PropertyTypes\":[\"Nope\"]}", &bad));
    cu_kill_close(ct);
    cu_kill_close(vm);
    CU_END();
}

TEST(clients_every_service_property_type) {
    cu_begin();
    static const char *const types[] = {
        "Basic",           "Memory",
        "CpuGroup",        "ProcessorTopology",
        "CacheAllocation", "CacheMonitoring",
        "QoSCapabilities", "MemoryBwAllocation",
        "Undefined",       "ContainerCredentialGuard",
    };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        PWSTR doc = NULL;
        HRESULT hr = HcsGetServiceProperties(cu_w("{\"PropertyTypes\":[\"%s\"]}", types[i]), &doc);
        CHECK_HR(S_OK, hr);
        hj_value *d = cu_doc(doc);
        CHECK(hj_typeof(cu_jget(d, "Properties.0")) == HJ_OBJECT);
    }
    PWSTR doc = NULL;
    CHECK_HR(HCS_E_INVALID_JSON, HcsGetServiceProperties(u"{\"PropertyTypes\":[\"Nope\"]}", &doc));
    CHECK(cu_is_result_error(cu_doc(doc), HCS_E_INVALID_JSON));
    CU_END();
}
