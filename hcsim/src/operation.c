/* hcsim operations: the HCS_OPERATION object (NotStarted -> Pending -> Completed), the
 * path of an operation's work through the timed queue and its system's strand, and
 * completion delivery (the operation's own callback, or HcsEventOperationCallback on the
 * handle the call used). */
#include "hcsim_internal.h"

#include <stdlib.h>
#include <string.h>

static hc_op *op_get(HCS_OPERATION h) { return hc_reg_get(h, K_OP); }

void hc_op_free(hc_op *op) {
    hc_opn_free(op);
    free(op->result);
    hc_unref(op->sh);
    hc_unref(op->ph);
    hc_unref(op->pinfo);
    free(op);
}

static void pending_add(hc_op *op) {
    HC_LIST_PUSH(G.pending, op);
    op->in_pending = 1;
}

static void pending_del(hc_op *op) {
    if (!op->in_pending) return;
    HC_LIST_UNLINK(G.pending, op);
    op->in_pending = 0;
}

/* ---- starting and completing ------------------------------------------------------- */
hc_work *hc_work_new(hc_work_fn fn, hc_system *sys, hc_sysh *sh, hc_proch *ph) {
    hc_work *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->fn = fn;
    w->sys = sys;
    hc_ref(sys);
    w->sh = sh;
    hc_ref(sh);
    w->ph = ph;
    hc_ref(ph);
    return w;
}

void hc_work_free(hc_work *w) {
    if (!w) return;
    hc_unref(w->op);
    hc_unref(w->sys);
    hc_unref(w->sh);
    hc_unref(w->ph);
    hc_unref(w->proc);
    hj_free(w->args);
    free(w->raw);
    free(w->s1);
    free(w);
}

HRESULT hc_op_check(hc_op *op, const hc_evh *h) {
    if (!op) return E_HANDLE;
    if (op->state == OP_PENDING) return HCS_E_OPERATION_ALREADY_STARTED;
    if ((op->cb || op->ecb) && h && h->cb_set && (h->opts & HcsEventOptionEnableOperationCallbacks))
        return HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET;
    return S_OK;
}

static void run_work(hc_work *w) {
    hc_lock();
    hc_op *op = w->op;
    int live = op->gen == w->gen && op->state == OP_PENDING;
    hc_unlock();
    if (live) {
        HRESULT hr = S_OK;
        hj_value *doc = NULL;
        if (FAILED(w->fault)) {
            hr = w->fault;
            doc = hc_result_error(hr, "Failure injected by HcsimFailNext.");
            if (w->abandon) {
                hc_lock();
                w->abandon(w);
                hc_unlock();
            }
        } else {
            doc = w->fn(w, &hr);
        }
        if (FAILED(hr) && !doc) doc = hc_result_error(hr, NULL);
        char16_t *u16 = doc ? hj_serialize_utf16(doc) : NULL;
        hj_free(doc);
        hc_lock();
        hc_op_complete(op, w->gen, hr, u16, SUCCEEDED(hr) ? w->proc : NULL);
        hc_work_free(w);
        hc_unlock();
    } else {
        hc_lock();
        if (w->abandon) w->abandon(w); /* e.g. a create that will now never happen */
        hc_work_free(w);
        hc_unlock();
    }
}

typedef struct work_item {
    hc_item base;
    hc_work *w;
} work_item;

static void work_item_run(hc_item *it) {
    hc_work *w = ((work_item *)it)->w;
    free(it);
    run_work(w);
}

static void op_due(void *arg) {
    hc_work *w = arg;
    if (w->sys) {
        work_item *it = malloc(sizeof *it);
        if (it) {
            it->base.run = work_item_run;
            it->w = w;
            hc_lock();
            hc_strand_post(&w->sys->work, &it->base);
            hc_unlock();
            return;
        }
    }
    run_work(w);
}

void hc_op_mark_pending(hc_op *op, HCS_OPERATION_TYPE type, hc_sysh *sh, hc_proch *ph,
                        hc_system *sys, uint32_t completion_ms) {
    free(op->result);
    op->result = NULL;
    hc_unref(op->sh);
    hc_unref(op->ph);
    hc_unref(op->pinfo);
    op->pinfo = NULL;
    op->sh = sh;
    hc_ref(op->sh);
    op->ph = ph;
    hc_ref(op->ph);
    op->state = OP_PENDING;
    op->type = type;
    op->hr = S_OK;
    op->gen++;
    op->pend_sys = sys;
    pending_add(op);
    G.counts.PendingOperations++;
    hc_opn_begin(op, completion_ms);
}

void hc_op_begin(hc_op *op, HCS_OPERATION_TYPE type, hc_call *call, hc_work *w) {
    hc_op_mark_pending(op, type, w->sh, w->ph, w->sys, call->completion_ms);
    w->op = op;
    hc_ref(op);
    w->gen = op->gen;
    w->fault = call->async_fault;
    if (call->completion_ms == 0 && w->sys) {
        /* no delay: straight onto the system's strand (one hand-off instead of two) */
        work_item *it = malloc(sizeof *it);
        if (it) {
            it->base.run = work_item_run;
            it->w = w;
            hc_strand_post(&w->sys->work, &it->base);
            return;
        }
    }
    hc_latency_post(w->sys, call, op_due, w);
}

void hc_op_complete(hc_op *op, uint32_t gen, HRESULT hr, char16_t *doc, hc_proc *pinfo) {
    if (op->gen != gen || op->state != OP_PENDING) {
        free(doc);
        return;
    }
    op->state = OP_COMPLETED;
    op->hr = hr;
    op->result = doc;
    if (pinfo) {
        op->pinfo = pinfo;
        hc_ref(pinfo);
    }
    pending_del(op);
    op->pend_sys = NULL;
    G.counts.PendingOperations--;
    plat_cond_broadcast(&G.op_cond);
    if (hc_opn_complete(op) || op->closed) return;
    /* delivered on the strand of the handle the call used (the system's for CreateProcess) */
    hc_evh *h = op->sh ? &op->sh->ev : op->ph ? &op->ph->ev : NULL;
    if (op->cb)
        hc_op_done_item(op, gen, h ? &h->st : NULL);
    else if (h && hc_evh_op_events(h))
        hc_event_post(h, HcsEventOperationCallback, NULL, op);
}

void hc_op_fail_pending(hc_system *sys, hc_op *except, HRESULT hr) {
    hc_op *op = G.pending;
    while (op) {
        hc_op *next = op->next;
        if (op != except && op->pend_sys == sys)
            hc_op_complete(op, op->gen, hr, hc_result_error_u16(hr, NULL), NULL);
        op = next;
    }
}

void hc_op_fail_all_pending(HRESULT hr) {
    while (G.pending) {
        hc_op *op = G.pending;
        hc_op_complete(op, op->gen, hr, hc_result_error_u16(hr, NULL), NULL);
    }
}

HRESULT hc_op_call(fn_id fn, HCS_OPERATION_TYPE type, hc_work_fn work, int kind, const void *handle,
                   HCS_OPERATION operation, PCWSTR options) {
    if (hc_remote_active()) return hc_remote_call(fn, handle, operation, options, (HANDLE)NULL);
    hc_call call;
    HRESULT hr = hc_enter(fn, &call);
    if (hr != S_OK) return hr;
    options = hc_opt(options);
    int direct = kind & HC_CALL_DIRECT;
    kind &= ~HC_CALL_DIRECT;
    hc_lock();
    hc_evh *h = hc_reg_get(handle, kind);
    hc_sysh *sh = kind == K_SYSH ? (hc_sysh *)h : NULL;
    hc_proch *ph = kind == K_PROCH ? (hc_proch *)h : NULL;
    hc_op *op = op_get(operation);
    hc_work *w = NULL;
    hr = h ? hc_op_check(op, h) : E_HANDLE;
    if (hr == S_OK && !(w = hc_work_new(work, direct ? NULL : sh ? sh->sys : ph->p->sys, sh, ph)))
        hr = E_OUTOFMEMORY;
    if (hr == S_OK && options && !(w->raw = aiohcs_utf16_dup(options, NULL))) hr = E_OUTOFMEMORY;
    if (hr == S_OK) {
        if (ph) {
            w->proc = ph->p;
            hc_ref(w->proc);
        }
        hc_op_begin(op, type, &call, w);
    } else {
        hc_work_free(w);
    }
    hc_unlock();
    return hr;
}

/* ---- the exports --------------------------------------------------------------------- */
HCS_OPERATION hc_op_create(fn_id fn, const void *context, HCS_OPERATION_COMPLETION callback,
                           HCS_EVENT_CALLBACK events, uint32_t options) {
    if (hc_enter_sync(fn) != S_OK) return NULL;
    hc_op *op = hc_obj_new(sizeof *op, K_OP);
    if (!op) return NULL;
    op->ctx = context;
    op->cb = callback;
    op->ecb = events;
    op->eopts = options;
    op->state = OP_NOT_STARTED;
    op->type = HcsOperationTypeNone;
    hc_strand_init(&op->est, &op->hdr);
    hc_lock();
    op->id = G.next_op_id++;
    if (hc_reg_add(op, K_OP) != 0) {
        hc_unlock();
        free(op);
        return NULL;
    }
    G.counts.Operations++;
    hc_unlock();
    return (HCS_OPERATION)HC_HANDLE(op);
}

HCS_OPERATION WINAPI HcsCreateOperation(const void *context, HCS_OPERATION_COMPLETION callback) {
    return hc_op_create(FN_HcsCreateOperation, context, callback, NULL, 0);
}

void WINAPI HcsCloseOperation(HCS_OPERATION operation) {
    if (hc_enter_sync(FN_HcsCloseOperation) != S_OK) return;
    hc_lock();
    hc_op *op = op_get(operation);
    if (op) {
        hc_reg_del(op);
        op->closed = 1;
        G.counts.Operations--;
        /* wait for its completion callback running on another thread (not on ours) */
        uint64_t self = plat_thread_id();
        hc_ref(op);
        while (op->in_cb && op->cb_tid != self) plat_cond_wait(&G.cb_cond, &G.lock);
        hc_unref(op);
        hc_unref(op);
    }
    hc_unlock();
}

/* Entry of the accessors that cannot fail: 1 with the lock held and *op the operation
 * (NULL for an invalid handle), or 0 when the export is hidden (lock not taken). */
static int op_enter(fn_id fn, HCS_OPERATION operation, hc_op **op) {
    if (hc_enter_sync(fn) != S_OK) return 0;
    hc_lock();
    *op = op_get(operation);
    return 1;
}

/* A copy of the operation's fields taken under the lock; 0 when hidden or invalid. */
static int op_snapshot(fn_id fn, HCS_OPERATION operation, hc_op *copy) {
    hc_op *op;
    if (!op_enter(fn, operation, &op)) return 0;
    if (op) *copy = *op;
    hc_unlock();
    return op != NULL;
}

void *WINAPI HcsGetOperationContext(HCS_OPERATION operation) {
    hc_op c;
    return op_snapshot(FN_HcsGetOperationContext, operation, &c) ? (void *)(uintptr_t)c.ctx : NULL;
}

HCS_OPERATION_TYPE WINAPI HcsGetOperationType(HCS_OPERATION operation) {
    hc_op c;
    return op_snapshot(FN_HcsGetOperationType, operation, &c) ? c.type : HcsOperationTypeNone;
}

UINT64 WINAPI HcsGetOperationId(HCS_OPERATION operation) {
    hc_op c;
    return op_snapshot(FN_HcsGetOperationId, operation, &c) ? c.id : HCS_INVALID_OPERATION_ID;
}

HRESULT WINAPI HcsSetOperationContext(HCS_OPERATION operation, const void *context) {
    HRESULT hr = hc_enter_sync(FN_HcsSetOperationContext);
    if (hr != S_OK) return hr;
    hc_lock();
    hc_op *op = op_get(operation);
    if (op) op->ctx = context;
    hc_unlock();
    return op ? S_OK : E_HANDLE;
}

/* The system (or process) handle the latest call used, while it is open. */
static void *handle_from_operation(fn_id fn, HCS_OPERATION operation, int process) {
    hc_op *op;
    if (!op_enter(fn, operation, &op)) return NULL;
    hc_evh *h = NULL;
    if (op && op->state != OP_NOT_STARTED && process && op->ph) h = &op->ph->ev;
    if (op && op->state != OP_NOT_STARTED && !process && op->sh) h = &op->sh->ev;
    void *r = h && !h->closed ? HC_HANDLE(h) : NULL;
    hc_unlock();
    return r;
}

HCS_SYSTEM WINAPI HcsGetComputeSystemFromOperation(HCS_OPERATION operation) {
    return handle_from_operation(FN_HcsGetComputeSystemFromOperation, operation, 0);
}

HCS_PROCESS WINAPI HcsGetProcessFromOperation(HCS_OPERATION operation) {
    return handle_from_operation(FN_HcsGetProcessFromOperation, operation, 1);
}

/* Shared body of the four result getters. timeout_ms < 0: do not wait. */
static HRESULT get_result(fn_id fn, HCS_OPERATION operation, int64_t timeout_ms, int want_pinfo,
                          HCS_PROCESS_INFORMATION *pi, PWSTR *doc) {
    if (doc) *doc = NULL;
    HRESULT hr = hc_enter_sync(fn);
    if (hr != S_OK) return hr;
    hc_lock();
    hc_op *op = op_get(operation);
    if (!op) {
        hc_unlock();
        return E_HANDLE;
    }
    if (op->state == OP_NOT_STARTED) {
        hc_unlock();
        return HCS_E_OPERATION_NOT_STARTED;
    }
    if (want_pinfo && op->type != HcsOperationTypeCreateProcess &&
        op->type != HcsOperationTypeGetProcessInfo) {
        hc_unlock();
        return E_INVALIDARG;
    }
    if (op->state == OP_PENDING) {
        if (timeout_ms < 0) {
            hc_unlock();
            return HCS_E_OPERATION_PENDING;
        }
        uint32_t gen = op->gen;
        uint64_t deadline = plat_now_ms() + (uint64_t)timeout_ms;
        hc_ref(op); /* a concurrent HcsCloseOperation cannot free it under us */
        while (op->state == OP_PENDING && op->gen == gen &&
               hc_wait_until(&G.op_cond, deadline, timeout_ms == (int64_t)INFINITE)) {}
        if (op->state == OP_PENDING) {
            hc_unref(op);
            hc_unlock();
            return HCS_E_OPERATION_TIMEOUT;
        }
        int closed = op->closed;
        hc_unref(op);
        if (closed) { /* closed (and maybe freed) while we waited */
            hc_unlock();
            return E_HANDLE;
        }
    }
    hr = op->hr;
    if (want_pinfo && pi && SUCCEEDED(hr)) {
        memset(pi, 0, sizeof *pi);
        int e = op->pinfo ? hc_pipe_handles_for(op->pinfo, pi) : 0;
        if (e) { /* the process runs, but its pipe handles cannot be handed out */
            hr = hc_hr_from_errno(e);
            if (!FAILED(hr)) hr = E_FAIL;
            if (doc) {
                char msg[256];
                hc_errno_text(msg, sizeof msg, "The process's pipe handles could not be created",
                              e);
                hj_value *re = hc_result_error(hr, msg);
                *doc = hc_doc_from_json(re);
                hj_free(re);
            }
            hc_unlock();
            return hr;
        }
    }
    if (doc && op->result) *doc = hc_doc_from_utf16(op->result);
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcsGetOperationResult(HCS_OPERATION operation, PWSTR *resultDocument) {
    return get_result(FN_HcsGetOperationResult, operation, -1, 0, NULL, resultDocument);
}

HRESULT WINAPI HcsGetOperationResultAndProcessInfo(HCS_OPERATION operation,
                                                   HCS_PROCESS_INFORMATION *processInformation,
                                                   PWSTR *resultDocument) {
    return get_result(FN_HcsGetOperationResultAndProcessInfo, operation, -1, 1, processInformation,
                      resultDocument);
}

HRESULT WINAPI HcsWaitForOperationResult(HCS_OPERATION operation, DWORD timeoutMs,
                                         PWSTR *resultDocument) {
    return get_result(FN_HcsWaitForOperationResult, operation, (int64_t)timeoutMs, 0, NULL,
                      resultDocument);
}

HRESULT WINAPI HcsWaitForOperationResultAndProcessInfo(HCS_OPERATION operation, DWORD timeoutMs,
                                                       HCS_PROCESS_INFORMATION *processInformation,
                                                       PWSTR *resultDocument) {
    return get_result(FN_HcsWaitForOperationResultAndProcessInfo, operation, (int64_t)timeoutMs, 1,
                      processInformation, resultDocument);
}

HRESULT WINAPI HcsSetOperationCallback(HCS_OPERATION operation, const void *context,
                                       HCS_OPERATION_COMPLETION callback) {
    HRESULT hr = hc_enter_sync(FN_HcsSetOperationCallback);
    if (hr != S_OK) return hr;
    if (!callback) return E_INVALIDARG;
    hc_lock();
    hc_op *op = op_get(operation);
    if (!op)
        hr = E_HANDLE;
    else if (op->state == OP_PENDING)
        hr = HCS_E_OPERATION_ALREADY_STARTED;
    else if (op->ecb) /* created with notifications: its callback is set */
        hr = HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET;
    else {
        op->cb = callback;
        op->ctx = context;
    }
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcsCancelOperation(HCS_OPERATION operation) {
    (void)operation;
    HRESULT hr = hc_enter_sync(FN_HcsCancelOperation);
    if (hr != S_OK) return hr;
    return E_NOTIMPL;
}
