/* hcsim's Windows test helper: the commands the C tests run as guest processes where POSIX
 * has /bin/sleep, /bin/cat and /bin/sh (see tests/test_port.h). One program, subcommands:
 *   sleep N | cat | cat-err (cat, then "err" on stderr) | exit N | read-exit N (one line of
 *   stdin, then exit N) | echo WORDS... | args ARGS... (each argument on a line, in [])
 *   | env NAME | pwd | spawn-sleep N (starts "sleep N" as a child, prints its pid, waits)
 *   | ticks (a numbered line every 10 ms until killed) | spawn-cat (starts "cat" as a child
 *   on its own standard handles and exits at once, leaving it running) | close-out-sleep N
 *   (closes stdout, then sleeps N s) */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static void out(HANDLE h, const char *s, size_t n) {
    DWORD w;
    while (n && WriteFile(h, s, (DWORD)n, &w, NULL) && w) {
        s += w;
        n -= w;
    }
}

static void out_w(HANDLE h, const wchar_t *s) {
    int n = WideCharToMultiByte(CP_UTF8, 0, s, -1, NULL, 0, NULL, NULL);
    char *b = n > 0 ? malloc((size_t)n) : NULL;
    if (!b) return;
    WideCharToMultiByte(CP_UTF8, 0, s, -1, b, n, NULL, NULL);
    out(h, b, strlen(b));
    free(b);
}

static void cat(HANDLE in, HANDLE o) {
    char buf[4096];
    DWORD n;
    while (ReadFile(in, buf, sizeof buf, &n, NULL) && n) out(o, buf, n);
}

/* A standard handle, or the console's own when there is none (a process started on a
 * pseudo-console with NULL standard handles gets none under Wine). */
static HANDLE std_handle(DWORD which, const wchar_t *console) {
    HANDLE h = GetStdHandle(which);
    if (h && h != INVALID_HANDLE_VALUE) return h;
    return CreateFileW(console, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                       NULL, OPEN_EXISTING, 0, NULL);
}

int wmain(int argc, wchar_t **argv) {
    HANDLE in = std_handle(STD_INPUT_HANDLE, L"CONIN$"),
           o = std_handle(STD_OUTPUT_HANDLE, L"CONOUT$"),
           err = std_handle(STD_ERROR_HANDLE, L"CONOUT$");
    const wchar_t *cmd = argc > 1 ? argv[1] : L"";
    int n = argc > 2 ? _wtoi(argv[2]) : 0;
    if (!wcscmp(cmd, L"sleep")) {
        Sleep((DWORD)n * 1000u);
    } else if (!wcscmp(cmd, L"close-out-sleep")) {
        CloseHandle(o);
        Sleep((DWORD)n * 1000u);
    } else if (!wcscmp(cmd, L"cat")) {
        cat(in, o);
    } else if (!wcscmp(cmd, L"cat-err")) {
        cat(in, o);
        out(err, "err\n", 4);
    } else if (!wcscmp(cmd, L"exit")) {
        return n;
    } else if (!wcscmp(cmd, L"read-exit")) {
        char c;
        DWORD got;
        while (ReadFile(in, &c, 1, &got, NULL) && got && c != '\n') {}
        return n;
    } else if (!wcscmp(cmd, L"echo")) {
        for (int i = 2; i < argc; i++) {
            if (i > 2) out(o, " ", 1);
            out_w(o, argv[i]);
        }
        out(o, "\n", 1);
    } else if (!wcscmp(cmd, L"args")) {
        for (int i = 2; i < argc; i++) {
            out(o, "[", 1);
            out_w(o, argv[i]);
            out(o, "]\n", 2);
        }
    } else if (!wcscmp(cmd, L"env")) {
        const wchar_t *v = argc > 2 ? _wgetenv(argv[2]) : NULL;
        if (v) out_w(o, v);
        out(o, "\n", 1);
    } else if (!wcscmp(cmd, L"pwd")) {
        wchar_t d[MAX_PATH];
        if (GetCurrentDirectoryW(MAX_PATH, d)) out_w(o, d);
        out(o, "\n", 1);
    } else if (!wcscmp(cmd, L"ticks")) { /* a line every 10 ms, for ever */
        for (unsigned i = 0;; i++) {
            char b[16];
            snprintf(b, sizeof b, "%u\n", i);
            out(o, b, strlen(b));
            Sleep(10);
        }
    } else if (!wcscmp(cmd, L"spawn-sleep")) {
        wchar_t self[MAX_PATH], line[MAX_PATH + 32];
        GetModuleFileNameW(NULL, self, MAX_PATH);
        swprintf(line, MAX_PATH + 32, L"\"%ls\" sleep %d", self, n);
        STARTUPINFOW si;
        memset(&si, 0, sizeof si);
        si.cb = sizeof si;
        PROCESS_INFORMATION pi;
        if (!CreateProcessW(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) return 2;
        char b[32];
        snprintf(b, sizeof b, "%lu\n", (unsigned long)pi.dwProcessId);
        out(o, b, strlen(b));
        WaitForSingleObject(pi.hProcess, INFINITE);
    } else if (!wcscmp(cmd, L"spawn-cat")) {
        wchar_t self[MAX_PATH], line[MAX_PATH + 32];
        GetModuleFileNameW(NULL, self, MAX_PATH);
        swprintf(line, MAX_PATH + 32, L"\"%ls\" cat", self);
        STARTUPINFOW si;
        memset(&si, 0, sizeof si);
        si.cb = sizeof si;
        si.dwFlags = STARTF_USESTDHANDLES;
        si.hStdInput = in;
        si.hStdOutput = o;
        si.hStdError = err;
        PROCESS_INFORMATION pi;
        if (!CreateProcessW(NULL, line, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) return 2;
        CloseHandle(pi.hThread);
        CloseHandle(pi.hProcess);
    } else {
        out(err, "hcsim_helper: unknown command\n", 30);
        return 64;
    }
    return 0;
}
