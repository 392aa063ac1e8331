/* hcsim on Windows (plat_win32.c): command-line quoting, the environment block and the
 * working directory, process trees in a job, and the leak counters following kernel32's
 * LocalFree / CloseHandle. The POSIX counterparts are in test_core_process.c and
 * test_core_tree.c. */
#ifdef _WIN32
#include "checklist_util.h"
#include "hcsim_internal.h"
#include "test_port.h"

#include <stdlib.h>
#include <string.h>

static HCS_PROCESS spawn_out(HCS_SYSTEM sys, const char *params, HCS_PROCESS_INFORMATION *pi) {
    HCS_PROCESS p = NULL;
    memset(pi, 0, sizeof *pi);
    CHECK_HR(S_OK, cu_spawn(sys, params, &p, pi));
    return p;
}

/* The output of a helper command that writes to stdout and exits. */
static const char *run_out(HCS_SYSTEM sys, const char *params) {
    HCS_PROCESS_INFORMATION pi;
    HCS_PROCESS p = spawn_out(sys, params, &pi);
    if (!p) return "";
    char *buf = calloc(1, 4096);
    int eof = 0;
    if (buf) cu_read(pi.StdOutput, buf, 4096, NULL, CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(eof);
    CHECK(cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS) != NULL);
    cu_close_pi(&pi);
    HcsCloseProcess(p);
    const char *r = cu_s("%s", buf ? buf : "");
    free(buf);
    return r;
}

TEST(core_win32_arguments_survive_quoting) {
    HCS_SYSTEM sys = cu_begin_system(u"w32-args", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    /* blanks, quotes, backslashes before a quote and at the end, an empty argument and
     * non-ASCII text each come back as they were given */
    const char *out = run_out(
        sys, "{\"CommandArgs\":[" TP_CMD("args") ",\"a b\",\"\\\"q\\\"\",\"x\\\\\\\\y\","
                                                 "\"end\\\\\",\"bs\\\\\\\"q\",\"\","
                                                 "\"\\u00e9\\u20ac\"],\"CreateStdOutPipe\":true}");
    CHECK(
        strcmp(out, "[a b]\n[\"q\"]\n[x\\\\y]\n[end\\]\n[bs\\\"q]\n[]\n[\xc3\xa9\xe2\x82\xac]\n") ==
        0);
    if (strcmp(out, "[a b]\n[\"q\"]\n[x\\\\y]\n[end\\]\n[bs\\\"q]\n[]\n[\xc3\xa9\xe2\x82\xac]\n"))
        printf("    got: %s\n", out);
    /* CommandLine is split by hcsim, then quoted again for CreateProcessW */
    out = run_out(sys, "{\"CommandLine\":\"hcsim_helper args \\\"one two\\\" three\","
                       "\"CreateStdOutPipe\":true}");
    CHECK(strcmp(out, "[one two]\n[three]\n") == 0);
    cu_kill_close(sys);
    CU_END();
}

TEST(core_win32_environment_and_working_directory) {
    HCS_SYSTEM sys = cu_begin_system(u"w32-env", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    const char *out = run_out(
        sys, "{\"CommandArgs\":[" TP_CMD("env") ",\"HCSIM_W32\"],"
                                                "\"Environment\":{\"HCSIM_W32\":\"v \\u00e9\"},"
                                                "\"CreateStdOutPipe\":true}");
    CHECK(strcmp(out, "v \xc3\xa9\n") == 0);
    /* the host's environment is extended, not replaced */
    out =
        run_out(sys, "{\"CommandArgs\":[" TP_CMD(
                         "env") ",\"PATH\"],"
                                "\"Environment\":{\"HCSIM_W32\":\"x\"},\"CreateStdOutPipe\":true}");
    CHECK(strlen(out) > 1);
    /* names ignore case, as Windows' do: "path" replaces the host's PATH */
    out = run_out(
        sys, "{\"CommandArgs\":[" TP_CMD(
                 "env") ",\"PATH\"],"
                        "\"Environment\":{\"path\":\"C:\\\\hcsim\"},\"CreateStdOutPipe\":true}");
    CHECK(strcmp(out, "C:\\hcsim\n") == 0);
    const char *dir = cu_tmpdir();
    out = run_out(sys, cu_s("{\"CommandArgs\":[" TP_CMD("pwd") "],\"WorkingDirectory\":\"%s\","
                                                               "\"CreateStdOutPipe\":true}",
                            dir));
    CHECK(strstr(out, strrchr(dir, '/') + 1) != NULL);
    /* a missing working directory or program fails the create with the mapped error */
    HCS_PROCESS p = NULL;
    HCS_PROCESS_INFORMATION pi;
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND),
             cu_spawn(sys, "{\"CommandArgs\":[\"hcsim_no_such_program\"]}", &p, &pi));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND),
             cu_spawn(sys,
                      cu_s("{\"CommandArgs\":[" TP_CMD("pwd") "],\"WorkingDirectory\":"
                                                              "\"%s/missing\"}",
                           dir),
                      &p, &pi));
    /* under Wine a Unix program path starts a Unix process Windows cannot hold: refused */
    if (tp_under_wine())
        CHECK_HR(E_FAIL, cu_spawn(sys, "{\"CommandArgs\":[\"/bin/true\"]}", &p, &pi));
    cu_kill_close(sys);
    CU_END();
}

TEST(core_win32_terminate_ends_the_whole_tree) {
    HCS_SYSTEM sys = cu_begin_system(u"w32-tree", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    HCS_PROCESS_INFORMATION pi;
    HCS_PROCESS p = spawn_out(
        sys, "{\"CommandArgs\":[" TP_CMD("spawn-sleep") ",\"30\"],\"CreateStdOutPipe\":true}", &pi);
    REQUIRE(p != NULL);
    char buf[64];
    cu_read(pi.StdOutput, buf, sizeof buf, "\n", CU_EVENT_TIMEOUT_MS, NULL);
    uint32_t child = (uint32_t)strtoul(buf, NULL, 10);
    REQUIRE(child != 0);
    CHECK(tp_pid_alive_after(child, 0));
    /* terminating the system ends the process and what it started (one job) */
    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, sys, NULL, NULL));
    CHECK(!tp_pid_alive_after(child, CU_EVENT_TIMEOUT_MS));
    hj_value *st = cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS);
    CHECK(cu_pstatus_is(st, 1, 1067, pi.ProcessId)); /* a Windows guest: PROCESS_ABORTED */
    cu_close_pi(&pi);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(sys);
    CU_END();
}

TEST(core_win32_console_is_a_pseudo_console) {
    HCS_SYSTEM sys = cu_begin_system(u"w32-con", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    /* the output (VT sequences around the text) ends when the process does */
    HCS_PROCESS_INFORMATION pi;
    HCS_PROCESS p = spawn_out(
        sys,
        "{\"CommandArgs\":[" TP_CMD("echo") ",\"hello\"],\"EmulateConsole\":true,"
                                            "\"ConsoleSize\":[30,100],\"CreateStdOutPipe\":true}",
        &pi);
    REQUIRE(p != NULL);
    CHECK(!cu_present(pi.StdError));
    char buf[4096];
    int eof = 0;
    cu_read(pi.StdOutput, buf, sizeof buf, NULL, CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(strstr(buf, "hello") != NULL);
    CHECK(eof);
    CHECK(cu_pstatus_is(cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS), 1, 0, pi.ProcessId));
    cu_close_pi(&pi);
    HcsCloseProcess(p);
    /* input is typed into the console; it can be resized */
    p = spawn_out(sys,
                  "{\"CommandArgs\":[" TP_ARGS_READ_EXIT(
                      "5") "],\"EmulateConsole\":true,"
                           "\"CreateStdInPipe\":true,\"CreateStdOutPipe\":true}",
                  &pi);
    REQUIRE(p != NULL);
    CHECK_HR(S_OK, cu_proc_call(HcsModifyProcess, p,
                                u"{\"Operation\":\"ConsoleSize\",\"ConsoleSize\":{\"Height\":40,"
                                u"\"Width\":120}}",
                                NULL));
    CHECK(cu_write(pi.StdInput, "line\r") == 0);
    cu_read(pi.StdOutput, buf, sizeof buf, NULL, CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(eof);
    CHECK(cu_pstatus_is(cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS), 1, 5, pi.ProcessId));
    cu_close_pi(&pi);
    HcsCloseProcess(p);
    cu_kill_close(sys);
    CU_END();
}

/* A console keeps running when the caller asked for only one of its streams: its pipes'
 * other end stays open (and unread output is drained) until the process exits. */
TEST(core_win32_console_with_one_stream_keeps_running) {
    HCS_SYSTEM sys = cu_begin_system(u"w32-con1", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    HCS_PROCESS_INFORMATION pi;
    int hits = 0;
    enum { RUNS = 8 };
    for (int i = 0; i < RUNS; i++) { /* stdout only */
        HCS_PROCESS p = spawn_out(sys,
                                  "{\"CommandArgs\":[" TP_CMD(
                                      "echo") ",\"hello\"],"
                                              "\"EmulateConsole\":true,\"CreateStdOutPipe\":true}",
                                  &pi);
        REQUIRE(p != NULL);
        CHECK(!cu_present(pi.StdInput));
        char buf[4096];
        int eof = 0;
        cu_read(pi.StdOutput, buf, sizeof buf, NULL, CU_EVENT_TIMEOUT_MS, &eof);
        hits += strstr(buf, "hello") != NULL && eof;
        CHECK(cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS) != NULL);
        cu_close_pi(&pi);
        HcsCloseProcess(p);
    }
    CHECK(hits == RUNS);
    /* stdin only: the console still reads what is typed */
    HCS_PROCESS p = spawn_out(sys,
                              "{\"CommandArgs\":[" TP_ARGS_READ_EXIT(
                                  "5") "],\"EmulateConsole\":true,\"CreateStdInPipe\":true}",
                              &pi);
    REQUIRE(p != NULL);
    CHECK(!cu_present(pi.StdOutput));
    CHECK(cu_wait_pexit(p, CU_QUIET_MS) == NULL); /* waiting for its line */
    CHECK(cu_write(pi.StdInput, "line\r") == 0);
    CHECK(cu_pstatus_is(cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS), 1, 5, pi.ProcessId));
    cu_close_pi(&pi);
    HcsCloseProcess(p);
    CHECK(cu_counts().PipeHandles == 0);
    cu_kill_close(sys);
    CU_END();
}

#define CFG_LINUX_KERNEL                                                                   \
    "{\"VirtualMachine\":{\"Chipset\":{\"LinuxKernelDirect\":{\"KernelFilePath\":\"k\"}}," \
    "\"GuestConnection\":{}}}"

static int64_t signalled_exit(HCS_SYSTEM sys, const char *options) {
    HCS_PROCESS_INFORMATION pi;
    HCS_PROCESS p = spawn_out(sys, "{\"CommandArgs\":[" TP_ARGS_SLEEP("30") "]}", &pi);
    if (!p) return -1;
    CHECK_HR(S_OK, cu_proc_call(HcsSignalProcess, p, cu_w("%s", options), NULL));
    int64_t code = -1;
    const hj_value *st = cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS);
    if (!st || !cu_jint(st, "ExitCode", &code)) code = -1;
    HcsCloseProcess(p);
    return code;
}

/* The job ends with exit code 128 + the signal; a Windows guest reports that as
 * STATUS_CONTROL_C_EXIT, a Linux guest as it is. */
TEST(core_win32_signals_end_the_job_with_the_guests_code) {
    HCS_SYSTEM w = cu_begin_system(u"w32-sigw", CU_CFG_CONTAINER, 1);
    REQUIRE(w != NULL);
    HCS_SYSTEM l = NULL;
    CHECK_HR(S_OK, cu_create_running(u"w32-sigl", CFG_LINUX_KERNEL, &l));
    REQUIRE(l != NULL);
    /* the names map to the Linux numbers hcsim uses on POSIX, and end the whole job */
    CHECK(signalled_exit(w, "{\"Signal\":\"CtrlC\"}") == 0xC000013A);
    CHECK(signalled_exit(w, "{\"Signal\":\"CtrlBreak\"}") == 0xC000013A);
    CHECK(signalled_exit(w, "{\"Signal\":\"CtrlClose\"}") == 0xC000013A);
    CHECK(signalled_exit(w, "{\"Signal\":\"CtrlShutdown\"}") == 0xC000013A);
    CHECK(signalled_exit(l, "{\"Signal\":10}") == 128 + 10);
    CHECK(signalled_exit(l, "{\"Signal\":9}") == 128 + 9);
    cu_kill_close(l);
    cu_kill_close(w);
    CU_END();
}

TEST(core_win32_pause_suspends_and_resume_continues) {
    HCS_SYSTEM sys = cu_begin_system(u"w32-pause", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    HCS_PROCESS_INFORMATION pi;
    HCS_PROCESS p =
        spawn_out(sys, "{\"CommandArgs\":[" TP_CMD("ticks") "],\"CreateStdOutPipe\":true}", &pi);
    REQUIRE(p != NULL);
    char buf[4096];
    CHECK(cu_read(pi.StdOutput, buf, sizeof buf, "3\n", CU_EVENT_TIMEOUT_MS, NULL) > 0);
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, sys, NULL, NULL));
    cu_read(pi.StdOutput, buf, sizeof buf, NULL, 100, NULL); /* what was on its way */
    CHECK(cu_read(pi.StdOutput, buf, sizeof buf, NULL, CU_QUIET_MS, NULL) == 0); /* stopped */
    CHECK_HR(S_OK, cu_sys_call(HcsResumeComputeSystem, sys, NULL, NULL));
    CHECK(cu_read(pi.StdOutput, buf, sizeof buf, "\n", CU_EVENT_TIMEOUT_MS, NULL) > 0);
    /* terminating a paused system ends its processes, which report their exit */
    CHECK_HR(S_OK, cu_sys_call(HcsPauseComputeSystem, sys, NULL, NULL));
    CHECK_HR(S_OK, cu_sys_call(HcsTerminateComputeSystem, sys, NULL, NULL));
    CHECK(cu_pstatus_is(cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS), 1, 1067, pi.ProcessId));
    cu_close_pi(&pi);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(sys);
    CU_END();
}

TEST(core_win32_counts_follow_kernel32_frees) {
    HCS_SYSTEM sys = cu_begin_system(u"w32-counts", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    /* documents: LocalAlloc'd, freed with kernel32's LocalFree */
    PWSTR doc = NULL;
    CHECK_HR(S_OK, HcsGetServiceProperties(NULL, &doc));
    REQUIRE(doc != NULL);
    CHECK(cu_counts().Documents == 1);
    CHECK(LocalFree(doc) == NULL);
    CHECK(cu_counts().Documents == 0);
    /* a block of the same size allocated after the free (often at the same address) is
     * not taken for the document */
    void *again[8];
    for (int i = 0; i < 8; i++) again[i] = tp_local_alloc(64);
    CHECK(cu_counts().Documents == 0);
    for (int i = 0; i < 8; i++) LocalFree(again[i]);
    /* nor a block reused at the same address, of the document's size with room for any
     * trailer, whose new owner wrote only its first bytes (the old trailer is intact) */
    int reused = 0;
    for (int round = 0; round < 16 && !reused; round++) { /* (another thread may take it) */
        CHECK_HR(S_OK, HcsGetServiceProperties(NULL, &doc));
        REQUIRE(doc != NULL);
        size_t bytes = 2;
        for (const WCHAR *c = doc; *c; c++) bytes += 2;
        void *was = doc;
        CHECK(LocalFree(doc) == NULL);
        char *b[64]; /* kept until one is the freed block */
        int nb = 0;
        for (size_t extra = 16; nb < 64 && !reused; extra = 40 - extra) { /* 16, 24, ... */
            REQUIRE((b[nb] = tp_local_alloc(bytes + extra)) != NULL);     /* HeapAlloc */
            memset(b[nb], 'y', 16);
            if (b[nb++] == was) {
                reused++;
                CHECK(cu_counts().Documents == 0);
            }
        }
        while (nb > 0) LocalFree(b[--nb]);
    }
    CHECK(reused > 0); /* (the heap gives the block back at once: the case is exercised) */

    /* pipes: real HANDLEs; a duplicate the caller makes counts until it is closed too */
    HCS_PROCESS_INFORMATION pi;
    HCS_PROCESS p = spawn_out(sys,
                              "{\"CommandArgs\":[" TP_ARGS_CAT
                              "],\"CreateStdInPipe\":true,\"CreateStdOutPipe\":true}",
                              &pi);
    REQUIRE(p != NULL);
    CHECK(cu_counts().PipeHandles == 2);
    intptr_t dup = tp_dup((intptr_t)pi.StdInput);
    REQUIRE(dup != 0);
    CHECK(cu_counts().PipeHandles == 3);
    CHECK(cu_write(pi.StdInput, "x\n") == 0);
    CloseHandle(pi.StdInput);
    pi.StdInput = NULL;
    CHECK(cu_counts().PipeHandles == 2);
    /* the duplicate still holds stdin open: no EOF yet */
    char buf[64];
    int eof = 0;
    cu_read(pi.StdOutput, buf, sizeof buf, NULL, CU_QUIET_MS, &eof);
    CHECK(!eof && strcmp(buf, "x\n") == 0);
    CloseHandle((HANDLE)dup);
    cu_read(pi.StdOutput, buf, sizeof buf, NULL, CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(eof);
    CHECK(cu_counts().PipeHandles == 1);
    cu_close_pi(&pi);
    CHECK(cu_counts().PipeHandles == 0);
    HcsCloseProcess(p);
    cu_kill_close(sys);
    CU_END();
}
/* As on POSIX, the caller's last CloseHandle of stdin ends it also for what the process
 * started, after the process itself has exited. */
TEST(core_win32_stdin_ends_for_the_tree_after_the_leader_exits) {
    HCS_SYSTEM sys = cu_begin_system(u"w32-tree-eof", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    HCS_PROCESS_INFORMATION pi;
    HCS_PROCESS p =
        spawn_out(sys,
                  "{\"CommandArgs\":[" TP_CMD(
                      "spawn-cat") "],\"CreateStdInPipe\":true,\"CreateStdOutPipe\":true}",
                  &pi);
    REQUIRE(p != NULL);
    CHECK(cu_pstatus_is(cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS), 1, 0, pi.ProcessId));
    CHECK(cu_write(pi.StdInput, "x\n") == 0); /* the grandchild cats it */
    char buf[64];
    int eof = 0;
    cu_read(pi.StdOutput, buf, sizeof buf, "x\n", CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(strcmp(buf, "x\n") == 0);
    CloseHandle(pi.StdInput);
    pi.StdInput = NULL;
    cu_read(pi.StdOutput, buf, sizeof buf, NULL, CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(eof); /* it saw end of file and exited */
    cu_close_pi(&pi);
    HcsCloseProcess(p);
    cu_kill_close(sys);
    CU_END();
}

/* A process that closes its stdout gives the reader end of file at once, not at its exit:
 * nothing else holds the pipe. (Under Wine the console host of a CREATE_NO_WINDOW process
 * would, for a Python guest: see no_console_flag in plat_win32.c. This helper does not
 * make Wine start one, so the Python suite's test_pump_start is that change's check.) */
TEST(core_win32_stdout_closed_by_the_process_is_end_of_file_before_its_exit) {
    HCS_SYSTEM sys = cu_begin_system(u"w32-close-out", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    HCS_PROCESS_INFORMATION pi;
    HCS_PROCESS p = spawn_out(
        sys, "{\"CommandArgs\":[" TP_CMD("close-out-sleep") ",\"30\"],\"CreateStdOutPipe\":true}",
        &pi);
    REQUIRE(p != NULL);
    char buf[16];
    int eof = 0;
    uint64_t t0 = cu_now_ms();
    cu_read(pi.StdOutput, buf, sizeof buf, NULL, CU_EVENT_TIMEOUT_MS, &eof);
    CHECK(eof);
    CHECK(cu_now_ms() - t0 < 3000);     /* (it sleeps 30 s after the close) */
    CHECK(cu_wait_pexit(p, 0) == NULL); /* still running */
    cu_close_pi(&pi);
    HcsCloseProcess(p);
    cu_kill_close(sys);
    CU_END();
}

static size_t records(void) {
    hc_lock();
    size_t n = G.nhandouts;
    hc_unlock();
    return n;
}

/* The records of what was handed out are pruned without HcsimGetCounts: documents when
 * the records fill up, a stream of a freed process by the stream watch. */
TEST(core_win32_records_pruned_without_reading_the_counts) {
    CHECK(cu_counts().Documents == 0);
    for (int i = 0; i < 1000; i++) {
        PWSTR doc = NULL;
        CHECK_HR(S_OK, HcsGetServiceProperties(NULL, &doc));
        LocalFree(doc);
    }
    CHECK(records() <= 64);
    HCS_SYSTEM sys = cu_begin_system(u"w32-records", CU_CFG_CONTAINER, 1);
    REQUIRE(sys != NULL);
    HCS_PROCESS_INFORMATION pi;
    HCS_PROCESS p =
        spawn_out(sys, "{\"CommandArgs\":[" TP_ARGS_TRUE "],\"CreateStdOutPipe\":true}", &pi);
    REQUIRE(p != NULL);
    CHECK(cu_wait_pexit(p, CU_EVENT_TIMEOUT_MS) != NULL);
    HcsCloseProcess(p);
    cu_kill_close(sys); /* the process is freed; the caller still holds its stdout */
    CHECK(cu_counts().PipeHandles == 1 && records() == 1);
    CloseHandle(pi.StdOutput);
    uint64_t end = plat_now_ms() + CU_EVENT_TIMEOUT_MS;
    while (records() != 0 && plat_now_ms() < end) plat_sleep_ms(10);
    CHECK(records() == 0);
    CU_END();
}
#else
typedef int hcsim_test_core_win32_is_windows_only;
#endif
