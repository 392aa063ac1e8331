/* fork() in a host that uses hcsim: the child gets a fresh, empty emulator (see core.c,
 * after_fork_in_child, and "Fork" in README.md); the parent is unaffected. */
#include "test_core_util.h"

#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define CFG_CT "{\"Owner\":\"core\",\"Container\":{}}"

/* What the child checks; each failure exits with its own code. */
static int fork_child(HCS_SYSTEM inherited) {
    /* The parent's handle is unknown here: the documented error for a stale handle. */
    HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
    if (op == NULL) return 10;
    if (HcsStartComputeSystem(inherited, op, NULL) != E_HANDLE) return 11;
    if (HcsTerminateComputeSystem(inherited, op, NULL) != E_HANDLE) return 12;
    HcsCloseComputeSystem(inherited); /* ignored, as for any unknown handle */
    /* An operation handle is new too: tokens continue from the parent's. */
    if ((uintptr_t)op == (uintptr_t)inherited) return 13;
    HcsCloseOperation(op);
    /* Nothing of the parent's emulator came along. */
    HCS_SYSTEM none = NULL;
    if (HcsOpenComputeSystem(u"fork-parent", GENERIC_ALL, &none) != HCS_E_SYSTEM_NOT_FOUND)
        return 14;
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    if (c.Systems || c.SystemHandles || c.Operations || c.PendingOperations || c.Processes)
        return 15;
    /* A fresh system works from start to end (new workers in the child). Not under TSan,
     * which cannot start threads in the forked child of a multi-threaded process, nor
     * under ASan, whose runtime sometimes never runs a thread started there (see
     * harness.h): the plain build covers it. */
#ifndef HCSIM_NO_THREADS_AFTER_FORK
    HCS_SYSTEM s = NULL;
    if (tc_create("fork-child", CFG_CT, 1, &s) != S_OK) return 20;
    if ((uintptr_t)s == (uintptr_t)inherited) return 21; /* never mistaken for the parent's */
    if (tc_call(HcsTerminateComputeSystem, s, NULL, NULL) != S_OK) return 22;
    HcsCloseComputeSystem(s);
    if (!tc_counts_zero()) return 23;
#endif
    return 0;
}

TEST(core_fork_child_gets_a_fresh_emulator) {
    HcsimReset();
    HCS_SYSTEM s = NULL;
    REQUIRE(tc_create("fork-parent", CFG_CT, 1, &s) == S_OK);
    fflush(NULL);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) _exit(fork_child(s));
    int st = -1, done = 0;
    for (int i = 0; i < 1000 && !done; i++) { /* up to 10 s (a loaded machine) */
        if (waitpid(child, &st, WNOHANG) == child)
            done = 1;
        else
            tc_sleep_ms(10);
    }
    if (!done) {
        kill(child, SIGKILL);
        waitpid(child, &st, 0);
    }
    if (!(done && WIFEXITED(st) && WEXITSTATUS(st) == 0))
        fprintf(stderr, "  forked child: %s, exit %d, signal %d\n", done ? "ended" : "hung, killed",
                WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    CHECK(done && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* The parent's system and emulator are unaffected. */
    hj_value *doc = NULL;
    CHECK_HR(S_OK, tc_call(HcsGetComputeSystemProperties, s, NULL, &doc));
    const char *state = doc ? hj_str(hj_get(doc, "State"), NULL) : NULL;
    CHECK(state != NULL && !strcmp(state, "Running"));
    hj_free(doc);
    CHECK_HR(S_OK, tc_call(HcsTerminateComputeSystem, s, NULL, NULL));
    HcsCloseComputeSystem(s);
    CHECK(tc_counts_zero());
}
