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
void harness_fail_hr(const char *file, int line, const char *expected, const char *actual,
                     unsigned expected_hr, unsigned actual_hr);

#define TEST(name)                                                           \
    static void test_##name(void);                                           \
    __attribute__((constructor)) static void register_##name(void) {        \
        harness_register(#name, test_##name);                                \
    }                                                                        \
    static void test_##name(void)

#define CHECK(cond)                                                          \
    do { if (!(cond)) harness_fail(__FILE__, __LINE__, #cond); } while (0)
#define REQUIRE(cond)                                                        \
    do { if (!(cond)) { harness_fail(__FILE__, __LINE__, #cond); return; } } while (0)
#define CHECK_HR(expected, actual)                                           \
    do { long e_ = (long)(expected), a_ = (long)(actual);                   \
         if (e_ != a_) harness_fail_hr(__FILE__, __LINE__, #expected, #actual, \
                                       (unsigned)e_, (unsigned)a_); } while (0)

#endif
