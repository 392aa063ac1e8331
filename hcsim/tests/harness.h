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
         if (e_ != a_) { char m_[160];                                       \
             snprintf(m_, sizeof m_, "%s == %s (0x%08lx != 0x%08lx)", #expected, #actual, \
                      (unsigned long)(unsigned)e_, (unsigned long)(unsigned)a_);         \
             harness_fail(__FILE__, __LINE__, m_); } } while (0)

#endif
