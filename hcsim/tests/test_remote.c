/* hcsim's client mode against a real service (README "Service mode: the client"). The
 * service runs in a child process: this test program started again (exec, so that it works
 * under the sanitizers, whose runtimes cannot start threads in a forked child) with
 * HCSIM_TEST_SERVE naming the socket; a second client is the same program with
 * HCSIM_TEST_CLIENT naming a scenario. Both are handled by a constructor before main. */
#include "test_core_util.h"

#if defined(_WIN32)
TEST(remote_posix_only) { harness_skip("client mode is POSIX-only"); }
#else

#include "test_remote_util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/wait.h>
#include <unistd.h>

#define CFG_CT "{\"Owner\":\"remote\",\"Container\":{}}"
#define CFG_TERMINATE_ON_CLOSE \
    "{\"Owner\":\"remote\",\"ShouldTerminateOnLastHandleClosed\":true,\"Container\":{}}"

/* ---- the child processes -------------------------------------------------------------- */
static int client_scenario(const char *name, const char *path);

__attribute__((constructor)) static void remote_child_main(void) {
    const char *serve = getenv("HCSIM_TEST_SERVE");
    const char *client = getenv("HCSIM_TEST_CLIENT");
    if (serve) {
#ifdef __linux__
        /* never outlive the test program (an aborted run under a sanitizer) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(92);
#endif
        if (HcsimServiceStart(serve, -1) != S_OK) _exit(90);
        for (;;) pause(); /* until killed */
    }
    if (client) _exit(client_scenario(client, getenv("HCSIM_TEST_SOCKET")));
}

/* ---- callbacks ----------------------------------------------------------------------- */
typedef struct seen {
    atomic_int completions, exited, disconnected, progress, opdone;
    atomic_uint hr;
} seen;

static void CALLBACK on_complete(HCS_OPERATION op, void *ctx) {
    seen *s = ctx;
    PWSTR doc = NULL;
    atomic_store(&s->hr, (unsigned)HcsGetOperationResult(op, &doc));
    if (doc) LocalFree(doc);
    atomic_fetch_add(&s->completions, 1);
}

static void CALLBACK on_event(HCS_EVENT *ev, void *ctx) {
    seen *s = ctx;
    if (ev->Type == HcsEventSystemExited || ev->Type == HcsEventProcessExited)
        atomic_fetch_add(&s->exited, 1);
    if (ev->Type == HcsEventServiceDisconnect) atomic_fetch_add(&s->disconnected, 1);
    if (ev->Type == HcsEventGroupOperationInfo) atomic_fetch_add(&s->progress, 1);
    if (ev->Type == HcsEventOperationCallback) atomic_fetch_add(&s->opdone, 1);
}

static int wait_count(atomic_int *v, int n, unsigned ms) {
    uint64_t end = tc_now_ms() + ms;
    while (atomic_load(v) < n && tc_now_ms() < end) tc_sleep_ms(2);
    return atomic_load(v) >= n;
}

/* ---- the tests ------------------------------------------------------------------------ */
TEST(remote_connect_errors) {
    CHECK(!HcsimIsConnected());
    CHECK_HR(HCS_E_SERVICE_NOT_AVAILABLE, HcsimConnect("/tmp/hcsim-remote-none/x.sock"));
    CHECK_HR(E_INVALIDARG, HcsimConnect(""));
    CHECK_HR(S_FALSE, HcsimDisconnect());
    CHECK(!HcsimIsConnected());
}

TEST(remote_lifecycle) {
    service svc;
    REQUIRE(service_up(&svc));
    CHECK(HcsimIsConnected());
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS), HcsimConnect(svc.path));
    seen s;
    memset(&s, 0, sizeof s);
    char16_t *id = tc_w("remote-life"), *cfg = tc_w(CFG_CT);
    HCS_OPERATION op = HcsCreateOperation(&s, on_complete);
    HCS_SYSTEM cs = NULL;
    CHECK_HR(S_OK, HcsCreateComputeSystem(id, cfg, op, NULL, &cs));
    REQUIRE(cs != NULL);
    CHECK(wait_count(&s.completions, 1, 5000));
    CHECK_HR(S_OK, (HRESULT)atomic_load(&s.hr));
    CHECK(HcsGetComputeSystemFromOperation(op) == cs);
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(cs, HcsEventOptionNone, &s, on_event));
    /* the operation's rules stay local: a pending one cannot start again */
    CHECK_HR(S_OK, HcsStartComputeSystem(cs, op, NULL));
    CHECK(wait_count(&s.completions, 2, 5000));
    CHECK_HR(S_OK, (HRESULT)atomic_load(&s.hr));
    HcsCloseOperation(op);

    /* HcsWaitForOperationResult on operations without callbacks, and result documents */
    hj_value *doc = NULL;
    CHECK_HR(S_OK, tc_call(HcsGetComputeSystemProperties, cs, NULL, &doc));
    REQUIRE(doc != NULL);
    const hj_value *state = hj_get(doc, "State");
    CHECK(state && !strcmp(hj_str(state, NULL), "Running"));
    hj_free(doc);
    CHECK_HR(S_OK, tc_call(HcsPauseComputeSystem, cs, NULL, NULL));
    CHECK_HR(HCS_E_INVALID_STATE, tc_call(HcsPauseComputeSystem, cs, NULL, NULL));
    CHECK_HR(S_OK, tc_call(HcsResumeComputeSystem, cs, NULL, NULL));
    HCS_SYSTEM dup = NULL;
    CHECK_HR(HCS_E_SYSTEM_ALREADY_EXISTS, tc_create("remote-life", CFG_CT, 0, &dup));
    HcsCloseComputeSystem(dup);
    HCS_SYSTEM again = NULL; /* a second handle, registered after the exit */
    CHECK_HR(S_OK, HcsOpenComputeSystem(id, GENERIC_ALL, &again));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, cs, NULL, NULL));
    CHECK(wait_count(&s.exited, 1, 5000));
    PWSTR result = NULL;
    CHECK_HR(S_OK, HcsWaitForComputeSystemExit(cs, 5000, &result));
    CHECK(result != NULL);
    if (result) LocalFree(result);

    /* a late registration on another handle gets the terminal event */
    seen late;
    memset(&late, 0, sizeof late);
    if (again) {
        CHECK_HR(S_OK, HcsSetComputeSystemCallback(again, HcsEventOptionNone, &late, on_event));
        CHECK(wait_count(&late.exited, 1, 5000));
        HcsCloseComputeSystem(again);
    }
    /* a closed handle is E_HANDLE locally, as in-process */
    HcsCloseComputeSystem(cs);
    op = HcsCreateOperation(NULL, NULL);
    CHECK_HR(E_HANDLE, HcsStartComputeSystem(cs, op, NULL));
    HcsCloseOperation(op);
    CHECK(tc_counts_zero());
    free(id);
    free(cfg);
    service_down(&svc);
    CHECK(!HcsimIsConnected());
}

/* The end of a test with one process in one system: the process has exited, everything
 * is closed, nothing is left (counts), the service goes. */
static void end_process_and_system(HCS_PROCESS p, HCS_PROCESS_INFORMATION *pi, HCS_SYSTEM cs,
                                   service *svc) {
    PWSTR result = NULL;
    CHECK_HR(S_OK, HcsWaitForProcessExit(p, 5000, &result));
    if (result) LocalFree(result);
    tc_close_pi(pi);
    HcsCloseProcess(p);
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, cs, NULL, NULL));
    HcsCloseComputeSystem(cs);
    CHECK(tc_counts_zero());
    service_down(svc);
}

TEST(remote_process_stdout) {
    service svc;
    REQUIRE(service_up(&svc));
    HCS_SYSTEM cs = NULL;
    REQUIRE(tc_create("remote-proc", CFG_CT, 1, &cs) == S_OK);
    HCS_PROCESS p = NULL;
    HCS_PROCESS_INFORMATION pi;
    /* 2000 lines, then it waits for the end of its stdin */
    CHECK_HR(S_OK, tc_spawn(cs,
                            "{\"CommandArgs\":[\"sh\",\"-c\",\"i=0; while [ $i -lt 2000 ]; do "
                            "echo line-$i; i=$((i+1)); done; cat\"],\"CreateStdOutPipe\":true,"
                            "\"CreateStdInPipe\":true}",
                            &p, &pi));
    REQUIRE(p != NULL);
    CHECK(pi.ProcessId != 0);
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    CHECK(c.PipeHandles == 2);
    CHECK(c.Processes == 1); /* the service's */
    /* the process information of HcsGetProcessInfo comes as descriptors too */
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    CHECK_HR(S_OK, HcsGetProcessInfo(p, op));
    HCS_PROCESS_INFORMATION pi2;
    memset(&pi2, 0, sizeof pi2);
    CHECK_HR(S_OK, HcsWaitForOperationResultAndProcessInfo(op, 5000, &pi2, NULL));
    CHECK(pi2.ProcessId == pi.ProcessId);
    CHECK(pi2.StdOutput != NULL && HcsimHandleToFd(pi2.StdOutput) >= 0);
    tc_close_pi(&pi2);
    HcsCloseOperation(op);
    /* the end of stdin reaches the process: it exits, and stdout ends */
    CloseHandle(pi.StdInput);
    pi.StdInput = NULL;
    int fd = HcsimHandleToFd(pi.StdOutput);
    CHECK(fd >= 0);
    size_t total = 0;
    char buf[4096];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0) total += (size_t)n;
    CHECK(total == 10 * 7 + 90 * 8 + 900 * 9 + 1000 * 10); /* "line-N\n" */
    end_process_and_system(p, &pi, cs, &svc);
}

/* Reads fd until EOF or size - 1 bytes; NUL-terminated. */
static void read_to_end(int fd, char *buf, size_t size) {
    size_t got = 0;
    ssize_t n;
    while (fd >= 0 && got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = 0;
}

/* A console process through the service: its stdin ends only when the client closes its
 * own handle (the service hands its copies off with hc_pipe_handed_off rather than closing
 * them, which would type the console's end of input at once). */
TEST(remote_console) {
    service svc;
    REQUIRE(service_up(&svc));
    HCS_SYSTEM cs = NULL;
    REQUIRE(tc_create("remote-console", "{\"Container\":{}}", 1, &cs) == S_OK);
    HCS_PROCESS p = NULL;
    HCS_PROCESS_INFORMATION pi;
    /* its stdin stays open while the client holds it, and a resize reaches it */
    REQUIRE(tc_spawn(cs,
                     "{\"CommandArgs\":[\"sh\",\"-c\",\"stty size; read x; stty size; cat\"],"
                     "\"EmulateConsole\":true,\"ConsoleSize\":[30,100],"
                     "\"CreateStdInPipe\":true,\"CreateStdOutPipe\":true}",
                     &p, &pi) == S_OK);
    tc_sleep_ms(200);
    CHECK_HR(
        S_OK,
        tc_pcall(HcsModifyProcess, p,
                 "{\"Operation\":\"ConsoleSize\",\"ConsoleSize\":{\"Height\":40,\"Width\":120}}",
                 NULL));
    CHECK(write(HcsimHandleToFd(pi.StdInput), "go\n", 3) == 3);
    /* the end of the client's stdin is the console's end of input: cat ends */
    CloseHandle(pi.StdInput);
    pi.StdInput = NULL;
    char buf[512];
    read_to_end(HcsimHandleToFd(pi.StdOutput), buf, sizeof buf);
    CHECK(strstr(buf, "30 100") != NULL);
    CHECK(strstr(buf, "40 120") != NULL);
    end_process_and_system(p, &pi, cs, &svc);
}

TEST(remote_operation_notifications) {
    service svc;
    REQUIRE(service_up(&svc));
    HCS_SYSTEM cs = NULL;
    REQUIRE(tc_create("remote-notify", CFG_CT, 0, &cs) == S_OK);
    CHECK_HR(S_OK, HcsimSetDelay("HcsStartComputeSystem", 200, 0));
    seen s;
    memset(&s, 0, sizeof s);
    HCS_OPERATION op =
        HcsCreateOperationWithNotifications(HcsOperationOptionProgressUpdate, &s, on_event);
    REQUIRE(op != NULL);
    CHECK_HR(S_OK, HcsStartComputeSystem(cs, op, NULL));
    CHECK_HR(HCS_E_OPERATION_ALREADY_STARTED, HcsStartComputeSystem(cs, op, NULL));
    CHECK_HR(HCS_E_OPERATION_PENDING, HcsGetOperationResult(op, NULL));
    CHECK(wait_count(&s.opdone, 1, 5000));
    CHECK(atomic_load(&s.progress) == 3); /* each quarter, before the completion */
    CHECK_HR(S_OK, HcsGetOperationResult(op, NULL));
    HcsCloseOperation(op);
    /* the handle's operation events stay local */
    seen h;
    memset(&h, 0, sizeof h);
    CHECK_HR(S_OK,
             HcsSetComputeSystemCallback(cs, HcsEventOptionEnableOperationCallbacks, &h, on_event));
    op = HcsCreateOperation(NULL, NULL);
    CHECK_HR(S_OK, HcsPauseComputeSystem(cs, op, NULL));
    CHECK(wait_count(&h.opdone, 1, 5000));
    HcsCloseOperation(op);
    CHECK_HR(S_OK, HcsimSetDelay(NULL, 0, 0));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, cs, NULL, NULL));
    HcsCloseComputeSystem(cs);
    CHECK(tc_counts_zero());
    service_down(&svc);
}

TEST(remote_controls) {
    service svc;
    REQUIRE(service_up(&svc));
    HCS_SYSTEM cs = NULL;
    REQUIRE(tc_create("remote-ctl", CFG_CT, 0, &cs) == S_OK);
    /* an export the service serves: its fault is the service's */
    CHECK_HR(S_OK, HcsimFailNext("HcsStartComputeSystem", 1, E_ACCESSDENIED, HcsimFaultAsync));
    CHECK_HR(E_ACCESSDENIED, tc_call(HcsStartComputeSystem, cs, NULL, NULL));
    CHECK_HR(S_OK, tc_call(HcsStartComputeSystem, cs, NULL, NULL));
    /* an operation accessor stays local, and so do its controls */
    CHECK_HR(S_OK, HcsimFailNext("HcsSetOperationContext", 1, E_FAIL, HcsimFaultSync));
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    CHECK_HR(E_FAIL, HcsSetOperationContext(op, NULL));
    CHECK_HR(S_OK, HcsSetOperationContext(op, NULL));
    HcsCloseOperation(op);
    CHECK_HR(S_OK, HcsimSetExportHidden("HcsCreateOperation", TRUE));
    CHECK(!HcsimIsExportAvailable("HcsCreateOperation"));
    CHECK(HcsCreateOperation(NULL, NULL) == NULL);
    CHECK_HR(S_OK, HcsimSetExportHidden("HcsCreateOperation", FALSE));
    CHECK_HR(S_OK, HcsimSetExportHidden("HcsGrantVmAccess", TRUE));
    CHECK(!HcsimIsExportAvailable("HcsGrantVmAccess"));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_PROC_NOT_FOUND), HcsGrantVmAccess(u"x", u"/tmp/none"));
    CHECK_HR(S_OK, HcsimSetExportHidden("HcsGrantVmAccess", FALSE));
    CHECK(HcsimIsExportAvailable("HcsGrantVmAccess"));
    /* a sync delay is the caller's: this client sleeps, the service's reader does not */
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 0, 200));
    uint64_t t0 = tc_now_ms();
    CHECK_HR(S_OK, tc_call(HcsGetComputeSystemProperties, cs, NULL, NULL));
    CHECK(tc_now_ms() - t0 >= 200);
    CHECK_HR(S_OK, HcsimSetDelay("HcsGetComputeSystemProperties", 0, 0));
    t0 = tc_now_ms();
    CHECK_HR(S_OK, tc_call(HcsGetComputeSystemProperties, cs, NULL, NULL));
    CHECK(tc_now_ms() - t0 < 200);
    int64_t v = 0;
    CHECK_HR(S_OK, HcsimSetOption("SchemaMinorVersion", 9));
    CHECK_HR(S_OK, HcsimGetOption("SchemaMinorVersion", &v));
    CHECK(v == 9);
    CHECK_HR(E_INVALIDARG, HcsimGetOption("NoSuchOption", &v));
    /* another client's HcsimDisconnectService is its own: this one and the service go on */
    seen s;
    memset(&s, 0, sizeof s);
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(cs, HcsEventOptionNone, &s, on_event));
    CHECK(exit_code(spawn_self("HCSIM_TEST_CLIENT", "disconnect-self", svc.path)) == 0);
    CHECK_HR(S_OK, tc_call(HcsGetComputeSystemProperties, cs, NULL, NULL));
    CHECK(atomic_load(&s.disconnected) == 0);
    /* this client's disconnect reaches its handles and later calls, at once */
    CHECK_HR(S_OK, HcsimDisconnectService());
    CHECK(atomic_load(&s.disconnected) == 1 || wait_count(&s.disconnected, 1, 5000));
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, tc_call(HcsPauseComputeSystem, cs, NULL, NULL));
    CHECK(HcsimIsConnected());
    HCSIM_SERVICE_STATUS st;
    CHECK_HR(S_OK, HcsimServiceQuery(svc.path, &st)); /* the service is still there */
    CHECK(st.Systems == 1);
    /* and a reset connects again and resets the service */
    HcsCloseComputeSystem(cs);
    CHECK_HR(S_OK, HcsimReset());
    CHECK_HR(S_OK, HcsimGetOption("SchemaMinorVersion", &v));
    CHECK(v == 6);
    CHECK(tc_counts_zero());
    service_down(&svc);
}

/* Many operations in flight, issued by several threads at once. */
#define INFLIGHT_THREADS 4
#define INFLIGHT_OPS     100

typedef struct inflight {
    HCS_SYSTEM cs;
    seen s;
    atomic_int failed;
} inflight;

static void *inflight_thread(void *arg) {
    inflight *f = arg;
    HCS_OPERATION ops[INFLIGHT_OPS];
    for (int i = 0; i < INFLIGHT_OPS; i++) {
        ops[i] = HcsCreateOperation(&f->s, on_complete);
        if (HcsGetComputeSystemProperties(f->cs, ops[i], NULL) != S_OK)
            atomic_fetch_add(&f->failed, 1);
    }
    for (int i = 0; i < INFLIGHT_OPS; i++) {
        if (HcsWaitForOperationResult(ops[i], 10000, NULL) != S_OK) atomic_fetch_add(&f->failed, 1);
        HcsCloseOperation(ops[i]);
    }
    return NULL;
}

TEST(remote_many_in_flight) {
    service svc;
    REQUIRE(service_up(&svc));
    inflight f;
    memset(&f, 0, sizeof f);
    REQUIRE(tc_create("remote-inflight", CFG_CT, 1, &f.cs) == S_OK);
    pthread_t t[INFLIGHT_THREADS];
    for (int i = 0; i < INFLIGHT_THREADS; i++) pthread_create(&t[i], NULL, inflight_thread, &f);
    for (int i = 0; i < INFLIGHT_THREADS; i++) pthread_join(t[i], NULL);
    CHECK(atomic_load(&f.failed) == 0);
    /* every completion callback ran (those of closed operations may be skipped) */
    CHECK(atomic_load(&f.s.completions) <= INFLIGHT_THREADS * INFLIGHT_OPS);
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, f.cs, NULL, NULL));
    HcsCloseComputeSystem(f.cs);
    CHECK(tc_counts_zero());
    service_down(&svc);
}

/* The second client's scenarios; 0 when all went as expected. */
static int client_scenario(const char *name, const char *path) {
    if (HcsimConnect(path) != S_OK) return 2;
    char16_t *id = tc_w(!strcmp(name, "leave-terminating") ? "remote-toc" : "remote-shared");
    int rc = 0;
    HCS_SYSTEM cs = NULL;
    if (!strcmp(name, "create-and-leave")) { /* a system that outlives its creator */
        if (tc_create("remote-shared", CFG_CT, 1, &cs) != S_OK) rc = 3;
    } else if (!strcmp(name, "leave-terminating")) {
        if (tc_create("remote-toc", CFG_TERMINATE_ON_CLOSE, 1, &cs) != S_OK) rc = 3;
    } else if (!strcmp(name, "disconnect-self")) { /* its own connection ends, nothing else */
        if (HcsimDisconnectService() != S_OK) rc = 8;
        if (!rc && tc_create("remote-self", CFG_CT, 0, &cs) != HCS_E_SERVICE_DISCONNECT) rc = 9;
        HcsimDisconnect();                        /* joins the reader that ended */
    } else if (!strcmp(name, "open-and-check")) { /* the first client's system */
        hj_value *doc = NULL;
        if (HcsOpenComputeSystem(id, GENERIC_ALL, &cs) != S_OK) rc = 4;
        if (!rc && tc_call(HcsGetComputeSystemProperties, cs, NULL, &doc) != S_OK) rc = 5;
        const hj_value *st = doc ? hj_get(doc, "State") : NULL;
        if (!rc && (!st || strcmp(hj_str(st, NULL), "Running"))) rc = 6;
        hj_free(doc);
        HcsCloseComputeSystem(cs);
        HcsimDisconnect();
    } else {
        rc = 7;
    }
    free(id);
    return rc; /* exits without closing: the service closes what the connection held */
}

TEST(remote_second_client) {
    service svc;
    REQUIRE(service_up(&svc));
    /* another client's system outlives it and is seen by id */
    CHECK(exit_code(spawn_self("HCSIM_TEST_CLIENT", "create-and-leave", svc.path)) == 0);
    HCS_SYSTEM cs = NULL;
    char16_t *id = tc_w("remote-shared");
    CHECK_HR(S_OK, HcsOpenComputeSystem(id, GENERIC_ALL, &cs));
    CHECK(exit_code(spawn_self("HCSIM_TEST_CLIENT", "open-and-check", svc.path)) == 0);
    /* events fan out: this client sees the exit of the system */
    seen s;
    memset(&s, 0, sizeof s);
    if (cs) {
        CHECK_HR(S_OK, HcsSetComputeSystemCallback(cs, HcsEventOptionNone, &s, on_event));
        CHECK_HR(S_OK, HcsimCrashSystem(NULL, id));
        CHECK(wait_count(&s.exited, 1, 5000));
        HcsCloseComputeSystem(cs);
    }
    free(id);
    /* ShouldTerminateOnLastHandleClosed across clients: the creator's exit closes the last
     * handle; the system is gone */
    CHECK(exit_code(spawn_self("HCSIM_TEST_CLIENT", "leave-terminating", svc.path)) == 0);
    id = tc_w("remote-toc");
    uint64_t end = tc_now_ms() + 5000;
    HRESULT hr = S_OK;
    while (tc_now_ms() < end) {
        HCS_SYSTEM t = NULL;
        hr = HcsOpenComputeSystem(id, GENERIC_ALL, &t);
        if (hr != S_OK) break;
        PWSTR r = NULL;
        hr = HcsWaitForComputeSystemExit(t, 0, &r);
        if (r) LocalFree(r);
        HcsCloseComputeSystem(t);
        if (hr == S_OK) break; /* exited (and not yet cleaned up) */
        tc_sleep_ms(10);
    }
    CHECK(hr == S_OK || hr == HCS_E_SYSTEM_NOT_FOUND);
    free(id);
    CHECK(tc_counts_zero());
    service_down(&svc);
}

TEST(remote_service_killed) {
    service svc;
    REQUIRE(service_up(&svc));
    HCS_SYSTEM cs = NULL;
    REQUIRE(tc_create("remote-kill", CFG_CT, 1, &cs) == S_OK);
    seen s, ops;
    memset(&s, 0, sizeof s);
    memset(&ops, 0, sizeof ops);
    CHECK_HR(S_OK, HcsSetComputeSystemCallback(cs, HcsEventOptionNone, &s, on_event));
    HCS_PROCESS p = NULL;
    HCS_PROCESS_INFORMATION pi;
    CHECK_HR(S_OK, tc_spawn(cs, "{\"CommandArgs\":[\"sleep\",\"3\"]}", &p, &pi));
    seen ps;
    memset(&ps, 0, sizeof ps);
    if (p) CHECK_HR(S_OK, HcsSetProcessCallback(p, HcsEventOptionNone, &ps, on_event));
    /* an operation the service holds pending when it dies */
    CHECK_HR(S_OK, HcsimSetDelay("HcsPauseComputeSystem", 60000, 0));
    HCS_OPERATION op = HcsCreateOperation(&ops, on_complete);
    CHECK_HR(S_OK, HcsPauseComputeSystem(cs, op, NULL));
    uint64_t t0 = tc_now_ms();
    kill(svc.pid, SIGKILL);
    CHECK(wait_count(&ops.completions, 1, 1000));
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, (HRESULT)atomic_load(&ops.hr));
    CHECK(wait_count(&s.disconnected, 1, 1000));
    CHECK(wait_count(&ps.disconnected, 1, 1000));
    CHECK(tc_now_ms() - t0 < 1000);
    CHECK(HcsimIsConnected()); /* still a client: calls fail */
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, HcsResumeComputeSystem(cs, op, NULL));
    HCS_SYSTEM none = NULL;
    CHECK_HR(HCS_E_SERVICE_DISCONNECT, HcsOpenComputeSystem(u"remote-kill", GENERIC_ALL, &none));
    HcsCloseOperation(op);
    tc_close_pi(&pi);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(cs);
    CHECK(tc_counts_zero());
    service_down(&svc);
}

#endif
