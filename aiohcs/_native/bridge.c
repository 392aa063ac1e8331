/* The callback bridge between HCS threads and the event loops.
 *
 * HCS invokes aiohcs_operation_completion / aiohcs_event_callback on threads it owns. They
 * never run Python: each one copies what it needs (the operation's result and document,
 * which it frees; the event's EventData, valid only during the call), closes a completed
 * operation, and pushes one item onto the queue of the event loop that registered the
 * context id. When that queue goes from empty to non-empty it writes one byte to the
 * loop's wake socket; the loop drains the queue with aiohcs_queue_drain.
 *
 * Contexts are integer ids, never pointers: an id that is not (or no longer) registered is
 * ignored, so a late callback cannot touch freed memory. An id registered ONESHOT (and/or
 * POSTED) is forgotten as soon as its completion (and/or its aiohcs_post item) is queued:
 * an operation completes once, and the loop then need not unregister it.
 *
 * aiohcs_post queues an item from any other thread (a worker that made a blocking call for
 * the loop): the loop learns of it through the same queue and wake-up as of a callback.
 *
 * Locks: one registry lock (id -> queue) and one lock per queue; the order is registry
 * then queue. No HCS function is called with a lock held. The registry lock is held while
 * an item is pushed and the wake byte written, so aiohcs_queue_free (which takes it) is a
 * barrier: afterwards no callback uses the queue or its socket.
 */
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <windows.h>
#include <computecore.h>
#ifdef _MSC_VER
#pragma comment(lib, "ws2_32.lib")
#endif
#else
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include "computecore.h"
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uchar.h>

#include "bridge.cdef"

/* ---- platform: locks, wake, clock ------------------------------------------------- */

#ifdef _WIN32
typedef SRWLOCK aiohcs_lock;
#define LOCK_INIT(l) InitializeSRWLock(l)
#define LOCK(l) AcquireSRWLockExclusive(l)
#define UNLOCK(l) ReleaseSRWLockExclusive(l)
#define LOCK_DESTROY(l) ((void)(l))
static aiohcs_lock registry_lock = SRWLOCK_INIT;

static void wake(uint64_t sock)
{
    /* Non-blocking socket: WSAEWOULDBLOCK means a byte is already pending. */
    (void)send((SOCKET)sock, "x", 1, 0);
}

uint64_t aiohcs_now_ns(void)
{
    LARGE_INTEGER frequency, now;
    QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&now);
    uint64_t f = (uint64_t)frequency.QuadPart, t = (uint64_t)now.QuadPart;
    return t / f * 1000000000u + t % f * 1000000000u / f;
}
#else
typedef pthread_mutex_t aiohcs_lock;
#define LOCK_INIT(l) pthread_mutex_init((l), NULL)
#define LOCK(l) pthread_mutex_lock(l)
#define UNLOCK(l) pthread_mutex_unlock(l)
#define LOCK_DESTROY(l) pthread_mutex_destroy(l)
static aiohcs_lock registry_lock = PTHREAD_MUTEX_INITIALIZER;
/* Registers the handler that makes this file's locks usable in a child after fork(). */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void fork_init_once(void);

static void wake(uint64_t sock)
{
    /* Non-blocking socket: EAGAIN means a byte is already pending. */
    for (;;) {
        ssize_t n = write((int)sock, "x", 1);
        if (n < 0 && errno == EINTR)
            continue;
        break;
    }
}

uint64_t aiohcs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

/* ---- queue: a growable ring of items ------------------------------------------------ */

struct aiohcs_queue {
    aiohcs_lock lock;
#ifndef _WIN32
    pthread_cond_t arrived; /* signalled instead of the wake byte while the loop polls */
#endif
    int polling;            /* the loop thread waits in aiohcs_queue_poll (under lock) */
    uint64_t wake_socket;
    aiohcs_item *ring;
    size_t capacity; /* power of two, or 0 */
    size_t head;
    size_t count;
    uint64_t dropped; /* items lost to allocation failure */
};

static int is_real_handle(void *h)
{
    return h != NULL && h != (void *)(intptr_t)-1;
}

static void item_release(aiohcs_item *item)
{
    free(item->payload);
    item->payload = NULL;
    if (item->flags & AIOHCS_ITEM_HAS_SYSTEM) {
        HcsCloseComputeSystem((HCS_SYSTEM)item->std_input);
        item->std_input = NULL;
        item->flags &= ~(uint32_t)AIOHCS_ITEM_HAS_SYSTEM;
    }
    if (item->flags & AIOHCS_ITEM_HAS_PROCESS_INFO) {
        void *handles[3] = {item->std_input, item->std_output, item->std_error};
        for (size_t i = 0; i < 3; i++)
            if (is_real_handle(handles[i]))
                CloseHandle(handles[i]);
        item->std_input = item->std_output = item->std_error = NULL;
    }
}

aiohcs_queue *aiohcs_queue_new(uint64_t wake_socket)
{
#ifndef _WIN32
    pthread_once(&fork_once, fork_init_once);
#endif
    aiohcs_queue *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    LOCK_INIT(&q->lock);
#if defined(__APPLE__)
    if (pthread_cond_init(&q->arrived, NULL) != 0) { /* waits are relative there */
        LOCK_DESTROY(&q->lock);
        free(q);
        return NULL;
    }
#elif !defined(_WIN32)
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0) {
        LOCK_DESTROY(&q->lock);
        free(q);
        return NULL;
    }
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int failed = pthread_cond_init(&q->arrived, &attr);
    pthread_condattr_destroy(&attr);
    if (failed) {
        LOCK_DESTROY(&q->lock);
        free(q);
        return NULL;
    }
#endif
    q->wake_socket = wake_socket;
    return q;
}

/* Called with q->lock held. Returns 0 when the ring cannot grow. */
static int queue_reserve(aiohcs_queue *q)
{
    if (q->count < q->capacity)
        return 1;
    size_t capacity = q->capacity ? q->capacity * 2 : 64;
    if (capacity < q->capacity || capacity > SIZE_MAX / sizeof(aiohcs_item))
        return 0;
    aiohcs_item *ring = malloc(capacity * sizeof *ring);
    if (ring == NULL)
        return 0;
    for (size_t i = 0; i < q->count; i++)
        ring[i] = q->ring[(q->head + i) & (q->capacity - 1)];
    free(q->ring);
    q->ring = ring;
    q->capacity = capacity;
    q->head = 0;
    return 1;
}

/* Moves up to max items out of the queue; called with q->lock held. */
static size_t take_items(aiohcs_queue *q, aiohcs_item *items, size_t max)
{
    size_t n = q->count < max ? q->count : max;
    for (size_t i = 0; i < n; i++)
        items[i] = q->ring[(q->head + i) & (q->capacity - 1)];
    if (n > 0) {
        q->head = (q->head + n) & (q->capacity - 1);
        q->count -= n;
    }
    return n;
}

size_t aiohcs_queue_drain(aiohcs_queue *q, aiohcs_item *items, size_t max)
{
    LOCK(&q->lock);
    size_t n = take_items(q, items, max);
    UNLOCK(&q->lock);
    return n;
}

/* Consumes the wake bytes pending on read_socket (non-blocking). Before taking items: a
 * byte written after this point announces items the caller may already take (the next
 * wake-up then finds the queue empty), never the other way round. */
static void consume_wake(uint64_t read_socket)
{
    char buf[256];
    for (;;) {
#ifdef _WIN32
        int n = recv((SOCKET)read_socket, buf, (int)sizeof buf, 0);
#else
        ssize_t n = read((int)read_socket, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
#endif
        if (n < (int)sizeof buf)
            break;
    }
}

size_t aiohcs_queue_drain_wake(aiohcs_queue *q, uint64_t read_socket, aiohcs_item *items,
                               size_t max)
{
    consume_wake(read_socket);
    return aiohcs_queue_drain(q, items, max);
}

/* How long aiohcs_queue_poll checks the queue between yields of the CPU before it sleeps on
 * the condition variable: a sleeping thread can take tens of microseconds to be woken
 * (measured on a virtual machine: ~25 us from the callback to the poll's return). */
#define POLL_SPIN_NS 50000u

/* Waits, with q->lock held, until the queue is non-empty or deadline_ns passes. */
static void wait_for_items(aiohcs_queue *q, uint64_t deadline_ns)
{
    uint64_t now = aiohcs_now_ns();
    uint64_t spin_until = deadline_ns - now < POLL_SPIN_NS ? deadline_ns : now + POLL_SPIN_NS;
    q->polling = 1; /* items now come without a wake byte: this thread takes them */
    while (q->count == 0 && now < spin_until) {
        UNLOCK(&q->lock);
#ifdef _WIN32
        SwitchToThread();
#else
        sched_yield(); /* lets a thread that shares this CPU (the producer?) run */
#endif
        LOCK(&q->lock);
        now = aiohcs_now_ns();
    }
#ifdef _WIN32
    /* Condition variables time out in whole milliseconds here: the poll ends with the
     * spin (HCS operations take milliseconds on Windows; the loop rarely polls at all). */
    (void)deadline_ns;
#else
    while (q->count == 0 && now < deadline_ns) {
        struct timespec t;
#ifdef __APPLE__
        t.tv_sec = (time_t)((deadline_ns - now) / 1000000000u);
        t.tv_nsec = (long)((deadline_ns - now) % 1000000000u);
        int rc = pthread_cond_timedwait_relative_np(&q->arrived, &q->lock, &t);
#else
        t.tv_sec = (time_t)(deadline_ns / 1000000000u);
        t.tv_nsec = (long)(deadline_ns % 1000000000u);
        int rc = pthread_cond_timedwait(&q->arrived, &q->lock, &t);
#endif
        if (rc == ETIMEDOUT)
            break;
        now = aiohcs_now_ns();
    }
#endif
    q->polling = 0;
}

size_t aiohcs_queue_poll(aiohcs_queue *q, uint64_t read_socket, aiohcs_item *items, size_t max,
                         uint64_t timeout_ns)
{
    consume_wake(read_socket);
    LOCK(&q->lock);
    if (q->count == 0 && timeout_ns > 0)
        wait_for_items(q, aiohcs_now_ns() + timeout_ns);
    size_t n = take_items(q, items, max);
    /* Items that arrived while this thread polled came without a wake byte: announce the
     * ones it leaves behind (a spare byte only costs the loop an empty drain). */
    int leftover = q->count > 0;
    UNLOCK(&q->lock);
    if (leftover)
        wake(q->wake_socket);
    return n;
}

size_t aiohcs_queue_length(aiohcs_queue *q)
{
    LOCK(&q->lock);
    size_t n = q->count;
    UNLOCK(&q->lock);
    return n;
}

uint64_t aiohcs_queue_dropped(aiohcs_queue *q)
{
    LOCK(&q->lock);
    uint64_t n = q->dropped;
    UNLOCK(&q->lock);
    return n;
}

void aiohcs_items_release(aiohcs_item *items, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(items[i].payload);
        items[i].payload = NULL;
    }
}

/* ---- registry: id -> queue (chained hash, registry_lock) ---------------------------- */

typedef struct entry {
    uint64_t id;
    aiohcs_queue *queue;
    uint32_t flags;
    uint32_t awaiting; /* ONESHOT/POSTED items still to come; 0: until unregistered */
    struct entry *next;
} entry;

static entry **buckets;
static size_t bucket_count; /* power of two, or 0 */
static size_t entry_count;
static uint64_t next_id = 1;

static size_t bucket_of(uint64_t id, size_t n)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id & (n - 1);
}

/* Called with registry_lock held: the link that points at id's entry, or NULL. */
static entry **find_link(uint64_t id)
{
    if (bucket_count == 0)
        return NULL;
    for (entry **link = &buckets[bucket_of(id, bucket_count)]; *link != NULL;
         link = &(*link)->next)
        if ((*link)->id == id)
            return link;
    return NULL;
}

/* Called with registry_lock held. */
static entry *find_entry(uint64_t id)
{
    entry **link = find_link(id);
    return link != NULL ? *link : NULL;
}

/* Called with registry_lock held; growing is best effort. */
static void maybe_grow(void)
{
    if (bucket_count != 0 && entry_count < bucket_count * 2)
        return;
    size_t n = bucket_count ? bucket_count * 4 : 256;
    entry **fresh = calloc(n, sizeof *fresh);
    if (fresh == NULL)
        return;
    for (size_t b = 0; b < bucket_count; b++) {
        entry *e = buckets[b];
        while (e != NULL) {
            entry *next = e->next;
            size_t i = bucket_of(e->id, n);
            e->next = fresh[i];
            fresh[i] = e;
            e = next;
        }
    }
    free(buckets);
    buckets = fresh;
    bucket_count = n;
}

uint64_t aiohcs_register(aiohcs_queue *queue, uint32_t flags)
{
    entry *e = malloc(sizeof *e);
    if (e == NULL)
        return 0;
    LOCK(&registry_lock);
    maybe_grow();
    if (bucket_count == 0) {
        UNLOCK(&registry_lock);
        free(e);
        return 0;
    }
    e->id = next_id++;
    e->queue = queue;
    e->flags = flags;
    e->awaiting = flags & (AIOHCS_REGISTER_ONESHOT | AIOHCS_REGISTER_POSTED);
    size_t i = bucket_of(e->id, bucket_count);
    e->next = buckets[i];
    buckets[i] = e;
    entry_count++;
    uint64_t id = e->id;
    UNLOCK(&registry_lock);
    return id;
}

int aiohcs_unregister(uint64_t id)
{
    entry *found = NULL;
    LOCK(&registry_lock);
    entry **link = find_link(id);
    if (link != NULL) {
        found = *link;
        *link = found->next;
        entry_count--;
    }
    UNLOCK(&registry_lock);
    free(found);
    return found != NULL;
}

size_t aiohcs_registered_count(void)
{
    LOCK(&registry_lock);
    size_t n = entry_count;
    UNLOCK(&registry_lock);
    return n;
}

void aiohcs_queue_free(aiohcs_queue *q)
{
    if (q == NULL)
        return;
    entry *dead = NULL;
    LOCK(&registry_lock);
    for (size_t b = 0; b < bucket_count; b++) {
        entry **link = &buckets[b];
        while (*link != NULL) {
            entry *e = *link;
            if (e->queue == q) {
                *link = e->next;
                e->next = dead;
                dead = e;
                entry_count--;
            } else {
                link = &e->next;
            }
        }
    }
    UNLOCK(&registry_lock);
    while (dead != NULL) {
        entry *next = dead->next;
        free(dead);
        dead = next;
    }
    /* No callback can reach q any more: nobody else holds it. */
    for (size_t i = 0; i < q->count; i++)
        item_release(&q->ring[(q->head + i) & (q->capacity - 1)]);
    free(q->ring);
#ifndef _WIN32
    pthread_cond_destroy(&q->arrived);
#endif
    LOCK_DESTROY(&q->lock);
    free(q);
}

/* Looks up the flags of id; returns 0 when it is not registered. */
static int lookup(uint64_t id, uint32_t *flags)
{
    LOCK(&registry_lock);
    entry *e = find_entry(id);
    if (e != NULL)
        *flags = e->flags;
    UNLOCK(&registry_lock);
    return e != NULL;
}

/* Pushes item onto the queue of its id. Returns 1 when delivered; otherwise the caller
 * still owns (and releases) the item. */
static int deliver(aiohcs_item *item)
{
    int delivered = 0;
    entry *done = NULL;
    LOCK(&registry_lock);
    entry **link = find_link(item->id);
    if (link != NULL) {
        entry *e = *link;
        aiohcs_queue *q = e->queue;
        int send_wake = 0;
        LOCK(&q->lock);
        if (queue_reserve(q)) {
            q->ring[(q->head + q->count) & (q->capacity - 1)] = *item;
            if (q->count == 0) {
                if (q->polling) {
                    /* The loop thread polls and takes it: no byte. */
#ifndef _WIN32
                    pthread_cond_signal(&q->arrived);
#endif
                } else {
                    send_wake = 1;
                }
            }
            q->count++;
            delivered = 1;
        } else {
            q->dropped++;
        }
        UNLOCK(&q->lock);
        if (send_wake)
            wake(q->wake_socket);
        uint32_t last = item->kind == AIOHCS_ITEM_COMPLETION ? AIOHCS_REGISTER_ONESHOT
                        : item->kind == AIOHCS_ITEM_CALL     ? AIOHCS_REGISTER_POSTED
                                                             : 0;
        if (delivered && (e->awaiting & last)) {
            e->awaiting &= ~last;
            if (e->awaiting == 0) {
                /* Everything this id was registered for is queued: nothing more comes. */
                *link = e->next;
                entry_count--;
                done = e;
            }
        }
    }
    UNLOCK(&registry_lock);
    free(done);
    return delivered;
}

int aiohcs_post(uint64_t id, int32_t result)
{
    aiohcs_item item;
    memset(&item, 0, sizeof item);
    item.timestamp_ns = aiohcs_now_ns();
    item.id = id;
    item.kind = AIOHCS_ITEM_CALL;
    item.result = result;
    return deliver(&item);
}

/* ---- the callbacks ------------------------------------------------------------------ */

static void copy_payload(aiohcs_item *item, const char16_t *text)
{
    if (text == NULL)
        return;
    size_t n = 0;
    while (text[n] != 0)
        n++;
    char16_t *copy = malloc((n + 1) * sizeof *copy);
    if (copy == NULL) {
        item->flags |= AIOHCS_ITEM_PAYLOAD_LOST;
        return;
    }
    memcpy(copy, text, (n + 1) * sizeof *copy);
    item->payload = copy;
    item->payload_length = n;
}

void CALLBACK aiohcs_operation_completion(HCS_OPERATION operation, void *context)
{
    aiohcs_item item;
    memset(&item, 0, sizeof item);
    item.timestamp_ns = aiohcs_now_ns();
    item.id = (uint64_t)(uintptr_t)context;
    item.kind = AIOHCS_ITEM_COMPLETION;

    uint32_t flags = 0;
    int want_process_info;
    if (lookup(item.id, &flags)) {
        want_process_info = (flags & AIOHCS_REGISTER_PROCESS_INFO) != 0;
    } else {
        /* Nobody waits (any more); still fetch pipe handles so they can be closed. */
        HCS_OPERATION_TYPE type = HcsGetOperationType(operation);
        want_process_info = type == HcsOperationTypeCreateProcess || type == HcsOperationTypeGetProcessInfo;
    }

    PWSTR document = NULL;
    if (want_process_info) {
        HCS_PROCESS_INFORMATION info;
        memset(&info, 0, sizeof info);
        item.result = HcsGetOperationResultAndProcessInfo(operation, &info, &document);
        if (item.result >= 0) {
            item.flags |= AIOHCS_ITEM_HAS_PROCESS_INFO;
            item.process_id = info.ProcessId;
            item.std_input = info.StdInput;
            item.std_output = info.StdOutput;
            item.std_error = info.StdError;
        }
    } else {
        item.result = HcsGetOperationResult(operation, &document);
    }
    copy_payload(&item, (const char16_t *)document);
    if (document != NULL)
        LocalFree(document);
    /* Every operation created with this callback is closed here, exactly once, whether or
     * not anybody still waits for it. */
    HcsCloseOperation(operation);

    if (!deliver(&item))
        item_release(&item);
}

void CALLBACK aiohcs_event_callback(HCS_EVENT *event, void *context)
{
    if (event == NULL)
        return;
    aiohcs_item item;
    memset(&item, 0, sizeof item);
    item.timestamp_ns = aiohcs_now_ns();
    item.id = (uint64_t)(uintptr_t)context;
    item.kind = AIOHCS_ITEM_EVENT;
    item.event_type = (uint32_t)event->Type;
    item.operation = (uint64_t)(uintptr_t)event->Operation;
    uint32_t flags;
    if (!lookup(item.id, &flags))
        return;
    copy_payload(&item, (const char16_t *)event->EventData);
    if (!deliver(&item))
        item_release(&item);
}

/* ---- small helpers for the Python side ---------------------------------------------- */

HCS_OPERATION aiohcs_create_operation(uint64_t id)
{
    return HcsCreateOperation((const void *)(uintptr_t)id, aiohcs_operation_completion);
}

HCS_OPERATION aiohcs_register_operation(aiohcs_queue *queue, uint32_t flags, uint64_t *id)
{
    uint64_t ident = aiohcs_register(queue, flags);
    if (ident == 0)
        return NULL;
    HCS_OPERATION operation = aiohcs_create_operation(ident);
    if (operation == NULL) {
        aiohcs_unregister(ident);
        return NULL;
    }
    *id = ident;
    return operation;
}

void aiohcs_init_create_options(HCS_CREATE_OPTIONS_1 *options, uint64_t id)
{
    memset(options, 0, sizeof *options);
    options->Version = HcsCreateOptions_1;
    options->CallbackOptions = HcsEventOptionNone;
    options->CallbackContext = (void *)(uintptr_t)id;
    options->Callback = aiohcs_event_callback;
}

HRESULT aiohcs_set_system_callback(HCS_SYSTEM system, uint64_t id)
{
    return HcsSetComputeSystemCallback(system, HcsEventOptionNone, (const void *)(uintptr_t)id,
                                       aiohcs_event_callback);
}

HRESULT aiohcs_set_process_callback(HCS_PROCESS process, uint64_t id)
{
    return HcsSetProcessCallback(process, HcsEventOptionNone, (void *)(uintptr_t)id,
                                 aiohcs_event_callback);
}

/* ---- native calls: blocking HCS calls on the bridge's own threads ------------------- */

typedef struct native_call {
    struct native_call *next;
    uint32_t kind;
    uint64_t post_id;
    HCS_OPERATION operation;
    void *handle;
    char16_t *text[3];
    uint64_t callback_id;
} native_call;

static char16_t *text_copy(const char16_t *text, int *failed)
{
    if (text == NULL)
        return NULL;
    size_t n = 0;
    while (text[n] != 0)
        n++;
    char16_t *copy = malloc((n + 1) * sizeof *copy);
    if (copy == NULL) {
        *failed = 1;
        return NULL;
    }
    memcpy(copy, text, (n + 1) * sizeof *copy);
    return copy;
}

static void call_free(native_call *call)
{
    for (size_t i = 0; i < 3; i++)
        free(call->text[i]);
    free(call);
}

/* A synchronous failure: the operation's result document becomes the item's payload and
 * the operation is closed (no callback comes for it). */
static void take_failure(HCS_OPERATION operation, aiohcs_item *item)
{
    PWSTR document = NULL;
    HcsGetOperationResult(operation, &document);
    copy_payload(item, (const char16_t *)document);
    if (document != NULL)
        LocalFree(document);
    HcsCloseOperation(operation);
}

static void call_run(native_call *call)
{
    aiohcs_item item;
    memset(&item, 0, sizeof item);
    item.id = call->post_id;
    item.kind = AIOHCS_ITEM_CALL;
    item.event_type = call->kind;
    const WCHAR *t0 = (const WCHAR *)call->text[0], *t1 = (const WCHAR *)call->text[1],
                *t2 = (const WCHAR *)call->text[2];
    void *context = (void *)(uintptr_t)call->callback_id;
    HCS_SYSTEM system = NULL;
    switch (call->kind) {
    case AIOHCS_CALL_CREATE_SYSTEM: {
        HCS_CREATE_OPTIONS_1 options;
        aiohcs_init_create_options(&options, call->callback_id);
        item.result = HcsCreateComputeSystemInNamespace(
            t2, t0, t1, call->operation, (const HCS_CREATE_OPTIONS *)&options, &system);
        break;
    }
    case AIOHCS_CALL_CREATE_SYSTEM_PLAIN:
        item.result = HcsCreateComputeSystem(t0, t1, call->operation, NULL, &system);
        if (item.result >= 0 && system != NULL)
            item.callback_result =
                HcsSetComputeSystemCallback(system, HcsEventOptionNone, context, aiohcs_event_callback);
        break;
    case AIOHCS_CALL_OPEN_SYSTEM:
        item.result = t2 != NULL ? HcsOpenComputeSystemInNamespace(t2, t0, GENERIC_ALL, &system)
                                 : HcsOpenComputeSystem(t0, GENERIC_ALL, &system);
        if (item.result >= 0 && system != NULL)
            item.callback_result =
                HcsSetComputeSystemCallback(system, HcsEventOptionNone, context, aiohcs_event_callback);
        break;
    case AIOHCS_CALL_CLOSE_SYSTEM:
        HcsCloseComputeSystem((HCS_SYSTEM)call->handle);
        break;
    case AIOHCS_CALL_CLOSE_PROCESS:
        HcsCloseProcess((HCS_PROCESS)call->handle);
        break;
    default:
        item.result = (int32_t)0x80070057; /* E_INVALIDARG */
        break;
    }
    if ((call->kind == AIOHCS_CALL_CREATE_SYSTEM || call->kind == AIOHCS_CALL_CREATE_SYSTEM_PLAIN) &&
        item.result < 0)
        take_failure(call->operation, &item);
    if (system != NULL) {
        item.flags |= AIOHCS_ITEM_HAS_SYSTEM;
        item.std_input = system;
    }
    item.timestamp_ns = aiohcs_now_ns();
    call_free(call);
    if (item.id == 0 || !deliver(&item))
        item_release(&item);
}

#ifdef _WIN32
static volatile LONG calls_pending;

static void CALLBACK call_thread(PTP_CALLBACK_INSTANCE instance, void *context)
{
    (void)instance;
    call_run(context);
    InterlockedDecrement(&calls_pending);
}

static int call_queue(native_call *call)
{
    InterlockedIncrement(&calls_pending);
    if (TrySubmitThreadpoolCallback(call_thread, call, NULL))
        return 1;
    InterlockedDecrement(&calls_pending);
    return 0;
}

size_t aiohcs_calls_pending(void)
{
    return (size_t)InterlockedCompareExchange(&calls_pending, 0, 0);
}
#else
/* A small pool: threads start on demand (up to CALL_THREADS) and end after CALL_IDLE_S
 * seconds without work. After fork() the child starts with an empty pool. Few threads:
 * measured with hcsim (1 ms per blocking call, 2 CPUs), 16 threads gave the loop shorter
 * stalls than 64 waking together, at the same throughput. */
#define CALL_THREADS 16
#define CALL_IDLE_S 10

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;
    native_call *head, *tail;
    size_t queued;  /* calls in the list */
    size_t running; /* calls taken by a thread, not yet done */
    int threads;
    int idle;
    int waking; /* an idle thread was signalled and has not taken a call yet */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0, 0, 0};

static void after_fork_in_child(void)
{
    /* Only this thread exists now; the parent's calls are the parent's business. A
     * callback thread may have held the registry lock: the child's copy is made anew
     * (the parent's entries stay; nothing in the child delivers to them). */
    pthread_mutex_init(&registry_lock, NULL);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.work, NULL);
    pool.head = pool.tail = NULL;
    pool.queued = pool.running = 0;
    pool.threads = pool.idle = pool.waking = 0;
}

/* Wakes one idle thread unless one is already on its way; called with pool.lock held.
 * Waking a thread costs a system call (10-15 us on a virtual machine): the submitting (loop)
 * thread wakes at most one, and each woken thread wakes the next while work remains. */
static void wake_one(void)
{
    if (pool.head != NULL && pool.idle > 0 && !pool.waking) {
        pool.waking = 1;
        pthread_cond_signal(&pool.work);
    }
}

static void fork_init_once(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

static void *call_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.head == NULL) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += CALL_IDLE_S;
            pool.idle++;
            int rc = pthread_cond_timedwait(&pool.work, &pool.lock, &until);
            pool.idle--;
            pool.waking = 0;
            if (rc == ETIMEDOUT && pool.head == NULL) {
                pool.threads--;
                pthread_mutex_unlock(&pool.lock);
                return NULL;
            }
        }
        native_call *call = pool.head;
        pool.head = call->next;
        if (pool.head == NULL)
            pool.tail = NULL;
        pool.queued--;
        pool.running++;
        wake_one(); /* more work: pass the wake-up on */
        pthread_mutex_unlock(&pool.lock);
        call_run(call);
        pthread_mutex_lock(&pool.lock);
        pool.running--;
    }
}

static int call_queue(native_call *call)
{
    pthread_once(&fork_once, fork_init_once);
    pthread_mutex_lock(&pool.lock);
    call->next = NULL;
    if (pool.tail != NULL)
        pool.tail->next = call;
    else
        pool.head = call;
    pool.tail = call;
    pool.queued++;
    int ok = 1;
    if (pool.idle == 0 && pool.threads < CALL_THREADS) {
        pthread_t thread;
        pthread_attr_t attr;
        int started = pthread_attr_init(&attr) == 0;
        if (started) {
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            started = pthread_create(&thread, &attr, call_thread, NULL) == 0;
            pthread_attr_destroy(&attr);
        }
        if (started) {
            pool.threads++;
        } else if (pool.threads == 0) {
            /* Nobody would ever run it: take it back. */
            native_call **link = &pool.head;
            native_call *prev = NULL;
            while (*link != call) {
                prev = *link;
                link = &(*link)->next;
            }
            *link = NULL;
            pool.tail = prev;
            pool.queued--;
            ok = 0;
        }
    }
    if (ok)
        wake_one();
    pthread_mutex_unlock(&pool.lock);
    return ok;
}

size_t aiohcs_calls_pending(void)
{
    pthread_mutex_lock(&pool.lock);
    size_t n = pool.queued + pool.running;
    pthread_mutex_unlock(&pool.lock);
    return n;
}
#endif

int aiohcs_call_submit(uint32_t kind, uint64_t post_id, HCS_OPERATION operation, void *handle,
                       const char16_t *text0, const char16_t *text1, const char16_t *text2,
                       uint64_t callback_id)
{
    native_call *call = calloc(1, sizeof *call);
    if (call == NULL)
        return 0;
    int failed = 0;
    call->kind = kind;
    call->post_id = post_id;
    call->operation = operation;
    call->handle = handle;
    call->callback_id = callback_id;
    call->text[0] = text_copy(text0, &failed);
    call->text[1] = text_copy(text1, &failed);
    call->text[2] = text_copy(text2, &failed);
    if (failed || !call_queue(call)) {
        call_free(call);
        return 0;
    }
    return 1;
}
