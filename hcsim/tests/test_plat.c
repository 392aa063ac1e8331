/* Tests of the POSIX platform layer (hcsim/src/plat_posix.c). */
#include "harness.h"
#include "plat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

void plat_posix_force_poll_for_tests(int on); /* plat_posix.c, not in plat.h */

/* plat_posix.c, not in plat.h: 1 when the monitor thread runs; *nwatch = pending watches. */
int plat_posix_monitor_state_for_tests(size_t *nwatch);

/* ---------------------------------------------------------------- helpers */

/* Reads until EOF (or EIO, which is how a pty master reports a closed slave). */
static size_t read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

/* Waits for an unwatched child directly; returns exit code or 128+signal. */
static int wait_child(int64_t pid) {
    int st;
    pid_t r;
    do r = waitpid((pid_t)pid, &st, 0);
    while (r < 0 && errno == EINTR);
    if (r != (pid_t)pid) return -1000;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -2000;
}

static void close_result(plat_spawn_result *r) {
    if (r->stdin_fd >= 0) plat_close(r->stdin_fd);
    if (r->stdout_fd >= 0) plat_close(r->stdout_fd);
    if (r->stderr_fd >= 0) plat_close(r->stderr_fd);
    if (r->pty_fd >= 0) plat_close(r->pty_fd);
    r->stdin_fd = r->stdout_fd = r->stderr_fd = r->pty_fd = -1;
}
/* Reads from fd into buf (NUL-terminated) until needle has arrived, EOF or an error. */
static void read_until(int fd, char *buf, size_t cap, const char *needle) {
    size_t n = 0;
    buf[0] = '\0';
    while (n < cap - 1 && !strstr(buf, needle)) {
        ssize_t k = read(fd, buf + n, cap - 1 - n);
        if (k <= 0) break;
        n += (size_t)k;
        buf[n] = '\0';
    }
}

/* Reads fd to EOF and compares what came with expected. */
static int output_is(int fd, const char *expected) {
    char buf[4096];
    read_all(fd, buf, sizeof buf);
    if (strcmp(buf, expected) == 0) return 1;
    fprintf(stderr, "    output: \"%s\"\n", buf);
    return 0;
}

/* Waits for the child to exit with 0, then closes the result's descriptors. */
static int exits_zero(plat_spawn_result *r) {
    int code = wait_child(r->pid);
    close_result(r);
    return code == 0;
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) d = opendir("/dev/fd");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static int is_cloexec(int fd) {
    int fl = fcntl(fd, F_GETFD);
    return fl >= 0 && (fl & FD_CLOEXEC);
}

/* An exit waiter: records monitor callbacks. */
#define MAXW 512
typedef struct exit_log {
    plat_mutex mu;
    plat_cond cv;
    int n;
    int64_t pid[MAXW];
    int code[MAXW], sig[MAXW];
    uint64_t thread[MAXW];
} exit_log;

static void log_init(exit_log *l) {
    memset(l, 0, sizeof *l);
    plat_mutex_init(&l->mu);
    plat_cond_init(&l->cv);
}

static void log_destroy(exit_log *l) {
    plat_cond_destroy(&l->cv);
    plat_mutex_destroy(&l->mu);
}

static void on_exit_cb(void *ctx, int64_t pid, int code, int sig) {
    exit_log *l = ctx;
    plat_mutex_lock(&l->mu);
    if (l->n < MAXW) {
        l->pid[l->n] = pid;
        l->code[l->n] = code;
        l->sig[l->n] = sig;
        l->thread[l->n] = plat_thread_id();
        l->n++;
    }
    plat_cond_broadcast(&l->cv);
    plat_mutex_unlock(&l->mu);
}

/* Waits until the log holds at least n entries or timeout_ms passes; returns count. */
static int log_wait(exit_log *l, int n, uint32_t timeout_ms) {
    uint64_t deadline = plat_now_ms() + timeout_ms;
    plat_mutex_lock(&l->mu);
    while (l->n < n) {
        uint64_t now = plat_now_ms();
        if (now >= deadline) break;
        plat_cond_timedwait(&l->cv, &l->mu, (uint32_t)(deadline - now));
    }
    int r = l->n;
    plat_mutex_unlock(&l->mu);
    return r;
}

static int log_count(exit_log *l) {
    plat_mutex_lock(&l->mu);
    int r = l->n;
    plat_mutex_unlock(&l->mu);
    return r;
}

static int spawn_simple(const char *const *argv, int want_out, plat_spawn_result *r) {
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.want_stdout = want_out;
    return plat_spawn(&o, r);
}

#ifdef __linux__
/* Fields 5 (pgrp), 6 (session) and 7 (tty_nr) of /proc/<pid>/stat. */
static int proc_stat_ids(int64_t pid, long *pgrp, long *sid, long *tty) {
    char path[64], *data = NULL;
    size_t len;
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    if (plat_read_file(path, &data, &len) != 0) return -1;
    char *p = strrchr(data, ')');
    int ok = p && sscanf(p + 1, " %*c %*d %ld %ld %ld", pgrp, sid, tty) == 3;
    free(data);
    return ok ? 0 : -1;
}
#endif

/* ------------------------------------------------------------------ spawn */

TEST(plat_spawn_echo_stdout) {
    const char *argv[] = {"/bin/echo", "hello", "world", NULL};
    plat_spawn_result r;
    REQUIRE(spawn_simple(argv, 1, &r) == 0);
    CHECK(r.pid > 0);
    CHECK(r.stdin_fd == -1 && r.stderr_fd == -1 && r.pty_fd == -1);
    REQUIRE(r.stdout_fd >= 0);
    CHECK(is_cloexec(r.stdout_fd));
    CHECK(output_is(r.stdout_fd, "hello world\n"));
    CHECK(exits_zero(&r));
}

TEST(plat_spawn_path_lookup) {
    const char *argv[] = {"echo", "found-in-path", NULL};
    plat_spawn_result r;
    REQUIRE(spawn_simple(argv, 1, &r) == 0);
    CHECK(output_is(r.stdout_fd, "found-in-path\n"));
    CHECK(exits_zero(&r));
}

TEST(plat_spawn_path_search_order) {
    /* PATH = d1:bin(relative):d2 with a non-executable "prog" in d1, an executable one in
     * the relative dir and in d2: the relative one wins, found from our cwd even though
     * the child runs in "/". Without the executable ones: EACCES. */
    char d1[] = "/tmp/hcsim-plat-path1-XXXXXX", d2[] = "/tmp/hcsim-plat-path2-XXXXXX";
    REQUIRE(mkdtemp(d1) && mkdtemp(d2));
    char p1[128], p2[128], rel[128], relbin[128], oldcwd[PATH_MAX];
    snprintf(p1, sizeof p1, "%s/hcsim-prog", d1);
    snprintf(p2, sizeof p2, "%s/hcsim-prog", d2);
    snprintf(relbin, sizeof relbin, "%s/bin", d2);
    snprintf(rel, sizeof rel, "%s/bin/hcsim-prog", d2);
    REQUIRE(mkdir(relbin, 0755) == 0);
    CHECK(plat_write_file(p1, "#!/bin/sh\necho d1\n", 18) == 0);
    CHECK(plat_write_file(p2, "#!/bin/sh\necho d2\n", 18) == 0);
    CHECK(plat_write_file(rel, "#!/bin/sh\necho rel\n", 19) == 0);
    CHECK(chmod(p2, 0755) == 0 && chmod(rel, 0755) == 0);
    const char *old = getenv("PATH");
    char *saved = old ? strdup(old) : NULL;
    char newpath[512];
    snprintf(newpath, sizeof newpath, "%s::bin:%s", d1, d2);
    REQUIRE(getcwd(oldcwd, sizeof oldcwd) != NULL);
    REQUIRE(chdir(d2) == 0);
    setenv("PATH", newpath, 1);
    const char *argv[] = {"hcsim-prog", NULL};
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.cwd = "/";
    o.want_stdout = 1;
    plat_spawn_result r;
    char buf[64] = "";
    int rc = plat_spawn(&o, &r);
    if (rc == 0) {
        read_all(r.stdout_fd, buf, sizeof buf);
        CHECK(wait_child(r.pid) == 0);
        close_result(&r);
    }
    CHECK(rc == 0 && strcmp(buf, "rel\n") == 0);
    /* Without the relative entry, d2's copy. */
    snprintf(newpath, sizeof newpath, "%s:%s", d1, d2);
    setenv("PATH", newpath, 1);
    buf[0] = '\0';
    rc = plat_spawn(&o, &r);
    if (rc == 0) {
        read_all(r.stdout_fd, buf, sizeof buf);
        CHECK(wait_child(r.pid) == 0);
        close_result(&r);
    }
    CHECK(rc == 0 && strcmp(buf, "d2\n") == 0);
    /* Only the non-executable one. */
    setenv("PATH", d1, 1);
    CHECK(plat_spawn(&o, &r) == EACCES);
    CHECK(chdir(oldcwd) == 0);
    if (saved)
        setenv("PATH", saved, 1);
    else
        unsetenv("PATH");
    free(saved);
    plat_remove_file(p1);
    plat_remove_file(p2);
    plat_remove_file(rel);
    rmdir(relbin);
    rmdir(d1);
    rmdir(d2);
}

struct writer_arg {
    int fd;
    const char *data;
    size_t len;
    int ok;
};

static void writer_main(void *p) {
    struct writer_arg *a = p;
    size_t off = 0;
    a->ok = 1;
    while (off < a->len) {
        ssize_t w = write(a->fd, a->data + off, a->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            a->ok = 0;
            break;
        }
        off += (size_t)w;
    }
    plat_close(a->fd);
}

TEST(plat_spawn_cat_round_trip_with_stderr) {
    /* 256 KiB through cat: more than a pipe buffer, so writer and reader must overlap. */
    const size_t len = 256 * 1024;
    char *data = malloc(len), *back = malloc(len + 2);
    REQUIRE(data && back);
    for (size_t i = 0; i < len; i++) data[i] = (char)('a' + (i * 7 + i / 13) % 26);
    const char *argv[] = {"cat", NULL};
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.want_stdin = o.want_stdout = o.want_stderr = 1;
    plat_spawn_result r;
    REQUIRE(plat_spawn(&o, &r) == 0);
    CHECK(r.stdin_fd >= 0 && r.stdout_fd >= 0 && r.stderr_fd >= 0 && r.pty_fd == -1);
    CHECK(is_cloexec(r.stdin_fd) && is_cloexec(r.stdout_fd) && is_cloexec(r.stderr_fd));
    struct writer_arg wa = {r.stdin_fd, data, len, 0};
    plat_thread t;
    REQUIRE(plat_thread_create(&t, writer_main, &wa) == 0);
    size_t n = read_all(r.stdout_fd, back, len + 2);
    plat_thread_join(&t);
    r.stdin_fd = -1; /* closed by the writer */
    CHECK(wa.ok);
    CHECK(n == len);
    CHECK(memcmp(data, back, len) == 0);
    char eb[16];
    CHECK(read_all(r.stderr_fd, eb, sizeof eb) == 0);
    CHECK(exits_zero(&r));
    free(data);
    free(back);
}

TEST(plat_spawn_stderr_pipe_and_devnull) {
    /* stderr requested, stdout not: stdout writes go to /dev/null (and must succeed). */
    const char *argv[] = {"sh", "-c", "echo to-out && echo to-err >&2 && read x; echo rc=$? >&2",
                          NULL};
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.want_stderr = 1;
    plat_spawn_result r;
    REQUIRE(plat_spawn(&o, &r) == 0);
    CHECK(r.stdin_fd == -1 && r.stdout_fd == -1);
    char buf[256];
    read_all(r.stderr_fd, buf, sizeof buf);
    /* stdin is /dev/null: read hits EOF and fails (rc=1) rather than blocking. */
    CHECK(strcmp(buf, "to-err\nrc=1\n") == 0);
    CHECK(exits_zero(&r));
}

TEST(plat_spawn_exit_codes_0_to_255) {
    int bad = 0;
    for (int batch = 0; batch < 256; batch += 32) {
        int64_t pids[32];
        for (int i = 0; i < 32; i++) {
            char cmd[32];
            snprintf(cmd, sizeof cmd, "exit %d", batch + i);
            const char *argv[] = {"sh", "-c", cmd, NULL};
            plat_spawn_result r;
            pids[i] = spawn_simple(argv, 0, &r) == 0 ? r.pid : -1;
        }
        for (int i = 0; i < 32; i++) {
            if (pids[i] < 0 || wait_child(pids[i]) != batch + i) bad++;
        }
    }
    CHECK(bad == 0);
}

TEST(plat_spawn_missing_program) {
    int before = count_fds();
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.want_stdin = o.want_stdout = o.want_stderr = 1;
    plat_spawn_result r;
    const char *a1[] = {"hcsim-no-such-program-8c1f", NULL};
    o.argv = a1;
    CHECK(plat_spawn(&o, &r) == ENOENT);
    CHECK(r.pid == -1 && r.stdin_fd == -1 && r.stdout_fd == -1 && r.stderr_fd == -1);
    const char *a2[] = {"/nonexistent-dir/prog", NULL};
    o.argv = a2;
    CHECK(plat_spawn(&o, &r) == ENOENT); /* exec failure reported by posix_spawn itself */
    const char *a3[] = {"", NULL};
    o.argv = a3;
    CHECK(plat_spawn(&o, &r) == ENOENT);
    const char *a4[] = {"/tmp", NULL};
    o.argv = a4;
    CHECK(plat_spawn(&o, &r) == EACCES);
    /* A regular file without execute permission: posix_spawn reports EACCES. */
    char path[] = "/tmp/hcsim-plat-noexec-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    const char *a5[] = {path, NULL};
    o.argv = a5;
    CHECK(plat_spawn(&o, &r) == EACCES);
    o.use_pty = 1;
    CHECK(plat_spawn(&o, &r) == EACCES);
    CHECK(r.pty_fd == -1);
    o.use_pty = 0;
    /* Executable but neither a binary nor a script: no shell fallback, ENOEXEC. */
    CHECK(plat_write_file(path, "echo hi\n", 8) == 0);
    CHECK(chmod(path, 0755) == 0);
    CHECK(plat_spawn(&o, &r) == ENOEXEC);
    /* With a #! line it runs. */
    CHECK(plat_write_file(path, "#!/bin/sh\necho script-ran\n", 27) == 0);
    o.want_stdin = o.want_stderr = 0;
    CHECK(plat_spawn(&o, &r) == 0);
    if (r.pid > 0) {
        char sb[64];
        read_all(r.stdout_fd, sb, sizeof sb);
        CHECK(strcmp(sb, "script-ran\n") == 0);
        CHECK(wait_child(r.pid) == 0);
        close_result(&r);
    }
    o.want_stdin = o.want_stderr = 1;
    plat_remove_file(path);
    /* A missing cwd fails the spawn (chdir errno), without a child. */
    const char *a6[] = {"/bin/true", NULL};
    o.argv = a6;
    o.cwd = "/nonexistent-dir-hcsim";
    CHECK(plat_spawn(&o, &r) == ENOENT);
    o.argv = NULL;
    CHECK(plat_spawn(&o, &r) == EINVAL);
    CHECK(count_fds() == before);
}

TEST(plat_spawn_cwd_and_env) {
    char dir[] = "/tmp/hcsim-plat-cwd-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char real[PATH_MAX];
    REQUIRE(realpath(dir, real) != NULL);
    const char *argv[] = {"/bin/pwd", "-P", NULL};
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.cwd = dir;
    o.want_stdout = 1;
    plat_spawn_result r;
    REQUIRE(plat_spawn(&o, &r) == 0);
    char buf[PATH_MAX + 8];
    read_all(r.stdout_fd, buf, sizeof buf);
    char expect[PATH_MAX + 8];
    snprintf(expect, sizeof expect, "%s\n", real);
    CHECK(strcmp(buf, expect) == 0);
    CHECK(exits_zero(&r));
    rmdir(dir);

    /* Explicit environment: exactly these variables; "env" is found via the host PATH
     * even though envp has no PATH. */
    const char *env[] = {"HCSIM_A=1", "HCSIM_B=two words", NULL};
    const char *eargv[] = {"env", NULL};
    memset(&o, 0, sizeof o);
    o.argv = eargv;
    o.envp = env;
    o.want_stdout = 1;
    REQUIRE(plat_spawn(&o, &r) == 0);
    CHECK(output_is(r.stdout_fd, "HCSIM_A=1\nHCSIM_B=two words\n"));
    CHECK(exits_zero(&r));

    /* NULL envp inherits the host environment. */
    setenv("HCSIM_PLAT_INHERITED", "yes-inherited", 1);
    const char *iargv[] = {"sh", "-c", "echo \"$HCSIM_PLAT_INHERITED\"", NULL};
    o.argv = iargv;
    o.envp = NULL;
    REQUIRE(plat_spawn(&o, &r) == 0);
    CHECK(output_is(r.stdout_fd, "yes-inherited\n"));
    CHECK(exits_zero(&r));
    unsetenv("HCSIM_PLAT_INHERITED");
}

TEST(plat_spawn_resets_signal_state) {
    /* The host ignores SIGPIPE and blocks SIGUSR1 (as Python does the former); the child
     * must start with default dispositions and an empty mask. */
    struct sigaction ign, old_pipe;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigset_t usr1, old_mask;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &old_mask);
    const char *argv[] = {"sh", "-c", "grep -E '^Sig(Blk|Ign):' /proc/self/status", NULL};
    plat_spawn_result r;
    int rc = spawn_simple(argv, 1, &r);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    REQUIRE(rc == 0);
    char buf[256];
    read_all(r.stdout_fd, buf, sizeof buf);
    /* glibc's posix_spawn leaves its two internal signals (32, 33) ignored; every
     * standard signal (1..31) must be back at its default and nothing blocked. */
    unsigned long long blk = 1, ignored = 1;
    const char *b = strstr(buf, "SigBlk:"), *g = strstr(buf, "SigIgn:");
    CHECK(b && sscanf(b + 7, "%llx", &blk) == 1 && blk == 0);
    CHECK(g && sscanf(g + 7, "%llx", &ignored) == 1 && (ignored & 0x7fffffffull) == 0);
    CHECK(exits_zero(&r));
}

TEST(plat_spawn_own_session) {
    const char *argv[] = {"sleep", "30", NULL};
    plat_spawn_result r;
    REQUIRE(spawn_simple(argv, 0, &r) == 0);
#ifdef __linux__
    /* it leads a session of its own, with no controlling terminal */
    long pgrp = 0, sid = 0, tty = 0;
    CHECK(proc_stat_ids(r.pid, &pgrp, &sid, &tty) == 0);
    CHECK(pgrp == r.pid);
    CHECK(sid == r.pid);
    CHECK(tty == 0);
#endif
    CHECK(getpgid((pid_t)r.pid) == (pid_t)r.pid);
    CHECK(plat_signal_group(r.pid, SIGKILL) == 0);
    CHECK(wait_child(r.pid) == 128 + SIGKILL);
}

TEST(plat_spawn_with_closed_stdin) {
    /* A host with fd 0 closed: pipe2 hands out 0, which must not break the dup2 plan. */
    int saved = fcntl(0, F_DUPFD_CLOEXEC, 10);
    REQUIRE(saved >= 0);
    close(0);
    const char *argv[] = {"cat", NULL};
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.want_stdin = o.want_stdout = 1;
    plat_spawn_result r;
    int rc = plat_spawn(&o, &r);
    if (rc == 0) {
        CHECK(write(r.stdin_fd, "abc", 3) == 3);
        plat_close(r.stdin_fd);
        r.stdin_fd = -1;
        char buf[16];
        read_all(r.stdout_fd, buf, sizeof buf);
        CHECK(strcmp(buf, "abc") == 0);
        CHECK(wait_child(r.pid) == 0);
        close_result(&r);
    }
    dup2(saved, 0);
    close(saved);
    CHECK(rc == 0);
}

/* ---------------------------------------------------------------- signals */

TEST(plat_signal_term_and_kill) {
    static const int sigs[] = {SIGTERM, SIGKILL, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        const char *argv[] = {"sleep", "30", NULL};
        plat_spawn_result r;
        REQUIRE(spawn_simple(argv, 0, &r) == 0);
        CHECK(plat_signal_group(r.pid, sigs[i]) == 0);
        CHECK(wait_child(r.pid) == 128 + sigs[i]);
        CHECK(plat_signal_group(r.pid, SIGTERM) == ESRCH);
    }
    CHECK(plat_signal_group(0, SIGTERM) == EINVAL);
    CHECK(plat_signal_group(1, SIGTERM) == EINVAL);
    CHECK(plat_signal_group(-5, SIGTERM) == EINVAL);
}

TEST(plat_signal_reaches_whole_group) {
    /* The shell's background sleeps hold the stdout pipe; EOF arrives only once the
     * group signal has killed all of them. */
    const char *argv[] = {"sh", "-c", "sleep 30 & sleep 30 & echo started; wait", NULL};
    plat_spawn_result r;
    REQUIRE(spawn_simple(argv, 1, &r) == 0);
    char buf[64];
    ssize_t n = read(r.stdout_fd, buf, sizeof buf - 1);
    CHECK(n == 8);
    uint64_t t0 = plat_now_ms();
    CHECK(plat_signal_group(r.pid, SIGKILL) == 0);
    CHECK(read_all(r.stdout_fd, buf, sizeof buf) == 0);
    CHECK(plat_now_ms() - t0 < 5000);
    CHECK(wait_child(r.pid) == 128 + SIGKILL);
    close_result(&r);
}

TEST(plat_signal_stop_and_continue) {
    exit_log l;
    log_init(&l);
    const char *argv[] = {"sleep", "0.2", NULL};
    plat_spawn_result r;
    REQUIRE(spawn_simple(argv, 0, &r) == 0);
    CHECK(plat_signal_group(r.pid, SIGSTOP) == 0);
    REQUIRE(plat_watch_exit(r.pid, on_exit_cb, &l) == 0);
    /* Stopped: no exit is reported even well after the sleep would have ended. */
    CHECK(log_wait(&l, 1, 700) == 0);
    CHECK(plat_signal_group(r.pid, SIGCONT) == 0);
    CHECK(log_wait(&l, 1, 10000) == 1);
    CHECK(l.pid[0] == r.pid && l.code[0] == 0 && l.sig[0] == 0);
    log_destroy(&l);
}

/* -------------------------------------------------------------------- pty */

TEST(plat_pty_spawn_size_resize_ctty) {
    const char *argv[] = {
        "sh", "-c",
        "stty size; read x; stty size; : </dev/tty && echo ctty-ok; test -t 1 && echo tty-out",
        NULL};
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.use_pty = 1;
    o.want_stdin = o.want_stdout = o.want_stderr = 1;
    o.rows = 33;
    o.cols = 111;
    plat_spawn_result r;
    REQUIRE(plat_spawn(&o, &r) == 0);
    CHECK(r.stdin_fd >= 0 && r.stdout_fd >= 0 && r.pty_fd >= 0 && r.stderr_fd == -1);
    CHECK(r.stdin_fd != r.stdout_fd && r.stdout_fd != r.pty_fd);
    CHECK(is_cloexec(r.stdin_fd) && is_cloexec(r.stdout_fd) && is_cloexec(r.pty_fd));
#ifdef __linux__
    long pgrp = 0, sid = 0, tty = 0;
    CHECK(proc_stat_ids(r.pid, &pgrp, &sid, &tty) == 0);
    CHECK(pgrp == r.pid && sid == r.pid && tty != 0);
#endif
    /* First size line before we resize. */
    char buf[1024];
    read_until(r.stdout_fd, buf, sizeof buf, "\n");
    CHECK(strcmp(buf, "33 111\r\n") == 0);
    CHECK(plat_pty_resize(r.pty_fd, 40, 132) == 0);
    CHECK(write(r.stdin_fd, "go\n", 3) == 3);
    read_all(r.stdout_fd, buf, sizeof buf);
    /* The terminal echoes our input, then the new size and the tty checks. */
    CHECK(strcmp(buf, "go\r\n40 132\r\nctty-ok\r\ntty-out\r\n") == 0);
    CHECK(wait_child(r.pid) == 0);
    CHECK(plat_pty_resize(-1, 1, 1) == EBADF);
    close_result(&r);
}

TEST(plat_pty_resize_sends_sigwinch) {
    const char *argv[] = {
        "sh", "-c", "trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done",
        NULL};
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.use_pty = 1;
    o.want_stdout = 1;
    o.rows = 10;
    o.cols = 20;
    plat_spawn_result r;
    REQUIRE(plat_spawn(&o, &r) == 0);
    CHECK(r.stdin_fd == -1 && r.stdout_fd >= 0);
    char buf[256];
    read_until(r.stdout_fd, buf, sizeof buf, "ready\r\n");
    CHECK(strcmp(buf, "ready\r\n") == 0);
    CHECK(plat_pty_resize(r.pty_fd, 51, 163) == 0);
    CHECK(output_is(r.stdout_fd, "51 163\r\n"));
    CHECK(exits_zero(&r));
}

TEST(plat_pty_group_signal) {
    const char *argv[] = {"sleep", "30", NULL};
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.use_pty = 1;
    plat_spawn_result r;
    REQUIRE(plat_spawn(&o, &r) == 0);
    CHECK(r.stdin_fd == -1 && r.stdout_fd == -1 && r.pty_fd >= 0);
    CHECK(plat_signal_group(r.pid, SIGTERM) == 0);
    CHECK(wait_child(r.pid) == 128 + SIGTERM);
    close_result(&r);
}

struct conc_arg {
    int sleeper; /* 1: keep spawning long-running processes that hold pipes */
    int iterations;
    int failures;
    uint64_t max_eof_ms;
    int64_t pids[64];
    int npids;
};

static void conc_main(void *p) {
    struct conc_arg *a = p;
    for (int i = 0; i < a->iterations; i++) {
        plat_spawn_result r;
        if (a->sleeper) {
            const char *argv[] = {"sleep", "3", NULL};
            plat_spawn_opts o;
            memset(&o, 0, sizeof o);
            o.argv = argv;
            o.want_stdin = o.want_stdout = 1;
            if (plat_spawn(&o, &r) != 0) {
                a->failures++;
                continue;
            }
            close_result(&r);
            if (a->npids < 64) a->pids[a->npids++] = r.pid;
        } else {
            char word[32];
            snprintf(word, sizeof word, "w%d", i);
            const char *argv[] = {"/bin/echo", word, NULL};
            uint64_t t0 = plat_now_ms();
            if (spawn_simple(argv, 1, &r) != 0) {
                a->failures++;
                continue;
            }
            char buf[64], expect[40];
            read_all(r.stdout_fd, buf, sizeof buf);
            uint64_t el = plat_now_ms() - t0;
            if (el > a->max_eof_ms) a->max_eof_ms = el;
            snprintf(expect, sizeof expect, "%s\n", word);
            if (strcmp(buf, expect) != 0) a->failures++;
            if (wait_child(r.pid) != 0) a->failures++;
            close_result(&r);
        }
    }
}

TEST(plat_spawn_concurrent_no_inherited_pipes) {
    /* Readers see EOF as soon as their echo exits: no pipe end leaks into the long
     * sleepers spawned at the same time from other threads. */
    struct conc_arg args[4];
    plat_thread th[4];
    memset(args, 0, sizeof args);
    for (int i = 0; i < 4; i++) {
        args[i].sleeper = i == 3;
        args[i].iterations = i == 3 ? 20 : 30;
        REQUIRE(plat_thread_create(&th[i], conc_main, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) plat_thread_join(&th[i]);
    for (int i = 0; i < 4; i++) CHECK(args[i].failures == 0);
    for (int i = 0; i < 3; i++) CHECK(args[i].max_eof_ms < 2500);
    for (int k = 0; k < args[3].npids; k++) {
        CHECK(plat_signal_group(args[3].pids[k], SIGKILL) == 0);
        CHECK(wait_child(args[3].pids[k]) == 128 + SIGKILL);
    }
}

/* -------------------------------------------------------------- fd leaks */

TEST(plat_spawn_no_fd_leaks) {
    int before = count_fds();
    REQUIRE(before > 0);
    int failures = 0;
    for (int i = 0; i < 200; i++) {
        plat_spawn_opts o;
        memset(&o, 0, sizeof o);
        const char *ok[] = {"/bin/true", NULL};
        const char *missing[] = {"/nonexistent/hcsim", NULL};
        o.argv = (i % 5 == 4) ? missing : ok;
        o.want_stdin = i & 1;
        o.want_stdout = (i >> 1) & 1;
        o.want_stderr = 1;
        o.use_pty = (i % 7 == 3);
        o.rows = 10;
        o.cols = 20;
        plat_spawn_result r;
        int rc = plat_spawn(&o, &r);
        if (i % 5 == 4) {
            if (rc != ENOENT) failures++;
            continue;
        }
        if (rc != 0) {
            failures++;
            continue;
        }
        if (wait_child(r.pid) != 0) failures++;
        close_result(&r);
    }
    CHECK(failures == 0);
    CHECK(count_fds() == before);
}

/* ---------------------------------------------------------------- monitor */

TEST(plat_monitor_100_concurrent) {
    static exit_log l;
    log_init(&l);
    int before = count_fds();
    int64_t pids[100];
    int spawned = 0;
    for (int i = 0; i < 100; i++) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "sleep 0.0%d; exit %d", i % 10, i);
        const char *argv[] = {"sh", "-c", cmd, NULL};
        plat_spawn_result r;
        if (spawn_simple(argv, 0, &r) != 0) continue;
        pids[spawned++] = r.pid;
        CHECK(plat_watch_exit(r.pid, on_exit_cb, &l) == 0);
    }
    REQUIRE(spawned == 100);
    CHECK(log_wait(&l, 100, 30000) == 100);
    plat_sleep_ms(50); /* any duplicate report would land by now */
    CHECK(log_count(&l) == 100);
    for (int i = 0; i < 100; i++) {
        int seen = 0;
        for (int k = 0; k < l.n; k++) {
            if (l.pid[k] == pids[i]) {
                seen++;
                CHECK(l.code[k] == i && l.sig[k] == 0);
                CHECK(l.thread[k] == l.thread[0]);
            }
        }
        CHECK(seen == 1);
        errno = 0;
        CHECK(waitpid((pid_t)pids[i], NULL, WNOHANG) == -1 && errno == ECHILD); /* reaped */
    }
    CHECK(l.thread[0] != plat_thread_id());
    /* The monitor's own descriptors (wake fd) may persist; pidfds must not. */
    int after = count_fds();
    CHECK(after - before <= 1);
    log_destroy(&l);
}

TEST(plat_monitor_signals_and_early_exit) {
    exit_log l;
    log_init(&l);
    /* Exited (zombie) before registration. */
    const char *t[] = {"sh", "-c", "exit 3", NULL};
    plat_spawn_result r;
    REQUIRE(spawn_simple(t, 0, &r) == 0);
    plat_sleep_ms(100);
    REQUIRE(plat_watch_exit(r.pid, on_exit_cb, &l) == 0);
    CHECK(log_wait(&l, 1, 5000) == 1);
    CHECK(l.pid[0] == r.pid && l.code[0] == 3 && l.sig[0] == 0);
    /* Killed by signals. */
    const char *s[] = {"sleep", "30", NULL};
    plat_spawn_result a, b;
    REQUIRE(spawn_simple(s, 0, &a) == 0);
    REQUIRE(spawn_simple(s, 0, &b) == 0);
    REQUIRE(plat_watch_exit(a.pid, on_exit_cb, &l) == 0);
    REQUIRE(plat_watch_exit(b.pid, on_exit_cb, &l) == 0);
    CHECK(plat_watch_exit(a.pid, on_exit_cb, &l) == EEXIST);
    CHECK(plat_signal_group(a.pid, SIGTERM) == 0);
    CHECK(log_wait(&l, 2, 5000) == 2);
    CHECK(l.pid[1] == a.pid && l.code[1] == 128 + SIGTERM && l.sig[1] == SIGTERM);
    CHECK(plat_signal_group(b.pid, SIGKILL) == 0);
    CHECK(log_wait(&l, 3, 5000) == 3);
    CHECK(l.pid[2] == b.pid && l.code[2] == 128 + SIGKILL && l.sig[2] == SIGKILL);
    /* Not our child / invalid. */
    CHECK(plat_watch_exit(1, on_exit_cb, &l) == ECHILD);
    CHECK(plat_watch_exit((int64_t)getppid(), on_exit_cb, &l) == ECHILD);
    CHECK(plat_watch_exit(a.pid, on_exit_cb, &l) == ECHILD); /* already reaped */
    CHECK(plat_watch_exit(0, on_exit_cb, &l) == EINVAL);
    CHECK(plat_watch_exit(-3, on_exit_cb, &l) == EINVAL);
    CHECK(plat_watch_exit(r.pid, NULL, &l) == EINVAL);
    plat_sleep_ms(20);
    CHECK(log_count(&l) == 3);
    log_destroy(&l);
}

TEST(plat_monitor_shutdown_and_restart) {
    exit_log l;
    log_init(&l);
    const char *s[] = {"sleep", "30", NULL};
    plat_spawn_result a;
    REQUIRE(spawn_simple(s, 0, &a) == 0);
    REQUIRE(plat_watch_exit(a.pid, on_exit_cb, &l) == 0);
    plat_monitor_shutdown();
    plat_monitor_shutdown(); /* idempotent */
    /* The dropped watch is never reported; the process is ours to reap again. */
    CHECK(plat_signal_group(a.pid, SIGKILL) == 0);
    CHECK(wait_child(a.pid) == 128 + SIGKILL);
    plat_sleep_ms(20);
    CHECK(log_count(&l) == 0);
    /* A new watch restarts the monitor. */
    for (int round = 0; round < 3; round++) {
        const char *t[] = {"sh", "-c", "exit 9", NULL};
        plat_spawn_result b;
        REQUIRE(spawn_simple(t, 0, &b) == 0);
        REQUIRE(plat_watch_exit(b.pid, on_exit_cb, &l) == 0);
        CHECK(log_wait(&l, round + 1, 5000) == round + 1);
        CHECK(l.pid[round] == b.pid && l.code[round] == 9);
        plat_monitor_shutdown();
    }
    log_destroy(&l);
}

/* A callback that starts and watches another process from the monitor thread. */
struct chain {
    exit_log log;
    int remaining;
};

static void chain_cb(void *ctx, int64_t pid, int code, int sig) {
    struct chain *c = ctx;
    plat_mutex_lock(&c->log.mu);
    int more = --c->remaining > 0;
    plat_mutex_unlock(&c->log.mu);
    if (more) {
        const char *t[] = {"/bin/true", NULL};
        plat_spawn_result r;
        if (spawn_simple(t, 0, &r) == 0) plat_watch_exit(r.pid, chain_cb, c);
    }
    on_exit_cb(&c->log, pid, code, sig); /* last: the test may then free c */
}

TEST(plat_monitor_callback_reenters) {
    static struct chain c;
    log_init(&c.log);
    c.remaining = 5;
    const char *t[] = {"/bin/true", NULL};
    plat_spawn_result r;
    REQUIRE(spawn_simple(t, 0, &r) == 0);
    REQUIRE(plat_watch_exit(r.pid, chain_cb, &c) == 0);
    CHECK(log_wait(&c.log, 5, 10000) == 5);
    log_destroy(&c.log);
}

TEST(plat_monitor_poll_fallback) {
    plat_monitor_shutdown();
    plat_posix_force_poll_for_tests(1);
    exit_log l;
    log_init(&l);
    int64_t pids[20];
    for (int i = 0; i < 20; i++) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "exit %d", 100 + i);
        const char *argv[] = {"sh", "-c", cmd, NULL};
        plat_spawn_result r;
        REQUIRE(spawn_simple(argv, 0, &r) == 0);
        pids[i] = r.pid;
        REQUIRE(plat_watch_exit(r.pid, on_exit_cb, &l) == 0);
    }
    const char *s[] = {"sleep", "30", NULL};
    plat_spawn_result k;
    REQUIRE(spawn_simple(s, 0, &k) == 0);
    CHECK(plat_signal_group(k.pid, SIGSTOP) == 0);
    REQUIRE(plat_watch_exit(k.pid, on_exit_cb, &l) == 0);
    CHECK(log_wait(&l, 20, 10000) == 20);
    plat_sleep_ms(50);
    CHECK(log_count(&l) == 20); /* the stopped one is not reported */
    CHECK(plat_signal_group(k.pid, SIGKILL) == 0);
    CHECK(log_wait(&l, 21, 5000) == 21);
    for (int i = 0; i < 20; i++) {
        int seen = 0;
        for (int j = 0; j < l.n; j++)
            if (l.pid[j] == pids[i]) {
                seen++;
                CHECK(l.code[j] == 100 + i);
            }
        CHECK(seen == 1);
    }
    CHECK(l.pid[20] == k.pid && l.code[20] == 128 + SIGKILL && l.sig[20] == SIGKILL);
    plat_monitor_shutdown();
    plat_posix_force_poll_for_tests(0);
    log_destroy(&l);
}

TEST(plat_monitor_foreign_reap_reported_once) {
    /* Someone else (here: the test) reaps a watched child. Whoever wins the race, the
     * watch is reported exactly once: with the real status when the monitor reaped it,
     * with exit_code -1 when it was gone. Both the pidfd and the polling mode. */
    for (int mode = 0; mode < 2; mode++) {
        plat_monitor_shutdown();
        plat_posix_force_poll_for_tests(mode);
        for (int i = 0; i < 8; i++) {
            exit_log l;
            log_init(&l);
            const char *s[] = {"sleep", "30", NULL};
            plat_spawn_result r;
            REQUIRE(spawn_simple(s, 0, &r) == 0);
            REQUIRE(plat_watch_exit(r.pid, on_exit_cb, &l) == 0);
            CHECK(plat_signal_group(r.pid, SIGKILL) == 0);
            int st = 0;
            pid_t w;
            do w = waitpid((pid_t)r.pid, &st, 0);
            while (w < 0 && errno == EINTR);
            int we = errno;
            CHECK(log_wait(&l, 1, 5000) == 1);
            plat_sleep_ms(15);
            CHECK(log_count(&l) == 1);
            if (w == (pid_t)r.pid) {
                CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
                CHECK(l.code[0] == -1 && l.sig[0] == 0);
            } else {
                CHECK(w == -1 && we == ECHILD);
                CHECK(l.code[0] == 128 + SIGKILL && l.sig[0] == SIGKILL);
            }
            log_destroy(&l);
        }
    }
    plat_monitor_shutdown();
    plat_posix_force_poll_for_tests(0);
}

TEST(plat_monitor_fork_child_starts_clean) {
    exit_log l;
    log_init(&l);
    const char *s[] = {"sleep", "30", NULL};
    plat_spawn_result r;
    REQUIRE(spawn_simple(s, 0, &r) == 0);
    REQUIRE(plat_watch_exit(r.pid, on_exit_cb, &l) == 0);
    size_t nw = 0;
    CHECK(plat_posix_monitor_state_for_tests(&nw) == 1 && nw == 1);
    fflush(NULL);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        /* The forked child has no monitor thread and none of the parent's watches. */
        size_t nw = 99;
        if (plat_posix_monitor_state_for_tests(&nw) != 0 || nw != 0) _exit(1);
        if (plat_watch_exit(r.pid, on_exit_cb, &l) != ECHILD) _exit(2);
#ifndef HCSIM_NO_THREADS_AFTER_FORK
        /* ...and watching its own children works (a fresh monitor thread). */
        exit_log cl;
        log_init(&cl);
        const char *t[] = {"sh", "-c", "exit 5", NULL};
        plat_spawn_result cr;
        if (spawn_simple(t, 0, &cr) != 0) _exit(3);
        if (plat_watch_exit(cr.pid, on_exit_cb, &cl) != 0) _exit(4);
        if (log_wait(&cl, 1, 5000) != 1) _exit(5);
        if (cl.code[0] != 5) _exit(cl.code[0] >= 0 && cl.code[0] < 100 ? 100 + cl.code[0] : 6);
        plat_monitor_shutdown();
#endif
        _exit(0);
    }
    int st = -1, done = 0;
    for (int i = 0; i < 500 && !done; i++) {
        if (waitpid(c, &st, WNOHANG) == c)
            done = 1;
        else
            plat_sleep_ms(10);
    }
    if (!done) {
        kill(c, SIGKILL);
        waitpid(c, &st, 0);
    }
    if (!(done && WIFEXITED(st) && WEXITSTATUS(st) == 0))
        fprintf(stderr, "  forked child: %s, status 0x%x (exit %d, signal %d)\n",
                done ? "ended" : "hung, killed", (unsigned)st, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    CHECK(done && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* The parent's monitor is unaffected. */
    CHECK(plat_signal_group(r.pid, SIGKILL) == 0);
    CHECK(log_wait(&l, 1, 5000) == 1);
    CHECK(l.pid[0] == r.pid && l.code[0] == 128 + SIGKILL);
    log_destroy(&l);
}

/* ------------------------------------------------------ threads and time */

struct thread_probe {
    int all_blocked;
    uint64_t id1, id2;
};

static void probe_main(void *p) {
    struct thread_probe *tp = p;
    sigset_t cur;
    pthread_sigmask(SIG_SETMASK, NULL, &cur);
    tp->all_blocked = sigismember(&cur, SIGINT) == 1 && sigismember(&cur, SIGTERM) == 1 &&
                      sigismember(&cur, SIGCHLD) == 1 && sigismember(&cur, SIGUSR1) == 1 &&
                      sigismember(&cur, SIGALRM) == 1 && sigismember(&cur, SIGPIPE) == 1;
    tp->id1 = plat_thread_id();
    tp->id2 = plat_thread_id();
}

TEST(plat_threads_block_signals_and_have_ids) {
    sigset_t before, after;
    pthread_sigmask(SIG_SETMASK, NULL, &before);
    struct thread_probe tp[8];
    plat_thread th[8];
    memset(tp, 0, sizeof tp);
    for (int i = 0; i < 8; i++) REQUIRE(plat_thread_create(&th[i], probe_main, &tp[i]) == 0);
    for (int i = 0; i < 8; i++) plat_thread_join(&th[i]);
    pthread_sigmask(SIG_SETMASK, NULL, &after);
    /* The caller's mask is restored. */
    CHECK(sigismember(&after, SIGINT) == sigismember(&before, SIGINT));
    CHECK(sigismember(&after, SIGTERM) == sigismember(&before, SIGTERM));
    uint64_t me = plat_thread_id();
    CHECK(me != 0 && me == plat_thread_id());
    for (int i = 0; i < 8; i++) {
        CHECK(tp[i].all_blocked);
        CHECK(tp[i].id1 != 0 && tp[i].id1 == tp[i].id2 && tp[i].id1 != me);
        for (int j = 0; j < i; j++) CHECK(tp[i].id1 != tp[j].id1);
    }
}

/* ------------------------------------------------------------------ files */

TEST(plat_files_round_trip) {
    char dir[] = "/tmp/hcsim-plat-files-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/state.bin", dir);
    CHECK(!plat_file_exists(path));
    char *data = NULL;
    size_t len = 99;
    CHECK(plat_read_file(path, &data, &len) == ENOENT);
    CHECK(data == NULL);

    /* Binary content with NULs, larger than one read. */
    size_t n = 300000;
    unsigned char *src = malloc(n);
    REQUIRE(src);
    for (size_t i = 0; i < n; i++) src[i] = (unsigned char)(i * 31 + (i >> 8));
    mode_t old = umask(022);
    CHECK(plat_write_file(path, src, n) == 0);
    umask(old);
    CHECK(plat_file_exists(path));
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    CHECK(plat_read_file(path, &data, &len) == 0);
    CHECK(len == n && data && memcmp(data, src, n) == 0 && data[n] == '\0');
    free(data);

    /* Truncating overwrite, then an empty file. */
    CHECK(plat_write_file(path, "abc", 3) == 0);
    CHECK(plat_read_file(path, &data, &len) == 0);
    CHECK(len == 3 && strcmp(data, "abc") == 0);
    free(data);
    CHECK(plat_write_file(path, "", 0) == 0);
    CHECK(plat_read_file(path, &data, &len) == 0);
    CHECK(len == 0 && data && data[0] == '\0');
    free(data);

    CHECK(plat_read_file(dir, &data, &len) == EISDIR);
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/file", dir);
    CHECK(plat_write_file(bad, "x", 1) == ENOENT);
    CHECK(plat_remove_file(path) == 0);
    CHECK(!plat_file_exists(path));
    CHECK(plat_remove_file(path) == ENOENT);
#ifdef __linux__
    /* st_size 0 but content present. */
    CHECK(plat_read_file("/proc/self/status", &data, &len) == 0);
    CHECK(len > 0 && strncmp(data, "Name:", 5) == 0 && strlen(data) == len);
    free(data);
#endif
    free(src);
    rmdir(dir);
}

TEST(plat_fd_helpers) {
    int p[2];
    REQUIRE(pipe(p) == 0);
    CHECK(plat_set_nonblocking(p[0], 1) == 0);
    char c;
    errno = 0;
    CHECK(read(p[0], &c, 1) == -1 && (errno == EAGAIN || errno == EWOULDBLOCK));
    CHECK(plat_set_nonblocking(p[0], 0) == 0);
    CHECK((fcntl(p[0], F_GETFL) & O_NONBLOCK) == 0);
    CHECK(plat_close(p[0]) == 0);
    CHECK(plat_close(p[1]) == 0);
    CHECK(plat_close(p[1]) == EBADF);
    CHECK(plat_close(-1) == EBADF);
    CHECK(plat_set_nonblocking(-1, 1) == EBADF);
}

TEST(plat_dup_null_over_and_write_all) {
    int p[2];
    REQUIRE(pipe(p) == 0);
    int d = plat_dup(p[1]);
    REQUIRE(d > 2);
    CHECK(fcntl(d, F_GETFD) & FD_CLOEXEC);
    CHECK(plat_dup(-1) == -1);
    /* a write larger than the pipe buffer completes as the reader drains it */
    enum { N = 200000 };
    char *big = malloc(N);
    REQUIRE(big);
    memset(big, 'a', N);
    const char *argv[] = {"wc", "-c", NULL};
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.want_stdin = o.want_stdout = 1;
    plat_spawn_result r;
    REQUIRE(plat_spawn(&o, &r) == 0);
    CHECK(plat_write_all(r.stdin_fd, big, N) == 0);
    plat_close(r.stdin_fd);
    char count[32];
    read_all(r.stdout_fd, count, sizeof count);
    CHECK(atol(count) == N);
    plat_close(r.stdout_fd);
    CHECK(wait_child(r.pid) == 0);
    free(big);
    /* replacing the only write end by /dev/null: the reader sees EOF, the number stays valid */
    close(p[1]);
    CHECK(plat_write_all(d, "xy", 2) == 0);
    CHECK(plat_null_over(d) == 0);
    CHECK(fcntl(d, F_GETFD) & FD_CLOEXEC);
    CHECK(plat_write_all(d, "zz", 2) == 0); /* /dev/null swallows it */
    char buf[8];
    CHECK(read_all(p[0], buf, sizeof buf) == 2 && !strcmp(buf, "xy"));
    CHECK(plat_write_all(p[0], "x", 1) == EBADF);
    CHECK(plat_null_over(-1) == EBADF);
    close(d);
    close(p[0]);
}

TEST(plat_positional_io_and_regular_files) {
    char path[] = "/tmp/hcsim-plat-pio-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    CHECK(plat_fd_is_regular_file(fd));
    CHECK(plat_pwrite_all(fd, "0123456789", 10, 100) == 0);
    char buf[16] = {0};
    CHECK(plat_pread_all(fd, buf, 4, 103) == 4 && !memcmp(buf, "3456", 4));
    CHECK(plat_pread_all(fd, buf, 16, 106) == 4);             /* short at end of file */
    CHECK(plat_pread_all(fd, buf, 4, 0) == 4 && buf[0] == 0); /* the hole reads as zeros */
    CHECK(plat_pread_all(-1, buf, 4, 0) == -1);
    CHECK(plat_pwrite_all(-1, buf, 4, 0) == EBADF);
    int p[2];
    REQUIRE(pipe(p) == 0);
    CHECK(!plat_fd_is_regular_file(p[0])); /* a pipe */
    int dfd = open("/tmp", O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0 && !plat_fd_is_regular_file(dfd)); /* a directory */
    close(dfd);
    close(p[0]);
    close(p[1]);
    close(fd);
    CHECK(!plat_fd_is_regular_file(fd)); /* closed */
    CHECK(!plat_fd_is_regular_file(-1));
    CHECK(!plat_fd_is_regular_file((intptr_t)1 << 40));
    unlink(path);
}

/* out = printf(fmt, dir) into a PATH_MAX buffer. */
static void join(char *out, const char *fmt, const char *dir) {
    if (snprintf(out, PATH_MAX, fmt, dir) >= PATH_MAX) out[0] = 0;
}

TEST(plat_directory_trees) {
    char root[] = "/tmp/hcsim-plat-tree-XXXXXX";
    REQUIRE(mkdtemp(root) != NULL);
    char a[PATH_MAX], b[PATH_MAX], f[PATH_MAX], link[PATH_MAX], copy[PATH_MAX], got[64];
    join(a, "%s/src/x/y", root);
    CHECK(!plat_is_dir(a));
    CHECK(plat_mkdirs(a) == 0 && plat_is_dir(a));
    CHECK(plat_mkdirs(a) == 0); /* already there */
    join(f, "%s/src/x/file.txt", root);
    CHECK(plat_write_file(f, "hello", 5) == 0);
    CHECK(!plat_is_dir(f) && !plat_is_dir(NULL));
    join(b, "%s/sub", f);
    CHECK(plat_mkdirs(b) == ENOTDIR); /* a file in the way */
    CHECK(plat_mkdirs("") == EINVAL);
    join(link, "%s/src/lnk", root);
    REQUIRE(symlink("x/file.txt", link) == 0);
    /* copy: directories made, files copied, symlinks re-created (not followed) */
    join(a, "%s/src", root);
    join(copy, "%s/dst/deep", root);
    CHECK(plat_copytree(a, copy) == 0);
    join(f, "%s/x/file.txt", copy);
    char *data = NULL;
    size_t len = 0;
    CHECK(plat_read_file(f, &data, &len) == 0 && len == 5 && !strcmp(data, "hello"));
    free(data);
    join(f, "%s/x/y", copy);
    CHECK(plat_is_dir(f));
    join(f, "%s/lnk", copy);
    ssize_t n = readlink(f, got, sizeof got - 1);
    CHECK(n == 10 && !memcmp(got, "x/file.txt", 10));
    join(f, "%s/missing", root);
    CHECK(plat_copytree(f, copy) == ENOENT);
    /* remove: the whole tree, a symlink itself (not its target), errors for missing */
    CHECK(plat_rmtree(link) == 0);
    join(f, "%s/src/x/file.txt", root);
    CHECK(plat_file_exists(f));
    CHECK(plat_rmtree(root) == 0);
    CHECK(!plat_file_exists(root));
    CHECK(plat_rmtree(root) == ENOENT);
}

TEST(plat_environ_is_the_host_environment) {
    REQUIRE(setenv("HCSIM_PLAT_ENV_PROBE", "v1", 1) == 0);
    char *const *env = plat_environ();
    REQUIRE(env != NULL);
    int found = 0;
    for (size_t i = 0; env[i]; i++) found += !strcmp(env[i], "HCSIM_PLAT_ENV_PROBE=v1");
    CHECK(found == 1);
    unsetenv("HCSIM_PLAT_ENV_PROBE");
}

TEST(plat_reap_unwatched_child) {
    const char *exit3[] = {"sh", "-c", "exit 3", NULL}, *sleeper[] = {"sleep", "30", NULL};
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    plat_spawn_result r;
    int code = -1;
    o.argv = exit3;
    REQUIRE(plat_spawn(&o, &r) == 0);
    CHECK(plat_reap(r.pid, &code) == 0 && code == 3);
    CHECK(plat_reap(r.pid, &code) == ECHILD); /* already reaped */
    o.argv = sleeper;
    REQUIRE(plat_spawn(&o, &r) == 0);
    CHECK(plat_signal_group(r.pid, SIGKILL) == 0);
    CHECK(plat_reap(r.pid, NULL) == 0);
    errno = 0;
    CHECK(kill((pid_t)r.pid, 0) == -1 && errno == ESRCH); /* no zombie left */
    CHECK(plat_reap(1, NULL) == ECHILD);                  /* not our child */
    CHECK(plat_reap(0, NULL) == EINVAL && plat_reap(-5, NULL) == EINVAL);
}
