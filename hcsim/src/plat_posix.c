/* hcsim platform layer for POSIX hosts (Linux first; macOS where it is cheap).
 *
 * This code runs inside a host process that owns its signals and its other children
 * (a Python interpreter with asyncio/trio child watchers). It therefore never installs
 * signal handlers, never waits for a child it did not start (no waitpid(-1)), and starts
 * processes with posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK), safe with threads).
 *
 * Exit monitoring: one lazily started monitor thread polls a pidfd per watched process
 * (Linux >= 5.3) plus a wake-up fd; a process whose pidfd could not be opened (ENOSYS,
 * descriptor limits, macOS) is polled with waitpid(pid, WNOHANG) every 5 ms instead.
 *
 * Notes for callers (details the header leaves open):
 * - PATH lookup of argv[0] uses the host's PATH, never the PATH inside opts->envp.
 * - A failed chdir to opts->cwd fails the spawn with chdir's errno (ENOENT/ENOTDIR/EACCES),
 *   like a missing program; check the directory first if the difference matters.
 *   A program that is executable but neither a binary nor a #! script gives ENOEXEC.
 * - With use_pty, stdin_fd/stdout_fd are only created when want_stdin/want_stdout ask for
 *   them (-1 otherwise), want_stderr is ignored (stderr joins the pty). Both are dups of
 *   one open file description, so O_NONBLOCK set on one applies to the other. Once every
 *   slave holder has exited, reads on the master fail with EIO: treat EIO as end of file.
 *   The terminal starts in the kernel's default (cooked, echoing) mode.
 * - If somebody else reaps a watched child (a host waitpid(-1), SIGCHLD set to SIG_IGN),
 *   on_exit still runs once, with exit_code -1 and term_signal 0.
 * - plat_monitor_shutdown must not be called from on_exit (it then does nothing), nor
 *   while holding a lock that an on_exit callback takes (it joins the monitor thread).
 *   on_exit may itself call plat_spawn and plat_watch_exit.
 * - plat_watch_exit: EINVAL for pid <= 0, ECHILD when pid is not an unreaped child of
 *   this process, EEXIST when pid is already watched. */
#ifndef _WIN32 /* plat_win32.c is the Win32 implementation */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "plat.h"
#include "plat_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#endif

#ifdef __APPLE__
#include <crt_externs.h>
#define HCSIM_ENVIRON (*_NSGetEnviron())
#else
extern char **environ;
#define HCSIM_ENVIRON environ
#endif

/* ------------------------------------------------------------------ locks */

int plat_mutex_init(plat_mutex *m) { return pthread_mutex_init(&m->m, NULL); }
void plat_mutex_destroy(plat_mutex *m) { pthread_mutex_destroy(&m->m); }

void plat_mutex_lock(plat_mutex *m) {
    int rc = pthread_mutex_lock(&m->m);
    if (rc != 0) {
        fprintf(stderr, "hcsim: pthread_mutex_lock failed: %s\n", strerror(rc));
        abort();
    }
}

void plat_mutex_unlock(plat_mutex *m) {
    int rc = pthread_mutex_unlock(&m->m);
    if (rc != 0) {
        fprintf(stderr, "hcsim: pthread_mutex_unlock failed: %s\n", strerror(rc));
        abort();
    }
}

int plat_cond_init(plat_cond *c) {
#ifdef __APPLE__
    return pthread_cond_init(&c->c, NULL);
#else
    pthread_condattr_t a;
    int rc = pthread_condattr_init(&a);
    if (rc != 0) return rc;
    rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    if (rc == 0) rc = pthread_cond_init(&c->c, &a);
    pthread_condattr_destroy(&a);
    return rc;
#endif
}

void plat_cond_destroy(plat_cond *c) { pthread_cond_destroy(&c->c); }
void plat_cond_wait(plat_cond *c, plat_mutex *m) { pthread_cond_wait(&c->c, &m->m); }
void plat_cond_signal(plat_cond *c) { pthread_cond_signal(&c->c); }
void plat_cond_broadcast(plat_cond *c) { pthread_cond_broadcast(&c->c); }

int plat_cond_timedwait(plat_cond *c, plat_mutex *m, uint32_t timeout_ms) {
    int rc;
#ifdef __APPLE__
    struct timespec rel = {(time_t)(timeout_ms / 1000u), (long)(timeout_ms % 1000u) * 1000000L};
    rc = pthread_cond_timedwait_relative_np(&c->c, &m->m, &rel);
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000u);
    ts.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000L;
    }
    rc = pthread_cond_timedwait(&c->c, &m->m, &ts);
#endif
    return rc == ETIMEDOUT ? ETIMEDOUT : 0;
}

/* ---------------------------------------------------------------- threads */

struct thread_start {
    void (*fn)(void *arg);
    void *arg;
};

static void *thread_trampoline(void *p) {
    struct thread_start s = *(struct thread_start *)p;
    free(p);
    s.fn(s.arg);
    return NULL;
}

int plat_thread_create(plat_thread *t, void (*fn)(void *arg), void *arg) {
    struct thread_start *s = malloc(sizeof *s);
    if (!s) return ENOMEM;
    s->fn = fn;
    s->arg = arg;
    /* The new thread inherits the creator's mask: block everything around the
     * creation so that it starts with all signals blocked, then restore ours. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t->t, NULL, thread_trampoline, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) free(s);
    return rc;
}

void plat_thread_join(plat_thread *t) { pthread_join(t->t, NULL); }

static atomic_uint_fast64_t g_next_thread_id = 1;
static _Thread_local uint64_t t_thread_id;

uint64_t plat_thread_id(void) {
    if (t_thread_id == 0) t_thread_id = (uint64_t)atomic_fetch_add(&g_next_thread_id, 1);
    return t_thread_id;
}

/* ------------------------------------------------------------------- time */

uint64_t plat_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t plat_now_ms(void) { return plat_now_ns() / 1000000u; }

void plat_sleep_ms(uint32_t ms) {
    struct timespec req = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L}, rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
}

/* -------------------------------------------------------------- processes */

#ifndef __linux__
static int set_cloexec(int fd) {
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) return errno;
    return 0;
}
#endif

static int make_pipe(int p[2]) {
#ifdef __linux__
    if (pipe2(p, O_CLOEXEC) != 0) return errno;
#else
    if (pipe(p) != 0) return errno;
    if (set_cloexec(p[0]) != 0 || set_cloexec(p[1]) != 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        p[0] = p[1] = -1;
        return e;
    }
#endif
    return 0;
}

/* Moves a child-side descriptor above 0..2 so that the dup2 file actions onto 0, 1, 2
 * never overwrite a source still needed (the host may have closed its std streams). */
static int move_above_std(int *fd) {
    if (*fd > 2) return 0;
    int n = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (n < 0) return errno;
    close(*fd);
    *fd = n;
    return 0;
}

static void close_fd(int *fd) {
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static int is_executable_file(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return errno;
    if (!S_ISREG(st.st_mode)) return EACCES;
    if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) != 0) return errno;
    return 0;
}

/* argv[0] with a '/' is used as it is (a relative one is resolved by exec, after the
 * chdir to opts->cwd). Otherwise it is looked up in the HOST's PATH (getenv("PATH") of
 * this process, not the PATH in opts->envp), skipping empty entries; unset PATH means
 * "/usr/local/bin:/usr/bin:/bin". Relative PATH entries are taken relative to this
 * process's working directory and the result made absolute (so opts->cwd cannot change
 * what was found). ENOENT when nothing matches, EACCES when only non-executable
 * candidates were found. */
static int resolve_program(const char *name, char **out) {
    *out = NULL;
    if (name[0] == '\0') return ENOENT;
    if (strchr(name, '/')) {
        *out = strdup(name);
        return *out ? 0 : ENOMEM;
    }
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    size_t nlen = strlen(name);
    int err = ENOENT;
    const char *p = path;
    for (;;) {
        const char *end = strchr(p, ':');
        size_t dlen = end ? (size_t)(end - p) : strlen(p);
        if (dlen > 0) {
            char *cand = malloc(dlen + 1 + nlen + 1);
            if (!cand) return ENOMEM;
            memcpy(cand, p, dlen);
            cand[dlen] = '/';
            memcpy(cand + dlen + 1, name, nlen + 1);
            int e = is_executable_file(cand);
            if (e == 0 && cand[0] != '/') {
                char *abs = realpath(cand, NULL);
                free(cand);
                if (!abs) return errno == ENOMEM ? ENOMEM : ENOENT;
                cand = abs;
            }
            if (e == 0) {
                *out = cand;
                return 0;
            }
            free(cand);
            if (e == EACCES || e == EPERM) err = EACCES;
        }
        if (!end) break;
        p = end + 1;
    }
    return err;
}

static int open_pty_master(int *master, char *slave, size_t slave_len) {
    *master = -1;
#ifdef __linux__
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
#else
    int m = posix_openpt(O_RDWR | O_NOCTTY);
#endif
    if (m < 0) return errno;
    int e = 0;
#ifndef __linux__
    e = set_cloexec(m);
#endif
    if (e == 0 && grantpt(m) != 0) e = errno;
    if (e == 0 && unlockpt(m) != 0) e = errno;
#if defined(__GLIBC__)
    if (e == 0) e = ptsname_r(m, slave, slave_len);
#else
    if (e == 0) {
        static pthread_mutex_t ptsname_mu = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&ptsname_mu);
        const char *n = ptsname(m);
        if (!n)
            e = errno ? errno : ENOTTY;
        else if (strlen(n) >= slave_len)
            e = ERANGE;
        else
            memcpy(slave, n, strlen(n) + 1);
        pthread_mutex_unlock(&ptsname_mu);
    }
#endif
    if (e != 0) {
        close(m);
        return e;
    }
    *master = m;
    return 0;
}

int plat_pty_resize(int pty_fd, uint16_t rows, uint16_t cols) {
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    ws.ws_row = rows;
    ws.ws_col = cols;
    if (ioctl(pty_fd, TIOCSWINSZ, &ws) != 0) return errno;
    return 0;
}

int plat_spawn(const plat_spawn_opts *o, plat_spawn_result *out) {
    if (!out) return EINVAL;
    out->pid = -1;
    out->stdin_fd = out->stdout_fd = out->stderr_fd = out->pty_fd = -1;
    if (!o || !o->argv || !o->argv[0]) return EINVAL;

    char *path = NULL;
    int rc = resolve_program(o->argv[0], &path);
    if (rc != 0) return rc;

    /* [s][0] = parent end, [s][1] = child end */
    int ends[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    int master = -1, pin = -1, pout = -1;
    char slave[128];
    int fa_ok = 0, at_ok = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    const int want[3] = {o->want_stdin, o->want_stdout, o->want_stderr};

    if (o->use_pty) {
#ifndef POSIX_SPAWN_SETSID
        rc = ENOTSUP;
        goto done;
#endif
        rc = open_pty_master(&master, slave, sizeof slave);
        if (rc != 0) goto done;
        if (o->rows || o->cols) {
            rc = plat_pty_resize(master, o->rows, o->cols);
            if (rc != 0) goto done;
        }
        if (o->want_stdin && (pin = plat_dup(master)) < 0) {
            rc = errno;
            goto done;
        }
        if (o->want_stdout && (pout = plat_dup(master)) < 0) {
            rc = errno;
            goto done;
        }
    } else {
        for (int s = 0; s < 3; s++) {
            if (!want[s]) continue;
            int p[2];
            if ((rc = make_pipe(p)) != 0) goto done;
            ends[s][0] = s == 0 ? p[1] : p[0];
            ends[s][1] = s == 0 ? p[0] : p[1];
            if ((rc = move_above_std(&ends[s][1])) != 0) goto done;
        }
    }

    if ((rc = posix_spawn_file_actions_init(&fa)) != 0) goto done;
    fa_ok = 1;
    if ((rc = posix_spawnattr_init(&at)) != 0) goto done;
    at_ok = 1;

    if (o->cwd) {
#if defined(__GLIBC__) || defined(__APPLE__)
        if ((rc = posix_spawn_file_actions_addchdir_np(&fa, o->cwd)) != 0) goto done;
#else
        rc = ENOTSUP;
        goto done;
#endif
    }

    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (o->use_pty) {
#ifdef POSIX_SPAWN_SETSID
        /* setsid() runs before the file actions: opening the slave without O_NOCTTY
         * then makes it the controlling terminal (Linux). A session leader is also
         * its own process group leader (setpgid would fail with EPERM). */
        flags |= POSIX_SPAWN_SETSID;
#endif
        if ((rc = posix_spawn_file_actions_addopen(&fa, 0, slave, O_RDWR, 0)) != 0) goto done;
        if ((rc = posix_spawn_file_actions_adddup2(&fa, 0, 1)) != 0) goto done;
        if ((rc = posix_spawn_file_actions_adddup2(&fa, 0, 2)) != 0) goto done;
    } else {
#ifdef POSIX_SPAWN_SETSID
        /* A session of its own (like a job object): its descendants keep the session id
         * even when they start process groups of their own (job-control shells). */
        flags |= POSIX_SPAWN_SETSID;
#else
        flags |= POSIX_SPAWN_SETPGROUP;
        if ((rc = posix_spawnattr_setpgroup(&at, 0)) != 0) goto done;
#endif
        for (int s = 0; s < 3; s++) {
            if (want[s])
                rc = posix_spawn_file_actions_adddup2(&fa, ends[s][1], s);
            else
                rc = posix_spawn_file_actions_addopen(&fa, s, "/dev/null",
                                                      s == 0 ? O_RDONLY : O_WRONLY, 0);
            if (rc != 0) goto done;
        }
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);         /* glibc leaves out its internal signals (32, 33) by itself */
    sigdelset(&all, SIGKILL); /* cannot be caught anyway; some systems reject them */
    sigdelset(&all, SIGSTOP);
    if ((rc = posix_spawnattr_setsigmask(&at, &none)) != 0) goto done;
    if ((rc = posix_spawnattr_setsigdefault(&at, &all)) != 0) goto done;
    if ((rc = posix_spawnattr_setflags(&at, flags)) != 0) goto done;

    pid_t pid;
    /* glibc >= 2.24 reports a failed exec (and failed file actions) as the return
     * value; there is no "exit 127" child to reap in that case. */
    rc = posix_spawn(&pid, path, &fa, &at, (char *const *)o->argv,
                     o->envp ? (char *const *)o->envp : HCSIM_ENVIRON);
    if (rc != 0) goto done;

    out->pid = pid;
    if (o->use_pty) {
        out->stdin_fd = pin;
        out->stdout_fd = pout;
        out->pty_fd = master;
        pin = pout = master = -1;
    } else {
        out->stdin_fd = ends[0][0];
        out->stdout_fd = ends[1][0];
        out->stderr_fd = ends[2][0];
        ends[0][0] = ends[1][0] = ends[2][0] = -1;
    }

done:
    if (fa_ok) posix_spawn_file_actions_destroy(&fa);
    if (at_ok) posix_spawnattr_destroy(&at);
    for (int s = 0; s < 3; s++) {
        close_fd(&ends[s][0]);
        close_fd(&ends[s][1]);
    }
    close_fd(&master);
    close_fd(&pin);
    close_fd(&pout);
    free(path);
    return rc;
}

int plat_signal_group(int64_t pid, int sig) {
    /* pid 0/1/negative would address our own group or every process: refuse. */
    if (pid <= 1 || pid > INT_MAX) return EINVAL;
    if (kill(-(pid_t)pid, sig) != 0) return errno;
    return 0;
}

int plat_group_gone(int64_t pgid) {
    if (pgid <= 1 || pgid > INT_MAX) return 1;
    return kill(-(pid_t)pgid, 0) != 0 && errno == ESRCH;
}

int plat_pid_exists(int64_t pid) {
    if (pid <= 0 || pid > INT_MAX) return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* ----------------------------------------------------------- process trees */

#ifdef __linux__
static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct proc_row {
    pid_t pid, ppid, sid;
    char state;
    int mark;
} proc_row;

/* One walk of /proc: rows[0..n) of capacity cap. */
typedef struct proc_scan {
    proc_row *rows;
    size_t n, cap;
} proc_scan;

static void scan_swap(proc_scan *a, proc_scan *b) {
    proc_scan t = *a;
    *a = *b;
    *b = t;
}

static int all_digits(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* "/proc/<pid>/stat" into buf (32 bytes suffice), without stdio. */
static void stat_path(char *buf, pid_t pid) {
    char digits[16];
    int nd = 0;
    unsigned v = (unsigned)pid;
    do {
        digits[nd++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    memcpy(buf, "/proc/", 6);
    size_t o = 6;
    while (nd) buf[o++] = digits[--nd];
    memcpy(buf + o, "/stat", 6);
}

typedef struct proc_stat {
    char state;
    pid_t ppid, sid;
    uint64_t start; /* field 22: start time in clock ticks after boot */
} proc_stat;

/* The next blank-separated field at *p as a number (a leading '-' gives 0); advances
 * *p. 0 when there is none. */
static int next_field(const char **p, uint64_t *out) {
    const char *q = *p;
    while (*q == ' ') q++;
    if (!*q || *q == '\n') return 0;
    int neg = *q == '-';
    if (neg) q++;
    uint64_t v = 0;
    while (*q >= '0' && *q <= '9') v = v * 10u + (uint64_t)(*q++ - '0');
    while (*q && *q != ' ' && *q != '\n') q++;
    *p = q;
    *out = neg ? 0 : v;
    return 1;
}

/* pid's fields from /proc/<pid>/stat ("pid (comm) S ppid pgrp session ... starttime ...";
 * comm may hold anything, so parse after its last ')'). Only the absence of the process
 * counts as "gone": 1 when read (any state, zombies included), 0 when there is no such
 * process (ENOENT/ESRCH, or nothing to read), -1 with errno set for any other failure
 * (EMFILE, ENFILE, ENOMEM, EACCES, ...). No stdio, no allocation. */
static int stat_fields(pid_t pid, proc_stat *st) {
    char path[32], buf[1024];
    stat_path(path, pid);
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno == ENOENT || errno == ESRCH ? 0 : -1;
    ssize_t n;
    do n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (n < 0) {
        if (e == ESRCH || e == ENOENT) return 0;
        errno = e;
        return -1;
    }
    if (n == 0) return 0;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    if (!p) {
        errno = EIO;
        return -1;
    }
    p++;
    while (*p == ' ') p++;
    if (!*p) {
        errno = EIO;
        return -1;
    }
    st->state = *p++;
    uint64_t v = 0;
    for (int field = 4; field <= 22; field++) {
        if (!next_field(&p, &v)) {
            errno = EIO;
            return -1;
        }
        if (field == 4)
            st->ppid = (pid_t)v;
        else if (field == 6)
            st->sid = (pid_t)v;
    }
    st->start = v;
    return 1;
}

/* As stat_fields, but a zombie (or a dying process) counts as gone (0). */
static int read_live(pid_t pid, proc_stat *st) {
    int r = stat_fields(pid, st);
    if (r == 1 && (st->state == 'Z' || st->state == 'X' || st->state == 'x')) return 0;
    return r;
}

static int cmp_row_pid(const void *a, const void *b) {
    pid_t x = ((const proc_row *)a)->pid, y = ((const proc_row *)b)->pid;
    return x < y ? -1 : x > y;
}

static proc_row *find_row(proc_row *rows, size_t n, pid_t pid) {
    proc_row key = {pid, 0, 0, 0, 0};
    return bsearch(&key, rows, n, sizeof *rows, cmp_row_pid);
}

/* Tests: the nth walk of /proc from now fails with err (see plat_posix_fail_scan_for_tests). */
static atomic_int g_scan_fail_in, g_scan_fail_err;

/* One walk of /proc: every live process, sorted by pid, marked when it belongs to one of
 * the sessions sorted[0..n) or descends from a marked process (parent links followed up
 * to 64 levels). 0, or errno when the walk failed (s->n is then meaningless): a process
 * that could not be read for another reason than its absence fails the whole walk. */
static int scan_marked(const int64_t *sorted, size_t n, proc_scan *s) {
    if (atomic_load(&g_scan_fail_in) > 0 && atomic_fetch_sub(&g_scan_fail_in, 1) == 1)
        return atomic_load(&g_scan_fail_err);
    DIR *d = opendir("/proc");
    if (!d) return errno ? errno : EIO;
    s->n = 0;
    int err = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            err = errno;
            break;
        }
        if (!all_digits(e->d_name)) continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        proc_stat st;
        int r = read_live(pid, &st);
        if (r < 0) {
            err = errno ? errno : EIO;
            break;
        }
        if (r == 0) continue;
        if (s->n == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 512;
            proc_row *nr = realloc(s->rows, nc * sizeof *nr);
            if (!nr) {
                err = ENOMEM;
                break;
            }
            s->rows = nr;
            s->cap = nc;
        }
        int64_t key = st.sid;
        int mark = bsearch(&key, sorted, n, sizeof *sorted, cmp_i64) != NULL;
        s->rows[s->n++] = (proc_row){pid, st.ppid, st.sid, st.state, mark};
    }
    closedir(d);
    if (err) return err;
    qsort(s->rows, s->n, sizeof *s->rows, cmp_row_pid);
    for (size_t i = 0; i < s->n; i++) {
        if (s->rows[i].mark) continue;
        pid_t up = s->rows[i].ppid;
        for (int depth = 0; depth < 64 && up > 1; depth++) {
            proc_row *r = find_row(s->rows, s->n, up);
            if (!r) break;
            if (r->mark) {
                s->rows[i].mark = 1;
                break;
            }
            up = r->ppid;
        }
    }
    return 0;
}

/* Not in plat.h: the nth walk of /proc from now (1 = the next) fails with err; 0 disarms. */
void plat_posix_fail_scan_for_tests(int nth, int err);
void plat_posix_fail_scan_for_tests(int nth, int err) {
    atomic_store(&g_scan_fail_err, err);
    atomic_store(&g_scan_fail_in, nth);
}

/* The start time of process pid (clock ticks after boot), 0 when it cannot be read. */
static uint64_t start_time(int64_t pid) {
    proc_stat st;
    if (pid <= 0 || pid > INT_MAX || stat_fields((pid_t)pid, &st) != 1) return 0;
    return st.start;
}
#else
static uint64_t start_time(int64_t pid) {
    (void)pid;
    return 0;
}
#endif

/* Not in plat.h: start_time for tests. */
uint64_t plat_posix_start_time_for_tests(int64_t pid);
uint64_t plat_posix_start_time_for_tests(int64_t pid) { return start_time(pid); }

int plat_kill_sessions(const int64_t *sids, size_t n) {
    if (n == 0) return 0;
    int rc = 0;
#ifdef __linux__
    int64_t *sorted = malloc(n * sizeof *sorted);
    proc_scan good = {NULL, 0, 0}, cur = {NULL, 0, 0}; /* good: the last walk that worked */
    pid_t self = getpid();
    if (!sorted) {
        rc = ENOMEM;
        goto groups;
    }
    memcpy(sorted, sids, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_i64);
    /* 1. Freeze: SIGSTOP everything found until a pass finds nothing running. Stopped
     *    processes neither exit nor fork, so the parent links stay intact and a child
     *    that left the session (setsid) is still found through its parent. */
    for (size_t i = 0; i < n; i++) plat_signal_group(sids[i], SIGSTOP);
    for (int pass = 0; pass < 100; pass++) {
        if ((rc = scan_marked(sorted, n, &cur)) != 0) goto failed;
        scan_swap(&good, &cur);
        size_t running = 0;
        for (size_t i = 0; i < good.n; i++) {
            const proc_row *r = &good.rows[i];
            if (!r->mark || r->pid == self || r->pid <= 1) continue;
            if (r->state == 'T' || r->state == 't') continue;
            running++;
            kill(r->pid, SIGSTOP);
        }
        if (running == 0) break;
        if (pass > 0) plat_sleep_ms(pass < 10 ? 1 : 5);
    }
    /* 2. Kill: SIGKILL everything found until a pass finds nothing alive (a killed
     *    process counts as alive here until the kernel has finished it). Bounded. */
    for (int pass = 0; pass < 200; pass++) {
        if (pass > 0) {
            if ((rc = scan_marked(sorted, n, &cur)) != 0) goto failed;
            scan_swap(&good, &cur);
        }
        size_t alive = 0;
        for (size_t i = 0; i < good.n; i++) {
            const proc_row *r = &good.rows[i];
            if (!r->mark || r->pid == self || r->pid <= 1) continue;
            alive++;
            kill(r->pid, SIGKILL);
        }
        if (alive == 0) break;
        if (pass > 0) plat_sleep_ms(pass < 10 ? 1 : 10);
    }
    goto groups;
failed:
    /* A walk failed: nothing may stay stopped. What the last good walk found is ours
     * (stopped processes cannot have exited and freed their pids): kill it. */
    for (size_t i = 0; i < good.n; i++) {
        const proc_row *r = &good.rows[i];
        if (!r->mark || r->pid == self || r->pid <= 1) continue;
        kill(r->pid, SIGKILL);
        kill(r->pid, SIGCONT);
    }
groups:
    free(good.rows);
    free(cur.rows);
    free(sorted);
#endif
    /* the groups pgid == sid (everything there is where /proc is not available) */
    for (size_t i = 0; i < n; i++) {
        plat_signal_group(sids[i], SIGKILL);
        plat_signal_group(sids[i], SIGCONT);
    }
    return rc;
}

int plat_sessions_alive(const int64_t *sids, size_t n, unsigned char *alive) {
    for (size_t i = 0; i < n; i++) alive[i] = !plat_group_gone(sids[i]);
    int rc = 0;
#ifdef __linux__
    if (n == 0) return 0;
    int64_t *sorted = malloc(n * sizeof *sorted);
    unsigned char *seen = calloc(n, 1);
    proc_scan scan = {NULL, 0, 0};
    if (!sorted || !seen) {
        rc = ENOMEM;
    } else {
        memcpy(sorted, sids, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_i64);
        if ((rc = scan_marked(sorted, 0, &scan)) == 0) {
            for (size_t i = 0; i < scan.n; i++) {
                int64_t key = scan.rows[i].sid;
                const int64_t *hit = bsearch(&key, sorted, n, sizeof *sorted, cmp_i64);
                if (hit) seen[hit - sorted] = 1;
            }
            for (size_t i = 0; i < n; i++) {
                const int64_t *hit = bsearch(&sids[i], sorted, n, sizeof *sorted, cmp_i64);
                alive[i] = hit && seen[hit - sorted];
            }
        }
    }
    if (rc != 0) /* nothing is known: everything may still hold processes */
        for (size_t i = 0; i < n; i++) alive[i] = 1;
    free(scan.rows);
    free(seen);
    free(sorted);
#endif
    return rc;
}

/* ------------------------------------------------------------------ guard */

/* A registered session and its leader's start time (0: unknown), by which the guard
 * recognises a session id that a new process has taken over. */
typedef struct guard_entry {
    int64_t sid;
    uint64_t start;
} guard_entry;

typedef struct guard_msg {
    int32_t op; /* 1: add, 2: forget */
    int32_t pad;
    int64_t sid;
    uint64_t start;
} guard_msg;

static pthread_once_t g_atfork_once;
static void register_atfork(void);
static pthread_mutex_t g_guard_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_guard_fd = -1;     /* our end of the socket; only this process holds it */
static int g_guard_new_fd = -1; /* that end while the guard is being forked */
static pid_t g_guard_pid = -1;
static guard_entry *g_guard_sids; /* what the guard holds (to re-register after a restart) */
static size_t g_guard_n, g_guard_cap;
/* Stopped guards not reaped yet: a stop never waits (its callers may hold the emulator's
 * lock, and a guard whose socket was closed first kills what it holds); later guard
 * calls reap them without waiting. */
#define GUARD_UNREAPED 8
static pid_t g_guard_unreaped[GUARD_UNREAPED];
static size_t g_guard_nunreaped;

/* Closes every descriptor from lo up (the guard must hold nothing of its host: no pipe
 * end of a guest, no socket). */
static void close_from(int lo) {
#if defined(__linux__) && defined(SYS_close_range)
    if (syscall(SYS_close_range, (unsigned)lo, ~0u, 0u) == 0) return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 1 << 20) max = 1 << 20;
    for (int fd = lo; fd < max; fd++) close(fd);
}

/* Adds (a known sid gets the new start time: its pid was reused) or removes sid. */
static void guard_set(guard_entry **v, size_t *n, size_t *cap, int64_t sid, uint64_t start,
                      int add) {
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].sid == sid) {
            if (add)
                (*v)[i].start = start;
            else
                (*v)[i] = (*v)[--*n];
            return;
        }
    if (!add) return;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        guard_entry *nv = realloc(*v, nc * sizeof *nv);
        if (!nv) return;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = (guard_entry){sid, start};
}

#ifndef NSIG
#define NSIG 65 /* (only bounds a loop over signal numbers) */
#endif

/* The guard process: forked from the host, it never returns.
 *
 * It is forked from a multi-threaded host and does not exec, so strictly only
 * async-signal-safe functions would be allowed here. It uses more: malloc/realloc/free,
 * opendir/readdir, qsort and bsearch (the registry and the /proc walk of
 * plat_kill_sessions). That relies on the C library leaving them usable in the child of
 * fork(): glibc and musl reset their allocator locks at fork (and opendir only
 * allocates). It takes no lock of the host's own (g_guard_mu and the emulator's lock are
 * never touched here) and runs none of the host's code (no Python). */
static void guard_main(int fd) {
    setsid(); /* out of the host's process group and terminal: a Ctrl-C there spares it */
    if (chdir("/") != 0) { /* hold no directory of the host (a mount stays unmountable) */
    }
    /* No handler of the host may run here (they would touch the host's state, e.g. a
     * Python wake-up descriptor whose number is now something else): defaults, and the
     * terminal's signals ignored. */
    struct sigaction dfl, ign;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    ign = dfl;
    ign.sa_handler = SIG_IGN;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* EINVAL for some: fine */
    static const int ignored[] = {SIGINT, SIGQUIT, SIGHUP, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) sigaction(ignored[i], &ign, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the forking worker thread blocked them all */
    if (fd != 3) {
        dup2(fd, 3);
        fd = 3;
    }
    close_from(4);
    int null = open("/dev/null", O_RDWR);
    for (int i = 0; i < 3 && null >= 0; i++)
        if (null != i) dup2(null, i);
    if (null > 3) close(null);
#ifdef __linux__
    prctl(PR_SET_NAME, "hcsim-guard", 0, 0, 0);
#endif
    guard_entry *reg = NULL;
    size_t n = 0, cap = 0;
    guard_msg m;
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, (char *)&m + got, sizeof m - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break; /* end of file: the host is gone (or the socket failed) */
        got += (size_t)r;
        if (got < sizeof m) continue;
        got = 0;
        guard_set(&reg, &n, &cap, m.sid, m.start, m.op == 1);
    }
    /* Only sessions that are still ours: a session id whose pid now names a process
     * that started at another time than the leader we registered was taken over by an
     * unrelated session after ours emptied (its leader exited, the pid was reused).
     * Where the start time is unknown (0) the session is kept. */
    int64_t *sids = malloc((n ? n : 1) * sizeof *sids);
    size_t k = 0;
    for (size_t i = 0; sids && i < n; i++) {
        uint64_t now = reg[i].start ? start_time(reg[i].sid) : 0;
        if (now != 0 && now != reg[i].start) continue;
        sids[k++] = reg[i].sid;
    }
    if (!sids) { /* out of memory: the process groups at least */
        for (size_t i = 0; i < n; i++) {
            plat_signal_group(reg[i].sid, SIGKILL);
            plat_signal_group(reg[i].sid, SIGCONT);
        }
        _exit(1);
    }
    /* a failed walk (e.g. ENFILE) is retried for a while: nothing else will do it */
    for (int attempt = 0; attempt < 50 && plat_kill_sessions(sids, k) != 0; attempt++)
        plat_sleep_ms(100);
    _exit(0);
}

static int guard_send(int32_t op, int64_t sid, uint64_t start) { /* under g_guard_mu; 0 or errno */
    guard_msg m = {op, 0, sid, start};
    const char *p = (const char *)&m;
    size_t left = sizeof m;
    while (left) {
#ifdef MSG_NOSIGNAL
        ssize_t w = send(g_guard_fd, p, left, MSG_NOSIGNAL);
#else
        ssize_t w = send(g_guard_fd, p, left, 0); /* SO_NOSIGPIPE is set */
#endif
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += w;
        left -= (size_t)w;
    }
    return 0;
}

/* Reaps stopped guards that have exited, without waiting. Under g_guard_mu. */
static void guard_reap_stopped_locked(void) {
    for (size_t i = 0; i < g_guard_nunreaped;) {
        int st;
        pid_t r;
        do r = waitpid(g_guard_unreaped[i], &st, WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r == 0) {
            i++;
            continue;
        }
        g_guard_unreaped[i] = g_guard_unreaped[--g_guard_nunreaped]; /* reaped, or not ours */
    }
}

/* Closes our end (the guard, if it still runs, kills what it holds and exits) and leaves
 * the reaping to later calls: never waits. Under g_guard_mu. */
static void guard_stop_locked(void) {
    if (g_guard_fd >= 0) close(g_guard_fd);
    g_guard_fd = -1;
    if (g_guard_pid > 0) {
        guard_reap_stopped_locked();
        /* (with the list full, which takes 8 guards that outlive their stop at once,
         * this one stays a zombie until the host exits) */
        if (g_guard_nunreaped < GUARD_UNREAPED) g_guard_unreaped[g_guard_nunreaped++] = g_guard_pid;
        guard_reap_stopped_locked();
    }
    g_guard_pid = -1;
}

static int guard_start_locked(void) {
    int sv[2];
#ifdef SOCK_CLOEXEC
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return errno;
#else
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return errno;
    if (set_cloexec(sv[0]) != 0 || set_cloexec(sv[1]) != 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        return e;
    }
#endif
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(sv[0], SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    /* a fork() of the host on another thread meanwhile closes this end in its child */
    g_guard_new_fd = sv[0];
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        g_guard_new_fd = -1;
        close(sv[0]);
        close(sv[1]);
        return e;
    }
    if (pid == 0) { guard_main(sv[1]); /* closes everything else, sv[0] included */ }
    g_guard_new_fd = -1;
    close(sv[1]);
    g_guard_fd = sv[0];
    g_guard_pid = pid;
    for (size_t i = 0; i < g_guard_n; i++) {
        int e = guard_send(1, g_guard_sids[i].sid, g_guard_sids[i].start);
        if (e != 0) {
            guard_stop_locked();
            return e;
        }
    }
    return 0;
}

/* Not in plat.h: the guard's pid (-1 when none runs), for tests. */
int64_t plat_posix_guard_pid_for_tests(void);
int64_t plat_posix_guard_pid_for_tests(void) {
    pthread_mutex_lock(&g_guard_mu);
    int64_t pid = g_guard_pid;
    pthread_mutex_unlock(&g_guard_mu);
    return pid;
}

/* Not in plat.h: what the host's death looks like to the guard (our end closes); waits
 * for the guard to exit and reaps it. Its exit status (or -1 when none ran), for tests.
 * The next plat_guard_add starts a new guard. */
int plat_posix_guard_stop_for_tests(void);
int plat_posix_guard_stop_for_tests(void) {
    pthread_mutex_lock(&g_guard_mu);
    pid_t pid = g_guard_pid;
    if (g_guard_fd >= 0) close(g_guard_fd);
    g_guard_fd = -1;
    g_guard_pid = -1;
    pthread_mutex_unlock(&g_guard_mu);
    int st = 0;
    if (pid <= 0) return -1;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    return st;
}

/* Not in plat.h: stops the guard as a failed send does (tests). */
void plat_posix_guard_drop_for_tests(void);
void plat_posix_guard_drop_for_tests(void) {
    pthread_mutex_lock(&g_guard_mu);
    guard_stop_locked();
    pthread_mutex_unlock(&g_guard_mu);
}

static int guard_add(int64_t sid, uint64_t start) {
    if (sid <= 1 || sid > INT_MAX) return EINVAL;
    pthread_once(&g_atfork_once, register_atfork);
    pthread_mutex_lock(&g_guard_mu);
    guard_reap_stopped_locked();
    size_t before = g_guard_n;
    guard_set(&g_guard_sids, &g_guard_n, &g_guard_cap, sid, start, 1);
    int rc = 0;
    if (g_guard_n == before) { /* known already (updated), or out of memory */
        rc = ENOMEM;
        for (size_t i = 0; i < g_guard_n; i++)
            if (g_guard_sids[i].sid == sid) rc = 0;
    }
    if (rc == 0 && g_guard_fd < 0) {
        rc = guard_start_locked(); /* registers everything, sid included */
    } else if (rc == 0 && (rc = guard_send(1, sid, start)) != 0) {
        /* the guard died (EPIPE/ECONNRESET): reap it and start a new one */
        guard_stop_locked();
        rc = guard_start_locked();
    }
    if (rc != 0) guard_set(&g_guard_sids, &g_guard_n, &g_guard_cap, sid, 0, 0);
    pthread_mutex_unlock(&g_guard_mu);
    return rc;
}

int plat_guard_add(int64_t sid) { return guard_add(sid, start_time(sid)); }

/* Not in plat.h: registers sid as if its leader had started at start (tests: a session
 * id that another process has taken over since). */
int plat_posix_guard_add_as_for_tests(int64_t sid, uint64_t start);
int plat_posix_guard_add_as_for_tests(int64_t sid, uint64_t start) { return guard_add(sid, start); }

void plat_guard_forget(int64_t sid) {
    pthread_mutex_lock(&g_guard_mu);
    guard_reap_stopped_locked();
    size_t before = g_guard_n;
    guard_set(&g_guard_sids, &g_guard_n, &g_guard_cap, sid, 0, 0);
    if (g_guard_n < before && g_guard_fd >= 0 && guard_send(2, sid, 0) != 0) guard_stop_locked();
    pthread_mutex_unlock(&g_guard_mu);
}

/* ---------------------------------------------------------- exit monitor */

typedef struct watch {
    pid_t pid;
    int pidfd; /* -1: polled with waitpid(WNOHANG) */
    int ready; /* pidfd reported readable but the child was not yet waitable */
    plat_exit_fn fn;
    void *ctx;
} watch;

typedef struct finished {
    plat_exit_fn fn;
    void *ctx;
    int64_t pid;
    int code, sig;
} finished;

static pthread_mutex_t g_mon_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_mon_cv = PTHREAD_COND_INITIALIZER; /* signalled when a stop ends */
static watch *g_watch;
static size_t g_nwatch, g_capwatch;
static int g_mon_running, g_mon_stopping;
static plat_thread g_mon_thread;
static int g_wake_r = -1, g_wake_w = -1;
static int g_pidfd_unsupported;
static int g_force_poll; /* tests: exercise the waitpid fallback */
static int g_fail_watch; /* tests: errno for the next plat_watch_exit */
static int64_t *g_fail_watch_pid;

/* Not in plat.h: lets tests run the monitor without pidfds (the ENOSYS/macOS path). */
void plat_posix_force_poll_for_tests(int on);
void plat_posix_force_poll_for_tests(int on) {
    pthread_mutex_lock(&g_mon_mu);
    g_force_poll = on;
    pthread_mutex_unlock(&g_mon_mu);
}

/* Not in plat.h: the next plat_watch_exit of a valid child fails with err (0 disarms)
 * without watching it; *refused (may be NULL) receives that pid. */
void plat_posix_fail_next_watch_for_tests(int err, int64_t *refused);
void plat_posix_fail_next_watch_for_tests(int err, int64_t *refused) {
    pthread_mutex_lock(&g_mon_mu);
    g_fail_watch = err;
    g_fail_watch_pid = refused;
    pthread_mutex_unlock(&g_mon_mu);
}

int plat_posix_monitor_state_for_tests(size_t *nwatch);
int plat_posix_monitor_state_for_tests(size_t *nwatch) {
    pthread_mutex_lock(&g_mon_mu);
    int running = g_mon_running;
    *nwatch = g_nwatch;
    pthread_mutex_unlock(&g_mon_mu);
    return running;
}

static void wake_monitor(void) {
#ifdef __linux__
    uint64_t one = 1;
    ssize_t r = write(g_wake_w, &one, sizeof one);
#else
    char one = 1;
    ssize_t r = write(g_wake_w, &one, 1);
#endif
    (void)r; /* EAGAIN: already pending, which is as good */
}

static void drain_wake(void) {
    char buf[64];
    while (read(g_wake_r, buf, sizeof buf) > 0) {}
}

static int open_wake_fds(void) {
#ifdef __linux__
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return errno;
    g_wake_r = g_wake_w = fd;
#else
    int p[2];
    int rc = make_pipe(p);
    if (rc != 0) return rc;
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);
    g_wake_r = p[0];
    g_wake_w = p[1];
#endif
    return 0;
}

static void close_wake_fds(void) {
    if (g_wake_w >= 0 && g_wake_w != g_wake_r) close(g_wake_w);
    if (g_wake_r >= 0) close(g_wake_r);
    g_wake_r = g_wake_w = -1;
}

/* waitpid(pid, options) without EINTR: its result; on success code = exit status or
 * 128+signal, sig = the signal or 0. */
static pid_t wait_pid(pid_t pid, int options, int *code, int *sig) {
    int st = 0;
    pid_t r;
    do r = waitpid(pid, &st, options);
    while (r < 0 && errno == EINTR);
    if (r > 0) {
        *sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
        *code = *sig ? 128 + *sig : WEXITSTATUS(st);
    }
    return r;
}

/* 1: reaped (code/sig set), 0: still running, -1: gone (reaped by someone else:
 * reported with exit_code -1, term_signal 0). */
static int try_reap(pid_t pid, int *code, int *sig) {
    pid_t r = wait_pid(pid, WNOHANG, code, sig);
    if (r < 0) {
        *code = -1;
        *sig = 0;
    }
    return r > 0 ? 1 : r;
}

static void monitor_main(void *unused) {
    (void)unused;
    struct pollfd *pfd = NULL;
    size_t *pidx = NULL, pcap = 0;
    finished *done = NULL;
    size_t dcap = 0;

    for (;;) {
        pthread_mutex_lock(&g_mon_mu);
        if (g_mon_stopping) {
            pthread_mutex_unlock(&g_mon_mu);
            break;
        }
        if (pcap < g_nwatch + 1) {
            size_t ncap = (g_nwatch + 1) * 2;
            struct pollfd *np = realloc(pfd, ncap * sizeof *np);
            if (np) pfd = np;
            size_t *ni = np ? realloc(pidx, ncap * sizeof *ni) : NULL;
            if (ni) pidx = ni;
            if (!np || !ni) {
                pthread_mutex_unlock(&g_mon_mu);
                plat_sleep_ms(5);
                continue;
            }
            pcap = ncap;
        }
        pfd[0].fd = g_wake_r;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        size_t np = 1;
        int timed = 0;
        for (size_t i = 0; i < g_nwatch; i++) {
            if (g_watch[i].pidfd >= 0 && !g_watch[i].ready) {
                pfd[np].fd = g_watch[i].pidfd;
                pfd[np].events = POLLIN;
                pfd[np].revents = 0;
                pidx[np] = i;
                np++;
            } else {
                timed = 1;
            }
        }
        pthread_mutex_unlock(&g_mon_mu);

        int n = poll(pfd, (nfds_t)np, timed ? 5 : -1);
        if (n < 0 && errno != EINTR) plat_sleep_ms(5);
        if (n > 0 && (pfd[0].revents & POLLNVAL))
            plat_sleep_ms(5); /* wake fd closed under us */
        else if (n > 0 && pfd[0].revents)
            drain_wake();

        pthread_mutex_lock(&g_mon_mu);
        if (g_mon_stopping) {
            pthread_mutex_unlock(&g_mon_mu);
            break;
        }
        /* Watches are only removed by this thread, so the indices in pidx are valid
         * (new ones may have been appended meanwhile). */
        if (n > 0) {
            for (size_t k = 1; k < np; k++)
                if (pfd[k].revents) g_watch[pidx[k]].ready = 1;
        }
        if (dcap < g_nwatch) {
            finished *nd = realloc(done, g_nwatch * sizeof *nd);
            if (!nd) {
                pthread_mutex_unlock(&g_mon_mu);
                plat_sleep_ms(5);
                continue;
            }
            done = nd;
            dcap = g_nwatch;
        }
        size_t nd = 0;
        for (size_t i = 0; i < g_nwatch;) {
            watch *w = &g_watch[i];
            if (w->pidfd >= 0 && !w->ready) {
                i++;
                continue;
            }
            int code, sig;
            if (try_reap(w->pid, &code, &sig) == 0) {
                i++;
                continue;
            }
            done[nd].fn = w->fn;
            done[nd].ctx = w->ctx;
            done[nd].pid = w->pid;
            done[nd].code = code;
            done[nd].sig = sig;
            nd++;
            if (w->pidfd >= 0) close(w->pidfd);
            g_watch[i] = g_watch[--g_nwatch]; /* the moved entry is examined next */
        }
        pthread_mutex_unlock(&g_mon_mu);

        for (size_t k = 0; k < nd; k++)
            done[k].fn(done[k].ctx, done[k].pid, done[k].code, done[k].sig);
    }
    free(pfd);
    free(pidx);
    free(done);
}

/* fork() in the host (e.g. os.fork): the child has no monitor thread and none of our
 * children, so it starts from a clean state. No prepare handler takes g_mon_mu around
 * the fork: the monitor thread allocates while holding it, and some allocators (MSan's
 * fork interceptor, seen deadlocking) lock themselves before the prepare handlers run.
 * So the child may find the state mid-update: it re-creates the lock and forgets the
 * state without touching it (the old array and descriptors leak in the child; they are
 * close-on-exec). posix_spawn does not run atfork handlers at all. */
static void atfork_child(void) {
    pthread_mutex_t fresh_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t fresh_cv = PTHREAD_COND_INITIALIZER;
    memcpy(&g_mon_mu, &fresh_mu, sizeof fresh_mu);
    memcpy(&g_mon_cv, &fresh_cv, sizeof fresh_cv);
    g_watch = NULL;
    g_nwatch = g_capwatch = 0;
    g_wake_r = g_wake_w = -1;
    g_mon_running = g_mon_stopping = 0;
    /* The guard watches the parent, not this child: drop our copy of its socket (else
     * the parent's death would go unnoticed while this child lives). */
    pthread_mutex_t fresh_guard_mu = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&g_guard_mu, &fresh_guard_mu, sizeof fresh_guard_mu);
    if (g_guard_fd >= 0) close(g_guard_fd);
    if (g_guard_new_fd >= 0) close(g_guard_new_fd); /* a guard was being started */
    g_guard_fd = g_guard_new_fd = -1;
    g_guard_pid = -1;
    g_guard_sids = NULL;
    g_guard_n = g_guard_cap = 0;
    g_guard_nunreaped = 0; /* the parent's children, not ours */
}
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(NULL, NULL, atfork_child); }

static int monitor_is_self(void) {
    return g_mon_running && pthread_equal(pthread_self(), g_mon_thread.t);
}

static int open_pidfd(pid_t pid, int *out) {
    *out = -1;
#if defined(__linux__) && defined(SYS_pidfd_open)
    if (g_pidfd_unsupported) return 0;
    long fd = syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        *out = (int)fd; /* pidfds are always close-on-exec */
        return 0;
    }
    if (errno == ENOSYS) {
        g_pidfd_unsupported = 1;
        return 0;
    }
    if (errno == ESRCH) return ESRCH;
    return 0; /* e.g. EMFILE: fall back to polling this pid */
#else
    (void)pid;
    return 0;
#endif
}

int plat_watch_exit(int64_t pid, plat_exit_fn on_exit, void *ctx) {
    if (pid <= 0 || pid > INT_MAX || !on_exit) return EINVAL;
    /* Only our own children can be reaped; refuse others up front. */
    pthread_once(&g_atfork_once, register_atfork);
    siginfo_t si;
    for (;;) {
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0) break;
        if (errno != EINTR) return errno;
    }

    pthread_mutex_lock(&g_mon_mu);
    while (g_mon_stopping && !monitor_is_self()) pthread_cond_wait(&g_mon_cv, &g_mon_mu);
    if (g_mon_stopping) {
        pthread_mutex_unlock(&g_mon_mu);
        return ECANCELED;
    }
    int rc = 0;
    if (g_fail_watch) {
        rc = g_fail_watch;
        g_fail_watch = 0;
        if (g_fail_watch_pid) *g_fail_watch_pid = pid;
        goto out;
    }
    for (size_t i = 0; i < g_nwatch; i++) {
        if (g_watch[i].pid == (pid_t)pid) {
            rc = EEXIST;
            goto out;
        }
    }
    if (g_nwatch == g_capwatch) {
        size_t ncap = g_capwatch ? g_capwatch * 2 : 16;
        watch *nw = realloc(g_watch, ncap * sizeof *nw);
        if (!nw) {
            rc = ENOMEM;
            goto out;
        }
        g_watch = nw;
        g_capwatch = ncap;
    }
    int pidfd = -1;
    if (!g_force_poll && (rc = open_pidfd((pid_t)pid, &pidfd)) != 0) goto out;
    if (!g_mon_running) {
        if ((rc = open_wake_fds()) != 0) {
            if (pidfd >= 0) close(pidfd);
            goto out;
        }
        if ((rc = plat_thread_create(&g_mon_thread, monitor_main, NULL)) != 0) {
            close_wake_fds();
            if (pidfd >= 0) close(pidfd);
            goto out;
        }
        g_mon_running = 1;
    }
    watch *w = &g_watch[g_nwatch++];
    w->pid = (pid_t)pid;
    w->pidfd = pidfd;
    w->ready = 0;
    w->fn = on_exit;
    w->ctx = ctx;
    wake_monitor();
out:
    pthread_mutex_unlock(&g_mon_mu);
    return rc;
}

void plat_monitor_shutdown(void) {
    pthread_mutex_lock(&g_mon_mu);
    if (!g_mon_running || monitor_is_self()) {
        /* Not running, or called from an on_exit callback (joining ourselves would
         * deadlock): nothing to do. */
        pthread_mutex_unlock(&g_mon_mu);
        return;
    }
    if (g_mon_stopping) {
        while (g_mon_stopping) pthread_cond_wait(&g_mon_cv, &g_mon_mu);
        pthread_mutex_unlock(&g_mon_mu);
        return;
    }
    g_mon_stopping = 1;
    wake_monitor();
    plat_thread t = g_mon_thread;
    pthread_mutex_unlock(&g_mon_mu);

    plat_thread_join(&t);

    pthread_mutex_lock(&g_mon_mu);
    for (size_t i = 0; i < g_nwatch; i++)
        if (g_watch[i].pidfd >= 0) close(g_watch[i].pidfd);
    free(g_watch);
    g_watch = NULL;
    g_nwatch = g_capwatch = 0;
    close_wake_fds();
    g_mon_running = 0;
    g_mon_stopping = 0;
    pthread_cond_broadcast(&g_mon_cv);
    pthread_mutex_unlock(&g_mon_mu);
}

int plat_reap(int64_t pid, int *exit_code) {
    if (pid <= 0 || pid > INT_MAX) return EINVAL;
    int code = 0, sig = 0;
    if (wait_pid((pid_t)pid, 0, &code, &sig) < 0) return errno;
    if (exit_code) *exit_code = code;
    return 0;
}

/* ------------------------------------------------------------------ files */

int plat_close(int fd) {
    if (fd < 0) return EBADF;
    /* On Linux the descriptor is released even when close reports EINTR. */
    if (close(fd) != 0 && errno != EINTR) return errno;
    return 0;
}

int plat_set_nonblocking(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return errno;
    int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (nfl != fl && fcntl(fd, F_SETFL, nfl) != 0) return errno;
    return 0;
}

int plat_dup(int fd) {
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

int plat_null_over(int fd) {
    int n = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (n < 0) return errno;
    int rc = 0;
    /* dup2 replaces fd atomically (dup3 would be Linux-only); then restore close-on-exec */
    while (dup2(n, fd) < 0) {
        if (errno != EINTR) {
            rc = errno;
            break;
        }
    }
    if (rc == 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
    close(n);
    return rc;
}

int plat_write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int plat_pread_all(int fd, void *buf, size_t len, uint64_t off) {
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (int)got;
}

int plat_pwrite_all(int fd, const void *buf, size_t len, uint64_t off) {
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        done += (size_t)w;
    }
    return 0;
}

int plat_fd_is_regular_file(intptr_t fd) {
    if (fd < 0 || fd > INT_MAX) return 0;
    struct stat st;
    return fstat((int)fd, &st) == 0 && S_ISREG(st.st_mode);
}

int plat_write_file(const char *path, const void *data, size_t len) {
    int fd;
    do fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;
    int rc = plat_write_all(fd, data, len);
    if (rc == 0 && fsync(fd) != 0) rc = errno;
    if (close(fd) != 0 && rc == 0 && errno != EINTR) rc = errno;
    return rc;
}

int plat_read_file(const char *path, char **data, size_t *len) {
    *data = NULL;
    if (len) *len = 0;
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return e;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return EISDIR;
    }
    /* st_size is a hint only (0 for /proc files); grow as needed. */
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return ENOMEM;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                return ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            close(fd);
            return e;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    if (len) *len = n;
    return 0;
}

int plat_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int plat_remove_file(const char *path) { return unlink(path) == 0 ? 0 : errno; }

int plat_is_dir(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int plat_mkdirs(const char *path) {
    if (!path || !*path) return EINVAL;
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf) return ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return errno;
            buf[i] = c;
        }
    }
    return plat_is_dir(path) ? 0 : ENOTDIR;
}

/* Tree walks: iterative and relative to directory descriptors, so that neither the depth
 * of a tree nor the length of its paths is limited (no recursion, no PATH_MAX buffer per
 * level, one directory descriptor open at a time: a level is left through ".." and the
 * parent's identity is checked on the way back). Symbolic links are never followed. */
typedef enum { WALK_FILE, WALK_PRE, WALK_POST } walk_event;
/* Called for each entry name of directory dirfd: a non-directory (WALK_FILE), a directory
 * before (WALK_PRE, st its lstat) and after (WALK_POST, st NULL) its content. 0 or errno. */
typedef int (*walk_fn)(void *ctx, int dirfd, const char *name, const struct stat *st,
                       walk_event ev);

typedef struct walk_level {
    char **names; /* the directory's entries, read once */
    size_t n, i;  /* count, next (the directory being walked while below) */
    dev_t dev;
    ino_t ino;
} walk_level;

static int open_dir_at(int dirfd, const char *name) {
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static void free_level(walk_level *l) {
    for (size_t k = 0; k < l->n; k++) free(l->names[k]);
    free(l->names);
}

/* Reads the entries of directory fd (but ., .. and skip) into l. 0 or errno. */
static int read_level(int fd, const char *skip, walk_level *l) {
    memset(l, 0, sizeof *l);
    struct stat st;
    if (fstat(fd, &st) != 0) return errno;
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* its own read position */
    DIR *d = own < 0 ? NULL : fdopendir(own);
    if (!d) {
        int e = errno;
        if (own >= 0) close(own);
        return e;
    }
    int rc = 0;
    size_t cap = 0;
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (skip && !strcmp(e->d_name, skip)) continue;
        if (l->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **grown = realloc(l->names, ncap * sizeof *grown);
            if (!grown) {
                rc = ENOMEM;
                break;
            }
            l->names = grown;
            cap = ncap;
        }
        if (!(l->names[l->n] = strdup(e->d_name)))
            rc = ENOMEM;
        else
            l->n++;
    }
    if (rc == 0 && errno != 0) rc = errno;
    closedir(d);
    if (rc) free_level(l);
    return rc;
}

/* Walks the tree below directory root (taken, closed), leaving the top entry named skip
 * (NULL: none) alone. Stops at the first error, which it returns. */
static int walk_tree(int root, const char *skip, walk_fn fn, void *ctx) {
    walk_level *lv = malloc(sizeof *lv);
    size_t depth = 0, cap = 1;
    int fd = root, rc = lv ? read_level(fd, skip, &lv[0]) : ENOMEM;
    if (rc == 0) depth = 1;
    while (rc == 0 && depth > 0) {
        walk_level *l = &lv[depth - 1];
        if (l->i == l->n) { /* done with this directory: back to its parent */
            free_level(l);
            if (--depth == 0) break;
            int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            struct stat st;
            if (up < 0 || fstat(up, &st) != 0) {
                rc = errno;
            } else if (st.st_dev != lv[depth - 1].dev || st.st_ino != lv[depth - 1].ino) {
                rc = ESTALE; /* the tree was moved meanwhile */
            }
            if (up >= 0) {
                close(fd);
                fd = up;
            }
            l = &lv[depth - 1];
            if (rc == 0) rc = fn(ctx, fd, l->names[l->i++], NULL, WALK_POST);
            continue;
        }
        const char *name = l->names[l->i];
        struct stat st;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = errno;
        } else if (!S_ISDIR(st.st_mode)) {
            rc = fn(ctx, fd, name, &st, WALK_FILE);
            l->i++;
        } else if ((rc = fn(ctx, fd, name, &st, WALK_PRE)) == 0) {
            int sub = open_dir_at(fd, name);
            if (sub < 0) {
                rc = errno;
                break;
            }
            close(fd);
            fd = sub;
            if (depth == cap) {
                walk_level *grown = realloc(lv, 2 * cap * sizeof *grown);
                if (!grown) {
                    rc = ENOMEM;
                    break;
                }
                lv = grown;
                cap *= 2;
            }
            if ((rc = read_level(fd, NULL, &lv[depth])) == 0) depth++;
        }
    }
    while (depth > 0) free_level(&lv[--depth]);
    free(lv);
    close(fd);
    return rc;
}

static int remove_visit(void *ctx, int dirfd, const char *name, const struct stat *st,
                        walk_event ev) {
    (void)ctx;
    (void)st;
    if (ev == WALK_PRE) return 0;
    return unlinkat(dirfd, name, ev == WALK_POST ? AT_REMOVEDIR : 0) == 0 ? 0 : errno;
}

int plat_empty_dir(const char *dir, const char *skip) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? errno : walk_tree(fd, skip, remove_visit, NULL);
}

int plat_rmtree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno;
    if (!S_ISDIR(st.st_mode)) return unlink(path) == 0 ? 0 : errno;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = fd < 0 ? errno : walk_tree(fd, NULL, remove_visit, NULL);
    if (rc == 0 && rmdir(path) != 0) rc = errno;
    return rc;
}

int plat_dir_is_empty(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return 0;
    walk_level l;
    int empty = 0;
    if (read_level(fd, NULL, &l) == 0) {
        empty = l.n == 0;
        free_level(&l);
    }
    close(fd);
    return empty;
}

static int copy_file_at(int sdir, const char *name, int ddir, const char *dname, mode_t mode) {
    int in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) return errno;
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) { /* no FIFO, socket or device */
        int e = S_ISREG(st.st_mode) ? errno : ENOTSUP;
        close(in);
        return e;
    }
    int out =
        openat(ddir, dname, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
    if (out < 0) {
        int e = errno;
        close(in);
        return e;
    }
    char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = errno;
            break;
        }
        if (r == 0) break;
        if ((rc = plat_write_all(out, buf, (size_t)r)) != 0) break;
    }
    close(in);
    if (close(out) != 0 && rc == 0) rc = errno;
    return rc;
}

static int copy_link_at(int sdir, const char *name, int ddir, const char *dname) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(sdir, name, target, sizeof target - 1);
    if (n < 0) return errno;
    target[n] = 0;
    return symlinkat(target, ddir, dname) == 0 ? 0 : errno;
}

/* The copy's destination directory follows the walk. */
typedef struct copy_ctx {
    int dst;
} copy_ctx;

static int copy_visit(void *ctx, int dirfd, const char *name, const struct stat *st,
                      walk_event ev) {
    copy_ctx *c = ctx;
    int next;
    switch (ev) {
    case WALK_FILE:
        return S_ISLNK(st->st_mode) ? copy_link_at(dirfd, name, c->dst, name)
                                    : copy_file_at(dirfd, name, c->dst, name, st->st_mode);
    case WALK_PRE:
        if (mkdirat(c->dst, name, 0777) != 0 && errno != EEXIST) return errno;
        next = open_dir_at(c->dst, name);
        break;
    default: next = openat(c->dst, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC); break;
    }
    if (next < 0) return errno;
    close(c->dst);
    c->dst = next;
    return 0;
}

int plat_copytree_skip(const char *src, const char *dst, const char *skip) {
    struct stat st;
    if (lstat(src, &st) != 0) return errno;
    if (S_ISLNK(st.st_mode)) return copy_link_at(AT_FDCWD, src, AT_FDCWD, dst);
    if (!S_ISDIR(st.st_mode)) return copy_file_at(AT_FDCWD, src, AT_FDCWD, dst, st.st_mode);
    if (plat_is_within(dst, src)) return EINVAL; /* it would copy itself without end */
    int rc = plat_mkdirs(dst);
    if (rc) return rc;
    copy_ctx c = {open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    int fd = c.dst < 0 ? -1 : open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    rc = c.dst < 0 || fd < 0 ? errno : walk_tree(fd, skip, copy_visit, &c);
    if (c.dst >= 0) close(c.dst);
    return rc;
}

int plat_copytree(const char *src, const char *dst) { return plat_copytree_skip(src, dst, NULL); }

int plat_is_within(const char *path, const char *dir) {
    struct stat d, s, u;
    if (stat(dir, &d) != 0 || !S_ISDIR(d.st_mode)) return 0;
    char *p = strdup(path);
    int fd = -1;
    /* the nearest existing directory of path: path need not exist yet */
    while (p && (fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        char *slash = strrchr(p, '/');
        if (!slash || !strcmp(p, "/")) break;
        slash[slash == p ? 1 : 0] = 0;
    }
    free(p);
    int within = 0;
    while (fd >= 0 && !within && fstat(fd, &s) == 0) {
        if (s.st_dev == d.st_dev && s.st_ino == d.st_ino) {
            within = 1;
            break;
        }
        int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(fd);
        fd = up;
        if (fd >= 0 && fstat(fd, &u) == 0 && u.st_dev == s.st_dev && u.st_ino == s.st_ino)
            break; /* the root */
    }
    if (fd >= 0) close(fd);
    return within;
}

int plat_file_key_of(const char *path, plat_file_key *key) {
    memset(key, 0, sizeof *key);
#if defined(__linux__) && defined(STATX_BTIME)
    struct statx sx;
    if (statx(AT_FDCWD, path, 0, STATX_INO | STATX_BTIME, &sx) == 0) {
        key->volume = ((uint64_t)sx.stx_dev_major << 32) | sx.stx_dev_minor;
        key->file = sx.stx_ino;
        if (sx.stx_mask & STATX_BTIME)
            key->birth = (uint64_t)sx.stx_btime.tv_sec * 1000000000u + sx.stx_btime.tv_nsec;
        return 0;
    }
    if (errno != ENOSYS) return errno;
#endif
    struct stat st;
    if (stat(path, &st) != 0) return errno;
    key->volume = (uint64_t)st.st_dev;
    key->file = (uint64_t)st.st_ino;
    return 0;
}

const char *plat_strerror(int e) {
    /* strerror returns static text for the values it knows (glibc, macOS); unknown ones
     * get a per-thread buffer (glibc >= 2.32), so avoid relying on those. */
    return plat_errno_name(e) ? strerror(e) : "Unknown error";
}

char *const *plat_environ(void) { return HCSIM_ENVIRON; }

static void random_bytes(unsigned char *buf, size_t n) {
    size_t got = 0;
#ifdef __linux__
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        got += (size_t)r;
    }
#elif defined(__APPLE__)
    arc4random_buf(buf, n);
    got = n;
#endif
    if (got < n) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        while (fd >= 0 && got < n) {
            ssize_t r = read(fd, buf + got, n - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (fd >= 0) close(fd);
    }
    if (got < n) {
        fprintf(stderr, "hcsim: no source of random bytes\n");
        abort();
    }
}

void plat_new_guid(char out[37]) {
    unsigned char b[16];
    random_bytes(b, sizeof b);
    plat_format_guid(b, out);
}

void plat_atfork_child(void (*fn)(void)) { pthread_atfork(NULL, NULL, fn); }

void plat_utc_now(struct tm *out, uint32_t *ticks100ns) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    gmtime_r(&ts.tv_sec, out);
    *ticks100ns = (uint32_t)(ts.tv_nsec / 100);
}
#endif
