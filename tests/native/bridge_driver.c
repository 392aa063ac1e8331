/* The driver of tests/test_bridge_native.py: the bridge against fake HCS functions, under
 * the sanitizers (see that test's docstring for what it checks). */
#include <assert.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>
#include "computecore.h"
#include "bridge.cdef"

/* ---- fake HCS --------------------------------------------------------------------- */
struct HCS_OPERATION__ {
    int32_t result;
    int type;
    char16_t *doc;
    atomic_int closed;
};
static atomic_long ops_closed, docs_freed, handles_closed, docs_made, handles_made;
static atomic_long double_close;

HCS_OPERATION WINAPI HcsCreateOperation(const void *c, HCS_OPERATION_COMPLETION cb) {
    (void)c;
    (void)cb;
    return calloc(1, sizeof(struct HCS_OPERATION__));
}
void WINAPI HcsCloseOperation(HCS_OPERATION op) {
    if (atomic_fetch_add(&op->closed, 1) != 0) atomic_fetch_add(&double_close, 1);
    atomic_fetch_add(&ops_closed, 1);
    free(op);
}
HCS_OPERATION_TYPE WINAPI HcsGetOperationType(HCS_OPERATION op) {
    return (HCS_OPERATION_TYPE)op->type;
}
static char16_t *make_doc(void) {
    static const char16_t text[] = u"{\"Result\": \"ok \u00e9\"}";
    char16_t *d = malloc(sizeof text);
    memcpy(d, text, sizeof text);
    atomic_fetch_add(&docs_made, 1);
    return d;
}
HRESULT WINAPI HcsGetOperationResult(HCS_OPERATION op, PWSTR *doc) {
    if (doc) *doc = make_doc();
    return op->result;
}
HRESULT WINAPI HcsGetOperationResultAndProcessInfo(HCS_OPERATION op, HCS_PROCESS_INFORMATION *pi,
                                                   PWSTR *doc) {
    if (doc) *doc = make_doc();
    if (pi && op->result >= 0) {
        pi->ProcessId = 42;
        pi->StdInput = malloc(1);
        pi->StdOutput = malloc(1);
        pi->StdError = NULL;
        atomic_fetch_add(&handles_made, 2);
    }
    return op->result;
}
HLOCAL WINAPI LocalFree(HLOCAL p) {
    if (p) atomic_fetch_add(&docs_freed, 1);
    free(p);
    return NULL;
}
BOOL WINAPI CloseHandle(HANDLE h) {
    free(h);
    atomic_fetch_add(&handles_closed, 1);
    return 1;
}
HRESULT WINAPI HcsSetComputeSystemCallback(HCS_SYSTEM s, HCS_EVENT_OPTIONS o, const void *c,
                                           HCS_EVENT_CALLBACK cb) {
    (void)s;
    (void)o;
    (void)c;
    (void)cb;
    return 0;
}
HRESULT WINAPI HcsSetProcessCallback(HCS_PROCESS p, HCS_EVENT_OPTIONS o, void *c,
                                     HCS_EVENT_CALLBACK cb) {
    (void)p;
    (void)o;
    (void)c;
    (void)cb;
    return 0;
}
/* Systems for the native calls: an id starting with 'x' fails synchronously. */
static atomic_long systems_made, systems_closed, processes_closed;
static HCS_SYSTEM make_system(void) {
    atomic_fetch_add(&systems_made, 1);
    return (HCS_SYSTEM)malloc(1);
}
HRESULT WINAPI HcsCreateComputeSystem(PCWSTR id, PCWSTR cfg, HCS_OPERATION op,
                                      const SECURITY_DESCRIPTOR *sd, HCS_SYSTEM *out) {
    (void)cfg;
    (void)sd;
    if (id[0] == u'x') {
        op->result = (int32_t)0x80370109u;
        return op->result;
    }
    *out = make_system();
    HcsCloseOperation(op);
    return 0;
}
HRESULT WINAPI HcsCreateComputeSystemInNamespace(PCWSTR ns, PCWSTR id, PCWSTR cfg, HCS_OPERATION op,
                                                 const HCS_CREATE_OPTIONS *o, HCS_SYSTEM *out) {
    (void)ns;
    (void)o;
    return HcsCreateComputeSystem(id, cfg, op, NULL, out);
}
HRESULT WINAPI HcsOpenComputeSystem(PCWSTR id, DWORD access, HCS_SYSTEM *out) {
    (void)access;
    if (id[0] == u'x') return (int32_t)0x8037010Fu;
    *out = make_system();
    return 0;
}
HRESULT WINAPI HcsOpenComputeSystemInNamespace(PCWSTR ns, PCWSTR id, DWORD access,
                                               HCS_SYSTEM *out) {
    (void)ns;
    return HcsOpenComputeSystem(id, access, out);
}
void WINAPI HcsCloseComputeSystem(HCS_SYSTEM s) {
    free(s);
    atomic_fetch_add(&systems_closed, 1);
}
void WINAPI HcsCloseProcess(HCS_PROCESS p) {
    free(p);
    atomic_fetch_add(&processes_closed, 1);
}

/* ---- the test ----------------------------------------------------------------------- */
#define QUEUES        4
#define IDS_PER_QUEUE 64
#define PRODUCERS     4
#define PER_PRODUCER  20000

static aiohcs_queue *queues[QUEUES];
static int rfd[QUEUES], wfd[QUEUES];
static uint64_t ids[QUEUES][IDS_PER_QUEUE];
static atomic_int stop_consumers;
static atomic_long delivered[QUEUES];
static atomic_int freed[QUEUES];
static atomic_long calls_submitted;

static void *producer(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    static const char16_t data[] = u"{\"ExitType\": \"GracefulExit\"}";
    for (int i = 0; i < PER_PRODUCER; i++) {
        int q = (int)(rand_r(&seed) % QUEUES), k = (int)(rand_r(&seed) % IDS_PER_QUEUE);
        uint64_t id = ids[q][k];
        if (rand_r(&seed) % 50 == 0) id = 999999999; /* never registered */
        unsigned what = rand_r(&seed) % 5;
        if (what == 4) {
            /* an HCN service notification (NotificationData NULL for some types) */
            static const char16_t net[] = u"{\"ID\": \"0f5a2b6c-0000-4000-8000-000000000001\"}";
            aiohcs_hcn_notification_callback(1 + rand_r(&seed) % 0x12, (void *)(uintptr_t)id,
                                             rand_r(&seed) % 5 ? 0 : (HRESULT)0x803B0001u,
                                             rand_r(&seed) % 3 ? net : NULL);
        } else if (what == 3) {
            /* a native call (create, open or close) made for the id on a bridge thread */
            static const char16_t good[] = u"sys", bad[] = u"xsys";
            const char16_t *name = rand_r(&seed) % 4 ? good : bad;
            unsigned kind = 1 + rand_r(&seed) % 5;
            HCS_OPERATION op = NULL;
            void *handle = NULL;
            if (kind <= AIOHCS_CALL_CREATE_SYSTEM_PLAIN) op = HcsCreateOperation(NULL, NULL);
            if (kind == AIOHCS_CALL_CLOSE_SYSTEM) handle = make_system();
            if (kind == AIOHCS_CALL_CLOSE_PROCESS) handle = malloc(1);
            if (!aiohcs_call_submit(kind, rand_r(&seed) % 8 ? id : 0, op, handle, name, u"{}",
                                    rand_r(&seed) % 2 ? u"ns" : NULL, id))
                return (void *)1;
            atomic_fetch_add(&calls_submitted, 1);
        } else if (what == 2) {
            /* a worker thread reporting a blocking call it made for the id */
            aiohcs_post(id, (int32_t)(rand_r(&seed) % 7));
        } else if (what == 1) {
            HCS_EVENT ev;
            ev.Type = HcsEventSystemExited;
            ev.EventData = data;
            ev.Operation = NULL;
            aiohcs_event_callback(&ev, (void *)(uintptr_t)id);
        } else {
            HCS_OPERATION op = HcsCreateOperation(NULL, NULL);
            op->result = (rand_r(&seed) % 3) ? 0 : (int32_t)0x80370105u;
            op->type = (rand_r(&seed) % 2) ? HcsOperationTypeCreateProcess : HcsOperationTypeStart;
            aiohcs_operation_completion(op, (void *)(uintptr_t)id);
        }
    }
    return NULL;
}

static size_t take(int q, aiohcs_item *items, int first) {
    /* Queue 3 polls (a loop waiting for a completion it expects soon): up to 4 items, so
     * that items are left behind; a wait of up to 200 us, or none. */
    if (q == 3)
        return aiohcs_queue_poll(queues[q], (uint64_t)rfd[q], items, 4, first ? 200000u : 0u);
    /* Queue 1 consumes its wake bytes inside the drain call. */
    return first && q == 1 ? aiohcs_queue_drain_wake(queues[q], (uint64_t)rfd[q], items, 16)
                           : aiohcs_queue_drain(queues[q], items, 16);
}

static void consume(int q, aiohcs_item *items) {
    size_t n;
    int first = 1;
    while ((n = take(q, items, first)) > 0) {
        first = 0;
        for (size_t i = 0; i < n; i++) {
            assert(items[i].payload == NULL || items[i].payload[items[i].payload_length] == 0);
            /* posted items carry no payload; native calls only a failure document */
            assert(items[i].kind != AIOHCS_ITEM_CALL || items[i].payload == NULL ||
                   (items[i].event_type != 0 && items[i].result < 0));
            if (items[i].flags & AIOHCS_ITEM_HAS_PROCESS_INFO) {
                assert(items[i].process_id == 42);
                CloseHandle(items[i].std_input);
                CloseHandle(items[i].std_output);
            }
            if (items[i].flags & AIOHCS_ITEM_HAS_SYSTEM) {
                assert(items[i].kind == AIOHCS_ITEM_CALL && items[i].result == 0);
                HcsCloseComputeSystem((HCS_SYSTEM)items[i].std_input);
            }
            if (items[i].kind == AIOHCS_ITEM_CALL && items[i].event_type != 0 &&
                items[i].event_type <= AIOHCS_CALL_CREATE_SYSTEM_PLAIN && items[i].result < 0)
                assert(items[i].payload != NULL); /* the failure document */
        }
        aiohcs_items_release(items, n);
        atomic_fetch_add(&delivered[q], (long)n);
    }
}

static void *consumer(void *arg) {
    int q = (int)(uintptr_t)arg;
    aiohcs_item items[16];
    char buf[64];
    for (;;) {
        struct pollfd p = {rfd[q], POLLIN, 0};
        poll(&p, 1, 5);
        if (q % 2 == 0)
            while (read(rfd[q], buf, sizeof buf) > 0) {}
        consume(q, items);
        /* Queue 0 shuts down half-way (a loop going away). */
        if (q == 0 && atomic_load(&delivered[0]) > 2000 && !atomic_load(&freed[0])) {
            aiohcs_queue_free(queues[0]);
            atomic_store(&freed[0], 1);
            return NULL;
        }
        if (atomic_load(&stop_consumers)) {
            while (read(rfd[q], buf, sizeof buf) > 0) {}
            consume(q, items);
            return NULL;
        }
    }
}

int main(void) {
    for (int q = 0; q < QUEUES; q++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 2;
        fcntl(sv[0], F_SETFL, O_NONBLOCK);
        fcntl(sv[1], F_SETFL, O_NONBLOCK);
        rfd[q] = sv[0];
        wfd[q] = sv[1];
        queues[q] = aiohcs_queue_new((uint64_t)wfd[q]);
        /* Plain ids, ids that go with their completion, ids that go with their
         * completion and their posted item. */
        static const uint32_t flags[4] = {0, AIOHCS_REGISTER_PROCESS_INFO, AIOHCS_REGISTER_ONESHOT,
                                          AIOHCS_REGISTER_ONESHOT | AIOHCS_REGISTER_POSTED |
                                              AIOHCS_REGISTER_PROCESS_INFO};
        for (int k = 0; k < IDS_PER_QUEUE; k++)
            ids[q][k] = aiohcs_register(queues[q], flags[k % 4]);
    }
    /* register_operation + one completion: the one-shot id is gone afterwards. */
    {
        size_t before = aiohcs_registered_count();
        uint64_t id = 0;
        HCS_OPERATION op = aiohcs_register_operation(queues[3], AIOHCS_REGISTER_ONESHOT, &id);
        if (op == NULL || id == 0 || aiohcs_registered_count() != before + 1) return 8;
        aiohcs_operation_completion(op, (void *)(uintptr_t)id);
        if (aiohcs_registered_count() != before) return 8;
        if (aiohcs_unregister(id) != 0) return 8;
        /* ONESHOT | POSTED: gone only once both items are queued. */
        id = aiohcs_register(queues[3], AIOHCS_REGISTER_ONESHOT | AIOHCS_REGISTER_POSTED);
        if (aiohcs_post(id, 0) != 1 || aiohcs_registered_count() != before + 1) return 9;
        aiohcs_operation_completion(HcsCreateOperation(NULL, NULL), (void *)(uintptr_t)id);
        if (aiohcs_registered_count() != before || aiohcs_post(id, 0) != 0) return 9;
    }
    /* An HCN notification: one event item with the type, the status and a copy of the
     * data (the caller's buffer is gone after the call); an unknown id is dropped. */
    {
        uint64_t id = aiohcs_register(queues[2], 0);
        char16_t data[] = u"{\"ID\": \"x\"}";
        aiohcs_hcn_notification_callback(2, (void *)(uintptr_t)id, (HRESULT)0x803B0002u, data);
        data[0] = u'!';
        aiohcs_hcn_notification_callback(0x01000000, (void *)(uintptr_t)id, 0, NULL);
        aiohcs_hcn_notification_callback(2, (void *)(uintptr_t)999999999u, 0, data);
        aiohcs_item got[4];
        if (aiohcs_queue_drain(queues[2], got, 4) != 2) return 13;
        if (got[0].id != id || got[0].kind != AIOHCS_ITEM_EVENT || got[0].event_type != 2 ||
            got[0].result != (int32_t)0x803B0002u || got[0].payload == NULL ||
            got[0].payload[0] != u'{' || got[0].payload_length != 11)
            return 13;
        if (got[1].event_type != 0x01000000 || got[1].result != 0 || got[1].payload != NULL)
            return 13;
        aiohcs_items_release(got, 2);
        char buf[64];
        while (read(rfd[2], buf, sizeof buf) > 0) {}
        if (aiohcs_unregister(id) != 1) return 13;
    }
    pthread_t prod[PRODUCERS], cons[QUEUES];
    for (int q = 0; q < QUEUES; q++) pthread_create(&cons[q], NULL, consumer, (void *)(uintptr_t)q);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&prod[i], NULL, producer, (void *)(uintptr_t)(i + 1));
    /* Unregister some ids while traffic flows (operations abandoned by their waiters). */
    for (int k = 0; k < IDS_PER_QUEUE; k += 4) aiohcs_unregister(ids[1][k]);
    for (int i = 0; i < PRODUCERS; i++) {
        void *failed = NULL;
        pthread_join(prod[i], &failed);
        if (failed != NULL) return 10;
    }
    /* Every native call has run (and reported, or released what it produced). */
    while (aiohcs_calls_pending() != 0) usleep(1000);
    atomic_store(&stop_consumers, 1);
    for (int q = 0; q < QUEUES; q++) pthread_join(cons[q], NULL);
    if (!atomic_load(&freed[0])) aiohcs_queue_free(queues[0]);
    for (int q = 1; q < QUEUES; q++) {
        /* Every wake-up arrived: nothing is left behind in a live queue. */
        if (aiohcs_queue_length(queues[q]) != 0) {
            fprintf(stderr, "lost wake-up on %d\n", q);
            return 1;
        }
        if (aiohcs_queue_dropped(queues[q]) != 0) return 1;
        aiohcs_queue_free(queues[q]);
    }
    for (int q = 0; q < QUEUES; q++) {
        close(rfd[q]);
        close(wfd[q]);
    }
    long total_ops = atomic_load(&ops_closed);
    printf("ops_closed=%ld docs=%ld/%ld handles=%ld/%ld delivered=%ld,%ld,%ld,%ld registered=%zu\n",
           total_ops, atomic_load(&docs_freed), atomic_load(&docs_made),
           atomic_load(&handles_closed), atomic_load(&handles_made), atomic_load(&delivered[0]),
           atomic_load(&delivered[1]), atomic_load(&delivered[2]), atomic_load(&delivered[3]),
           aiohcs_registered_count());
    printf("native calls=%ld systems made=%ld closed=%ld\n", atomic_load(&calls_submitted),
           atomic_load(&systems_made), atomic_load(&systems_closed));
    if (atomic_load(&systems_made) != atomic_load(&systems_closed)) return 11;
    if (atomic_load(&calls_submitted) == 0) return 12;
    if (atomic_load(&double_close) != 0) return 3;
    if (atomic_load(&docs_freed) != atomic_load(&docs_made)) return 4;
    if (atomic_load(&handles_closed) != atomic_load(&handles_made)) return 5;
    if (aiohcs_registered_count() != 0) return 6;
    if (total_ops < PRODUCERS * PER_PRODUCER / 6) return 7; /* a fifth are completions */
    return 0;
}
