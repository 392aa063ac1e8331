/* HCS contract §13 checklist, items 40-50: processes (§5.3, §8). */
#include "checklist_util.h"
#include "test_port.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLEEP30 "{\"CommandArgs\":[" TP_ARGS_SLEEP("30") "]}"

/* Every test process runs in a Running container unless stated otherwise. */
static HCS_SYSTEM running(PCWSTR id) {
    HCS_SYSTEM s = NULL;
    HRESULT hr = cu_create_running(id, CU_CFG_CONTAINER, &s);
    CHECK_HR(S_OK, hr);
    return s;
}

/* Most tests: a Running container and a process started in it. */
typedef struct fixture {
    HCS_SYSTEM sys;
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
} fixture;

/* cu_begin, the Running container id, and in it a process started with params; 1 when
 * both exist. */
static int begin(fixture *f, PCWSTR id, const char *params) {
    cu_begin();
    memset(f, 0, sizeof *f);
    f->sys = running(id);
    return f->sys && SUCCEEDED(cu_spawn(f->sys, params, &f->p, &f->pi));
}

TEST(c13_40_create_process_and_pipes) {
    cu_begin();
    HCS_SYSTEM sys = running(u"c13-40");
    REQUIRE(sys != NULL);

    /* All three streams; the process handle exists before the operation completes. */
    CHECK_HR(S_OK, HcsimSetDelay("HcsCreateProcess", 300, 0));
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HCS_PROCESS p = NULL;
    HRESULT hr = HcsCreateProcess(
        sys,
        u"{\"CommandArgs\":[" TP_ARGS_CAT_ERR "],"
        u"\"CreateStdInPipe\":true,\"CreateStdOutPipe\":true,\"CreateStdErrPipe\":true}",
        op, NULL, &p);
    CHECK_HR(S_OK, hr);
    CHECK(p != NULL);
    CHECK(cu_counts().ProcessHandles == 1);
    HCS_PROCESS_INFORMATION pi;
    memset(&pi, 0, sizeof pi);
    CHECK_HR(S_OK, HcsWaitForOperationResultAndProcessInfo(op, CU_OP_TIMEOUT_MS, &pi, NULL));
    CHECK_HR(S_OK, HcsimSetDelay("HcsCreateProcess", 0, 0));
    HcsCloseOperation(op);
    REQUIRE(p != NULL);
    CHECK(pi.ProcessId != 0);
    CHECK(cu_present(pi.StdInput) && cu_present(pi.StdOutput) && cu_present(pi.StdError));
    CHECK(pi.StdInput != pi.StdOutput && pi.StdOutput != pi.StdError && pi.StdInput != pi.StdError);
    CHECK(HcsimHandleToFd(pi.StdInput) >= 0);
    CHECK(HcsimHandleToFd(pi.StdOutput) >= 0);
    CHECK(HcsimHandleToFd(pi.StdError) >= 0);
    CHECK(cu_counts().PipeHandles == 3);
    CHECK(cu_write(pi.StdInput, "hello\n") == 0);
    CloseHandle(pi.StdInput);
    pi.StdInput = NULL;
    char out[256], err[256];
    int eof = 0;
    cu_read(pi.StdOutput, out, sizeof out, NULL, CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(strcmp(out, "hello\n") == 0);
    CHECK(eof);
    cu_read(pi.StdError, err, sizeof err, NULL, CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(strcmp(err, "err\n") == 0);
    cu_close_pi(&pi);
    HcsCloseProcess(p);

    /* Only stdout: the others are absent. CommandLine is split into words. */
    HCS_PROCESS_INFORMATION pj;
    CHECK_HR(S_OK,
             cu_spawn(sys,
                      "{\"CommandLine\":\"" TP_LINE_ECHO " one two\",\"CreateStdOutPipe\":true}",
                      &p, &pj));
    REQUIRE(p != NULL);
    CHECK(pj.ProcessId != 0);
    CHECK(!cu_present(pj.StdInput));
    CHECK(cu_present(pj.StdOutput));
    CHECK(!cu_present(pj.StdError));
    CHECK(cu_counts().PipeHandles == 1);
    cu_read(pj.StdOutput, out, sizeof out, NULL, CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(strcmp(out, "one two\n") == 0);
    cu_close_pi(&pj);
    HcsCloseProcess(p);

    /* No streams at all. */
    HCS_PROCESS_INFORMATION pk;
    CHECK_HR(S_OK, cu_spawn(sys, "{\"CommandArgs\":[" TP_ARGS_TRUE "]}", &p, &pk));
    REQUIRE(p != NULL);
    CHECK(pk.ProcessId != 0);
    CHECK(!cu_present(pk.StdInput) && !cu_present(pk.StdOutput) && !cu_present(pk.StdError));
    CHECK(cu_counts().PipeHandles == 0);
    HcsCloseProcess(p);
    cu_kill_close(sys);
    CU_END();
}

TEST(c13_41_pipe_ownership_and_eof) {
    fixture f;
    /* Closing the pipes leaves the process handle working. */
    REQUIRE(begin(&f, u"c13-41",
                  "{\"CommandArgs\":[" TP_ARGS_SLEEP(
                      "30") "],\"CreateStdInPipe\":true,"
                            "\"CreateStdOutPipe\":true,\"CreateStdErrPipe\":true}"));
    cu_close_pi(&f.pi);
    CHECK(cu_counts().PipeHandles == 0);
    CHECK(cu_counts().ProcessHandles == 1);
    hj_value *st = cu_pstatus(f.p);
    CHECK(st != NULL);
    CHECK(cu_jbool(st, "Exited") == 0);
    CHECK_HR(S_OK, cu_proc_call(HcsTerminateProcess, f.p, NULL, NULL));
    CHECK(cu_wait_pexit(f.p, CU_EVENT_TIMEOUT_MS) != NULL);
    HcsCloseProcess(f.p);

    /* Closing the caller's stdin handle is EOF for the child. */
    REQUIRE(SUCCEEDED(cu_spawn(f.sys,
                               "{\"CommandArgs\":[" TP_ARGS_CAT "],\"CreateStdInPipe\":true,"
                               "\"CreateStdOutPipe\":true}",
                               &f.p, &f.pi)));
    CHECK(cu_write(f.pi.StdInput, "abc") == 0);
    CloseHandle(f.pi.StdInput);
    f.pi.StdInput = NULL;
    char out[64];
    int eof = 0;
    cu_read(f.pi.StdOutput, out, sizeof out, NULL, CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(strcmp(out, "abc") == 0);
    CHECK(eof);
    st = cu_wait_pexit(f.p, CU_EVENT_TIMEOUT_MS);
    int64_t code = -1;
    CHECK(st && cu_jint(st, "ExitCode", &code) && code == 0);
    cu_close_pi(&f.pi);
    HcsCloseProcess(f.p);

    /* ModifyProcess CloseHandle StdIn is EOF too, although the caller still holds its handle. */
    REQUIRE(SUCCEEDED(cu_spawn(f.sys,
                               "{\"CommandArgs\":[" TP_ARGS_CAT "],\"CreateStdInPipe\":true,"
                               "\"CreateStdOutPipe\":true}",
                               &f.p, &f.pi)));
    CHECK(cu_write(f.pi.StdInput, "xyz") == 0);
    cu_read(f.pi.StdOutput, out, sizeof out, "xyz", CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(strcmp(out, "xyz") == 0);
    PCWSTR close_in = u"{\"Operation\":\"CloseHandle\",\"CloseHandle\":{\"Handle\":\"StdIn\"}}";
    CHECK_HR(S_OK, cu_proc_call(HcsModifyProcess, f.p, close_in, NULL));
    st = cu_wait_pexit(f.p, CU_EVENT_TIMEOUT_MS);
    CHECK(st != NULL);
    CHECK(st && cu_jint(st, "ExitCode", &code) && code == 0);
    cu_close_pi(&f.pi);
    HcsCloseProcess(f.p);
    cu_kill_close(f.sys);
    CU_END();
}

TEST(c13_42_get_process_info_fresh_handles) {
    fixture f;
    REQUIRE(begin(&f, u"c13-42",
                  "{\"CommandArgs\":[" TP_ARGS_CAT "],\"CreateStdInPipe\":true,"
                  "\"CreateStdOutPipe\":true}"));
    HCS_PROCESS_INFORMATION pj;
    CHECK_HR(S_OK, cu_proc_info(f.p, &pj));
    CHECK(pj.ProcessId == f.pi.ProcessId);
    CHECK(cu_present(pj.StdInput) && cu_present(pj.StdOutput));
    CHECK(!cu_present(pj.StdError));
    CHECK(pj.StdInput != f.pi.StdInput && pj.StdOutput != f.pi.StdOutput);
    CHECK(cu_counts().PipeHandles == 4);
    /* The new handles are the caller's and work on their own. */
    CloseHandle(f.pi.StdInput);
    CloseHandle(f.pi.StdOutput);
    f.pi.StdInput = f.pi.StdOutput = NULL;
    CHECK(cu_counts().PipeHandles == 2);
    CHECK(cu_write(pj.StdInput, "ping\n") == 0);
    char out[64];
    int eof = 0;
    cu_read(pj.StdOutput, out, sizeof out, "ping\n", CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(strcmp(out, "ping\n") == 0);
    CloseHandle(pj.StdInput);
    pj.StdInput = NULL;
    cu_read(pj.StdOutput, out, sizeof out, NULL, CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(eof);
    CHECK(cu_wait_pexit(f.p, CU_EVENT_TIMEOUT_MS) != NULL);
    cu_close_pi(&pj);
    /* Each call hands out new handles again. */
    HCS_PROCESS_INFORMATION pk;
    HRESULT hr = cu_proc_info(f.p, &pk);
    if (SUCCEEDED(hr)) {
        CHECK(pk.ProcessId == f.pi.ProcessId);
        cu_close_pi(&pk);
    }
    HcsCloseProcess(f.p);
    cu_kill_close(f.sys);
    CU_END();
}

TEST(c13_43_process_properties) {
    fixture f;
    REQUIRE(begin(&f, u"c13-43",
                  "{\"CommandArgs\":[" TP_ARGS_READ_EXIT("3") "],"
                                                              "\"CreateStdInPipe\":true}"));
    hj_value *st = cu_pstatus(f.p);
    REQUIRE(st != NULL);
    CHECK(cu_pstatus_is(st, 0, -1, f.pi.ProcessId));
    cu_close_pi(&f.pi);
    st = cu_wait_pexit(f.p, CU_EVENT_TIMEOUT_MS);
    REQUIRE(st != NULL);
    CHECK(cu_pstatus_is(st, 1, 3, f.pi.ProcessId));
    /* Stable afterwards. */
    hj_value *st2 = cu_pstatus(f.p);
    CHECK(st2 && hj_equal(st, st2));
    HcsCloseProcess(f.p);
    cu_kill_close(f.sys);
    CU_END();
}

typedef struct later_close {
    HANDLE h;
    unsigned ms;
} later_close;

static void *close_later(void *arg) {
    later_close *l = arg;
    cu_sleep_ms(l->ms);
    CloseHandle(l->h);
    return NULL;
}

TEST(c13_44_wait_for_process_exit) {
    fixture f;
    REQUIRE(begin(&f, u"c13-44",
                  "{\"CommandArgs\":[" TP_ARGS_READ_EXIT("5") "],"
                                                              "\"CreateStdInPipe\":true}"));
    PWSTR doc = NULL;
    uint64_t t0 = cu_now_ms();
    CHECK_HR(HCS_E_OPERATION_TIMEOUT, HcsWaitForProcessExit(f.p, 100, &doc));
    CHECK(cu_now_ms() - t0 >= 90);
    CHECK(doc == NULL);
    CHECK_HR(HCS_E_OPERATION_TIMEOUT, HcsWaitForProcessExit(f.p, 0, NULL));

    later_close lc = {f.pi.StdInput, 400};
    f.pi.StdInput = NULL;
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, close_later, &lc) == 0);
    t0 = cu_now_ms();
    CHECK_HR(S_OK, HcsWaitForProcessExit(f.p, CU_OP_TIMEOUT_MS, &doc));
    CHECK(cu_now_ms() - t0 >= 300);
    pthread_join(t, NULL);
    hj_value *st = cu_doc(doc);
    REQUIRE(st != NULL);
    CHECK(cu_pstatus_is(st, 1, 5, f.pi.ProcessId));
    /* Again, immediately. */
    t0 = cu_now_ms();
    doc = NULL;
    CHECK_HR(S_OK, HcsWaitForProcessExit(f.p, CU_OP_TIMEOUT_MS, &doc));
    CHECK(cu_now_ms() - t0 < 1000);
    CHECK(hj_equal(st, cu_doc(doc)));
    HcsCloseProcess(f.p);
    cu_kill_close(f.sys);
    CU_END();
}

TEST(c13_45_terminate_process) {
    fixture f;
    REQUIRE(begin(&f, u"c13-45", SLEEP30));
    cu_evq *q = cu_watch_process(f.p, HcsEventOptionNone);
    uint64_t t0 = cu_now_ms();
    CHECK_HR(S_OK, cu_proc_call(HcsTerminateProcess, f.p, NULL, NULL));
    hj_value *st = cu_evq_wait_json(q, HcsEventProcessExited, 0);
    CHECK(cu_now_ms() - t0 < 5000); /* not the sleep running out */
    CHECK(cu_pstatus_is(st, 1, -1, 0));
    CHECK(cu_jbool(cu_pstatus(f.p), "Exited") == 1);
    CHECK_HR(HCS_E_PROCESS_ALREADY_STOPPED, cu_proc_call(HcsTerminateProcess, f.p, NULL, NULL));
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_count(q, HcsEventProcessExited) == 1);
    /* The host process is really gone. */
    CHECK(cu_wait_no_processes(5000));
    HcsCloseProcess(f.p);
    cu_kill_close(f.sys);
    CU_END();
}

TEST(c13_46_signal_process) {
    cu_begin();
    /* Windows-typed system: ProcessSignal names. */
    HCS_SYSTEM w = running(u"c13-46w");
    REQUIRE(w != NULL);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(SUCCEEDED(cu_spawn(w, SLEEP30, &p, &pi)));
    hj_value *doc = NULL;
    HRESULT hr = cu_proc_call(HcsSignalProcess, p, u"{\"Signal\":\"CtrlBogus\"}", &doc);
    CHECK_HR(E_INVALIDARG, hr);
    CHECK(doc == NULL || cu_is_result_error(doc, E_INVALIDARG));
    CHECK(cu_jbool(cu_pstatus(p), "Exited") == 0); /* the rejected signal did nothing */
    CHECK_HR(S_OK, cu_proc_call(HcsSignalProcess, p, u"{\"Signal\":\"CtrlC\"}", NULL));
    cu_proc_call(HcsTerminateProcess, p, NULL, NULL);
    HcsCloseProcess(p);
    REQUIRE(SUCCEEDED(cu_spawn(w, SLEEP30, &p, &pi)));
    CHECK_HR(S_OK, cu_proc_call(HcsSignalProcess, p, u"{\"Signal\":\"CtrlShutdown\"}", NULL));
    cu_proc_call(HcsTerminateProcess, p, NULL, NULL);
    HcsCloseProcess(p);
    cu_kill_close(w);

    /* Linux-typed system: POSIX signal numbers. */
    HCS_SYSTEM l;
    REQUIRE(SUCCEEDED(cu_create_running(u"c13-46l", CU_CFG_LINUX_VM, &l)));
    REQUIRE(SUCCEEDED(cu_spawn(l, SLEEP30, &p, &pi)));
    hr = cu_proc_call(HcsSignalProcess, p, u"{\"Signal\":\"Bogus\"}", NULL);
    CHECK_HR(E_INVALIDARG, hr);
    CHECK_HR(S_OK, cu_proc_call(HcsSignalProcess, p, u"{\"Signal\":15}", NULL));
    hj_value *st = cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS); /* SIGTERM ends sleep */
    CHECK(st != NULL);
    HcsCloseProcess(p);
    cu_kill_close(l);
    CU_END();
}

TEST(c13_47_modify_process_console) {
    TP_POSIX_ONLY(
        "stty reads a POSIX terminal (Windows consoles: core_win32_console_is_a_pseudo_console)");
    fixture f;
    REQUIRE(begin(&f, u"c13-47",
                  "{\"CommandArgs\":[\"/bin/sh\",\"-c\",\"stty size; read x; stty size\"],"
                  "\"EmulateConsole\":true,\"ConsoleSize\":[30,100],"
                  "\"CreateStdInPipe\":true,\"CreateStdOutPipe\":true}"));
    HRESULT hr;
    char out[512];
    int eof = 0;
    cu_read(f.pi.StdOutput, out, sizeof out, "30 100", CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(strstr(out, "30 100") != NULL); /* ConsoleSize is height first */
    PCWSTR resize =
        u"{\"Operation\":\"ConsoleSize\",\"ConsoleSize\":{\"Height\":40,\"Width\":120}}";
    CHECK_HR(S_OK, cu_proc_call(HcsModifyProcess, f.p, resize, NULL));
    CHECK(cu_write(f.pi.StdInput, "\n") == 0);
    cu_read(f.pi.StdOutput, out, sizeof out, "40 120", CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(strstr(out, "40 120") != NULL);
    CHECK(cu_wait_pexit(f.p, CU_EVENT_TIMEOUT_MS) != NULL);

    hr = cu_proc_call(HcsModifyProcess, f.p, resize, NULL);
    CHECK_HR(HCS_E_PROCESS_ALREADY_STOPPED, hr);
    PCWSTR close_in = u"{\"Operation\":\"CloseHandle\",\"CloseHandle\":{\"Handle\":\"StdIn\"}}";
    CHECK_HR(HCS_E_PROCESS_ALREADY_STOPPED, cu_proc_call(HcsModifyProcess, f.p, close_in, NULL));
    cu_close_pi(&f.pi);
    HcsCloseProcess(f.p);
    cu_kill_close(f.sys);
    CU_END();
}

TEST(c13_48_open_process) {
    fixture f;
    REQUIRE(begin(&f, u"c13-48", SLEEP30));
    HCS_PROCESS p2 = NULL;
    cu_evq *q1 = cu_evq_new(), *q2 = cu_evq_new();
    CHECK_HR(S_OK, HcsSetProcessCallback(f.p, HcsEventOptionNone, q1, cu_evq_cb));
    CHECK_HR(S_OK, HcsOpenProcess(f.sys, f.pi.ProcessId, GENERIC_ALL, &p2));
    REQUIRE(p2 != NULL);
    CHECK(p2 != f.p);
    CHECK(cu_counts().ProcessHandles == 2);
    CHECK_HR(S_OK, HcsSetProcessCallback(p2, HcsEventOptionNone, q2, cu_evq_cb)); /* own slot */
    hj_value *st = cu_pstatus(p2);
    int64_t v = 0;
    CHECK(cu_jint(st, "ProcessId", &v) && v == (int64_t)f.pi.ProcessId);
    CHECK_HR(S_OK, cu_proc_call(HcsTerminateProcess, p2, NULL, NULL));
    CHECK(cu_evq_wait(q1, HcsEventProcessExited, 0, CU_EVENT_TIMEOUT_MS) >= 0);
    CHECK(cu_evq_wait(q2, HcsEventProcessExited, 0, CU_EVENT_TIMEOUT_MS) >= 0);

    /* Exited (handles still open), then exited and closed, then never existed. */
    HCS_PROCESS x = (HCS_PROCESS)1;
    HRESULT hr = HcsOpenProcess(f.sys, f.pi.ProcessId, GENERIC_ALL, &x);
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND), hr);
    CHECK((uint32_t)hr == 0x80070490u);
    if (SUCCEEDED(hr) && x) HcsCloseProcess(x);
    HcsCloseProcess(f.p);
    HcsCloseProcess(p2);
    x = NULL;
    hr = HcsOpenProcess(f.sys, f.pi.ProcessId, GENERIC_ALL, &x);
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND), hr);
    if (SUCCEEDED(hr) && x) HcsCloseProcess(x);
    x = NULL;
    hr = HcsOpenProcess(f.sys, 0x7ffffff0u, GENERIC_ALL, &x);
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND), hr);
    CHECK(x == NULL);
    if (SUCCEEDED(hr) && x) HcsCloseProcess(x);
    /* A process of another system is unknown here. */
    HCS_SYSTEM other = running(u"c13-48o");
    REQUIRE(other != NULL);
    HCS_PROCESS q;
    HCS_PROCESS_INFORMATION qi;
    REQUIRE(SUCCEEDED(cu_spawn(other, SLEEP30, &q, &qi)));
    x = NULL;
    hr = HcsOpenProcess(f.sys, qi.ProcessId, GENERIC_ALL, &x);
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND), hr);
    if (SUCCEEDED(hr) && x) HcsCloseProcess(x);
    cu_proc_call(HcsTerminateProcess, q, NULL, NULL);
    HcsCloseProcess(q);
    cu_kill_close(other);
    CHECK(cu_counts().ProcessHandles == 0);
    cu_kill_close(f.sys);
    CU_END();
}

TEST(c13_49_create_process_needs_running) {
    HCS_SYSTEM s = cu_begin_system(u"c13-49", CU_CFG_CONTAINER, 0);
    REQUIRE(s != NULL);
    HCS_PROCESS p = (HCS_PROCESS)1;
    HCS_PROCESS_INFORMATION pi;
    CHECK_HR(HCS_E_INVALID_STATE, cu_spawn(s, SLEEP30, &p, &pi));
    CHECK(p == NULL);
    CHECK(cu_counts().Processes == 0);
    CHECK(cu_counts().ProcessHandles == 0);
    /* Control: the same call works once Running. */
    CHECK_HR(S_OK, cu_sys_call(HcsStartComputeSystem, s, NULL, NULL));
    CHECK_HR(S_OK, cu_spawn(s, SLEEP30, &p, &pi));
    if (p) {
        cu_proc_call(HcsTerminateProcess, p, NULL, NULL);
        HcsCloseProcess(p);
    }
    cu_kill_close(s);
    CU_END();
}

TEST(c13_50_processes_end_with_system) {
    fixture f;
    REQUIRE(begin(&f, u"c13-50", SLEEP30));
    HCS_PROCESS done;
    HCS_PROCESS_INFORMATION di;
    REQUIRE(SUCCEEDED(cu_spawn(f.sys, "{\"CommandArgs\":[" TP_ARGS_EXIT("4") "]}", &done, &di)));
    CHECK(cu_wait_pexit(done, CU_EVENT_TIMEOUT_MS) != NULL);
    cu_evq *q = cu_evq_new(), *qd = cu_evq_new();
    CHECK_HR(S_OK, HcsSetProcessCallback(f.p, HcsEventOptionNone, q, cu_evq_cb));
    CHECK_HR(S_OK, HcsSetProcessCallback(done, HcsEventOptionNone, qd, cu_evq_cb));
    CHECK(cu_counts().Processes == 1);

    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, f.sys, NULL, NULL));
    CHECK(cu_pstatus_is(cu_evq_wait_json(q, HcsEventProcessExited, 0), 1, -1, f.pi.ProcessId));
    cu_sleep_ms(CU_QUIET_MS);
    CHECK(cu_evq_count(q, HcsEventProcessExited) == 1);
    /* exited before: its one ProcessExited came at the registration (a late one) */
    CHECK(cu_evq_count(qd, HcsEventProcessExited) == 1);
    CHECK(cu_pstatus_is(cu_evq_wait_json(qd, HcsEventProcessExited, 0), 1, 4, di.ProcessId));
    CHECK(cu_wait_no_processes(5000)); /* the host process was ended */

    PCWSTR resize =
        u"{\"Operation\":\"ConsoleSize\",\"ConsoleSize\":{\"Height\":40,\"Width\":120}}";
    CHECK_FAILED(cu_proc_call(HcsTerminateProcess, f.p, NULL, NULL));
    CHECK_FAILED(cu_proc_call(HcsSignalProcess, f.p, u"{\"Signal\":\"CtrlC\"}", NULL));
    CHECK_FAILED(cu_proc_call(HcsModifyProcess, f.p, resize, NULL));
    HCS_PROCESS_INFORMATION pk;
    HRESULT hr = cu_proc_info(f.p, &pk);
    CHECK_FAILED(hr);
    if (SUCCEEDED(hr)) cu_close_pi(&pk);
    HCS_PROCESS np = NULL;
    CHECK_FAILED(cu_spawn(f.sys, SLEEP30, &np, &f.pi));
    CHECK(np == NULL);
    HcsCloseProcess(f.p);
    HcsCloseProcess(done);
    HcsCloseComputeSystem(f.sys);
    CU_END();
}
