/* One queue per event loop: a growable ring of items under a lock.
 *
 * A callback pushes an item (aiohcs_queue_push, called by the registry); when the queue goes
 * from empty to non-empty it writes one byte to the loop's wake socket, unless the loop
 * thread waits in aiohcs_queue_poll, which it then signals instead. The loop drains the
 * queue with aiohcs_queue_drain / _drain_wake / _poll. */
#include <stdlib.h>
#include <string.h>

#include "bridge_internal.h"

struct aiohcs_queue {
    aiohcs_mutex lock;
    aiohcs_cond arrived; /* signalled instead of the wake byte while the loop polls */
    int polling;         /* the loop thread waits in aiohcs_queue_poll (under lock) */
    uint64_t wake_socket;
    aiohcs_item *ring;
    size_t capacity; /* power of two, or 0 */
    size_t head;
    size_t count;
    uint64_t dropped; /* items lost to allocation failure */
};

static int is_real_handle(void *h) { return h != NULL && h != (void *)(intptr_t)-1; }

void aiohcs_item_release(aiohcs_item *item) {
    free(item->payload);
    item->payload = NULL;
    if (item->flags & AIOHCS_ITEM_HAS_SYSTEM) {
        HcsCloseComputeSystem((HCS_SYSTEM)item->std_input);
        item->std_input = NULL;
        item->flags &= ~(uint32_t)AIOHCS_ITEM_HAS_SYSTEM;
    }
    if (item->flags & AIOHCS_ITEM_HAS_OPERATION) {
        HcsCloseOperation((HCS_OPERATION)item->std_input);
        item->std_input = NULL;
        item->flags &= ~(uint32_t)AIOHCS_ITEM_HAS_OPERATION;
    }
    if (item->flags & AIOHCS_ITEM_HAS_PROCESS_INFO) {
        void *handles[3] = {item->std_input, item->std_output, item->std_error};
        for (size_t i = 0; i < 3; i++)
            if (is_real_handle(handles[i])) CloseHandle(handles[i]);
        item->std_input = item->std_output = item->std_error = NULL;
    }
}

aiohcs_queue *aiohcs_queue_new(uint64_t wake_socket) {
    aiohcs_queue *q = calloc(1, sizeof *q);
    if (q == NULL) return NULL;
    aiohcs_mutex_init(&q->lock);
    if (aiohcs_cond_init(&q->arrived) != 0) {
        aiohcs_mutex_destroy(&q->lock);
        free(q);
        return NULL;
    }
    q->wake_socket = wake_socket;
    return q;
}

void aiohcs_queue_destroy(aiohcs_queue *q) {
    for (size_t i = 0; i < q->count; i++)
        aiohcs_item_release(&q->ring[(q->head + i) & (q->capacity - 1)]);
    free(q->ring);
    aiohcs_cond_destroy(&q->arrived);
    aiohcs_mutex_destroy(&q->lock);
    free(q);
}

/* Called with q->lock held. Returns 0 when the ring cannot grow. */
static int queue_reserve(aiohcs_queue *q) {
    if (q->count < q->capacity) return 1;
    size_t capacity = q->capacity ? q->capacity * 2 : 64;
    if (capacity < q->capacity || capacity > SIZE_MAX / sizeof(aiohcs_item)) return 0;
    aiohcs_item *ring = malloc(capacity * sizeof *ring);
    if (ring == NULL) return 0;
    for (size_t i = 0; i < q->count; i++) ring[i] = q->ring[(q->head + i) & (q->capacity - 1)];
    free(q->ring);
    q->ring = ring;
    q->capacity = capacity;
    q->head = 0;
    return 1;
}

int aiohcs_queue_push(aiohcs_queue *q, const aiohcs_item *item) {
    int queued = 0, send_wake = 0;
    aiohcs_mutex_lock(&q->lock);
    if (queue_reserve(q)) {
        q->ring[(q->head + q->count) & (q->capacity - 1)] = *item;
        if (q->count == 0) {
            if (q->polling)
                aiohcs_cond_signal(&q->arrived); /* the loop thread polls: it takes it */
            else
                send_wake = 1;
        }
        q->count++;
        queued = 1;
    } else {
        q->dropped++;
    }
    aiohcs_mutex_unlock(&q->lock);
    if (send_wake) aiohcs_socket_signal(q->wake_socket);
    return queued;
}

/* Moves up to max items out of the queue; called with q->lock held. */
static size_t take_items(aiohcs_queue *q, aiohcs_item *items, size_t max) {
    size_t n = q->count < max ? q->count : max;
    for (size_t i = 0; i < n; i++) items[i] = q->ring[(q->head + i) & (q->capacity - 1)];
    if (n > 0) {
        q->head = (q->head + n) & (q->capacity - 1);
        q->count -= n;
    }
    return n;
}

size_t aiohcs_queue_drain(aiohcs_queue *q, aiohcs_item *items, size_t max) {
    aiohcs_mutex_lock(&q->lock);
    size_t n = take_items(q, items, max);
    aiohcs_mutex_unlock(&q->lock);
    return n;
}

/* The wake bytes are consumed before items are taken: a byte written after this point
 * announces items the caller may already take (the next wake-up then finds the queue
 * empty), never the other way round. */
size_t aiohcs_queue_drain_wake(aiohcs_queue *q, uint64_t read_socket, aiohcs_item *items,
                               size_t max) {
    aiohcs_socket_consume(read_socket);
    return aiohcs_queue_drain(q, items, max);
}

/* How long aiohcs_queue_poll checks the queue between yields of the CPU before it sleeps on
 * the condition variable: a sleeping thread can take tens of microseconds to be woken
 * (measured on a virtual machine: ~25 us from the callback to the poll's return). */
#define POLL_SPIN_NS 50000u

/* Waits, with q->lock held, until the queue is non-empty or deadline_ns passes. Where timed
 * waits are coarse (aiohcs_precise_timed_wait == 0: Windows, where HCS operations take
 * milliseconds and the loop rarely polls at all) the poll ends with the spin. */
static void wait_for_items(aiohcs_queue *q, uint64_t deadline_ns) {
    uint64_t now = aiohcs_now_ns();
    uint64_t spin_until = deadline_ns - now < POLL_SPIN_NS ? deadline_ns : now + POLL_SPIN_NS;
    q->polling = 1; /* items now come without a wake byte: this thread takes them */
    while (q->count == 0 && now < spin_until) {
        aiohcs_mutex_unlock(&q->lock);
        aiohcs_thread_yield(); /* lets a thread that shares this CPU (the producer?) run */
        aiohcs_mutex_lock(&q->lock);
        now = aiohcs_now_ns();
    }
    while (aiohcs_precise_timed_wait && q->count == 0 && now < deadline_ns) {
        if (!aiohcs_cond_wait_until(&q->arrived, &q->lock, deadline_ns)) break;
        now = aiohcs_now_ns();
    }
    q->polling = 0;
}

size_t aiohcs_queue_poll(aiohcs_queue *q, uint64_t read_socket, aiohcs_item *items, size_t max,
                         uint64_t timeout_ns) {
    aiohcs_socket_consume(read_socket);
    aiohcs_mutex_lock(&q->lock);
    if (q->count == 0 && timeout_ns > 0) wait_for_items(q, aiohcs_now_ns() + timeout_ns);
    size_t n = take_items(q, items, max);
    /* Items that arrived while this thread polled came without a wake byte: announce the
     * ones it leaves behind (a spare byte only costs the loop an empty drain). */
    int leftover = q->count > 0;
    aiohcs_mutex_unlock(&q->lock);
    if (leftover) aiohcs_socket_signal(q->wake_socket);
    return n;
}

size_t aiohcs_queue_length(aiohcs_queue *q) {
    aiohcs_mutex_lock(&q->lock);
    size_t n = q->count;
    aiohcs_mutex_unlock(&q->lock);
    return n;
}

uint64_t aiohcs_queue_dropped(aiohcs_queue *q) {
    aiohcs_mutex_lock(&q->lock);
    uint64_t n = q->dropped;
    aiohcs_mutex_unlock(&q->lock);
    return n;
}

void aiohcs_items_release(aiohcs_item *items, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(items[i].payload);
        items[i].payload = NULL;
    }
}
