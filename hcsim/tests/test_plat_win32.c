/* hcsim platform layer on Win32 (plat_win32.c): UTF-16 file calls, positional I/O on
 * HANDLEs, processes in jobs, exit watching, named-pipe streams and what hcsim asks the
 * host when it counts handed-out HANDLEs and documents. */
#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include "harness.h"
#include "plat.h"
#include "test_port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *tmpdir(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "/tmp/hcsim-%s-XXXXXX", name);
    return tp_mkdtemp(buf);
}

TEST(plat_win32_files_with_utf16_names) {
    char dir[64], path[160];
    REQUIRE(tmpdir(dir, sizeof dir, "w32files"));
    snprintf(path, sizeof path, "%s/\xc3\xa9t\xc3\xa9 \xe2\x82\xac.bin", dir); /* "été €" */
    char *data = NULL;
    size_t len = 9;
    CHECK(!plat_file_exists(path));
    CHECK(plat_read_file(path, &data, &len) == ENOENT && data == NULL);
    CHECK(plat_write_file(path, "a\0b", 3) == 0);
    CHECK(plat_file_exists(path) && !plat_is_dir(path));
    CHECK(plat_read_file(path, &data, &len) == 0 && len == 3 && !memcmp(data, "a\0b", 3));
    free(data);
    CHECK(plat_write_file(path, "", 0) == 0); /* truncated */
    CHECK(plat_read_file(path, &data, &len) == 0 && len == 0 && data[0] == 0);
    free(data);
    snprintf(path + strlen(dir), sizeof path - strlen(dir), "/no/such/file");
    CHECK(plat_write_file(path, "x", 1) == ENOENT);
    tp_rmtree(dir);
}

TEST(plat_win32_directory_trees) {
    char root[64], a[160], f[160], copy[160];
    REQUIRE(tmpdir(root, sizeof root, "w32tree"));
    snprintf(a, sizeof a, "%s/src/x/\xc3\xbc", root);
    CHECK(plat_mkdirs(a) == 0 && plat_is_dir(a));
    CHECK(plat_mkdirs(a) == 0);
    snprintf(f, sizeof f, "%s/src/x/file.txt", root);
    CHECK(plat_write_file(f, "hello", 5) == 0);
    snprintf(a, sizeof a, "%s/sub", f);
    CHECK(plat_mkdirs(a) == ENOTDIR);
    snprintf(a, sizeof a, "%s/src", root);
    snprintf(copy, sizeof copy, "%s/dst/deep", root);
    CHECK(plat_copytree(a, copy) == 0);
    snprintf(f, sizeof f, "%s/x/file.txt", copy);
    char *data = NULL;
    size_t len = 0;
    CHECK(plat_read_file(f, &data, &len) == 0 && len == 5 && !strcmp(data, "hello"));
    free(data);
    snprintf(f, sizeof f, "%s/x/\xc3\xbc", copy);
    CHECK(plat_is_dir(f));
    snprintf(f, sizeof f, "%s/missing", root);
    CHECK(plat_copytree(f, copy) == ENOENT);
    CHECK(plat_rmtree(root) == 0);
    CHECK(!plat_file_exists(root));
    CHECK(plat_rmtree(root) == ENOENT);
}

TEST(plat_win32_positional_io_and_regular_files) {
    char dir[64], path[128];
    REQUIRE(tmpdir(dir, sizeof dir, "w32pio"));
    snprintf(path, sizeof path, "%s\\disk.bin", dir);
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_NEW, 0, NULL);
    REQUIRE(h != INVALID_HANDLE_VALUE);
    plat_fd fd = (plat_fd)h;
    CHECK(plat_fd_is_regular_file(fd));
    CHECK(plat_pwrite_all(fd, "0123456789", 10, 100) == 0);
    char buf[16] = {0};
    CHECK(plat_pread_all(fd, buf, 4, 103) == 4 && !memcmp(buf, "3456", 4));
    CHECK(plat_pread_all(fd, buf, 16, 106) == 4);             /* short at end of file */
    CHECK(plat_pread_all(fd, buf, 4, 0) == 4 && buf[0] == 0); /* the gap reads as zeros */
    HANDLE d = CreateFileA(dir, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                           OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
    CHECK(d != INVALID_HANDLE_VALUE && !plat_fd_is_regular_file((plat_fd)d)); /* a directory */
    CloseHandle(d);
    HANDLE r, w;
    REQUIRE(CreatePipe(&r, &w, NULL, 0));
    CHECK(!plat_fd_is_regular_file((plat_fd)r)); /* a pipe */
    CloseHandle(r);
    CloseHandle(w);
    CloseHandle(h);
    CHECK(!plat_fd_is_regular_file(fd)); /* closed */
    CHECK(!plat_fd_is_regular_file(-1));
    tp_rmtree(dir);
}

/* A caller's handle opened for overlapped I/O (and bound to a completion port): the I/O
 * may complete later, so hcsim waits for it; nothing is posted to the caller's port. */
TEST(plat_win32_positional_io_on_an_overlapped_handle) {
    char dir[64], path[128];
    REQUIRE(tmpdir(dir, sizeof dir, "w32ovl"));
    snprintf(path, sizeof path, "%s\\disk.bin", dir);
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_NEW,
                           FILE_FLAG_OVERLAPPED | FILE_FLAG_NO_BUFFERING, NULL);
    REQUIRE(h != INVALID_HANDLE_VALUE);
    HANDLE port = CreateIoCompletionPort(h, NULL, 7, 1);
    CHECK(port != NULL);
    enum { SZ = 1 << 20 }; /* sector-aligned (no buffering), big enough to be asynchronous */
    char *out = VirtualAlloc(NULL, SZ, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE),
         *in = VirtualAlloc(NULL, SZ, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
    REQUIRE(out && in);
    for (int i = 0; i < SZ; i++) out[i] = (char)(i * 7 + i / 4096);
    int bad = 0;
    for (int round = 0; round < 4; round++) {
        uint64_t off = (uint64_t)round * SZ + 4096u * 3;
        bad += plat_pwrite_all((plat_fd)h, out, SZ, off) != 0;
        memset(in, 0, SZ);
        bad += plat_pread_all((plat_fd)h, in, SZ, off) != SZ || memcmp(in, out, SZ) != 0;
    }
    CHECK(bad == 0);
    DWORD n;
    ULONG_PTR key;
    OVERLAPPED *po = NULL;
    CHECK(!GetQueuedCompletionStatus(port, &n, &key, &po, 0) && po == NULL);
    VirtualFree(out, 0, MEM_RELEASE);
    VirtualFree(in, 0, MEM_RELEASE);
    CloseHandle(port);
    CloseHandle(h);
    tp_rmtree(dir);
}

/* Exit reports collected by the monitor. */
typedef struct {
    plat_mutex m;
    plat_cond c;
    int n, codes[64];
    int64_t pids[64];
} exits;

static void on_exit_record(void *ctx, int64_t pid, int code, int sig) {
    exits *e = ctx;
    (void)sig;
    plat_mutex_lock(&e->m);
    if (e->n < 64) {
        e->pids[e->n] = pid;
        e->codes[e->n] = code;
    }
    e->n++;
    plat_cond_broadcast(&e->c);
    plat_mutex_unlock(&e->m);
}

static int wait_exits(exits *e, int n) {
    uint64_t end = plat_now_ms() + 10000;
    plat_mutex_lock(&e->m);
    while (e->n < n && plat_now_ms() < end) plat_cond_timedwait(&e->c, &e->m, 100);
    int got = e->n;
    plat_mutex_unlock(&e->m);
    return got == n;
}

static int spawn_helper(const char *const *argv, plat_spawn_result *r, int pipes) {
    plat_spawn_opts o;
    memset(&o, 0, sizeof o);
    o.argv = argv;
    o.want_stdin = o.want_stdout = pipes;
    return plat_spawn(&o, r);
}

TEST(plat_win32_spawn_and_watch_exit_codes) {
    exits e;
    memset(&e, 0, sizeof e);
    plat_mutex_init(&e.m);
    plat_cond_init(&e.c);
    enum { N = 24 };
    int64_t pids[N];
    for (int i = 0; i < N; i++) {
        char code[16];
        snprintf(code, sizeof code, "%d", i * 11);
        const char *argv[] = {"hcsim_helper", "exit", code, NULL};
        plat_spawn_result r;
        REQUIRE(spawn_helper(argv, &r, 0) == 0);
        pids[i] = r.pid;
        CHECK(plat_watch_exit(r.pid, on_exit_record, &e) == 0);
        CHECK(plat_watch_exit(r.pid, on_exit_record, &e) == EEXIST);
    }
    CHECK(wait_exits(&e, N));
    int bad = 0;
    for (int k = 0; k < e.n && k < 64; k++)
        for (int i = 0; i < N; i++)
            if (pids[i] == e.pids[k] && e.codes[k] != i * 11) bad++;
    CHECK(bad == 0);
    for (int i = 0; i < N; i++) plat_guard_forget(pids[i]);
    CHECK(plat_watch_exit(pids[0], on_exit_record, &e) == ECHILD); /* reported: gone */
    const char *missing[] = {"hcsim_no_such_program", NULL};
    plat_spawn_result r;
    CHECK(spawn_helper(missing, &r, 0) == ENOENT);
    plat_cond_destroy(&e.c);
    plat_mutex_destroy(&e.m);
}

TEST(plat_win32_reap_and_signals_through_the_job) {
    const char *sleeper[] = {"hcsim_helper", "sleep", "30", NULL};
    plat_spawn_result r;
    REQUIRE(spawn_helper(sleeper, &r, 0) == 0);
    CHECK(plat_pid_exists(r.pid));
    CHECK(!plat_group_gone(r.pid));
    unsigned char alive = 0;
    CHECK(plat_sessions_alive(&r.pid, 1, &alive) == 0 && alive == 1);
    CHECK(plat_signal_group(r.pid, PLAT_SIGSTOP) == 0);
    CHECK(plat_signal_group(r.pid, PLAT_SIGCONT) == 0);
    CHECK(plat_signal_group(r.pid, PLAT_SIGTERM) == 0);
    int code = -1;
    CHECK(plat_reap(r.pid, &code) == 0 && code == 128 + PLAT_SIGTERM);
    CHECK(plat_group_gone(r.pid));
    CHECK(plat_signal_group(r.pid, PLAT_SIGKILL) == ESRCH);
    CHECK(plat_sessions_alive(&r.pid, 1, &alive) == 0 && alive == 0);
    plat_guard_forget(r.pid);
    CHECK(plat_signal_group(r.pid, PLAT_SIGKILL) == ESRCH);
    CHECK(plat_reap(r.pid, &code) == ECHILD);
}

TEST(plat_win32_pipe_streams_others_and_disconnect) {
    const char *cat[] = {"hcsim_helper", "cat", NULL};
    plat_spawn_result r;
    REQUIRE(spawn_helper(cat, &r, 1) == 0);
    REQUIRE(r.stdin_fd != PLAT_NO_FD && r.stdout_fd != PLAT_NO_FD && r.stderr_fd == PLAT_NO_FD);
    CHECK(plat_fd_others(r.stdin_fd) == 0);
    /* only the current user may open the pipe: one ACE (the default DACL has several) */
    union {
        SECURITY_DESCRIPTOR sd;
        char room[4096];
    } sec;
    DWORD need = 0;
    BOOL present = FALSE, defaulted = FALSE;
    PACL dacl = NULL;
    CHECK(GetKernelObjectSecurity((HANDLE)r.stdin_fd, DACL_SECURITY_INFORMATION, &sec.sd,
                                  sizeof sec, &need) &&
          GetSecurityDescriptorDacl(&sec.sd, &present, &dacl, &defaulted) && present && dacl &&
          dacl->AceCount == 1);
    plat_fd d = plat_dup(r.stdin_fd);
    REQUIRE(d != PLAT_NO_FD);
    CHECK(plat_fd_others(r.stdin_fd) == 1 && plat_fd_others(d) == 1);
    CHECK(plat_fd_same(d, r.stdin_fd) && !plat_fd_same(d, r.stdout_fd));
    CHECK(plat_write_all(d, "ping\n", 5) == 0);
    char buf[32];
    int eof = 0;
    long n = tp_pipe_read(r.stdout_fd, buf, sizeof buf, 5000, &eof);
    CHECK(n == 5 && !memcmp(buf, "ping\n", 5));
    /* disconnecting ends the stream for the child although d is still open */
    CHECK(plat_null_over(r.stdin_fd) == 0);
    n = tp_pipe_read(r.stdout_fd, buf, sizeof buf, 5000, &eof);
    CHECK(n == 0 && eof);
    CHECK(plat_write_all(d, "x", 1) == EPIPE);
    int code = -1;
    CHECK(plat_reap(r.pid, &code) == 0 && code == 0);
    plat_guard_forget(r.pid);
    plat_close(d);
    plat_close(r.stdin_fd);
    plat_close(r.stdout_fd);
    CHECK(plat_close(d) == EBADF);
}

static int doc_alive(const void *doc, size_t bytes, uint64_t tag) {
    plat_doc_ref r = {doc, bytes, tag, -1};
    return plat_docs_alive(&r, 1) == 0 ? r.alive : -1;
}

TEST(plat_win32_documents_alive_until_local_free) {
    char text[100];
    memset(text, 'x', sizeof text);
    char *doc = plat_doc_copy(text, 100, 7);
    REQUIRE(doc != NULL);
    CHECK(!memcmp(doc, text, 100));
    CHECK(doc_alive(doc, 100, 7) == 1);
    CHECK(doc_alive(doc, 100, 8) == 0);     /* another tag */
    CHECK(doc_alive(doc, 200, 7) == 0);     /* another size */
    CHECK(doc_alive(doc + 16, 84, 7) == 0); /* not the start of a block */
    CHECK(LocalFree(doc) == NULL);          /* kernel32's */
    CHECK(doc_alive(doc, 100, 7) == 0);
    char *again = plat_doc_copy(text, 100, 9);
    REQUIRE(again != NULL);
    CHECK(doc_alive(again, 100, 7) == 0); /* even at the same address */
    plat_doc_free(again);
    /* a block of the same size reused at the same address, its first bytes rewritten (the
     * blocks allocated after the free are kept until one is the freed one) */
    int reused = 0;
    for (int round = 0; round < 8 && !reused; round++) {
        doc = plat_doc_copy(text, 100, 10);
        REQUIRE(doc != NULL);
        plat_doc_free(doc);
        char *b[64];
        int nb = 0;
        while (nb < 64 && !reused) {
            REQUIRE((b[nb] = HeapAlloc(GetProcessHeap(), 0, 100 + 24)) != NULL);
            memset(b[nb], 'y', 16);
            if (b[nb++] == doc) {
                reused = 1;
                CHECK(doc_alive(doc, 100, 10) == 0);
            }
        }
        while (nb > 0) HeapFree(GetProcessHeap(), 0, b[--nb]);
    }
    CHECK(reused);
    /* many at once, some freed: one walk for all */
    plat_doc_ref refs[40];
    for (int i = 0; i < 40; i++) {
        refs[i] = (plat_doc_ref){plat_doc_copy(text, 10 + (size_t)i, 100u + (unsigned)i),
                                 10 + (size_t)i, 100u + (unsigned)i, -1};
        REQUIRE(refs[i].doc != NULL);
    }
    for (int i = 0; i < 40; i += 3) LocalFree((void *)refs[i].doc);
    CHECK(plat_docs_alive(refs, 40) == 0);
    int bad = 0;
    for (int i = 0; i < 40; i++) bad += refs[i].alive != (i % 3 != 0);
    CHECK(bad == 0);
    for (int i = 0; i < 40; i++)
        if (i % 3) plat_doc_free((void *)refs[i].doc);
    CHECK(plat_docs_alive(refs, 0) == 0);
}
#else
typedef int hcsim_test_plat_win32_is_windows_only;
#endif
