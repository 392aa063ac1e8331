/* White-box tests of hcsim processes: command lines, environment, pipes and EOF, pty,
 * signal mapping, pause/resume. */
#include "test_core_util.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* plat_posix.c, not in plat.h: the next exit watch fails with err; *refused gets the pid. */
void plat_posix_fail_next_watch_for_tests(int err, int64_t *refused);

#define CFG_WIN "{\"Container\":{}}"
/* What a Windows guest reports for a terminated process (ERROR_PROCESS_ABORTED) and for
 * one a console control event ended (STATUS_CONTROL_C_EXIT). */
#define WIN_PROCESS_ABORTED 1067
#define WIN_CONTROL_C_EXIT  0xC000013A
#define CFG_LINUX                                                                          \
    "{\"VirtualMachine\":{\"Chipset\":{\"LinuxKernelDirect\":{\"KernelFilePath\":\"k\"}}," \
    "\"GuestConnection\":{}}}"

/* Reads until EOF (or 10 s) from a pipe handle into buf. */
static size_t read_all(HANDLE h, char *buf, size_t cap) {
    int fd = HcsimHandleToFd(h);
    size_t n = 0;
    uint64_t t0 = tc_now_ms();
    while (fd >= 0 && n + 1 < cap && tc_now_ms() - t0 < 10000) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0) continue;
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EIO) break; /* pty: the child side closed */
        if (r <= 0) break;
        n += (size_t)r;
    }
    buf[n] = 0;
    return n;
}

static int64_t exit_code_of(HCS_PROCESS p) {
    PWSTR d = NULL;
    if (HcsWaitForProcessExit(p, 10000, &d) != S_OK) return -1;
    hj_value *v = hj_parse_utf16(d);
    LocalFree(d);
    int64_t code = -1;
    hj_int64(hj_get(v, "ExitCode"), &code);
    hj_free(v);
    return code;
}

TEST(core_process_command_line_and_environment) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-cmd", CFG_WIN, 1, &s) == S_OK);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    /* CommandLine split by the Windows rules, no shell involved */
    REQUIRE(tc_spawn(s,
                     "{\"CommandLine\":\"printf \\\"[%s]\\\" \\\"a b\\\" c\\\\\\\"d $HOME\","
                     "\"CreateStdOutPipe\":true}",
                     &p, &pi) == S_OK);
    CHECK(pi.StdInput == NULL && pi.StdError == NULL && pi.StdOutput != NULL);
    char buf[512];
    read_all(pi.StdOutput, buf, sizeof buf);
    CHECK(!strcmp(buf, "[a b][c\"d][$HOME]"));
    CHECK(exit_code_of(p) == 0);
    tc_close_pi(&pi);
    HcsCloseProcess(p);
    /* Environment extends the host environment; WorkingDirectory applies */
    REQUIRE(tc_spawn(s,
                     "{\"CommandArgs\":[\"sh\",\"-c\",\"echo $HCSIM_X:${PATH:+path}:$(pwd)\"],"
                     "\"Environment\":{\"HCSIM_X\":\"1 2\"},\"WorkingDirectory\":\"/\","
                     "\"CreateStdOutPipe\":true}",
                     &p, &pi) == S_OK);
    read_all(pi.StdOutput, buf, sizeof buf);
    CHECK(!strcmp(buf, "1 2:path:/\n"));
    tc_close_pi(&pi);
    HcsCloseProcess(p);
    /* exit codes and a missing program */
    REQUIRE(tc_spawn(s, "{\"CommandArgs\":[\"sh\",\"-c\",\"exit 42\"]}", &p, &pi) == S_OK);
    CHECK(exit_code_of(p) == 42);
    HcsCloseProcess(p);
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND),
             tc_spawn(s, "{\"CommandArgs\":[\"/nonexistent/hcsim-prog\"]}", &p, &pi));
    CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND), HcsWaitForProcessExit(p, 0, NULL));
    HcsCloseProcess(p);
    CHECK_HR(E_INVALIDARG, tc_spawn(s, "{\"CreateStdOutPipe\":true}", &p, &pi));
    HcsCloseProcess(p);
    CHECK_HR(HCS_E_INVALID_JSON, tc_spawn(s, "{\"CommandArgs\":[1]}", &p, &pi));
    HcsCloseProcess(p);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_process_stdin_eof_paths) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-eof", CFG_WIN, 1, &s) == S_OK);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi, pi2;
    /* closing the caller's only stdin handle gives EOF */
    REQUIRE(tc_spawn(
                s, "{\"CommandArgs\":[\"cat\"],\"CreateStdInPipe\":true,\"CreateStdOutPipe\":true}",
                &p, &pi) == S_OK);
    CHECK(write(HcsimHandleToFd(pi.StdInput), "hello", 5) == 5);
    CloseHandle(pi.StdInput);
    pi.StdInput = NULL;
    char buf[64];
    read_all(pi.StdOutput, buf, sizeof buf);
    CHECK(!strcmp(buf, "hello"));
    CHECK(exit_code_of(p) == 0);
    tc_close_pi(&pi);
    HcsCloseProcess(p);
    /* ModifyProcess CloseHandle StdIn gives EOF although the caller still holds two handles */
    REQUIRE(tc_spawn(
                s, "{\"CommandArgs\":[\"cat\"],\"CreateStdInPipe\":true,\"CreateStdOutPipe\":true}",
                &p, &pi) == S_OK);
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    CHECK_HR(S_OK, HcsGetProcessInfo(p, op));
    CHECK_HR(S_OK, HcsWaitForOperationResultAndProcessInfo(op, 10000, &pi2, NULL));
    CHECK(pi2.StdInput != NULL && pi2.StdInput != pi.StdInput);
    HcsCloseOperation(op);
    CHECK(write(HcsimHandleToFd(pi2.StdInput), "x", 1) == 1);
    CHECK_HR(S_OK,
             tc_pcall(HcsModifyProcess, p,
                      "{\"Operation\":\"CloseHandle\",\"CloseHandle\":{\"Handle\":\"StdIn\"}}",
                      NULL));
    read_all(pi.StdOutput, buf, sizeof buf);
    CHECK(!strcmp(buf, "x"));
    CHECK(exit_code_of(p) == 0);
    CHECK_HR(HCS_E_PROCESS_ALREADY_STOPPED,
             tc_pcall(HcsModifyProcess, p,
                      "{\"Operation\":\"ConsoleSize\",\"ConsoleSize\":{\"Height\":1,\"Width\":1}}",
                      NULL));
    tc_close_pi(&pi);
    tc_close_pi(&pi2);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_process_console_size) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-pty", CFG_WIN, 1, &s) == S_OK);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(
        tc_spawn(s,
                 "{\"CommandArgs\":[\"sh\",\"-c\",\"stty size; read x; stty size\"],"
                 "\"EmulateConsole\":true,\"ConsoleSize\":[30,100],"
                 "\"CreateStdInPipe\":true,\"CreateStdOutPipe\":true,\"CreateStdErrPipe\":true}",
                 &p, &pi) == S_OK);
    CHECK(pi.StdError == NULL); /* the console carries stderr */
    tc_sleep_ms(200);
    CHECK_HR(
        S_OK,
        tc_pcall(HcsModifyProcess, p,
                 "{\"Operation\":\"ConsoleSize\",\"ConsoleSize\":{\"Height\":40,\"Width\":120}}",
                 NULL));
    CHECK(write(HcsimHandleToFd(pi.StdInput), "go\n", 3) == 3);
    char buf[512];
    read_all(pi.StdOutput, buf, sizeof buf);
    CHECK(strstr(buf, "30 100") != NULL);
    CHECK(strstr(buf, "40 120") != NULL);
    CHECK(exit_code_of(p) == 0);
    tc_close_pi(&pi);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_process_signals_windows_and_linux) {
    HcsimReset();
    HCS_SYSTEM w, l;
    REQUIRE(tc_create("core-sigw", CFG_WIN, 1, &w) == S_OK);
    REQUIRE(tc_create("core-sigl", CFG_LINUX, 1, &l) == S_OK);
    hj_value *doc = NULL;
    CHECK_HR(S_OK, tc_call(HcsGetComputeSystemProperties, l, NULL, &doc));
    CHECK(!strcmp(hj_str(hj_get(doc, "RuntimeOsType"), NULL), "Linux"));
    hj_free(doc);
    static const struct {
        const char *name;
        int sig;
    } map[] = {{"CtrlC", SIGINT},
               {"CtrlBreak", SIGQUIT},
               {"CtrlClose", SIGHUP},
               {"CtrlLogOff", SIGHUP},
               {"CtrlShutdown", SIGTERM}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        HCS_PROCESS p;
        HCS_PROCESS_INFORMATION pi;
        REQUIRE(tc_spawn(w, "{\"CommandArgs\":[\"sleep\",\"30\"]}", &p, &pi) == S_OK);
        char opts[64];
        snprintf(opts, sizeof opts, "{\"Signal\":\"%s\"}", map[i].name);
        CHECK_HR(S_OK, tc_pcall(HcsSignalProcess, p, opts, NULL));
        /* a Windows guest: the console control event ended it (map[i].sig on the host) */
        CHECK(exit_code_of(p) == WIN_CONTROL_C_EXIT);
        HcsCloseProcess(p);
    }
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(tc_spawn(w, "{\"CommandArgs\":[\"sleep\",\"30\"]}", &p, &pi) == S_OK);
    CHECK_HR(E_INVALIDARG, tc_pcall(HcsSignalProcess, p, "{\"Signal\":15}", NULL));
    CHECK_HR(E_INVALIDARG, tc_pcall(HcsSignalProcess, p, "{\"Signal\":\"CtrlX\"}", NULL));
    CHECK_HR(S_OK, tc_pcall(HcsTerminateProcess, p, NULL, NULL));
    CHECK(exit_code_of(p) == WIN_PROCESS_ABORTED);
    CHECK_HR(HCS_E_PROCESS_ALREADY_STOPPED, tc_pcall(HcsTerminateProcess, p, NULL, NULL));
    HcsCloseProcess(p);
    REQUIRE(tc_spawn(l, "{\"CommandArgs\":[\"sleep\",\"30\"]}", &p, &pi) == S_OK);
    CHECK_HR(E_INVALIDARG, tc_pcall(HcsSignalProcess, p, "{\"Signal\":\"CtrlC\"}", NULL));
    CHECK_HR(S_OK, tc_pcall(HcsSignalProcess, p, "{\"Signal\":10}", NULL));
    CHECK(exit_code_of(p) == 128 + 10);
    HcsCloseProcess(p);
    REQUIRE(tc_spawn(l, "{\"CommandArgs\":[\"sleep\",\"30\"]}", &p, &pi) == S_OK);
    CHECK_HR(S_OK, tc_pcall(HcsTerminateProcess, p, NULL, NULL));
    CHECK(exit_code_of(p) == 128 + SIGKILL); /* a Linux guest reports the signal */
    HcsCloseProcess(p);
    HcsCloseComputeSystem(w);
    HcsCloseComputeSystem(l);
    HcsimReset();
    CHECK(tc_counts_zero());
}

static char proc_state(DWORD pid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%u/stat", (unsigned)pid);
    FILE *f = fopen(path, "r");
    if (!f) return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : '?';
}

TEST(core_process_pause_stops_and_resume_continues) {
    if (access("/proc/self/stat", R_OK) != 0) return; /* needs procfs to observe the state */
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-pause", CFG_WIN, 1, &s) == S_OK);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(tc_spawn(s, "{\"CommandArgs\":[\"sleep\",\"30\"]}", &p, &pi) == S_OK);
    CHECK_HR(S_OK, tc_call(HcsPauseComputeSystem, s, NULL, NULL));
    char st = '?';
    for (int i = 0; i < 100 && (st = proc_state(pi.ProcessId)) != 'T'; i++) tc_sleep_ms(10);
    CHECK(st == 'T');
    HCS_PROCESS p2 = NULL;
    HCS_PROCESS_INFORMATION pi2;
    CHECK_HR(HCS_E_INVALID_STATE, tc_spawn(s, "{\"CommandArgs\":[\"true\"]}", &p2, &pi2));
    HcsCloseProcess(p2);
    CHECK_HR(S_OK, tc_call(HcsResumeComputeSystem, s, NULL, NULL));
    for (int i = 0; i < 100 && (st = proc_state(pi.ProcessId)) == 'T'; i++) tc_sleep_ms(10);
    if (!(st == 'S' || st == 'R')) fprintf(stderr, "    state after resume: %c\n", st);
    CHECK(st == 'S' || st == 'R');
    /* terminating a paused system kills its processes, which report their exit */
    CHECK_HR(S_OK, tc_call(HcsPauseComputeSystem, s, NULL, NULL));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
    CHECK(exit_code_of(p) == WIN_PROCESS_ABORTED); /* a Windows guest's process */
    HcsCloseProcess(p);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_process_console_stdin_close_is_eof) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-pty-eof", CFG_WIN, 1, &s) == S_OK);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(tc_spawn(s,
                     "{\"CommandArgs\":[\"cat\"],\"EmulateConsole\":true,"
                     "\"CreateStdInPipe\":true,\"CreateStdOutPipe\":true}",
                     &p, &pi) == S_OK);
    CHECK(write(HcsimHandleToFd(pi.StdInput), "abc\n", 4) == 4);
    tc_sleep_ms(100);
    CloseHandle(pi.StdInput); /* the last stdin handle: the terminal gets its EOF character */
    pi.StdInput = NULL;
    CHECK(exit_code_of(p) == 0);
    char buf[256];
    read_all(pi.StdOutput, buf, sizeof buf);
    CHECK(strstr(buf, "abc") != NULL);
    tc_close_pi(&pi);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* Open descriptors of this process, or -1 without /proc. */
static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* Runs a process to completion and checks its exit code. */
static void run_to_exit(HCS_SYSTEM s, const char *params, int expected_code) {
    HCS_PROCESS p = NULL;
    HCS_PROCESS_INFORMATION pi;
    CHECK_HR(S_OK, tc_spawn(s, params, &p, &pi));
    CHECK(exit_code_of(p) == expected_code);
    HcsCloseProcess(p);
}

TEST(core_process_exit_watch_failure_kills_and_reaps) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-watch-fail", CFG_WIN, 1, &s) == S_OK);
    /* warm up: the exit monitor runs (its wake-up descriptor exists) before counting */
    run_to_exit(s, "{\"CommandArgs\":[\"true\"]}", 0);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    static const struct {
        int err;
        HRESULT hr;
        const char *params;
    } cases[] = {
        {ENOMEM, E_OUTOFMEMORY,
         "{\"CommandArgs\":[\"sleep\",\"30\"],\"CreateStdInPipe\":true,"
         "\"CreateStdOutPipe\":true,\"CreateStdErrPipe\":true}"},
        {EMFILE, HRESULT_FROM_WIN32(4u) /* ERROR_TOO_MANY_OPEN_FILES */,
         "{\"CommandArgs\":[\"sleep\",\"30\"],\"EmulateConsole\":true,"
         "\"CreateStdInPipe\":true,\"CreateStdOutPipe\":true}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int fds = count_fds();
        int64_t refused = 0;
        plat_posix_fail_next_watch_for_tests(cases[i].err, &refused);
        CHECK_HR(cases[i].hr, tc_spawn(s, cases[i].params, &p, &pi));
        CHECK(pi.StdInput == NULL && pi.StdOutput == NULL && pi.StdError == NULL);
        REQUIRE(refused > 1);
        /* the child was killed and reaped: no process, no zombie */
        errno = 0;
        CHECK(kill((pid_t)refused, 0) == -1 && errno == ESRCH);
        errno = 0;
        CHECK(waitpid((pid_t)refused, NULL, WNOHANG) == -1 && errno == ECHILD);
        /* no descriptor (pipe or pty end) left behind, nothing counted */
        CHECK(count_fds() == fds);
        HCSIM_COUNTS c;
        HcsimGetCounts(&c);
        CHECK(c.Processes == 0 && c.PipeHandles == 0 && c.ProcessHandles == 1);
        /* the process never started */
        CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND), HcsWaitForProcessExit(p, 0, NULL));
        CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND),
                 tc_pcall(HcsGetProcessProperties, p, NULL, NULL));
        CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND), tc_pcall(HcsTerminateProcess, p, NULL, NULL));
        HCS_PROCESS other = NULL;
        CHECK_HR(HRESULT_FROM_WIN32(ERROR_NOT_FOUND), HcsOpenProcess(s, (DWORD)refused, 0, &other));
        hj_value *doc = NULL;
        CHECK_HR(S_OK, tc_call(HcsGetComputeSystemProperties, s,
                               "{\"PropertyTypes\":[\"ProcessList\"]}", &doc));
        CHECK(hj_count(hj_get(doc, "ProcessList")) == 0);
        hj_free(doc);
        HcsCloseProcess(p);
    }
    /* the knob was one-shot: the next process is watched as usual */
    run_to_exit(s, "{\"CommandArgs\":[\"sh\",\"-c\",\"exit 7\"]}", 7);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_process_pipe_handles_all_or_nothing_out_of_descriptors) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("core-pipe-emfile", CFG_WIN, 1, &s) == S_OK);
    run_to_exit(s, "{\"CommandArgs\":[\"true\"]}", 0); /* warm up (monitor, guard) */
    char16_t *w = tc_w("{\"CommandArgs\":[\"cat\"],\"CreateStdInPipe\":true,"
                       "\"CreateStdOutPipe\":true,\"CreateStdErrPipe\":true}");
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    HCS_PROCESS p = NULL;
    REQUIRE(HcsCreateProcess(s, w, op, NULL, &p) == S_OK);
    CHECK_HR(S_OK, HcsWaitForOperationResult(op, 10000, NULL));
    /* no descriptor left: not one of the three handles can be made */
    struct rlimit old;
    REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
    struct rlimit low = {(rlim_t)(count_fds() + 8), old.rlim_max};
    REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
    int taken[64], ntaken = 0;
    while (ntaken < 64 && (taken[ntaken] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0) ntaken++;
    /* leave two: the first two handles would succeed, the third not */
    for (int i = 0; i < 2 && ntaken > 0; i++) close(taken[--ntaken]);
    HCS_PROCESS_INFORMATION pi;
    memset(&pi, 0xAB, sizeof pi);
    PWSTR doc = NULL;
    CHECK_HR(HRESULT_FROM_WIN32(4u), HcsGetOperationResultAndProcessInfo(op, &pi, &doc));
    CHECK(pi.StdInput == NULL && pi.StdOutput == NULL && pi.StdError == NULL);
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    CHECK(c.PipeHandles == 0);
    hj_value *v = doc ? hj_parse_utf16(doc) : NULL;
    const char *msg = hj_str(hj_get(v, "ErrorMessage"), NULL);
    CHECK(msg && strstr(msg, "Too many open files") && strstr(msg, "EMFILE"));
    hj_free(v);
    if (doc) LocalFree(doc);
    while (ntaken > 0) close(taken[--ntaken]);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);
    /* descriptors free again: the same call hands out all three */
    CHECK_HR(S_OK, HcsGetOperationResultAndProcessInfo(op, &pi, NULL));
    CHECK(pi.StdInput != NULL && pi.StdOutput != NULL && pi.StdError != NULL);
    tc_close_pi(&pi);
    CHECK(exit_code_of(p) == 0); /* stdin closed: cat ends */
    HcsCloseOperation(op);
    HcsCloseProcess(p);
    free(w);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}
