/* The operation calls of the newest SDK: HcsCreateOperationWithNotifications (completion
 * and progress events), HcsGetOperationProperties and HcsAddResourceToOperation, with the
 * control API (hidden exports, faults) and the leak counters. */
#include "test_newer_util.h"

#ifndef _WIN32
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#define NEW_VM "{\"Owner\":\"newer\",\"VirtualMachine\":{\"GuestConnection\":{}}}"

/* Creates a system with op (not waited for); returns the call's HRESULT. */
static HRESULT create_with(const char *id, HCS_OPERATION op, HCS_SYSTEM *s) {
    char16_t *wid = tc_w(id), *cfg = tc_w(NEW_VM);
    HRESULT hr = HcsCreateComputeSystem(wid, cfg, op, NULL, s);
    free(wid);
    free(cfg);
    return hr;
}

static void no_completion(HCS_OPERATION op, void *ctx) {
    (void)op;
    (void)ctx;
}

TEST(newer_notifications_reject_undefined_options) {
    HcsimReset();
    tn_rec r;
    tn_init(&r);
    CHECK(!HcsCreateOperationWithNotifications((HCS_OPERATION_OPTIONS)2, &r, tn_cb));
    CHECK(!HcsCreateOperationWithNotifications((HCS_OPERATION_OPTIONS)0x80000000u, &r, tn_cb));
    CHECK(!HcsCreateOperationWithNotifications(HcsOperationOptionProgressUpdate, &r, NULL));
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    CHECK(c.Operations == 0);
    HCS_OPERATION op = HcsCreateOperationWithNotifications(HcsOperationOptionNone, &r, tn_cb);
    REQUIRE(op);
    CHECK(HcsGetOperationContext(op) == &r);
    CHECK(HcsGetOperationType(op) == HcsOperationTypeNone);
    /* its callback is set: a completion callback cannot be added */
    CHECK_HR(HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET,
             HcsSetOperationCallback(op, &r, no_completion));
    HcsCloseOperation(op);
    CHECK(tc_counts_zero());
    tn_free(&r);
}

TEST(newer_notifications_completion_event) {
    HcsimReset();
    tn_rec r;
    tn_init(&r);
    HCS_OPERATION op = HcsCreateOperationWithNotifications(HcsOperationOptionNone, &r, tn_cb);
    REQUIRE(op);
    HCS_SYSTEM s = NULL;
    CHECK_HR(S_OK, create_with("newer-complete", op, &s));
    CHECK(tn_wait(&r, HcsEventOperationCallback, 1));
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, 10000, NULL));
    tc_sleep_ms(20);
    CHECK(tn_count(&r, HcsEventOperationCallback) == 1);
    CHECK(tn_count(&r, HcsEventGroupOperationInfo) == 0); /* no progress without the option */
    CHECK(r.ev[0].op == op && !r.ev[0].had_data);
    CHECK(HcsGetOperationType(op) == HcsOperationTypeCreate);
    /* reused for the start: one more completion event */
    CHECK_HR(S_OK, HcsStartComputeSystem(s, op, NULL));
    CHECK(tn_wait(&r, HcsEventOperationCallback, 2));
    CHECK_HR(S_OK, HcsGetOperationResult(op, NULL));
    HcsCloseOperation(op);
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
    HcsCloseComputeSystem(s);
    CHECK(tc_counts_zero());
    tn_free(&r);
}

TEST(newer_notifications_progress_then_completion) {
    HcsimReset();
    tn_rec r;
    tn_init(&r);
    CHECK_HR(S_OK, HcsimSetDelay("HcsCreateComputeSystem", 120, 0));
    HCS_OPERATION op =
        HcsCreateOperationWithNotifications(HcsOperationOptionProgressUpdate, &r, tn_cb);
    REQUIRE(op);
    HCS_SYSTEM s = NULL;
    CHECK_HR(S_OK, create_with("newer-progress", op, &s));
    CHECK(tn_wait(&r, HcsEventOperationCallback, 1));
    tc_sleep_ms(20);
    /* three progress events (25, 50, 75 %), in order, then the completion, last */
    CHECK(tn_count(&r, HcsEventGroupOperationInfo) == 3);
    REQUIRE(r.n == 4);
    for (int i = 0; i < 3; i++) {
        CHECK(r.ev[i].type == HcsEventGroupOperationInfo && r.ev[i].op == op);
        CHECK(!strcmp(tn_str(r.ev[i].data, "Operation"), "Construct"));
        uint64_t pct = 0;
        CHECK(hj_uint64(hj_get(hj_get(r.ev[i].data, "Progress"), "PercentComplete"), &pct));
        CHECK(pct == (uint64_t)(25 * (i + 1)));
    }
    CHECK(r.ev[3].type == HcsEventOperationCallback);
    HcsCloseOperation(op);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
    tn_free(&r);
}

TEST(newer_notifications_close_from_callback_and_conflicts) {
    HcsimReset();
    tn_rec r;
    tn_init(&r);
    r.close_op_in_cb = 1;
    HCS_OPERATION op = HcsCreateOperationWithNotifications(HcsOperationOptionNone, &r, tn_cb);
    HCS_SYSTEM s = NULL;
    CHECK_HR(S_OK, create_with("newer-close-in-cb", op, &s));
    CHECK(tn_wait(&r, HcsEventOperationCallback, 1));
    /* a system callback asking for operation events and an operation with its own events */
    CHECK_HR(S_OK,
             HcsSetComputeSystemCallback(s, HcsEventOptionEnableOperationCallbacks, &r, tn_cb));
    HCS_OPERATION op2 = HcsCreateOperationWithNotifications(HcsOperationOptionNone, &r, tn_cb);
    CHECK_HR(HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET, HcsStartComputeSystem(s, op2, NULL));
    HcsCloseOperation(op2);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
    tn_free(&r);
}

TEST(newer_operation_properties) {
    HcsimReset();
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    PWSTR doc = NULL;
    CHECK_HR(E_POINTER, HcsGetOperationProperties(op, NULL, NULL));
    CHECK_HR(E_HANDLE, HcsGetOperationProperties((HCS_OPERATION)(uintptr_t)0x5151, NULL, &doc));
    CHECK(!doc);
    CHECK_HR(HCS_E_INVALID_JSON, HcsGetOperationProperties(op, u"{", &doc));
    CHECK_HR(HCS_E_INVALID_JSON, HcsGetOperationProperties(op, u"[]", &doc));
    /* not started: the type only */
    CHECK_HR(S_OK, HcsGetOperationProperties(op, u"", &doc));
    REQUIRE(doc);
    hj_value *d = hj_parse_utf16(doc);
    LocalFree(doc);
    CHECK(!strcmp(tn_str(d, "Operation"), "None"));
    CHECK(!hj_get(d, "StartTimestamp") && !hj_get(d, "EndTimestamp"));
    hj_free(d);
    /* completed: OperationInfo with both times */
    HCS_SYSTEM s = NULL;
    CHECK_HR(S_OK, create_with("newer-props", op, &s));
    CHECK_HR(S_OK, tc_wait(op, NULL));
    CHECK_HR(S_OK, HcsGetOperationProperties(op, u"{}", &doc));
    d = hj_parse_utf16(doc);
    LocalFree(doc);
    CHECK(!strcmp(tn_str(d, "Operation"), "Construct"));
    CHECK(strlen(tn_str(d, "StartTimestamp")) >= 20 && strlen(tn_str(d, "EndTimestamp")) >= 20);
    CHECK(!hj_get(d, "FailureInfo"));
    hj_free(d);
    /* failed: FailureInfo.Result is the HRESULT */
    CHECK_HR(S_OK, HcsPauseComputeSystem(s, op, NULL)); /* not running: fails */
    CHECK_HR(HCS_E_INVALID_STATE, tc_wait(op, NULL));
    CHECK_HR(S_OK, HcsGetOperationProperties(op, NULL, &doc));
    d = hj_parse_utf16(doc);
    LocalFree(doc);
    CHECK(!strcmp(tn_str(d, "Operation"), "Pause"));
    int64_t result = 0;
    CHECK(hj_int64(hj_get(hj_get(d, "FailureInfo"), "Result"), &result));
    CHECK(result == (int32_t)HCS_E_INVALID_STATE);
    hj_free(d);
    HcsCloseOperation(op);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(newer_control_api_covers_the_new_exports) {
    HcsimReset();
    static const char *const names[] = {"HcsCreateOperationWithNotifications",
                                        "HcsAddResourceToOperation",
                                        "HcsGetOperationProperties",
                                        "HcsInitializeLiveMigrationOnSource",
                                        "HcsStartLiveMigrationOnSource",
                                        "HcsStartLiveMigrationTransfer",
                                        "HcsFinalizeLiveMigration",
                                        "HcsCancelLiveMigration"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        CHECK(HcsimIsExportAvailable(names[i]));
        CHECK_HR(S_OK, HcsimSetExportHidden(names[i], TRUE));
        CHECK(!HcsimIsExportAvailable(names[i]));
    }
    tn_rec r;
    tn_init(&r);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    PWSTR doc = NULL;
    const HRESULT gone = HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND);
    CHECK(!HcsCreateOperationWithNotifications(HcsOperationOptionNone, &r, tn_cb));
    CHECK_HR(gone, HcsGetOperationProperties(op, NULL, &doc));
    CHECK_HR(gone, HcsAddResourceToOperation(op, HcsResourceTypeFile, u"x", (HANDLE)(intptr_t)1));
    CHECK_HR(gone, HcsStartLiveMigrationTransfer(NULL, op, NULL));
    CHECK_HR(gone, HcsCancelLiveMigration(NULL, op, NULL));
    CHECK_HR(S_OK, HcsimSetExportHidden("*", FALSE));
    /* faults: synchronous ones; the creation function returns no HRESULT */
    CHECK_HR(E_INVALIDARG,
             HcsimFailNext("HcsCreateOperationWithNotifications", 1, E_FAIL, HcsimFaultSync));
    CHECK_HR(S_OK, HcsimFailNext("HcsGetOperationProperties", 1, E_ACCESSDENIED, HcsimFaultSync));
    CHECK_HR(E_ACCESSDENIED, HcsGetOperationProperties(op, NULL, &doc));
    CHECK_HR(S_OK, HcsGetOperationProperties(op, NULL, &doc));
    LocalFree(doc);
    CHECK_HR(S_OK, HcsimFailNext("HcsFinalizeLiveMigration", 1, E_FAIL, HcsimFaultSync));
    CHECK_HR(E_FAIL, HcsFinalizeLiveMigration(NULL, op, NULL));
    HcsCloseOperation(op);
    HcsimReset();
    CHECK(tc_counts_zero());
    tn_free(&r);
}

#ifndef _WIN32
/* Open descriptors of this process (fds 0..1023). */
static int open_fds(void) {
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) n += fcntl(fd, F_GETFD) != -1;
    return n;
}

TEST(newer_add_resource_to_operation) {
    HcsimReset();
    int sv[2], pipefd[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    REQUIRE(pipe(pipefd) == 0);
    int before = open_fds();
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HANDLE sock = (HANDLE)(intptr_t)sv[0];
    const char16_t *uri = u"hcs:/VirtualMachine/LiveMigrationSocket";
    CHECK_HR(E_HANDLE, HcsAddResourceToOperation(NULL, HcsResourceTypeSocket, uri, sock));
    CHECK_HR(E_INVALIDARG, HcsAddResourceToOperation(op, HcsResourceTypeNone, uri, sock));
    CHECK_HR(E_INVALIDARG, HcsAddResourceToOperation(op, (HCS_RESOURCE_TYPE)5, uri, sock));
    CHECK_HR(E_INVALIDARG, HcsAddResourceToOperation(op, HcsResourceTypeSocket, NULL, sock));
    CHECK_HR(E_INVALIDARG, HcsAddResourceToOperation(op, HcsResourceTypeSocket, u"", sock));
    CHECK_HR(E_INVALIDARG, HcsAddResourceToOperation(op, HcsResourceTypeSocket, uri, NULL));
    CHECK_HR(E_INVALIDARG,
             HcsAddResourceToOperation(op, HcsResourceTypeSocket, uri, INVALID_HANDLE_VALUE));
    /* a socket resource must be a socket */
    CHECK_HR(E_INVALIDARG, HcsAddResourceToOperation(op, HcsResourceTypeSocket, uri,
                                                     (HANDLE)(intptr_t)pipefd[0]));
    CHECK_HR(S_OK, HcsAddResourceToOperation(op, HcsResourceTypeSocket, uri, sock));
    CHECK_HR(S_OK, HcsAddResourceToOperation(op, HcsResourceTypeFile, u"file:///x",
                                             (HANDLE)(intptr_t)pipefd[1]));
    CHECK(open_fds() == before + 1); /* hcsim's copy of the socket */
    /* a pending operation takes no resources */
    CHECK_HR(S_OK, HcsimSetDelay("HcsEnumerateComputeSystems", 200, 0));
    CHECK_HR(S_OK, HcsEnumerateComputeSystems(NULL, op));
    CHECK_HR(HCS_E_OPERATION_ALREADY_STARTED,
             HcsAddResourceToOperation(op, HcsResourceTypeSocket, uri, sock));
    CHECK_HR(S_OK, tc_wait(op, NULL));
    HcsCloseOperation(op);
    CHECK(open_fds() == before); /* released with the operation */
    close(sv[0]);
    close(sv[1]);
    close(pipefd[0]);
    close(pipefd[1]);
    HcsimReset();
    CHECK(tc_counts_zero());
}
#endif
