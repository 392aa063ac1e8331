/* Hyper-V sockets (README "Hyper-V sockets"): the paths HcsimHvSocketPath names, the
 * system's directory and its lifetime, HCSIM_HVSOCKET_DIR in its processes, and the rule of
 * the HvSocket configuration. The path tests use POSIX paths and /bin/sh: Windows has its own. */
#include "checklist_util.h"
#include "test_port.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SVC_A "0000abcd-facb-11e6-bd58-64006a7986d3"
#define SVC_B "11111111-2222-3333-4444-555555555555"
#define SVC_C "{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}" /* braces and capitals: the same id */
#define SVC_D "22222222-2222-3333-4444-555555555555"

/* A VM whose HvSocket configuration disables SVC_A, lets the host connect to SVC_B's guest
 * listener but not listen for it, allows SVC_C (an explicit allow ACE) and denies every
 * other bind by default. */
#define CFG_VM_HVSOCKET                                                                        \
    "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"test\",\"VirtualMachine\":"      \
    "{\"ComputeTopology\":{\"Memory\":{\"SizeInMB\":1024},\"Processor\":{\"Count\":1}},"       \
    "\"Devices\":{\"HvSocket\":{\"HvSocketConfig\":{"                                          \
    "\"DefaultBindSecurityDescriptor\":\"D:P(D;;GA;;;WD)\","                                   \
    "\"ServiceTable\":{"                                                                       \
    "\"" SVC_A "\":{\"Disabled\":true},"                                                       \
    "\"" SVC_B "\":{\"ConnectSecurityDescriptor\":\"D:P(A;;GA;;;SY)(A;;GA;;;BA)\","            \
    "\"BindSecurityDescriptor\":\"D:P\"},"                                                     \
    "\"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\":{\"BindSecurityDescriptor\":\"D:(A;;GA;;;BA)\"}" \
    "}}}},\"GuestConnection\":{}}}"

/* HcsimHvSocketPath as UTF-8 (arena), or NULL with *hr set. */
static const char *hv_path(const char *vm, const char *svc, uint32_t endpoint, HRESULT *hr) {
    PWSTR p = NULL;
    *hr = HcsimHvSocketPath(vm ? cu_w("%s", vm) : NULL, svc ? cu_w("%s", svc) : NULL, endpoint, &p);
    if (!p) return NULL;
    char *u = hj_utf16_to_utf8(p, NULL);
    LocalFree(p);
    const char *out = u ? cu_s("%s", u) : NULL;
    free(u);
    return out;
}

static const char *runtime_id(HCS_SYSTEM s) {
    hj_value *props = cu_props(s, NULL);
    const char *rid = props ? cu_jstr(props, "RuntimeId") : NULL;
    return rid ? cu_s("%s", rid) : NULL;
}

/* cu_begin_system, and the system's RuntimeId in *rid (NULL if either failed). */
static HCS_SYSTEM hv_system(PCWSTR id, const char *cfg, int running, const char **rid) {
    HCS_SYSTEM s = cu_begin_system(id, cfg, running);
    *rid = s ? runtime_id(s) : NULL;
    return s;
}

/* The HRESULT of HcsimHvSocketPath (the path is dropped); E_FAIL if it gave a path with a
 * failure, or none with a success. */
static HRESULT hv_hr(const char *vm, const char *svc, uint32_t endpoint) {
    HRESULT hr;
    const char *path = hv_path(vm, svc, endpoint, &hr);
    return (path != NULL) == SUCCEEDED(hr) ? hr : E_FAIL;
}

/* A running container and its socket directory in *dir (NULL if either failed). */
static HCS_SYSTEM hv_container(PCWSTR id, const char **dir) {
    const char *rid;
    HCS_SYSTEM s = hv_system(id, CU_CFG_CONTAINER, 1, &rid);
    HRESULT hr;
    *dir = rid ? hv_path(rid, NULL, HcsimHvSocketSystemDirectory, &hr) : NULL;
    return s;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700;
}

TEST(hvsock_paths_follow_the_system) {
    TP_POSIX_ONLY("POSIX paths and modes, /bin/sh");
    const char *rid;
    HCS_SYSTEM s = hv_system(u"hv-paths", CU_CFG_CONTAINER, 1, &rid);
    REQUIRE(s != NULL && rid != NULL);
    HRESULT hr;
    const char *dir = hv_path(rid, NULL, HcsimHvSocketSystemDirectory, &hr);
    CHECK_HR(S_OK, hr);
    REQUIRE(dir != NULL);
    CHECK(is_dir(dir));
    CHECK(strstr(dir, rid) != NULL);
    const char *g = hv_path(rid, SVC_B, HcsimHvSocketGuestListener, &hr);
    CHECK_HR(S_OK, hr);
    CHECK(g && !strcmp(g, cu_s("%s/%s.g", dir, SVC_B)));
    const char *h = hv_path(rid, "{" SVC_B "}", HcsimHvSocketHostListener, &hr);
    CHECK_HR(S_OK, hr);
    CHECK(h && !strcmp(h, cu_s("%s/%s.h", dir, SVC_B)));
    CHECK(h && strlen(h) < 108); /* fits a sockaddr_un */
    /* upper case is the same system */
    char up[37];
    for (int i = 0; i < 37; i++)
        up[i] = (char)(rid[i] >= 'a' && rid[i] <= 'f' ? rid[i] - 32 : rid[i]);
    const char *again = hv_path(up, NULL, HcsimHvSocketSystemDirectory, &hr);
    CHECK(again && !strcmp(again, dir));
    /* paused: still there; stopped: gone, and so is the system for the call */
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, s, NULL, NULL));
    CHECK_HR(S_OK, hv_hr(rid, SVC_B, HcsimHvSocketGuestListener));
    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, s, NULL, NULL));
    CHECK(!is_dir(dir));
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, hv_hr(rid, SVC_B, HcsimHvSocketGuestListener));
    HcsCloseComputeSystem(s);
    CU_END();
}

TEST(hvsock_bad_arguments_and_states) {
    const char *rid;
    HCS_SYSTEM s = hv_system(u"hv-args", CU_CFG_CONTAINER, 0, &rid);
    REQUIRE(s != NULL && rid != NULL);
    CHECK_HR(E_POINTER, HcsimHvSocketPath(cu_w("%s", rid), NULL, 2, NULL));
    CHECK_HR(E_INVALIDARG, hv_hr(NULL, SVC_B, HcsimHvSocketGuestListener));
    CHECK_HR(E_INVALIDARG, hv_hr("not-a-guid", SVC_B, HcsimHvSocketGuestListener));
    CHECK_HR(E_INVALIDARG, hv_hr(rid, "1234", HcsimHvSocketGuestListener));
    CHECK_HR(E_INVALIDARG, hv_hr(rid, NULL, HcsimHvSocketHostListener));
    CHECK_HR(E_INVALIDARG, hv_hr(rid, SVC_B, 3));
    CHECK_HR(HCS_E_SYSTEM_NOT_FOUND, hv_hr(SVC_D, SVC_B, HcsimHvSocketGuestListener));
    /* created, not started */
    CHECK_HR(HCS_E_INVALID_STATE, hv_hr(rid, SVC_B, HcsimHvSocketGuestListener));
    cu_kill_close(s);
    CU_END();
}

TEST(hvsock_configuration_rule) {
    const char *rid;
    HCS_SYSTEM s = hv_system(u"hv-config", CFG_VM_HVSOCKET, 1, &rid);
    REQUIRE(s != NULL && rid != NULL);
    const uint32_t G_ = HcsimHvSocketGuestListener, H_ = HcsimHvSocketHostListener;
    /* disabled: both ways */
    CHECK_HR(E_ACCESSDENIED, hv_hr(rid, SVC_A, G_));
    CHECK_HR(E_ACCESSDENIED, hv_hr(rid, SVC_A, H_));
    /* B: connect allowed (BA), bind denied (empty DACL) */
    CHECK_HR(S_OK, hv_hr(rid, SVC_B, G_));
    CHECK_HR(E_ACCESSDENIED, hv_hr(rid, SVC_B, H_));
    /* C (its key in another spelling): bind allowed */
    CHECK_HR(S_OK, hv_hr(rid, SVC_C, H_));
    /* D: not in the table: the default bind descriptor denies, no default connect allows */
    CHECK_HR(E_ACCESSDENIED, hv_hr(rid, SVC_D, H_));
    CHECK_HR(S_OK, hv_hr(rid, SVC_D, G_));
    cu_kill_close(s);
    CU_END();
}

TEST(hvsock_container_configuration) {
    const char *rid;
    HCS_SYSTEM s = hv_system(
        u"hv-container",
        "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"test\",\"Container\":"
        "{\"HvSocket\":{\"Config\":{\"DefaultConnectSecurityDescriptor\":\"D:P(A;;GA;;;SY)\","
        "\"ServiceTable\":{\"" SVC_A "\":{\"Disabled\":true}}}}}}",
        1, &rid);
    REQUIRE(s != NULL && rid != NULL);
    CHECK_HR(E_ACCESSDENIED, hv_hr(rid, SVC_A, HcsimHvSocketHostListener));
    /* SY is one of the caller's trustees; no default bind descriptor: allowed */
    CHECK_HR(S_OK, hv_hr(rid, SVC_B, HcsimHvSocketGuestListener));
    CHECK_HR(S_OK, hv_hr(rid, SVC_B, HcsimHvSocketHostListener));
    cu_kill_close(s);
    CU_END();
}

TEST(hvsock_processes_get_the_directory) {
    TP_POSIX_ONLY("POSIX paths and modes, /bin/sh");
    const char *dir;
    HCS_SYSTEM s = hv_container(u"hv-env", &dir);
    REQUIRE(s != NULL && dir != NULL);
    /* with the host's environment, and with an Environment that tries to set it */
    static const char *const params[] = {
        "{\"CommandArgs\":[\"/bin/sh\",\"-c\",\"echo \\\"[$HCSIM_HVSOCKET_DIR]\\\"\"],"
        "\"CreateStdOutPipe\":true}",
        "{\"CommandArgs\":[\"/bin/sh\",\"-c\",\"echo \\\"[$HCSIM_HVSOCKET_DIR]$X\\\"\"],"
        "\"Environment\":{\"HCSIM_HVSOCKET_DIR\":\"/elsewhere\",\"X\":\"x\"},"
        "\"CreateStdOutPipe\":true}"};
    for (int i = 0; i < 2; i++) {
        HCS_PROCESS p = NULL;
        HCS_PROCESS_INFORMATION pi;
        REQUIRE(SUCCEEDED(cu_spawn(s, params[i], &p, &pi)));
        char buf[512] = {0};
        int eof = 0;
        const char *want = cu_s("[%s]%s", dir, i ? "x" : "");
        cu_read(pi.StdOutput, buf, sizeof buf - 1, "\n", 5000, &eof);
        CHECK(!strncmp(buf, want, strlen(want)));
        cu_wait_pexit(p, 5000);
        cu_close_pi(&pi);
        HcsCloseProcess(p);
    }
    /* it goes with the system */
    CHECK(is_dir(dir));
    cu_kill_close(s);
    CHECK(!is_dir(dir));
    CU_END();
}

TEST(hvsock_reset_removes_every_directory) {
    TP_POSIX_ONLY("POSIX paths and modes, /bin/sh");
    const char *dir;
    HCS_SYSTEM s = hv_container(u"hv-reset", &dir);
    REQUIRE(s != NULL && dir != NULL);
    const char *base = cu_s("%.*s", (int)(strrchr(dir, '/') - dir), dir);
    CHECK(is_dir(base));
    CHECK_HR(S_OK, HcsimReset());
    CHECK(!is_dir(dir));
    CHECK(!is_dir(base));
    HcsCloseComputeSystem(s);
    CU_END();
}

#ifdef _WIN32
TEST(hvsock_windows_paths) {
    /* Windows: the same directory per system (its endpoints are port files) */
    const char *rid;
    HCS_SYSTEM s = hv_system(u"hv-win", CU_CFG_CONTAINER, 1, &rid);
    REQUIRE(s != NULL && rid != NULL);
    HRESULT hr;
    const char *dir = hv_path(rid, NULL, HcsimHvSocketSystemDirectory, &hr);
    CHECK_HR(S_OK, hr);
    REQUIRE(dir != NULL);
    struct stat st;
    CHECK(stat(dir, &st) == 0);
    const char *g = hv_path(rid, SVC_B, HcsimHvSocketGuestListener, &hr);
    CHECK(g && !strcmp(g, cu_s("%s\\%s.g", dir, SVC_B)));
    CHECK_HR(E_INVALIDARG, hv_hr(rid, "x", HcsimHvSocketGuestListener));
    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, s, NULL, NULL));
    CHECK(stat(dir, &st) != 0);
    HcsCloseComputeSystem(s);
    CU_END();
}
#endif
