/* hcsim operations: the HCS_OPERATION object (NotStarted -> Pending -> Completed), the
 * path of an operation's work through the timed queue and its system's strand, and
 * completion delivery (the operation's own callback, or HcsEventOperationCallback on the
 * handle the call used). */
#include "hcsim_internal.h"

#include <stdlib.h>
#include <string.h>

static hc_op *op_get(HCS_OPERATION h) {
    return hc_reg_get(h, K_OP);
}

void hc_op_free(hc_op *op) {
    free(op->result);
    hc_unref(op->sh);
    hc_unref(op->ph);
    hc_unref(op->pinfo);
    free(op);
}

static void pending_add(hc_op *op) {
    op->pprev = NULL;
    op->pnext = G.pending;
    if (G.pending) G.pending->pprev = op;
    G.pending = op;
    op->in_pending = 1;
}

static void pending_del(hc_op *op) {
    if (!op->in_pending) return;
    if (op->pprev) op->pprev->pnext = op->pnext;
    else G.pending = op->pnext;
    if (op->pnext) op->pnext->pprev = op->pprev;
    op->pprev = op->pnext = NULL;
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

static void work_free(hc_work *w) { /* under lock */
    hc_unref(w->op);
    hc_unref(w->sys);
    hc_unref(w->sh);
    hc_unref(w->ph);
    hc_unref(w->proc);
    hj_free(w->args);
    free(w->raw);
    free(w->s1);
    free(w->s2);
    free(w);
}

HRESULT hc_op_check(hc_op *op, hc_sysh *sh, hc_proch *ph) {
    if (!op) return E_HANDLE;
    if (op->state == OP_PENDING) return HCS_E_OPERATION_ALREADY_STARTED;
    if (op->cb) {
        if (sh && sh->cb_set && (sh->opts & HcsEventOptionEnableOperationCallbacks))
            return HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET;
        if (ph && ph->cb_set && (ph->opts & HcsEventOptionEnableOperationCallbacks))
            return HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET;
    }
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
        work_free(w);
        hc_unlock();
    } else {
        hc_lock();
        if (w->abandon) w->abandon(w); /* e.g. a create that will now never happen */
        work_free(w);
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

void hc_op_begin(hc_op *op, HCS_OPERATION_TYPE type, hc_call *call, hc_work *w) {
    free(op->result);
    op->result = NULL;
    hc_unref(op->sh);
    hc_unref(op->ph);
    hc_unref(op->pinfo);
    op->pinfo = NULL;
    op->sh = w->sh;
    hc_ref(op->sh);
    op->ph = w->ph;
    hc_ref(op->ph);
    op->state = OP_PENDING;
    op->type = type;
    op->hr = S_OK;
    op->gen++;
    op->pend_sys = w->sys;
    pending_add(op);
    G.counts.PendingOperations++;
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
    hc_pool_post((uint64_t)call->completion_ms * 1000000u, op_due, w);
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
    if (op->closed) return;
    hc_strand *st = op->sh ? &op->sh->st : op->ph ? &op->ph->st : NULL;
    if (op->cb) {
        hc_op_done_item(op, gen, st);
    } else if (op->sh) {
        if (op->sh->cb_set && !op->sh->closed &&
            (op->sh->opts & HcsEventOptionEnableOperationCallbacks))
            hc_event_sysh(op->sh, HcsEventOperationCallback, NULL, op);
    } else if (op->ph) {
        if (op->ph->cb_set && !op->ph->closed &&
            (op->ph->opts & HcsEventOptionEnableOperationCallbacks))
            hc_event_proch(op->ph, HcsEventOperationCallback, NULL, op);
    }
}

void hc_op_fail_pending(hc_system *sys, hc_op *except, HRESULT hr) {
    hc_op *op = G.pending;
    while (op) {
        hc_op *next = op->pnext;
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

/* ---- the exports --------------------------------------------------------------------- */
HCS_OPERATION WINAPI HcsCreateOperation(const void *context, HCS_OPERATION_COMPLETION callback) {
    hc_call call;
    if (hc_enter(FN_HcsCreateOperation, &call) != S_OK) return NULL;
    hc_op *op = hc_obj_new(sizeof *op, K_OP);
    if (!op) return NULL;
    op->ctx = context;
    op->cb = callback;
    op->state = OP_NOT_STARTED;
    op->type = HcsOperationTypeNone;
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

void WINAPI HcsCloseOperation(HCS_OPERATION operation) {
    hc_call call;
    if (hc_enter(FN_HcsCloseOperation, &call) != S_OK) return;
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

void *WINAPI HcsGetOperationContext(HCS_OPERATION operation) {
    hc_call call;
    if (hc_enter(FN_HcsGetOperationContext, &call) != S_OK) return NULL;
    hc_lock();
    hc_op *op = op_get(operation);
    void *ctx = op ? (void *)(uintptr_t)op->ctx : NULL;
    hc_unlock();
    return ctx;
}

HRESULT WINAPI HcsSetOperationContext(HCS_OPERATION operation, const void *context) {
    hc_call call;
    HRESULT hr = hc_enter(FN_HcsSetOperationContext, &call);
    if (hr != S_OK) return hr;
    hc_lock();
    hc_op *op = op_get(operation);
    if (op) op->ctx = context;
    hc_unlock();
    return op ? S_OK : E_HANDLE;
}

HCS_SYSTEM WINAPI HcsGetComputeSystemFromOperation(HCS_OPERATION operation) {
    hc_call call;
    if (hc_enter(FN_HcsGetComputeSystemFromOperation, &call) != S_OK) return NULL;
    hc_lock();
    hc_op *op = op_get(operation);
    HCS_SYSTEM r = NULL;
    if (op && op->state != OP_NOT_STARTED && op->sh && !op->sh->closed) r = (HCS_SYSTEM)HC_HANDLE(op->sh);
    hc_unlock();
    return r;
}

HCS_PROCESS WINAPI HcsGetProcessFromOperation(HCS_OPERATION operation) {
    hc_call call;
    if (hc_enter(FN_HcsGetProcessFromOperation, &call) != S_OK) return NULL;
    hc_lock();
    hc_op *op = op_get(operation);
    HCS_PROCESS r = NULL;
    if (op && op->state != OP_NOT_STARTED && op->ph && !op->ph->closed) r = (HCS_PROCESS)HC_HANDLE(op->ph);
    hc_unlock();
    return r;
}

HCS_OPERATION_TYPE WINAPI HcsGetOperationType(HCS_OPERATION operation) {
    hc_call call;
    if (hc_enter(FN_HcsGetOperationType, &call) != S_OK) return HcsOperationTypeNone;
    hc_lock();
    hc_op *op = op_get(operation);
    HCS_OPERATION_TYPE t = op ? op->type : HcsOperationTypeNone;
    hc_unlock();
    return t;
}

UINT64 WINAPI HcsGetOperationId(HCS_OPERATION operation) {
    hc_call call;
    if (hc_enter(FN_HcsGetOperationId, &call) != S_OK) return HCS_INVALID_OPERATION_ID;
    hc_lock();
    hc_op *op = op_get(operation);
    UINT64 id = op ? op->id : HCS_INVALID_OPERATION_ID;
    hc_unlock();
    return id;
}

/* Shared body of the four result getters. timeout_ms < 0: do not wait. */
static HRESULT get_result(fn_id fn, HCS_OPERATION operation, int64_t timeout_ms, int want_pinfo,
                          HCS_PROCESS_INFORMATION *pi, PWSTR *doc) {
    if (doc) *doc = NULL;
    hc_call call;
    HRESULT hr = hc_enter(fn, &call);
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
        while (op->state == OP_PENDING && op->gen == gen) {
            if (timeout_ms == (int64_t)INFINITE) {
                plat_cond_wait(&G.op_cond, &G.lock);
                continue;
            }
            uint64_t now = plat_now_ms();
            if (now >= deadline) break;
            plat_cond_timedwait(&G.op_cond, &G.lock, (uint32_t)(deadline - now));
        }
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
    if (doc && op->result) *doc = hc_doc_from_utf16(op->result);
    if (want_pinfo && pi && SUCCEEDED(hr)) {
        memset(pi, 0, sizeof *pi);
        if (op->pinfo) hc_pipe_handles_for(op->pinfo, pi);
    }
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
    hc_call call;
    HRESULT hr = hc_enter(FN_HcsSetOperationCallback, &call);
    if (hr != S_OK) return hr;
    if (!callback) return E_INVALIDARG;
    hc_lock();
    hc_op *op = op_get(operation);
    if (!op) hr = E_HANDLE;
    else if (op->state == OP_PENDING) hr = HCS_E_OPERATION_ALREADY_STARTED;
    else {
        op->cb = callback;
        op->ctx = context;
    }
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcsCancelOperation(HCS_OPERATION operation) {
    (void)operation;
    hc_call call;
    HRESULT hr = hc_enter(FN_HcsCancelOperation, &call);
    if (hr != S_OK) return hr;
    return E_NOTIMPL;
}
