/* hcsim's service mode, the service side (README "Service mode: the service and the
 * protocol"): C threads that accept clients on a Unix socket and run their calls (wire.h)
 * against this process's own hcsim.
 *
 * Threads: one accept thread; per connection a reader (decodes CALLs and runs them) and a
 * writer (sends the frames of an unbounded queue, so an hcsim callback only enqueues);
 * calls that can block run on a thread of their own so the reader keeps reading. hcsim's
 * callbacks get integer contexts (a connection id and handle id, or an operation record
 * id) that are looked up under the service lock, never pointers: a late callback for a
 * closed connection is dropped. On Windows the exports return E_NOTIMPL. */
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
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A wait for exit runs in slices of this length, so that a connection going away ends
 * it (closing a handle does not wake hcsim's waits). */
#define WAIT_SLICE_MS 200u
/* How long a stop waits for the operations in flight before it resets hcsim. */
#define STOP_DRAIN_MS 2000u
#ifndef ERROR_PATH_NOT_FOUND
#define ERROR_PATH_NOT_FOUND 3u
#endif
/* Resources one operation may carry. */
#define MAX_RESOURCES      16u
/* The one-shot connections of HcsimServiceQuery/RequestStop give up after this. */
#define ONESHOT_TIMEOUT_MS 5000u

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
    svc_zombie *zombies;
    uint32_t readers; /* reader threads not yet on the zombie list */
    plat_thread stopper;
    int has_stopper;
} S = {.lock = {PTHREAD_MUTEX_INITIALIZER}, .cond = {PTHREAD_COND_INITIALIZER}, .listener = -1};

/* The decoded arguments of a CALL. */
typedef struct svc_arg {
    char kind;
    uint64_t u;
    char16_t *s;
    char *b;
    int fd;
} svc_arg;

typedef struct svc_call {
    svc_conn *conn;
    uint64_t seq;
    uint32_t fn;
    svc_arg a[8];
    unsigned n;
    /* the operation ('o') */
    int has_op;
    uint64_t token, op_options;
    unsigned nres;
    struct {
        uint64_t type;
        char16_t *uri;
        int fd;
    } res[MAX_RESOURCES];
} svc_call;

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
static void *handle_get(svc_conn *c, uint64_t id, int kind, int take) {
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

static void close_handle(int kind, void *h) {
    if (kind == 's')
        HcsCloseComputeSystem((HCS_SYSTEM)h);
    else
        HcsCloseProcess((HCS_PROCESS)h);
}

/* ---- events -------------------------------------------------------------------------- */
static void *event_context(uint32_t conn_id, uint32_t hid) {
    return (void *)(uintptr_t)(((uint64_t)conn_id << 32) | hid);
}

static void CALLBACK forward_event(HCS_EVENT *e, void *context) {
    uint64_t v = (uint64_t)(uintptr_t)context;
    svc_item *it = item_new(HCW_EVENT, v & 0xffffffffu);
    if (!it) return;
    hcw_put_u64(&it->b, (uint64_t)e->Type);
    hcw_put_str(&it->b, e->EventData);
    plat_mutex_lock(&S.lock);
    enqueue_to((uint32_t)(v >> 32), it);
    plat_mutex_unlock(&S.lock);
}

/* Operation completions are the client's business (it keeps its operations). */
static HCS_EVENT_OPTIONS forwarded_options(uint64_t options) {
    return (HCS_EVENT_OPTIONS)((uint32_t)options &
                               ~(uint32_t)HcsEventOptionEnableOperationCallbacks);
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
 * service's pipe HANDLE (a copy the frame owns); the service's handle is closed either way,
 * so that no pipe end stays open in the service. */
static void put_pipe(hcw_buf *b, HANDLE h) {
    int fd = -1;
    if (h) {
        int own = HcsimHandleToFd(h);
        if (own >= 0 && b) fd = fcntl(own, F_DUPFD_CLOEXEC, 0);
        CloseHandle(h);
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

/* ---- calls --------------------------------------------------------------------------- */
typedef struct svc_out { /* a call's results */
    uint32_t hid;        /* a new handle's id ('h'/'p') */
    PWSTR str;           /* a returned string ('s'), LocalFree'd */
    uint64_t u[8];       /* 'u' and 'i' results in order */
} svc_out;

typedef HRESULT(WINAPI *sys_op_fn)(HCS_SYSTEM, HCS_OPERATION, PCWSTR);
typedef HRESULT(WINAPI *proc_op_fn)(HCS_PROCESS, HCS_OPERATION, PCWSTR);
typedef HRESULT(WINAPI *str1_fn)(PCWSTR);
typedef HRESULT(WINAPI *str2_fn)(PCWSTR, PCWSTR);
typedef HRESULT(WINAPI *str3_fn)(PCWSTR, PCWSTR, PCWSTR);
typedef HRESULT(WINAPI *str4_fn)(PCWSTR, PCWSTR, PCWSTR, PCWSTR);

static sys_op_fn sys_op_of(uint32_t fn) {
    switch (fn) {
    case FN_HcsStartComputeSystem: return HcsStartComputeSystem;
    case FN_HcsShutDownComputeSystem: return HcsShutDownComputeSystem;
    case FN_HcsTerminateComputeSystem: return HcsTerminateComputeSystem;
    case FN_HcsCrashComputeSystem: return HcsCrashComputeSystem;
    case FN_HcsPauseComputeSystem: return HcsPauseComputeSystem;
    case FN_HcsResumeComputeSystem: return HcsResumeComputeSystem;
    case FN_HcsSaveComputeSystem: return HcsSaveComputeSystem;
    case FN_HcsGetComputeSystemProperties: return HcsGetComputeSystemProperties;
    case FN_HcsInitializeLiveMigrationOnSource: return HcsInitializeLiveMigrationOnSource;
    case FN_HcsStartLiveMigrationOnSource: return HcsStartLiveMigrationOnSource;
    case FN_HcsStartLiveMigrationTransfer: return HcsStartLiveMigrationTransfer;
    case FN_HcsFinalizeLiveMigration: return HcsFinalizeLiveMigration;
    case FN_HcsCancelLiveMigration: return HcsCancelLiveMigration;
    default: return NULL;
    }
}

static proc_op_fn proc_op_of(uint32_t fn) {
    switch (fn) {
    case FN_HcsTerminateProcess: return HcsTerminateProcess;
    case FN_HcsSignalProcess: return HcsSignalProcess;
    case FN_HcsGetProcessProperties: return HcsGetProcessProperties;
    case FN_HcsModifyProcess: return HcsModifyProcess;
    default: return NULL;
    }
}

static str1_fn str1_of(uint32_t fn) {
    switch (fn) {
    case FN_HcsSubmitWerReport: return HcsSubmitWerReport;
    case FN_HcsCreateEmptyGuestStateFile: return HcsCreateEmptyGuestStateFile;
    case FN_HcsCreateEmptyRuntimeStateFile: return HcsCreateEmptyRuntimeStateFile;
    case FN_HcsGrantVmGroupAccess: return HcsGrantVmGroupAccess;
    case FN_HcsRevokeVmGroupAccess: return HcsRevokeVmGroupAccess;
    case FN_HcsDestroyLayer: return HcsDestroyLayer;
    case FN_HcsDetachLayerStorageFilter: return HcsDetachLayerStorageFilter;
    default: return NULL;
    }
}

static str2_fn str2_of(uint32_t fn) {
    switch (fn) {
    case FN_HcsGrantVmAccess: return HcsGrantVmAccess;
    case FN_HcsRevokeVmAccess: return HcsRevokeVmAccess;
    case FN_HcsAttachLayerStorageFilter: return HcsAttachLayerStorageFilter;
    case FN_HcsAttachOverlayFilter: return HcsAttachOverlayFilter;
    case FN_HcsDetachOverlayFilter: return HcsDetachOverlayFilter;
    default: return NULL;
    }
}

static str3_fn str3_of(uint32_t fn) {
    switch (fn) {
    case FN_HcsImportLayer: return HcsImportLayer;
    case FN_HcsInitializeWritableLayer: return HcsInitializeWritableLayer;
    case FN_HcsSetupBaseOSVolume: return HcsSetupBaseOSVolume;
    default: return NULL;
    }
}

static str4_fn str4_of(uint32_t fn) {
    switch (fn) {
    case FN_HcsExportLayer: return HcsExportLayer;
    case FN_HcsExportLegacyWritableLayer: return HcsExportLegacyWritableLayer;
    case FN_HcsInitializeLegacyWritableLayer: return HcsInitializeLegacyWritableLayer;
    default: return NULL;
    }
}

static int conn_dying(svc_conn *c) {
    plat_mutex_lock(&c->hlock);
    int d = c->dying;
    plat_mutex_unlock(&c->hlock);
    return d;
}

/* HcsWaitFor*Exit in slices: a connection that goes away ends the wait. */
static HRESULT wait_exit(svc_conn *c, int kind, void *h, DWORD timeout, PWSTR *out) {
    uint64_t start = plat_now_ms();
    for (;;) {
        DWORD slice = WAIT_SLICE_MS;
        uint64_t elapsed = plat_now_ms() - start;
        if (timeout != INFINITE) {
            uint64_t left = elapsed >= timeout ? 0 : timeout - elapsed;
            if (left < slice) slice = (DWORD)left;
        }
        HRESULT hr = kind == 's' ? HcsWaitForComputeSystemExit((HCS_SYSTEM)h, slice, out)
                                 : HcsWaitForProcessExit((HCS_PROCESS)h, slice, out);
        if (hr != HCS_E_OPERATION_TIMEOUT || conn_dying(c)) return hr;
        if (timeout != INFINITE && plat_now_ms() - start >= timeout) return hr;
    }
}

static void request_stop(void);
static void serve_status(HCSIM_SERVICE_STATUS *st);

/* hcsim's handle (of a CALL's argument i, or a new one) and the callback context of a new
 * handle id; the handles a call makes join the table in run_call. */
#define ARG_S(i)           (call->a[i].s)
#define ARG_U(i)           (call->a[i].u)
#define ARG_B(i)           (call->a[i].b)
#define ARG_FD(i)          (call->a[i].fd >= 0 ? (HANDLE)(intptr_t)call->a[i].fd : NULL)
#define ARG_SYS(i)         ((HCS_SYSTEM)handle_get(c, call->a[i].u, 's', 0))
#define ARG_PROC(i)        ((HCS_PROCESS)handle_get(c, call->a[i].u, 'p', 0))

/* The control calls. */
static HRESULT run_control(svc_call *call, svc_out *out) {
/* a function name that may be NULL: "u" present, then "b" */
#define ARG_NAME           (ARG_U(0) ? ARG_B(1) : NULL)
    switch (call->fn) {
    case HCW_CTL_HcsimFailNext:
        return HcsimFailNext(ARG_NAME, (uint32_t)ARG_U(2), (HRESULT)(uint32_t)ARG_U(3),
                             (HCSIM_FAULT_MODE)ARG_U(4));
    case HCW_CTL_HcsimSetDelay:
        return HcsimSetDelay(ARG_NAME, (uint32_t)ARG_U(2), (uint32_t)ARG_U(3));
    case HCW_CTL_HcsimSetExportHidden: return HcsimSetExportHidden(ARG_NAME, (BOOL)ARG_U(2));
    case HCW_CTL_HcsimIsExportAvailable:
        out->u[0] = (uint64_t)HcsimIsExportAvailable(ARG_NAME);
        return S_OK;
    case HCW_CTL_HcsimCrashSystem: return HcsimCrashSystem(ARG_S(0), ARG_S(1));
    case HCW_CTL_HcsimGuestShutdown: return HcsimGuestShutdown(ARG_S(0), ARG_S(1));
    case HCW_CTL_HcsimRaiseSystemEvent:
        return HcsimRaiseSystemEvent(ARG_S(0), ARG_S(1), (uint32_t)ARG_U(2), ARG_S(3));
    case HCW_CTL_HcsimDisconnectService: return HcsimDisconnectService();
    case HCW_CTL_HcsimSetOption: return HcsimSetOption(ARG_B(0), (int64_t)ARG_U(1));
    case HCW_CTL_HcsimGetOption: {
        int64_t v = 0;
        HRESULT hr = HcsimGetOption(ARG_B(0), &v);
        out->u[0] = (uint64_t)v;
        return hr;
    }
    case HCW_CTL_HcsimGetCounts: {
        HCSIM_COUNTS k;
        HcsimGetCounts(&k);
        uint32_t v[8] = {k.Operations,     k.PendingOperations, k.Systems,     k.SystemHandles,
                         k.ProcessHandles, k.Processes,         k.PipeHandles, k.Documents};
        for (int i = 0; i < 8; i++) out->u[i] = v[i];
        return S_OK;
    }
    case HCW_CTL_HcsimReset: {
        HRESULT hr = HcsimReset();
        /* hcsim detached every callback: no operation of the service completes now */
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
        return hr;
    }
    case HCW_CTL_HcsimServiceStatus: {
        HCSIM_SERVICE_STATUS st;
        serve_status(&st);
        out->u[0] = st.ProcessId;
        out->u[1] = st.Clients ? st.Clients - 1 : 0; /* the others: not the one asking */
        out->u[2] = st.Systems;
        out->u[3] = st.Version;
        out->u[4] = st.UptimeMs;
        return S_OK;
    }
    case HCW_CTL_HcsimServiceRequestStop: request_stop(); return S_OK;
    default: return E_NOTIMPL;
    }
}

/* The computecore/computestorage calls; op is the service-side operation when the
 * signature has one. */
static HRESULT run_export(svc_call *call, HCS_OPERATION op, svc_out *out, void **made) {
    svc_conn *c = call->conn;
    uint32_t fn = call->fn;
    if (sys_op_of(fn)) return sys_op_of(fn)(ARG_SYS(0), op, ARG_S(2));
    if (proc_op_of(fn)) return proc_op_of(fn)(ARG_PROC(0), op, ARG_S(2));
    if (str1_of(fn)) return str1_of(fn)(ARG_S(0));
    if (str2_of(fn)) return str2_of(fn)(ARG_S(0), ARG_S(1));
    if (str3_of(fn)) return str3_of(fn)(ARG_S(0), ARG_S(1), ARG_S(2));
    if (str4_of(fn)) return str4_of(fn)(ARG_S(0), ARG_S(1), ARG_S(2), ARG_S(3));
    switch (fn) {
    case FN_HcsEnumerateComputeSystems: return HcsEnumerateComputeSystems(ARG_S(0), op);
    case FN_HcsEnumerateComputeSystemsInNamespace:
        return HcsEnumerateComputeSystemsInNamespace(ARG_S(0), ARG_S(1), op);
    case FN_HcsCreateComputeSystem:
        return HcsCreateComputeSystem(ARG_S(0), ARG_S(1), op, NULL, (HCS_SYSTEM *)made);
    case FN_HcsCreateComputeSystemInNamespace: {
        HCS_CREATE_OPTIONS_1 o;
        memset(&o, 0, sizeof o);
        o.Version = HcsCreateOptions_1;
        o.CallbackOptions = forwarded_options(ARG_U(5));
        o.CallbackContext = event_context(c->id, out->hid);
        o.Callback = forward_event;
        return HcsCreateComputeSystemInNamespace(ARG_S(0), ARG_S(1), ARG_S(2), op,
                                                 ARG_U(4) ? (const HCS_CREATE_OPTIONS *)&o : NULL,
                                                 (HCS_SYSTEM *)made);
    }
    case FN_HcsOpenComputeSystem:
        return HcsOpenComputeSystem(ARG_S(0), (DWORD)ARG_U(1), (HCS_SYSTEM *)made);
    case FN_HcsOpenComputeSystemInNamespace:
        return HcsOpenComputeSystemInNamespace(ARG_S(0), ARG_S(1), (DWORD)ARG_U(2),
                                               (HCS_SYSTEM *)made);
    case FN_HcsCloseComputeSystem:
    case FN_HcsCloseProcess: {
        int kind = fn == FN_HcsCloseComputeSystem ? 's' : 'p';
        void *h = handle_get(c, ARG_U(0), kind, 1);
        if (h && h != (void *)(uintptr_t)UINTPTR_MAX) close_handle(kind, h);
        return S_OK;
    }
    case FN_HcsModifyComputeSystem:
        return HcsModifyComputeSystem(ARG_SYS(0), op, ARG_S(2), ARG_FD(3));
    case FN_HcsWaitForComputeSystemExit:
        return wait_exit(c, 's', ARG_SYS(0), (DWORD)ARG_U(1), &out->str);
    case FN_HcsWaitForProcessExit:
        return wait_exit(c, 'p', ARG_PROC(0), (DWORD)ARG_U(1), &out->str);
    case FN_HcsSetComputeSystemCallback:
        return HcsSetComputeSystemCallback(ARG_SYS(0), forwarded_options(ARG_U(1)),
                                           event_context(c->id, (uint32_t)ARG_U(0)), forward_event);
    case FN_HcsSetProcessCallback:
        return HcsSetProcessCallback(ARG_PROC(0), forwarded_options(ARG_U(1)),
                                     event_context(c->id, (uint32_t)ARG_U(0)), forward_event);
    case FN_HcsCreateProcess:
        return HcsCreateProcess(ARG_SYS(0), ARG_S(1), op, NULL, (HCS_PROCESS *)made);
    case FN_HcsOpenProcess:
        return HcsOpenProcess(ARG_SYS(0), (DWORD)ARG_U(1), (DWORD)ARG_U(2), (HCS_PROCESS *)made);
    case FN_HcsGetProcessInfo: return HcsGetProcessInfo(ARG_PROC(0), op);
    case FN_HcsGetServiceProperties: return HcsGetServiceProperties(ARG_S(0), &out->str);
    case FN_HcsModifyServiceSettings: return HcsModifyServiceSettings(ARG_S(0), &out->str);
    case FN_HcsGetProcessorCompatibilityFromSavedState:
        return HcsGetProcessorCompatibilityFromSavedState(ARG_S(0), (PCWSTR *)&out->str);
    case FN_HcsSetupBaseOSLayer: return HcsSetupBaseOSLayer(ARG_S(0), ARG_FD(1), ARG_S(2));
    case FN_HcsFormatWritableLayerVhd: return HcsFormatWritableLayerVhd(ARG_FD(0));
    case FN_HcsGetLayerVhdMountPath: return HcsGetLayerVhdMountPath(ARG_FD(0), &out->str);
    default: return E_NOTIMPL;
    }
}

static void call_free(svc_call *call) {
    for (unsigned i = 0; i < call->n; i++) {
        free(call->a[i].s);
        free(call->a[i].b);
        if (call->a[i].fd >= 0) close(call->a[i].fd);
    }
    for (unsigned i = 0; i < call->nres; i++) {
        free(call->res[i].uri);
        if (call->res[i].fd >= 0) close(call->res[i].fd);
    }
    free(call);
}

/* Runs a decoded CALL and queues its REPLY (and, for an operation, what follows). */
static void run_call(svc_call *call) {
    svc_conn *c = call->conn;
    const char *results = hcw_results_of(call->fn);
    svc_out out;
    memset(&out, 0, sizeof out);
    int makes = results[0] == 'h' || results[0] == 'p';
    if (makes) out.hid = handle_reserve(c);
    svc_op *o = NULL;
    HRESULT hr = S_OK;
    if (call->has_op) hr = op_begin(call, &o);
    void *made = NULL;
    if (hr == S_OK)
        hr = call->fn >= HCW_CTL_BASE ? run_control(call, &out)
                                      : run_export(call, o ? o->op : NULL, &out, &made);
    if (makes && made && handle_add(c, out.hid, results[0] == 'h' ? 's' : 'p', made) < 0) {
        close_handle(results[0] == 'h' ? 's' : 'p', made);
        made = NULL;
    }
    svc_item *reply = item_new(HCW_REPLY, call->seq);
    if (reply) {
        hcw_put_u64(&reply->b, (uint64_t)(uint32_t)hr);
        unsigned k = 0;
        for (const char *r = results; *r; r++) switch (*r) {
            case 'h':
            case 'p': hcw_put_u64(&reply->b, made ? out.hid : 0); break;
            case 's': hcw_put_str(&reply->b, out.str); break;
            default: hcw_put_u64(&reply->b, out.u[k++]); break;
            }
    }
    if (out.str) LocalFree(out.str);
    if (o)
        op_settle(c, o, hr, reply);
    else
        enqueue(c, reply);
    call_free(call);
}

/* Calls that can block run on a thread of their own. */
static int blocking(uint32_t fn) {
    return fn == FN_HcsWaitForComputeSystemExit || fn == FN_HcsWaitForProcessExit ||
           fn == HCW_CTL_HcsimReset || (fn < FN_COUNT && (hc_fn_flags[fn] & FN_STO));
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

/* ---- decoding a CALL ----------------------------------------------------------------- */
static svc_call *decode_call(svc_conn *c, hcw_msg *m) {
    uint64_t fn;
    if (!hcw_get_u64(m, &fn) || fn > UINT32_MAX) return NULL;
    const char *sig = hcw_args_of((uint32_t)fn);
    if (!sig || strlen(sig) > 8) return NULL;
    svc_call *call = calloc(1, sizeof *call);
    if (!call) return NULL;
    call->conn = c;
    call->seq = m->seq;
    call->fn = (uint32_t)fn;
    for (unsigned i = 0; i < 8; i++) call->a[i].fd = -1;
    for (unsigned i = 0; i < MAX_RESOURCES; i++) call->res[i].fd = -1;
    for (const char *k = sig; *k; k++) {
        svc_arg *a = &call->a[call->n++];
        a->kind = *k;
        switch (*k) {
        case 's': hcw_get_str(m, &a->s); break;
        case 'b': hcw_get_bytes(m, &a->b); break;
        case 'd': hcw_get_fd(m, &a->fd); break;
        case 'o': {
            uint64_t n = 0;
            call->has_op = 1;
            hcw_get_u64(m, &call->token);
            hcw_get_u64(m, &call->op_options);
            if (hcw_get_u64(m, &n) && n > MAX_RESOURCES) m->bad = 1;
            for (uint64_t i = 0; i < n && !m->bad; i++) {
                hcw_get_u64(m, &call->res[i].type);
                hcw_get_str(m, &call->res[i].uri);
                hcw_get_fd(m, &call->res[i].fd);
                call->nres++;
            }
            break;
        }
        default: hcw_get_u64(m, &a->u); break; /* h p u i */
        }
    }
    if (!hcw_end(m)) {
        call_free(call);
        return NULL;
    }
    return call;
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

/* HELLO and WELCOME: 1 when the client may go on. */
static int handshake(svc_conn *c) {
    int64_t uid = -1, gid = -1, pid = 0;
    int admitted = plat_unix_peer(c->sock, &uid, &gid, &pid) == 0 &&
                   plat_unix_admits(uid, gid, S.uid, S.group);
    hcw_msg m;
    if (hcw_recv(c->sock, &m) != 1 || m.type != HCW_HELLO) {
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
    for (size_t i = 0; i < nh; i++) close_handle(hs[i].kind, hs[i].h);
    free(hs);
    jobs_reap(c, 1);
    /* jobs may have added handles before they saw the end */
    plat_mutex_lock(&c->hlock);
    hs = c->handles;
    nh = c->nh;
    c->handles = NULL;
    c->nh = 0;
    plat_mutex_unlock(&c->hlock);
    for (size_t i = 0; i < nh; i++) close_handle(hs[i].kind, hs[i].h);
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
            svc_call *call = decode_call(c, &m);
            hcw_msg_free(&m);
            if (!call) break;
            if (blocking(call->fn))
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
static void serve_status(HCSIM_SERVICE_STATUS *st) {
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
static void request_stop(void) {
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
