/* hcsim latency profiles: how long the emulated service takes to complete an operation
 * when no explicit HcsimSetDelay says otherwise (README "Latency profiles").
 *
 *  - "realistic" (the default): each operation of the compute service completes after a
 *    figure of its own (tens of ms for creates and starts, a few ms for queries), plus a
 *    jitter of 0-20% drawn from a seeded generator (the n-th profiled call gets the n-th
 *    value of the seed's sequence);
 *  - "instant": every operation completes as soon as the emulator can (no latency).
 *
 * The profile and the seed come from the environment (HCSIM_LATENCY=instant|realistic,
 * HCSIM_LATENCY_SEED=<integer>), read at the first call and again by every HcsimReset;
 * HcsimSetOption("LatencyProfile" / "LatencySeed") changes them until the next reset.
 * A profiled operation on a compute system never completes before one issued earlier on
 * the same system (its due time is at least the previous one's, and a queue per system
 * hands them on in order): the work of a system's operations keeps its issue order, as
 * it does without latencies. */
#include "hcsim_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* The figures of the realistic profile, in ms (README "Latency profiles" gives the
 * evidence of each). Functions without an operation, and those not listed, take none. */
static const uint16_t realistic_ms[FN_COUNT] = {
    [FN_HcsCreateComputeSystem] = 50,
    [FN_HcsCreateComputeSystemInNamespace] = 50,
    [FN_HcsStartComputeSystem] = 100,
    [FN_HcsShutDownComputeSystem] = 50,
    [FN_HcsTerminateComputeSystem] = 20,
    [FN_HcsCrashComputeSystem] = 20,
    [FN_HcsPauseComputeSystem] = 10,
    [FN_HcsResumeComputeSystem] = 10,
    [FN_HcsSaveComputeSystem] = 100,
    [FN_HcsModifyComputeSystem] = 10,
    [FN_HcsGetComputeSystemProperties] = 2,
    [FN_HcsEnumerateComputeSystems] = 2,
    [FN_HcsEnumerateComputeSystemsInNamespace] = 2,
    [FN_HcsCreateProcess] = 10,
    [FN_HcsTerminateProcess] = 2,
    [FN_HcsSignalProcess] = 2,
    [FN_HcsGetProcessInfo] = 1,
    [FN_HcsGetProcessProperties] = 1,
    [FN_HcsModifyProcess] = 1,
    /* live migration; the transfer has none: it lasts while its bytes cross */
    [FN_HcsInitializeLiveMigrationOnSource] = 20,
    [FN_HcsStartLiveMigrationOnSource] = 50,
    [FN_HcsFinalizeLiveMigration] = 20,
    [FN_HcsCancelLiveMigration] = 10,
};

#define ENV_PROFILE  "HCSIM_LATENCY"
#define ENV_SEED     "HCSIM_LATENCY_SEED"
#define DEFAULT_SEED 1u
#define JITTER_PARTS 5u /* the jitter is at most figure / JITTER_PARTS */

/* Read without the lock on every call (hc_enter's fast path), hence atomics. */
static atomic_int profile = HC_LATENCY_REALISTIC;
static _Atomic uint64_t seed = DEFAULT_SEED;
static _Atomic uint64_t draws; /* jitter values drawn since the seed was set */

/* The value of the environment variable name, or NULL (plat_environ's copy). */
static const char *env_value(const char *name) {
    size_t n = strlen(name);
    for (char *const *e = plat_environ(); e && *e; e++) {
        const char *v = *e;
        int same = 1;
        for (size_t i = 0; same && i < n; i++) {
            char a = v[i], b = name[i];
            if (PLAT_ENV_NAMES_FOLD && a >= 'a' && a <= 'z') a = (char)(a - 'a' + 'A');
            same = a == b;
        }
        if (same && v[n] == '=') return v + n + 1;
    }
    return NULL;
}

static int equals_folded(const char *s, const char *lower) {
    for (; *s && *lower; s++, lower++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        if (c != *lower) return 0;
    }
    return !*s && !*lower;
}

int hc_latency_profile_named(const char *name) {
    if (!name) return -1;
    if (equals_folded(name, "instant")) return HC_LATENCY_INSTANT;
    if (equals_folded(name, "realistic")) return HC_LATENCY_REALISTIC;
    return -1;
}

void hc_latency_from_env(void) {
    int p = hc_latency_profile_named(env_value(ENV_PROFILE));
    atomic_store(&profile, p < 0 ? HC_LATENCY_REALISTIC : p); /* unknown: the default */
    const char *s = env_value(ENV_SEED);
    char *end = NULL;
    unsigned long long v = s && *s ? strtoull(s, &end, 10) : DEFAULT_SEED;
    hc_latency_set_seed(end && *end ? DEFAULT_SEED : (uint64_t)v);
}

void hc_latency_set_profile(int p) { atomic_store(&profile, p); }
int hc_latency_profile(void) { return atomic_load(&profile); }

void hc_latency_set_seed(uint64_t s) {
    atomic_store(&seed, s);
    atomic_store(&draws, 0);
}
uint64_t hc_latency_seed(void) { return atomic_load(&seed); }

/* splitmix64: the n-th value of the sequence a seed starts. */
static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint32_t hc_latency_pick(fn_id fn) {
    if (atomic_load_explicit(&profile, memory_order_relaxed) != HC_LATENCY_REALISTIC) return 0;
    uint32_t ms = realistic_ms[fn];
    if (!ms) return 0;
    uint64_t n = atomic_fetch_add(&draws, 1);
    uint64_t r = mix(atomic_load(&seed) * 0x100000001b3ull + n);
    return ms + (uint32_t)(r % (ms / JITTER_PARTS + 1u));
}

uint32_t hc_latency_figure(fn_id fn) { return realistic_ms[fn]; }

/* The profiled calls of one system waiting for their due time, in issue order (their due
 * times never decrease). One pool task per queue hands them on when they are due, one
 * after the other, so they reach the system's strand in that order; two tasks popped by
 * two workers at once could swap them. The queue exists while it holds calls, and keeps
 * a reference to its system meanwhile. */
typedef struct queued {
    uint64_t due_ns;
    void (*fn)(void *arg);
    void *arg;
    struct queued *next;
} queued;

struct hc_latency_queue {
    queued *head, *tail;
    hc_system *sys;
};

static void queue_run(void *arg) {
    hc_latency_queue *q = arg;
    hc_lock();
    for (queued *it; (it = q->head);) {
        if (!G.drain && it->due_ns > plat_now_ns()) { /* a reset drains everything now */
            hc_pool_post_at(it->due_ns, queue_run, q);
            hc_unlock();
            return;
        }
        q->head = it->next;
        if (!q->head) q->tail = NULL;
        hc_unlock();
        it->fn(it->arg);
        free(it);
        hc_lock();
    }
    q->sys->latency = NULL;
    hc_unref(q->sys);
    free(q);
    hc_unlock();
}

void hc_latency_post(hc_system *sys, const hc_call *call, void (*fn)(void *), void *arg) {
    uint64_t due = plat_now_ns() + (uint64_t)call->completion_ms * 1000000u;
    queued *it = call->profiled && sys ? calloc(1, sizeof *it) : NULL;
    hc_latency_queue *q = sys ? sys->latency : NULL;
    if (it && !q && (q = calloc(1, sizeof *q))) {
        q->sys = sys;
        hc_ref(sys);
        sys->latency = q;
        hc_pool_post_at(due, queue_run, q);
    }
    if (!it || !q) { /* not profiled (or out of memory): a task of its own */
        free(it);
        hc_pool_post_at(due, fn, arg);
        return;
    }
    if (q->tail && q->tail->due_ns > due) due = q->tail->due_ns;
    it->due_ns = due;
    it->fn = fn;
    it->arg = arg;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
}
