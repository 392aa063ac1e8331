/* The thread pool of the native calls, written once over the platform layer.
 *
 * Threads start on demand (up to POOL_THREADS) and end after POOL_IDLE_NS without work.
 * After fork() the child starts with an empty pool. Few threads: measured with hcsim (1 ms
 * per blocking call, 2 CPUs), 16 threads gave the loop shorter stalls than 64 waking
 * together, at the same throughput. */
#include "bridge_internal.h"

#define POOL_THREADS 16
#define POOL_IDLE_NS (UINT64_C(10) * 1000000000u)
/* (64-bit arithmetic: 10u * 1000000000u wraps to ~1.4 s in 32 bits) */
_Static_assert(POOL_IDLE_NS == UINT64_C(10000000000), "the idle timeout is 10 s");

static struct {
    aiohcs_mutex lock;
    aiohcs_cond work;
    aiohcs_work *head, *tail;
    size_t queued;  /* work in the list */
    size_t running; /* work taken by a thread, not yet done */
    int threads;
    int idle;
    int waking; /* an idle thread was signalled and has not taken work yet */
    int ready;  /* lock and work initialised */
} pool;

static aiohcs_once pool_once = AIOHCS_ONCE_INITIALIZER;

static void pool_reset(void) {
    aiohcs_mutex_init(&pool.lock);
    pool.ready = aiohcs_cond_init(&pool.work) == 0;
    pool.head = pool.tail = NULL;
    pool.queued = pool.running = 0;
    pool.threads = pool.idle = pool.waking = 0;
}

/* Only the forking thread exists in the child; the parent's work is the parent's business. */
static void pool_init(void) {
    pool_reset();
    aiohcs_on_fork_child(pool_reset);
}

/* Wakes one idle thread unless one is already on its way; called with pool.lock held.
 * Waking a thread costs a system call (10-15 us on a virtual machine): the submitting (loop)
 * thread wakes at most one, and each woken thread wakes the next while work remains. */
static void wake_one(void) {
    if (pool.head != NULL && pool.idle > 0 && !pool.waking) {
        pool.waking = 1;
        aiohcs_cond_signal(&pool.work);
    }
}

static void pool_thread(void *arg) {
    (void)arg;
    aiohcs_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.head == NULL) {
            pool.idle++;
            uint64_t until = aiohcs_now_ns() + POOL_IDLE_NS;
            int woken = aiohcs_cond_wait_until(&pool.work, &pool.lock, until);
            pool.idle--;
            pool.waking = 0;
            if (!woken && pool.head == NULL) {
                pool.threads--;
                aiohcs_mutex_unlock(&pool.lock);
                return;
            }
        }
        aiohcs_work *work = pool.head;
        pool.head = work->next;
        if (pool.head == NULL) pool.tail = NULL;
        pool.queued--;
        pool.running++;
        wake_one(); /* more work: pass the wake-up on */
        aiohcs_mutex_unlock(&pool.lock);
        work->run(work);
        aiohcs_mutex_lock(&pool.lock);
        pool.running--;
    }
}

/* Takes back the last work queued (nobody would ever run it); called with pool.lock held. */
static void unqueue_last(aiohcs_work *work) {
    aiohcs_work **link = &pool.head;
    aiohcs_work *prev = NULL;
    while (*link != work) {
        prev = *link;
        link = &(*link)->next;
    }
    *link = NULL;
    pool.tail = prev;
    pool.queued--;
}

int aiohcs_pool_submit(aiohcs_work *work) {
    aiohcs_once_run(&pool_once, pool_init);
    if (!pool.ready) return 0;
    aiohcs_mutex_lock(&pool.lock);
    work->next = NULL;
    if (pool.tail != NULL)
        pool.tail->next = work;
    else
        pool.head = work;
    pool.tail = work;
    pool.queued++;
    int ok = 1;
    if (pool.idle == 0 && pool.threads < POOL_THREADS) {
        if (aiohcs_thread_start(pool_thread, NULL) == 0) {
            pool.threads++;
        } else if (pool.threads == 0) {
            unqueue_last(work);
            ok = 0;
        }
    }
    if (ok) wake_one();
    aiohcs_mutex_unlock(&pool.lock);
    return ok;
}

size_t aiohcs_pool_pending(void) {
    aiohcs_once_run(&pool_once, pool_init);
    aiohcs_mutex_lock(&pool.lock);
    size_t n = pool.queued + pool.running;
    aiohcs_mutex_unlock(&pool.lock);
    return n;
}
