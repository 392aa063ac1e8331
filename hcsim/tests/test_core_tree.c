/* White-box tests of process trees: the exit of a system ends everything its processes
 * started (a compute system is a job on Windows), found by session and parent links. */
#include "test_core_util.h"
#include "plat.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#define CFG_TREE "{\"Container\":{}}"
#define CFG_TREE_LAST_HANDLE "{\"ShouldTerminateOnLastHandleClosed\":true,\"Container\":{}}"

/* Reads one line (without its newline) from a pipe handle; 10 s at most. */
static size_t tree_read_line(HANDLE h, char *buf, size_t cap) {
    int fd = HcsimHandleToFd(h);
    size_t n = 0;
    uint64_t t0 = tc_now_ms();
    while (fd >= 0 && n + 1 < cap && tc_now_ms() - t0 < 10000) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0) continue;
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0 || buf[n] == '\n') break;
        n++;
    }
    buf[n] = 0;
    return n;
}

/* 1 when pid is gone or a zombie (killed; its new parent may not reap it at once). */
static int tree_pid_gone(long pid) {
    if (kill((pid_t)pid, 0) != 0) return errno == ESRCH;
#ifdef __linux__
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && (p[2] == 'Z' || p[2] == 'X');
#else
    return 0;
#endif
}

/* Waits up to 5 s for pid to be gone. */
static int tree_gone_within_5s(long pid) {
    uint64_t t0 = tc_now_ms();
    while (!tree_pid_gone(pid)) {
        if (tc_now_ms() - t0 > 5000) return 0;
        tc_sleep_ms(10);
    }
    return 1;
}

/* Starts `bash -c script` whose first output line is a pid; returns that pid (0 on failure)
 * after the shell itself has exited when wait_exit is set. */
static long tree_start(HCS_SYSTEM s, const char *script, HCS_PROCESS *p, int wait_exit) {
    char params[512];
    /* bash: `set -m` (job control without a terminal) puts jobs in groups of their own */
    snprintf(params, sizeof params, "{\"CommandArgs\":[\"bash\",\"-c\",\"%s\"],\"CreateStdOutPipe\":true}",
             script);
    HCS_PROCESS_INFORMATION pi;
    if (tc_spawn(s, params, p, &pi) != S_OK) return 0;
    char line[64];
    tree_read_line(pi.StdOutput, line, sizeof line);
    CloseHandle(pi.StdOutput);
    if (wait_exit && HcsWaitForProcessExit(*p, 10000, NULL) != S_OK) return 0;
    return atol(line);
}

TEST(core_tree_background_child_dies_with_terminate) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("tree-terminate", CFG_TREE, 1, &s) == S_OK);
    HCS_PROCESS p;
    /* the shell exits at once; its background child stays (parent: init) */
    long bg = tree_start(s, "sleep 1000 & echo $!", &p, 1);
    REQUIRE(bg > 1);
    tc_sleep_ms(50);
    CHECK(!tree_pid_gone(bg));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
    CHECK(tree_gone_within_5s(bg));
    HcsCloseProcess(p);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_tree_new_process_group_and_setsid_child_die_with_terminate) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("tree-escape", CFG_TREE, 1, &s) == S_OK);
    HCS_PROCESS p1, p2;
    /* job control: the background job gets a process group of its own (same session) */
    long job = tree_start(s, "set -m; sleep 1000 & echo $!", &p1, 1);
    REQUIRE(job > 1);
    CHECK(getpgid((pid_t)job) == (pid_t)job);
    /* setsid: a session of its own, found through its parent (still running) */
    long escaped = tree_start(s, "setsid sleep 1000 & echo $!; wait", &p2, 0);
    REQUIRE(escaped > 1);
    uint64_t t0 = tc_now_ms(); /* setsid(1) runs setsid() before exec'ing sleep */
    while (getsid((pid_t)escaped) != (pid_t)escaped && tc_now_ms() - t0 < 5000) tc_sleep_ms(5);
    CHECK(getsid((pid_t)escaped) == (pid_t)escaped);
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
    CHECK(tree_gone_within_5s(job));
    CHECK(tree_gone_within_5s(escaped));
    HcsCloseProcess(p1);
    HcsCloseProcess(p2);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_tree_background_child_dies_with_last_handle_close) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("tree-last-handle", CFG_TREE_LAST_HANDLE, 1, &s) == S_OK);
    HCS_PROCESS p;
    long bg = tree_start(s, "sleep 1000 & echo $!", &p, 1);
    REQUIRE(bg > 1);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(s); /* the last handle: the system terminates */
    CHECK(tree_gone_within_5s(bg));
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_tree_other_systems_and_running_systems_are_spared) {
    HcsimReset();
    HCS_SYSTEM a, b;
    REQUIRE(tc_create("tree-a", CFG_TREE, 1, &a) == S_OK);
    REQUIRE(tc_create("tree-b", CFG_TREE, 1, &b) == S_OK);
    HCS_PROCESS pa, pb;
    long bga = tree_start(a, "sleep 1000 & echo $!", &pa, 1);
    long bgb = tree_start(b, "sleep 1000 & echo $!", &pb, 1);
    REQUIRE(bga > 1 && bgb > 1);
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, a, NULL, NULL));
    CHECK(tree_gone_within_5s(bga));
    tc_sleep_ms(100);
    CHECK(!tree_pid_gone(bgb)); /* b still runs: its background child too */
    /* pause/resume reach the background child of b as well */
    CHECK_HR(S_OK, tc_call(HcsPauseComputeSystem, b, NULL, NULL));
#ifdef __linux__
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", bgb);
    int stopped = 0;
    for (int i = 0; i < 500 && !stopped; i++) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) fclose(f);
        buf[n] = 0;
        const char *q = strrchr(buf, ')');
        stopped = q && q[2] == 'T';
        if (!stopped) tc_sleep_ms(10);
    }
    CHECK(stopped);
#endif
    CHECK_HR(S_OK, tc_call(HcsResumeComputeSystem, b, NULL, NULL));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, b, NULL, NULL));
    CHECK(tree_gone_within_5s(bgb));
    HcsCloseProcess(pa);
    HcsCloseProcess(pb);
    HcsCloseComputeSystem(a);
    HcsCloseComputeSystem(b);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* process.c, not in a header */
size_t hc_tracked_sessions_for_tests(HCS_SYSTEM h);

TEST(core_tree_empty_sessions_are_forgotten_occupied_ones_kept) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("tree-prune", CFG_TREE, 1, &s) == S_OK);
    HCS_PROCESS p;
    long bg = tree_start(s, "sleep 1000 & echo $!", &p, 1);
    REQUIRE(bg > 1);
    HcsCloseProcess(p);
    /* many short processes: their sessions end with them and are dropped in batches */
    for (int i = 0; i < 70; i++) {
        HCS_PROCESS_INFORMATION pi;
        REQUIRE(tc_spawn(s, "{\"CommandArgs\":[\"true\"]}", &p, &pi) == S_OK);
        CHECK(HcsWaitForProcessExit(p, 10000, NULL) == S_OK);
        HcsCloseProcess(p);
    }
    uint64_t t0 = tc_now_ms();
    while (hc_tracked_sessions_for_tests(s) > 40 && tc_now_ms() - t0 < 5000) tc_sleep_ms(10);
    size_t tracked = hc_tracked_sessions_for_tests(s);
    CHECK(tracked >= 1 && tracked <= 40);
    /* the background child's session was kept: the system's exit still ends it */
    CHECK(!tree_pid_gone(bg));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
    CHECK(tree_gone_within_5s(bg));
    CHECK(hc_tracked_sessions_for_tests(s) == 0);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_tree_session_scan_finds_members_and_its_cost) {
    /* our own session has members (us); a session id no process can have has none */
    int64_t sids[2] = {(int64_t)getsid(0), 1 << 30};
    unsigned char alive[2] = {0, 1};
    int n = 20;
    uint64_t t0 = plat_now_ns();
    for (int i = 0; i < n; i++) plat_sessions_alive(sids, 2, alive);
    uint64_t ns = plat_now_ns() - t0;
    CHECK(alive[0] == 1 && alive[1] == 0);
    fprintf(stderr, "    (one scan of every process: %.0f us)\n", (double)ns / n / 1000.0);
}

/* plat_posix.c, not in plat.h */
int64_t plat_posix_guard_pid_for_tests(void);

TEST(core_tree_guard_restarts_after_its_death) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("tree-guard", CFG_TREE, 1, &s) == S_OK);
    HCS_PROCESS p;
    long bg = tree_start(s, "sleep 1000 & echo $!", &p, 1);
    REQUIRE(bg > 1);
    HcsCloseProcess(p);
    int64_t guard = plat_posix_guard_pid_for_tests();
    REQUIRE(guard > 1);
    /* it runs in a session of its own, holding no terminal */
    CHECK(getsid((pid_t)guard) == (pid_t)guard);
    CHECK(kill((pid_t)guard, SIGKILL) == 0);
    tc_sleep_ms(50);
    /* the next spawn notices, reaps it and starts another (re-registering everything) */
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(tc_spawn(s, "{\"CommandArgs\":[\"true\"]}", &p, &pi) == S_OK);
    CHECK(HcsWaitForProcessExit(p, 10000, NULL) == S_OK);
    HcsCloseProcess(p);
    int64_t again = plat_posix_guard_pid_for_tests();
    CHECK(again > 1 && again != guard);
    CHECK(!tree_pid_gone(again));
    errno = 0;
    CHECK(kill((pid_t)guard, 0) == -1 && errno == ESRCH); /* reaped, no zombie */
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
    CHECK(tree_gone_within_5s(bg));
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}
