/* What test_remote.c and test_remote_hcn.c share: a service in a child process (this test
 * program started again, exec'd so that it works under the sanitizers, whose runtimes
 * cannot start threads in a forked child, with HCSIM_TEST_SERVE naming the socket:
 * test_remote.c's constructor serves it), and this process its client. POSIX only. */
#ifndef HCSIM_TEST_REMOTE_UTIL_H
#define HCSIM_TEST_REMOTE_UTIL_H

#include "test_core_util.h"

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* Starts this program again with one variable set (and HCSIM_TEST_SOCKET); its pid. */
static inline pid_t spawn_self(const char *var, const char *value, const char *path) {
    pid_t pid = fork();
    if (pid == 0) {
        setenv(var, value, 1);
        setenv("HCSIM_TEST_SOCKET", path, 1);
        char *argv[] = {(char *)"test_hcsim", (char *)"--child", NULL};
        execv("/proc/self/exe", argv);
        _exit(91);
    }
    return pid;
}

static inline int exit_code(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

typedef struct service {
    char path[108];
    pid_t pid;
} service;

/* A service on a fresh socket, and this process its client. */
static inline int service_up(service *s) {
    snprintf(s->path, sizeof s->path, "/tmp/hcsim-remote-%d.sock", (int)getpid());
    unlink(s->path);
    s->pid = spawn_self("HCSIM_TEST_SERVE", s->path, s->path);
    if (s->pid < 0) return 0;
    for (int i = 0; i < 500; i++) {
        HRESULT hr = HcsimConnect(s->path);
        if (hr == S_OK) return 1;
        if (hr != HCS_E_SERVICE_NOT_AVAILABLE) {
            fprintf(stderr, "  HcsimConnect: 0x%08x\n", (unsigned)hr);
            break;
        }
        tc_sleep_ms(10);
    }
    kill(s->pid, SIGKILL);
    exit_code(s->pid);
    return 0;
}

static inline void service_down(service *s) {
    HcsimDisconnect();
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        exit_code(s->pid);
        s->pid = 0;
    }
    unlink(s->path);
    char lock[128];
    snprintf(lock, sizeof lock, "%s.lock", s->path);
    unlink(lock);
}

#endif
