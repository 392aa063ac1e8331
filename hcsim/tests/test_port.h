/* hcsim C tests: what differs between POSIX and Windows in the tests themselves — the
 * commands guest processes run, temporary directories, VHD handles, reading and writing
 * pipe HANDLEs — and the marking of tests that are POSIX-only by nature. */
#ifndef HCSIM_TEST_PORT_H
#define HCSIM_TEST_PORT_H

#include <stddef.h>
#include <stdint.h>

/* The argument lists (JSON array members) of the commands the tests run. On Windows they
 * are subcommands of tests/win/hcsim_helper.c, found next to the test program. */
#ifdef _WIN32
#define TP_CMD(sub)           "\"hcsim_helper\",\"" sub "\""
#define TP_ARGS_SLEEP(n)      TP_CMD("sleep") ",\"" n "\""
#define TP_ARGS_SLEEP_PATH(n) TP_ARGS_SLEEP(n)
#define TP_ARGS_CAT           TP_CMD("cat")
#define TP_ARGS_TRUE          TP_CMD("exit") ",\"0\""
#define TP_ARGS_EXIT(n)       TP_CMD("exit") ",\"" n "\""
#define TP_ARGS_READ_EXIT(n)  TP_CMD("read-exit") ",\"" n "\""
#define TP_ARGS_CAT_ERR       TP_CMD("cat-err")
#define TP_LINE_ECHO          "hcsim_helper echo"
#else
#define TP_ARGS_SLEEP(n)      "\"/bin/sleep\",\"" n "\""
#define TP_ARGS_SLEEP_PATH(n) "\"sleep\",\"" n "\"" /* looked up in PATH */
#define TP_ARGS_CAT           "\"/bin/cat\""
#define TP_ARGS_TRUE          "\"/bin/true\""
#define TP_ARGS_EXIT(n)       "\"/bin/sh\",\"-c\",\"exit " n "\""
#define TP_ARGS_READ_EXIT(n)  "\"/bin/sh\",\"-c\",\"read x; exit " n "\""
#define TP_ARGS_CAT_ERR       "\"/bin/sh\",\"-c\",\"cat; echo err >&2\""
#define TP_LINE_ECHO          "/bin/echo"
#endif

/* The clock of the tests' timed condition waits (winpthreads measures them against the
 * wall clock only). */
#ifdef _WIN32
#define CU_COND_CLOCK CLOCK_REALTIME
#else
#define CU_COND_CLOCK CLOCK_MONOTONIC
#endif

/* mkdtemp; mkdir(path, mode). */
char *tp_mkdtemp(char *tmpl);
int tp_mkdir(const char *path, int mode);
/* The VHD "handle" of an open file descriptor (POSIX: the descriptor; Win32: its HANDLE). */
void *tp_vhd_handle(int fd);
/* Removes a directory tree (best effort). */
void tp_rmtree(const char *path);
/* Sets an environment variable of the process (Win32: the process environment block,
 * which hcsim reads). */
void tp_setenv(const char *name, const char *value);
/* A TCP socket listening on loopback (a descriptor, or a SOCKET on Windows), or -1. */
intptr_t tp_listening_socket(void);

/* A test that is POSIX-only by nature: on Windows it is skipped with the reason. */
void tp_skip(const char *reason);
#ifdef _WIN32
#define TP_POSIX_ONLY(reason) \
    do {                      \
        tp_skip(reason);      \
        return;               \
    } while (0)
#else
#define TP_POSIX_ONLY(reason) ((void)0)
#endif

#ifdef _WIN32
/* Pipe I/O on a HANDLE value: tp_pipe_write returns 0 or -1; tp_pipe_read reads what is
 * there within timeout_ms: bytes read, 0 at end of file (*eof set), -1 on timeout. */
int tp_pipe_write(intptr_t h, const char *s, size_t len);
/* 1 while process pid exists; waits up to timeout_ms for it to end (0 when it ended). */
int tp_pid_alive_after(uint32_t pid, unsigned timeout_ms);
/* A duplicate of a HANDLE value (as the caller of HCS may make one), or 0. */
intptr_t tp_dup(intptr_t h);
/* 1 when running under Wine. */
int tp_under_wine(void);
/* LocalAlloc(LMEM_FIXED, bytes). */
void *tp_local_alloc(size_t bytes);
long tp_pipe_read(intptr_t h, char *buf, size_t cap, unsigned timeout_ms, int *eof);
#endif

#endif
