/* hcsim's client mode (README "Service mode: the client"): after HcsimConnect every export
 * of wire.h's call tables is a CALL to the service, answered by one REPLY. Operations,
 * their callbacks and waits stay local: a call with an operation marks the local
 * operation pending once its REPLY said S_OK, and the service's COMPLETE later completes
 * it through hc_op_complete. HCS_SYSTEM / HCS_PROCESS handles are local "shadows" (hcsim
 * handle objects over stand-in systems and processes that are in no table) carrying the
 * service's handle id (hc_evh.rid); the service's EVENTs are posted to them.
 *
 * One reader thread reads every frame and dispatches it under hcsim's lock (it never
 * blocks on anything else), so a REPLY's shadows and pending operation exist before the
 * COMPLETEs and EVENTs that follow it are read. Callers send under a send mutex and wait
 * for their REPLY on a condition of hcsim's lock. When the connection ends (STOPPING, EOF,
 * a malformed frame), the client does what HcsimDisconnectService does in-process, and
 * every later call fails with HCS_E_SERVICE_DISCONNECT. HcsimDisconnectService in a client
 * ends this client's connection so, here and at once, leaving the service and its other
 * clients alone; the next HcsimReset connects again to the same socket, then resets.
 *
 * computenetwork: every Hcn export but HcnFreeGuestNetworkPortReservations is a CALL; the
 * client's HCN handles, callback registrations and port reservations are records here
 * (rhcn) carrying the service's id, counted as in-process ones are; its strings are
 * computenetwork strings (CoTaskMemFree). The service's NOTIFYs go to the registration's
 * callback on this client's delivery thread, in order, never under hcsim's lock; after an
 * unregistration returns, its callback is not running and never runs again. */
#include "hcsim_internal.h"

#if defined(_WIN32)
HRESULT HcsimConnect(const char *socketPath) {
    (void)socketPath;
    return E_NOTIMPL;
}
HRESULT HcsimDisconnect(void) { return E_NOTIMPL; }
BOOL HcsimIsConnected(void) { return FALSE; }
/* never called: hc_remote_active() is 0 */
int hc_remote_active(void) { return 0; }
int hc_remote_serves(const char *function) {
    (void)function;
    return 0;
}
HRESULT hc_remote_call(uint32_t id, ...) {
    (void)id;
    return E_NOTIMPL;
}
void hc_remote_close(fn_id fn, const void *handle, int kind) {
    (void)fn;
    (void)handle;
    (void)kind;
}
HRESULT hc_remote_set_callback(fn_id fn, const void *handle, int kind, HCS_EVENT_OPTIONS options,
                               const void *context, HCS_EVENT_CALLBACK callback) {
    (void)fn;
    (void)handle;
    (void)kind;
    (void)options;
    (void)context;
    (void)callback;
    return E_NOTIMPL;
}
void hc_remote_counts(HCSIM_COUNTS *counts) { (void)counts; }
HRESULT hc_remote_reset(void) { return E_NOTIMPL; }
int hc_remote_free_port_entries(HCN_PORT_RANGE_ENTRY *entries) {
    (void)entries;
    return 0;
}
#else

#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_RESULTS          8
#define MAX_ARGS             8
#define HANDSHAKE_TIMEOUT_MS 10000u

/* A CALL until its REPLY is processed, then, for an operation the service runs, until its
 * COMPLETE. Under hcsim's lock. */
typedef struct rcall rcall;
struct rcall {
    rcall *prev, *next;
    uint64_t seq; /* also the operation's token */
    uint32_t id;
    const char *results;
    int done;     /* the REPLY was processed (or the connection ended) */
    int active;   /* the operation is pending until COMPLETE (the reader owns the record) */
    int waiting;  /* the caller has not taken the REPLY's results yet (it frees the record) */
    int finished; /* out of the list: the COMPLETE came, or the connection ended */
    HRESULT hr;
    hc_op *op;                          /* ref */
    hc_evh *h;                          /* ref: the handle the call used */
    hc_proc *proc;                      /* ref: the process whose information a COMPLETE carries */
    uint32_t gen;                       /* the operation's run */
    const HCS_CREATE_OPTIONS_1 *create; /* HcsCreateComputeSystemInNamespace's */
    uint64_t u[MAX_RESULTS];
    char16_t *s[MAX_RESULTS];
    /* computenetwork: a registration's callback ('c', 'x'), port entries ('E') */
    HCN_NOTIFICATION_CALLBACK ncb;
    void *nctx;
    HCN_PORT_RANGE_ENTRY *entries;
};

/* A service handle id's shadow (chained hash). */
typedef struct rshadow {
    struct rshadow *next;
    uint64_t rid;
    hc_evh *h; /* not a ref: removed when the shadow closes */
} rshadow;
#define SHADOW_BUCKETS       1024u

/* A computenetwork handle ('n'), callback registration ('k') or port reservation ('t') of
 * this client: token is what the caller holds (taken from hcsim's handle tokens, so it is
 * no other handle's), rid the service's id. */
typedef struct rhcn {
    struct rhcn *next;
    uintptr_t token;
    uint64_t rid;
    char kind;
    HCN_NOTIFICATION_CALLBACK cb; /* 'k' */
    void *ctx;
    int service; /* 'k': a service callback (ServiceDisconnect goes to these) */
} rhcn;

/* A NOTIFY waiting for the delivery thread. */
typedef struct rnote {
    struct rnote *next;
    uint64_t rid; /* the registration's service id */
    uint32_t type;
    HRESULT status;
    char16_t *data;
} rnote;

/* Port entry arrays handed out (HcnFreeGuestNetworkPortReservations takes them back). */
typedef struct rentries {
    struct rentries *next;
    HCN_PORT_RANGE_ENTRY *p;
} rentries;

enum { MODE_OFF, MODE_CLIENT, MODE_CLOSING };

static struct {
    atomic_int mode;
    int lost; /* the connection ended: calls fail (under lock) */
    int sock;
    plat_mutex send_lock;
    plat_cond reply_cond; /* with G.lock */
    plat_thread reader;
    uint64_t seq;
    rcall *calls;
    rshadow *shadows[SHADOW_BUCKETS];
    int reader_live; /* reader was started and not joined yet */
    int atfork_set;
    int connecting; /* an HcsimConnect is under way (under lock) */
    int ended_here; /* HcsimDisconnectService ended the connection: HcsimReset reconnects */
    char *path;     /* the socket of HcsimConnect */
    /* computenetwork (under lock) */
    rhcn *hcn;
    rentries *entries;
    rnote *notes, *notes_tail;
    plat_cond notes_cond; /* with G.lock: a note came, or the thread must end */
    plat_cond note_done;  /* with G.lock: a callback returned */
    plat_thread deliverer;
    int deliverer_live, deliverer_stop;
    uint64_t delivering;    /* the rid whose callback runs now (0: none) */
    uint64_t deliverer_tid; /* plat_thread_id of the delivery thread */
} R = {.sock = -1};

int hc_remote_active(void) { return atomic_load_explicit(&R.mode, memory_order_acquire) != 0; }

int hc_remote_serves(const char *function) {
    if (!hc_remote_active()) return 0;
    int idx = function && strcmp(function, "*") ? hc_fn_lookup(function) : -1;
    return idx < 0 || hcw_args_of((uint32_t)idx) != NULL; /* unknown names: the service's answer */
}

/* ---- shadows --------------------------------------------------------------------------- */
static rshadow **shadow_slot(uint64_t rid) {
    rshadow **p = &R.shadows[(rid * 0x9E3779B97F4A7C15u) >> 54 & (SHADOW_BUCKETS - 1)];
    while (*p && (*p)->rid != rid) p = &(*p)->next;
    return p;
}

static void shadow_forget(hc_evh *h) { /* under lock */
    if (!h->rid) return;
    rshadow **p = shadow_slot(h->rid);
    if (*p && (*p)->h == h) {
        rshadow *e = *p;
        *p = e->next;
        free(e);
    }
}

/* A new shadow handle of service handle id rid (under lock): of a stand-in system, or of a
 * stand-in process of the system parent. NULL when out of memory. The stand-ins look ended
 * to in-process code, should the handle be used after HcsimDisconnect. */
static hc_evh *shadow_new(uint64_t rid, int kind, hc_evh *parent) {
    rshadow *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    hc_evh *h = NULL;
    if (kind == K_SYSH) {
        hc_system *s = hc_obj_new(sizeof *s, K_SYSTEM);
        if (s) {
            hc_strand_init(&s->work, &s->hdr);
            s->state = SS_STOPPED;
            hc_sysh *sh = hc_evh_new(sizeof *sh, K_SYSH, &s->handles, &G.counts.SystemHandles);
            if (sh) {
                sh->sys = s;
                hc_ref(s);
                h = &sh->ev;
            }
            hc_unref(s);
        }
    } else if (parent && parent->hdr.kind == K_SYSH) {
        hc_proc *p = hc_obj_new(sizeof *p, K_PROC);
        if (p) {
            p->sys = ((hc_sysh *)parent)->sys;
            hc_ref(p->sys);
            p->state = PS_EXITED;
            p->fd[0] = p->fd[1] = p->fd[2] = p->pty_fd = -1;
            hc_proch *ph = hc_evh_new(sizeof *ph, K_PROCH, &p->handles, &G.counts.ProcessHandles);
            if (ph) {
                ph->p = p;
                hc_ref(p);
                h = &ph->ev;
            }
            hc_unref(p);
        }
    }
    if (!h) {
        free(e);
        return NULL;
    }
    h->rid = rid;
    e->rid = rid;
    e->h = h;
    rshadow **slot = shadow_slot(rid);
    e->next = *slot;
    *slot = e;
    return h;
}

/* ---- computenetwork records (under lock) ------------------------------------------------- */
static rhcn *hcn_by_token(const void *handle, char kind) {
    for (rhcn *e = R.hcn; e; e = e->next)
        if (e->token == (uintptr_t)handle && e->kind == kind) return e;
    return NULL;
}

static rhcn *hcn_by_rid(uint64_t rid, char kind) {
    for (rhcn *e = R.hcn; e; e = e->next)
        if (e->rid == rid && e->kind == kind) return e;
    return NULL;
}

static void hcn_count(char kind, int delta) {
    uint32_t *n = kind == 'n'   ? &G.counts.NetworkHandles
                  : kind == 'k' ? &G.counts.NetworkCallbacks
                                : &G.counts.PortReservations;
    *n = (uint32_t)((int64_t)*n + delta);
}

/* A new record of the service's id rid; NULL when out of memory. */
static rhcn *hcn_new(uint64_t rid, char kind) {
    rhcn *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->token = G.next_token; /* as hc_obj_new takes them: no other handle has it */
    G.next_token += 16;
    e->rid = rid;
    e->kind = kind;
    e->next = R.hcn;
    R.hcn = e;
    hcn_count(kind, 1);
    return e;
}

static void hcn_drop(rhcn *e) {
    for (rhcn **p = &R.hcn; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            hcn_count(e->kind, -1);
            free(e);
            return;
        }
}

/* Every record goes (HcsimReset, HcsimDisconnect), and the notes not delivered yet. */
static void hcn_forget_all(void) {
    while (R.hcn) hcn_drop(R.hcn);
    while (R.notes) {
        rnote *n = R.notes;
        R.notes = n->next;
        free(n->data);
        free(n);
    }
    R.notes_tail = NULL;
}

/* The delivery thread: each note to its registration's callback, without the lock. */
static void deliverer_main(void *arg) {
    (void)arg;
    hc_lock();
    R.deliverer_tid = plat_thread_id();
    for (;;) {
        while (!R.notes && !R.deliverer_stop) plat_cond_wait(&R.notes_cond, &G.lock);
        rnote *n = R.notes;
        if (!n) break; /* told to stop, and nothing is left */
        R.notes = n->next;
        if (!R.notes) R.notes_tail = NULL;
        rhcn *e = hcn_by_rid(n->rid, 'k');
        if (e && e->cb && e->service >= 0) {
            HCN_NOTIFICATION_CALLBACK cb = e->cb;
            void *ctx = e->ctx;
            R.delivering = n->rid;
            hc_unlock();
            cb(n->type, ctx, n->status, n->data);
            hc_lock();
            R.delivering = 0;
            plat_cond_broadcast(&R.note_done);
        }
        free(n->data);
        free(n);
    }
    R.deliverer_tid = 0;
    hc_unlock();
}

/* Queues a note (data owned) for the registration rid; 0 when out of memory. */
static int note_post(uint64_t rid, uint32_t type, HRESULT status, char16_t *data) {
    if (!R.deliverer_live) {
        R.deliverer_stop = 0;
        if (plat_thread_create(&R.deliverer, deliverer_main, NULL) != 0) return 0;
        R.deliverer_live = 1;
    }
    rnote *n = calloc(1, sizeof *n);
    if (!n) return 0;
    n->rid = rid;
    n->type = type;
    n->status = status;
    n->data = data;
    if (R.notes_tail)
        R.notes_tail->next = n;
    else
        R.notes = n;
    R.notes_tail = n;
    plat_cond_signal(&R.notes_cond);
    return 1;
}

/* The caller is the delivery thread (an HCN callback): it cannot end that thread. */
static int on_delivery_thread(void) {
    hc_lock();
    int self = R.deliverer_live && R.deliverer_tid == plat_thread_id();
    hc_unlock();
    return self;
}

/* Ends the delivery thread once it delivered what is queued (without the lock; never on
 * that thread: HcsimDisconnect and HcsimReset refuse to run there). */
static void deliverer_stop(void) {
    hc_lock();
    int live = R.deliverer_live;
    R.deliverer_stop = 1;
    plat_cond_broadcast(&R.notes_cond);
    hc_unlock();
    if (live) plat_thread_join(&R.deliverer);
    hc_lock();
    R.deliverer_live = 0;
    R.deliverer_stop = 0;
    hc_unlock();
}

/* A registration being unregistered: no note starts for it, and one running has returned
 * (unless the caller is that callback). */
static void hcn_quiesce(rhcn *e) {
    e->service = -1 - e->service; /* < 0: closing; restored by -1 - x */
    while (R.delivering == e->rid && R.deliverer_tid != plat_thread_id())
        plat_cond_wait(&R.note_done, &G.lock);
}

static int is_hcn_close(uint32_t id) {
    return id == FN_HcnCloseNetwork || id == FN_HcnCloseNamespace || id == FN_HcnCloseEndpoint ||
           id == FN_HcnCloseLoadBalancer || id == FN_HcnCloseGuestNetworkService;
}

static int is_hcn_unregister(uint32_t id) {
    return id == FN_HcnUnregisterServiceCallback ||
           id == FN_HcnUnregisterGuestNetworkServiceCallback;
}

/* (Connected or not: an array handed out before HcsimDisconnect is still this list's.) */
int hc_remote_free_port_entries(HCN_PORT_RANGE_ENTRY *entries) {
    int ours = 0;
    hc_lock();
    for (rentries **p = &R.entries; *p; p = &(*p)->next)
        if ((*p)->p == entries) {
            rentries *e = *p;
            *p = e->next;
            free(e);
            G.counts.Documents--;
            ours = 1;
            break;
        }
    hc_unlock();
    if (ours) free(entries);
    return ours;
}

/* ---- connection end --------------------------------------------------------------------- */
static void rcall_free(rcall *r) { /* under lock */
    hc_unref(r->op);
    hc_unref(r->h);
    hc_unref(r->proc);
    for (int i = 0; i < MAX_RESULTS; i++) free(r->s[i]);
    free(r->entries);
    free(r);
}

/* The operation of r is over (under lock): r leaves the list and is freed, by the caller
 * if it has not taken the REPLY's results yet. */
static void rcall_finish(rcall *r) {
    HC_LIST_UNLINK(R.calls, r);
    r->finished = 1;
    if (!r->waiting) rcall_free(r);
}

/* The connection ended (reader, under lock): waiting calls fail, and the client does what
 * HcsimDisconnectService does in-process. */
static void connection_lost(void) {
    if (R.lost) return;
    R.lost = 1;
    rcall *r = R.calls;
    while (r) {
        rcall *next = r->next;
        if (!r->done) {
            r->done = 1;
            r->hr = HCS_E_SERVICE_DISCONNECT;
        } else if (r->active) { /* failed below with every pending operation */
            rcall_finish(r);
        }
        r = next;
    }
    hc_disconnect_handles();
    /* HCN service callbacks learn it as in-process ones do */
    for (rhcn *e = R.hcn; e; e = e->next)
        if (e->kind == 'k' && e->service == 1)
            (void)note_post(e->rid, HcnNotificationServiceDisconnect, S_OK, NULL);
    plat_cond_broadcast(&R.reply_cond);
}

/* HcsimDisconnectService in a client: this connection ends now, as if the service had gone
 * (its reader then reads EOF and ends); the service sees only a client that left. */
static HRESULT end_connection_here(void) {
    hc_lock();
    if (atomic_load_explicit(&R.mode, memory_order_acquire) == MODE_CLIENT && !R.lost) {
        R.ended_here = 1;
        if (R.sock >= 0) shutdown(R.sock, SHUT_RDWR);
        connection_lost();
    }
    hc_unlock();
    return S_OK;
}

/* ---- the reader ------------------------------------------------------------------------- */
static rcall *rcall_find(uint64_t seq) {
    for (rcall *r = R.calls; r; r = r->next)
        if (r->seq == seq) return r;
    return NULL;
}

static HCS_OPERATION_TYPE op_type_of(uint32_t id) {
    switch (id) {
    case FN_HcsEnumerateComputeSystems:
    case FN_HcsEnumerateComputeSystemsInNamespace: return HcsOperationTypeEnumerate;
    case FN_HcsCreateComputeSystem:
    case FN_HcsCreateComputeSystemInNamespace: return HcsOperationTypeCreate;
    case FN_HcsStartComputeSystem: return HcsOperationTypeStart;
    case FN_HcsShutDownComputeSystem: return HcsOperationTypeShutdown;
    case FN_HcsTerminateComputeSystem:
    case FN_HcsTerminateProcess: return HcsOperationTypeTerminate;
    case FN_HcsCrashComputeSystem: return HcsOperationTypeCrash;
    case FN_HcsPauseComputeSystem: return HcsOperationTypePause;
    case FN_HcsResumeComputeSystem: return HcsOperationTypeResume;
    case FN_HcsSaveComputeSystem: return HcsOperationTypeSave;
    case FN_HcsGetComputeSystemProperties: return HcsOperationTypeGetProperties;
    case FN_HcsModifyComputeSystem: return HcsOperationTypeModify;
    case FN_HcsCreateProcess: return HcsOperationTypeCreateProcess;
    case FN_HcsSignalProcess: return HcsOperationTypeSignalProcess;
    case FN_HcsGetProcessInfo: return HcsOperationTypeGetProcessInfo;
    case FN_HcsGetProcessProperties: return HcsOperationTypeGetProcessProperties;
    case FN_HcsModifyProcess: return HcsOperationTypeModifyProcess;
    default: return HcsOperationTypeLiveMigration;
    }
}

/* An 'E' result: count entries, which must be the 'u' result before it (expected). */
static int get_entries(hcw_msg *m, rcall *r, uint64_t expected) {
    uint64_t n = 0;
    if (!hcw_get_u64(m, &n) || n != expected || n > (m->len - m->pos) / (11 * 9)) return 0;
    if (!n) return 1;
    r->entries = calloc((size_t)n, sizeof *r->entries);
    if (!r->entries) return 0;
    for (uint64_t i = 0; i < n; i++) {
        HCN_PORT_RANGE_ENTRY *e = &r->entries[i];
        uint64_t v[7];
        if (!hcw_get_guid(m, &e->OwningPartitionId) || !hcw_get_guid(m, &e->TargetPartitionId))
            return 0;
        for (int k = 0; k < 7; k++)
            if (!hcw_get_u64(m, &v[k])) return 0;
        e->Protocol = (HCN_PORT_PROTOCOL)v[0];
        e->Priority = v[1];
        e->ReservationType = (UINT32)v[2];
        e->SharingFlags = (UINT32)v[3];
        e->DeliveryMode = (UINT32)v[4];
        e->StartingPort = (UINT16)v[5];
        e->EndingPort = (UINT16)v[6];
    }
    return 1;
}

/* NOTIFY (under lock): to the registration's callback, on the delivery thread. */
static int on_notify(hcw_msg *m) {
    uint64_t type = 0, status = 0;
    char16_t *data = NULL;
    int ok = hcw_get_u64(m, &type) && hcw_get_u64(m, &status) && hcw_get_str(m, &data) &&
             hcw_end(m) && type <= UINT32_MAX && status <= UINT32_MAX;
    rhcn *e = ok ? hcn_by_rid(m->seq, 'k') : NULL;
    if (e && e->service >= 0 && note_post(m->seq, (uint32_t)type, (HRESULT)(uint32_t)status, data))
        data = NULL;
    free(data);
    return ok;
}

/* REPLY (under lock): the results into r, the new shadows, the operation pending. 0 when
 * the frame is malformed. */
static int on_reply(hcw_msg *m) {
    rcall *r = rcall_find(m->seq);
    uint64_t hr64 = 0;
    if (!r || r->done || !hcw_get_u64(m, &hr64)) return 0;
    HRESULT hr = (HRESULT)(uint32_t)hr64;
    for (int i = 0; r->results[i]; i++) {
        char t = r->results[i];
        if (t == 'E') {
            if (!get_entries(m, r, i > 0 ? r->u[i - 1] : 0)) return 0;
        } else if (t == 'R') {
            uint64_t start = 0, end = 0;
            if (!hcw_get_u64(m, &start) || !hcw_get_u64(m, &end) || start > 0xFFFF || end > 0xFFFF)
                return 0;
            r->u[i] = start | end << 16;
        } else if (t == 's' || t == 'w' ? !hcw_get_str(m, &r->s[i]) : !hcw_get_u64(m, &r->u[i])) {
            return 0;
        }
    }
    if (!hcw_end(m)) return 0;
    hc_evh *made = NULL;
    for (int i = 0; r->results[i] && SUCCEEDED(hr); i++) {
        char t = r->results[i];
        if (t == 'n' || t == 'k' || t == 't') { /* computenetwork's: a record */
            rhcn *e = r->u[i] ? hcn_new(r->u[i], t) : NULL;
            if (!e && r->u[i]) hr = E_OUTOFMEMORY; /* the service's closes with us */
            r->u[i] = e ? (uint64_t)e->token : 0;
            if (e && t == 'k') {
                e->cb = r->ncb;
                e->ctx = r->nctx;
                e->service = r->id == FN_HcnRegisterServiceCallback;
            }
            continue;
        }
        if (t != 'h' && t != 'p') continue;
        made = r->u[i] ? shadow_new(r->u[i], t == 'h' ? K_SYSH : K_PROCH, r->h) : NULL;
        if (!made && r->u[i]) hr = E_OUTOFMEMORY; /* the service's handle closes with us */
        r->u[i] = made ? (uint64_t)(uintptr_t)HC_HANDLE(made) : 0;
        if (made && t == 'h' && r->create && r->create->Callback) {
            made->cb = r->create->Callback;
            made->ctx = r->create->CallbackContext;
            made->opts = (uint32_t)r->create->CallbackOptions;
            made->cb_set = 1;
        }
    }
    r->hr = hr;
    r->done = 1;
    if (r->op && hr == S_OK) {
        hc_evh *h = made && made->hdr.kind == K_SYSH ? made : r->h;
        hc_sysh *sh = h && h->hdr.kind == K_SYSH ? (hc_sysh *)h : NULL;
        hc_proch *ph = made && made->hdr.kind == K_PROCH ? (hc_proch *)made
                       : h && h->hdr.kind == K_PROCH     ? (hc_proch *)h
                                                         : NULL;
        if (ph) {
            r->proc = ph->p;
            hc_ref(r->proc);
        }
        hc_op_mark_pending(r->op, op_type_of(r->id), sh, ph, NULL, 0);
        r->gen = r->op->gen;
        r->active = 1;
    }
    plat_cond_broadcast(&R.reply_cond);
    return 1;
}

/* COMPLETE (under lock). */
static int on_complete(hcw_msg *m) {
    uint64_t hr64 = 0, has_pi = 0, pid = 0;
    char16_t *doc = NULL;
    int fds[3] = {-1, -1, -1};
    int ok = hcw_get_u64(m, &hr64) && hcw_get_str(m, &doc) && hcw_get_u64(m, &has_pi);
    if (ok && has_pi)
        ok = hcw_get_u64(m, &pid) && hcw_get_fd(m, &fds[0]) && hcw_get_fd(m, &fds[1]) &&
             hcw_get_fd(m, &fds[2]);
    ok = ok && hcw_end(m) && has_pi <= 1;
    rcall *r = ok ? rcall_find(m->seq) : NULL;
    if (r && r->active) {
        hc_proc *p = has_pi ? r->proc : NULL;
        /* the streams of the first process information become the stand-in's; after that
         * the client's own decide (as in-process: a stream whose handles the caller all
         * closed is closed), and the copies that come again are closed below */
        if (p && !p->pid) {
            p->pid = (int64_t)pid;
            /* a console's stdin is its pseudo-terminal: closing it types end of input */
            p->is_pty = fds[0] >= 0 && isatty(fds[0]);
            memcpy(p->fd, fds, sizeof fds);
            fds[0] = fds[1] = fds[2] = -1;
        }
        hc_op_complete(r->op, r->gen, (HRESULT)(uint32_t)hr64, doc, p);
        doc = NULL;
        rcall_finish(r);
    }
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0) close(fds[i]);
    free(doc);
    return ok;
}

/* OPEVENT and EVENT (under lock): one event for an operation or a handle. */
static int on_event(hcw_msg *m) {
    uint64_t type = 0;
    char16_t *data = NULL;
    int ok = hcw_get_u64(m, &type) && hcw_get_str(m, &data) && hcw_end(m);
    if (ok && m->type == HCW_OPEVENT) {
        rcall *r = rcall_find(m->seq);
        /* the completion event is the local completion's */
        if (r && r->active && type != HcsEventOperationCallback) {
            hc_opn_event(r->op, r->gen, (HCS_EVENT_TYPE)type, data);
            data = NULL;
        }
    } else if (ok) {
        rshadow *e = *shadow_slot(m->seq);
        if (e) hc_event_post(e->h, (HCS_EVENT_TYPE)type, data, NULL);
    }
    free(data);
    return ok;
}

static void reader_main(void *arg) {
    (void)arg;
    for (;;) {
        hcw_msg m;
        int got = hcw_recv(R.sock, &m);
        int ok = got == 1;
        hc_lock();
        if (ok) {
            switch (m.type) {
            case HCW_REPLY: ok = on_reply(&m); break;
            case HCW_COMPLETE: ok = on_complete(&m); break;
            case HCW_OPEVENT:
            case HCW_EVENT: ok = on_event(&m); break;
            case HCW_NOTIFY: ok = on_notify(&m); break;
            default: ok = 0; break; /* STOPPING, or what a service never sends */
            }
        }
        if (!ok) connection_lost();
        hc_unlock();
        hcw_msg_free(&m);
        if (!ok) return;
    }
}

/* ---- calls ------------------------------------------------------------------------------ */
/* UTF-8 (valid: hcsim made it) to a malloc'd UTF-16 string. */
static char16_t *u8_to_u16(const char *s) {
    size_t n = strlen(s);
    char16_t *out = malloc((n + 1) * sizeof *out), *o = out;
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t c = *p++;
        int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        c &= more == 3 ? 0x07 : more == 2 ? 0x0F : more == 1 ? 0x1F : 0x7F;
        while (more-- && (*p & 0xC0) == 0x80) c = c << 6 | (*p++ & 0x3F);
        if (c >= 0x10000) {
            c -= 0x10000;
            *o++ = (char16_t)(0xD800 | c >> 10);
            *o++ = (char16_t)(0xDC00 | (c & 0x3FF));
        } else {
            *o++ = (char16_t)c;
        }
    }
    *o = 0;
    return out;
}

typedef struct res_ctx {
    hcw_buf *b;
    int pass; /* 0: count, 1: encode */
    uint64_t n;
} res_ctx;

static void put_resource(void *ctx, HCS_RESOURCE_TYPE type, const char *uri, plat_fd sock) {
    res_ctx *c = ctx;
    if (c->pass == 0) {
        c->n++;
        return;
    }
    char16_t *u = u8_to_u16(uri);
    if (!u) c->b->failed = 1;
    hcw_put_u64(c->b, (uint64_t)type);
    hcw_put_str(c->b, u);
    hcw_put_fd(c->b, sock);
    free(u);
}

/* The descriptor a HANDLE argument stands for: a pipe HANDLE's, or the descriptor the
 * value is (a file, as computestorage's VHD handles); -1 for none. Under lock. */
static int handle_fd(const void *handle) {
    intptr_t v = (intptr_t)handle;
    if (!handle || handle == INVALID_HANDLE_VALUE) return -1;
    hc_pipe *pp = hc_reg_get(handle, K_PIPE);
    if (pp) return pp->fd;
    plat_fd vd;
    if (hc_vdisk_fd(handle, &vd, NULL)) return (int)vd; /* a virtual disk's file */
    if (hc_reg_known(handle) || v < 0 || v > INT32_MAX || fcntl((int)v, F_GETFD) < 0) return -1;
    return (int)v;
}

typedef union rval {
    const void *p;
    void (*fp)(void);
    const char16_t *s;
    const char *b;
    uint64_t u;
} rval;

static int kind_of(char t) { return t == 'h' ? K_SYSH : K_PROCH; }

/* Under lock: the record of a call and its CALL frame in b. S_OK or a local failure. */
static HRESULT prepare(rcall *r, const char *args, const rval *v, hcw_buf *b) {
    hcw_begin(b, HCW_CALL, r->seq);
    hcw_put_u64(b, r->id);
    for (int i = 0; args[i]; i++) {
        switch (args[i]) {
        case 'h':
        case 'p': {
            /* an unknown handle is id 0: the service answers E_HANDLE after its entry
             * protocol (a fault or a hidden export comes first, as in-process) */
            hc_evh *h = hc_reg_get(v[i].p, kind_of(args[i]));
            if (h && !r->h) {
                r->h = h;
                hc_ref(h);
            }
            hcw_put_u64(b, h ? h->rid : 0);
            break;
        }
        case 'o': {
            hc_op *op = hc_reg_get(v[i].p, K_OP);
            HRESULT hr = hc_op_check(op, r->h);
            if (hr != S_OK) return hr;
            for (rcall *o = R.calls; o; o = o->next)
                if (o->op == op && !o->done) return HCS_E_OPERATION_ALREADY_STARTED;
            r->op = op;
            hc_ref(op);
            hcw_put_u64(b, r->seq);
            hcw_put_u64(b, op->ecb ? op->eopts : 0);
            res_ctx c = {b, 0, 0};
            hc_opn_each_resource(op, put_resource, &c);
            hcw_put_u64(b, c.n);
            c.pass = 1;
            hc_opn_each_resource(op, put_resource, &c);
            break;
        }
        case 's': hcw_put_str(b, v[i].s); break;
        case 'd': hcw_put_fd(b, handle_fd(v[i].p)); break;
        case 'g': /* computenetwork's REFGUID: present, then its 16 bytes */
            hcw_put_u64(b, v[i].p != NULL);
            hcw_put_guid(b, v[i].p);
            break;
        case 'n':
        case 'k':
        case 't': { /* an unknown handle is id 0: the service answers as hcsim does */
            rhcn *e = hcn_by_token(v[i].p, args[i]);
            hcw_put_u64(b, e ? e->rid : 0);
            break;
        }
        case 'c': r->ncb = (HCN_NOTIFICATION_CALLBACK)v[i].fp; break; /* the client's own */
        case 'x': r->nctx = (void *)v[i].p; break;
        case 'b': hcw_put_bytes(b, v[i].b ? v[i].b : "", v[i].b ? strlen(v[i].b) : 0); break;
        default: hcw_put_u64(b, v[i].u); break; /* 'u', 'i' */
        }
    }
    if (b->failed) return E_OUTOFMEMORY;
    return b->len - 4 > HCW_MAX_FRAME ? E_INVALIDARG : S_OK; /* the service would refuse it */
}

/* The results of a processed call into the caller's out parameters (under lock). */
static void copy_results(rcall *r, void *const *out) {
    for (int i = 0; r->results[i]; i++) {
        if (!out[i]) continue;
        switch (r->results[i]) {
        case 'h':
        case 'p': *(void **)out[i] = (void *)(uintptr_t)r->u[i]; break;
        case 's': *(PWSTR *)out[i] = r->s[i] ? hc_doc_from_utf16(r->s[i]) : NULL; break;
        case 'w': /* a computenetwork string: CoTaskMemFree releases it */
            if (r->s[i] && hc_doc_add_kind(r->s[i], K_HCNDOC) == 0) {
                G.counts.Documents++;
                *(PWSTR *)out[i] = r->s[i];
                r->s[i] = NULL;
            }
            break;
        case 'n':
        case 'k':
        case 't': *(void **)out[i] = (void *)(uintptr_t)r->u[i]; break;
        case 'R': {
            HCN_PORT_RANGE_RESERVATION *range = out[i];
            range->startingPort = (USHORT)(r->u[i] & 0xFFFF);
            range->endingPort = (USHORT)(r->u[i] >> 16);
            break;
        }
        case 'E': {
            rentries *e = r->entries ? calloc(1, sizeof *e) : NULL;
            if (e) { /* (out of memory: the caller gets none, and a count of 0) */
                e->p = r->entries;
                e->next = R.entries;
                R.entries = e;
                r->entries = NULL;
                G.counts.Documents++; /* as in-process: until it is freed */
            } else if (i > 0 && out[i - 1]) {
                *(uint32_t *)out[i - 1] = 0;
            }
            *(HCN_PORT_RANGE_ENTRY **)out[i] = e ? e->p : NULL;
            break;
        }
        case 'i': *(int64_t *)out[i] = (int64_t)r->u[i]; break;
        default: *(uint32_t *)out[i] = (uint32_t)r->u[i]; break;
        }
    }
}

/* Sends a prepared frame; on failure the connection ends (the reader sees it closed). */
static void send_frame(hcw_buf *b) {
    plat_mutex_lock(&R.send_lock);
    if (R.sock >= 0 && hcw_send(R.sock, b) != 0) shutdown(R.sock, SHUT_RDWR);
    plat_mutex_unlock(&R.send_lock);
}

/* Entered under lock with r prepared and its frame in b: sends it, waits for the REPLY and
 * hands the results out; returns without the lock, with the REPLY's HRESULT. */
static HRESULT submit(rcall *r, hcw_buf *b, void *const *out) {
    HC_LIST_PUSH(R.calls, r);
    r->waiting = 1;
    hc_unlock();
    send_frame(b);
    hcw_free(b);
    hc_lock();
    while (!r->done) plat_cond_wait(&R.reply_cond, &G.lock);
    HRESULT hr = r->hr;
    if (out) copy_results(r, out);
    r->create = NULL;
    r->waiting = 0;
    if (!r->active && !r->finished) HC_LIST_UNLINK(R.calls, r);
    if (!r->active || r->finished) rcall_free(r);
    hc_unlock();
    return hr;
}

HRESULT hc_remote_call(uint32_t id, ...) {
    const char *args = hcw_args_of(id), *results = hcw_results_of(id);
    if (!args || !results || strlen(args) > MAX_ARGS || strlen(results) > MAX_RESULTS)
        return E_NOTIMPL;
    if (id == HCW_CTL_HcsimDisconnectService) return end_connection_here();
    if (id < FN_COUNT) { /* the local part of the entry protocol: a sync delay, "*" hidden */
        hc_call call;
        HRESULT hr = hc_enter((fn_id)id, &call);
        if (hr != S_OK) return hr;
    }
    rval v[MAX_ARGS];
    void *out[MAX_RESULTS] = {NULL};
    const HCS_CREATE_OPTIONS_1 *create = NULL;
    va_list ap;
    va_start(ap, id);
    for (int i = 0; args[i]; i++) {
        switch (args[i]) {
        case 's': v[i].s = va_arg(ap, const char16_t *); break;
        case 'b': v[i].b = va_arg(ap, const char *); break;
        case 'u': v[i].u = va_arg(ap, uint32_t); break;
        case 'i': v[i].u = (uint64_t)va_arg(ap, int64_t); break;
        case 'c': v[i].fp = (void (*)(void))va_arg(ap, HCN_NOTIFICATION_CALLBACK); break;
        default: v[i].p = va_arg(ap, const void *); break; /* h p o d g n k t x */
        }
    }
    int missing_out = 0;
    HRESULT missing_hr = E_INVALIDARG;
    for (int i = 0; results[i]; i++) {
        out[i] = va_arg(ap, void *);
        if (!out[i] && (results[i] == 'h' || results[i] == 'p')) missing_out = 1;
        if (!out[i] && strchr("nktRE", results[i])) { /* as hcsim's computenetwork */
            missing_out = 1;
            missing_hr = E_POINTER;
        }
        if (!out[i] && results[i] == 'u' && results[i + 1] == 'E') missing_out = 1;
        if (!out[i] && results[i] == 'w' && results[i + 1] == 'w') { /* the result string */
            missing_out = 1;
            missing_hr = E_POINTER;
        }
        if (out[i] && strchr("hpswnktE", results[i])) *(void **)out[i] = NULL;
    }
    if (id == FN_HcsCreateComputeSystemInNamespace) create = va_arg(ap, const void *);
    va_end(ap);
    if (missing_out) return missing_hr;
    if (create && (create->Version != HcsCreateOptions_1 ||
                   !hc_event_options_valid((uint32_t)create->CallbackOptions)))
        return E_INVALIDARG;

    rcall *r = calloc(1, sizeof *r);
    hcw_buf b;
    memset(&b, 0, sizeof b);
    if (!r) return E_OUTOFMEMORY;
    r->id = id;
    r->results = results;
    r->create = create;
    /* computenetwork: what a close, unregistration or release ends goes once it succeeded;
     * an unregistration first stops the deliveries to its callback */
    char ends = is_hcn_close(id)                                              ? 'n'
                : is_hcn_unregister(id)                                       ? 'k'
                : id == FN_HcnReleaseGuestNetworkServicePortReservationHandle ? 't'
                                                                              : 0;
    const void *ended = ends ? v[0].p : NULL;
    hc_lock();
    rhcn *e = ends ? hcn_by_token(ended, ends) : NULL;
    HRESULT hr = R.lost || R.sock < 0 ? HCS_E_SERVICE_DISCONNECT : S_OK;
    if (hr != S_OK && e) { /* the service is gone: the record goes, as in-process */
        if (ends == 'k') hcn_quiesce(e);
        hcn_drop(e);
        hr = S_OK;
        rcall_free(r);
        hc_unlock();
        return hr;
    }
    if (hr == S_OK) {
        r->seq = ++R.seq;
        hr = prepare(r, args, v, &b);
    }
    if (hr == S_OK && r->op && create && create->Callback && r->op->cb &&
        (create->CallbackOptions & HcsEventOptionEnableOperationCallbacks))
        hr = HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET;
    if (hr != S_OK) {
        rcall_free(r);
        hc_unlock();
        hcw_free(&b);
        return hr;
    }
    if (e && ends == 'k') hcn_quiesce(e);
    hr = submit(r, &b, out);
    if (!ends) return hr;
    hc_lock();
    /* the connection ended while the call was on its way: gone too, as above */
    if (hr == HCS_E_SERVICE_DISCONNECT && R.lost) hr = S_OK;
    e = hcn_by_token(ended, ends);
    if (e && SUCCEEDED(hr))
        hcn_drop(e);
    else if (e && e->service < 0)
        e->service = -1 - e->service;
    hc_unlock();
    return hr;
}

/* ---- exports with local parts ----------------------------------------------------------- */
static void after_unlink(hc_evh *h) { shadow_forget(h); }

void hc_remote_close(fn_id fn, const void *handle, int kind) {
    hc_lock();
    hc_evh *h = hc_reg_get(handle, kind);
    uint64_t rid = h ? h->rid : 0;
    hc_unlock();
    hc_evh_close(fn, handle, kind, after_unlink);
    if (!rid) return;
    /* then the service's handle, by its id (the local handle is gone); its answer does
     * not matter, but once the call returns the service has closed it */
    rcall *r = calloc(1, sizeof *r);
    if (!r) return;
    r->id = (uint32_t)fn;
    r->results = "";
    hcw_buf b;
    memset(&b, 0, sizeof b);
    hc_lock();
    if (R.lost || R.sock < 0) {
        rcall_free(r);
        hc_unlock();
        return;
    }
    r->seq = ++R.seq;
    hcw_begin(&b, HCW_CALL, r->seq);
    hcw_put_u64(&b, r->id);
    hcw_put_u64(&b, rid);
    (void)submit(r, &b, NULL);
}

HRESULT hc_remote_set_callback(fn_id fn, const void *handle, int kind, HCS_EVENT_OPTIONS options,
                               const void *context, HCS_EVENT_CALLBACK callback) {
    hc_evh old;
    hc_lock();
    hc_evh *h = hc_reg_get(handle, kind);
    if (h) old = *h;
    hc_unlock();
    /* locally first, so that the events the service's registration brings find it */
    HRESULT hr = hc_evh_set_callback(fn, handle, kind, options, context, callback, NULL);
    if (hr != S_OK) return hr;
    uint32_t forwarded = (uint32_t)options & ~(uint32_t)HcsEventOptionEnableOperationCallbacks;
    hr = hc_remote_call((uint32_t)fn, handle, forwarded);
    if (FAILED(hr)) { /* the service refused: the registration did not happen */
        hc_lock();
        if (h && hc_reg_get(handle, kind) == h) {
            h->cb = old.cb;
            h->ctx = old.ctx;
            h->opts = old.opts;
            h->cb_set = old.cb_set;
        }
        hc_unlock();
    }
    return hr;
}

void hc_remote_counts(HCSIM_COUNTS *counts) {
    HCSIM_COUNTS svc;
    memset(&svc, 0, sizeof svc);
    if (FAILED(hc_remote_call(HCW_CTL_HcsimGetCounts, &svc.Operations, &svc.PendingOperations,
                              &svc.Systems, &svc.SystemHandles, &svc.ProcessHandles, &svc.Processes,
                              &svc.PipeHandles, &svc.Documents)))
        memset(&svc, 0, sizeof svc);
    hc_lock();
    *counts = G.counts;
    hc_unlock();
    counts->Systems = svc.Systems;
    counts->Processes = svc.Processes;
}

static HRESULT reconnect(void);

HRESULT hc_remote_reset(void) {
    /* not from a callback: neither a worker's nor the delivery thread's (which it ends) */
    if (hc_in_worker() || on_delivery_thread()) return HCS_E_INVALID_STATE;
    HRESULT hr = reconnect();
    if (SUCCEEDED(hr)) hr = hc_remote_call(HCW_CTL_HcsimReset);
    hc_lock();
    hcn_forget_all(); /* the service's HCN objects went */
    hc_unlock();
    HRESULT local = hc_reset_local();
    return FAILED(hr) ? hr : local;
}

/* ---- connecting ------------------------------------------------------------------------- */
static void after_fork_in_child(void) {
    /* the child has no reader: it starts in-process (its copy of the socket is closed) */
    if (R.sock >= 0) close(R.sock);
    R.sock = -1;
    R.calls = NULL;
    R.lost = 0;
    R.reader_live = 0;
    R.ended_here = 0;
    memset(R.shadows, 0, sizeof R.shadows);
    /* (the parent's computenetwork records and notes are the parent's: not freed here) */
    R.hcn = NULL;
    R.entries = NULL;
    R.notes = R.notes_tail = NULL;
    R.deliverer_live = R.deliverer_stop = 0;
    R.delivering = R.deliverer_tid = 0;
    plat_mutex_init(&R.send_lock);
    plat_cond_init(&R.reply_cond);
    plat_cond_init(&R.notes_cond);
    plat_cond_init(&R.note_done);
    atomic_store(&R.mode, MODE_OFF);
}

static HRESULT hr_of_errno(int e) {
    if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) return HCS_E_SERVICE_NOT_AVAILABLE;
    if (e == EACCES || e == EPERM) return E_ACCESSDENIED;
    if (e == ENOTSOCK) return HC_E_NOT_A_SOCKET;
    return hc_hr_from_errno(e);
}

/* Connects and says HELLO: the socket, or -1 with *hr. */
static int handshake(const char *path, HRESULT *hr) {
    plat_fd s = PLAT_NO_FD;
    int err = plat_unix_connect(path, &s);
    if (err) {
        *hr = err == EINVAL || err == ENAMETOOLONG ? E_INVALIDARG : hr_of_errno(err);
        return -1;
    }
    plat_unix_recv_timeout(s, HANDSHAKE_TIMEOUT_MS);
    hcw_buf b;
    memset(&b, 0, sizeof b);
    hcw_begin(&b, HCW_HELLO, 0);
    hcw_put_u64(&b, HCW_VERSION);
    hcw_put_u64(&b, hcw_build_id());
    hcw_put_u64(&b, (uint64_t)getpid());
    int sent = hcw_send(s, &b);
    hcw_free(&b);
    hcw_msg m;
    uint64_t whr = 0, version = 0, pid = 0;
    int got = sent == 0 ? hcw_recv(s, &m) : -1;
    if (got == 1 && m.type == HCW_WELCOME && hcw_get_u64(&m, &whr) && hcw_get_u64(&m, &version) &&
        hcw_get_u64(&m, &pid) && hcw_end(&m))
        *hr = (HRESULT)(uint32_t)whr;
    else
        *hr = got == 0 ? HCS_E_SERVICE_DISCONNECT : HCS_E_PROTOCOL_ERROR;
    if (got == 1) hcw_msg_free(&m);
    if (*hr == S_OK && version != HCW_VERSION) *hr = HCS_E_PROTOCOL_ERROR;
    if (*hr != S_OK) {
        close(s);
        return -1;
    }
    plat_unix_recv_timeout(s, 0);
    return s;
}

/* Ends the reader and closes the socket (with mode MODE_CLOSING, without the lock); the
 * shadows stay (their handles are the caller's) but no id reaches them. */
static void close_connection(void) {
    if (R.sock >= 0) shutdown(R.sock, SHUT_RDWR); /* the reader ends the connection */
    if (R.reader_live) plat_thread_join(&R.reader);
    R.reader_live = 0;
    deliverer_stop(); /* after what the reader queued */
    hc_lock();
    hcn_forget_all();              /* the service's ids mean nothing on another connection */
    plat_mutex_lock(&R.send_lock); /* no sender still uses it */
    if (R.sock >= 0) close(R.sock);
    R.sock = -1;
    plat_mutex_unlock(&R.send_lock);
    for (unsigned i = 0; i < SHADOW_BUCKETS; i++) {
        while (R.shadows[i]) {
            rshadow *e = R.shadows[i];
            R.shadows[i] = e->next;
            e->h->rid = 0;
            free(e);
        }
    }
    hc_unlock();
}

/* Connects to R.path and starts the reader (mode MODE_CLOSING or off, without the lock). */
static HRESULT open_connection(void) {
    HRESULT hr;
    int s = handshake(R.path, &hr);
    hc_lock();
    plat_mutex_lock(&R.send_lock); /* a sender of the ended connection may still look */
    R.sock = s;
    plat_mutex_unlock(&R.send_lock);
    R.lost = s < 0;
    if (s >= 0 && plat_thread_create(&R.reader, reader_main, NULL) != 0) {
        plat_mutex_lock(&R.send_lock);
        close(s);
        R.sock = -1;
        plat_mutex_unlock(&R.send_lock);
        R.lost = 1;
        hr = E_OUTOFMEMORY;
    }
    R.reader_live = R.sock >= 0;
    if (hr == S_OK) R.ended_here = 0;
    hc_unlock();
    return hr;
}

/* After HcsimDisconnectService ended this client's connection: a new one to the same
 * socket (HcsimReset). S_OK when there is nothing to do. */
static HRESULT reconnect(void) {
    hc_lock();
    int ended_here = R.ended_here;
    hc_unlock();
    int was = MODE_CLIENT;
    if (!ended_here || !atomic_compare_exchange_strong(&R.mode, &was, MODE_CLOSING)) return S_OK;
    close_connection();
    HRESULT hr = open_connection();
    atomic_store_explicit(&R.mode, MODE_CLIENT, memory_order_release);
    return hr;
}

HRESULT HcsimConnect(const char *socketPath) {
    hc_init();
    hc_lock();
    if (hc_remote_active() || R.connecting) {
        hc_unlock();
        return HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS);
    }
    /* the in-process emulator's objects would not be the service's */
    int busy =
        G.table || G.counts.SystemHandles || G.counts.ProcessHandles || G.counts.PendingOperations;
    R.connecting = !busy;
    if (!R.atfork_set) {
        plat_mutex_init(&R.send_lock);
        plat_cond_init(&R.reply_cond);
        plat_cond_init(&R.notes_cond);
        plat_cond_init(&R.note_done);
        plat_atfork_child(after_fork_in_child);
        R.atfork_set = 1;
    }
    hc_unlock();
    if (busy) return HCS_E_INVALID_STATE;
    free(R.path);
    R.path = socketPath ? strdup(socketPath) : NULL;
    HRESULT hr = !socketPath || R.path ? open_connection() : E_OUTOFMEMORY;
    hc_lock();
    if (hr == S_OK) atomic_store_explicit(&R.mode, MODE_CLIENT, memory_order_release);
    R.connecting = 0;
    hc_unlock();
    return hr;
}

HRESULT HcsimDisconnect(void) {
    if (on_delivery_thread()) return HCS_E_INVALID_STATE; /* it ends that thread */
    int was = MODE_CLIENT;
    if (!atomic_compare_exchange_strong(&R.mode, &was, MODE_CLOSING)) return S_FALSE;
    close_connection();
    atomic_store_explicit(&R.mode, MODE_OFF, memory_order_release);
    hc_lock();
    R.lost = 0;
    R.ended_here = 0;
    hc_unlock();
    return S_OK;
}

BOOL HcsimIsConnected(void) {
    return atomic_load_explicit(&R.mode, memory_order_acquire) == MODE_CLIENT ? TRUE : FALSE;
}

#endif
