/* The bridge's platform layer on Windows: slim reader/writer locks, condition variables,
 * one-time initialisation, the performance counter and Winsock. */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <stdlib.h>

#include "platform.h"

#ifdef _MSC_VER
#pragma comment(lib, "ws2_32.lib")
#endif

/* aiohcs_now_ns is declared with the bridge's interface. */
uint64_t aiohcs_now_ns(void);

/* Condition variables time out in whole milliseconds here. */
const int aiohcs_precise_timed_wait = 0;

uint64_t aiohcs_now_ns(void) {
    LARGE_INTEGER frequency, now;
    QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&now);
    uint64_t f = (uint64_t)frequency.QuadPart, t = (uint64_t)now.QuadPart;
    return t / f * 1000000000u + t % f * 1000000000u / f;
}

void aiohcs_mutex_init(aiohcs_mutex *mutex) { InitializeSRWLock(mutex); }

void aiohcs_mutex_destroy(aiohcs_mutex *mutex) { (void)mutex; /* an SRW lock holds no resources */ }

void aiohcs_mutex_lock(aiohcs_mutex *mutex) { AcquireSRWLockExclusive(mutex); }

void aiohcs_mutex_unlock(aiohcs_mutex *mutex) { ReleaseSRWLockExclusive(mutex); }

int aiohcs_cond_init(aiohcs_cond *cond) {
    InitializeConditionVariable(cond);
    return 0;
}

void aiohcs_cond_destroy(aiohcs_cond *cond) {
    (void)cond; /* a condition variable holds no resources */
}

void aiohcs_cond_signal(aiohcs_cond *cond) { WakeConditionVariable(cond); }

int aiohcs_cond_wait_until(aiohcs_cond *cond, aiohcs_mutex *mutex, uint64_t deadline_ns) {
    uint64_t now = aiohcs_now_ns();
    if (now >= deadline_ns) return 0;
    uint64_t ms = (deadline_ns - now + 999999u) / 1000000u;
    DWORD timeout = ms >= INFINITE ? INFINITE - 1 : (DWORD)ms;
    if (SleepConditionVariableSRW(cond, mutex, timeout, 0)) return 1;
    return GetLastError() != ERROR_TIMEOUT;
}

typedef struct once_init {
    void (*init)(void);
} once_init;

static BOOL CALLBACK once_trampoline(PINIT_ONCE once, PVOID parameter, PVOID *context) {
    (void)once;
    (void)context;
    ((once_init *)parameter)->init();
    return TRUE;
}

void aiohcs_once_run(aiohcs_once *once, void (*init)(void)) {
    once_init parameter = {init};
    InitOnceExecuteOnce(once, once_trampoline, &parameter, NULL);
}

void aiohcs_on_fork_child(void (*handler)(void)) { (void)handler; /* no fork() */ }

typedef struct thread_start {
    void (*run)(void *);
    void *arg;
} thread_start;

static DWORD WINAPI thread_main(LPVOID start) {
    thread_start s = *(thread_start *)start;
    free(start);
    s.run(s.arg);
    return 0;
}

int aiohcs_thread_start(void (*run)(void *arg), void *arg) {
    thread_start *start = malloc(sizeof *start);
    if (start == NULL) return -1;
    start->run = run;
    start->arg = arg;
    HANDLE thread = CreateThread(NULL, 0, thread_main, start, 0, NULL);
    if (thread == NULL) {
        free(start);
        return -1;
    }
    CloseHandle(thread);
    return 0;
}

void aiohcs_thread_yield(void) { SwitchToThread(); }

void aiohcs_socket_signal(uint64_t socket) {
    /* WSAEWOULDBLOCK means a byte is already pending. */
    (void)send((SOCKET)socket, "x", 1, 0);
}

void aiohcs_socket_consume(uint64_t socket) {
    char buf[256];
    for (;;) {
        int n = recv((SOCKET)socket, buf, (int)sizeof buf, 0);
        if (n < (int)sizeof buf) break;
    }
}
