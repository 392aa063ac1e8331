/* The bridge's platform layer on POSIX: pthreads, CLOCK_MONOTONIC, file descriptors. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "platform.h"

/* aiohcs_now_ns is declared with the bridge's interface. */
uint64_t aiohcs_now_ns(void);

const int aiohcs_precise_timed_wait = 1;

uint64_t aiohcs_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void aiohcs_mutex_init(aiohcs_mutex *mutex) { pthread_mutex_init(mutex, NULL); }

void aiohcs_mutex_destroy(aiohcs_mutex *mutex) { pthread_mutex_destroy(mutex); }

void aiohcs_mutex_lock(aiohcs_mutex *mutex) { pthread_mutex_lock(mutex); }

void aiohcs_mutex_unlock(aiohcs_mutex *mutex) { pthread_mutex_unlock(mutex); }

int aiohcs_cond_init(aiohcs_cond *cond) {
#ifdef __APPLE__
    return pthread_cond_init(cond, NULL); /* waits are relative there */
#else
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0) return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int failed = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return failed ? -1 : 0;
#endif
}

void aiohcs_cond_destroy(aiohcs_cond *cond) { pthread_cond_destroy(cond); }

void aiohcs_cond_signal(aiohcs_cond *cond) { pthread_cond_signal(cond); }

int aiohcs_cond_wait_until(aiohcs_cond *cond, aiohcs_mutex *mutex, uint64_t deadline_ns) {
    struct timespec t;
#ifdef __APPLE__
    uint64_t now = aiohcs_now_ns();
    if (now >= deadline_ns) return 0;
    t.tv_sec = (time_t)((deadline_ns - now) / 1000000000u);
    t.tv_nsec = (long)((deadline_ns - now) % 1000000000u);
    return pthread_cond_timedwait_relative_np(cond, mutex, &t) != ETIMEDOUT;
#else
    t.tv_sec = (time_t)(deadline_ns / 1000000000u);
    t.tv_nsec = (long)(deadline_ns % 1000000000u);
    return pthread_cond_timedwait(cond, mutex, &t) != ETIMEDOUT;
#endif
}

void aiohcs_once_run(aiohcs_once *once, void (*init)(void)) { pthread_once(once, init); }

void aiohcs_on_fork_child(void (*handler)(void)) { pthread_atfork(NULL, NULL, handler); }

typedef struct thread_start {
    void (*run)(void *);
    void *arg;
} thread_start;

static void *thread_main(void *start) {
    thread_start s = *(thread_start *)start;
    free(start);
    s.run(s.arg);
    return NULL;
}

int aiohcs_thread_start(void (*run)(void *arg), void *arg) {
    thread_start *start = malloc(sizeof *start);
    if (start == NULL) return -1;
    start->run = run;
    start->arg = arg;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) {
        free(start);
        return -1;
    }
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int failed = pthread_create(&thread, &attr, thread_main, start);
    pthread_attr_destroy(&attr);
    if (failed) {
        free(start);
        return -1;
    }
    return 0;
}

void aiohcs_thread_yield(void) { sched_yield(); }

void aiohcs_socket_signal(uint64_t socket) {
    for (;;) {
        ssize_t n = write((int)socket, "x", 1);
        if (n < 0 && errno == EINTR) continue;
        break;
    }
}

void aiohcs_socket_consume(uint64_t socket) {
    char buf[256];
    for (;;) {
        ssize_t n = read((int)socket, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < (ssize_t)sizeof buf) break;
    }
}
