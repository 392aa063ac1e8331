/* hcsim's service mode, the service side (README "Service mode: the service and the
 * protocol"): C threads that accept clients on a Unix socket and run their calls (wire.h)
 * against this process's own hcsim.
 *
 * Threads: one accept thread; per connection a reader (decodes CALLs and runs them) and a
 * writer (sends the frames of an unbounded queue, so an hcsim callback only enqueues);
 * calls that can block run on a thread of their own so the reader keeps reading. hcsim's
 * callbacks get integer contexts (a connection id and handle id, or an operation record
 * id) that are looked up under the service lock, never pointers: a late callback for a
 * closed connection is dropped. What a CALL runs is serve_calls.c's. On Windows the
 * exports return E_NOTIMPL. */
#include "hcsim_internal.h"

#ifdef _WIN32
HRESULT HcsimServiceStart(const char *socketPath, int64_t groupId) {
    (void)socketPath;
    (void)groupId;
    return E_NOTIMPL;
}
HRESULT HcsimServiceStop(void) { return E_NOTIMPL; }
HRESULT HcsimServiceQuery(const char *socketPath, HCSIM_SERVICE_STATUS *status) {
    (void)socketPath;
    (void)status;
    return E_NOTIMPL;
}
HRESULT HcsimServiceRequestStop(const char *socketPath) {
    (void)socketPath;
    return E_NOTIMPL;
}
#else
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long a stop waits for the operations in flight before it resets hcsim. */
#define STOP_DRAIN_MS 2000u
#ifndef ERROR_PATH_NOT_FOUND
#define ERROR_PATH_NOT_FOUND 3u
#endif
/* The one-shot connections of HcsimServiceQuery/RequestStop give up after this. */
#define ONESHOT_TIMEOUT_MS    5000u
/* "<path>.lock" is a symlink or not a regular file: ERROR_LOCK_VIOLATION (0x80070021). */
#define HCSIM_E_BAD_LOCK_FILE HRESULT_FROM_WIN32(33u)

/* ---- state --------------------------------------------------------------------------- */
typedef struct svc_item { /* a frame queued for the writer; owns its descriptors */
    struct svc_item *next;
    hcw_buf b;
} svc_item;

typedef struct svc_handle {
    uint32_t id;
    int kind; /* 's' system, 'p' process */
    void *h;
} svc_handle;

typedef struct svc_job { /* a blocking call on a thread of its own */
    struct svc_job *next;
    plat_thread t;
    int done;
    struct svc_call *call;
} svc_job;

typedef struct svc_conn {
    struct svc_conn *next;
    uint32_t id;
    int sock;
    plat_thread reader, writer;
    /* the writer's queue */
    plat_mutex qlock;
    plat_cond qcond;
    svc_item *head, *tail;
    int qclosed;
    /* handles, blocking jobs */
    plat_mutex hlock;
    plat_cond hcond;
    svc_handle *handles;
    size_t nh, caph;
    uint32_t next_hid;
    svc_job *jobs;
    int dying; /* set once the reader stopped: jobs end their waits */
} svc_conn;

typedef struct svc_op { /* a service-side operation of a client's CALL */
    struct svc_op *next;
    uint64_t id; /* hcsim's context */
    uint32_t conn_id;
    uint64_t token;
    int process_info;
    HCS_OPERATION op;
    int fds[MAX_RESOURCES]; /* the copies of the resources' descriptors */
    unsigned nfds;
    int replied;     /* the REPLY is queued: frames go straight to the connection */
    int finished;    /* COMPLETE built */
    svc_item *early; /* frames built before the REPLY, in order */
} svc_op;

/* A registration's NOTIFYs until its REPLY is queued: the client learns the id from the
 * REPLY, so a notification sent before it would name an id it does not know yet. */
typedef struct svc_hold {
    struct svc_hold *next;
    uint32_t conn_id, hid;
    svc_item *head, *tail;
} svc_hold;

typedef struct svc_zombie { /* a finished reader to join */
    struct svc_zombie *next;
    plat_thread t;
} svc_zombie;

static struct {
    plat_mutex lock;
    plat_cond cond; /* connections leave, operations finish */
    int running;
    int stopping;
    char *path;
    int64_t group;
    int64_t uid;
    uint64_t start_ms;
    int listener;
    plat_thread acceptor;
    svc_conn *conns;
    uint32_t nconns, next_conn_id;
    svc_op *ops;
    uint64_t next_op_id;
    svc_hold *holds;
    svc_zombie *zombies;
    uint32_t readers; /* reader threads not yet on the zombie list */
    plat_thread stopper;
    int has_stopper;
} S = {.lock = {PTHREAD_MUTEX_INITIALIZER}, .cond = {PTHREAD_COND_INITIALIZER}, .listener = -1};

/* ---- the writer ---------------------------------------------------------------------- */
static void item_free(svc_item *it) {
    for (unsigned i = 0; i < it->b.nfds; i++) close(it->b.fds[i]);
    hcw_free(&it->b);
    free(it);
}

static svc_item *item_new(hcw_type type, uint64_t seq) {
    svc_item *it = calloc(1, sizeof *it);
    if (it) hcw_begin(&it->b, type, seq);
    return it;
}

/* Queues it for c's writer (or drops it once the queue is closed). */
static void enqueue(svc_conn *c, svc_item *it) {
    if (!it) return;
    plat_mutex_lock(&c->qlock);
    if (c->qclosed) {
        plat_mutex_unlock(&c->qlock);
        item_free(it);
        return;
    }
    if (c->tail)
        c->tail->next = it;
    else
        c->head = it;
    c->tail = it;
    plat_cond_signal(&c->qcond);
    plat_mutex_unlock(&c->qlock);
}

static void writer_main(void *arg) {
    svc_conn *c = arg;
    int broken = 0;
    for (;;) {
        plat_mutex_lock(&c->qlock);
        while (!c->head && !c->qclosed) plat_cond_wait(&c->qcond, &c->qlock);
        svc_item *it = c->head;
        if (it) {
            c->head = it->next;
            if (!c->head) c->tail = NULL;
        }
        plat_mutex_unlock(&c->qlock);
        if (!it) break; /* closed and drained */
        if (!broken && hcw_send(c->sock, &it->b) < 0) {
            broken = 1; /* the reader sees the connection end */
            shutdown(c->sock, SHUT_RDWR);
        }
        item_free(it);
    }
}

/* ---- connections by id (under S.lock) ------------------------------------------------ */
static svc_conn *conn_by_id(uint32_t id) {
    for (svc_conn *c = S.conns; c; c = c->next)
        if (c->id == id) return c;
    return NULL;
}

static void enqueue_to(uint32_t conn_id, svc_item *it) { /* under S.lock */
    svc_conn *c = conn_by_id(conn_id);
    if (c)
        enqueue(c, it);
    else if (it)
        item_free(it);
}

/* ---- handles ------------------------------------------------------------------------- */
static uint32_t handle_reserve(svc_conn *c) {
    plat_mutex_lock(&c->hlock);
    uint32_t id = ++c->next_hid;
    plat_mutex_unlock(&c->hlock);
    return id;
}

static int handle_add(svc_conn *c, uint32_t id, int kind, void *h) {
    plat_mutex_lock(&c->hlock);
    if (c->nh == c->caph) {
        size_t cap = c->caph ? c->caph * 2 : 16;
        svc_handle *n = realloc(c->handles, cap * sizeof *n);
        if (!n) {
            plat_mutex_unlock(&c->hlock);
            return -1;
        }
        c->handles = n;
        c->caph = cap;
    }
    c->handles[c->nh++] = (svc_handle){id, kind, h};
    plat_mutex_unlock(&c->hlock);
    return 0;
}

/* The hcsim handle of id (of that kind); take: removed from the table. A value hcsim never
 * hands out stands for an unknown id, so the call fails as with a closed handle. */
void *serve_handle_get(svc_conn *c, uint64_t id, int kind, int take) {
    void *h = id ? (void *)(uintptr_t)UINTPTR_MAX : NULL;
    plat_mutex_lock(&c->hlock);
    for (size_t i = 0; i < c->nh; i++)
        if (c->handles[i].id == id && c->handles[i].kind == kind) {
            h = c->handles[i].h;
            if (take) c->handles[i] = c->handles[--c->nh];
            break;
        }
    plat_mutex_unlock(&c->hlock);
    return h;
}

int serve_handle_put(svc_conn *c, uint64_t id, int kind, void *h) {
    if (handle_add(c, (uint32_t)id, kind, h) == 0) return 0;
    serve_close_handle(kind, h);
    return -1;
}

void serve_close_handle(int kind, void *h) {
    switch (kind) {
    case 's': HcsCloseComputeSystem((HCS_SYSTEM)h); break;
    case 'p': HcsCloseProcess((HCS_PROCESS)h); break;
    case 'N': HcnCloseNetwork((HCN_NETWORK)h); break;
    case 'M': HcnCloseNamespace((HCN_NAMESPACE)h); break;
    case 'E': HcnCloseEndpoint((HCN_ENDPOINT)h); break;
    case 'L': HcnCloseLoadBalancer((HCN_LOADBALANCER)h); break;
    case 'G': HcnCloseGuestNetworkService((HCN_GUESTNETWORKSERVICE)h); break;
    case 'K': HcnUnregisterServiceCallback((HCN_CALLBACK)h); break;
    case 'J': HcnUnregisterGuestNetworkServiceCallback((HCN_CALLBACK)h); break;
    case 'T': HcnReleaseGuestNetworkServicePortReservationHandle((HANDLE)h); break;
    default: break;
    }
}

uint32_t serve_conn_id(svc_conn *c) { return c->id; }

int serve_conn_dying(svc_conn *c) {
    plat_mutex_lock(&c->hlock);
    int d = c->dying;
    plat_mutex_unlock(&c->hlock);
    return d;
}

/* ---- events -------------------------------------------------------------------------- */
void CALLBACK serve_forward_event(HCS_EVENT *e, void *context) {
    uint64_t v = (uint64_t)(uintptr_t)context;
    svc_item *it = item_new(HCW_EVENT, v & 0xffffffffu);
    if (!it) return;
    hcw_put_u64(&it->b, (uint64_t)e->Type);
    hcw_put_str(&it->b, e->EventData);
    plat_mutex_lock(&S.lock);
    enqueue_to((uint32_t)(v >> 32), it);
    plat_mutex_unlock(&S.lock);
}

void CALLBACK serve_forward_notification(DWORD type, void *context, HRESULT status, PCWSTR data) {
    uint64_t v = (uint64_t)(uintptr_t)context;
    svc_item *it = item_new(HCW_NOTIFY, v & 0xffffffffu);
    if (!it) return;
    hcw_put_u64(&it->b, (uint64_t)type);
    hcw_put_u64(&it->b, (uint64_t)(uint32_t)status);
    hcw_put_str(&it->b, data);
    uint32_t conn_id = (uint32_t)(v >> 32), hid = (uint32_t)v;
    plat_mutex_lock(&S.lock);
    svc_hold *h = S.holds;
    while (h && (h->conn_id != conn_id || h->hid != hid)) h = h->next;
    if (h) { /* the registration's REPLY is not queued yet: after it */
        if (h->tail)
            h->tail->next = it;
        else
            h->head = it;
        h->tail = it;
    } else {
        enqueue_to(conn_id, it);
    }
    plat_mutex_unlock(&S.lock);
}

/* A registration's notifications wait (hold_begin) until its REPLY is queued (hold_end:
 * then they follow it, or, when the registration failed, they go). */
static svc_hold *hold_begin(svc_conn *c, uint32_t hid) {
    svc_hold *h = calloc(1, sizeof *h);
    if (!h) return NULL; /* (out of memory: the registration is refused below) */
    h->conn_id = c->id;
    h->hid = hid;
    plat_mutex_lock(&S.lock);
    h->next = S.holds;
    S.holds = h;
    plat_mutex_unlock(&S.lock);
    return h;
}

static void hold_end(svc_conn *c, svc_hold *h, svc_item *reply, int registered) {
    plat_mutex_lock(&S.lock);
    for (svc_hold **p = &S.holds; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    enqueue(c, reply);
    for (svc_item *it = h->head; it;) {
        svc_item *n = it->next;
        it->next = NULL;
        if (registered)
            enqueue(c, it);
        else
            item_free(it);
        it = n;
    }
    plat_mutex_unlock(&S.lock);
    free(h);
}

/* ---- operations ---------------------------------------------------------------------- */
static svc_op *op_by_id(uint64_t id) { /* under S.lock */
    for (svc_op *o = S.ops; o; o = o->next)
        if (o->id == id) return o;
    return NULL;
}

static void op_unlink(svc_op *o) { /* under S.lock */
    for (svc_op **p = &S.ops; *p; p = &(*p)->next)
        if (*p == o) {
            *p = o->next;
            break;
        }
    plat_cond_broadcast(&S.cond);
}

/* Releases a record out of the table (no lock): its operation and descriptors. */
static void op_release(svc_op *o, int close_op) {
    if (close_op && o->op) HcsCloseOperation(o->op);
    for (unsigned i = 0; i < o->nfds; i++) close(o->fds[i]);
    while (o->early) {
        svc_item *n = o->early->next;
        item_free(o->early);
        o->early = n;
    }
    free(o);
}

/* A frame of the operation id: queued behind its REPLY. final: the COMPLETE, after which
 * the record goes. */
static void op_frame(uint64_t id, svc_item *it, int final) {
    svc_op *done = NULL;
    plat_mutex_lock(&S.lock);
    svc_op *o = op_by_id(id);
    if (!o || o->finished) {
        if (it) item_free(it);
    } else if (!o->replied) {
        svc_item **p = &o->early;
        while (*p) p = &(*p)->next;
        if (it) *p = it;
        if (final) o->finished = 1; /* the reader releases it after the REPLY */
    } else {
        enqueue_to(o->conn_id, it);
        if (final) {
            o->finished = 1;
            op_unlink(o);
            done = o;
        }
    }
    plat_mutex_unlock(&S.lock);
    if (done) op_release(done, 1);
}

/* A stdio field of COMPLETE (b may be NULL: out of memory): the descriptor behind the
 * service's pipe HANDLE (a copy the frame owns); the service's handle is closed either way
 * (handed off: the client holds the stream, and a console's end of input is typed by the
 * client when its own last handle of the stream closes), so that no pipe end stays open in
 * the service. */
static void put_pipe(hcw_buf *b, HANDLE h) {
    int fd = -1;
    if (h) {
        int own = HcsimHandleToFd(h);
        if (own >= 0 && b) fd = fcntl(own, F_DUPFD_CLOEXEC, 0);
        hc_pipe_handed_off(h);
    }
    if (b) hcw_put_fd(b, fd);
}

static void op_completed(HCS_OPERATION operation, uint64_t id) {
    int process_info = 0;
    uint64_t token = 0;
    plat_mutex_lock(&S.lock);
    svc_op *o = op_by_id(id);
    if (o) {
        process_info = o->process_info;
        token = o->token;
    }
    plat_mutex_unlock(&S.lock);
    if (!o) return;
    PWSTR doc = NULL;
    HCS_PROCESS_INFORMATION pi;
    memset(&pi, 0, sizeof pi);
    HRESULT hr = process_info ? HcsGetOperationResultAndProcessInfo(operation, &pi, &doc)
                              : HcsGetOperationResult(operation, &doc);
    svc_item *it = item_new(HCW_COMPLETE, token);
    hcw_buf *b = it ? &it->b : NULL;
    int has = process_info && SUCCEEDED(hr);
    if (b) {
        hcw_put_u64(b, (uint64_t)(uint32_t)hr);
        hcw_put_str(b, doc);
        hcw_put_u64(b, (uint64_t)has);
        if (has) hcw_put_u64(b, pi.ProcessId);
    }
    if (has) {
        put_pipe(b, pi.StdInput);
        put_pipe(b, pi.StdOutput);
        put_pipe(b, pi.StdError);
    }
    if (doc) LocalFree(doc);
    op_frame(id, it, 1);
}

static void CALLBACK op_done_cb(HCS_OPERATION operation, void *context) {
    op_completed(operation, (uint64_t)(uintptr_t)context);
}

static void CALLBACK op_event_cb(HCS_EVENT *e, void *context) {
    uint64_t id = (uint64_t)(uintptr_t)context;
    if (e->Type == HcsEventOperationCallback) {
        op_completed(e->Operation, id);
        return;
    }
    uint64_t token = 0;
    plat_mutex_lock(&S.lock);
    svc_op *o = op_by_id(id);
    if (o) token = o->token;
    plat_mutex_unlock(&S.lock);
    if (!o) return;
    svc_item *it = item_new(HCW_OPEVENT, token);
    if (it) {
        hcw_put_u64(&it->b, (uint64_t)e->Type);
        hcw_put_str(&it->b, e->EventData);
    }
    op_frame(id, it, 0);
}

/* Creates the service-side operation of call (with its resources); S_OK and *out, or why
 * not (the REPLY's HRESULT). */
static HRESULT op_begin(svc_call *call, svc_op **out) {
    *out = NULL;
    svc_op *o = calloc(1, sizeof *o);
    if (!o) return E_OUTOFMEMORY;
    o->conn_id = call->conn->id;
    o->token = call->token;
    o->process_info = call->fn == FN_HcsCreateProcess || call->fn == FN_HcsGetProcessInfo;
    plat_mutex_lock(&S.lock);
    o->id = ++S.next_op_id;
    o->next = S.ops;
    S.ops = o;
    plat_mutex_unlock(&S.lock);
    void *context = (void *)(uintptr_t)o->id;
    o->op = call->op_options ? HcsCreateOperationWithNotifications(
                                   (HCS_OPERATION_OPTIONS)call->op_options, context, op_event_cb)
                             : HcsCreateOperation(context, op_done_cb);
    HRESULT hr = o->op ? S_OK : call->op_options ? E_INVALIDARG : E_OUTOFMEMORY;
    for (unsigned i = 0; i < call->nres && hr == S_OK; i++) {
        int fd = call->res[i].fd;
        call->res[i].fd = -1;
        if (fd >= 0) o->fds[o->nfds++] = fd; /* the service's copy, closed with the record */
        hr = HcsAddResourceToOperation(o->op, (HCS_RESOURCE_TYPE)call->res[i].type,
                                       call->res[i].uri, fd >= 0 ? (HANDLE)(intptr_t)fd : NULL);
    }
    *out = o;
    return hr;
}

/* After the export's synchronous result: frames that came before the REPLY follow it; a
 * failed call closes the operation at once. reply is queued here, in that order. */
static void op_settle(svc_conn *c, svc_op *o, HRESULT hr, svc_item *reply) {
    svc_op *done = NULL;
    plat_mutex_lock(&S.lock);
    enqueue(c, reply);
    if (FAILED(hr) || o->finished) {
        for (svc_item *it = FAILED(hr) ? NULL : o->early; it;) {
            svc_item *n = it->next;
            it->next = NULL;
            enqueue(c, it);
            it = n;
        }
        if (!FAILED(hr)) o->early = NULL;
        op_unlink(o);
        done = o;
    } else {
        o->replied = 1;
        for (svc_item *it = o->early; it;) {
            svc_item *n = it->next;
            it->next = NULL;
            enqueue(c, it);
            it = n;
        }
        o->early = NULL;
    }
    plat_mutex_unlock(&S.lock);
    if (done) op_release(done, 1);
}

void serve_ops_forget(void) {
    plat_mutex_lock(&S.lock);
    svc_op *gone = NULL, **p = &S.ops;
    while (*p) {
        svc_op *o = *p;
        if (o->replied) {
            *p = o->next;
            o->next = gone;
            gone = o;
        } else
            p = &o->next;
    }
    plat_cond_broadcast(&S.cond);
    plat_mutex_unlock(&S.lock);
    while (gone) {
        svc_op *n = gone->next;
        op_release(gone, 1);
        gone = n;
    }
}

/* An 'E' result (wire.h): the count (none when there are no entries), then each entry. */
static void put_entries(hcw_buf *b, const HCN_PORT_RANGE_ENTRY *e, ULONG n) {
    if (!e) n = 0;
    hcw_put_u64(b, n);
    for (ULONG i = 0; i < n; i++) {
        hcw_put_guid(b, &e[i].OwningPartitionId);
        hcw_put_guid(b, &e[i].TargetPartitionId);
        hcw_put_u64(b, (uint64_t)e[i].Protocol);
        hcw_put_u64(b, e[i].Priority);
        hcw_put_u64(b, e[i].ReservationType);
        hcw_put_u64(b, e[i].SharingFlags);
        hcw_put_u64(b, e[i].DeliveryMode);
        hcw_put_u64(b, e[i].StartingPort);
        hcw_put_u64(b, e[i].EndingPort);
    }
}

/* Runs a decoded CALL and queues its REPLY (and, for an operation, what follows). */
static void run_call(svc_call *call) {
    svc_conn *c = call->conn;
    const char *results = hcw_results_of(call->fn);
    svc_out out;
    memset(&out, 0, sizeof out);
    const char *mk = strpbrk(results, "hpnkt"); /* the one handle a call may make */
    int makes = mk != NULL;
    int made_kind = makes ? serve_made_kind(call->fn, *mk) : 0;
    if (makes) out.hid = handle_reserve(c);
    svc_op *o = NULL;
    HRESULT hr = S_OK;
    if (call->has_op) hr = op_begin(call, &o);
    svc_hold *hold = NULL;
    if (made_kind == 'K' || made_kind == 'J') {
        hold = hold_begin(c, out.hid);
        if (!hold) hr = E_OUTOFMEMORY;
    }
    void *made = NULL;
    if (hr == S_OK)
        hr = call->fn >= HCW_CTL_BASE ? serve_run_control(call, &out)
                                      : serve_run_export(call, o ? o->op : NULL, &out, &made);
    if (makes && made && handle_add(c, out.hid, made_kind, made) < 0) {
        serve_close_handle(made_kind, made);
        made = NULL;
    }
    svc_item *reply = item_new(HCW_REPLY, call->seq);
    if (reply) {
        hcw_put_u64(&reply->b, (uint64_t)(uint32_t)hr);
        unsigned k = 0, w = 0;
        for (const char *r = results; *r; r++) switch (*r) {
            case 'h':
            case 'p':
            case 'n':
            case 'k':
            case 't': hcw_put_u64(&reply->b, made ? out.hid : 0); break;
            case 's': hcw_put_str(&reply->b, out.str); break;
            case 'w': hcw_put_str(&reply->b, w < 2 ? out.w[w++] : NULL); break;
            case 'R':
                hcw_put_u64(&reply->b, out.range.startingPort);
                hcw_put_u64(&reply->b, out.range.endingPort);
                break;
            case 'E': put_entries(&reply->b, out.entries, out.nentries); break;
            default: /* the count before 'E' is the entries' (none without them) */
                hcw_put_u64(&reply->b, r[1] == 'E' ? (out.entries ? out.nentries : 0) : out.u[k++]);
                break;
            }
    }
    if (out.str) LocalFree(out.str);
    for (int i = 0; i < 2; i++)
        if (out.w[i]) CoTaskMemFree(out.w[i]);
    if (out.entries) HcnFreeGuestNetworkPortReservations(out.entries);
    if (o)
        op_settle(c, o, hr, reply);
    else if (hold)
        hold_end(c, hold, reply, made != NULL);
    else
        enqueue(c, reply);
    serve_call_free(call);
}

static void job_main(void *arg) {
    svc_job *j = arg;
    svc_conn *c = j->call->conn;
    run_call(j->call);
    plat_mutex_lock(&c->hlock);
    j->done = 1;
    plat_cond_broadcast(&c->hcond);
    plat_mutex_unlock(&c->hlock);
}

/* Joins c's finished jobs (all: waits for every one). */
static void jobs_reap(svc_conn *c, int all) {
    for (;;) {
        svc_job *ready = NULL;
        plat_mutex_lock(&c->hlock);
        for (;;) {
            for (svc_job **p = &c->jobs; *p; p = &(*p)->next)
                if ((*p)->done) {
                    ready = *p;
                    *p = ready->next;
                    break;
                }
            if (ready || !all || !c->jobs) break;
            plat_cond_wait(&c->hcond, &c->hlock);
        }
        plat_mutex_unlock(&c->hlock);
        if (!ready) return;
        plat_thread_join(&ready->t);
        free(ready);
    }
}

static void spawn_job(svc_call *call) {
    svc_conn *c = call->conn;
    jobs_reap(c, 0);
    svc_job *j = calloc(1, sizeof *j);
    if (!j) {
        run_call(call); /* no memory for a thread: on the reader, then */
        return;
    }
    j->call = call;
    plat_mutex_lock(&c->hlock);
    if (plat_thread_create(&j->t, job_main, j) != 0) {
        plat_mutex_unlock(&c->hlock);
        free(j);
        run_call(call);
        return;
    }
    j->next = c->jobs;
    c->jobs = j;
    plat_mutex_unlock(&c->hlock);
}

/* ---- a connection -------------------------------------------------------------------- */
static void reply_welcome(svc_conn *c, HRESULT hr) {
    svc_item *it = item_new(HCW_WELCOME, 0);
    if (!it) return;
    hcw_put_u64(&it->b, (uint64_t)(uint32_t)hr);
    hcw_put_u64(&it->b, HCW_VERSION);
    hcw_put_u64(&it->b, (uint64_t)getpid());
    enqueue(c, it);
}

/* A connection that has not said HELLO within this is closed (tests lower it). */
uint32_t serve_hello_deadline_ms = 10000u;

/* HELLO and WELCOME: 1 when the client may go on. */
static int handshake(svc_conn *c) {
    int64_t uid = -1, gid = -1, pid = 0;
    int admitted = plat_unix_peer(c->sock, &uid, &gid, &pid) == 0 &&
                   plat_unix_admits(uid, gid, S.uid, S.group);
    hcw_msg m;
    plat_unix_recv_timeout(c->sock, serve_hello_deadline_ms);
    int got = hcw_recv(c->sock, &m);
    plat_unix_recv_timeout(c->sock, 0);
    if (got != 1 || m.type != HCW_HELLO) {
        hcw_msg_free(&m);
        return 0;
    }
    uint64_t version = 0, build = 0, cpid = 0;
    int ok = hcw_get_u64(&m, &version) && hcw_get_u64(&m, &build) && hcw_get_u64(&m, &cpid) &&
             hcw_end(&m);
    hcw_msg_free(&m);
    if (!ok) return 0;
    HRESULT hr = !admitted                                           ? E_ACCESSDENIED
                 : version != HCW_VERSION || build != hcw_build_id() ? HCS_E_PROTOCOL_ERROR
                                                                     : S_OK;
    reply_welcome(c, hr);
    return hr == S_OK;
}

static void conn_free(svc_conn *c) {
    plat_mutex_destroy(&c->qlock);
    plat_cond_destroy(&c->qcond);
    plat_mutex_destroy(&c->hlock);
    plat_cond_destroy(&c->hcond);
    free(c->handles);
    free(c);
}

/* The end of a connection: no more frames to it, its handles closed, its threads joined. */
static void conn_teardown(svc_conn *c) {
    plat_mutex_lock(&S.lock);
    for (svc_conn **p = &S.conns; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            S.nconns--;
            break;
        }
    plat_mutex_unlock(&S.lock);
    plat_mutex_lock(&c->hlock);
    c->dying = 1;
    svc_handle *hs = c->handles;
    size_t nh = c->nh;
    c->handles = NULL;
    c->nh = c->caph = 0;
    plat_mutex_unlock(&c->hlock);
    for (size_t i = 0; i < nh; i++) serve_close_handle(hs[i].kind, hs[i].h);
    free(hs);
    jobs_reap(c, 1);
    /* jobs may have added handles before they saw the end */
    plat_mutex_lock(&c->hlock);
    hs = c->handles;
    nh = c->nh;
    c->handles = NULL;
    c->nh = 0;
    plat_mutex_unlock(&c->hlock);
    for (size_t i = 0; i < nh; i++) serve_close_handle(hs[i].kind, hs[i].h);
    free(hs);
    plat_mutex_lock(&c->qlock);
    c->qclosed = 1;
    plat_cond_signal(&c->qcond);
    plat_mutex_unlock(&c->qlock);
    plat_thread_join(&c->writer);
    close(c->sock);
    svc_zombie *z = calloc(1, sizeof *z);
    plat_mutex_lock(&S.lock);
    if (z) {
        z->t = c->reader;
        z->next = S.zombies;
        S.zombies = z;
    }
    S.readers--;
    plat_cond_broadcast(&S.cond);
    plat_mutex_unlock(&S.lock);
    conn_free(c);
}

static void reader_main(void *arg) {
    svc_conn *c = arg;
    if (handshake(c))
        for (;;) {
            hcw_msg m;
            if (hcw_recv(c->sock, &m) != 1 || m.type != HCW_CALL) {
                hcw_msg_free(&m);
                break; /* the end, or garbage: this client goes */
            }
            svc_call *call = serve_decode_call(c, &m);
            hcw_msg_free(&m);
            if (!call) break;
            if (serve_blocking(call->fn))
                spawn_job(call);
            else
                run_call(call);
        }
    conn_teardown(c);
}

/* Joins the readers that finished. */
static void zombies_reap(void) {
    plat_mutex_lock(&S.lock);
    svc_zombie *z = S.zombies;
    S.zombies = NULL;
    plat_mutex_unlock(&S.lock);
    while (z) {
        svc_zombie *n = z->next;
        plat_thread_join(&z->t);
        free(z);
        z = n;
    }
}

static void acceptor_main(void *arg) {
    (void)arg;
    for (;;) {
        plat_fd s;
        int err = plat_unix_accept(S.listener, &s);
        plat_mutex_lock(&S.lock);
        int stopping = S.stopping;
        plat_mutex_unlock(&S.lock);
        if (stopping) {
            if (!err) close(s);
            return;
        }
        if (err) {
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
                plat_sleep_ms(10);
            else if (err != EINTR && err != ECONNABORTED)
                return;
            continue;
        }
        zombies_reap();
        svc_conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(s);
            continue;
        }
        c->sock = s;
        plat_mutex_init(&c->qlock);
        plat_cond_init(&c->qcond);
        plat_mutex_init(&c->hlock);
        plat_cond_init(&c->hcond);
        plat_mutex_lock(&S.lock);
        c->id = ++S.next_conn_id;
        if (plat_thread_create(&c->writer, writer_main, c) != 0) {
            plat_mutex_unlock(&S.lock);
            close(s);
            conn_free(c);
            continue;
        }
        c->next = S.conns;
        S.conns = c;
        S.nconns++;
        S.readers++;
        if (plat_thread_create(&c->reader, reader_main, c) != 0) {
            S.readers--;
            S.conns = c->next;
            S.nconns--;
            plat_mutex_unlock(&S.lock);
            plat_mutex_lock(&c->qlock);
            c->qclosed = 1;
            plat_cond_signal(&c->qcond);
            plat_mutex_unlock(&c->qlock);
            plat_thread_join(&c->writer);
            close(s);
            conn_free(c);
            continue;
        }
        plat_mutex_unlock(&S.lock);
    }
}

/* ---- start, stop, status ------------------------------------------------------------- */
void serve_status(HCSIM_SERVICE_STATUS *st) {
    HCSIM_COUNTS k;
    HcsimGetCounts(&k);
    plat_mutex_lock(&S.lock);
    st->ProcessId = (uint32_t)getpid();
    st->Clients = S.nconns;
    st->Systems = k.Systems;
    st->Version = HCW_VERSION;
    st->UptimeMs = S.running ? plat_now_ms() - S.start_ms : 0;
    plat_mutex_unlock(&S.lock);
}

static plat_mutex stop_lock = {PTHREAD_MUTEX_INITIALIZER};

static void stop_body(void) {
    plat_mutex_lock(&stop_lock);
    plat_mutex_lock(&S.lock);
    if (!S.running) {
        plat_mutex_unlock(&S.lock);
        plat_mutex_unlock(&stop_lock);
        return;
    }
    S.stopping = 1;
    plat_mutex_unlock(&S.lock);
    /* the acceptor wakes (a connection of our own), sees the stop and ends */
    plat_fd wake;
    if (plat_unix_connect(S.path, &wake) == 0) close(wake);
    shutdown(S.listener, SHUT_RDWR);
    plat_thread_join(&S.acceptor);
    plat_unix_unlisten(S.path, S.listener);
    S.listener = -1;
    /* STOPPING to every client; its reader sees the end */
    plat_mutex_lock(&S.lock);
    for (svc_conn *c = S.conns; c; c = c->next) {
        svc_item *it = item_new(HCW_STOPPING, 0);
        if (it) hcw_put_u64(&it->b, (uint64_t)(uint32_t)HCS_E_SERVICE_DISCONNECT);
        enqueue(c, it);
        shutdown(c->sock, SHUT_RD);
    }
    while (S.readers) plat_cond_wait(&S.cond, &S.lock);
    plat_mutex_unlock(&S.lock);
    zombies_reap();
    /* the operations in flight complete (their frames go nowhere), then the host resets */
    plat_mutex_lock(&S.lock);
    uint64_t deadline = plat_now_ms() + STOP_DRAIN_MS;
    while (S.ops && plat_now_ms() < deadline) plat_cond_timedwait(&S.cond, &S.lock, 50);
    plat_mutex_unlock(&S.lock);
    HcsimReset();
    plat_mutex_lock(&S.lock);
    svc_op *gone = S.ops;
    S.ops = NULL;
    free(S.path);
    S.path = NULL;
    S.running = 0;
    S.stopping = 0;
    plat_mutex_unlock(&S.lock);
    while (gone) {
        svc_op *n = gone->next;
        op_release(gone, 1);
        gone = n;
    }
    plat_mutex_unlock(&stop_lock);
}

static void stopper_main(void *arg) {
    (void)arg;
    stop_body();
}

/* HcsimServiceRequestStop served: the stop runs on a thread of its own (it joins the
 * readers, this one included). */
void serve_request_stop(void) {
    plat_mutex_lock(&S.lock);
    if (!S.has_stopper && S.running && !S.stopping &&
        plat_thread_create(&S.stopper, stopper_main, NULL) == 0)
        S.has_stopper = 1;
    plat_mutex_unlock(&S.lock);
}

static void stopper_join(void) {
    plat_mutex_lock(&S.lock);
    int has = S.has_stopper;
    plat_thread t = S.stopper;
    S.has_stopper = 0;
    plat_mutex_unlock(&S.lock);
    if (has) plat_thread_join(&t);
}

static HRESULT hr_of_errno(int err) {
    switch (err) {
    case 0: return S_OK;
    case EEXIST: return HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
    case ENOTSOCK: return HC_E_NOT_A_SOCKET;
    case ELOOP: return HCSIM_E_BAD_LOCK_FILE;
    case ENOENT:
    case ECONNREFUSED: return HCS_E_SERVICE_NOT_AVAILABLE;
    case EACCES:
    case EPERM: return E_ACCESSDENIED;
    case ENOMEM: return E_OUTOFMEMORY;
    case EINVAL:
    case ENAMETOOLONG: return E_INVALIDARG;
    default: return E_FAIL;
    }
}

HRESULT HcsimServiceStart(const char *socketPath, int64_t groupId) {
    if (!socketPath || !socketPath[0]) return E_INVALIDARG;
    stopper_join(); /* a stop requested earlier has finished */
    plat_mutex_lock(&stop_lock);
    plat_mutex_lock(&S.lock);
    HRESULT hr = S.running ? HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS) : S_OK;
    plat_mutex_unlock(&S.lock);
    char *path = hr == S_OK ? strdup(socketPath) : NULL;
    if (hr == S_OK && !path) hr = E_OUTOFMEMORY;
    plat_fd l = PLAT_NO_FD;
    if (hr == S_OK) {
        int err = plat_unix_listen(path, groupId, &l);
        /* the directory of the socket missing is the caller's mistake */
        hr = err == ENOENT ? HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND) : hr_of_errno(err);
    }
    if (hr == S_OK) {
        plat_mutex_lock(&S.lock);
        S.path = path;
        S.group = groupId < 0 ? -1 : groupId;
        S.uid = (int64_t)geteuid();
        S.start_ms = plat_now_ms();
        S.listener = l;
        S.running = 1;
        S.stopping = 0;
        if (plat_thread_create(&S.acceptor, acceptor_main, NULL) != 0) {
            S.running = 0;
            S.path = NULL;
            S.listener = -1;
            hr = E_OUTOFMEMORY;
        }
        plat_mutex_unlock(&S.lock);
        if (hr != S_OK) plat_unix_unlisten(path, l);
    }
    if (hr != S_OK) free(path);
    plat_mutex_unlock(&stop_lock);
    return hr;
}

HRESULT HcsimServiceStop(void) {
    stop_body();
    stopper_join();
    return S_OK;
}

/* ---- one-shot clients ---------------------------------------------------------------- */
/* A connection to the service on path for one control call; results[] its 'u' results. */
static HRESULT oneshot(const char *path, hcw_ctl ctl, uint64_t *results, unsigned n) {
    if (!path || !path[0]) return E_INVALIDARG;
    plat_fd s;
    int err = plat_unix_connect(path, &s);
    if (err)
        return err == ENAMETOOLONG || err == EINVAL ? E_INVALIDARG
               : err == EACCES || err == EPERM      ? E_ACCESSDENIED
               : err == ENOTSOCK                    ? HC_E_NOT_A_SOCKET
                                                    : HCS_E_SERVICE_NOT_AVAILABLE;
    plat_unix_recv_timeout(s, ONESHOT_TIMEOUT_MS);
    HRESULT hr = HCS_E_SERVICE_DISCONNECT;
    hcw_buf b = {0};
    hcw_msg m;
    memset(&m, 0, sizeof m);
    hcw_begin(&b, HCW_HELLO, 0);
    hcw_put_u64(&b, HCW_VERSION);
    hcw_put_u64(&b, hcw_build_id());
    hcw_put_u64(&b, (uint64_t)getpid());
    if (hcw_send(s, &b) < 0 || hcw_recv(s, &m) != 1) goto out;
    uint64_t v = 0, version = 0, pid = 0;
    if (m.type != HCW_WELCOME || !hcw_get_u64(&m, &v) || !hcw_get_u64(&m, &version) ||
        !hcw_get_u64(&m, &pid) || !hcw_end(&m)) {
        hr = HCS_E_PROTOCOL_ERROR;
        goto out;
    }
    hcw_msg_free(&m);
    if ((HRESULT)(uint32_t)v != S_OK) {
        hr = (HRESULT)(uint32_t)v;
        goto out;
    }
    hcw_begin(&b, HCW_CALL, 1);
    hcw_put_u64(&b, (uint64_t)ctl);
    if (hcw_send(s, &b) < 0 || hcw_recv(s, &m) != 1) goto out;
    if (m.type != HCW_REPLY || m.seq != 1 || !hcw_get_u64(&m, &v)) {
        hr = HCS_E_PROTOCOL_ERROR;
        goto out;
    }
    for (unsigned i = 0; i < n; i++) hcw_get_u64(&m, &results[i]);
    hr = hcw_end(&m) ? (HRESULT)(uint32_t)v : HCS_E_PROTOCOL_ERROR;
out:
    hcw_msg_free(&m);
    hcw_free(&b);
    close(s);
    return hr;
}

HRESULT HcsimServiceQuery(const char *socketPath, HCSIM_SERVICE_STATUS *status) {
    if (!status) return E_POINTER;
    uint64_t r[5] = {0};
    HRESULT hr = oneshot(socketPath, HCW_CTL_HcsimServiceStatus, r, 5);
    memset(status, 0, sizeof *status);
    if (hr == S_OK) {
        status->ProcessId = (uint32_t)r[0];
        status->Clients = (uint32_t)r[1];
        status->Systems = (uint32_t)r[2];
        status->Version = (uint32_t)r[3];
        status->UptimeMs = r[4];
    }
    return hr;
}

HRESULT HcsimServiceRequestStop(const char *socketPath) {
    return oneshot(socketPath, HCW_CTL_HcsimServiceRequestStop, NULL, 0);
}
#endif
