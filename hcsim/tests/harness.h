/* hcsim C tests: a tiny self-registering harness. Each TEST(name) registers itself at
 * load time; the runner (tests/main.c) runs them in name order, or only those whose
 * name contains argv[1]. CHECK records a failure and continues; REQUIRE stops the test. */
#ifndef HCSIM_TEST_HARNESS_H
#define HCSIM_TEST_HARNESS_H

#include <stdio.h>

typedef void (*test_fn)(void);
void harness_register(const char *name, test_fn fn);
void harness_fail(const char *file, int line, const char *expr);
int harness_failed_current(void);
/* Marks the current test skipped (printed with the reason, counted apart). */
void harness_skip(const char *reason);
void harness_fail_hr(const char *file, int line, const char *expected, const char *actual,
                     unsigned expected_hr, unsigned actual_hr);

#define TEST(name)                                                   \
    static void test_##name(void);                                   \
    __attribute__((constructor)) static void register_##name(void) { \
        harness_register(#name, test_##name);                        \
    }                                                                \
    static void test_##name(void)

#define CHECK(cond)                                           \
    do {                                                      \
        if (!(cond)) harness_fail(__FILE__, __LINE__, #cond); \
    } while (0)
#define REQUIRE(cond)                                \
    do {                                             \
        if (!(cond)) {                               \
            harness_fail(__FILE__, __LINE__, #cond); \
            return;                                  \
        }                                            \
    } while (0)
#define CHECK_HR(expected, actual)                                                               \
    do {                                                                                         \
        long e_ = (long)(expected), a_ = (long)(actual);                                         \
        if (e_ != a_)                                                                            \
            harness_fail_hr(__FILE__, __LINE__, #expected, #actual, (unsigned)e_, (unsigned)a_); \
    } while (0)

/* Forked children of this multi-threaded test process (test_plat.c, test_core_fork.c).
 * TSan cannot start threads in such a child (it aborts with "dup thread with used id"
 * even with die_after_fork=0). */
#if defined(__SANITIZE_THREAD__)
#define HCSIM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HCSIM_TSAN 1
#endif
#endif

/* Under AddressSanitizer (gcc 12's runtime) a thread started in such a child sometimes
 * never runs its work (seen in about 1 run in 16 on a loaded 2-core machine; never in 150
 * runs of the plain build): the plain build covers that part of the fork tests. */
#if defined(__SANITIZE_ADDRESS__)
#define HCSIM_NO_THREADS_AFTER_FORK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HCSIM_NO_THREADS_AFTER_FORK 1
#endif
#endif
#ifdef HCSIM_TSAN
#define HCSIM_NO_THREADS_AFTER_FORK 1
#endif

#endif
