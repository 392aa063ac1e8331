/* The access list of HcsGrantVmAccess & co. (README, "VM access"): a VM's start fails with
 * E_ACCESSDENIED, naming the file, when a disk, ISO, guest state or runtime state file of
 * its configuration, or the save state it restores from, was granted neither to its id
 * nor to the group; grants follow the file, not its name; HcsimReset clears them. */
#include "checklist_util.h"
#include "test_port.h"

#include <stdio.h>
#include <string.h>

#define ACCESS_VM(more)                                                                    \
    "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"test\",\"VirtualMachine\":{" \
    "\"ComputeTopology\":{\"Memory\":{\"SizeInMB\":1024},\"Processor\":{\"Count\":1}}"     \
    "," more "}}"
#define DISK_VM(type)                                                                  \
    ACCESS_VM("\"Devices\":{\"Scsi\":{\"0\":{\"Attachments\":{\"0\":{\"Type\":\"" type \
              "\",\"Path\":\"%s\"}}}}}")

static const char *touch(const char *dir, const char *name) {
    const char *path = cu_s("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) fclose(f);
    return path;
}

/* The start of the created system sys fails with E_ACCESSDENIED and a ResultError that
 * names path, attributed to Start; the system stays Created (a later start may work). */
static void check_denied(HCS_SYSTEM sys, const char *path) {
    hj_value *doc = NULL;
    CHECK_HR(E_ACCESSDENIED, cu_sys_call(HcsStartComputeSystem, sys, NULL, &doc));
    CHECK(cu_is_result_error(doc, E_ACCESSDENIED));
    const char *msg = cu_jstr(doc, "ErrorMessage");
    CHECK(msg && strstr(msg, path) != NULL);
    CHECK(cu_jstr_is(doc, "Attribution.0.OperationFailure.Detail", "Start"));
    CHECK(!strcmp(cu_state(sys), "Created"));
}

TEST(access_arguments_and_missing_files) {
    cu_begin();
    const char *dir = cu_tmpdir();
    PCWSTR file = cu_w("%s", touch(dir, "args.vhdx")), gone = cu_w("%s/gone.vhdx", dir);
    CHECK_HR(E_INVALIDARG, HcsGrantVmAccess(NULL, file));
    CHECK_HR(E_INVALIDARG, HcsGrantVmAccess(u"", file));
    CHECK_HR(E_INVALIDARG, HcsGrantVmAccess(u"vm", NULL));
    CHECK_HR(E_INVALIDARG, HcsRevokeVmAccess(u"vm", u""));
    CHECK_HR(E_INVALIDARG, HcsGrantVmGroupAccess(NULL));
    CHECK_HR(E_INVALIDARG, HcsRevokeVmGroupAccess(u""));
    const HRESULT not_found = HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND);
    CHECK_HR(not_found, HcsGrantVmAccess(u"vm", gone));
    CHECK_HR(not_found, HcsRevokeVmAccess(u"vm", gone));
    CHECK_HR(not_found, HcsGrantVmGroupAccess(gone));
    CHECK_HR(not_found, HcsRevokeVmGroupAccess(gone));
    /* revoking what was never granted succeeds; granting twice too */
    CHECK_HR(S_OK, HcsRevokeVmAccess(u"vm", file));
    CHECK_HR(S_OK, HcsRevokeVmGroupAccess(file));
    CHECK_HR(S_OK, HcsGrantVmAccess(u"vm", file));
    CHECK_HR(S_OK, HcsGrantVmAccess(u"vm", file));
    CHECK_HR(S_OK, HcsRevokeVmAccess(u"vm", file));
    CHECK_HR(S_OK, HcsRevokeVmAccess(u"vm", file));
    CU_END();
}

TEST(access_start_denied_names_each_kind_of_file) {
    cu_begin();
    const char *dir = cu_tmpdir();
    const char *disk = touch(dir, "k.vhdx"), *iso = touch(dir, "k.iso"),
               *vmgs = touch(dir, "k.vmgs"), *vmrs = touch(dir, "k.vmrs");
    struct {
        PCWSTR id;
        const char *cfg, *path;
    } cases[] = {
        {u"acc-disk", cu_s(DISK_VM("VirtualDisk"), disk), disk},
        {u"acc-iso", cu_s(DISK_VM("Iso"), iso), iso},
        {u"acc-vmgs", cu_s(ACCESS_VM("\"GuestState\":{\"GuestStateFilePath\":\"%s\"}"), vmgs),
         vmgs},
        {u"acc-vmrs", cu_s(ACCESS_VM("\"GuestState\":{\"RuntimeStateFilePath\":\"%s\"}"), vmrs),
         vmrs},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        HCS_SYSTEM s = NULL;
        REQUIRE(SUCCEEDED(cu_create(cases[i].id, cases[i].cfg, &s)));
        check_denied(s, cases[i].path);
        /* granted to another VM: still denied; to this one: started */
        CHECK_HR(S_OK, HcsGrantVmAccess(u"someone-else", cu_w("%s", cases[i].path)));
        check_denied(s, cases[i].path);
        CHECK_HR(S_OK, HcsGrantVmAccess(cases[i].id, cu_w("%s", cases[i].path)));
        CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, s, NULL, NULL));
        CHECK(!strcmp(cu_state(s), "Running"));
        cu_kill_close(s);
    }
    /* a PassThru attachment names a host disk, not a file: not checked */
    HCS_SYSTEM pt = NULL;
    CHECK_HR(S_OK, cu_create_running(u"acc-passthru", cu_s(DISK_VM("PassThru"), disk), &pt));
    cu_kill_close(pt);
    CU_END();
}

TEST(access_the_first_file_not_granted_is_named) {
    cu_begin();
    const char *dir = cu_tmpdir();
    const char *disk = touch(dir, "two.vhdx"), *vmgs = touch(dir, "two.vmgs");
    const char *cfg = cu_s(ACCESS_VM("\"Devices\":{\"Scsi\":{\"0\":{\"Attachments\":{\"0\":{"
                                     "\"Path\":\"%s\"}}}}},\"GuestState\":{"
                                     "\"GuestStateFilePath\":\"%s\"}"),
                           disk, vmgs);
    HCS_SYSTEM s = NULL;
    REQUIRE(SUCCEEDED(cu_create(u"acc-two", cfg, &s)));
    check_denied(s, disk);
    CHECK_HR(S_OK, HcsGrantVmAccess(u"acc-two", cu_w("%s", disk)));
    check_denied(s, vmgs);
    CHECK_HR(S_OK, HcsGrantVmGroupAccess(cu_w("%s", vmgs)));
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, s, NULL, NULL));
    cu_kill_close(s);
    CU_END();
}

TEST(access_a_disk_hot_added_to_a_running_vm_needs_a_grant) {
    HCS_SYSTEM s = cu_begin_system(u"acc-hot", ACCESS_VM("\"Devices\":{}"), 1);
    REQUIRE(s != NULL);
    const char *disk = touch(cu_tmpdir(), "hot.vhdx");
    const char *add = "{\"ResourcePath\":\"VirtualMachine/Devices/Scsi/0/Attachments/1\","
                      "\"RequestType\":\"Add\",\"Settings\":{\"Type\":\"VirtualDisk\","
                      "\"Path\":\"%s\"}}";
    hj_value *doc = NULL;
    CHECK_HR(E_ACCESSDENIED, cu_modify(s, cu_w(add, disk), &doc));
    CHECK(cu_is_result_error(doc, E_ACCESSDENIED));
    const char *msg = cu_jstr(doc, "ErrorMessage");
    CHECK(msg && strstr(msg, disk) != NULL);
    CHECK(cu_jstr_is(doc, "Attribution.0.OperationFailure.Detail", "Modify"));
    /* granted to the VM (or the group), the same request attaches the disk */
    CHECK_HR(S_OK, HcsGrantVmAccess(u"acc-hot", cu_w("%s", disk)));
    CHECK_HR(S_OK, cu_modify(s, cu_w(add, disk), NULL));
    cu_kill_close(s);
    CU_END();
}

TEST(access_group_grant_and_revokes) {
    cu_begin();
    const char *disk = touch(cu_tmpdir(), "group.vhdx");
    PCWSTR wdisk = cu_w("%s", disk);
    const char *cfg = cu_s(DISK_VM("VirtualDisk"), disk);
    CHECK_HR(S_OK, HcsGrantVmGroupAccess(wdisk));
    HCS_SYSTEM a = NULL, b = NULL, c = NULL;
    CHECK_HR(S_OK, cu_create_running(u"acc-group-a", cfg, &a));
    CHECK_HR(S_OK, cu_create_running(u"acc-group-b", cfg, &b));
    /* revoking the group grant leaves running VMs alone; the next start is denied */
    CHECK_HR(S_OK, HcsRevokeVmGroupAccess(wdisk));
    CHECK(!strcmp(cu_state(a), "Running"));
    REQUIRE(SUCCEEDED(cu_create(u"acc-group-c", cfg, &c)));
    check_denied(c, disk);
    /* a per-VM grant is separate from the group's: revoking one keeps the other */
    CHECK_HR(S_OK, HcsGrantVmAccess(u"acc-group-c", wdisk));
    CHECK_HR(S_OK, HcsGrantVmGroupAccess(wdisk));
    CHECK_HR(S_OK, HcsRevokeVmAccess(u"acc-group-c", wdisk));
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, c, NULL, NULL));
    cu_kill_close(a);
    cu_kill_close(b);
    cu_kill_close(c);
    CU_END();
}

TEST(access_grants_follow_the_file_not_its_name) {
    cu_begin();
    const char *dir = cu_tmpdir(), *disk = touch(dir, "follow.vhdx");
    const char *moved = cu_s("%s/moved.vhdx", dir);
    PCWSTR ids[] = {u"acc-follow-1", u"acc-follow-2", u"acc-follow-3"};
    for (size_t i = 0; i < 3; i++) CHECK_HR(S_OK, HcsGrantVmAccess(ids[i], cu_w("%s", disk)));
    /* renamed: still granted under its new name */
    REQUIRE(rename(disk, moved) == 0);
    HCS_SYSTEM s = NULL;
    CHECK_HR(S_OK, cu_create_running(ids[0], cu_s(DISK_VM("VirtualDisk"), moved), &s));
    cu_kill_close(s);
    /* and under the old one again */
    REQUIRE(rename(moved, disk) == 0);
    CHECK_HR(S_OK, cu_create_running(ids[1], cu_s(DISK_VM("VirtualDisk"), disk), &s));
    cu_kill_close(s);
    /* deleted and created again under the same name: a new file, granted to nobody */
    REQUIRE(remove(disk) == 0);
    touch(dir, "follow.vhdx");
    REQUIRE(SUCCEEDED(cu_create(ids[2], cu_s(DISK_VM("VirtualDisk"), disk), &s)));
    check_denied(s, disk);
    cu_kill_close(s);
    CU_END();
}

TEST(access_restore_needs_the_save_file_granted) {
    cu_begin();
    const char *dir = cu_tmpdir(), *path = cu_s("%s/saved.vmrs", dir);
    HCS_SYSTEM a = NULL;
    REQUIRE(SUCCEEDED(cu_create_running(u"acc-saved", CU_CFG_VM, &a)));
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, a, NULL, NULL));
    CHECK_HR(S_OK, cu_sys_call(HcsSaveComputeSystem, a,
                               cu_w("{\"SaveType\":\"ToFile\",\"SaveStateFilePath\":\"%s\"}", path),
                               NULL));
    cu_kill_close(a);
    const char *cfg = cu_s(ACCESS_VM("\"RestoreState\":{\"SaveStateFilePath\":\"%s\"}"), path);
    HCS_SYSTEM b = NULL;
    /* the create succeeds (the file is read at start), the start is denied */
    REQUIRE(SUCCEEDED(cu_create(u"acc-restored", cfg, &b)));
    check_denied(b, path);
    /* granted to the saved VM's id is not enough: the restoring VM is a new id */
    CHECK_HR(S_OK, HcsGrantVmAccess(u"acc-saved", cu_w("%s", path)));
    check_denied(b, path);
    CHECK_HR(S_OK, HcsGrantVmAccess(u"acc-restored", cu_w("%s", path)));
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, b, NULL, NULL));
    CHECK(!strcmp(cu_state(b), "Running"));
    cu_kill_close(b);
    CU_END();
}

TEST(access_reset_clears_the_list) {
    cu_begin();
    const char *disk = touch(cu_tmpdir(), "reset.vhdx");
    CHECK_HR(S_OK, HcsGrantVmAccess(u"acc-reset", cu_w("%s", disk)));
    CHECK_HR(S_OK, HcsGrantVmGroupAccess(cu_w("%s", disk)));
    CHECK_HR(S_OK, HcsimReset());
    HCS_SYSTEM s = NULL;
    REQUIRE(SUCCEEDED(cu_create(u"acc-reset", cu_s(DISK_VM("VirtualDisk"), disk), &s)));
    check_denied(s, disk);
    cu_kill_close(s);
    CU_END();
}
