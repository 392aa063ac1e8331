/* hcsim event handles and event delivery. HCS_SYSTEM and HCS_PROCESS handles share one
 * base (hc_evh): registration, the callback slot, close semantics and exit waits are
 * implemented here once. Events and completions are items on the strand of the handle
 * they are delivered to, so one handle sees them in order and never concurrently.
 * Callbacks run on pool threads without the emulator lock; EventData is a private copy
 * freed right after the callback returns. */
#include "hcsim_internal.h"

#include <stdlib.h>

/* ---- handles -------------------------------------------------------------------------- */
void *hc_evh_new(size_t size, int kind, hc_evh **list, uint32_t *count) {
    hc_evh *h = hc_obj_new(size, kind);
    if (!h) return NULL;
    if (hc_reg_add(h, kind) != 0) {
        free(h);
        return NULL;
    }
    hc_strand_init(&h->st, &h->hdr);
    h->list = list;
    h->count = count;
    HC_LIST_PUSH(*list, h);
    (*count)++;
    return h;
}

void hc_evh_unlink(hc_evh *h) {
    hc_reg_del(h);
    h->closed = 1;
    (*h->count)--;
    HC_LIST_UNLINK(*h->list, h);
}

/* Waits for an event callback of the handle running on another thread (never for one
 * running on the calling thread: closing a handle from its own callback must not hang). */
void hc_evh_release(hc_evh *h) {
    uint64_t self = plat_thread_id();
    while (h->st.in_cb && h->st.running_tid != self) plat_cond_wait(&G.cb_cond, &G.lock);
    hc_unref(h);
}

int hc_evh_op_events(const hc_evh *h) {
    return h->cb_set && !h->closed && (h->opts & HcsEventOptionEnableOperationCallbacks);
}

void hc_evh_close(fn_id fn, const void *handle, int kind, void (*after_unlink)(hc_evh *h)) {
    if (hc_enter_sync(fn) != S_OK) return;
    hc_lock();
    hc_evh *h = hc_reg_get(handle, kind);
    if (h) {
        hc_evh_unlink(h);
        if (after_unlink) after_unlink(h);
        hc_evh_release(h);
    }
    hc_unlock();
}

int hc_event_options_valid(uint32_t options) { return !(options & ~HC_EVENT_OPTIONS_DEFINED); }

/* Posts the terminal event to h (under lock, h has a callback) if its object has ended
 * and h has not had it yet. */
static void late_terminal(hc_evh *h, hc_terminal_fn terminal) {
    HCS_EVENT_TYPE type = HcsEventInvalid;
    hj_value *payload = h->term_sent || !terminal ? NULL : terminal(h, &type);
    if (!payload) return;
    char16_t *data = hj_serialize_utf16(payload);
    hj_free(payload);
    hc_event_post(h, type, data, NULL);
    free(data);
    h->term_sent = 1;
}

HRESULT hc_evh_set_callback(fn_id fn, const void *handle, int kind, HCS_EVENT_OPTIONS options,
                            const void *context, HCS_EVENT_CALLBACK callback,
                            hc_terminal_fn terminal) {
    HRESULT hr = hc_enter_sync(fn);
    if (hr != S_OK) return hr;
    if (!hc_event_options_valid((uint32_t)options)) return E_INVALIDARG;
    hc_lock();
    hc_evh *h = hc_reg_get(handle, kind);
    if (!h) {
        hr = E_HANDLE;
    } else if (callback && h->cb_set && G.opt_reject_second_cb) {
        hr = HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET;
    } else { /* a NULL callback clears the slot */
        h->cb = callback;
        h->ctx = callback ? (void *)(uintptr_t)context : NULL;
        h->opts = callback ? (uint32_t)options : 0;
        h->cb_set = callback != NULL;
        if (callback) late_terminal(h, terminal);
    }
    hc_unlock();
    return hr;
}

HRESULT hc_evh_wait_exit(fn_id fn, const void *handle, int kind, DWORD timeout_ms, PWSTR *result,
                         HRESULT (*exited)(hc_evh *h, PWSTR *result)) {
    if (result) *result = NULL;
    HRESULT hr = hc_enter_sync(fn);
    if (hr != S_OK) return hr;
    hc_lock();
    hc_evh *h = hc_reg_get(handle, kind);
    if (!h) {
        hc_unlock();
        return E_HANDLE;
    }
    hc_ref(h);
    uint64_t deadline = plat_now_ms() + timeout_ms;
    for (;;) {
        if ((hr = exited(h, result)) != S_FALSE) break;
        if (G.disconnected) {
            hr = HCS_E_SERVICE_DISCONNECT;
            break;
        }
        if (h->closed) {
            hr = E_HANDLE;
            break;
        }
        if (!hc_wait_until(&G.exit_cond, deadline, timeout_ms == INFINITE)) {
            hr = HCS_E_OPERATION_TIMEOUT;
            break;
        }
    }
    hc_unref(h);
    hc_unlock();
    return hr;
}

/* ---- events --------------------------------------------------------------------------- */
/* 1 when h's registration options ask for events of this type: operation completions
 * need EnableOperationCallbacks, the VM-lifecycle and live-migration groups their
 * options; every other event is always delivered. */
static int wanted(const hc_evh *h, uint32_t type) {
    switch (type) {
    case HcsEventOperationCallback: return (h->opts & HcsEventOptionEnableOperationCallbacks) != 0;
    case HcsEventGroupVmLifecycle: return (h->opts & HcsEventOptionEnableVmLifecycle) != 0;
    case HcsEventGroupLiveMigration:
        return (h->opts & HcsEventOptionEnableLiveMigrationEvents) != 0;
    default: return 1;
    }
}

typedef struct event_item {
    hc_item base;
    hc_evh *handle; /* ref */
    HCS_EVENT_TYPE type;
    char16_t *data;
    hc_op *op; /* ref, for HcsEventOperationCallback */
} event_item;

static void event_run(hc_item *it) {
    event_item *e = (event_item *)it;
    hc_evh *h = e->handle;
    hc_lock();
    int deliver = h->cb_set && !h->closed && h->cb && wanted(h, (uint32_t)e->type);
    if (e->type == HcsEventOperationCallback) deliver = deliver && (!e->op || !e->op->closed);
    HCS_EVENT_CALLBACK cb = h->cb;
    void *ctx = h->ctx;
    if (deliver) {
        h->st.in_cb = 1;
        hc_unlock();
        HCS_EVENT ev;
        ev.Type = e->type;
        ev.EventData = e->data;
        ev.Operation = e->op ? (HCS_OPERATION)HC_HANDLE(e->op) : NULL;
        cb(&ev, ctx);
        hc_lock();
        h->st.in_cb = 0;
        plat_cond_broadcast(&G.cb_cond);
    }
    hc_unref(e->op);
    hc_unref(h);
    hc_unlock();
    free(e->data);
    free(e);
}

void hc_event_post(hc_evh *h, HCS_EVENT_TYPE type, const char16_t *data, hc_op *op) {
    if (!h->cb_set || h->closed || !wanted(h, (uint32_t)type)) return;
    event_item *e = calloc(1, sizeof *e);
    if (!e) return;
    if (data && !(e->data = aiohcs_utf16_dup(data, NULL))) {
        free(e);
        return;
    }
    e->base.run = event_run;
    e->handle = h;
    hc_ref(h);
    e->type = type;
    e->op = op;
    hc_ref(op);
    hc_strand_post(&h->st, &e->base);
}

void hc_event_list(hc_evh *list, HCS_EVENT_TYPE type, const char16_t *data) {
    for (hc_evh *h = list; h; h = h->next) hc_event_post(h, type, data, NULL);
}

void hc_event_list_json(hc_evh *list, HCS_EVENT_TYPE type, const hj_value *payload) {
    char16_t *data = payload ? hj_serialize_utf16(payload) : NULL;
    hc_event_list(list, type, data);
    free(data);
}

void hc_event_terminal(hc_evh *list, HCS_EVENT_TYPE type, const hj_value *payload) {
    hc_event_list_json(list, type, payload);
    for (hc_evh *h = list; h; h = h->next)
        if (h->cb_set) h->term_sent = 1;
}

/* ---- an operation's own completion callback ---------------------------------------- */
typedef struct done_item {
    hc_item base;
    hc_op *op; /* ref */
    HCS_OPERATION_COMPLETION cb;
    void *ctx;
} done_item;

static void done_run(hc_item *it) {
    done_item *d = (done_item *)it;
    hc_lock();
    int deliver = !d->op->closed;
    if (deliver) {
        d->op->in_cb = 1;
        d->op->cb_tid = plat_thread_id();
        hc_unlock();
        d->cb((HCS_OPERATION)HC_HANDLE(d->op), d->ctx);
        hc_lock();
        d->op->in_cb = 0;
        plat_cond_broadcast(&G.cb_cond);
    }
    hc_unref(d->op);
    hc_unlock();
    free(d);
}

static void done_task(void *arg) { done_run(arg); }

void hc_op_done_item(hc_op *op, uint32_t gen, hc_strand *s) {
    (void)gen;
    done_item *d = calloc(1, sizeof *d);
    if (!d) return;
    d->base.run = done_run;
    d->op = op;
    hc_ref(op);
    d->cb = op->cb;
    d->ctx = (void *)(uintptr_t)op->ctx;
    if (s)
        hc_strand_post(s, &d->base);
    else
        hc_pool_post(0, done_task, d);
}
