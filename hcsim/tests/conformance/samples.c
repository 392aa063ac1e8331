/* Conformance scenarios from Microsoft's published HCS samples (learn.microsoft.com,
 * virtualization/api/hcs: "Operation Completion Samples", "Event Callback Samples",
 * "Host Service Sample Code", "Virtual Machine Utilities Samples"). Each comment says in
 * our own words what the sample's client does; the code is ours. Where a sample waits
 * INFINITE, the scenario waits CONF_WAIT_MS and fails instead. */
#include "conformance.h"
#include "../test_port.h"

#include <string.h>

/* The samples' "empty" virtual machine: UEFI, 1 GB of memory, two processors, no disk
 * and no guest connection, terminated when its last handle is closed. */
#define EMPTY_VM                                                                     \
    "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"Sample\","             \
    "\"VirtualMachine\":{\"Chipset\":{\"Uefi\":{}},\"ComputeTopology\":{\"Memory\":" \
    "{\"Backing\":\"Physical\",\"SizeInMB\":1024},\"Processor\":{\"Count\":2}}},"    \
    "\"ShouldTerminateOnLastHandleClosed\":true}"

/* ---- the three operation completion patterns ----------------------------------------- */

/* Pattern 1, waiting synchronously: the client makes an operation without a callback,
 * starts the create of the empty VM with it, and blocks in HcsWaitForOperationResult;
 * the create succeeds. Closing its only handle then ends the VM. */
SCENARIO(sample_completion_1_wait) {
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    REQUIRE(op != NULL);
    HCS_SYSTEM sys = NULL;
    CHECK_HR(S_OK, HcsCreateComputeSystem(u"Test", cu_w("%s", EMPTY_VM), op, NULL, &sys));
    PWSTR doc = NULL;
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, CONF_WAIT_MS, &doc));
    if (doc) LocalFree(doc);
    HcsCloseOperation(op);
    if (sys) HcsCloseComputeSystem(sys);
}

/* Pattern 2, an operation callback: the client passes a fresh operation with a
 * completion callback straight into the create and keeps no handle of it. The callback
 * finds a Create operation, reads its result (S_OK), closes the operation itself and
 * wakes the client, which was waiting for exactly that. */
SCENARIO(sample_completion_2_operation_callback) {
    cu_opcb *done = cu_opcb_new(1); /* closes the operation inside its callback */
    HCS_SYSTEM sys = NULL;
    HRESULT hr = HcsCreateComputeSystem(u"Test", cu_w("%s", EMPTY_VM),
                                        HcsCreateOperation(done, cu_opcb_fn), NULL, &sys);
    CHECK_HR(S_OK, hr);
    CHECK(cu_opcb_wait(done, 1, CONF_WAIT_MS));
    CHECK(done->type == HcsOperationTypeCreate);
    CHECK_HR(S_OK, done->hr);
    if (sys) HcsCloseComputeSystem(sys);
}

static void close_operation(HCS_EVENT *event, void *arg) {
    (void)arg;
    if (event->Type == HcsEventOperationCallback) HcsCloseOperation(event->Operation);
}

/* Pattern 3, the event callback's operation completion: the client starts the create
 * with a plain operation (no callback), and only after the create call returned does it
 * register the system's event callback with HcsEventOptionEnableOperationCallbacks. It
 * then waits for an HcsEventOperationCallback event, reads the operation's result (S_OK)
 * and closes the operation inside the callback. Finally it shows that, with that option,
 * an operation that has a callback of its own is refused synchronously
 * (HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET). This works only if the create is still
 * pending when the callback is registered, which the sample takes for granted: the one
 * scenario the instant profile fails (README "Latency profiles"). */
SCENARIO(sample_completion_3_event_callback) {
    /* the sample keeps no handle of the create's operation; this one is kept only to
     * release it when the event never comes */
    HCS_OPERATION create = HcsCreateOperation(NULL, NULL);
    REQUIRE(create != NULL);
    HCS_SYSTEM sys = NULL;
    CHECK_HR(S_OK, HcsCreateComputeSystem(u"Test", cu_w("%s", EMPTY_VM), create, NULL, &sys));
    REQUIRE(sys != NULL);
    cu_evq *q = cu_evq_new();
    q->hook = close_operation;
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(sys, HcsEventOptionEnableOperationCallbacks, q,
                                               cu_evq_cb));
    int got = cu_evq_wait(q, HcsEventOperationCallback, 0, CONF_WAIT_MS) >= 0;
    CHECK(got);
    if (got) {
        cu_event e = cu_evq_at(q, 0);
        CHECK(e.type == HcsEventOperationCallback && e.op == create);
        CHECK_HR(S_OK, e.op_hr);
    } else {
        HcsCloseOperation(create); /* lost: nothing else will close it */
    }
    HCS_OPERATION own = HcsCreateOperation(NULL, cu_opcb_fn);
    CHECK_HR(HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET, HcsStartComputeSystem(sys, own, NULL));
    HcsCloseOperation(own);
    HcsCloseComputeSystem(sys);
    CHECK(cu_evq_total(q) == 1); /* the create's event and nothing else */
}

/* ---- the event callback sample --------------------------------------------------------- */

/* The client creates the empty VM (plain operation, waited for), then registers an event
 * callback without options, which expects: SystemExited, CrashInitiated and CrashReport
 * with a JSON document as EventData; never ProcessExited (a system's callback), never
 * OperationCallback (not asked for), never an invalid or unknown type. Here the VM is
 * started, paused and resumed (operations: no event) and crashed, which brings
 * CrashInitiated, CrashReport and SystemExited, in that order. */
SCENARIO(sample_event_callback) {
    HCS_SYSTEM sys = NULL;
    REQUIRE(SUCCEEDED(cu_create(u"Test", EMPTY_VM, &sys)));
    cu_evq *q = cu_watch_system(sys, HcsEventOptionNone);
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, sys, NULL, NULL));
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, sys, NULL, NULL));
    CHECK_HR(S_OK, cu_sys_call(HcsResumeComputeSystem, sys, NULL, NULL));
    CHECK_HR(S_OK, cu_sys_call(HcsCrashComputeSystem, sys, NULL, NULL));
    int exited = cu_evq_wait(q, HcsEventSystemExited, 0, CONF_WAIT_MS);
    CHECK(exited == 2);
    static const uint32_t order[] = {HcsEventSystemCrashInitiated, HcsEventSystemCrashReport,
                                     HcsEventSystemExited};
    for (size_t i = 0; i < cu_evq_total(q); i++) {
        cu_event e = cu_evq_at(q, i);
        CHECK(i < 3 && e.type == order[i]);
        CHECK(cu_evq_json(q, i) != NULL); /* each of these carries a document */
    }
    HcsCloseComputeSystem(sys);
}

/* ---- the host service sample ----------------------------------------------------------- */

static void submit_report(HCS_EVENT *event, void *arg) {
    if (event->Type == HcsEventSystemCrashReport)
        *(HRESULT *)arg = HcsSubmitWerReport(event->EventData);
}

/* The service sample's three parts. (1) It queries the service's Memory property and
 * prints the document (the 1809 schema's service PropertyType). (2) It modifies the
 * ContainerCredentialGuard settings; the published snippet is unfinished (its Settings
 * has no value), so the service refuses it as malformed JSON, with a ResultError as the
 * result, which the sample prints; the completed request (AddInstance, then
 * RemoveInstance) succeeds. (3) It registers an event callback on a system that submits
 * every crash report it gets to WER from inside the callback; the system here is a
 * started VM that is then crashed. */
SCENARIO(sample_host_service) {
    PWSTR doc = NULL;
    CHECK_HR(S_OK, HcsGetServiceProperties(u"{\"PropertyTypes\":[\"Memory\"]}", &doc));
    hj_value *props = cu_doc(doc);
    CHECK(hj_typeof(cu_jget(props, "Properties.0")) == HJ_OBJECT);
    doc = NULL;
    CHECK_HR(HCS_E_INVALID_JSON,
             HcsModifyServiceSettings(
                 u"{\"PropertyType\":\"ContainerCredentialGuard\",\"Settings\":}", &doc));
    CHECK(cu_is_result_error(cu_doc(doc), HCS_E_INVALID_JSON));
    static const char *const ops[] = {"AddInstance", "RemoveInstance"};
    for (size_t i = 0; i < 2; i++) {
        doc = NULL;
        CHECK_HR(S_OK, HcsModifyServiceSettings(
                           cu_w("{\"PropertyType\":\"ContainerCredentialGuard\",\"Settings\":"
                                "{\"Operation\":\"%s\",\"OperationDetails\":{\"Id\":\"sample\","
                                "\"CredentialSpec\":\"{}\",\"Transport\":\"LRPC\"}}}",
                                ops[i]),
                           &doc));
        if (doc) LocalFree(doc);
    }
    HCS_SYSTEM sys = NULL;
    REQUIRE(SUCCEEDED(cu_create_running(u"Sample", EMPTY_VM, &sys)));
    HRESULT submitted = E_FAIL; /* until the callback submits */
    cu_evq *q = cu_evq_new();
    q->hook = submit_report;
    q->hook_arg = &submitted;
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(sys, HcsEventOptionNone, q, cu_evq_cb));
    CHECK_HR(S_OK, cu_sys_call(HcsCrashComputeSystem, sys, NULL, NULL));
    CHECK(cu_evq_wait(q, HcsEventSystemExited, 0, CONF_WAIT_MS) >= 0);
    CHECK(cu_evq_count(q, HcsEventSystemCrashReport) == 1);
    CHECK_HR(S_OK, submitted);
    HcsCloseComputeSystem(sys);
}

/* ---- the virtual machine utilities sample ---------------------------------------------- */

/* The utilities sample creates an empty runtime state file and grants the VM "Sample"
 * access to it. Carried on to what such files are for: an empty guest state file, also
 * granted; a VM "Sample" whose GuestState names both is created and started; both
 * grants are revoked; creating a state file that exists fails (ERROR_FILE_EXISTS). */
SCENARIO(sample_vm_utilities) {
    const char *dir = cu_tmpdir();
    PCWSTR vmrs = cu_w("%s/emptyfile.vmrs", dir), vmgs = cu_w("%s/Sample.vmgs", dir);
    CHECK_HR(S_OK, HcsCreateEmptyRuntimeStateFile(vmrs));
    CHECK_HR(S_OK, HcsGrantVmAccess(u"Sample", vmrs));
    CHECK_HR(S_OK, HcsCreateEmptyGuestStateFile(vmgs));
    CHECK_HR(S_OK, HcsGrantVmAccess(u"Sample", vmgs));
    HCS_SYSTEM sys = NULL;
    const char *cfg = cu_s(
        "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"Sample\",\"VirtualMachine\":"
        "{\"Chipset\":{\"Uefi\":{}},\"ComputeTopology\":{\"Memory\":{\"SizeInMB\":1024},"
        "\"Processor\":{\"Count\":2}},\"GuestState\":{\"GuestStateFilePath\":\"%s/Sample.vmgs\","
        "\"RuntimeStateFilePath\":\"%s/emptyfile.vmrs\"}}}",
        dir, dir);
    CHECK_HR(S_OK, cu_create_running(u"Sample", cfg, &sys));
    CHECK(!strcmp(cu_state(sys), "Running"));
    CHECK_HR(S_OK, HcsRevokeVmAccess(u"Sample", vmrs));
    CHECK_HR(S_OK, HcsRevokeVmAccess(u"Sample", vmgs));
    CHECK_HR(HRESULT_FROM_WIN32(80u), HcsCreateEmptyRuntimeStateFile(vmrs)); /* FILE_EXISTS */
    cu_kill_close(sys);
}
