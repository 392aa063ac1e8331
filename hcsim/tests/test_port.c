/* hcsim C tests: the platform helpers of test_port.h. */
#ifndef _WIN32
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#endif
#include "test_port.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <winsock2.h> /* (before windows.h) */
#include <windows.h>
#include <direct.h>
#include <io.h>
#include <string.h>

char *tp_mkdtemp(char *tmpl) {
    _mkdir("/tmp"); /* the tests' templates live under /tmp (the current drive's root) */
    for (int tries = 0; tries < 100; tries++) {
        size_t n = strlen(tmpl);
        static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
        unsigned seed = GetTickCount() ^ (GetCurrentProcessId() << 8) ^ (unsigned)tries * 7919u;
        for (size_t i = n; i > 0 && n - i < 6 && (tmpl[i - 1] == 'X' || tries); i--) {
            seed = seed * 1103515245u + 12345u;
            tmpl[i - 1] = alnum[(seed >> 16) % 36];
        }
        if (_mkdir(tmpl) == 0) return tmpl;
    }
    return NULL;
}

int tp_mkdir(const char *path, int mode) {
    (void)mode;
    return _mkdir(path);
}

void *tp_vhd_handle(int fd) { return (void *)_get_osfhandle(fd); }

static void rm_tree(const wchar_t *path) {
    DWORD a = GetFileAttributesW(path);
    if (a == INVALID_FILE_ATTRIBUTES) return;
    if (!(a & FILE_ATTRIBUTE_DIRECTORY)) {
        SetFileAttributesW(path, FILE_ATTRIBUTE_NORMAL);
        DeleteFileW(path);
        return;
    }
    size_t n = wcslen(path);
    wchar_t *pat = malloc((n + 3) * sizeof *pat);
    if (!pat) return;
    swprintf(pat, n + 3, L"%ls\\*", path);
    WIN32_FIND_DATAW fd;
    HANDLE f = FindFirstFileW(pat, &fd);
    free(pat);
    if (f != INVALID_HANDLE_VALUE) {
        do {
            if (!wcscmp(fd.cFileName, L".") || !wcscmp(fd.cFileName, L"..")) continue;
            size_t m = n + wcslen(fd.cFileName) + 2;
            wchar_t *c = malloc(m * sizeof *c);
            if (!c) break;
            swprintf(c, m, L"%ls\\%ls", path, fd.cFileName);
            rm_tree(c);
            free(c);
        } while (FindNextFileW(f, &fd));
        FindClose(f);
    }
    RemoveDirectoryW(path);
}

void tp_rmtree(const char *path) {
    wchar_t w[MAX_PATH];
    if (MultiByteToWideChar(CP_UTF8, 0, path, -1, w, MAX_PATH) > 0) rm_tree(w);
}

int tp_pipe_write(intptr_t h, const char *s, size_t len) {
    while (len) {
        DWORD n = 0;
        if (!WriteFile((HANDLE)h, s, (DWORD)len, &n, NULL)) return -1;
        s += n;
        len -= n;
    }
    return 0;
}

int tp_pid_alive_after(uint32_t pid, unsigned timeout_ms) {
    HANDLE p = OpenProcess(SYNCHRONIZE, FALSE, pid);
    if (!p) return 0;
    int alive = WaitForSingleObject(p, timeout_ms) == WAIT_TIMEOUT;
    CloseHandle(p);
    return alive;
}

intptr_t tp_dup(intptr_t h) {
    HANDLE d;
    if (!DuplicateHandle(GetCurrentProcess(), (HANDLE)h, GetCurrentProcess(), &d, 0, FALSE,
                         DUPLICATE_SAME_ACCESS))
        return 0;
    return (intptr_t)d;
}

void *tp_local_alloc(size_t bytes) { return LocalAlloc(LMEM_FIXED, bytes); }

int tp_under_wine(void) {
    HMODULE nt = GetModuleHandleW(L"ntdll.dll");
    return nt && GetProcAddress(nt, "wine_get_version") != NULL;
}

long tp_pipe_read(intptr_t h, char *buf, size_t cap, unsigned timeout_ms, int *eof) {
    ULONGLONG end = GetTickCount64() + timeout_ms;
    for (;;) {
        DWORD avail = 0;
        if (!PeekNamedPipe((HANDLE)h, NULL, 0, NULL, &avail, NULL)) {
            *eof = 1; /* broken or disconnected: the other side is gone */
            return 0;
        }
        if (avail) {
            DWORD n = 0;
            if (!ReadFile((HANDLE)h, buf, avail < cap ? avail : (DWORD)cap, &n, NULL)) {
                *eof = 1;
                return 0;
            }
            return (long)n;
        }
        if (GetTickCount64() >= end) return -1;
        Sleep(2);
    }
}
#else
#include <ftw.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

char *tp_mkdtemp(char *tmpl) { return mkdtemp(tmpl); }
int tp_mkdir(const char *path, int mode) { return mkdir(path, (mode_t)mode); }
void *tp_vhd_handle(int fd) { return (void *)(intptr_t)fd; }

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tp_rmtree(const char *path) { nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }
#endif

void tp_skip(const char *reason) { harness_skip(reason); }

void tp_setenv(const char *name, const char *value) {
#ifdef _WIN32
    SetEnvironmentVariableA(name, value);
#else
    setenv(name, value, 1);
#endif
}

intptr_t tp_listening_socket(void) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
#ifdef _WIN32
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return -1;
    SOCKET l = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (l == INVALID_SOCKET) return -1;
    if (bind(l, (struct sockaddr *)&addr, sizeof addr) || listen(l, 1)) {
        closesocket(l);
        return -1;
    }
#else
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0) return -1;
    if (bind(l, (struct sockaddr *)&addr, sizeof addr) || listen(l, 1)) {
        close(l);
        return -1;
    }
#endif
    return (intptr_t)l;
}
