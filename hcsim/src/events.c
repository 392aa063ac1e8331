/* hcsim event delivery: events and completions are items on the strand of the handle
 * they are delivered to, so one handle sees them in order and never concurrently.
 * Callbacks run on pool threads without the emulator lock; EventData is a private copy
 * freed right after the callback returns. */
#include "hcsim_internal.h"

#include <stdlib.h>

typedef struct event_item {
    hc_item base;
    hc_obj *handle;           /* hc_sysh or hc_proch (ref) */
    HCS_EVENT_TYPE type;
    char16_t *data;
    hc_op *op;                /* ref, for HcsEventOperationCallback */
} event_item;

static void event_run(hc_item *it) {
    event_item *e = (event_item *)it;
    HCS_EVENT_CALLBACK cb = NULL;
    void *ctx = NULL;
    hc_strand *st;
    int deliver = 0;
    hc_lock();
    if (e->handle->kind == K_SYSH) {
        hc_sysh *h = (hc_sysh *)e->handle;
        st = &h->st;
        deliver = h->cb_set && !h->closed && h->cb;
        if (e->type == HcsEventOperationCallback)
            deliver = deliver && (h->opts & HcsEventOptionEnableOperationCallbacks) &&
                      (!e->op || !e->op->closed);
        cb = h->cb;
        ctx = (void *)(uintptr_t)h->ctx;
    } else {
        hc_proch *h = (hc_proch *)e->handle;
        st = &h->st;
        deliver = h->cb_set && !h->closed && h->cb;
        if (e->type == HcsEventOperationCallback)
            deliver = deliver && (h->opts & HcsEventOptionEnableOperationCallbacks) &&
                      (!e->op || !e->op->closed);
        cb = h->cb;
        ctx = h->ctx;
    }
    if (deliver) {
        st->in_cb = 1;
        hc_unlock();
        HCS_EVENT ev;
        ev.Type = e->type;
        ev.EventData = e->data;
        ev.Operation = e->op ? (HCS_OPERATION)HC_HANDLE(e->op) : NULL;
        cb(&ev, ctx);
        hc_lock();
        st->in_cb = 0;
        plat_cond_broadcast(&G.cb_cond);
    }
    hc_unref(e->op);
    hc_unref(e->handle);
    hc_unlock();
    free(e->data);
    free(e);
}

static void post_event(hc_obj *handle, hc_strand *st, HCS_EVENT_TYPE type, const char16_t *data,
                       hc_op *op) {
    event_item *e = calloc(1, sizeof *e);
    if (!e) return;
    if (data && !(e->data = hj_utf16_dup(data))) {
        free(e);
        return;
    }
    e->base.run = event_run;
    e->handle = handle;
    hc_ref(handle);
    e->type = type;
    e->op = op;
    hc_ref(op);
    hc_strand_post(st, &e->base);
}

void hc_event_sysh(hc_sysh *h, HCS_EVENT_TYPE type, const char16_t *data, hc_op *op) {
    if (!h->cb_set || h->closed) return;
    post_event(&h->hdr, &h->st, type, data, op);
}

void hc_event_proch(hc_proch *h, HCS_EVENT_TYPE type, const char16_t *data, hc_op *op) {
    if (!h->cb_set || h->closed) return;
    post_event(&h->hdr, &h->st, type, data, op);
}

void hc_event_system(hc_system *s, HCS_EVENT_TYPE type, const hj_value *payload) {
    char16_t *data = payload ? hj_serialize_utf16(payload) : NULL;
    for (hc_sysh *h = s->handles; h; h = h->next) hc_event_sysh(h, type, data, NULL);
    free(data);
}

/* ---- an operation's own completion callback ---------------------------------------- */
typedef struct done_item {
    hc_item base;
    hc_op *op;                 /* ref */
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
    if (s) hc_strand_post(s, &d->base);
    else hc_pool_post(0, done_task, d);
}

void hc_wait_handle_callbacks(hc_strand *s) {
    uint64_t self = plat_thread_id();
    while (s->in_cb && s->running_tid != self) plat_cond_wait(&G.cb_cond, &G.lock);
}
