/* hcsim platform layer: the only place that talks to the operating system — threads,
 * locks, condition variables, monotonic time, process spawn and exit monitoring, pipes
 * and descriptors, files and directory trees, the host environment. Everything above it
 * (the emulator logic) is portable C11; a Win32 port implements this header in one
 * file, as plat_posix.c does for POSIX. All functions are thread-safe unless stated
 * otherwise; those returning "0 or errno" report failures as errno values. */
#ifndef HCSIM_PLAT_H
#define HCSIM_PLAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
/* The Win32 objects behind these are pointer-sized (SRWLOCK, CONDITION_VARIABLE) or a
 * HANDLE; plat_win32.c checks the sizes. windows.h is not included here: the portable
 * sources see only hcsim's own Win32 vocabulary (hcsim_win32.h). */
typedef struct {
    void *srw;
} plat_mutex;
typedef struct {
    void *cv;
} plat_cond;
typedef struct {
    void *handle;
} plat_thread;
/* A descriptor is a HANDLE value; (plat_fd)-1 (INVALID_HANDLE_VALUE) means none. */
typedef intptr_t plat_fd;
/* The guest's signal numbers (Linux's, whatever the host); plat_signal_group maps them. */
#define PLAT_SIGHUP  1
#define PLAT_SIGINT  2
#define PLAT_SIGQUIT 3
#define PLAT_SIGKILL 9
#define PLAT_SIGTERM 15
#define PLAT_SIGCONT 18
#define PLAT_SIGSTOP 19
/* The caller releases what hcsim hands out with the host's own LocalFree and CloseHandle
 * (kernel32): hcsim does not define them, and counts by asking the host (see
 * plat_doc_copy and plat_fd_others). */
#define PLAT_HOST_RELEASES 1
#else
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
typedef struct {
    pthread_mutex_t m;
} plat_mutex;
typedef struct {
    pthread_cond_t c;
} plat_cond;
typedef struct {
    pthread_t t;
} plat_thread;
typedef int plat_fd; /* a file descriptor; -1 means none */
#define PLAT_SIGHUP        SIGHUP
#define PLAT_SIGINT        SIGINT
#define PLAT_SIGQUIT       SIGQUIT
#define PLAT_SIGKILL       SIGKILL
#define PLAT_SIGTERM       SIGTERM
#define PLAT_SIGCONT       SIGCONT
#define PLAT_SIGSTOP       SIGSTOP
/* hcsim defines LocalFree and CloseHandle itself and releases its objects there. */
#define PLAT_HOST_RELEASES 0
#endif
#define PLAT_NO_FD ((plat_fd) - 1)

/* The characters that separate directories in a path; whether environment variable
 * names ignore case; what a pseudo-terminal's input takes as end of input. */
#ifdef _WIN32
#define PLAT_DIR_SEPS       "\\/"
#define PLAT_ENV_NAMES_FOLD 1
#define PLAT_PTY_EOF        "\x1a\r" /* Ctrl-Z, Enter: end of input for a console */
#else
#define PLAT_DIR_SEPS       "/"
#define PLAT_ENV_NAMES_FOLD 0
#define PLAT_PTY_EOF        "\x04" /* VEOF: end of input for a terminal in canonical mode */
#endif

/* Locks and condition variables. init returns 0 or an errno value. Mutexes are not
 * recursive. plat_cond_timedwait returns 0 when signalled (or spuriously woken) and
 * ETIMEDOUT when timeout_ms elapsed; it measures against the monotonic clock. */
int plat_mutex_init(plat_mutex *m);
void plat_mutex_destroy(plat_mutex *m);
void plat_mutex_lock(plat_mutex *m);
void plat_mutex_unlock(plat_mutex *m);
int plat_cond_init(plat_cond *c);
void plat_cond_destroy(plat_cond *c);
void plat_cond_wait(plat_cond *c, plat_mutex *m);
int plat_cond_timedwait(plat_cond *c, plat_mutex *m, uint32_t timeout_ms);
void plat_cond_signal(plat_cond *c);
void plat_cond_broadcast(plat_cond *c);

/* Threads. The new thread blocks every signal (so it never runs a host process's
 * signal handlers). plat_thread_id() is a process-wide unique id of the calling thread. */
int plat_thread_create(plat_thread *t, void (*fn)(void *arg), void *arg);
void plat_thread_join(plat_thread *t);
uint64_t plat_thread_id(void);

/* Wall-clock time: the current UTC calendar time and the 100 ns ticks within its second. */
struct tm;
void plat_utc_now(struct tm *out, uint32_t *ticks100ns);

/* Registers fn to run in the child of a fork() (pthread_atfork); Win32 has no fork. */
void plat_atfork_child(void (*fn)(void));

/* Monotonic time in milliseconds and nanoseconds; sleeping. */
uint64_t plat_now_ms(void);
uint64_t plat_now_ns(void);
void plat_sleep_ms(uint32_t ms);

/* Host processes, started without a shell. */
typedef struct plat_spawn_opts {
    const char *const *argv;                  /* argv[0] is looked up in PATH when it has no '/' */
    const char *const *envp;                  /* NULL: inherit the host environment */
    const char *cwd;                          /* NULL: inherit */
    int want_stdin, want_stdout, want_stderr; /* create a pipe for that stream; else /dev/null */
    int use_pty;         /* stdin/stdout on a new pseudo-terminal (stderr joins it) */
    uint16_t rows, cols; /* initial pty size when use_pty */
} plat_spawn_opts;

typedef struct plat_spawn_result {
    int64_t pid;
    plat_fd stdin_fd, stdout_fd, stderr_fd; /* parent ends, close-on-exec, -1 when not requested;
                                           with a pty, stdin_fd and stdout_fd are two dups of
                                           the pty master */
    plat_fd pty_fd;                         /* the pty master kept for resizing (-1 without a pty);
                                    owned by the caller, who closes it */
} plat_spawn_result;

/* Starts the process as the leader of a new session (sid == pgid == pid; where setsid
 * is not available to posix_spawn, a new process group; on Win32 in a job object of its
 * own, see plat_win32.c), so that everything it starts can be found and signalled as a
 * whole. Returns 0, or an errno value (ENOENT: no such
 * program). */
int plat_spawn(const plat_spawn_opts *opts, plat_spawn_result *out);
/* Sends sig to the process group of pid. 0 or errno (ESRCH when already gone). */
int plat_signal_group(int64_t pid, int sig);
/* 1 when the process group pgid has no member left (kill(-pgid, 0) gives ESRCH). */
int plat_group_gone(int64_t pgid);
/* 1 when a process pid exists (a zombie included). */
int plat_pid_exists(int64_t pid);

/* Process trees. plat_kill_sessions SIGKILLs every process of the sessions sids[0..n)
 * (each sid the pid of a session leader plat_spawn started) and every descendant of
 * those processes, repeating until a pass finds nothing left alive. Linux walks /proc
 * (session ids and parent links, so a descendant that left the session with setsid()
 * is found while its parent lives); elsewhere only the process groups pgid == sid are
 * signalled. Never signals this process. May take a few milliseconds: call it without
 * locks that others wait for. Returns 0, or an errno value when a walk of /proc failed
 * (e.g. EMFILE: only a vanished process counts as gone, any other error fails the
 * walk): then the process groups and everything the last good walk found were
 * SIGKILLed (nothing is left stopped), but members elsewhere may remain: call again
 * later. */
int plat_kill_sessions(const int64_t *sids, size_t n);
/* alive[i] = 1 when some process still belongs to session sids[i] (Linux: /proc; else
 * its process group pgid == sid). Takes a few milliseconds: call it without locks.
 * Returns 0, or an errno value when the walk failed (then every alive[i] is 1). */
int plat_sessions_alive(const int64_t *sids, size_t n, unsigned char *alive);

/* The guard: an outside process (started at the first plat_guard_add) that SIGKILLs
 * the trees of the registered sessions as plat_kill_sessions does when this process
 * ends in any way (exit, crash, SIGKILL): it reads a socket whose other end only this
 * process holds (close-on-exec, closed in children of fork()) and acts on end of file.
 * plat_guard_add registers sid (0 or errno, e.g. EMFILE when the guard cannot be
 * started) with the start time of the process sid (its leader, an unreaped child);
 * the guard skips a sid whose pid then names a process started at another time (the
 * session emptied and its id was reused). plat_guard_forget unregisters sid (unknown
 * sids are ignored). Neither waits for a guard to exit. */
int plat_guard_add(int64_t sid);
void plat_guard_forget(int64_t sid);
int plat_pty_resize(plat_fd pty_fd, uint16_t rows, uint16_t cols);

/* Exit monitoring without a thread per process and without touching children that are
 * not ours (no waitpid(-1), no SIGCHLD handler): one monitor thread for the whole
 * emulator. plat_watch_exit registers pid; on_exit(ctx, pid, exit_code, term_signal) is
 * called once from the monitor thread after the process has been reaped. exit_code is
 * the exit status (0-255) or 128+signal when killed by a signal; term_signal is the
 * signal number or 0. Returns 0 or errno. plat_monitor_shutdown stops the thread
 * (pending watches are dropped without a call). */
typedef void (*plat_exit_fn)(void *ctx, int64_t pid, int exit_code, int term_signal);
int plat_watch_exit(int64_t pid, plat_exit_fn on_exit, void *ctx);
void plat_monitor_shutdown(void);
/* Waits for a child that is not watched (e.g. after plat_watch_exit failed) to exit and
 * reaps it; *exit_code (may be NULL) as for plat_exit_fn. 0 or errno. */
int plat_reap(int64_t pid, int *exit_code);

/* Descriptors (pipe ends, pty masters, regular files). */
int plat_close(plat_fd fd);
int plat_set_nonblocking(plat_fd fd, int on);
/* A close-on-exec duplicate of fd, or -1 (errno set). */
plat_fd plat_dup(plat_fd fd);
/* Atomically replaces what fd refers to by /dev/null (so the previous object loses this
 * reference: the other end of a pipe sees EOF or EPIPE) while the descriptor number
 * stays valid and close-on-exec. 0 or errno. */
int plat_null_over(plat_fd fd);
/* Writes all of buf (retrying short writes and EINTR). 0 or errno. */
int plat_write_all(plat_fd fd, const void *buf, size_t len);
/* Positional I/O of a whole buffer: plat_pread_all returns the bytes read (fewer at end
 * of file) or -1; plat_pwrite_all returns 0 or errno. */
int plat_pread_all(plat_fd fd, void *buf, size_t len, uint64_t off);
int plat_pwrite_all(plat_fd fd, const void *buf, size_t len, uint64_t off);
/* 1 when fd (any integer, e.g. a HANDLE value) is an open descriptor of a regular file. */
int plat_fd_is_regular_file(intptr_t fd);

/* Sockets (plat_sock.c), for live migration: a caller's socket is a descriptor (POSIX) or
 * a SOCKET (Windows), given as an integer. plat_sock_is: 1 when s is an open socket.
 * plat_sock_dup: hcsim's own copy of the socket, or PLAT_NO_FD (errno set). plat_sock_close
 * closes such a copy. plat_sock_io moves up to len bytes (send when sending, else receive),
 * waiting at most wait_ms for the socket to be ready: the bytes moved (> 0), 0 when not
 * ready in time, -1 when the peer has closed the connection, or -2 on an error. */
int plat_sock_is(intptr_t s);
plat_fd plat_sock_dup(intptr_t s);
void plat_sock_close(plat_fd s);
void plat_sock_shutdown(plat_fd s); /* both directions, for every holder of the socket */
int plat_sock_connected(plat_fd s); /* 1 when s has a peer (not listening, not unconnected) */
/* A connected pair of stream sockets (tests; on Windows over loopback TCP): 0 or errno. */
int plat_sock_pair(plat_fd sv[2]);
long plat_sock_io(plat_fd s, void *buf, size_t len, int sending, uint32_t wait_ms);

#if PLAT_HOST_RELEASES
/* What the caller releases with the host's LocalFree and CloseHandle, and how hcsim tells
 * what still exists.
 * plat_doc_copy: a copy of bytes of data in a block the host's LocalFree releases, with a
 * hidden trailer: a per-process key, tag (never 0, never reused) and a hash of the first
 * bytes of data; plat_doc_free releases it. plat_docs_alive sets refs[i].alive to 1 while
 * refs[i].doc is still a busy block of the heap, of the size plat_doc_copy gave it, whose
 * trailer still holds the key, tag and hash (a block freed and reused by anyone else, at
 * the same address and of the same size, fails unless its new owner left the first bytes
 * and the trailer as they were), to 0 once it was LocalFree'd. One walk of the heap's
 * bookkeeping for all of them, under the heap's lock; it never touches freed memory.
 * 0, or an errno when the heap cannot be walked (every alive is then 1: cannot tell). */
typedef struct {
    const void *doc;
    size_t bytes;
    uint64_t tag;
    int alive;
} plat_doc_ref;
/* plat_fd_others: how many other handles of this process are open on the object fd
 * refers to (0 when that cannot be read). plat_fd_same: 1 when a and b are open handles
 * of the same object. Neither performs I/O on the object (so neither waits for a read
 * blocked on it in another thread). */
void *plat_doc_copy(const void *data, size_t bytes, uint64_t tag);
void plat_doc_free(void *doc);
int plat_docs_alive(plat_doc_ref *refs, size_t n);
uint32_t plat_fd_others(plat_fd fd);
int plat_fd_same(plat_fd a, plat_fd b);
/* The identity (as plat_file_key_of gives it) and size of the file fd is an open handle
 * of: 0, or an errno when fd is not one (closed, or not a file). No I/O on the file. */
struct plat_file_key;
int plat_fd_key(plat_fd fd, struct plat_file_key *key, uint64_t *size);
#endif

/* Files and directories. */
/* Writes a whole file atomically enough for save state (write, fsync, close). 0 or errno. */
int plat_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file into a malloc'd buffer (NUL-terminated for convenience). 0 or errno. */
int plat_read_file(const char *path, char **data, size_t *len);
int plat_file_exists(const char *path);
int plat_remove_file(const char *path);
int plat_is_dir(const char *path); /* 1 for an existing directory */
int plat_mkdirs(const char *path); /* like mkdir -p; 0 or errno */
/* The tree walks below are iterative: neither a tree's depth nor its paths' length is
 * limited by a stack or a path buffer. Symbolic links are never followed. */
int plat_rmtree(const char *path); /* 0 or errno */
/* Removes everything in directory dir but its entry named skip (NULL: none). 0 or errno. */
int plat_empty_dir(const char *dir, const char *skip);
/* Copies a file, symlink or directory tree to dst (directories created, files copied,
 * symlinks re-created); EINVAL when dst is src or inside it. 0 or errno. */
int plat_copytree(const char *src, const char *dst);
/* plat_copytree of a directory but its top entry named skip (NULL: none). */
int plat_copytree_skip(const char *src, const char *dst, const char *skip);
/* 1 for an existing empty directory, else 0. */
int plat_dir_is_empty(const char *dir);
/* 1 when path (which need not exist yet) is directory dir or below it, else 0. */
int plat_is_within(const char *path, const char *dir);
/* The identity of an existing file or directory, for hcsim's access list: its volume, its
 * file number on the volume and its creation time (0 where the file system keeps none),
 * so that a file deleted and re-created under the same name, or a new file given a freed
 * inode, is a different file (README, "VM access"). Follows symbolic links. 0 or errno. */
typedef struct plat_file_key {
    uint64_t volume, file, birth;
} plat_file_key;
int plat_file_key_of(const char *path, plat_file_key *key);

/* Errors: the text of errno value e ("Too many open files"), and its symbolic name
 * ("EMFILE") or NULL for values the table does not know. Both are static strings. */
const char *plat_strerror(int e);
const char *plat_errno_name(int e);

/* The host. plat_environ: the process environment (NULL-terminated, read-only). */
char *const *plat_environ(void);
/* A random 128-bit GUID in the canonical lowercase 8-4-4-4-12 form (37 bytes with NUL). */
void plat_new_guid(char out[37]);

/* ---- Unix sockets of the service mode (plat_unix.c; POSIX only) ---------------------
 * Service mode (README "Service mode: the service and the protocol"). All return 0 or an
 * errno value. */
#ifndef _WIN32
/* Listens on path: mode 0600, or 0660 and chgrp'd to gid when gid >= 0. An existing path
 * is probed under an flock on "<path>.lock": a live listener there gives EEXIST, a stale
 * socket is unlinked and taken over; a path that is not a socket gives ENOTSOCK (left
 * alone, no lock made), a lock file that is a symlink or not a regular file ELOOP. */
int plat_unix_listen(const char *path, int64_t gid, plat_fd *listener);
/* Closes the listener and unlinks path. */
void plat_unix_unlisten(const char *path, plat_fd listener);
/* Connects to path (close-on-exec). ENOENT/ECONNREFUSED: nobody listens there; ENOTSOCK:
 * the path is not a socket. */
int plat_unix_connect(const char *path, plat_fd *sock);
/* The peer's credentials (SO_PEERCRED; getpeereid elsewhere, pid 0 there). */
int plat_unix_peer(plat_fd sock, int64_t *uid, int64_t *gid, int64_t *pid);
/* 1 when a peer (uid, gid) may use a service running as self_uid: the same uid, root, or
 * with group >= 0 a member of that group (primary or supplementary). */
int plat_unix_admits(int64_t uid, int64_t gid, int64_t self_uid, int64_t group);
/* Accepts a connection (close-on-exec). */
int plat_unix_accept(plat_fd listener, plat_fd *sock);
/* Gives sock a receive timeout (0: none). */
int plat_unix_recv_timeout(plat_fd sock, uint32_t ms);
#endif

#endif
