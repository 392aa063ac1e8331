/* The bridge's platform layer: the little the queue, the registry and the thread pool need
 * from the operating system, with one implementation per platform (platform_posix.c,
 * platform_win32.c). No other bridge file tests _WIN32 (module.h, which picks the
 * headers of each target for the generated module, is the one exception).
 *
 * Mutexes and condition variables are initialised at run time (aiohcs_mutex_init,
 * aiohcs_cond_init), except the statically initialised mutex AIOHCS_MUTEX_INITIALIZER.
 * Deadlines are on the monotonic clock of aiohcs_now_ns. */
#ifndef AIOHCS_PLATFORM_H
#define AIOHCS_PLATFORM_H

#include <stdint.h>

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
typedef SRWLOCK aiohcs_mutex;
typedef CONDITION_VARIABLE aiohcs_cond;
typedef INIT_ONCE aiohcs_once;
#define AIOHCS_MUTEX_INITIALIZER SRWLOCK_INIT
#define AIOHCS_ONCE_INITIALIZER  INIT_ONCE_STATIC_INIT
#else
#include <pthread.h>
typedef pthread_mutex_t aiohcs_mutex;
typedef pthread_cond_t aiohcs_cond;
typedef pthread_once_t aiohcs_once;
#define AIOHCS_MUTEX_INITIALIZER PTHREAD_MUTEX_INITIALIZER
#define AIOHCS_ONCE_INITIALIZER  PTHREAD_ONCE_INIT
#endif

void aiohcs_mutex_init(aiohcs_mutex *mutex);
void aiohcs_mutex_destroy(aiohcs_mutex *mutex);
void aiohcs_mutex_lock(aiohcs_mutex *mutex);
void aiohcs_mutex_unlock(aiohcs_mutex *mutex);

/* Returns 0 on success. */
int aiohcs_cond_init(aiohcs_cond *cond);
void aiohcs_cond_destroy(aiohcs_cond *cond);
void aiohcs_cond_signal(aiohcs_cond *cond);
/* Waits (mutex held) for a signal or until deadline_ns; returns 0 once the deadline has
 * passed, 1 otherwise (a signal, or a spurious wake-up). */
int aiohcs_cond_wait_until(aiohcs_cond *cond, aiohcs_mutex *mutex, uint64_t deadline_ns);
/* 1 where a timed wait ends within microseconds of its deadline; 0 where it may sleep whole
 * milliseconds past it (then a caller that waits microseconds spins instead). */
extern const int aiohcs_precise_timed_wait;

/* Runs init exactly once per process, however many threads call this at the same time. */
void aiohcs_once_run(aiohcs_once *once, void (*init)(void));
/* Has handler run in the child after fork(), where there is one (not on Windows). */
void aiohcs_on_fork_child(void (*handler)(void));

/* Starts a detached thread running run(arg); returns 0 on success. */
int aiohcs_thread_start(void (*run)(void *arg), void *arg);
/* Lets another thread that is ready to run on this CPU run. */
void aiohcs_thread_yield(void);

/* Writes one byte to the non-blocking socket (POSIX: fd; Windows: SOCKET); a full socket
 * already holds a pending byte, so that failure is ignored. */
void aiohcs_socket_signal(uint64_t socket);
/* Reads (non-blocking) and discards every byte pending on the socket. */
void aiohcs_socket_consume(uint64_t socket);

#endif
