/* HCS contract §13 checklist, items 51-57: service, memory, errors, namespaces, storage
 * (§3, §5.4, §5.5, §9, §10.3). */
#include "checklist_util.h"
#include "test_port.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLEEP30 "{\"CommandArgs\":[" TP_ARGS_SLEEP("30") "]}"

/* LocalFree's result for a freed block, with the Documents counter going down by one. */
static void free_counted(PWSTR doc) {
    uint32_t before = cu_counts().Documents;
    CHECK(before >= 1);
    CHECK(LocalFree(doc) == NULL);
    CHECK(cu_counts().Documents == before - 1);
}

TEST(c13_51_returned_strings_and_null_outs) {
    cu_begin();
    CHECK(LocalFree(NULL) == NULL);
    HCS_SYSTEM sys;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-51", CU_CFG_CONTAINER, &sys)));
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    PWSTR d = NULL;

    /* Operation results. */
    CHECK_HR(S_OK, HcsGetComputeSystemProperties(sys, op, NULL));
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, NULL)); /* NULL out */
    CHECK(cu_counts().Documents == 0);
    CHECK_HR(S_OK, HcsGetOperationResult(op, NULL));
    CHECK(cu_counts().Documents == 0);
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, &d));
    REQUIRE(d != NULL);
    CHECK(cu_counts().Documents == 1);
    free_counted(d);
    d = NULL;
    CHECK_HR(S_OK, HcsGetOperationResult(op, &d));
    REQUIRE(d != NULL);
    free_counted(d);

    /* A failure result, with and without the out parameter. */
    CHECK_HR(S_OK, HcsStartComputeSystem(sys, op, NULL));
    CHECK_HR(HCS_E_INVALID_STATE, HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, NULL));
    CHECK(cu_counts().Documents == 0);
    d = NULL;
    CHECK_HR(HCS_E_INVALID_STATE, HcsGetOperationResult(op, &d));
    if (d) free_counted(d);

    /* ...AndProcessInfo with both optional outs NULL, then with them. */
    HCS_PROCESS p = NULL;
    CHECK_HR(S_OK, HcsCreateProcess(sys, u"" SLEEP30, op, NULL, &p));
    REQUIRE(p != NULL);
    CHECK_HR(S_OK, HcsWaitForOperationResultAndProcessInfo(op, CU_OP_TIMEOUT_MS, NULL, NULL));
    CHECK_HR(S_OK, HcsGetOperationResultAndProcessInfo(op, NULL, NULL));
    CHECK(cu_counts().Documents == 0);
    CHECK(cu_counts().PipeHandles == 0);
    HCS_PROCESS_INFORMATION pi;
    memset(&pi, 0, sizeof pi);
    d = NULL;
    CHECK_HR(S_OK, HcsGetOperationResultAndProcessInfo(op, &pi, &d));
    CHECK(pi.ProcessId != 0);
    if (d) free_counted(d);
    cu_close_pi(&pi);

    /* Process exit status. */
    CHECK_HR(S_OK, cu_proc_call(HcsTerminateProcess, p, NULL, NULL));
    CHECK_HR(S_OK, HcsWaitForProcessExit(p, CU_OP_TIMEOUT_MS, NULL));
    CHECK(cu_counts().Documents == 0);
    d = NULL;
    CHECK_HR(S_OK, HcsWaitForProcessExit(p, CU_OP_TIMEOUT_MS, &d));
    REQUIRE(d != NULL);
    free_counted(d);
    HcsCloseProcess(p);

    /* System exit status. */
    CHECK_HR(S_OK, HcsTerminateComputeSystem(sys, op, NULL));
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, NULL));
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(sys, CU_OP_TIMEOUT_MS, NULL));
    CHECK(cu_counts().Documents == 0);
    d = NULL;
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(sys, CU_OP_TIMEOUT_MS, &d));
    REQUIRE(d != NULL);
    free_counted(d);

    /* Service calls. */
    d = NULL;
    CHECK_HR(S_OK, HcsGetServiceProperties(u"{\"PropertyTypes\":[\"Basic\"]}", &d));
    REQUIRE(d != NULL);
    free_counted(d);
    HRESULT hr = HcsModifyServiceSettings(u"{", NULL);
    CHECK_FAILED(hr);
    CHECK(cu_counts().Documents == 0);
    d = NULL;
    hr = HcsModifyServiceSettings(u"{", &d);
    CHECK_FAILED(hr);
    if (d) free_counted(d);

    HcsCloseOperation(op);
    HcsCloseComputeSystem(sys);
    CU_END();
}

TEST(c13_52_service_properties_basic) {
    cu_begin();
    PWSTR d = NULL;
    CHECK_HR(S_OK, HcsGetServiceProperties(u"{\"PropertyTypes\":[\"Basic\"]}", &d));
    hj_value *v = cu_doc(d);
    REQUIRE(v != NULL);
    const hj_value *props = hj_get(v, "Properties");
    REQUIRE(hj_typeof(props) == HJ_ARRAY);
    CHECK(hj_count(props) == 1);
    const hj_value *vers = cu_jget(v, "Properties.0.SupportedSchemaVersions");
    REQUIRE(hj_typeof(vers) == HJ_ARRAY);
    REQUIRE(hj_count(vers) >= 1);
    int has_2x = 0;
    for (size_t i = 0; i < hj_count(vers); i++) {
        int64_t major = -1, minor = -1;
        CHECK(cu_jint(hj_at(vers, i), "Major", &major));
        CHECK(cu_jint(hj_at(vers, i), "Minor", &minor));
        if (major == 2 && minor >= 1) has_2x = 1;
    }
    CHECK(has_2x);

    /* Results follow the request order. */
    d = NULL;
    CHECK_HR(S_OK,
             HcsGetServiceProperties(u"{\"PropertyTypes\":[\"ProcessorTopology\",\"Basic\"]}", &d));
    v = cu_doc(d);
    REQUIRE(v != NULL);
    CHECK(hj_count(hj_get(v, "Properties")) == 2);
    CHECK(cu_jget(v, "Properties.1.SupportedSchemaVersions") != NULL);
    CHECK(cu_jget(v, "Properties.0.SupportedSchemaVersions") == NULL);
    CHECK(cu_jint(v, "Properties.0.LogicalProcessorCount", NULL));
    d = NULL;
    CHECK_HR(S_OK,
             HcsGetServiceProperties(u"{\"PropertyTypes\":[\"Basic\",\"ProcessorTopology\"]}", &d));
    v = cu_doc(d);
    REQUIRE(v != NULL);
    CHECK(cu_jget(v, "Properties.0.SupportedSchemaVersions") != NULL);
    CHECK(cu_jint(v, "Properties.1.LogicalProcessorCount", NULL));

    /* The result pointer is required. */
    CHECK_FAILED(HcsGetServiceProperties(u"{\"PropertyTypes\":[\"Basic\"]}", NULL));
    CHECK(cu_counts().Documents == 0);
    CU_END();
}

TEST(c13_53_modify_service_settings_bad_document) {
    cu_begin();
    static const char *const bad[] = {
        "{",
        "{\"PropertyType\":\"NoSuchProperty\",\"Settings\":{}}",
        "{\"PropertyType\":\"CpuGroup\",\"Settings\":{\"Operation\":\"Explode\"}}",
        "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        PWSTR d = NULL;
        HRESULT hr = HcsModifyServiceSettings(cu_w("%s", bad[i]), &d);
        CHECK_FAILED(hr);
        if (d) {
            hj_value *v = cu_doc(d);
            CHECK(cu_is_result_error(v, hr));
        }
        CHECK_FAILED(HcsModifyServiceSettings(cu_w("%s", bad[i]), NULL));
    }
    CHECK_FAILED(HcsModifyServiceSettings(NULL, NULL));
    CHECK(cu_counts().Documents == 0);
    CU_END();
}

/* Records (hr, document) of a failing call and checks the ResultError rule. */
static int failure_docs;
static void check_failure_doc(const char *what, HRESULT hr, hj_value *doc) {
    if (SUCCEEDED(hr)) {
        fprintf(stderr, "    %s unexpectedly succeeded\n", what);
        CHECK(!"the call was expected to fail");
        return;
    }
    if (!doc) return;
    failure_docs++;
    if (!cu_is_result_error(doc, hr)) {
        fprintf(stderr, "    %s: failure document is not a ResultError with Error=%d\n", what,
                (int)hr);
        CHECK(!"ResultError.Error == returned HRESULT");
    }
    const hj_value *msg = hj_get(doc, "ErrorMessage");
    CHECK(msg == NULL || hj_typeof(msg) == HJ_STRING);
}

static HRESULT op_call_doc(HRESULT sync, HCS_OPERATION op, hj_value **doc) {
    *doc = NULL;
    if (FAILED(sync)) {
        /* A synchronous failure: the operation may still carry a document (U). */
        PWSTR d = NULL;
        HRESULT h = HcsGetOperationResult(op, &d);
        if (d) *doc = cu_doc(d);
        (void)h;
        return sync;
    }
    return cu_wait_op(op, doc);
}

TEST(c13_54_failure_documents_are_result_errors) {
    cu_begin();
    failure_docs = 0;
    HCS_SYSTEM sys;
    REQUIRE(SUCCEEDED(cu_create(u"c13-54", CU_CFG_VM, &sys)));
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    hj_value *doc;
    HRESULT hr;
    HCS_SYSTEM s2 = NULL;

    hr = op_call_doc(HcsCreateComputeSystem(u"c13-54", u"{\"Container\":{}}", op, NULL, &s2), op,
                     &doc);
    check_failure_doc("duplicate create", hr, doc);
    if (s2) HcsCloseComputeSystem(s2);
    s2 = NULL;
    hr = op_call_doc(HcsCreateComputeSystem(u"c13-54b", u"{nope", op, NULL, &s2), op, &doc);
    check_failure_doc("malformed create", hr, doc);
    if (s2) HcsCloseComputeSystem(s2);
    hr = op_call_doc(HcsPauseComputeSystem(sys, op, NULL), op, &doc);
    check_failure_doc("pause in Created", hr, doc);
    hr = op_call_doc(HcsGetComputeSystemProperties(sys, op, u"{\"PropertyTypes\":[\"Nope\"]}"), op,
                     &doc);
    check_failure_doc("unknown property type", hr, doc);
    HCS_PROCESS p = NULL;
    hr = op_call_doc(HcsCreateProcess(sys, u"" SLEEP30, op, NULL, &p), op, &doc);
    check_failure_doc("process in Created", hr, doc);
    if (p) HcsCloseProcess(p);
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, sys, NULL, NULL));
    hr = op_call_doc(
        HcsModifyComputeSystem(sys, op,
                               u"{\"ResourcePath\":\"VirtualMachine/ComputeTopology/"
                               u"Memory/SizeInMB\",\"RequestType\":\"Bogus\",\"Settings\":1}",
                               NULL),
        op, &doc);
    check_failure_doc("modify bad request type", hr, doc);
    hr = op_call_doc(HcsSaveComputeSystem(sys, op, NULL), op, &doc);
    check_failure_doc("save while running", hr, doc);

    /* Injected failures, both modes. */
    CHECK_HR(S_OK, HcsimFailNext("HcsGetComputeSystemProperties", 1, HCS_E_CONNECTION_TIMEOUT,
                                 HcsimFaultAsync));
    hr = op_call_doc(HcsGetComputeSystemProperties(sys, op, NULL), op, &doc);
    CHECK_HR(HCS_E_CONNECTION_TIMEOUT, hr);
    check_failure_doc("injected async failure", hr, doc);
    CHECK_HR(S_OK,
             HcsimFailNext("HcsGetComputeSystemProperties", 1, E_ACCESSDENIED, HcsimFaultSync));
    HCS_OPERATION fresh = HcsCreateOperation(NULL, NULL);
    hr = HcsGetComputeSystemProperties(sys, fresh, NULL);
    CHECK_HR(E_ACCESSDENIED, hr);
    CHECK_HR(HCS_E_OPERATION_NOT_STARTED, HcsGetOperationResult(fresh, NULL));
    HcsCloseOperation(fresh);
    /* The fault was used up. */
    CHECK_HR(S_OK, cu_sys_call(HcsGetComputeSystemProperties, sys, NULL, NULL));

    /* Process and service failures. */
    REQUIRE(SUCCEEDED(
        cu_spawn(sys, "{\"CommandArgs\":[" TP_ARGS_TRUE "]}", &p, &(HCS_PROCESS_INFORMATION){0})));
    CHECK(cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS) != NULL);
    hr = op_call_doc(HcsTerminateProcess(p, op, NULL), op, &doc);
    check_failure_doc("terminate exited process", hr, doc);
    hr = op_call_doc(HcsSignalProcess(p, op, u"{\"Signal\":\"NoSuchSignal\"}"), op, &doc);
    check_failure_doc("bad signal", hr, doc);
    HcsCloseProcess(p);
    PWSTR d = NULL;
    hr = HcsGetServiceProperties(u"{\"PropertyTypes\":[\"NoSuchType\"]}", &d);
    check_failure_doc("service properties bad type", hr, cu_doc(d));
    d = NULL;
    hr = HcsModifyServiceSettings(u"{\"PropertyType\":\"Nope\"}", &d);
    check_failure_doc("service settings bad type", hr, cu_doc(d));

    fprintf(stderr, "    (c13_54: %d failure documents checked)\n", failure_docs);
    HcsCloseOperation(op);
    cu_kill_close(sys);
    CU_END();
}

TEST(c13_55_error_values_bit_exact) {
    cu_begin();
    /* The header constants match section 9. */
    static const struct {
        HRESULT v;
        uint32_t want;
    } k[] = {
        {HCS_E_TERMINATED_DURING_START, 0x80370100u},
        {HCS_E_IMAGE_MISMATCH, 0x80370101u},
        {HCS_E_HYPERV_NOT_INSTALLED, 0x80370102u},
        {HCS_E_INVALID_STATE, 0x80370105u},
        {HCS_E_UNEXPECTED_EXIT, 0x80370106u},
        {HCS_E_TERMINATED, 0x80370107u},
        {HCS_E_CONNECT_FAILED, 0x80370108u},
        {HCS_E_CONNECTION_TIMEOUT, 0x80370109u},
        {HCS_E_CONNECTION_CLOSED, 0x8037010Au},
        {HCS_E_UNKNOWN_MESSAGE, 0x8037010Bu},
        {HCS_E_UNSUPPORTED_PROTOCOL_VERSION, 0x8037010Cu},
        {HCS_E_INVALID_JSON, 0x8037010Du},
        {HCS_E_SYSTEM_NOT_FOUND, 0x8037010Eu},
        {HCS_E_SYSTEM_ALREADY_EXISTS, 0x8037010Fu},
        {HCS_E_SYSTEM_ALREADY_STOPPED, 0x80370110u},
        {HCS_E_PROTOCOL_ERROR, 0x80370111u},
        {HCS_E_INVALID_LAYER, 0x80370112u},
        {HCS_E_WINDOWS_INSIDER_REQUIRED, 0x80370113u},
        {HCS_E_SERVICE_NOT_AVAILABLE, 0x80370114u},
        {HCS_E_OPERATION_NOT_STARTED, 0x80370115u},
        {HCS_E_OPERATION_ALREADY_STARTED, 0x80370116u},
        {HCS_E_OPERATION_PENDING, 0x80370117u},
        {HCS_E_OPERATION_TIMEOUT, 0x80370118u},
        {HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET, 0x80370119u},
        {HCS_E_OPERATION_RESULT_ALLOCATION_FAILED, 0x8037011Au},
        {HCS_E_ACCESS_DENIED, 0x8037011Bu},
        {HCS_E_GUEST_CRITICAL_ERROR, 0x8037011Cu},
        {HCS_E_PROCESS_INFO_NOT_AVAILABLE, 0x8037011Du},
        {HCS_E_SERVICE_DISCONNECT, 0x8037011Eu},
        {HCS_E_PROCESS_ALREADY_STOPPED, 0x8037011Fu},
        {E_NOTIMPL, 0x80004001u},
        {E_INVALIDARG, 0x80070057u},
        {HRESULT_FROM_WIN32(ERROR_NOT_FOUND), 0x80070490u},
        {HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND), 0x80070002u},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) CHECK((uint32_t)k[i].v == k[i].want);

    /* And the emulator returns exactly those bits. */
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    CHECK((uint32_t)HcsCancelOperation(op) == 0x80004001u);
    CHECK((uint32_t)HcsGetOperationResult(op, NULL) == 0x80370115u);
    HCS_SYSTEM x = NULL;
    CHECK((uint32_t)HcsOpenComputeSystem(u"c13-55-none", GENERIC_ALL, &x) == 0x8037010Eu);
    HCS_SYSTEM s;
    REQUIRE(SUCCEEDED(cu_create(u"c13-55", CU_CFG_CONTAINER, &s)));
    CHECK((uint32_t)cu_create(u"c13-55", CU_CFG_CONTAINER, &x) == 0x8037010Fu);
    CHECK((uint32_t)cu_create(u"c13-55j", "{", &x) == 0x8037010Du);
    CHECK((uint32_t)cu_sys_call(HcsPauseComputeSystem, s, NULL, NULL) == 0x80370105u);
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, s, NULL, NULL));

    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 1000, 0));
    CHECK_HR(S_OK, HcsGetComputeSystemProperties(s, op, NULL));
    CHECK((uint32_t)HcsGetOperationResult(op, NULL) == 0x80370117u);
    CHECK((uint32_t)HcsWaitForOperationResult(op, 10, NULL) == 0x80370118u);
    CHECK((uint32_t)HcsStartComputeSystem(s, op, NULL) == 0x80370116u);
    CHECK_HR(S_OK, cu_wait_op(op, NULL));
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 0, 0));

    cu_evq *q = cu_watch_system(s, HcsEventOptionNone);
    CHECK((uint32_t)HcsSetComputeSystemCallback(s, HcsEventOptionNone, q, cu_evq_cb) ==
          0x80370119u);

    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(SUCCEEDED(cu_spawn(s, "{\"CommandArgs\":[" TP_ARGS_TRUE "]}", &p, &pi)));
    CHECK(cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS) != NULL);
    CHECK((uint32_t)cu_proc_call(HcsTerminateProcess, p, NULL, NULL) == 0x8037011Fu);
    HCS_PROCESS px = NULL;
    CHECK((uint32_t)HcsOpenProcess(s, pi.ProcessId, GENERIC_ALL, &px) == 0x80070490u);
    CHECK((uint32_t)cu_proc_call(HcsSignalProcess, p, u"{\"Signal\":\"Nope\"}", NULL) != 0);
    HcsCloseProcess(p);
    CHECK((uint32_t)HcsGetOperationResultAndProcessInfo(op, &pi, NULL) == 0x80070057u);

    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, s, NULL, NULL));
    CHECK((uint32_t)cu_sys_call(HcsTerminateComputeSystem, s, NULL, NULL) == 0x80370110u);
    CHECK((uint32_t)HcsWaitForComputeSystemExit(s, 0, NULL) == 0);
    HcsCloseComputeSystem(s);
    HcsCloseOperation(op);
    CU_END();
}

TEST(c13_56_namespaces_and_create_options) {
    cu_begin();
    cu_evq *q = cu_evq_new();
    HCS_CREATE_OPTIONS_1 o;
    memset(&o, 0, sizeof o);
    o.Version = HcsCreateOptions_1;
    o.CallbackOptions = HcsEventOptionEnableOperationCallbacks;
    o.CallbackContext = q;
    o.Callback = cu_evq_cb;
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    HCS_SYSTEM s = NULL;
    char16_t *cfg = hj_utf8_to_utf16(CU_CFG_CONTAINER, strlen(CU_CFG_CONTAINER));
    HRESULT hr = HcsCreateComputeSystemInNamespace(u"ns-a", u"c13-56", cfg, op,
                                                   (const HCS_CREATE_OPTIONS *)&o, &s);
    free(cfg);
    CHECK_HR(S_OK, hr);
    REQUIRE(s != NULL);
    /* The callback was in place before the create could complete: its completion
     * arrives as an operation event. */
    int idx = cu_evq_wait(q, HcsEventOperationCallback, 0, CU_EVENT_TIMEOUT_MS);
    CHECK(idx >= 0);
    if (idx >= 0) {
        CHECK(cu_evq_at(q, (size_t)idx).op == op);
        CHECK_HR(S_OK, cu_evq_at(q, (size_t)idx).op_hr);
    }
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, CU_OP_TIMEOUT_MS, NULL));
    /* The slot is taken. */
    hr = HcsSetComputeSystemCallback(s, HcsEventOptionNone, q, cu_evq_cb);
    CHECK_HR(HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET, hr);

    /* Visibility. */
    HCS_SYSTEM h = NULL;
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, HcsOpenComputeSystem(u"c13-56", GENERIC_ALL, &h));
    CHECK(h == NULL);
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND,
             HcsOpenComputeSystemInNamespace(u"ns-b", u"c13-56", GENERIC_ALL, &h));
    CHECK(h == NULL);
    CHECK_HR(S_OK, HcsOpenComputeSystemInNamespace(u"ns-a", u"c13-56", GENERIC_ALL, &h));
    CHECK(h != NULL);
    if (h) HcsCloseComputeSystem(h);

    hj_value *all = cu_enum(NULL, NULL, &hr);
    CHECK_HR(S_OK, hr);
    CHECK(hj_typeof(all) == HJ_ARRAY && hj_count(all) == 0);
    all = cu_enum(u"ns-b", NULL, &hr);
    CHECK_HR(S_OK, hr);
    CHECK(hj_typeof(all) == HJ_ARRAY && hj_count(all) == 0);
    all = cu_enum(u"ns-a", NULL, &hr);
    CHECK_HR(S_OK, hr);
    CHECK(hj_count(all) == 1);
    CHECK(cu_jstr_is(all, "0.Id", "c13-56"));
    all = cu_enum(u"ns-a", u"{\"Ids\":[\"c13-56\"]}", &hr);
    CHECK(hj_count(all) == 1);

    /* A default-namespace system is invisible from ns-a. */
    HCS_SYSTEM d;
    REQUIRE(SUCCEEDED(cu_create(u"c13-56d", CU_CFG_CONTAINER, &d)));
    h = NULL;
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND,
             HcsOpenComputeSystemInNamespace(u"ns-a", u"c13-56d", GENERIC_ALL, &h));
    all = cu_enum(u"ns-a", NULL, &hr);
    CHECK(hj_count(all) == 1);
    all = cu_enum(NULL, NULL, &hr);
    CHECK(hj_count(all) == 1);
    CHECK(cu_jstr_is(all, "0.Id", "c13-56d"));
    cu_kill_close(d);

    /* Events registered at creation keep flowing. */
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, s, NULL, NULL));
    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, s, NULL, NULL));
    CHECK(cu_evq_wait(q, HcsEventSystemExited, 0, CU_EVENT_TIMEOUT_MS) >= 0);
    HcsCloseOperation(op);
    HcsCloseComputeSystem(s);
    CU_END();
}

static void check_sync_hr(const char *what, HRESULT hr) {
    if (hr == HCS_E_OPERATION_PENDING || hr == HCS_E_OPERATION_NOT_STARTED ||
        hr == HCS_E_OPERATION_TIMEOUT || hr == HCS_E_OPERATION_ALREADY_STARTED) {
        fprintf(stderr, "    %s returned an operation-status code 0x%08x\n", what, (unsigned)hr);
        CHECK(!"storage calls return plain HRESULTs");
    }
    HCSIM_COUNTS c = cu_counts();
    CHECK(c.PendingOperations == 0);
    CHECK(c.Operations == 0);
}

TEST(c13_57_storage_is_synchronous) {
    cu_begin();
    const char *dir = cu_tmpdir();
    /* A system whose handle would receive any stray event or operation completion. */
    HCS_SYSTEM sys;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-57", CU_CFG_CONTAINER, &sys)));
    cu_evq *q = cu_watch_system(sys, HcsEventOptionEnableOperationCallbacks);

    /* hcsim's VHD handle convention: the fd of an open regular file. */
    int fd = open(cu_s("%s/disk.vhdx", dir), O_RDWR | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    HANDLE vhd = (HANDLE)tp_vhd_handle(fd);
    HRESULT hr = HcsFormatWritableLayerVhd(vhd);
    CHECK_HR(S_OK, hr);
    check_sync_hr("HcsFormatWritableLayerVhd", hr);
    PWSTR mount = NULL;
    hr = HcsGetLayerVhdMountPath(vhd, &mount);
    CHECK_HR(S_OK, hr);
    check_sync_hr("HcsGetLayerVhdMountPath", hr);
    REQUIRE(mount != NULL);
    CHECK(cu_counts().Documents == 1);
    CHECK(aiohcs_utf16_len(mount) > 0);
    CHECK(LocalFree(mount) == NULL);
    CHECK(cu_counts().Documents == 0);
    mount = (PWSTR)NULL;
    hr = HcsGetLayerVhdMountPath(INVALID_HANDLE_VALUE, &mount);
    CHECK_FAILED(hr);
    check_sync_hr("HcsGetLayerVhdMountPath(bad)", hr);
    CHECK(mount == NULL);
    CHECK(cu_counts().Documents == 0);

    const char *base = cu_s("%s/base", dir), *scratch = cu_s("%s/scratch", dir);
    const char *exported = cu_s("%s/export", dir), *imported = cu_s("%s/imported", dir);
    REQUIRE(tp_mkdir(base, 0700) == 0);
    hr = HcsSetupBaseOSLayer(cu_w("%s", base), vhd, u"{\"Type\":\"Container\"}");
    CHECK_HR(S_OK, hr);
    check_sync_hr("HcsSetupBaseOSLayer", hr);
    PCWSTR ld = cu_w("{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Layers\":[{\"Id\":"
                     "\"0a1b2c3d-1111-2222-3333-444455556666\",\"Path\":\"%s\"}]}",
                     base);
    PCWSTR ld_empty = u"{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Layers\":[]}";

    hr = HcsInitializeWritableLayer(cu_w("%s", scratch), ld, NULL);
    CHECK_HR(S_OK, hr);
    check_sync_hr("HcsInitializeWritableLayer", hr);
    CHECK(access(scratch, F_OK) == 0); /* done by the time the call returned */
    hr = HcsAttachLayerStorageFilter(cu_w("%s", scratch), ld);
    CHECK_HR(S_OK, hr);
    check_sync_hr("HcsAttachLayerStorageFilter", hr);
    hr = HcsDetachLayerStorageFilter(cu_w("%s", scratch));
    CHECK_HR(S_OK, hr);
    check_sync_hr("HcsDetachLayerStorageFilter", hr);
    hr = HcsDetachLayerStorageFilter(cu_w("%s", scratch)); /* not attached any more */
    CHECK_FAILED(hr);
    check_sync_hr("HcsDetachLayerStorageFilter(again)", hr);

    hr = HcsExportLayer(cu_w("%s", base), cu_w("%s", exported), ld_empty,
                        u"{\"IsWritableLayer\":false}");
    CHECK_HR(S_OK, hr);
    check_sync_hr("HcsExportLayer", hr);
    CHECK(access(exported, F_OK) == 0);
    hr = HcsImportLayer(cu_w("%s", imported), cu_w("%s", exported), ld_empty);
    CHECK_HR(S_OK, hr);
    check_sync_hr("HcsImportLayer", hr);
    CHECK(access(imported, F_OK) == 0);
    hr = HcsDestroyLayer(cu_w("%s", imported));
    CHECK_HR(S_OK, hr);
    check_sync_hr("HcsDestroyLayer", hr);
    CHECK(access(imported, F_OK) != 0);
    hr = HcsDestroyLayer(cu_w("%s", scratch));
    CHECK_HR(S_OK, hr);
    CHECK(access(scratch, F_OK) != 0);
    hr = HcsDestroyLayer(cu_w("%s/never-existed", dir));
    CHECK_FAILED(hr);
    check_sync_hr("HcsDestroyLayer(missing)", hr);
    hr = HcsInitializeWritableLayer(cu_w("%s/s2", dir), u"{", NULL);
    CHECK_FAILED(hr);
    check_sync_hr("HcsInitializeWritableLayer(bad json)", hr);

    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_total(q) == 0); /* no callback of any kind */
    close(fd);
    cu_kill_close(sys);
    CU_END();
}
