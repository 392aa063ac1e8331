/* hcsim processes: real host processes started without a shell (plat_spawn), their
 * HCS_PROCESS handles, caller-owned pipe HANDLEs, signals, console size, exit events
 * (from the platform exit monitor) and the Windows command-line splitting rules. */
#include "hcsim_internal.h"
#include "hvsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void close_fd(plat_fd *fd) {
    if (*fd >= 0) plat_close(*fd);
    *fd = -1;
}

/* hcsim is done with its end of a stream. Win32: the caller's handles are counted through
 * it, so it is closed once they are gone too (docs.c). */
static void drop_stream_end(plat_fd *fd) {
#if PLAT_HOST_RELEASES
    if (*fd >= 0) hc_stream_retire(*fd);
    *fd = -1;
#else
    close_fd(fd);
#endif
}

void hc_proc_free(hc_proc *p) {
    for (int i = 0; i < 3; i++) drop_stream_end(&p->fd[i]);
    close_fd(&p->pty_fd);
    if (p->in_list) HC_LIST_UNLINK(p->sys->procs, p);
    hc_unref(p->sys);
    free(p->image);
    hj_free(p->params);
    free(p);
}

void hc_proch_free(hc_proch *h) {
    hc_unref(h->p);
    free(h);
}

void hc_pipe_free(hc_pipe *pp) {
    close_fd(&pp->fd);
    hc_unref(pp->p);
    free(pp);
}

static hc_proch *proch_new(hc_proc *p) { /* under lock */
    hc_proch *h = hc_evh_new(sizeof *h, K_PROCH, &p->handles, &G.counts.ProcessHandles);
    if (h) {
        h->p = p;
        hc_ref(p);
    }
    return h;
}

static hj_value *process_status(hc_proc *p) {
    hj_value *o = hj_new_object();
    hj_set(o, "ProcessId", hj_new_uint((uint64_t)p->pid));
    hj_set(o, "Exited", hj_new_bool(p->state == PS_EXITED));
    if (p->state == PS_EXITED) hj_set(o, "ExitCode", hj_new_uint((uint32_t)p->exit_code));
    hj_set(o, "LastWaitResult", hj_new_int(0));
    return o;
}

/* ---- pipes ------------------------------------------------------------------------------ */
static BOOL close_pipe_handle(HANDLE hObject, int may_close_stream);
/* A new caller handle of stream (NULL when the stream is closed or not requested). On
 * failure NULL with *err set (an errno value). */
static HANDLE new_pipe_handle(hc_proc *p, int stream, int *err) { /* under lock */
    if (p->fd[stream] < 0) return NULL;
    plat_fd fd = plat_dup(p->fd[stream]);
    if (fd < 0) {
        *err = errno;
        return NULL;
    }
#if PLAT_HOST_RELEASES
    /* a real pipe HANDLE the caller closes with kernel32's CloseHandle; it is counted
     * through hcsim's end of the stream (hc_handouts_recount), and its last close is
     * noticed by the stream watch (once the whole set is handed out) */
    return (HANDLE)fd;
#else
    hc_pipe *pp = hc_obj_new(sizeof *pp, K_PIPE);
    if (!pp) {
        plat_close(fd);
        *err = ENOMEM;
        return NULL;
    }
    if (hc_reg_add(pp, K_PIPE) != 0) {
        plat_close(fd);
        free(pp);
        *err = ENOMEM;
        return NULL;
    }
    pp->fd = fd;
    pp->p = p;
    hc_ref(p);
    pp->stream = stream;
    HC_LIST_PUSH(p->pipes, pp);
    p->caller_handles[stream]++;
    G.counts.PipeHandles++;
    return (HANDLE)HC_HANDLE(pp);
#endif
}

int hc_pipe_handles_for(hc_proc *p, HCS_PROCESS_INFORMATION *pi) {
    int err = 0;
    HANDLE h[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3 && !err; i++) h[i] = new_pipe_handle(p, i, &err);
    if (err) { /* all or nothing: no half set of handles */
        for (int i = 0; i < 3; i++)
            if (h[i]) close_pipe_handle(h[i], 0); /* never handed out: no EOF */
        memset(h, 0, sizeof h);
    }
#if PLAT_HOST_RELEASES
    /* only a set that is handed out: a rolled-back one must not look closed by the
     * caller to the stream watch (which would close the stream for the child) */
    for (int i = 0; i < 3; i++)
        if (h[i]) {
            p->caller_handles[i] = 1; /* handed out at least once */
            hc_stream_watch();
        }
#endif
    pi->ProcessId = (DWORD)p->pid;
    pi->Reserved = 0;
    pi->StdInput = h[0];
    pi->StdOutput = h[1];
    pi->StdError = h[2];
    return err;
}

static void close_stream(hc_proc *p, int i);

#if PLAT_HOST_RELEASES
/* Win32: hcsim does not see the caller's CloseHandle, so while the caller holds handed-out
 * streams (of running or exited processes, or retired with a freed one), a pool task
 * looks every STREAM_WATCH_MS at how many caller handles each stream still has
 * (plat_fd_others: no I/O on the pipe) and closes hcsim's end of a stream that has none
 * left, as the last CloseHandle does on POSIX (the child, or what it started, sees EOF). */
#define STREAM_WATCH_MS 10u

static int sweep_streams(void) {   /* under lock: 1 while some stream is still watched */
    int more = hc_streams_sweep(); /* those of freed processes */
    for (hc_system *s = G.table; s; s = s->tnext)
        for (hc_proc *p = s->procs; p; p = p->next)
            for (int i = 0; i < 3; i++) {
                /* (also after the process exited: what it started may still read) */
                if (p->fd[i] < 0 || !p->caller_handles[i]) continue;
                if (plat_fd_others(p->fd[i]) == 0)
                    close_stream(p, i);
                else
                    more = 1;
            }
    return more;
}

static void stream_watch_task(void *arg) {
    (void)arg;
    hc_lock();
    G.stream_watch_posted = 0;
    /* (not re-posted while the pool drains: a quiesce would never end) */
    if (sweep_streams() && !G.drain) hc_stream_watch();
    hc_unlock();
}

void hc_stream_watch(void) {
    if (G.stream_watch_posted) return;
    G.stream_watch_posted = 1;
    hc_pool_post((uint64_t)STREAM_WATCH_MS * 1000000u, stream_watch_task, NULL);
}
#endif

/* Closes stream i for the child: the emulator's copy is closed and every caller handle of
 * that stream is pointed at /dev/null, so the child sees EOF (stdin) or EPIPE. */
/* console_eof: a console's stdin gets its end of input (not when a client of the service
 * holds the stream: it types it itself). */
static void close_stream_end(hc_proc *p, int i, int console_eof) {
    if (i == 0 && p->is_pty && p->fd[0] >= 0 && console_eof) {
        static const char eof[] = PLAT_PTY_EOF;
        plat_write_all(p->fd[0], eof, sizeof eof - 1);
    }
#if PLAT_HOST_RELEASES
    /* the caller's HANDLEs keep the pipe open: disconnect it (unread input is dropped);
     * never a console's, which would shut the console down (its end of file was typed) */
    if (!p->is_pty && p->fd[i] >= 0 && plat_fd_others(p->fd[i]) > 0) plat_null_over(p->fd[i]);
#endif
    drop_stream_end(&p->fd[i]);
    for (hc_pipe *pp = p->pipes; pp; pp = pp->next)
        if (pp->stream == i && pp->fd >= 0) plat_null_over(pp->fd);
}

static void close_stream(hc_proc *p, int i) { close_stream_end(p, i, 1); }

#if PLAT_HOST_RELEASES
/* Win32: only the roll-back of handles never handed out comes here; the caller closes
 * its handles with kernel32's CloseHandle, and the child sees EOF on stdin once those
 * and hcsim's own end (closed by ModifyProcess CloseHandle, or with the process) are
 * all closed. */
static BOOL close_pipe_handle(HANDLE hObject, int may_close_stream) {
    (void)may_close_stream;
    return plat_close((plat_fd)hObject) == 0;
}

int HcsimHandleToFd(HANDLE handle) {
    /* the descriptor of a Win32 pipe HANDLE is the HANDLE value itself */
    hc_init();
    hc_lock();
    intptr_t v = (intptr_t)handle;
    int fd = v > 0 && v <= INT32_MAX && hc_stream_of(handle) ? (int)v : -1;
    hc_unlock();
    return fd;
}
#else
/* Under lock. may_close_stream: the caller's last handle of a stream closes hcsim's end
 * too (the child sees EOF); 0 for the roll-back of handles never handed out; HANDED_OFF
 * for a handle whose descriptor went to a client of the service. */
#define HANDED_OFF 2
static BOOL close_pipe_handle(HANDLE hObject, int may_close_stream) {
    hc_pipe *pp = hc_reg_get(hObject, K_PIPE);
    if (!pp) return FALSE;
    hc_reg_del(pp);
    G.counts.PipeHandles--;
    close_fd(&pp->fd);
    hc_proc *p = pp->p;
    if (p) {
        HC_LIST_UNLINK(p->pipes, pp);
        /* the caller's last handle of this stream: the child sees EOF (pty: VEOF) */
        if (--p->caller_handles[pp->stream] == 0 && may_close_stream)
            close_stream_end(p, pp->stream, may_close_stream != HANDED_OFF);
    }
    hc_unref(pp);
    return TRUE;
}

BOOL WINAPI CloseHandle(HANDLE hObject) {
    hc_init();
    hc_lock();
    BOOL ok = close_pipe_handle(hObject, 1) || hc_vdisk_close(hObject);
    hc_unlock();
    return ok;
}

BOOL hc_pipe_handed_off(HANDLE h) {
    hc_init();
    hc_lock();
    BOOL ok = close_pipe_handle(h, HANDED_OFF);
    hc_unlock();
    return ok;
}

int HcsimHandleToFd(HANDLE handle) {
    hc_init();
    hc_lock();
    hc_pipe *pp = hc_reg_get(handle, K_PIPE);
    int fd = pp ? pp->fd : -1;
    hc_unlock();
    return fd;
}
#endif

/* ---- command line ---------------------------------------------------------------------- */
/* Splits cmd by the rules of CommandLineToArgvW: the program name ends at the first
 * space/tab, or is everything between a leading quote and the next quote; later words
 * follow the backslash rules (2n backslashes + quote -> n backslashes, quote toggles;
 * 2n+1 backslashes + quote -> n backslashes + literal quote; other backslashes literal)
 * and, inside quotes, a doubled quote yields a literal quote and leaves quote mode. */
int hc_cmdline_split(const char *cmd, char ***argv_out) {
    size_t n = strlen(cmd);
    char **argv = calloc(n / 2 + 3, sizeof *argv);
    char *buf = malloc(n + 1);
    if (!argv || !buf) {
        free(argv);
        free(buf);
        return -1;
    }
    int argc = 0;
    const char *s = cmd;
    size_t d = 0;
    /* program name */
    if (*s == '"') {
        s++;
        while (*s && *s != '"') buf[d++] = *s++;
        if (*s) s++;
    } else {
        while (*s && *s != ' ' && *s != '\t') buf[d++] = *s++;
    }
    buf[d] = 0;
    argv[argc++] = hc_strdup(buf);
    while (*s == ' ' || *s == '\t') s++;
    while (*s) {
        d = 0;
        int quoted = 0;
        size_t bs = 0;
        while (*s) {
            if ((*s == ' ' || *s == '\t') && !quoted) break;
            if (*s == '\\') {
                bs++;
                buf[d++] = *s++;
            } else if (*s == '"') {
                if ((bs & 1) == 0) {
                    d -= bs / 2;
                    s++;
                    if (quoted && *s == '"') {
                        buf[d++] = '"';
                        s++;
                        quoted = 0;
                    } else {
                        quoted = !quoted;
                    }
                } else {
                    d -= bs / 2 + 1;
                    buf[d++] = '"';
                    s++;
                }
                bs = 0;
            } else {
                bs = 0;
                buf[d++] = *s++;
            }
        }
        buf[d] = 0;
        argv[argc++] = hc_strdup(buf);
        while (*s == ' ' || *s == '\t') s++;
    }
    argv[argc] = NULL;
    free(buf);
    for (int i = 0; i < argc; i++)
        if (!argv[i]) {
            for (int j = 0; j < argc; j++) free(argv[j]);
            free(argv);
            return -1;
        }
    *argv_out = argv;
    return argc;
}

static void free_strv(char **v) {
    if (!v) return;
    for (char **p = v; *p; p++) free(*p);
    free(v);
}

/* ---- sessions ---------------------------------------------------------------------------- */
/* A tracked session that can no longer hold anything of ours: its leader has exited and
 * its process group is empty, or the leader's pid now names another process (the kernel
 * reuses a pid only once no session or group has it as id, so the session is over). */
static int session_stale(const hc_session *ss) {
    return ss->leader_exited && plat_pid_exists(ss->sid);
}

/* Sessions whose leader has exited may still hold background processes (possibly in
 * other process groups), so only a look at every process tells when they are empty:
 * once PRUNE_AT of them have gathered in a system, a pool task looks. */
#define PRUNE_AT 32

static void prune_task(void *arg) { /* a pool task; holds a reference to the system */
    hc_system *s = arg;
    hc_lock();
    size_t n = 0;
    int64_t *sids = malloc((s->nsess ? s->nsess : 1) * sizeof *sids);
    for (size_t i = 0; sids && i < s->nsess; i++)
        if (s->sess[i].leader_exited) sids[n++] = s->sess[i].sid;
    hc_unlock();
    unsigned char *alive = calloc(n ? n : 1, 1);
    /* a failed scan (e.g. no descriptor left) proves nothing: then nothing is dropped */
    int scanned = sids && alive && plat_sessions_alive(sids, n, alive) == 0;
    hc_lock();
    /* an empty session never fills again: drop it if it is still tracked */
    for (size_t k = 0; scanned && k < n; k++) {
        if (alive[k]) continue;
        for (size_t i = 0; i < s->nsess; i++)
            if (s->sess[i].sid == sids[k] && s->sess[i].leader_exited) {
                plat_guard_forget(sids[k]);
                s->sess[i] = s->sess[--s->nsess];
                break;
            }
    }
    s->prune_posted = 0;
    s->prune_floor = 0;
    for (size_t i = 0; i < s->nsess; i++) s->prune_floor += (size_t)s->sess[i].leader_exited;
    hc_unref(s);
    hc_unlock();
    free(sids);
    free(alive);
}

static void maybe_post_prune(hc_system *s) { /* under lock */
    if (s->prune_posted || s->state == SS_STOPPED) return;
    size_t exited = 0;
    for (size_t i = 0; i < s->nsess; i++) exited += (size_t)s->sess[i].leader_exited;
    if (exited < s->prune_floor + PRUNE_AT) return;
    s->prune_posted = 1;
    hc_ref(s);
    hc_pool_post(0, prune_task, s);
}

/* Drops s's stale sessions (and their guard registrations). Under lock. */
static void prune_sessions(hc_system *s) {
    for (size_t i = 0; i < s->nsess;) {
        if (session_stale(&s->sess[i])) {
            plat_guard_forget(s->sess[i].sid);
            s->sess[i] = s->sess[--s->nsess];
        } else {
            i++;
        }
    }
}

/* Sessions waiting for their tree kill (G.sweep), batched: one task (one series of /proc
 * scans) serves every system that exited meanwhile, so that a burst of exits does not
 * fill the pool with scans. A tree kill whose /proc scan failed (e.g. no descriptor left)
 * is retried later with growing delays; the sessions stay registered with the guard
 * until a kill succeeds (after SWEEP_RETRIES failures they are left to the guard). */
#define SWEEP_RETRIES 20

static void sweep_post(const int64_t *sids, size_t n);

static void sweep_task(void *unused) { /* a pool task, without the lock */
    (void)unused;
    hc_lock();
    int64_t *sids = G.sweep;
    size_t n = G.nsweep;
    G.sweep = NULL;
    G.nsweep = G.capsweep = 0;
    G.sweep_posted = 0; /* later exits post a new task */
    hc_unlock();
    int rc = plat_kill_sessions(sids, n);
    if (rc == 0)
        for (size_t i = 0; i < n; i++) plat_guard_forget(sids[i]);
    hc_lock();
    if (rc == 0 || G.sweep_attempt >= SWEEP_RETRIES) {
        G.sweep_attempt = 0;
    } else if (n > 0) { /* nothing was left stopped; look again a little later */
        G.sweep_attempt++;
        uint64_t delay_ms = 10u << (G.sweep_attempt < 7 ? G.sweep_attempt : 7);
        if (!G.sweep_posted) {
            G.sweep_posted = 1;
            hc_pool_post(delay_ms * 1000000u, sweep_task, NULL);
        }
        sweep_post(sids, n);
    }
    hc_unlock();
    free(sids);
}

/* Queues the tree kill of n sessions (under lock). */
static void sweep_post(const int64_t *sids, size_t n) {
    if (n == 0) return;
    if (G.nsweep + n > G.capsweep) {
        size_t nc = G.capsweep ? G.capsweep : 16;
        while (nc < G.nsweep + n) nc *= 2;
        int64_t *nv = realloc(G.sweep, nc * sizeof *nv);
        if (!nv) { /* out of memory: at least the process groups, here and now */
            for (size_t i = 0; i < n; i++) {
                plat_signal_group(sids[i], PLAT_SIGKILL);
                plat_signal_group(sids[i], PLAT_SIGCONT);
            }
            return;
        }
        G.sweep = nv;
        G.capsweep = nc;
    }
    memcpy(G.sweep + G.nsweep, sids, n * sizeof *sids);
    G.nsweep += n;
    if (!G.sweep_posted) {
        G.sweep_posted = 1;
        hc_pool_post(0, sweep_task, NULL);
    }
}

void hc_proc_sweep_sessions(hc_system *s) {
    hc_hvsock_system_gone(s); /* its Hyper-V sockets go with it */
    for (hc_proc *p = s->procs; p; p = p->next)
        if (p->state == PS_RUNNING) p->sent_sig = PLAT_SIGKILL; /* ended with its system */
    prune_sessions(s);
    for (size_t i = 0; i < s->nsess; i++) {
        /* Stopped, not killed, here: a killed parent would orphan a child that left the
         * session, and the tree walk of the task could no longer find it. */
        plat_signal_group(s->sess[i].sid, PLAT_SIGSTOP);
        sweep_post(&s->sess[i].sid, 1);
    }
    s->nsess = 0;
}

/* Makes room for one more session of s (under lock). 0 or ENOMEM. */
static int reserve_session(hc_system *s) {
    if (s->nsess < s->capsess) return 0;
    size_t nc = s->capsess ? s->capsess * 2 : 4;
    hc_session *ns = realloc(s->sess, nc * sizeof *ns);
    if (!ns) return ENOMEM;
    s->sess = ns;
    s->capsess = nc;
    return 0;
}

/* Tracks the new session sid in s (room reserved; under lock). A stale entry with the
 * same id elsewhere (the pid was reused) is dropped first, so that no other system
 * kills the new process. */
static void add_session(hc_system *s, int64_t sid) {
    for (hc_system *t = G.table; t; t = t->tnext)
        for (size_t i = 0; i < t->nsess; i++)
            if (t->sess[i].sid == sid) {
                t->sess[i] = t->sess[--t->nsess];
                break;
            }
    for (size_t i = 0; i < G.nsweep;) /* nor a queued (or retried) sweep of an old one */
        if (G.sweep[i] == sid)
            G.sweep[i] = G.sweep[--G.nsweep];
        else
            i++;
    if (s->state == SS_STOPPED) { /* exited while the process started: kill its tree */
        sweep_post(&sid, 1);
        return;
    }
    s->sess[s->nsess++] = (hc_session){sid, 0};
}

/* ---- create ------------------------------------------------------------------------------ */
/* The exit code the guest OS reports. A Linux guest reports 128 + signal, as the host
 * does; a Windows guest reports ERROR_PROCESS_ABORTED for a process hcsim terminated and
 * STATUS_CONTROL_C_EXIT for one a console control event ended (README, "Processes"). */
static int guest_exit_code(const hc_proc *p, int exit_code, int term_signal) {
    int sig = p->sent_sig;
#ifdef _WIN32
    (void)term_signal;
    int by_it = sig && exit_code == 128 + sig; /* its job was terminated with 128 + signal */
#else
    int by_it = sig && term_signal == sig;
#endif
    if (!by_it || p->sys->is_linux) return exit_code;
    return (int)(sig == PLAT_SIGKILL ? HC_EXIT_PROCESS_ABORTED : HC_EXIT_CONTROL_C);
}

static void on_exit_cb(void *ctx, int64_t pid, int exit_code, int term_signal) {
    (void)pid;
    hc_proc *p = ctx;
    hc_lock();
    p->state = PS_EXITED;
    p->exit_code = guest_exit_code(p, exit_code, term_signal);
    G.counts.Processes--;
    for (size_t i = 0; i < p->sys->nsess; i++)
        if (p->sys->sess[i].sid == p->pid) {
            p->sys->sess[i].leader_exited = 1;
            maybe_post_prune(p->sys);
            break;
        }
    hj_value *st = process_status(p);
    hc_event_terminal(p->handles, HcsEventProcessExited, st);
    hj_free(st);
    plat_cond_broadcast(&G.exit_cond);
    hc_unref(p);
    hc_unlock();
}

/* A process runs in the guest, which HCS reaches over the guest connection: a VM
 * without one refuses it with ERROR_NOT_SUPPORTED (README, "Strict where Windows is
 * strict"). */
static HRESULT sys_gate(hc_system *s) {
    if (s->state == SS_FAILED || s->state == SS_CREATING) return HCS_E_SYSTEM_NOT_FOUND;
    if (s->state == SS_STOPPED) return HCS_E_SYSTEM_ALREADY_STOPPED;
    if (s->state != SS_RUNNING) return HCS_E_INVALID_STATE;
    if (!s->has_guest) return HC_E_NOT_SUPPORTED;
    return S_OK;
}

static hj_value *fail(HRESULT *hr, HRESULT r, const char *msg) {
    *hr = r;
    return hc_result_error(r, msg);
}

/* A failure from errno e: the HRESULT it maps to (E_FAIL when none) and a message that
 * names the cause (hc_errno_text). */
void hc_errno_text(char *buf, size_t size, const char *what, int e) {
    const char *name = plat_errno_name(e);
    snprintf(buf, size, "%s: %s (errno %d%s%s).", what, plat_strerror(e), e, name ? ", " : "",
             name ? name : "");
}

/* Whether the n-byte names a and b are the same environment variable (ASCII case folded
 * where the host ignores case). */
static int env_names_equal(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (PLAT_ENV_NAMES_FOLD) {
            if (x >= 'a' && x <= 'z') x = (char)(x - 'a' + 'A');
            if (y >= 'a' && y <= 'z') y = (char)(y - 'a' + 'A');
        }
        if (x != y) return 0;
    }
    return 1;
}

/* argv joined with blanks, for messages (NULL when out of memory). */
static char *join_argv(char *const *argv) {
    size_t n = 1;
    for (size_t i = 0; argv[i]; i++) n += strlen(argv[i]) + 1;
    char *out = malloc(n);
    if (!out) return NULL;
    out[0] = 0;
    for (size_t i = 0; argv[i]; i++) {
        if (i) strcat(out, " ");
        strcat(out, argv[i]);
    }
    return out;
}

/* envp (NULL: the host's environment) with HCSIM_HVSOCKET_DIR=dir in place of any value it
 * had (README "Hyper-V sockets"); envp is consumed. NULL when out of memory. */
static char **with_hvsock_dir(char **envp, const char *dir) {
    char *const *from = envp ? envp : plat_environ();
    size_t n = 0, k = 0, name = strlen(HCSIM_HVSOCKET_ENV);
    while (from && from[n]) n++;
    char **out = calloc(n + 2, sizeof *out);
    int ok = out != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        if (env_names_equal(from[i], HCSIM_HVSOCKET_ENV, name) && from[i][name] == '=') continue;
        ok = (out[k++] = hc_strdup(from[i])) != NULL;
    }
    if (ok) {
        size_t len = name + strlen(dir) + 2;
        ok = (out[k] = malloc(len)) != NULL;
        if (ok) snprintf(out[k], len, "%s=%s", HCSIM_HVSOCKET_ENV, dir);
    }
    free_strv(envp);
    if (!ok) {
        free_strv(out);
        return NULL;
    }
    return out;
}

static hj_value *fail_errno(HRESULT *hr, int e, const char *what) {
    HRESULT mapped = hc_hr_from_errno(e);
    char msg[768];
    hc_errno_text(msg, sizeof msg, what, e);
    return fail(hr, FAILED(mapped) ? mapped : E_FAIL, msg);
}

hj_value *hc_work_create_process(hc_work *w, HRESULT *hr) {
    hc_proc *p = w->proc;
    hj_value *prm = hj_parse_utf16(w->raw);
    char **argv = NULL, **envp = NULL;
    hj_value *res = NULL;
    HRESULT r = S_OK;
    if (!prm || hj_typeof(prm) != HJ_OBJECT) {
        res = fail(&r, HCS_E_INVALID_JSON, "ProcessParameters is not a JSON object.");
        goto out;
    }
    const hj_value *args = hj_get(prm, "CommandArgs"), *line = hj_get(prm, "CommandLine");
    const hj_value *app = hj_get(prm, "ApplicationName"), *cwd = hj_get(prm, "WorkingDirectory");
    const hj_value *env = hj_get(prm, "Environment"), *size = hj_get(prm, "ConsoleSize");
    int emulate = 0, want[3] = {0, 0, 0};
    static const char *const pipe_keys[3] = {"CreateStdInPipe", "CreateStdOutPipe",
                                             "CreateStdErrPipe"};
    for (int i = 0; i < 3; i++) {
        const hj_value *v = hj_get(prm, pipe_keys[i]);
        if (v && hj_typeof(v) != HJ_NULL && !hj_bool(v, &want[i])) {
            res = fail(&r, HCS_E_INVALID_JSON, "CreateStd*Pipe must be booleans.");
            goto out;
        }
    }
    const hj_value *ec = hj_get(prm, "EmulateConsole");
    if (ec && hj_typeof(ec) != HJ_NULL && !hj_bool(ec, &emulate)) {
        res = fail(&r, HCS_E_INVALID_JSON, "EmulateConsole must be a boolean.");
        goto out;
    }
    int64_t rows = 25, cols = 80;
    if (size && hj_typeof(size) != HJ_NULL) {
        if (hj_typeof(size) != HJ_ARRAY || hj_count(size) != 2 ||
            !hj_int64(hj_at(size, 0), &rows) || !hj_int64(hj_at(size, 1), &cols) || rows < 0 ||
            cols < 0 || rows > 65535 || cols > 65535) {
            res = fail(&r, HCS_E_INVALID_JSON, "ConsoleSize must be [height, width].");
            goto out;
        }
    }
    if (args && hj_typeof(args) != HJ_NULL && hj_count(args) > 0) {
        if (hj_typeof(args) != HJ_ARRAY) {
            res = fail(&r, HCS_E_INVALID_JSON, "CommandArgs must be an array of strings.");
            goto out;
        }
        size_t n = hj_count(args);
        argv = calloc(n + 1, sizeof *argv);
        for (size_t i = 0; argv && i < n; i++) {
            const char *a = hj_str(hj_at(args, i), NULL);
            if (!a) {
                res = fail(&r, HCS_E_INVALID_JSON, "CommandArgs must be an array of strings.");
                goto out;
            }
            argv[i] = hc_strdup(a);
        }
    } else if (line && hj_typeof(line) != HJ_NULL) {
        const char *l = hj_str(line, NULL);
        if (!l) {
            res = fail(&r, HCS_E_INVALID_JSON, "CommandLine must be a string.");
            goto out;
        }
        if (*l && hc_cmdline_split(l, &argv) < 0) argv = NULL;
        if (argv && !argv[0][0]) {
            free_strv(argv);
            argv = NULL;
        }
    }
    if (app && hj_typeof(app) != HJ_NULL) {
        const char *a = hj_str(app, NULL);
        if (!a) {
            res = fail(&r, HCS_E_INVALID_JSON, "ApplicationName must be a string.");
            goto out;
        }
        if (*a) {
            if (!argv) {
                argv = calloc(2, sizeof *argv);
                if (argv) argv[0] = hc_strdup(a);
            } else {
                free(argv[0]);
                argv[0] = hc_strdup(a);
            }
        }
    }
    if (!argv || !argv[0]) {
        res =
            fail(&r, E_INVALIDARG, "No program: set CommandArgs, CommandLine or ApplicationName.");
        goto out;
    }
    const char *cwd8 = NULL;
    if (cwd && hj_typeof(cwd) != HJ_NULL) {
        if (!(cwd8 = hj_str(cwd, NULL))) {
            res = fail(&r, HCS_E_INVALID_JSON, "WorkingDirectory must be a string.");
            goto out;
        }
        if (!*cwd8) cwd8 = NULL;
    }
    if (env && hj_typeof(env) != HJ_NULL) {
        if (hj_typeof(env) != HJ_OBJECT) {
            res = fail(&r, HCS_E_INVALID_JSON, "Environment must be an object of strings.");
            goto out;
        }
        char *const *host = plat_environ();
        size_t nh = 0, ne = hj_count(env);
        while (host && host[nh]) nh++;
        envp = calloc(nh + ne + 1, sizeof *envp);
        size_t k = 0;
        for (size_t i = 0; envp && i < nh; i++) {
            const char *eq = strchr(host[i], '=');
            size_t kl = eq ? (size_t)(eq - host[i]) : strlen(host[i]);
            int overridden = 0;
            for (size_t j = 0; j < ne; j++) {
                const char *key = hj_key_at(env, j);
                if (strlen(key) == kl && env_names_equal(key, host[i], kl)) overridden = 1;
            }
            if (!overridden) envp[k++] = hc_strdup(host[i]);
        }
        for (size_t j = 0; envp && j < ne; j++) {
            const char *key = hj_key_at(env, j), *val = hj_str(hj_at(env, j), NULL);
            if (!val || !*key || strchr(key, '=')) {
                res = fail(&r, HCS_E_INVALID_JSON, "Environment must map names to strings.");
                goto out;
            }
            size_t len = strlen(key) + strlen(val) + 2;
            char *e = malloc(len);
            if (e) {
                strcpy(e, key);
                strcat(e, "=");
                strcat(e, val);
            }
            envp[k++] = e;
        }
    }
    char hvdir[320];
    hc_lock();
    r = sys_gate(p->sys);
    int has_hvdir = SUCCEEDED(r) && hc_hvsock_dir(p->sys, hvdir, sizeof hvdir) == 0;
    hc_unlock();
    if (has_hvdir && !(envp = with_hvsock_dir(envp, hvdir))) {
        res = fail(&r, E_OUTOFMEMORY, "Out of memory.");
        goto out;
    }
    if (r == HC_E_NOT_SUPPORTED)
        res = fail(&r, r,
                   "The virtual machine has no guest connection: a process cannot be "
                   "created in it.");
    if (FAILED(r)) goto out;

    plat_spawn_opts so;
    memset(&so, 0, sizeof so);
    so.argv = (const char *const *)argv;
    so.envp = (const char *const *)envp;
    so.cwd = cwd8;
    so.want_stdin = want[0];
    so.want_stdout = want[1];
    so.want_stderr = emulate ? 0 : want[2];
    so.use_pty = emulate;
    so.rows = (uint16_t)rows;
    so.cols = (uint16_t)cols;
    plat_spawn_result sr;
    int e = plat_spawn(&so, &sr);
    if (e) {
        /* A missing program is ERROR_FILE_NOT_FOUND, which names no file: the message
         * names the command line (README, "Strict where Windows is strict"). */
        char what[640];
        char *joined = join_argv(argv);
        snprintf(what, sizeof what, "The process could not be started (command line: %s)",
                 joined ? joined : argv[0]);
        free(joined);
        res = fail_errno(&r, e, what);
        goto out;
    }
    /* From here the guard kills the process's tree if this host process dies. */
    const char *why = "The process could not be guarded";
    e = plat_guard_add(sr.pid);
    hc_lock();
    if (e == 0) {
        why = "The process could not be tracked";
        e = reserve_session(p->sys);
    }
    if (e == 0) {
        why = "The process exit could not be monitored";
        /* Watched under the lock, so on_exit_cb cannot run before p is published. */
        hc_ref(p); /* for the exit monitor */
        e = plat_watch_exit(sr.pid, on_exit_cb, p);
        if (e) hc_unref(p);
    }
    if (e) {
        hc_unlock();
        /* it cannot be guarded or watched: kill it and anything it started meanwhile,
         * then reap it (not before: its pid must not be free while its session is
         * killed), close our ends, fail */
        plat_signal_group(sr.pid, PLAT_SIGKILL);
        for (int i = 0; i < 3 && plat_kill_sessions(&sr.pid, 1) != 0; i++) plat_sleep_ms(10);
        plat_reap(sr.pid, NULL);
        plat_guard_forget(sr.pid);
        plat_fd fds[4] = {sr.stdin_fd, sr.stdout_fd, sr.stderr_fd, sr.pty_fd};
        for (int i = 0; i < 4; i++) close_fd(&fds[i]);
        res = fail_errno(&r, e, why);
        goto out;
    }
    prune_sessions(p->sys);
    add_session(p->sys, sr.pid);
    p->pid = sr.pid;
    p->fd[0] = sr.stdin_fd;
    p->fd[1] = sr.stdout_fd;
    p->fd[2] = sr.stderr_fd;
    if (emulate) {
        if (!want[0]) close_fd(&p->fd[0]);
        if (!want[1]) close_fd(&p->fd[1]);
        close_fd(&p->fd[2]);
    }
#if PLAT_HOST_RELEASES
    /* (out of memory: the stream goes unrecorded and its caller handles uncounted) */
    for (int i = 0; i < 3; i++)
        if (p->fd[i] >= 0) (void)hc_stream_add(p->fd[i]);
#endif
    p->pty_fd = sr.pty_fd;
    p->is_pty = emulate;
    p->rows = (uint16_t)rows;
    p->cols = (uint16_t)cols;
    const char *base = argv[0];
    for (const char *c = argv[0]; *c; c++)
        if (strchr(PLAT_DIR_SEPS, *c)) base = c + 1;
    p->image = hc_strdup(base);
    hc_wall_time(p->create_time);
    p->state = PS_RUNNING;
    HC_LIST_PUSH(p->sys->procs, p);
    p->in_list = 1;
    G.counts.Processes++;
    if (p->sys->state == SS_PAUSED) plat_signal_group(p->pid, PLAT_SIGSTOP);
    hc_unlock();
out:
    if (FAILED(r)) {
        hc_lock();
        if (p->state == PS_CREATING) p->state = PS_FAILED;
        plat_cond_broadcast(&G.exit_cond);
        hc_unlock();
    }
    free_strv(argv);
    free_strv(envp);
    hj_free(prm);
    *hr = r;
    return res;
}

/* ---- process gate and work functions ----------------------------------------------------- */
static HRESULT proc_gate(hc_proc *p) {
    if (p->state == PS_FAILED || p->state == PS_CREATING)
        return HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
    if (p->state == PS_EXITED || p->sys->state == SS_STOPPED) return HCS_E_PROCESS_ALREADY_STOPPED;
    return S_OK;
}

static hj_value *work_terminate(hc_work *w, HRESULT *hr) {
    hc_lock();
    hc_proc *p = w->proc;
    HRESULT r = proc_gate(p);
    if (r == S_OK && plat_signal_group(p->pid, PLAT_SIGKILL) == ESRCH)
        r = HCS_E_PROCESS_ALREADY_STOPPED;
    if (r == S_OK) p->sent_sig = PLAT_SIGKILL;
    hc_unlock();
    *hr = r;
    return NULL;
}

static int windows_signal(const char *name) {
    if (!strcmp(name, "CtrlC")) return PLAT_SIGINT;
    if (!strcmp(name, "CtrlBreak")) return PLAT_SIGQUIT;
    if (!strcmp(name, "CtrlClose")) return PLAT_SIGHUP;
    if (!strcmp(name, "CtrlLogOff")) return PLAT_SIGHUP;
    if (!strcmp(name, "CtrlShutdown")) return PLAT_SIGTERM;
    return 0;
}

static hj_value *work_signal(hc_work *w, HRESULT *hr) {
    HRESULT r = S_OK;
    if (!w->raw) return fail(hr, E_INVALIDARG, "SignalProcessOptions are required.");
    w->args = hj_parse_utf16(w->raw);
    if (!w->args || hj_typeof(w->args) != HJ_OBJECT)
        return fail(hr, HCS_E_INVALID_JSON, "SignalProcessOptions is not a JSON object.");
    const hj_value *sv = hj_get(w->args, "Signal");
    hc_lock();
    hc_proc *p = w->proc;
    int sig = 0;
    const char *msg = NULL;
    if (p->sys->is_linux) {
        int64_t n = 0;
        if (!sv || !hj_int64(sv, &n) || n < 1 || n > 64) {
            r = E_INVALIDARG;
            msg = "A Linux system takes a signal number (1-64).";
        }
        sig = (int)n;
    } else {
        const char *name = hj_str(sv, NULL);
        if (!name || !(sig = windows_signal(name))) {
            r = E_INVALIDARG;
            msg = "A Windows system takes a ProcessSignal name (CtrlC, CtrlBreak, CtrlClose, "
                  "CtrlLogOff, CtrlShutdown).";
        }
    }
    if (r == S_OK) r = proc_gate(p);
    if (r == S_OK && plat_signal_group(p->pid, sig) == ESRCH) r = HCS_E_PROCESS_ALREADY_STOPPED;
    if (r == S_OK && p->sent_sig != PLAT_SIGKILL) p->sent_sig = sig;
    hc_unlock();
    *hr = r;
    return FAILED(r) && msg ? hc_result_error(r, msg) : NULL;
}

static hj_value *work_info(hc_work *w, HRESULT *hr) {
    hc_lock();
    *hr = proc_gate(w->proc);
    hc_unlock();
    return NULL;
}

static hj_value *work_props(hc_work *w, HRESULT *hr) {
    if (w->raw) {
        w->args = hj_parse_utf16(w->raw);
        if (!w->args) return fail(hr, HCS_E_INVALID_JSON, "The property query is not valid JSON.");
    }
    hc_lock();
    hc_proc *p = w->proc;
    hj_value *res = NULL;
    if (p->state == PS_FAILED || p->state == PS_CREATING) {
        *hr = HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
    } else {
        *hr = S_OK;
        res = process_status(p);
    }
    hc_unlock();
    return res;
}

static hj_value *work_modify(hc_work *w, HRESULT *hr) {
    if (!w->raw) return fail(hr, E_INVALIDARG, "A ProcessModifyRequest is required.");
    w->args = hj_parse_utf16(w->raw);
    if (!w->args || hj_typeof(w->args) != HJ_OBJECT)
        return fail(hr, HCS_E_INVALID_JSON, "ProcessModifyRequest is not a JSON object.");
    const char *opn = hj_str(hj_get(w->args, "Operation"), NULL);
    int64_t height = 0, width = 0;
    int stream = -1;
    if (!opn) return fail(hr, E_INVALIDARG, "Operation must be ConsoleSize or CloseHandle.");
    if (!strcmp(opn, "ConsoleSize")) {
        const hj_value *cs = hj_get(w->args, "ConsoleSize");
        if (!hj_int64(hj_get(cs, "Height"), &height) || !hj_int64(hj_get(cs, "Width"), &width) ||
            height < 0 || width < 0 || height > 65535 || width > 65535)
            return fail(hr, HCS_E_INVALID_JSON, "ConsoleSize needs Height and Width (0-65535).");
    } else if (!strcmp(opn, "CloseHandle")) {
        const char *hn = hj_str(hj_get(hj_get(w->args, "CloseHandle"), "Handle"), NULL);
        if (hn && !strcmp(hn, "StdIn"))
            stream = 0;
        else if (hn && !strcmp(hn, "StdOut"))
            stream = 1;
        else if (hn && !strcmp(hn, "StdErr"))
            stream = 2;
        else if (hn && !strcmp(hn, "All"))
            stream = 3;
        else
            return fail(hr, E_INVALIDARG,
                        "CloseHandle.Handle must be StdIn, StdOut, StdErr or All.");
    } else {
        return fail(hr, E_INVALIDARG, "Operation must be ConsoleSize or CloseHandle.");
    }
    hc_lock();
    hc_proc *p = w->proc;
    HRESULT r = proc_gate(p);
    if (r == S_OK) {
        if (stream < 0) {
            p->rows = (uint16_t)height;
            p->cols = (uint16_t)width;
            if (p->is_pty && p->pty_fd >= 0) plat_pty_resize(p->pty_fd, p->rows, p->cols);
        } else if (stream == 3) {
            for (int i = 0; i < 3; i++) close_stream(p, i);
        } else {
            close_stream(p, stream);
        }
    }
    hc_unlock();
    *hr = r;
    return NULL;
}

static void abandon_create_process(hc_work *w) {
    if (w->proc->state == PS_CREATING) {
        w->proc->state = PS_FAILED;
        plat_cond_broadcast(&G.exit_cond);
    }
}

/* ---- exports ---------------------------------------------------------------------------- */
HRESULT WINAPI HcsCreateProcess(HCS_SYSTEM computeSystem, PCWSTR processParameters,
                                HCS_OPERATION operation,
                                const SECURITY_DESCRIPTOR *securityDescriptor,
                                HCS_PROCESS *process) {
    if (process) *process = NULL;
    if (hc_remote_active())
        return securityDescriptor
                   ? E_INVALIDARG
                   : hc_remote_call(FN_HcsCreateProcess, (const void *)computeSystem,
                                    processParameters, (const void *)operation, (void *)process);
    hc_call call;
    HRESULT hr = hc_enter(FN_HcsCreateProcess, &call);
    if (hr != S_OK) return hr;
    if (!processParameters || !process || securityDescriptor) return E_INVALIDARG;
    char16_t *raw = aiohcs_utf16_dup(processParameters, NULL);
    if (!raw) return E_OUTOFMEMORY;
    hc_lock();
    hc_sysh *sh = hc_sysh_get(computeSystem);
    hc_op *op = hc_reg_get(operation, K_OP);
    hc_proc *p = NULL;
    hc_proch *ph = NULL;
    hc_work *w = NULL;
    if (!sh)
        hr = E_HANDLE;
    else
        hr = hc_op_check(op, &sh->ev);
    if (hr == S_OK && !(p = hc_obj_new(sizeof *p, K_PROC))) hr = E_OUTOFMEMORY;
    if (hr == S_OK) {
        p->sys = sh->sys;
        hc_ref(p->sys);
        p->state = PS_CREATING;
        p->fd[0] = p->fd[1] = p->fd[2] = p->pty_fd = -1;
        if (!(ph = proch_new(p))) hr = E_OUTOFMEMORY;
    }
    if (hr == S_OK && !(w = hc_work_new(hc_work_create_process, sh->sys, sh, ph)))
        hr = E_OUTOFMEMORY;
    if (hr != S_OK) {
        if (ph) {
            hc_evh_unlink(&ph->ev);
            hc_evh_release(&ph->ev);
        }
        hc_unref(p);
        hc_unlock();
        free(raw);
        return hr;
    }
    w->raw = raw;
    w->proc = p; /* takes the creation reference */
    w->abandon = abandon_create_process;
    hc_op_begin(op, HcsOperationTypeCreateProcess, &call, w);
    *process = (HCS_PROCESS)HC_HANDLE(ph);
    hc_unlock();
    return S_OK;
}

HRESULT WINAPI HcsOpenProcess(HCS_SYSTEM computeSystem, DWORD processId, DWORD requestedAccess,
                              HCS_PROCESS *process) {
    if (process) *process = NULL;
    if (hc_remote_active())
        return hc_remote_call(FN_HcsOpenProcess, (const void *)computeSystem, (uint32_t)processId,
                              (uint32_t)requestedAccess, (void *)process);
    HRESULT hr = hc_enter_sync(FN_HcsOpenProcess);
    if (hr != S_OK) return hr;
    if (!process) return E_INVALIDARG;
    hc_lock();
    hc_sysh *sh = hc_sysh_get(computeSystem);
    if (!sh) {
        hc_unlock();
        return E_HANDLE;
    }
    hc_proc *p = sh->sys->procs;
    while (p && !(p->state == PS_RUNNING && (DWORD)p->pid == processId)) p = p->next;
    if (!p) {
        hr = HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
    } else {
        hc_proch *ph = proch_new(p);
        if (!ph)
            hr = E_OUTOFMEMORY;
        else
            *process = (HCS_PROCESS)HC_HANDLE(ph);
    }
    hc_unlock();
    return hr;
}

void WINAPI HcsCloseProcess(HCS_PROCESS process) {
    if (hc_remote_active()) {
        hc_remote_close(FN_HcsCloseProcess, process, K_PROCH);
        return;
    }
    hc_evh_close(FN_HcsCloseProcess, process, K_PROCH, NULL);
}

#define PROCESS_CALL(name, type, work) HC_OP_EXPORT(name, HCS_PROCESS, K_PROCH, type, work)
PROCESS_CALL(HcsTerminateProcess, HcsOperationTypeTerminate, work_terminate)
PROCESS_CALL(HcsSignalProcess, HcsOperationTypeSignalProcess, work_signal)
PROCESS_CALL(HcsGetProcessProperties, HcsOperationTypeGetProcessProperties, work_props)
PROCESS_CALL(HcsModifyProcess, HcsOperationTypeModifyProcess, work_modify)

HRESULT WINAPI HcsGetProcessInfo(HCS_PROCESS process, HCS_OPERATION operation) {
    return hc_op_call(FN_HcsGetProcessInfo, HcsOperationTypeGetProcessInfo, work_info, K_PROCH,
                      process, operation, NULL);
}

/* A registration after the exit gets ProcessExited once (see README, "late registration"). */
static hj_value *process_terminal(hc_evh *h, HCS_EVENT_TYPE *type) {
    hc_proc *p = ((hc_proch *)h)->p;
    if (p->state != PS_EXITED) return NULL;
    *type = HcsEventProcessExited;
    return process_status(p);
}

HRESULT WINAPI HcsSetProcessCallback(HCS_PROCESS process, HCS_EVENT_OPTIONS callbackOptions,
                                     void *context, HCS_EVENT_CALLBACK callback) {
    if (hc_remote_active())
        return hc_remote_set_callback(FN_HcsSetProcessCallback, process, K_PROCH, callbackOptions,
                                      context, callback);
    return hc_evh_set_callback(FN_HcsSetProcessCallback, process, K_PROCH, callbackOptions, context,
                               callback, process_terminal);
}

static HRESULT process_exited(hc_evh *h, PWSTR *result) {
    hc_proc *p = ((hc_proch *)h)->p;
    if (p->state == PS_FAILED) return HRESULT_FROM_WIN32(ERROR_NOT_FOUND);
    if (p->state != PS_EXITED) return S_FALSE;
    if (result) {
        hj_value *st = process_status(p);
        *result = hc_doc_from_json(st);
        hj_free(st);
    }
    return S_OK;
}

HRESULT WINAPI HcsWaitForProcessExit(HCS_PROCESS computeSystem, DWORD timeoutMs, PWSTR *result) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcsWaitForProcessExit, (const void *)computeSystem,
                              (uint32_t)timeoutMs, (void *)result);
    return hc_evh_wait_exit(FN_HcsWaitForProcessExit, computeSystem, K_PROCH, timeoutMs, result,
                            process_exited);
}

/* ---- used by systems and reset -------------------------------------------------------------- */
void hc_proc_kill_all(hc_system *s, int sig) {
    /* every session, also those whose leader has exited (a background child remains) */
    prune_sessions(s);
    for (size_t i = 0; i < s->nsess; i++) {
        plat_signal_group(s->sess[i].sid, sig);
        if (sig == PLAT_SIGKILL) plat_signal_group(s->sess[i].sid, PLAT_SIGCONT);
    }
}

hj_value *hc_proc_list(hc_system *s) {
    hj_value *arr = hj_new_array();
    for (hc_proc *p = s->procs; p; p = p->next) {
        if (p->state != PS_RUNNING) continue;
        hj_value *o = hj_new_object();
        hj_set(o, "ProcessId", hj_new_uint((uint64_t)p->pid));
        hj_set(o, "ImageName", hj_new_string(p->image ? p->image : ""));
        hj_set(o, "CreateTimestamp", hj_new_string(p->create_time));
        hj_set(o, "UserTime100ns", hj_new_uint(0));
        hj_set(o, "KernelTime100ns", hj_new_uint(0));
        hj_set(o, "MemoryCommitBytes", hj_new_uint(0));
        hj_set(o, "MemoryWorkingSetPrivateBytes", hj_new_uint(0));
        hj_set(o, "MemoryWorkingSetSharedBytes", hj_new_uint(0));
        hj_push(arr, o);
    }
    return arr;
}

/* Not in a header: how many sessions the system of handle h tracks (tests). */
size_t hc_tracked_sessions_for_tests(HCS_SYSTEM h);
size_t hc_tracked_sessions_for_tests(HCS_SYSTEM h) {
    hc_lock();
    hc_sysh *sh = hc_sysh_get(h);
    size_t n = sh ? sh->sys->nsess : 0;
    hc_unlock();
    return n;
}
