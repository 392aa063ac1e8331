/* The conformance runner (see conformance.h):
 *
 *     conformance [-n RUNS] [-j JOBS] [-p realistic|instant] [NAME]
 *
 * runs each scenario whose name contains NAME (all by default) RUNS times (default 100)
 * on the latency profile given (default: realistic, hcsim's default), in JOBS worker
 * processes (default 8) forked before anything touches hcsim, so each has an emulator of
 * its own; every run starts from HcsimReset. It prints one row per scenario, "scenario |
 * runs | passed", and exits non-zero unless every run of every scenario passed. The
 * first failures of each worker are printed on stderr with their scenario and run. */
#include "conformance.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SCENARIOS    64
#define MAX_JOBS         64
#define PRINTED_FAILURES 5 /* per worker */

static struct {
    const char *name;
    scenario_fn fn;
} scenarios[MAX_SCENARIOS];
static int n_scenarios;

void conformance_register(const char *name, scenario_fn fn) {
    if (n_scenarios < MAX_SCENARIOS) {
        scenarios[n_scenarios].name = name;
        scenarios[n_scenarios].fn = fn;
        n_scenarios++;
    }
}

/* ---- the harness the checks report to (harness.h), one run at a time ------------------ */
static const char *current_name;
static int current_run, current_failed, failures_printed;

static void report(const char *file, int line, const char *what) {
    current_failed = 1;
    if (failures_printed++ >= PRINTED_FAILURES) return;
    fprintf(stderr, "  [%s run %d] %s:%d: %s\n", current_name, current_run, file, line, what);
}

void harness_register(const char *name, test_fn fn) {
    (void)name;
    (void)fn;
}

void harness_fail(const char *file, int line, const char *expr) {
    char m[512];
    snprintf(m, sizeof m, "check failed: %s", expr);
    report(file, line, m);
}

void harness_fail_hr(const char *file, int line, const char *expected, const char *actual,
                     unsigned expected_hr, unsigned actual_hr) {
    char m[512];
    snprintf(m, sizeof m, "check failed: %s == %s (0x%08x != 0x%08x)", expected, actual,
             expected_hr, actual_hr);
    report(file, line, m);
}

int harness_failed_current(void) { return current_failed; }

void harness_skip(const char *reason) { harness_fail(__FILE__, __LINE__, reason); }

/* ---- workers ------------------------------------------------------------------------------ */
typedef struct result {
    int scenario, passed;
} result;

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Runs the share of worker `job`: run r of selected scenario s is its when
 * (r * count + s) % jobs == job, so every worker gets a mix of all scenarios. */
static void worker(int job, int jobs, const int *selected, int count, int runs, int out) {
    for (int i = job; i < runs * count; i += jobs) {
        int s = selected[i % count];
        current_name = scenarios[s].name;
        current_run = i / count + 1;
        current_failed = 0;
        cu_begin();
        scenarios[s].fn();
        CU_END(); /* every object of the run released */
        result r = {s, !current_failed};
        if (write(out, &r, sizeof r) != (ssize_t)sizeof r) _exit(3);
    }
    cu_begin(); /* nothing of the last run outlives the worker */
    _exit(0);
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

static int usage(void) {
    fprintf(stderr, "usage: conformance [-n RUNS] [-j JOBS] [-p realistic|instant] [NAME]\n");
    return 2;
}

int main(int argc, char **argv) {
    int runs = 100, jobs = 8;
    const char *profile = "realistic", *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            if (!parse_int(argv[++i], 1, 1000000, &runs)) return usage();
        } else if (!strcmp(argv[i], "-j") && i + 1 < argc) {
            if (!parse_int(argv[++i], 1, MAX_JOBS, &jobs)) return usage();
        } else if (!strcmp(argv[i], "-p") && i + 1 < argc) {
            profile = argv[++i];
            if (strcmp(profile, "realistic") && strcmp(profile, "instant")) return usage();
        } else if (argv[i][0] != '-' && !filter) {
            filter = argv[i];
        } else {
            return usage();
        }
    }
    /* hcsim reads the profile at its first call and at every reset (each run's) */
    setenv("HCSIM_LATENCY", profile, 1);
    qsort(scenarios, (size_t)n_scenarios, sizeof scenarios[0], by_name);
    int selected[MAX_SCENARIOS], count = 0;
    for (int s = 0; s < n_scenarios; s++)
        if (!filter || strstr(scenarios[s].name, filter)) selected[count++] = s;
    if (!count) {
        fprintf(stderr, "conformance: no scenario matches '%s'\n", filter);
        return 2;
    }
    if (jobs > runs * count) jobs = runs * count;
    printf("conformance: %d scenarios x %d runs, profile %s, %d workers\n", count, runs, profile,
           jobs);
    fflush(stdout);
    uint64_t t0 = cu_now_ms();
    pid_t pids[MAX_JOBS];
    int fds[MAX_JOBS];
    for (int j = 0; j < jobs; j++) {
        int p[2];
        if (pipe(p) != 0) {
            perror("conformance: pipe");
            return 2;
        }
        pids[j] = fork();
        if (pids[j] < 0) {
            perror("conformance: fork");
            return 2;
        }
        if (pids[j] == 0) {
            close(p[0]);
            for (int k = 0; k < j; k++) close(fds[k]);
            worker(j, jobs, selected, count, runs, p[1]);
        }
        close(p[1]);
        fds[j] = p[0];
    }
    int passed[MAX_SCENARIOS] = {0}, workers_failed = 0;
    for (int j = 0; j < jobs; j++) {
        result r;
        ssize_t n;
        while ((n = read(fds[j], &r, sizeof r)) == (ssize_t)sizeof r)
            if (r.scenario >= 0 && r.scenario < n_scenarios) passed[r.scenario] += r.passed;
        close(fds[j]);
        int status = 0;
        while (waitpid(pids[j], &status, 0) < 0 && errno == EINTR) {}
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "conformance: worker %d ended abnormally (status 0x%x)\n", j, status);
            workers_failed++;
        }
    }
    int width = 8;
    for (int i = 0; i < count; i++) {
        int w = (int)strlen(scenarios[selected[i]].name);
        if (w > width) width = w;
    }
    printf("%-*s | runs | passed\n", width, "scenario");
    int all = !workers_failed;
    for (int i = 0; i < count; i++) {
        int s = selected[i];
        printf("%-*s | %4d | %6d\n", width, scenarios[s].name, runs, passed[s]);
        all = all && passed[s] == runs;
    }
    printf("conformance: %s in %.1f s\n", all ? "all runs passed" : "FAILED",
           (double)(cu_now_ms() - t0) / 1000.0);
    return all ? 0 : 1;
}
