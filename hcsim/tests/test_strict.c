/* Strict where Windows is strict (issue 14, items 6-9): a VM naming files that do not
 * exist is not constructed, a VM without a guest connection runs no process and cannot
 * be shut down gracefully, a missing program names its command line, and every failure
 * document is a ResultError of the schema (README, "Strict where Windows is strict"). */
#include "checklist_util.h"
#include "test_port.h"

#include <stdio.h>
#include <string.h>

#define VM_WITH(devices_and_more)                                                          \
    "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"test\",\"VirtualMachine\":{" \
    "\"ComputeTopology\":{\"Memory\":{\"SizeInMB\":1024},\"Processor\":{\"Count\":1}}"     \
    "," devices_and_more "}}"
#define GUESTLESS_VM VM_WITH("\"Devices\":{}")

static int message_names(const hj_value *doc, const char *needle) {
    const char *m = cu_jstr(doc, "ErrorMessage");
    return m && strstr(m, needle) != NULL;
}

/* The create of a VM naming path (in the member the format places it) fails with hr and a
 * ResultError naming path, attributed to the construction of the VM. */
static void check_missing(PCWSTR id, const char *cfg, const char *path, HRESULT hr) {
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HCS_SYSTEM sys = NULL;
    CHECK_HR(S_OK, HcsCreateComputeSystem(id, cu_w("%s", cfg), op, NULL, &sys));
    hj_value *doc = NULL;
    CHECK_HR(hr, cu_wait_op(op, &doc));
    CHECK(cu_is_result_error(doc, hr));
    CHECK(message_names(doc, path));
    CHECK(cu_jstr_is(doc, "Attribution.0.OperationFailure.Detail", "Construct"));
    HcsCloseOperation(op);
    if (sys) {
        /* nothing was created: the id is free and the handle answers SYSTEM_NOT_FOUND */
        CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, cu_sys_call(HcsStartComputeSystem, sys, NULL, NULL));
        HcsCloseComputeSystem(sys);
    }
}

TEST(strict_missing_vm_files_fail_the_create) {
    cu_begin();
    const char *dir = cu_tmpdir();
    const char *present = cu_s("%s/strict-present.vhdx", dir);
    FILE *f = fopen(present, "wb");
    REQUIRE(f != NULL);
    fclose(f);
    const char *gone = cu_s("%s/strict-gone.vhdx", dir);
    const char *no_dir = cu_s("%s/strict-no-dir/x.vhdx", dir);
    const HRESULT not_found = HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
    /* a SCSI VHD (Type defaults to VirtualDisk), an ISO, guest and runtime state */
    check_missing(u"strict-scsi",
                  cu_s(VM_WITH("\"Devices\":{\"Scsi\":{\"0\":{\"Attachments\":{\"0\":{\"Path\":"
                               "\"%s\"}}}}}"),
                       gone),
                  gone, not_found);
    check_missing(u"strict-iso",
                  cu_s(VM_WITH("\"Devices\":{\"Scsi\":{\"0\":{\"Attachments\":{\"0\":{\"Type\":"
                               "\"Iso\",\"Path\":\"%s\"}}}}}"),
                       gone),
                  gone, not_found);
    check_missing(u"strict-vmgs",
                  cu_s(VM_WITH("\"GuestState\":{\"GuestStateFilePath\":\"%s\"}"), gone), gone,
                  not_found);
    check_missing(u"strict-vmrs",
                  cu_s(VM_WITH("\"GuestState\":{\"GuestStateFilePath\":\"%s\","
                               "\"RuntimeStateFilePath\":\"%s\"}"),
                       present, gone),
                  gone, not_found);
    /* a missing directory: ERROR_PATH_NOT_FOUND */
    check_missing(u"strict-dir",
                  cu_s(VM_WITH("\"Devices\":{\"Scsi\":{\"0\":{\"Attachments\":{\"0\":{\"Path\":"
                               "\"%s\"}}}}}"),
                       no_dir),
                  no_dir, HRESULT_FROM_WIN32(3u));
    /* negative control: the same VM with files that exist is created and started; a
     * PassThru attachment names a disk, not a file, and is not checked (the VM is
     * granted its files: README "VM access") */
    HCS_SYSTEM ok = NULL;
    CHECK_HR(S_OK, HcsGrantVmAccess(u"strict-ok", cu_w("%s", present)));
    CHECK_HR(S_OK,
             cu_create_running(
                 u"strict-ok",
                 cu_s(VM_WITH("\"Devices\":{\"Scsi\":{\"0\":{\"Attachments\":{\"0\":{\"Path\":"
                              "\"%s\"},\"1\":{\"Type\":\"PassThru\",\"Path\":\"%s\"}}}}},"
                              "\"GuestState\":{\"GuestStateFilePath\":\"%s\","
                              "\"RuntimeStateFilePath\":\"%s\"}"),
                      present, gone, present, present),
                 &ok));
    cu_kill_close(ok);
    remove(present);
    CU_END();
}

TEST(strict_relative_vm_files_fail_the_create) {
    cu_begin();
    /* The file exists in this process's directory: a relative path still names no file,
     * as HCS resolves it in the compute service (README "Strict where Windows is strict"). */
    const char *rel = "strict-relative.vhdx";
    FILE *f = fopen(rel, "wb");
    REQUIRE(f != NULL);
    fclose(f);
    const HRESULT not_found = HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
    const char *configs[] = {
        VM_WITH("\"Devices\":{\"Scsi\":{\"0\":{\"Attachments\":{\"0\":{\"Path\":\"%s\"}}}}}"),
        VM_WITH("\"GuestState\":{\"GuestStateFilePath\":\"%s\"}"),
        VM_WITH("\"GuestState\":{\"RuntimeStateFilePath\":\"%s\"}"),
        VM_WITH("\"RestoreState\":{\"SaveStateFilePath\":\"%s\"}"),
    };
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++) {
        HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
        HCS_SYSTEM sys = NULL;
        CHECK_HR(S_OK,
                 HcsCreateComputeSystem(u"strict-relative", cu_w(configs[i], rel), op, NULL, &sys));
        hj_value *doc = NULL;
        CHECK_HR(not_found, cu_wait_op(op, &doc));
        CHECK(cu_is_result_error(doc, not_found));
        CHECK(message_names(doc, cu_s("'%s'", rel)));
        CHECK(message_names(doc, "The path is relative"));
        CHECK(cu_jstr_is(doc, "Attribution.0.OperationFailure.Detail", "Construct"));
        HcsCloseOperation(op);
        if (sys) HcsCloseComputeSystem(sys);
    }
    /* negative control: a missing absolute path says nothing of relative paths */
    const char *gone = cu_s("%s/strict-absolute-gone.vhdx", cu_tmpdir());
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HCS_SYSTEM sys = NULL;
    CHECK_HR(S_OK,
             HcsCreateComputeSystem(u"strict-relative", cu_w(configs[0], gone), op, NULL, &sys));
    hj_value *doc = NULL;
    CHECK_HR(not_found, cu_wait_op(op, &doc));
    CHECK(message_names(doc, gone));
    CHECK(!message_names(doc, "The path is relative"));
    HcsCloseOperation(op);
    if (sys) HcsCloseComputeSystem(sys);
    remove(rel);
    CU_END();
}

TEST(strict_hot_adding_a_missing_disk_fails) {
    HCS_SYSTEM s = cu_begin_system(u"strict-hot-add", VM_WITH("\"GuestConnection\":{}"), 1);
    REQUIRE(s != NULL);
    const char *dir = cu_tmpdir();
    const char *present = cu_s("%s/strict-hot.vhdx", dir);
    FILE *f = fopen(present, "wb");
    REQUIRE(f != NULL);
    fclose(f);
    const char *gone = cu_s("%s/strict-hot-gone.vhdx", dir);
    const char *add = "{\"ResourcePath\":\"VirtualMachine/Devices/Scsi/0/Attachments/%d\","
                      "\"RequestType\":\"Add\",\"Settings\":{\"Type\":\"VirtualDisk\","
                      "\"Path\":\"%s\"}}";
    hj_value *doc = NULL;
    const HRESULT not_found = HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
    CHECK_HR(not_found, cu_modify(s, cu_w(add, 1, gone), &doc));
    CHECK(cu_is_result_error(doc, not_found));
    CHECK(message_names(doc, gone));
    CHECK(cu_jstr_is(doc, "Attribution.0.OperationFailure.Detail", "Modify"));
    /* negative control: an existing disk granted to the VM is attached */
    CHECK_HR(S_OK, HcsGrantVmAccess(u"strict-hot-add", cu_w("%s", present)));
    CHECK_HR(S_OK, cu_modify(s, cu_w(add, 2, present), NULL));
    cu_kill_close(s);
    remove(present);
    CU_END();
}

TEST(strict_restore_names_the_missing_save_state) {
    cu_begin();
    const char *gone = cu_s("%s/strict-gone.vmrs", cu_tmpdir());
    HCS_SYSTEM s = NULL;
    REQUIRE(SUCCEEDED(
        cu_create(u"strict-restore",
                  cu_s(VM_WITH("\"RestoreState\":{\"SaveStateFilePath\":\"%s\"}"), gone), &s)));
    hj_value *doc = NULL;
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND),
             cu_sys_call(HcsStartComputeSystem, s, NULL, &doc));
    CHECK(message_names(doc, gone));
    CHECK(cu_jstr_is(doc, "Attribution.0.OperationFailure.Detail", "Start"));
    cu_kill_close(s);
    CU_END();
}

TEST(strict_guestless_vm_runs_no_process_and_does_not_shut_down) {
    HCS_SYSTEM s = cu_begin_system(u"strict-guestless", GUESTLESS_VM, 1);
    REQUIRE(s != NULL);
    const HRESULT not_supported = HRESULT_FROM_WIN32(50u);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HCS_PROCESS p = NULL;
    CHECK_HR(S_OK, HcsCreateProcess(s, u"{\"CommandArgs\":[" TP_ARGS_TRUE "]}", op, NULL, &p));
    hj_value *doc = NULL;
    CHECK_HR(not_supported, cu_wait_op(op, &doc));
    CHECK(cu_is_result_error(doc, not_supported));
    HcsCloseOperation(op);
    if (p) HcsCloseProcess(p);
    doc = NULL;
    CHECK_HR(not_supported, cu_sys_call(HcsShutDownComputeSystem, s, NULL, &doc));
    CHECK(cu_is_result_error(doc, not_supported));
    CHECK(cu_jstr_is(doc, "Attribution.0.OperationFailure.Detail", "Shutdown"));
    CHECK(!strcmp(cu_state(s), "Running"));
    /* GuestConnection exists only with a guest; Memory only for VMs */
    hj_value *props = cu_props(s, u"{\"PropertyTypes\":[\"GuestConnection\",\"Memory\"]}");
    CHECK(props && !cu_has_key(props, "GuestConnectionInfo") && cu_has_key(props, "Memory"));
    /* the guest itself may still power off, and Terminate needs no guest */
    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, s, NULL, NULL));
    HcsCloseComputeSystem(s);
    /* negative control: with a guest connection both work */
    HCS_SYSTEM g = NULL;
    REQUIRE(SUCCEEDED(cu_create_running(u"strict-guest", VM_WITH("\"GuestConnection\":{}"), &g)));
    HCS_PROCESS gp = NULL;
    HCS_PROCESS_INFORMATION pi;
    CHECK_HR(S_OK, cu_spawn(g, "{\"CommandArgs\":[" TP_ARGS_TRUE "]}", &gp, &pi));
    if (gp) {
        CHECK(cu_wait_pexit(gp, 10000) != NULL);
        cu_close_pi(&pi);
        HcsCloseProcess(gp);
    }
    props = cu_props(g, u"{\"PropertyTypes\":[\"GuestConnection\"]}");
    CHECK(props && cu_has_key(props, "GuestConnectionInfo"));
    CHECK_HR(S_OK, cu_sys_call(HcsShutDownComputeSystem, g, NULL, NULL));
    HcsCloseComputeSystem(g);
    CU_END();
}

TEST(strict_container_has_no_vm_properties) {
    cu_begin();
    HCS_SYSTEM c = NULL;
    REQUIRE(SUCCEEDED(cu_create_running(u"strict-ct", CU_CFG_CONTAINER, &c)));
    hj_value *props = cu_props(c, u"{\"PropertyTypes\":[\"GuestConnection\",\"Memory\"]}");
    CHECK(props && !cu_has_key(props, "GuestConnectionInfo") && !cu_has_key(props, "Memory"));
    CHECK(props && cu_jstr_is(props, "State", "Running"));
    cu_kill_close(c);
    CU_END();
}

TEST(strict_missing_program_names_the_command_line) {
    HCS_SYSTEM s = cu_begin_system(u"strict-noprog", CU_CFG_LINUX_VM, 1);
    REQUIRE(s != NULL);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HCS_PROCESS p = NULL;
    CHECK_HR(S_OK, HcsCreateProcess(s, u"{\"CommandArgs\":[\"hcsim-no-such-program\",\"--flag\"]}",
                                    op, NULL, &p));
    hj_value *doc = NULL;
    const HRESULT not_found = HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
    CHECK_HR(not_found, cu_wait_op(op, &doc));
    CHECK(cu_is_result_error(doc, not_found));
    CHECK(message_names(doc, "The process could not be started"));
    CHECK(message_names(doc, "hcsim-no-such-program --flag"));
    /* ErrorEvents as the schema defines them: an array of ErrorEvent objects */
    CHECK(cu_jstr(doc, "ErrorEvents.0.Message") != NULL);
    CHECK(cu_jstr_is(doc, "ErrorEvents.0.Source", "hcsim"));
    HcsCloseOperation(op);
    if (p) HcsCloseProcess(p);
    cu_kill_close(s);
    CU_END();
}
