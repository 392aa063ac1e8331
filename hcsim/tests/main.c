/* hcsim C test runner: see harness.h. Prints one line per test and a closing
 * "N passed, N failed" line; exits non-zero when any test failed. */
#include "harness.h"
#include "test_port.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TESTS 1024

static struct {
    const char *name;
    test_fn fn;
} tests[MAX_TESTS];
static int n_tests;
static int current_failed;
static const char *current_skip;

void harness_register(const char *name, test_fn fn) {
    if (n_tests < MAX_TESTS) {
        tests[n_tests].name = name;
        tests[n_tests].fn = fn;
        n_tests++;
    }
}

void harness_fail(const char *file, int line, const char *expr) {
    current_failed = 1;
    fprintf(stderr, "  %s:%d: check failed: %s\n", file, line, expr);
}

int harness_failed_current(void) { return current_failed; }

void harness_skip(const char *reason) { current_skip = reason; }

void harness_fail_hr(const char *file, int line, const char *expected, const char *actual,
                     unsigned expected_hr, unsigned actual_hr) {
    current_failed = 1;
    fprintf(stderr, "  %s:%d: check failed: %s == %s (0x%08x != 0x%08x)\n", file, line, expected,
            actual, expected_hr, actual_hr);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The tests run on the "instant" latency profile (README "Latency profiles"), whatever
 * the environment says: hcsim reads HCSIM_LATENCY at its first call and at every reset.
 * The tests of the profiles themselves choose theirs with HcsimSetOption. */
int main(int argc, char **argv) {
    tp_setenv("HCSIM_LATENCY", "instant");
    qsort(tests, (size_t)n_tests, sizeof tests[0], by_name);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        if (argc > 1 && !strstr(tests[i].name, argv[1])) continue;
        current_failed = 0;
        current_skip = NULL;
        tests[i].fn();
        if (current_skip && !current_failed)
            printf("skip %s: %s\n", tests[i].name, current_skip);
        else
            printf("%s %s\n", current_failed ? "FAIL" : "ok  ", tests[i].name);
        fflush(stdout);
        if (current_skip && !current_failed)
            skipped++;
        else if (current_failed)
            failed++;
        else
            passed++;
    }
    if (skipped)
        printf("hcsim: %d passed, %d failed, %d skipped (POSIX-only)\n", passed, failed, skipped);
    else
        printf("hcsim: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
