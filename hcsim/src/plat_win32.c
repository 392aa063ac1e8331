/* hcsim platform layer for Win32 (plat.h): SRW locks and condition variables, threads,
 * QueryPerformanceCounter time, processes started with CreateProcessW, one job object per
 * process tree, exit watching on the system thread pool, named pipes, UTF-16 file calls.
 *
 * How the POSIX vocabulary of plat.h maps here:
 * - a descriptor (plat_fd) is a HANDLE value; errno values are mapped from Win32 errors.
 * - a "session" (sid = the pid plat_spawn returned) is the job object the process was
 *   started in (suspended, assigned, then resumed, so everything it starts is in the job
 *   too). JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE makes the job its own guard: when this
 *   process ends in any way, its handle closes and the job's processes are killed.
 *   plat_guard_forget closes the job handle (the session is empty or was killed).
 * - signals (Linux numbers, PLAT_SIG*): SIGSTOP/SIGCONT suspend/resume every process of
 *   the job; every other signal terminates the job with exit code 128 + signal, as a
 *   process killed by that signal reports on Linux.
 * - exit watching: RegisterWaitForSingleObject on the process handle (a thread pool wait,
 *   no thread per process); the process "is reaped" when its exit has been reported.
 * - pipes: a named pipe per stream (\\.\pipe\hcsim-<pid>-<n>-<random>, one instance, open
 *   to the current user only), the parent's end being the server end (what plat_null_over
 *   disconnects), the child's the client end.
 * - pseudo-terminals are pseudo-consoles (ConPTY): the process's console reads the input
 *   pipe and writes the output pipe (VT sequences); pty_fd is an event HANDLE standing for
 *   the HPCON (plat_close closes both). The console is closed when its process exits, so
 *   the reader of its output sees end of file. */
#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
/* Windows 10 1809 (RS5): pseudo-consoles; the oldest release aiohcs supports */
#undef NTDDI_VERSION
#define NTDDI_VERSION 0x0A000006
#include <windows.h>
#include <bcrypt.h>

#include "plat.h"
#include "plat_common.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wctype.h>

_Static_assert(sizeof(SRWLOCK) == sizeof(plat_mutex), "plat_mutex holds an SRWLOCK");
_Static_assert(sizeof(CONDITION_VARIABLE) == sizeof(plat_cond), "plat_cond holds a CV");
_Static_assert(sizeof(HANDLE) == sizeof(plat_fd), "plat_fd holds a HANDLE");

#define H(fd)  ((HANDLE)(fd))
#define FD(h)  ((plat_fd)(h))
#define SRW(m) ((SRWLOCK *)&(m)->srw)
#define CV(c)  ((CONDITION_VARIABLE *)&(c)->cv)

/* ---- errors ------------------------------------------------------------------------ */
static int errno_of(DWORD err) {
    switch (err) {
    case ERROR_SUCCESS: return 0;
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_DRIVE:
    case ERROR_BAD_NETPATH:
    case ERROR_BAD_PATHNAME: return ENOENT;
    case ERROR_TOO_MANY_OPEN_FILES: return EMFILE;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION:
    case ERROR_LOCK_VIOLATION: return EACCES;
    case ERROR_INVALID_HANDLE: return EBADF;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_COMMITMENT_LIMIT: return ENOMEM;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS: return EEXIST;
    case ERROR_DIR_NOT_EMPTY: return ENOTEMPTY;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL: return ENOSPC;
    case ERROR_INVALID_PARAMETER:
    case ERROR_INVALID_NAME: return EINVAL;
    case ERROR_BAD_EXE_FORMAT:
    case ERROR_EXE_MACHINE_TYPE_MISMATCH: return ENOEXEC;
    case ERROR_DIRECTORY: return ENOTDIR;
    case ERROR_FILENAME_EXCED_RANGE: return ENAMETOOLONG;
    case ERROR_BROKEN_PIPE:
    case ERROR_NO_DATA:
    case ERROR_PIPE_NOT_CONNECTED: return EPIPE;
    case ERROR_WRITE_PROTECT: return EROFS;
    case ERROR_CALL_NOT_IMPLEMENTED:
    case ERROR_NOT_SUPPORTED: return ENOSYS;
    case ERROR_INVALID_FUNCTION: return EINVAL;
    default: return EIO;
    }
}

static int last_errno(void) { return errno_of(GetLastError()); }

const char *plat_strerror(int e) { return plat_errno_text(e); }

/* UTF-8 -> UTF-16 (malloc'd), or NULL with errno set. */
static wchar_t *wide(const char *s) {
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n <= 0) {
        errno = EINVAL;
        return NULL;
    }
    wchar_t *w = malloc((size_t)n * sizeof *w);
    if (!w) {
        errno = ENOMEM;
        return NULL;
    }
    MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
    return w;
}

/* UTF-16 -> UTF-8 (malloc'd), or NULL. */
static char *narrow(const wchar_t *w) {
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = n > 0 ? malloc((size_t)n) : NULL;
    if (s) WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
    return s;
}

/* ---- locks, condition variables, threads -------------------------------------------- */
int plat_mutex_init(plat_mutex *m) {
    InitializeSRWLock(SRW(m));
    return 0;
}
void plat_mutex_destroy(plat_mutex *m) { (void)m; }
void plat_mutex_lock(plat_mutex *m) { AcquireSRWLockExclusive(SRW(m)); }
void plat_mutex_unlock(plat_mutex *m) { ReleaseSRWLockExclusive(SRW(m)); }

int plat_cond_init(plat_cond *c) {
    InitializeConditionVariable(CV(c));
    return 0;
}
void plat_cond_destroy(plat_cond *c) { (void)c; }
void plat_cond_wait(plat_cond *c, plat_mutex *m) {
    SleepConditionVariableSRW(CV(c), SRW(m), INFINITE, 0);
}
int plat_cond_timedwait(plat_cond *c, plat_mutex *m, uint32_t timeout_ms) {
    if (timeout_ms == INFINITE) timeout_ms--; /* a bounded wait stays bounded */
    if (SleepConditionVariableSRW(CV(c), SRW(m), timeout_ms, 0)) return 0;
    return GetLastError() == ERROR_TIMEOUT ? ETIMEDOUT : 0;
}
void plat_cond_signal(plat_cond *c) { WakeConditionVariable(CV(c)); }
void plat_cond_broadcast(plat_cond *c) { WakeAllConditionVariable(CV(c)); }

typedef struct {
    void (*fn)(void *);
    void *arg;
} thread_start;

static DWORD WINAPI thread_main(LPVOID p) {
    thread_start st = *(thread_start *)p;
    free(p);
    st.fn(st.arg);
    return 0;
}

int plat_thread_create(plat_thread *t, void (*fn)(void *arg), void *arg) {
    thread_start *st = malloc(sizeof *st);
    if (!st) return ENOMEM;
    st->fn = fn;
    st->arg = arg;
    HANDLE h = CreateThread(NULL, 0, thread_main, st, 0, NULL);
    if (!h) {
        int e = last_errno();
        free(st);
        return e;
    }
    t->handle = h;
    return 0;
}

void plat_thread_join(plat_thread *t) {
    WaitForSingleObject(t->handle, INFINITE);
    CloseHandle(t->handle);
    t->handle = NULL;
}

uint64_t plat_thread_id(void) { return GetCurrentThreadId(); }

/* ---- time ------------------------------------------------------------------------- */
uint64_t plat_now_ns(void) {
    static atomic_llong freq;
    long long f = atomic_load_explicit(&freq, memory_order_relaxed);
    if (!f) {
        LARGE_INTEGER li;
        QueryPerformanceFrequency(&li);
        f = li.QuadPart;
        atomic_store_explicit(&freq, f, memory_order_relaxed);
    }
    LARGE_INTEGER c;
    QueryPerformanceCounter(&c);
    uint64_t q = (uint64_t)c.QuadPart, uf = (uint64_t)f;
    return q / uf * 1000000000u + q % uf * 1000000000u / uf;
}

uint64_t plat_now_ms(void) { return plat_now_ns() / 1000000u; }

void plat_sleep_ms(uint32_t ms) { Sleep(ms); }

void plat_atfork_child(void (*fn)(void)) { (void)fn; /* no fork() on Windows */ }

void plat_utc_now(struct tm *out, uint32_t *ticks100ns) {
    FILETIME ft;
    GetSystemTimePreciseAsFileTime(&ft);
    SYSTEMTIME st;
    FileTimeToSystemTime(&ft, &st);
    uint64_t t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
    memset(out, 0, sizeof *out);
    out->tm_year = st.wYear - 1900;
    out->tm_mon = st.wMonth - 1;
    out->tm_mday = st.wDay;
    out->tm_hour = st.wHour;
    out->tm_min = st.wMinute;
    out->tm_sec = st.wSecond;
    out->tm_wday = st.wDayOfWeek;
    *ticks100ns = (uint32_t)(t % 10000000u);
}

/* ---- the table of started processes ------------------------------------------------- */
/* One entry per process plat_spawn started, from the spawn until both its exit has been
 * reported (or it was reaped) and its job was forgotten. */
typedef struct wproc {
    int64_t pid;
    HANDLE process, job, wait;
    plat_exit_fn on_exit;
    void *ctx;
    int watched, reaped, job_closed;
    struct wproc *next;
} wproc;

static SRWLOCK ptab_lock = SRWLOCK_INIT;
static wproc *ptab;

/* A pseudo-console: its HPCON is no HANDLE, so the caller's pty_fd is an event HANDLE
 * (key) that stands for it; plat_close and plat_pty_resize look it up. The console reads
 * its input from and writes its output to pipes whose server ends (ends) are held here for
 * the console's life, whatever the caller does with its own (it shuts down when an end
 * closes); they are closed after ClosePseudoConsole, and until then the entry stays in
 * the table (console_refs counts them). Output nobody asked for is drained. */
typedef struct {
    HPCON pc;
    HANDLE ends[2]; /* the server ends of the input and the output pipe */
} wconsole;

typedef struct wpty {
    HANDLE key;   /* NULL once plat_close closed it */
    wconsole con; /* zero once closed */
    int closing;  /* a pool thread is closing con (the entry stays until it is done) */
    int64_t pid;
    struct wpty *next;
} wpty;

static wpty *ptys; /* under ptab_lock */

static void console_close(wconsole *c) {  /* closes a console, then its pipe ends */
    if (c->pc) ClosePseudoConsole(c->pc); /* may wait until its last output has been read */
    for (int i = 0; i < 2; i++)
        if (c->ends[i]) CloseHandle(c->ends[i]);
    memset(c, 0, sizeof *c);
}

static void pty_unlink(wpty *t) { /* under ptab_lock */
    for (wpty **pp = &ptys; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
}

static DWORD WINAPI close_console(LPVOID arg) {
    wpty *t = arg;
    ClosePseudoConsole(t->con.pc); /* (t->con does not change while closing) */
    AcquireSRWLockExclusive(&ptab_lock);
    t->con.pc = NULL;
    console_close(&t->con); /* the ends, under the lock: console_refs never misses them */
    t->closing = 0;
    if (!t->key) { /* plat_close came meanwhile */
        pty_unlink(t);
        free(t);
    }
    ReleaseSRWLockExclusive(&ptab_lock);
    return 0;
}

/* The console's output ends when its process does: the pseudo-console is closed then (on
 * a thread-pool thread, since closing waits for the output to be drained). */
static void pty_exited(int64_t pid) { /* under ptab_lock */
    for (wpty *t = ptys; t; t = t->next) {
        if (t->pid != pid || !t->con.pc || t->closing) continue; /* (pids are reused) */
        t->closing = 1;
        if (!QueueUserWorkItem(close_console, t, WT_EXECUTEDEFAULT)) {
            t->closing = 0;
            console_close(&t->con);
        }
        return;
    }
}

/* Reads and drops a console's output nobody asked for, until the console closes. */
static DWORD WINAPI drain_output(LPVOID end) {
    char buf[4096];
    DWORD n;
    while (ReadFile(end, buf, sizeof buf, &n, NULL)) {}
    CloseHandle(end);
    return 0;
}

/* How many of the handles open on fd's object are consoles' (see wpty). */
static uint32_t console_refs(HANDLE fd);

static wproc *find(int64_t pid) { /* under ptab_lock */
    for (wproc *w = ptab; w; w = w->next)
        if (w->pid == pid) return w;
    return NULL;
}

/* Under ptab_lock: frees w once nothing needs it any more. */
static void maybe_drop(wproc *w) {
    if (!w->reaped || !w->job_closed || (w->watched && w->wait)) return;
    for (wproc **pp = &ptab; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    CloseHandle(w->process);
    free(w);
}

static int exit_code_of(HANDLE process) {
    DWORD code = 0;
    GetExitCodeProcess(process, &code);
    return (int)code;
}

/* Active processes of a job (0 when it cannot be read). */
static DWORD job_active(HANDLE job) {
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION ai;
    if (!QueryInformationJobObject(job, JobObjectBasicAccountingInformation, &ai, sizeof ai, NULL))
        return 0;
    return ai.ActiveProcesses;
}

/* The job of session sid, duplicated for use outside the lock, or NULL. */
static HANDLE job_of(int64_t sid) {
    HANDLE dup = NULL;
    AcquireSRWLockShared(&ptab_lock);
    wproc *w = find(sid);
    if (w && w->job && !w->job_closed)
        DuplicateHandle(GetCurrentProcess(), w->job, GetCurrentProcess(), &dup, 0, FALSE,
                        DUPLICATE_SAME_ACCESS);
    ReleaseSRWLockShared(&ptab_lock);
    return dup;
}

typedef LONG(NTAPI *suspend_fn)(HANDLE);

static FARPROC proc_of(const wchar_t *dll, const char *name) {
    HMODULE m = GetModuleHandleW(dll);
    return m ? GetProcAddress(m, name) : NULL;
}

/* Suspends (or resumes) every process of a job. */
static void job_suspend(HANDLE job, int resume) {
    suspend_fn fn = (suspend_fn)(void (*)(void))proc_of(L"ntdll.dll", resume ? "NtResumeProcess"
                                                                             : "NtSuspendProcess");
    if (!fn) return;
    struct {
        JOBOBJECT_BASIC_PROCESS_ID_LIST l;
        ULONG_PTR more[255];
    } ids;
    if (!QueryInformationJobObject(job, JobObjectBasicProcessIdList, &ids, sizeof ids, NULL) &&
        GetLastError() != ERROR_MORE_DATA) /* (more than fit: the first 256 are listed) */
        return;
    for (DWORD i = 0; i < ids.l.NumberOfProcessIdsInList; i++) {
        HANDLE p = OpenProcess(PROCESS_SUSPEND_RESUME | PROCESS_QUERY_INFORMATION, FALSE,
                               (DWORD)ids.l.ProcessIdList[i]);
        if (!p) continue;
        /* the id was listed before it was opened: it may have been reused meanwhile (Wine
         * wants PROCESS_QUERY_INFORMATION for IsProcessInJob, not the limited right) */
        BOOL in_job = FALSE;
        if (IsProcessInJob(p, job, &in_job) && in_job) fn(p);
        CloseHandle(p);
    }
}

int plat_signal_group(int64_t pid, int sig) {
    HANDLE job = job_of(pid);
    if (!job) return ESRCH;
    int rc = 0;
    if (job_active(job) == 0)
        rc = ESRCH;
    else if (sig == PLAT_SIGSTOP || sig == PLAT_SIGCONT)
        job_suspend(job, sig == PLAT_SIGCONT);
    else if (sig != 0 && !TerminateJobObject(job, 128u + (unsigned)sig))
        rc = last_errno();
    CloseHandle(job);
    return rc;
}

int plat_group_gone(int64_t pgid) {
    HANDLE job = job_of(pgid);
    int gone = !job || job_active(job) == 0;
    if (job) CloseHandle(job);
    return gone;
}

int plat_pid_exists(int64_t pid) {
    AcquireSRWLockShared(&ptab_lock);
    wproc *w = find(pid);
    int ours = w && !w->reaped;
    ReleaseSRWLockShared(&ptab_lock);
    if (ours) return 1;
    HANDLE p = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
    if (!p) return GetLastError() == ERROR_ACCESS_DENIED;
    int alive = WaitForSingleObject(p, 0) == WAIT_TIMEOUT;
    CloseHandle(p);
    return alive;
}

int plat_kill_sessions(const int64_t *sids, size_t n) {
    for (size_t i = 0; i < n; i++) {
        HANDLE job = job_of(sids[i]);
        if (!job) continue;
        TerminateJobObject(job, 128u + PLAT_SIGKILL);
        CloseHandle(job);
    }
    return 0;
}

int plat_sessions_alive(const int64_t *sids, size_t n, unsigned char *alive) {
    for (size_t i = 0; i < n; i++) {
        HANDLE job = job_of(sids[i]);
        alive[i] = job && job_active(job) > 0;
        if (job) CloseHandle(job);
    }
    return 0;
}

int plat_guard_add(int64_t sid) {
    (void)sid; /* the job (kill on close) is the guard */
    return 0;
}

void plat_guard_forget(int64_t sid) {
    AcquireSRWLockExclusive(&ptab_lock);
    wproc *w = find(sid);
    if (w && !w->job_closed) {
        CloseHandle(w->job);
        w->job = NULL;
        w->job_closed = 1;
        maybe_drop(w);
    }
    ReleaseSRWLockExclusive(&ptab_lock);
}

int plat_pty_resize(plat_fd pty_fd, uint16_t rows, uint16_t cols) {
    AcquireSRWLockShared(&ptab_lock);
    int rc = EBADF;
    for (wpty *t = ptys; t; t = t->next)
        if (t->key == H(pty_fd)) {
            COORD size = {(SHORT)cols, (SHORT)rows};
            HRESULT hr = t->con.pc && !t->closing ? ResizePseudoConsole(t->con.pc, size) : S_OK;
            rc = SUCCEEDED(hr) ? 0 : errno_of(HRESULT_CODE(hr));
            break;
        }
    ReleaseSRWLockShared(&ptab_lock);
    return rc;
}

/* ---- exit watching ------------------------------------------------------------------ */
static VOID CALLBACK exited(PVOID arg, BOOLEAN timed_out) {
    (void)timed_out;
    wproc *w = arg;
    AcquireSRWLockExclusive(&ptab_lock);
    int64_t pid = w->pid;
    plat_exit_fn fn = w->reaped ? NULL : w->on_exit;
    void *ctx = w->ctx;
    int code = exit_code_of(w->process);
    w->reaped = 1;
    pty_exited(pid);
    if (w->wait) UnregisterWait(w->wait); /* from inside the callback: does not wait for it */
    w->wait = NULL;
    maybe_drop(w);
    ReleaseSRWLockExclusive(&ptab_lock);
    if (fn) fn(ctx, pid, code, 0);
}

int plat_watch_exit(int64_t pid, plat_exit_fn on_exit, void *ctx) {
    if (pid <= 0) return EINVAL;
    AcquireSRWLockExclusive(&ptab_lock);
    wproc *w = find(pid);
    int rc = 0;
    if (!w || w->reaped)
        rc = ECHILD;
    else if (w->watched)
        rc = EEXIST;
    else {
        w->on_exit = on_exit;
        w->ctx = ctx;
        w->watched = 1;
        if (!RegisterWaitForSingleObject(&w->wait, w->process, exited, w, INFINITE,
                                         WT_EXECUTEONLYONCE)) {
            rc = last_errno();
            w->watched = 0;
            w->wait = NULL;
        }
    }
    ReleaseSRWLockExclusive(&ptab_lock);
    return rc;
}

void plat_monitor_shutdown(void) {
    for (;;) {
        HANDLE wait = NULL;
        AcquireSRWLockExclusive(&ptab_lock);
        for (wproc *w = ptab; w && !wait; w = w->next)
            if (w->watched && w->wait && !w->reaped) {
                wait = w->wait;
                w->wait = NULL;
                w->on_exit = NULL; /* dropped without a call */
                w->watched = 0;
            }
        ReleaseSRWLockExclusive(&ptab_lock);
        if (!wait) return;
        UnregisterWaitEx(wait, INVALID_HANDLE_VALUE); /* waits for a running callback */
    }
}

int plat_reap(int64_t pid, int *exit_code) {
    AcquireSRWLockShared(&ptab_lock);
    wproc *w = find(pid);
    HANDLE p = NULL;
    if (w && !w->reaped)
        DuplicateHandle(GetCurrentProcess(), w->process, GetCurrentProcess(), &p, 0, FALSE,
                        DUPLICATE_SAME_ACCESS);
    ReleaseSRWLockShared(&ptab_lock);
    if (!p) return ECHILD;
    WaitForSingleObject(p, INFINITE);
    int code = exit_code_of(p);
    CloseHandle(p);
    if (exit_code) *exit_code = code;
    AcquireSRWLockExclusive(&ptab_lock);
    pty_exited(pid);
    if ((w = find(pid)) != NULL && !w->watched) {
        w->reaped = 1;
        maybe_drop(w);
    }
    ReleaseSRWLockExclusive(&ptab_lock);
    return 0;
}

/* ---- spawning ------------------------------------------------------------------------ */
/* A growing UTF-16 buffer. */
typedef struct {
    wchar_t *s;
    size_t len, cap;
    int failed;
} wbuf;

static void wb_put(wbuf *b, const wchar_t *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        wchar_t *ns = realloc(b->s, cap * sizeof *ns);
        if (!ns) {
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n * sizeof *s);
    b->len += n;
    b->s[b->len] = 0;
}

static void wb_char(wbuf *b, wchar_t c, size_t times) {
    while (times--) wb_put(b, &c, 1);
}

/* Appends one argument quoted so that CommandLineToArgvW (and the C runtime) give it back
 * unchanged; argv[0] follows the simpler program-name rule (quoted when it has blanks). */
static void quote_arg(wbuf *b, const wchar_t *a, int program) {
    if (*a && !wcspbrk(a, L" \t\n\v\"")) {
        wb_put(b, a, wcslen(a));
        return;
    }
    wb_char(b, L'"', 1);
    if (program) {
        wb_put(b, a, wcslen(a));
    } else {
        for (const wchar_t *c = a;; c++) {
            size_t bs = 0;
            while (*c == L'\\') {
                bs++;
                c++;
            }
            if (!*c) { /* backslashes before the closing quote are doubled */
                wb_char(b, L'\\', 2 * bs);
                break;
            }
            if (*c == L'"') { /* 2n+1 backslashes then a literal quote */
                wb_char(b, L'\\', 2 * bs + 1);
            } else {
                wb_char(b, L'\\', bs);
            }
            wb_char(b, *c, 1);
        }
    }
    wb_char(b, L'"', 1);
}

static int env_cmp(const void *a, const void *b) {
    const wchar_t *x = *(wchar_t *const *)a, *y = *(wchar_t *const *)b;
    for (;; x++, y++) {
        wchar_t cx = *x == L'=' ? 0 : towupper(*x), cy = *y == L'=' ? 0 : towupper(*y);
        if (cx != cy || !cx) return (cx > cy) - (cx < cy);
    }
}

/* How a process with pipes for its standard handles is started: with a console that has no
 * window (children it starts share that console and open no window of their own), except
 * under Wine, whose conhost.exe for such a console inherits every inheritable handle of the
 * process, its pipes too, and holds them after the process let go of them (end of file
 * then comes only when the process exits): there the process has no console at all. */
static DWORD no_console_flag(void) {
    static LONG flag; /* 0: not known yet */
    LONG f = InterlockedCompareExchange(&flag, 0, 0);
    if (!f) {
        HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
        f = ntdll && GetProcAddress(ntdll, "wine_get_version") ? DETACHED_PROCESS
                                                               : CREATE_NO_WINDOW;
        InterlockedExchange(&flag, f);
    }
    return (DWORD)f;
}

/* The environment block for CreateProcessW (sorted by name, as Windows expects), or NULL
 * with errno set. */
static wchar_t *env_block(const char *const *envp) {
    size_t n = 0;
    while (envp[n]) n++;
    wchar_t **w = calloc(n + 1, sizeof *w);
    wbuf b = {0};
    int e = w ? 0 : ENOMEM;
    for (size_t i = 0; !e && i < n; i++)
        if (!(w[i] = wide(envp[i]))) e = errno;
    if (!e) {
        qsort(w, n, sizeof *w, env_cmp);
        for (size_t i = 0; i < n; i++) wb_put(&b, w[i], wcslen(w[i]) + 1);
        wb_put(&b, L"\0", 1); /* the block ends with an empty string */
        if (n == 0) wb_put(&b, L"\0", 1);
        if (b.failed) e = ENOMEM;
    }
    for (size_t i = 0; w && i < n; i++) free(w[i]);
    free(w);
    if (e) {
        free(b.s);
        errno = e;
        return NULL;
    }
    return b.s;
}

static atomic_uint pipe_seq;

/* A security descriptor that gives the current user, and no one else, access (a named
 * pipe's default one lets everyone read). 0 or errno. */
typedef struct {
    SECURITY_DESCRIPTOR sd;
    union {
        TOKEN_USER user;
        char room[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
    } u;
    union {
        ACL acl;
        char room[sizeof(ACL) + sizeof(ACCESS_ALLOWED_ACE) + SECURITY_MAX_SID_SIZE];
    } a;
} owner_only;

static int owner_only_init(owner_only *o) {
    HANDLE token;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return last_errno();
    DWORD n = 0;
    BOOL ok = GetTokenInformation(token, TokenUser, &o->u, sizeof o->u, &n);
    int e = ok ? 0 : last_errno();
    CloseHandle(token);
    if (!e && (!InitializeAcl(&o->a.acl, sizeof o->a, ACL_REVISION) ||
               !AddAccessAllowedAce(&o->a.acl, ACL_REVISION, GENERIC_ALL, o->u.user.User.Sid) ||
               !InitializeSecurityDescriptor(&o->sd, SECURITY_DESCRIPTOR_REVISION) ||
               !SetSecurityDescriptorDacl(&o->sd, TRUE, &o->a.acl, FALSE)))
        e = last_errno();
    return e;
}

/* A pipe for one stream: *parent gets the server end, *child the client end (neither
 * inheritable; see set_inheritable); both NULL on failure. The name is unpredictable,
 * the pipe has one instance (this one) and only the current user may open it.
 * child_reads: the child reads (stdin). 0 or errno. */
static int make_pipe(int child_reads, HANDLE *parent, HANDLE *child) {
    *parent = *child = NULL;
    uint64_t nonce = 0;
    if (BCryptGenRandom(NULL, (PUCHAR)&nonce, sizeof nonce, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
        return EIO;
    owner_only o;
    int e = owner_only_init(&o);
    if (e) return e;
    wchar_t name[96];
    swprintf(name, 96, L"\\\\.\\pipe\\hcsim-%lu-%u-%016llx", (unsigned long)GetCurrentProcessId(),
             atomic_fetch_add(&pipe_seq, 1) + 1, (unsigned long long)nonce);
    DWORD mode = child_reads ? PIPE_ACCESS_OUTBOUND : PIPE_ACCESS_INBOUND;
    SECURITY_ATTRIBUTES server_sa = {sizeof server_sa, &o.sd, FALSE};
    HANDLE server = CreateNamedPipeW(name, mode | FILE_FLAG_FIRST_PIPE_INSTANCE,
                                     PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                                         PIPE_REJECT_REMOTE_CLIENTS,
                                     1, 65536, 65536, 0, &server_sa);
    if (server == INVALID_HANDLE_VALUE) return last_errno();
    HANDLE client = CreateFileW(name, child_reads ? GENERIC_READ : GENERIC_WRITE, 0, NULL,
                                OPEN_EXISTING, 0, NULL);
    if (client == INVALID_HANDLE_VALUE) {
        e = last_errno();
        CloseHandle(server);
        return e;
    }
    *parent = server;
    *child = client;
    return 0;
}

static HANDLE open_null(void) {
    return CreateFileW(L"NUL", GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                       NULL, OPEN_EXISTING, 0, NULL);
}

/* Makes the child's standard handles inheritable (on) or not. They are created
 * non-inheritable and are inheritable only for the CreateProcessW that passes them
 * (PROC_THREAD_ATTRIBUTE_HANDLE_LIST wants inheritable handles): a CreateProcess with
 * bInheritHandles elsewhere in the host inherits them only if it runs in that window. */
static int set_inheritable(HANDLE std[3], int on) {
    for (int i = 0; i < 3; i++)
        if (std[i] &&
            !SetHandleInformation(std[i], HANDLE_FLAG_INHERIT, on ? HANDLE_FLAG_INHERIT : 0))
            return last_errno();
    return 0;
}

/* Starts the process suspended in a new job (kill on close), resumes it. Its standard
 * handles are std[0..3), or the pseudo-console pc when not NULL. 0 or errno. */
static int create_in_job(wchar_t *cmd, wchar_t *env, const wchar_t *cwd, HANDLE std[3], HPCON pc,
                         PROCESS_INFORMATION *pi, HANDLE *job_out) {
    HANDLE job = CreateJobObjectW(NULL, NULL);
    if (!job) return last_errno();
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION li;
    memset(&li, 0, sizeof li);
    li.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    /* (without kill on close the job would not be its tree's guard: no spawn then) */
    if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &li, sizeof li)) {
        int e = last_errno();
        CloseHandle(job);
        return e;
    }

    STARTUPINFOEXW si;
    memset(&si, 0, sizeof si);
    si.StartupInfo.cb = sizeof si;
    /* (a console process gets NULL ones, so that it takes the pseudo-console's rather
     * than this process's own standard handles; under Wine 8 it then has none and must
     * open CONIN$ / CONOUT$) */
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    if (!pc) {
        si.StartupInfo.hStdInput = std[0];
        si.StartupInfo.hStdOutput = std[1];
        si.StartupInfo.hStdError = std[2];
    }
    /* only these three handles are inherited, whatever else the host made inheritable (a
     * console process inherits none: its standard handles are the pseudo-console's) */
    SIZE_T size = 0;
    InitializeProcThreadAttributeList(NULL, 1, 0, &size);
    si.lpAttributeList = malloc(size);
    int e = si.lpAttributeList ? 0 : ENOMEM;
    if (!e && !InitializeProcThreadAttributeList(si.lpAttributeList, 1, 0, &size)) e = last_errno();
    if (!e &&
        !(pc ? UpdateProcThreadAttribute(si.lpAttributeList, 0, PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE,
                                         pc, sizeof pc, NULL, NULL)
             : UpdateProcThreadAttribute(si.lpAttributeList, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                         std, 3 * sizeof(HANDLE), NULL, NULL)))
        e = last_errno();
    DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT |
                  CREATE_NEW_PROCESS_GROUP | (pc ? 0 : no_console_flag());
    if (!e && !pc) e = set_inheritable(std, 1);
    /* Wine (8.0) fails a start now and then under load (about one in 800 starts, with an
     * error that has no errno, such as ERROR_INTERNAL_ERROR): such a start is tried again */
    for (int tries = 0; !e; tries++) {
        if (CreateProcessW(NULL, cmd, NULL, NULL, !pc, flags, env, cwd, &si.StartupInfo, pi)) break;
        e = last_errno();
        if (e == EIO && tries < 3) {
            e = 0;
            Sleep(10);
        }
    }
    if (!pc) set_inheritable(std, 0); /* (the child has its copies already) */
    if (si.lpAttributeList) {
        DeleteProcThreadAttributeList(si.lpAttributeList);
        free(si.lpAttributeList);
    }
    /* Wine runs a Unix program itself (e.g. "/bin/echo"): no process handle, nothing a job
     * or a wait can hold; refuse it as not a Windows program */
    if (!e && !pi->hProcess) e = ENOEXEC;
    if (!e && !AssignProcessToJobObject(job, pi->hProcess)) {
        e = last_errno();
        TerminateProcess(pi->hProcess, 128u + PLAT_SIGKILL);
        WaitForSingleObject(pi->hProcess, INFINITE);
        CloseHandle(pi->hThread);
        CloseHandle(pi->hProcess);
    }
    if (e) {
        CloseHandle(job);
        return e;
    }
    ResumeThread(pi->hThread);
    CloseHandle(pi->hThread);
    *job_out = job;
    return 0;
}

int plat_spawn(const plat_spawn_opts *opts, plat_spawn_result *out) {
    out->pid = 0;
    out->stdin_fd = out->stdout_fd = out->stderr_fd = out->pty_fd = PLAT_NO_FD;
    if (!opts->argv || !opts->argv[0]) return EINVAL;
    int e = 0;
    wbuf cmd = {0};
    for (size_t i = 0; !e && opts->argv[i]; i++) {
        wchar_t *a = wide(opts->argv[i]);
        if (!a) {
            e = errno;
            break;
        }
        if (i) wb_char(&cmd, L' ', 1);
        quote_arg(&cmd, a, i == 0);
        free(a);
    }
    if (!e && cmd.failed) e = ENOMEM;
    wchar_t *env = NULL, *cwd = NULL;
    if (!e && opts->envp && !(env = env_block(opts->envp))) e = errno;
    if (!e && opts->cwd && !(cwd = wide(opts->cwd))) e = errno;
    if (!e && cwd) {
        DWORD attr = GetFileAttributesW(cwd);
        if (attr == INVALID_FILE_ATTRIBUTES)
            e = ENOENT;
        else if (!(attr & FILE_ATTRIBUTE_DIRECTORY))
            e = ENOTDIR;
    }
    HANDLE parent[3] = {NULL, NULL, NULL}, child[3] = {NULL, NULL, NULL};
    /* a console: stdin and stdout are the pseudo-console's input and output pipes */
    const int pty = opts->use_pty;
    const int want[3] = {pty || opts->want_stdin, pty || opts->want_stdout,
                         !pty && opts->want_stderr};
    for (int i = 0; !e && i < 3; i++) {
        if (pty && i == 2) continue;
        if (want[i])
            e = make_pipe(i == 0, &parent[i], &child[i]);
        else if ((child[i] = open_null()) == INVALID_HANDLE_VALUE) {
            child[i] = NULL;
            e = last_errno();
        }
    }
    HPCON pc = NULL;
    wpty *t = NULL;
    if (!e && pty) {
        COORD size = {(SHORT)(opts->cols ? opts->cols : 80), (SHORT)(opts->rows ? opts->rows : 25)};
        HRESULT hr = CreatePseudoConsole(size, child[0], child[1], 0, &pc);
        if (FAILED(hr))
            e = errno_of(HRESULT_CODE(hr));
        else if (!(t = calloc(1, sizeof *t)) || !(t->key = CreateEventW(NULL, TRUE, FALSE, NULL)))
            e = ENOMEM;
    }
    PROCESS_INFORMATION pi;
    HANDLE job = NULL;
    /* the console keeps its pipes' server ends (see wpty); the caller gets the ones it
     * asked for, the output nobody asked for is drained */
    HANDLE drain = NULL;
    for (int i = 0; !e && t && i < 2; i++) {
        if (!DuplicateHandle(GetCurrentProcess(), parent[i], GetCurrentProcess(), &t->con.ends[i],
                             0, FALSE, DUPLICATE_SAME_ACCESS)) {
            t->con.ends[i] = NULL;
            e = last_errno();
        }
    }
    if (!e && t && !opts->want_stdout) {
        drain = parent[1];
        parent[1] = NULL;
    }
    if (!e && t && !opts->want_stdin) {
        CloseHandle(parent[0]);
        parent[0] = NULL;
    }
    if (!e) e = create_in_job(cmd.s, env, cwd, child, pc, &pi, &job);
    wproc *w = NULL;
    if (!e && !(w = calloc(1, sizeof *w))) {
        e = ENOMEM;
        CloseHandle(job); /* kills it */
        WaitForSingleObject(pi.hProcess, INFINITE);
        CloseHandle(pi.hProcess);
    }
    if (e && t) {
        t->con.pc = pc;
        console_close(&t->con);
        if (t->key) CloseHandle(t->key);
        free(t);
    } else if (e && pc) {
        ClosePseudoConsole(pc);
    }
    if (drain && (e || !QueueUserWorkItem(drain_output, drain, WT_EXECUTELONGFUNCTION)))
        CloseHandle(drain); /* (no thread for it: the console's output may then block) */
    for (int i = 0; i < 3; i++) {
        if (child[i]) CloseHandle(child[i]);
        if (e && parent[i]) CloseHandle(parent[i]);
    }
    free(cmd.s);
    free(env);
    free(cwd);
    if (e) return e;
    w->pid = pi.dwProcessId;
    w->process = pi.hProcess;
    w->job = job;
    AcquireSRWLockExclusive(&ptab_lock);
    w->next = ptab;
    ptab = w;
    if (t) {
        t->con.pc = pc;
        t->pid = pi.dwProcessId;
        t->next = ptys;
        ptys = t;
        out->pty_fd = FD(t->key);
    }
    ReleaseSRWLockExclusive(&ptab_lock);
    out->pid = pi.dwProcessId;
    out->stdin_fd = parent[0] ? FD(parent[0]) : PLAT_NO_FD;
    out->stdout_fd = parent[1] ? FD(parent[1]) : PLAT_NO_FD;
    out->stderr_fd = parent[2] ? FD(parent[2]) : PLAT_NO_FD;
    return 0;
}

/* ---- descriptors -------------------------------------------------------------------- */
int plat_close(plat_fd fd) {
    AcquireSRWLockExclusive(&ptab_lock);
    wconsole c = {0}; /* the pseudo-console fd stands for, if any */
    for (wpty *t = ptys; t; t = t->next) {
        if (!t->key || t->key != H(fd)) continue;
        t->key = NULL;
        if (!t->closing) { /* (else its closer frees it) */
            c = t->con;
            pty_unlink(t);
            free(t);
        }
        break;
    }
    ReleaseSRWLockExclusive(&ptab_lock);
    console_close(&c);
    return CloseHandle(H(fd)) ? 0 : last_errno();
}

int plat_set_nonblocking(plat_fd fd, int on) {
    DWORD mode = PIPE_READMODE_BYTE | (on ? PIPE_NOWAIT : PIPE_WAIT);
    return SetNamedPipeHandleState(H(fd), &mode, NULL, NULL) ? 0 : last_errno();
}

plat_fd plat_dup(plat_fd fd) {
    HANDLE d;
    if (!DuplicateHandle(GetCurrentProcess(), H(fd), GetCurrentProcess(), &d, 0, FALSE,
                         DUPLICATE_SAME_ACCESS)) {
        errno = last_errno();
        return PLAT_NO_FD;
    }
    return FD(d);
}

int plat_null_over(plat_fd fd) {
    /* the server end of a stream's pipe: disconnecting it ends the pipe for both sides
     * (the child's reads and writes fail as at end of file / broken pipe) while every
     * handle stays valid */
    return DisconnectNamedPipe(H(fd)) ? 0 : last_errno();
}

int plat_write_all(plat_fd fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        DWORD n = 0, chunk = len > 0x40000000u ? 0x40000000u : (DWORD)len;
        if (!WriteFile(H(fd), p, chunk, &n, NULL)) return last_errno();
        p += n;
        len -= n;
    }
    return 0;
}

/* One positional read or write of up to len bytes at off, on a caller's handle that may
 * have been opened for overlapped I/O: then the call may return ERROR_IO_PENDING, and the
 * OVERLAPPED (and the buffer) must live until the I/O has completed, so it is waited for
 * here. The event's low bit set keeps the completion off an I/O completion port the
 * handle may be associated with. *n gets the bytes moved; 0 or the Win32 error. */
static DWORD pio(HANDLE h, int write, void *buf, size_t len, uint64_t off, DWORD *n) {
    HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!ev) return GetLastError();
    OVERLAPPED o;
    memset(&o, 0, sizeof o);
    o.Offset = (DWORD)off;
    o.OffsetHigh = (DWORD)(off >> 32);
    o.hEvent = (HANDLE)((uintptr_t)ev | 1);
    DWORD chunk = len > 0x40000000u ? 0x40000000u : (DWORD)len, err = 0;
    *n = 0;
    BOOL ok = write ? WriteFile(h, buf, chunk, n, &o) : ReadFile(h, buf, chunk, n, &o);
    if (!ok) {
        err = GetLastError();
        if (err == ERROR_IO_PENDING) err = GetOverlappedResult(h, &o, n, TRUE) ? 0 : GetLastError();
    }
    CloseHandle(ev);
    return err;
}

int plat_pread_all(plat_fd fd, void *buf, size_t len, uint64_t off) {
    size_t got = 0;
    while (got < len) {
        DWORD n = 0, err = pio(H(fd), 0, (char *)buf + got, len - got, off + got, &n);
        if (err == ERROR_HANDLE_EOF) break;
        if (err) return -1;
        if (n == 0) break;
        got += n;
    }
    return (int)got;
}

int plat_pwrite_all(plat_fd fd, const void *buf, size_t len, uint64_t off) {
    size_t put = 0;
    while (put < len) {
        DWORD n = 0, err = pio(H(fd), 1, (char *)buf + put, len - put, off + put, &n);
        if (err) return errno_of(err);
        if (n == 0) return EIO;
        put += n;
    }
    return 0;
}

int plat_fd_is_regular_file(intptr_t fd) {
    HANDLE h = (HANDLE)fd;
    if (!h || h == INVALID_HANDLE_VALUE || fd < 0) return 0; /* pseudo-handles too */
    DWORD flags;
    if (!GetHandleInformation(h, &flags)) return 0;
    BY_HANDLE_FILE_INFORMATION info;
    if (GetFileType(h) != FILE_TYPE_DISK || !GetFileInformationByHandle(h, &info)) return 0;
    return !(info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY);
}

/* ---- what the caller releases -------------------------------------------------------- */
/* A document's hidden trailer: a per-process random key, the document's tag and a hash of
 * its first bytes. */
typedef struct {
    uint64_t key, tag, hash;
} doc_mark;

#define DOC_HASHED 64u /* how many of a document's first bytes its hash covers */

static uint64_t doc_key(void) {
    static atomic_ullong key;
    uint64_t k = atomic_load(&key);
    while (!k) {
        BCryptGenRandom(NULL, (PUCHAR)&k, sizeof k, BCRYPT_USE_SYSTEM_PREFERRED_RNG);
        if (!k) continue;
        unsigned long long expected = 0;
        if (!atomic_compare_exchange_strong(&key, &expected, k)) k = expected;
    }
    return k;
}

/* FNV-1a of the first bytes of a document, seeded with the key and its tag. */
static uint64_t doc_hash(const void *doc, size_t bytes, uint64_t tag) {
    const unsigned char *p = doc;
    uint64_t h = 0xcbf29ce484222325u ^ doc_key() ^ (tag * 0x9E3779B97F4A7C15u);
    for (size_t i = 0; i < bytes && i < DOC_HASHED; i++) h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

void *plat_doc_copy(const void *data, size_t bytes, uint64_t tag) {
    char *p = LocalAlloc(LMEM_FIXED, bytes + sizeof(doc_mark));
    if (!p) return NULL;
    memcpy(p, data, bytes);
    doc_mark m = {doc_key(), tag, doc_hash(p, bytes, tag)};
    memcpy(p + bytes, &m, sizeof m);
    return p;
}

void plat_doc_free(void *doc) { LocalFree(doc); }

typedef struct {
    uintptr_t addr;
    size_t size;
} busy_block;

static int busy_cmp(const void *a, const void *b) {
    uintptr_t x = ((const busy_block *)a)->addr, y = ((const busy_block *)b)->addr;
    return (x > y) - (x < y);
}

int plat_docs_alive(plat_doc_ref *refs, size_t n) {
    for (size_t i = 0; i < n; i++) refs[i].alive = 1;
    if (n == 0) return 0;
    /* the busy blocks go to a heap of their own: the walked one must not change meanwhile */
    HANDLE heap = GetProcessHeap(), own = HeapCreate(HEAP_NO_SERIALIZE, 0, 0);
    if (!own) return ENOMEM;
    size_t nb = 0, cap = 1024;
    busy_block *b = HeapAlloc(own, 0, cap * sizeof *b);
    int e = b ? 0 : ENOMEM;
    /* locked from the walk to the last trailer read: no block can be freed (or its pages
     * released) in between */
    if (!e && !HeapLock(heap)) e = last_errno();
    if (!e) {
        PROCESS_HEAP_ENTRY ent;
        memset(&ent, 0, sizeof ent);
        while (!e && HeapWalk(heap, &ent)) {
            if (!(ent.wFlags & PROCESS_HEAP_ENTRY_BUSY)) continue;
            if (nb == cap) {
                busy_block *m = HeapReAlloc(own, 0, b, 2 * cap * sizeof *b);
                if (!m) e = ENOMEM;
                b = m ? m : b;
                cap *= 2;
            }
            if (!e) b[nb++] = (busy_block){(uintptr_t)ent.lpData, ent.cbData};
        }
        if (!e && GetLastError() != ERROR_NO_MORE_ITEMS) e = last_errno();
        if (!e) {
            qsort(b, nb, sizeof *b, busy_cmp);
            for (size_t i = 0; i < n; i++) {
                busy_block key = {(uintptr_t)refs[i].doc, 0};
                const busy_block *k = bsearch(&key, b, nb, sizeof *b, busy_cmp);
                doc_mark m;
                refs[i].alive = k && k->size == refs[i].bytes + sizeof m;
                if (!refs[i].alive) continue;
                memcpy(&m, (const char *)refs[i].doc + refs[i].bytes, sizeof m);
                refs[i].alive = m.key == doc_key() && m.tag == refs[i].tag &&
                                m.hash == doc_hash(refs[i].doc, refs[i].bytes, refs[i].tag);
            }
        }
        HeapUnlock(heap);
    }
    HeapDestroy(own);
    if (e)
        for (size_t i = 0; i < n; i++) refs[i].alive = 1;
    return e;
}

typedef struct {
    ULONG Attributes;
    ACCESS_MASK GrantedAccess;
    ULONG HandleCount, PointerCount, Reserved[10];
} object_basic_info;

typedef LONG(NTAPI *query_object_fn)(HANDLE, int, PVOID, ULONG, PULONG);
typedef BOOL(WINAPI *compare_fn)(HANDLE, HANDLE);

uint32_t plat_fd_others(plat_fd fd) {
    query_object_fn query = (query_object_fn)(void (*)(void))proc_of(L"ntdll.dll", "NtQueryObject");
    object_basic_info info;
    /* ObjectBasicInformation (0): from the object manager, no I/O on the object */
    if (!query || query(H(fd), 0, &info, sizeof info, NULL) < 0 || info.HandleCount == 0) return 0;
    uint32_t others = info.HandleCount - 1, console = console_refs(H(fd));
    return others > console ? others - console : 0;
}

static uint32_t console_refs(HANDLE fd) {
    uint32_t n = 0;
    AcquireSRWLockShared(&ptab_lock);
    for (wpty *t = ptys; t; t = t->next)
        for (int i = 0; i < 2; i++)
            if (t->con.ends[i] && plat_fd_same(FD(t->con.ends[i]), FD(fd))) n++;
    ReleaseSRWLockShared(&ptab_lock);
    return n;
}

int plat_fd_same(plat_fd a, plat_fd b) {
    compare_fn compare =
        (compare_fn)(void (*)(void))proc_of(L"kernelbase.dll", "CompareObjectHandles");
    if (a == b) return a != PLAT_NO_FD && a != 0;
    return compare && compare(H(a), H(b));
}

/* ---- files and directories ----------------------------------------------------------- */
int plat_write_file(const char *path, const void *data, size_t len) {
    wchar_t *w = wide(path);
    if (!w) return errno;
    HANDLE h = CreateFileW(w, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE) return last_errno();
    int rc = plat_write_all(FD(h), data, len);
    if (!rc && !FlushFileBuffers(h)) rc = last_errno();
    if (!CloseHandle(h) && !rc) rc = last_errno();
    return rc;
}

int plat_read_file(const char *path, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    wchar_t *w = wide(path);
    if (!w) return errno;
    HANDLE h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE) return last_errno();
    LARGE_INTEGER size;
    int rc = 0;
    char *buf = NULL;
    if (!GetFileSizeEx(h, &size))
        rc = last_errno();
    else if (size.QuadPart > 0x7FFFFFFF)
        rc = EFBIG;
    else if (!(buf = malloc((size_t)size.QuadPart + 1)))
        rc = ENOMEM;
    size_t got = 0;
    while (!rc && got < (size_t)size.QuadPart) {
        DWORD n = 0;
        if (!ReadFile(h, buf + got, (DWORD)((size_t)size.QuadPart - got), &n, NULL))
            rc = last_errno();
        else if (n == 0)
            break;
        got += n;
    }
    CloseHandle(h);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[got] = 0;
    *data = buf;
    *len = got;
    return 0;
}

static DWORD attributes(const char *path) {
    wchar_t *w = wide(path);
    DWORD a = w ? GetFileAttributesW(w) : INVALID_FILE_ATTRIBUTES;
    free(w);
    return a;
}

int plat_file_exists(const char *path) { return attributes(path) != INVALID_FILE_ATTRIBUTES; }

int plat_remove_file(const char *path) {
    wchar_t *w = wide(path);
    if (!w) return errno;
    int rc = DeleteFileW(w) ? 0 : last_errno();
    free(w);
    return rc;
}

int plat_is_dir(const char *path) {
    DWORD a = attributes(path);
    return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY);
}

int plat_mkdirs(const char *path) {
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p) return ENOMEM;
    memcpy(p, path, n + 1);
    int rc = 0;
    for (size_t i = 1; i <= n && !rc; i++) {
        if (p[i] != '/' && p[i] != '\\' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        /* skip a drive ("C:") and the roots of a UNC path */
        if (!(i == 2 && p[1] == ':') && !plat_is_dir(p)) {
            wchar_t *w = wide(p);
            if (!w)
                rc = errno;
            else if (!CreateDirectoryW(w, NULL) && GetLastError() != ERROR_ALREADY_EXISTS)
                rc = last_errno();
            else if (!plat_is_dir(p))
                rc = ENOTDIR;
            free(w);
        }
        p[i] = c;
    }
    free(p);
    return rc;
}

/* Tree walks: iterative over an explicit list of directories still to do (no recursion),
 * so a tree's depth is limited by neither stack nor handles (one search open at a time). */
typedef struct dir_entry {
    char *name;
    DWORD attrs;
} dir_entry;

static void free_entries(dir_entry *e, size_t n) {
    for (size_t k = 0; k < n; k++) free(e[k].name);
    free(e);
}

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s\\%s", dir, name);
    return p;
}

/* The entries of directory dir but ., .. and skip (malloc'd). 0 or errno. */
static int list_dir(const char *dir, const char *skip, dir_entry **out, size_t *count) {
    *out = NULL;
    *count = 0;
    char *pat = join_path(dir, "*");
    wchar_t *w = pat ? wide(pat) : NULL;
    free(pat);
    if (!w) return errno ? errno : ENOMEM;
    WIN32_FIND_DATAW fd;
    HANDLE f = FindFirstFileW(w, &fd);
    free(w);
    if (f == INVALID_HANDLE_VALUE) return last_errno();
    int rc = 0;
    size_t cap = 0;
    do {
        if (!wcscmp(fd.cFileName, L".") || !wcscmp(fd.cFileName, L"..")) continue;
        char *name = narrow(fd.cFileName);
        if (!name) {
            rc = ENOMEM;
        } else if (skip && !strcmp(name, skip)) {
            free(name);
        } else {
            if (*count == cap) {
                size_t ncap = cap ? 2 * cap : 16;
                dir_entry *grown = realloc(*out, ncap * sizeof *grown);
                if (!grown) {
                    free(name);
                    rc = ENOMEM;
                    break;
                }
                *out = grown;
                cap = ncap;
            }
            (*out)[(*count)++] = (dir_entry){name, fd.dwFileAttributes};
        }
    } while (!rc && FindNextFileW(f, &fd));
    FindClose(f);
    if (rc) {
        free_entries(*out, *count);
        *out = NULL;
        *count = 0;
    }
    return rc;
}

/* A growable list of malloc'd paths. */
typedef struct path_stack {
    char **p;
    size_t n, cap;
} path_stack;

static int push_path(path_stack *s, char *path) {
    if (!path) return ENOMEM;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 16;
        char **grown = realloc(s->p, ncap * sizeof *grown);
        if (!grown) {
            free(path);
            return ENOMEM;
        }
        s->p = grown;
        s->cap = ncap;
    }
    s->p[s->n++] = path;
    return 0;
}

static void free_stack(path_stack *s) {
    while (s->n) free(s->p[--s->n]);
    free(s->p);
}

static int remove_one(const char *path, DWORD a) {
    wchar_t *w = wide(path);
    if (!w) return errno;
    if (a & FILE_ATTRIBUTE_READONLY) SetFileAttributesW(w, a & ~(DWORD)FILE_ATTRIBUTE_READONLY);
    int rc = (a & FILE_ATTRIBUTE_DIRECTORY) ? (RemoveDirectoryW(w) ? 0 : last_errno())
                                            : (DeleteFileW(w) ? 0 : last_errno());
    free(w);
    return rc;
}

/* Removes the content of directory root (but its top entry skip), and root itself if asked.
 * A directory is listed again once the directories in it are gone. */
static int remove_tree(const char *root, const char *skip, int remove_root) {
    path_stack st = {0};
    char *top = strdup(root);
    int rc = push_path(&st, top);
    while (!rc && st.n) {
        const char *dir = st.p[st.n - 1];
        int is_root = st.n == 1;
        dir_entry *e;
        size_t n, pushed = 0;
        rc = list_dir(dir, is_root ? skip : NULL, &e, &n);
        for (size_t k = 0; !rc && k < n; k++) {
            char *child = join_path(dir, e[k].name);
            DWORD a = e[k].attrs;
            /* a link to a directory is removed, never followed */
            if ((a & FILE_ATTRIBUTE_DIRECTORY) && !(a & FILE_ATTRIBUTE_REPARSE_POINT)) {
                rc = push_path(&st, child);
                pushed++;
            } else {
                rc = child ? remove_one(child, a) : ENOMEM;
                free(child);
            }
        }
        free_entries(e, n);
        if (!rc && !pushed) {
            if (!is_root || remove_root) rc = remove_one(dir, FILE_ATTRIBUTE_DIRECTORY);
            free(st.p[--st.n]);
        }
    }
    free_stack(&st);
    return rc;
}

int plat_empty_dir(const char *dir, const char *skip) { return remove_tree(dir, skip, 0); }

int plat_rmtree(const char *path) {
    DWORD a = attributes(path);
    if (a == INVALID_FILE_ATTRIBUTES) return ENOENT;
    if (!(a & FILE_ATTRIBUTE_DIRECTORY) || (a & FILE_ATTRIBUTE_REPARSE_POINT))
        return remove_one(path, a);
    return remove_tree(path, NULL, 1);
}

int plat_dir_is_empty(const char *dir) {
    dir_entry *e;
    size_t n;
    if (!plat_is_dir(dir) || list_dir(dir, NULL, &e, &n) != 0) return 0;
    free_entries(e, n);
    return n == 0;
}

static int copy_file(const char *src, const char *dst) {
    wchar_t *ws = wide(src), *wd = ws ? wide(dst) : NULL;
    int rc = !ws || !wd ? errno : CopyFileW(ws, wd, FALSE) ? 0 : last_errno();
    free(ws);
    free(wd);
    return rc;
}

/* Copies directory src's tree (but its top entry skip) to dst, a directory at a time: the
 * list holds (source, destination) pairs still to copy. */
static int copy_dirs(const char *src, const char *dst, const char *skip) {
    path_stack st = {0};
    int rc = push_path(&st, strdup(src));
    if (!rc) rc = push_path(&st, strdup(dst));
    for (int first = 1; !rc && st.n; first = 0) {
        char *d = st.p[--st.n], *s = st.p[--st.n];
        dir_entry *e = NULL;
        size_t n = 0;
        rc = plat_mkdirs(d);
        if (!rc) rc = list_dir(s, first ? skip : NULL, &e, &n);
        for (size_t k = 0; !rc && k < n; k++) {
            char *cs = join_path(s, e[k].name), *cd = join_path(d, e[k].name);
            if (!cs || !cd) {
                rc = ENOMEM;
            } else if (e[k].attrs & FILE_ATTRIBUTE_REPARSE_POINT) {
                rc = ENOTSUP; /* a link: never followed, not re-created */
            } else if (e[k].attrs & FILE_ATTRIBUTE_DIRECTORY) {
                rc = push_path(&st, cs);
                if (!rc) rc = push_path(&st, cd);
                cs = cd = NULL;
            } else {
                rc = copy_file(cs, cd);
            }
            free(cs);
            free(cd);
        }
        free_entries(e, n);
        free(s);
        free(d);
    }
    free_stack(&st);
    return rc;
}

int plat_copytree_skip(const char *src, const char *dst, const char *skip) {
    DWORD a = attributes(src);
    if (a == INVALID_FILE_ATTRIBUTES) return ENOENT;
    if (!(a & FILE_ATTRIBUTE_DIRECTORY)) return copy_file(src, dst);
    if (plat_is_within(dst, src)) return EINVAL; /* it would copy itself without end */
    return copy_dirs(src, dst, skip);
}

int plat_copytree(const char *src, const char *dst) { return plat_copytree_skip(src, dst, NULL); }

/* The full path of path (malloc'd), or NULL. */
static wchar_t *full_path(const char *path) {
    wchar_t *w = wide(path), *full = NULL;
    DWORD n = w ? GetFullPathNameW(w, 0, NULL, NULL) : 0;
    if (n && (full = malloc(n * sizeof *full)) != NULL && !GetFullPathNameW(w, n, full, NULL)) {
        free(full);
        full = NULL;
    }
    free(w);
    return full;
}

/* By full path names, compared ignoring case (links and junctions are not resolved). */
int plat_is_within(const char *path, const char *dir) {
    wchar_t *p = full_path(path), *d = full_path(dir);
    int within = 0;
    if (p && d) {
        size_t nd = wcslen(d);
        while (nd > 0 && (d[nd - 1] == L'\\' || d[nd - 1] == L'/')) nd--;
        within = !_wcsnicmp(p, d, nd) && (p[nd] == 0 || p[nd] == L'\\' || p[nd] == L'/');
    }
    free(p);
    free(d);
    return within;
}

int plat_file_key_of(const char *path, plat_file_key *key) {
    memset(key, 0, sizeof *key);
    wchar_t *w = wide(path);
    if (!w) return errno;
    /* FILE_FLAG_BACKUP_SEMANTICS opens directories too; no access needed for the query */
    HANDLE h = CreateFileW(w, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    free(w);
    if (h == INVALID_HANDLE_VALUE) return last_errno();
    int rc = plat_fd_key((plat_fd)h, key, NULL);
    CloseHandle(h);
    return rc;
}

int plat_fd_key(plat_fd fd, plat_file_key *key, uint64_t *size) {
    memset(key, 0, sizeof *key);
    BY_HANDLE_FILE_INFORMATION info;
    if (fd == PLAT_NO_FD || !fd || !GetFileInformationByHandle(H(fd), &info)) return EBADF;
    key->volume = info.dwVolumeSerialNumber;
    key->file = ((uint64_t)info.nFileIndexHigh << 32) | info.nFileIndexLow;
    key->birth =
        ((uint64_t)info.ftCreationTime.dwHighDateTime << 32) | info.ftCreationTime.dwLowDateTime;
    if (size) *size = ((uint64_t)info.nFileSizeHigh << 32) | info.nFileSizeLow;
    return 0;
}

/* ---- the host -------------------------------------------------------------------------- */
/* The environment as UTF-8, rebuilt when it changed; older copies are kept (a caller may
 * still read one), so only a changing environment costs memory. */
typedef struct env_copy {
    wchar_t *block;
    size_t block_len;
    char **vars;
    struct env_copy *older;
} env_copy;

static SRWLOCK env_lock = SRWLOCK_INIT;
static env_copy *env_now;

static size_t block_len(const wchar_t *b) {
    const wchar_t *p = b;
    while (*p) p += wcslen(p) + 1;
    return (size_t)(p - b) + 1;
}

char *const *plat_environ(void) {
    static char *empty[1] = {NULL};
    wchar_t *b = GetEnvironmentStringsW();
    if (!b) return empty;
    size_t len = block_len(b);
    AcquireSRWLockExclusive(&env_lock);
    if (!env_now || env_now->block_len != len || memcmp(env_now->block, b, len * sizeof *b)) {
        env_copy *c = calloc(1, sizeof *c);
        size_t n = 0;
        for (const wchar_t *p = b; *p; p += wcslen(p) + 1) n++;
        if (c) c->block = malloc(len * sizeof *b);
        if (c) c->vars = calloc(n + 1, sizeof *c->vars);
        if (c && c->block && c->vars) {
            memcpy(c->block, b, len * sizeof *b);
            c->block_len = len;
            size_t k = 0;
            for (const wchar_t *p = b; *p; p += wcslen(p) + 1) {
                char *v = narrow(p);
                if (v) c->vars[k++] = v;
            }
            c->older = env_now;
            env_now = c;
        } else if (c) {
            free(c->block);
            free(c->vars);
            free(c);
        }
    }
    char *const *vars = env_now ? env_now->vars : empty;
    ReleaseSRWLockExclusive(&env_lock);
    FreeEnvironmentStringsW(b);
    return vars;
}

void plat_new_guid(char out[37]) {
    unsigned char b[16];
    if (BCryptGenRandom(NULL, b, sizeof b, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) {
        fprintf(stderr, "hcsim: no source of random bytes\n");
        abort();
    }
    plat_format_guid(b, out);
}
#endif
