/* White-box tests of process trees: the exit of a system ends everything its processes
 * started (a compute system is a job on Windows), found by session and parent links. */
#include "test_core_util.h"
#include "plat.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define CFG_TREE             "{\"Container\":{}}"
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

/* The state letter of pid in /proc/<pid>/stat (R, S, T, Z, ...); 0 if it cannot be read
 * (no such process, or no /proc). */
static char tree_pid_state(long pid) {
#ifdef __linux__
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
#else
    (void)pid;
    return 0;
#endif
}

/* 1 when pid is gone or a zombie (killed; its new parent may not reap it at once). */
static int tree_pid_gone(long pid) {
    if (kill((pid_t)pid, 0) != 0) return errno == ESRCH;
#ifdef __linux__
    char state = tree_pid_state(pid);
    return state == 0 || state == 'Z' || state == 'X';
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

/* REQUIRE for a test that has started processes: on failure, to its clean-up. */
#define TREE_REQUIRE(cond)                           \
    do {                                             \
        if (!(cond)) {                               \
            harness_fail(__FILE__, __LINE__, #cond); \
            goto cleanup;                            \
        }                                            \
    } while (0)

/* A test's own `sleep 1000` must not outlive it, also when a check failed. */
static void tree_kill(long pid) {
    if (pid > 1 && !tree_pid_gone(pid)) kill((pid_t)pid, SIGKILL);
}

/* 1 when pid is a zombie (Linux; elsewhere: when kill(pid, 0) still finds it). */
static int tree_pid_zombie(long pid) {
#ifdef __linux__
    return tree_pid_state(pid) == 'Z';
#else
    return kill((pid_t)pid, 0) == 0;
#endif
}

/* Starts `bash -c script` whose first output line is a pid; returns that pid (0 on failure)
 * after the shell itself has exited when wait_exit is set. */
static long tree_start(HCS_SYSTEM s, const char *script, HCS_PROCESS *p, int wait_exit) {
    char params[512];
    /* bash: `set -m` (job control without a terminal) puts jobs in groups of their own */
    snprintf(params, sizeof params,
             "{\"CommandArgs\":[\"bash\",\"-c\",\"%s\"],\"CreateStdOutPipe\":true}", script);
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
    tree_kill(bg);
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
    long job = tree_start(s, "set -m; sleep 1000 & echo $!", &p1, 1), escaped = 0;
    TREE_REQUIRE(job > 1);
    CHECK(getpgid((pid_t)job) == (pid_t)job);
    /* setsid: a session of its own, found through its parent (still running) */
    escaped = tree_start(s, "setsid sleep 1000 & echo $!; wait", &p2, 0);
    TREE_REQUIRE(escaped > 1);
    uint64_t t0 = tc_now_ms(); /* setsid(1) runs setsid() before exec'ing sleep */
    while (getsid((pid_t)escaped) != (pid_t)escaped && tc_now_ms() - t0 < 5000) tc_sleep_ms(5);
    CHECK(getsid((pid_t)escaped) == (pid_t)escaped);
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
    CHECK(tree_gone_within_5s(job));
    CHECK(tree_gone_within_5s(escaped));
cleanup:
    tree_kill(job);
    tree_kill(escaped);
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
    tree_kill(bg);
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
    TREE_REQUIRE(bga > 1 && bgb > 1);
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, a, NULL, NULL));
    CHECK(tree_gone_within_5s(bga));
    tc_sleep_ms(100);
    CHECK(!tree_pid_gone(bgb)); /* b still runs: its background child too */
    /* pause/resume reach the background child of b as well */
    CHECK_HR(S_OK, tc_call(HcsPauseComputeSystem, b, NULL, NULL));
#ifdef __linux__
    int stopped = 0;
    for (int i = 0; i < 500 && !stopped; i++) {
        stopped = tree_pid_state(bgb) == 'T';
        if (!stopped) tc_sleep_ms(10);
    }
    CHECK(stopped);
#endif
    CHECK_HR(S_OK, tc_call(HcsResumeComputeSystem, b, NULL, NULL));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, b, NULL, NULL));
    CHECK(tree_gone_within_5s(bgb));
cleanup:
    tree_kill(bga);
    tree_kill(bgb);
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
    TREE_REQUIRE(bg > 1);
    HcsCloseProcess(p);
    /* many short processes: their sessions end with them and are dropped in batches */
    for (int i = 0; i < 70; i++) {
        HCS_PROCESS_INFORMATION pi;
        TREE_REQUIRE(tc_spawn(s, "{\"CommandArgs\":[\"true\"]}", &p, &pi) == S_OK);
        CHECK(HcsWaitForProcessExit(p, 10000, NULL) == S_OK);
        HcsCloseProcess(p);
    }
    {
        uint64_t t0 = tc_now_ms();
        while (hc_tracked_sessions_for_tests(s) > 40 && tc_now_ms() - t0 < 5000) tc_sleep_ms(10);
        size_t tracked = hc_tracked_sessions_for_tests(s);
        CHECK(tracked >= 1 && tracked <= 40);
        /* the background child's session was kept: the system's exit still ends it */
        CHECK(!tree_pid_gone(bg));
        CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
        CHECK(tree_gone_within_5s(bg));
        CHECK(hc_tracked_sessions_for_tests(s) == 0);
    }
cleanup:
    tree_kill(bg);
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
    TREE_REQUIRE(bg > 1);
    HcsCloseProcess(p);
    {
        int64_t guard = plat_posix_guard_pid_for_tests();
        TREE_REQUIRE(guard > 1);
        /* it runs in a session of its own, holding no terminal */
        CHECK(getsid((pid_t)guard) == (pid_t)guard);
        CHECK(kill((pid_t)guard, SIGKILL) == 0);
        /* dead (a zombie: we are its parent) before the next spawn, however loaded the machine */
        uint64_t t0 = tc_now_ms();
        while (!tree_pid_zombie(guard) && tc_now_ms() - t0 < 10000) tc_sleep_ms(5);
        CHECK(tree_pid_zombie(guard));
        /* the next spawn notices, reaps it and starts another (re-registering everything) */
        HCS_PROCESS_INFORMATION pi;
        TREE_REQUIRE(tc_spawn(s, "{\"CommandArgs\":[\"true\"]}", &p, &pi) == S_OK);
        CHECK(HcsWaitForProcessExit(p, 10000, NULL) == S_OK);
        HcsCloseProcess(p);
        int64_t again = plat_posix_guard_pid_for_tests();
        CHECK(again > 1 && again != guard);
        CHECK(!tree_pid_gone(again));
        errno = 0;
        CHECK(kill((pid_t)guard, 0) == -1 && errno == ESRCH); /* reaped, no zombie */
        CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
        CHECK(tree_gone_within_5s(bg));
    }
cleanup:
    tree_kill(bg);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* ---- failures of the /proc walk, pid reuse, the guard's hygiene, fork ---------------- */

/* plat_posix.c, not in plat.h */
void plat_posix_fail_scan_for_tests(int nth, int err);
uint64_t plat_posix_start_time_for_tests(int64_t pid);
int plat_posix_guard_stop_for_tests(void);
int plat_posix_guard_add_as_for_tests(int64_t sid, uint64_t start);

/* Descriptors taken until open() fails with EMFILE (under a soft limit lowered to 256),
 * then `spare` of them given back; tree_fds_release restores everything. */
typedef struct tree_fds {
    int fd[300];
    int n;
    struct rlimit old;
} tree_fds;

static int tree_fds_exhaust(tree_fds *f, int spare) {
    f->n = 0;
    if (getrlimit(RLIMIT_NOFILE, &f->old) != 0) return 0;
    struct rlimit low = f->old;
    if (low.rlim_cur > 256) low.rlim_cur = 256;
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) return 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) break;
        if (f->n == (int)(sizeof f->fd / sizeof *f->fd)) {
            close(fd);
            break;
        }
        f->fd[f->n++] = fd;
    }
    int exhausted = errno == EMFILE;
    for (int i = 0; i < spare && f->n > 0; i++) close(f->fd[--f->n]);
    return exhausted;
}

static void tree_fds_release(tree_fds *f) {
    while (f->n > 0) close(f->fd[--f->n]);
    setrlimit(RLIMIT_NOFILE, &f->old);
}

/* 1 when pid is stopped (state T). */
static int tree_pid_stopped(long pid) {
    char state = tree_pid_state(pid);
    return state == 'T' || state == 't';
}

#ifdef __linux__
TEST(core_tree_walk_that_cannot_read_a_process_fails_instead_of_finding_nothing) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("tree-walk-emfile", CFG_TREE, 1, &s) == S_OK);
    HCS_PROCESS p;
    tree_fds f = {.n = 0};
    /* a job-control job (a process group of its own) is the only member of the session */
    long job = tree_start(s, "set -m; sleep 1000 & echo $!", &p, 1);
    TREE_REQUIRE(job > 1);
    {
        int64_t sid = (int64_t)getsid((pid_t)job);
        TREE_REQUIRE(sid > 1 && sid != job);
        /* one descriptor left: /proc opens, no /proc/<pid>/stat does (EMFILE) */
        TREE_REQUIRE(tree_fds_exhaust(&f, 1));
        unsigned char alive = 0;
        int rc_alive = plat_sessions_alive(&sid, 1, &alive);
        int rc_kill = plat_kill_sessions(&sid, 1);
        int stopped = tree_pid_stopped(job), gone = tree_pid_gone(job);
        tree_fds_release(&f);
        CHECK(rc_alive == EMFILE); /* not "no process in that session" */
        CHECK(alive == 1);
        CHECK(rc_kill == EMFILE);
        CHECK(!stopped); /* nothing left frozen */
        CHECK(!gone);    /* (the walk found nothing it could kill) */
        /* with descriptors again, the same calls see and end it */
        CHECK(plat_sessions_alive(&sid, 1, &alive) == 0 && alive == 1);
        CHECK(plat_kill_sessions(&sid, 1) == 0);
        CHECK(tree_gone_within_5s(job));
    }
cleanup:
    tree_fds_release(&f);
    tree_kill(job);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_tree_walk_failing_after_the_freeze_leaves_nothing_stopped) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("tree-walk-freeze", CFG_TREE, 1, &s) == S_OK);
    HCS_PROCESS p;
    long job = tree_start(s, "set -m; sleep 1000 & echo $!", &p, 1);
    TREE_REQUIRE(job > 1);
    {
        int64_t sid = (int64_t)getsid((pid_t)job);
        TREE_REQUIRE(sid > 1 && sid != job);
        /* the first walk finds the job and stops it (its group is not the session's); the
         * second fails: what the first found must be killed, not left stopped */
        plat_posix_fail_scan_for_tests(2, ENFILE);
        int rc = plat_kill_sessions(&sid, 1);
        plat_posix_fail_scan_for_tests(0, 0);
        CHECK(rc == ENFILE);
        CHECK(tree_gone_within_5s(job));
    }
cleanup:
    plat_posix_fail_scan_for_tests(0, 0);
    if (job > 1 && !tree_pid_gone(job)) kill((pid_t)job, SIGCONT);
    tree_kill(job);
    HcsCloseProcess(p);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

TEST(core_tree_exit_while_out_of_descriptors_kills_the_tree_later) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("tree-sweep-emfile", CFG_TREE, 1, &s) == S_OK);
    HCS_PROCESS p;
    tree_fds f = {.n = 0};
    long job = tree_start(s, "set -m; sleep 1000 & echo $!", &p, 1);
    TREE_REQUIRE(job > 1);
    HcsCloseProcess(p);
    p = NULL;
    /* no descriptor at all: the sweep's walk of /proc fails, and fails again */
    TREE_REQUIRE(tree_fds_exhaust(&f, 0));
    HRESULT hr = tc_call(HcsTerminateComputeSystem, s, NULL, NULL);
    tc_sleep_ms(300);
    int stopped = tree_pid_stopped(job);
    tree_fds_release(&f);
    CHECK_HR(S_OK, hr);
    CHECK(!stopped);
    /* a later attempt (retried with growing delays) ends it */
    CHECK(tree_gone_within_5s(job));
cleanup:
    tree_fds_release(&f);
    tree_kill(job);
    if (p) HcsCloseProcess(p);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}

/* Waits (10 s at most) for our child pid to exit; 1 when reaped. */
static int tree_reap_within_10s(pid_t pid) {
    uint64_t t0 = tc_now_ms();
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return 1;
        if (r < 0 && errno != EINTR) return 0;
        if (tc_now_ms() - t0 > 10000) return 0;
        tc_sleep_ms(5);
    }
}

TEST(core_tree_guard_spares_a_session_id_taken_over_since) {
    const char *argv[] = {"sleep", "1000", NULL};
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    plat_spawn_result a = {.pid = -1}, b = {.pid = -1};
    int reaped_a = 0, reaped_b = 0;
    TREE_REQUIRE(plat_spawn(&o, &a) == 0 && plat_spawn(&o, &b) == 0);
    {
        uint64_t start_a = plat_posix_start_time_for_tests(a.pid);
        TREE_REQUIRE(start_a != 0);
        /* b is registered as spawned; a as if its id had belonged to an earlier session
         * (leader started at another time) whose pid was then reused */
        TREE_REQUIRE(plat_guard_add(b.pid) == 0);
        TREE_REQUIRE(plat_posix_guard_add_as_for_tests(a.pid, start_a + 1000) == 0);
        /* the host's end closes, as at its death: the guard kills what is still ours */
        int st = plat_posix_guard_stop_for_tests();
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        reaped_b = tree_reap_within_10s((pid_t)b.pid);
        CHECK(reaped_b);
        int st_a = 0;
        CHECK(waitpid((pid_t)a.pid, &st_a, WNOHANG) == 0); /* a still runs */
    }
cleanup:
    plat_guard_forget(a.pid);
    plat_guard_forget(b.pid);
    if (a.pid > 1 && !reaped_a) {
        kill((pid_t)a.pid, SIGKILL);
        plat_reap(a.pid, NULL);
    }
    if (b.pid > 1 && !reaped_b) {
        kill((pid_t)b.pid, SIGKILL);
        plat_reap(b.pid, NULL);
    }
}

void plat_posix_guard_drop_for_tests(void);

static atomic_int tree_drop_done;

static void *tree_drop_guard(void *arg) {
    (void)arg;
    plat_posix_guard_drop_for_tests();
    atomic_store(&tree_drop_done, 1);
    return NULL;
}

TEST(core_tree_stopping_the_guard_never_waits_for_it) {
    const char *argv[] = {"sleep", "1000", NULL};
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    plat_spawn_result a = {.pid = -1};
    int reaped_a = 0, stopped_guard = 0, joined = 1;
    int64_t guard = -1;
    pthread_t th;
    TREE_REQUIRE(plat_spawn(&o, &a) == 0);
    TREE_REQUIRE(plat_guard_add(a.pid) == 0);
    guard = plat_posix_guard_pid_for_tests();
    TREE_REQUIRE(guard > 1);
    /* a guard that cannot finish (stopped): its stop (callers may hold the emulator's
     * lock) must return at once all the same */
    TREE_REQUIRE(kill((pid_t)guard, SIGSTOP) == 0);
    stopped_guard = 1;
    {
        uint64_t t0 = tc_now_ms();
        while (!tree_pid_stopped(guard) && tc_now_ms() - t0 < 10000) tc_sleep_ms(5);
        atomic_store(&tree_drop_done, 0);
        TREE_REQUIRE(pthread_create(&th, NULL, tree_drop_guard, NULL) == 0);
        joined = 0;
        t0 = tc_now_ms();
        while (!atomic_load(&tree_drop_done) && tc_now_ms() - t0 < 5000) tc_sleep_ms(5);
        CHECK(atomic_load(&tree_drop_done));
        kill((pid_t)guard, SIGCONT);
        stopped_guard = 0;
        pthread_join(th, NULL);
        joined = 1;
        /* the guard saw the end of its socket: it kills what it holds and exits */
        reaped_a = tree_reap_within_10s((pid_t)a.pid);
        CHECK(reaped_a);
        /* and a later guard call reaps it */
        int reaped_guard = 0;
        t0 = tc_now_ms();
        while (!reaped_guard && tc_now_ms() - t0 < 10000) {
            plat_guard_forget(a.pid);
            errno = 0;
            reaped_guard = kill((pid_t)guard, 0) == -1 && errno == ESRCH;
            if (!reaped_guard) tc_sleep_ms(10);
        }
        CHECK(reaped_guard);
    }
cleanup:
    if (stopped_guard) kill((pid_t)guard, SIGCONT);
    if (!joined) pthread_join(th, NULL);
    plat_guard_forget(a.pid);
    if (a.pid > 1 && !reaped_a) {
        kill((pid_t)a.pid, SIGKILL);
        plat_reap(a.pid, NULL);
    }
}

TEST(core_tree_guard_holds_no_directory_of_the_host) {
    HcsimReset();
    HCS_SYSTEM s;
    REQUIRE(tc_create("tree-guard-cwd", CFG_TREE, 1, &s) == S_OK);
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    REQUIRE(tc_spawn(s, "{\"CommandArgs\":[\"true\"]}", &p, &pi) == S_OK); /* a guard runs */
    CHECK(HcsWaitForProcessExit(p, 10000, NULL) == S_OK);
    HcsCloseProcess(p);
    int64_t guard = plat_posix_guard_pid_for_tests();
    CHECK(guard > 1);
    char path[64], cwd[256];
    snprintf(path, sizeof path, "/proc/%lld/cwd", (long long)guard);
    ssize_t n = readlink(path, cwd, sizeof cwd - 1);
    cwd[n > 0 ? n : 0] = 0;
    CHECK(n == 1 && !strcmp(cwd, "/"));
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}
#endif

/* Forked children of this multi-threaded test process cannot start threads under TSan,
 * and under ASan such a thread sometimes never runs: there the child only checks what
 * needs no worker (see test_plat.c). */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TREE_NO_THREADS_AFTER_FORK 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define TREE_NO_THREADS_AFTER_FORK 1
#endif
#endif

static atomic_int tree_cb_entered, tree_cb_release;

static void CALLBACK tree_blocking_cb(HCS_OPERATION op, void *ctx) {
    (void)op;
    (void)ctx;
    atomic_store(&tree_cb_entered, 1);
    uint64_t t0 = tc_now_ms();
    while (!atomic_load(&tree_cb_release) && tc_now_ms() - t0 < 20000) tc_sleep_ms(2);
}

/* The child of a fork: a system of its own whose exit must end its process (the sweep
 * of the parent, queued at the fork, is not the child's). Exit code 0 when it did. */
static int tree_fork_child(void) {
#ifdef TREE_NO_THREADS_AFTER_FORK
    return 0;
#else
    HCS_SYSTEM c = NULL;
    if (tc_create("tree-fork-child", CFG_TREE, 1, &c) != S_OK) return 10;
    HCS_PROCESS p;
    HCS_PROCESS_INFORMATION pi;
    if (tc_spawn(c, "{\"CommandArgs\":[\"sleep\",\"1000\"]}", &p, &pi) != S_OK) return 11;
    int code = 0;
    if (tc_call(HcsTerminateComputeSystem, c, NULL, NULL) != S_OK)
        code = 12;
    else if (HcsWaitForProcessExit(p, 10000, NULL) != S_OK)
        code = 13; /* frozen, never killed */
    if (code) {    /* leave nothing behind: it may be stopped */
        kill((pid_t)pi.ProcessId, SIGKILL);
        kill((pid_t)pi.ProcessId, SIGCONT);
    }
    HcsCloseProcess(p);
    HcsCloseComputeSystem(c);
    if (!code && !tc_counts_zero()) code = 14;
    return code;
#endif
}

TEST(core_tree_fork_child_sweeps_its_own_systems) {
    HcsimReset();
    REQUIRE(HcsimSetOption("WorkerThreads", 1) == S_OK);
    HCS_SYSTEM s = NULL, t = NULL;
    REQUIRE(tc_create("tree-fork-a", CFG_TREE, 1, &s) == S_OK);
    REQUIRE(tc_create("tree-fork-b", CFG_TREE_LAST_HANDLE, 1, &t) == S_OK);
    HCS_PROCESS p;
    long bg = tree_start(t, "sleep 1000 & echo $!", &p, 1);
    HCS_OPERATION op = NULL;
    pid_t child = -1;
    TREE_REQUIRE(bg > 1);
    HcsCloseProcess(p);
    /* the only worker blocks in a callback... */
    atomic_store(&tree_cb_entered, 0);
    atomic_store(&tree_cb_release, 0);
    op = HcsCreateOperation(NULL, tree_blocking_cb);
    TREE_REQUIRE(HcsGetComputeSystemProperties(s, op, NULL) == S_OK);
    {
        uint64_t t0 = tc_now_ms();
        while (!atomic_load(&tree_cb_entered) && tc_now_ms() - t0 < 10000) tc_sleep_ms(2);
        TREE_REQUIRE(atomic_load(&tree_cb_entered));
        /* ...so the tree kill of t (closing its last handle ends it) waits in the queue */
        HcsCloseComputeSystem(t);
        t = NULL;
        fflush(NULL);
        child = fork();
        TREE_REQUIRE(child >= 0);
        if (child == 0) _exit(tree_fork_child());
        atomic_store(&tree_cb_release, 1);
        int st = -1, done = 0;
        for (int i = 0; i < 2000 && !done; i++) { /* up to 20 s (a loaded machine) */
            if (waitpid(child, &st, WNOHANG) == child)
                done = 1;
            else
                tc_sleep_ms(10);
        }
        if (!done) {
            kill(child, SIGKILL);
            waitpid(child, &st, 0);
        }
        child = -1;
        if (!(done && WIFEXITED(st) && WEXITSTATUS(st) == 0))
            fprintf(stderr, "  forked child: %s, exit %d, signal %d\n",
                    done ? "ended" : "hung, killed", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        CHECK(done && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        /* the parent's queued tree kill runs once its worker is free */
        CHECK(tree_gone_within_5s(bg));
    }
cleanup:
    atomic_store(&tree_cb_release, 1);
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    tree_kill(bg);
    if (op) HcsCloseOperation(op);
    if (t) HcsCloseComputeSystem(t);
    HcsCloseComputeSystem(s);
    HcsimReset();
    CHECK(tc_counts_zero());
}
