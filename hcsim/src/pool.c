/* hcsim worker pool: a fixed set of threads serving one timed task queue (a binary
 * min-heap ordered by due time, then by submission order). A task due in the future
 * occupies no thread: idle workers sleep on a condition variable until the earliest
 * due time. Strands (per-object serial queues) are executed by the same pool. */
#include "hcsim_internal.h"

#include <stdlib.h>

static int task_before(const hc_task *a, const hc_task *b) {
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static int heap_push(hc_task t) {
    if (G.heap_len == G.heap_cap) {
        size_t ncap = G.heap_cap ? G.heap_cap * 2 : 256;
        hc_task *n = realloc(G.heap, ncap * sizeof *n);
        if (!n) return -1;
        G.heap = n;
        G.heap_cap = ncap;
    }
    size_t i = G.heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!task_before(&t, &G.heap[parent])) break;
        G.heap[i] = G.heap[parent];
        i = parent;
    }
    G.heap[i] = t;
    return 0;
}

static hc_task heap_pop(void) {
    hc_task top = G.heap[0];
    hc_task last = G.heap[--G.heap_len];
    size_t i = 0, n = G.heap_len;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const hc_task *best = &last;
        if (l < n && task_before(&G.heap[l], best)) {
            m = l;
            best = &G.heap[l];
        }
        if (r < n && task_before(&G.heap[r], best)) { m = r; }
        if (m == i) break;
        G.heap[i] = G.heap[m];
        i = m;
    }
    if (n) G.heap[i] = last;
    return top;
}

static void worker_main(void *arg) {
    (void)arg;
    hc_mark_worker();
    hc_lock();
    while (!G.pool_stop) {
        if (G.heap_len == 0) {
            if (G.busy == 0) plat_cond_broadcast(&G.idle_cond);
            plat_cond_wait(&G.work_cond, &G.lock);
            continue;
        }
        uint64_t now = plat_now_ns();
        if (!G.drain && G.heap[0].due_ns > now) {
            uint64_t ms = (G.heap[0].due_ns - now + 999999u) / 1000000u;
            plat_cond_timedwait(&G.work_cond, &G.lock,
                                ms > 0xFFFFFFF0u ? 0xFFFFFFF0u : (uint32_t)ms);
            continue;
        }
        hc_task t = heap_pop();
        G.busy++;
        if (G.heap_len && (G.drain || G.heap[0].due_ns <= now)) plat_cond_signal(&G.work_cond);
        hc_unlock();
        t.fn(t.arg);
        hc_lock();
        G.busy--;
        if (G.heap_len == 0 && G.busy == 0) plat_cond_broadcast(&G.idle_cond);
    }
    hc_unlock();
}

static void pool_start(void) {
    int n = G.opt_workers;
    if (n < 1) n = 1;
    G.threads = calloc((size_t)n, sizeof *G.threads);
    if (!G.threads) return;
    G.nthreads = 0;
    for (int i = 0; i < n; i++) {
        if (plat_thread_create(&G.threads[i], worker_main, NULL) != 0) break;
        G.nthreads++;
    }
    G.pool_running = G.nthreads > 0;
}

void hc_pool_post(uint64_t delay_ns, void (*fn)(void *), void *arg) {
    hc_pool_post_at(plat_now_ns() + delay_ns, fn, arg);
}

void hc_pool_post_at(uint64_t due_ns, void (*fn)(void *), void *arg) {
    if (!G.pool_running && !G.pool_stop) pool_start();
    hc_task t = {due_ns, G.task_seq++, fn, arg};
    if (heap_push(t) != 0) abort(); /* out of memory: nothing sensible remains */
    plat_cond_signal(&G.work_cond);
}

int hc_pool_idle(void) { return G.heap_len == 0 && G.busy == 0; }

void hc_pool_quiesce(void) {
    G.drain++;
    plat_cond_broadcast(&G.work_cond);
    while (G.pool_running && !hc_pool_idle()) plat_cond_wait(&G.idle_cond, &G.lock);
    G.drain--;
}

void hc_pool_stop(void) {
    if (!G.pool_running) return;
    G.pool_stop = 1;
    plat_cond_broadcast(&G.work_cond);
    int n = G.nthreads;
    plat_thread *th = G.threads;
    hc_unlock();
    for (int i = 0; i < n; i++) plat_thread_join(&th[i]);
    hc_lock();
    free(th);
    G.threads = NULL;
    G.nthreads = 0;
    G.pool_running = 0;
    G.pool_stop = 0;
}

/* ---- strands ----------------------------------------------------------------------- */
void hc_strand_init(hc_strand *s, hc_obj *owner) {
    s->head = s->tail = NULL;
    s->owner = owner;
    s->scheduled = 0;
    s->in_cb = 0;
    s->running_tid = 0;
}

static void strand_run(void *arg) {
    hc_strand *s = arg;
    hc_lock();
    s->running_tid = plat_thread_id();
    for (int n = 0; n < 64 && s->head; n++) {
        hc_item *it = s->head;
        s->head = it->next;
        if (!s->head) s->tail = NULL;
        hc_unlock();
        it->run(it);
        hc_lock();
    }
    s->running_tid = 0;
    if (s->head) {
        hc_pool_post(0, strand_run, s); /* yield to other work, keep the reference */
    } else {
        s->scheduled = 0;
        hc_unref(s->owner); /* may free s */
    }
    hc_unlock();
}

void hc_strand_post(hc_strand *s, hc_item *it) {
    it->next = NULL;
    if (s->tail)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    if (!s->scheduled) {
        s->scheduled = 1;
        hc_ref(s->owner);
        hc_pool_post(0, strand_run, s);
    }
}
