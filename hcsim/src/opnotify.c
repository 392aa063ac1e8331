/* hcsim: the operation calls of the newest SDK. HcsCreateOperationWithNotifications (an
 * operation whose completion and progress are events to its own HCS_EVENT_CALLBACK, in
 * order on the operation's strand), HcsAddResourceToOperation (resources a call that
 * starts the operation uses, e.g. the socket of a live migration) and
 * HcsGetOperationProperties (an OperationInfo document). README: "The newest SDK". */
#include "hcsim_internal.h"

#include <stdlib.h>
#include <string.h>

/* Progress events of an operation with HcsOperationOptionProgressUpdate come during
 * operations whose completion takes at least this long, at each quarter of it. */
#define PROGRESS_MIN_MS 10u

typedef struct hc_opres {
    struct hc_opres *next;
    HCS_RESOURCE_TYPE type;
    char *uri;
    plat_fd sock;   /* hcsim's copy of a socket resource, else PLAT_NO_FD */
    intptr_t value; /* the HANDLE value as given */
} hc_opres;

static void res_free(hc_opres *r) {
    while (r) {
        hc_opres *next = r->next;
        plat_sock_close(r->sock);
        free(r->uri);
        free(r);
        r = next;
    }
}

void hc_opn_free(hc_op *op) {
    res_free(op->res);
    op->res = NULL;
}

plat_fd hc_op_socket(hc_op *op, const char *uri) {
    for (hc_opres *r = op->res; r; r = r->next)
        if (r->type == HcsResourceTypeSocket && !strcmp(r->uri, uri)) return plat_sock_dup(r->sock);
    return PLAT_NO_FD;
}

const char *hc_op_type_name(HCS_OPERATION_TYPE type) {
    switch (type) {
    case HcsOperationTypeCreate: return "Construct";
    case HcsOperationTypeStart: return "Start";
    case HcsOperationTypeShutdown: return "Shutdown";
    case HcsOperationTypePause: return "Pause";
    case HcsOperationTypeResume: return "Resume";
    case HcsOperationTypeSave: return "Save";
    case HcsOperationTypeTerminate: return "Terminate";
    case HcsOperationTypeModify: return "Modify";
    case HcsOperationTypeGetProperties: return "GetProperties";
    case HcsOperationTypeCreateProcess: return "ExecuteProcess";
    case HcsOperationTypeSignalProcess: return "SignalProcess";
    case HcsOperationTypeGetProcessInfo: return "GetProcessInfo";
    case HcsOperationTypeGetProcessProperties: return "GetProcessInfo";
    case HcsOperationTypeModifyProcess: return "ModifyProcess";
    case HcsOperationTypeCrash: return "Crash";
    default: return "None"; /* Enumerate, LiveMigration: the schema has no name for them */
    }
}

/* ---- events to the operation's own callback ------------------------------------------ */
typedef struct op_event {
    hc_item base;
    hc_op *op; /* ref */
    HCS_EVENT_TYPE type;
    char16_t *data;
} op_event;

static void op_event_run(hc_item *it) {
    op_event *e = (op_event *)it;
    hc_op *op = e->op;
    hc_lock();
    HCS_EVENT_CALLBACK cb = op->ecb;
    if (!op->closed && cb) {
        op->in_cb = 1;
        op->cb_tid = plat_thread_id();
        void *ctx = (void *)(uintptr_t)op->ctx;
        hc_unlock();
        HCS_EVENT ev;
        ev.Type = e->type;
        ev.EventData = e->data;
        ev.Operation = (HCS_OPERATION)HC_HANDLE(op);
        cb(&ev, ctx);
        hc_lock();
        op->in_cb = 0;
        plat_cond_broadcast(&G.cb_cond);
    }
    hc_unref(op);
    hc_unlock();
    free(e->data);
    free(e);
}

/* Under lock: queues an event for op's callback (data is taken). */
static void op_event_post(hc_op *op, HCS_EVENT_TYPE type, char16_t *data) {
    op_event *e = calloc(1, sizeof *e);
    if (!e) {
        free(data);
        return;
    }
    e->base.run = op_event_run;
    e->op = op;
    hc_ref(op);
    e->type = type;
    e->data = data;
    hc_strand_post(&op->est, &e->base);
}

void hc_opn_event(hc_op *op, uint32_t gen, HCS_EVENT_TYPE type, char16_t *data) {
    if (!op->ecb || op->closed || op->gen != gen || op->state != OP_PENDING) {
        free(data);
        return;
    }
    op_event_post(op, type, data);
}

void hc_opn_each_resource(hc_op *op,
                          void (*fn)(void *ctx, HCS_RESOURCE_TYPE type, const char *uri,
                                     plat_fd sock),
                          void *ctx) {
    for (hc_opres *r = op->res; r; r = r->next) fn(ctx, r->type, r->uri, r->sock);
}

void hc_opn_progress(hc_op *op, uint32_t gen, uint32_t percent) {
    if (!op->ecb || !(op->eopts & HcsOperationOptionProgressUpdate) || op->closed ||
        op->gen != gen || op->state != OP_PENDING)
        return;
    hj_value *d = hj_new_object();
    hj_set(d, "Operation", hj_new_string(hc_op_type_name(op->type)));
    hj_value *p = hj_new_object();
    hj_set(p, "PercentComplete", hj_new_uint(percent > 100 ? 100 : percent));
    hj_set(d, "Progress", p);
    char16_t *data = hj_serialize_utf16(d);
    hj_free(d);
    if (data) op_event_post(op, HcsEventGroupOperationInfo, data);
}

typedef struct progress_tick {
    hc_op *op; /* ref */
    uint32_t gen, percent;
} progress_tick;

static void progress_tick_run(void *arg) {
    progress_tick *t = arg;
    hc_lock();
    hc_opn_progress(t->op, t->gen, t->percent);
    hc_unref(t->op);
    hc_unlock();
    free(t);
}

void hc_opn_begin(hc_op *op, uint32_t completion_ms) {
    hc_wall_time(op->start_time);
    op->end_time[0] = 0;
    if (!op->ecb || !(op->eopts & HcsOperationOptionProgressUpdate) ||
        completion_ms < PROGRESS_MIN_MS)
        return;
    for (uint32_t q = 1; q <= 3; q++) {
        progress_tick *t = calloc(1, sizeof *t);
        if (!t) return;
        t->op = op;
        hc_ref(op);
        t->gen = op->gen;
        t->percent = 25 * q;
        hc_pool_post((uint64_t)completion_ms * q / 4 * 1000000u, progress_tick_run, t);
    }
}

int hc_opn_complete(hc_op *op) {
    hc_wall_time(op->end_time);
    if (!op->ecb) return 0;
    if (!op->closed) op_event_post(op, HcsEventOperationCallback, NULL);
    return 1;
}

/* ---- the exports ----------------------------------------------------------------------- */
HCS_OPERATION WINAPI HcsCreateOperationWithNotifications(HCS_OPERATION_OPTIONS eventTypes,
                                                         const void *context,
                                                         HCS_EVENT_CALLBACK callback) {
    /* every option but ProgressUpdate is undefined or reserved; the events need a callback */
    if (((uint32_t)eventTypes & ~(uint32_t)HcsOperationOptionProgressUpdate) || !callback) {
        hc_enter_sync(FN_HcsCreateOperationWithNotifications); /* counted as a call */
        return NULL;
    }
    return hc_op_create(FN_HcsCreateOperationWithNotifications, context, NULL, callback,
                        (uint32_t)eventTypes);
}

HRESULT WINAPI HcsAddResourceToOperation(HCS_OPERATION operation, HCS_RESOURCE_TYPE type,
                                         PCWSTR uri, HANDLE handle) {
    HRESULT hr = hc_enter_sync(FN_HcsAddResourceToOperation);
    if (hr != S_OK) return hr;
    intptr_t value = (intptr_t)handle;
    if (type <= HcsResourceTypeNone || type > HcsResourceTypeSocket || !uri || !uri[0] || !handle ||
        handle == INVALID_HANDLE_VALUE)
        return E_INVALIDARG;
    if (type == HcsResourceTypeSocket && !plat_sock_is(value)) return E_INVALIDARG;
    char *u8 = hc_u8(uri);
    if (!u8) return E_INVALIDARG;
    hc_opres *r = calloc(1, sizeof *r);
    if (!r) {
        free(u8);
        return E_OUTOFMEMORY;
    }
    r->type = type;
    r->uri = u8;
    r->value = value;
    r->sock = PLAT_NO_FD;
    if (type == HcsResourceTypeSocket && (r->sock = plat_sock_dup(value)) == PLAT_NO_FD) {
        res_free(r);
        return E_OUTOFMEMORY; /* no descriptor left for hcsim's copy */
    }
    hc_lock();
    hc_op *op = hc_reg_get(operation, K_OP);
    if (!op)
        hr = E_HANDLE;
    else if (op->state == OP_PENDING)
        hr = HCS_E_OPERATION_ALREADY_STARTED;
    if (hr == S_OK) {
        r->next = op->res;
        op->res = r;
        r = NULL;
    }
    hc_unlock();
    res_free(r);
    return hr;
}

HRESULT WINAPI HcsGetOperationProperties(HCS_OPERATION operation, PCWSTR options,
                                         PWSTR *resultDocument) {
    if (resultDocument) *resultDocument = NULL;
    HRESULT hr = hc_enter_sync(FN_HcsGetOperationProperties);
    if (hr != S_OK) return hr;
    if (!resultDocument) return E_POINTER;
    options = hc_opt(options);
    hj_value *query = options ? hc_parse(options) : NULL;
    int bad = options && (!query || hj_typeof(query) != HJ_OBJECT);
    hj_free(query);
    if (bad) return HCS_E_INVALID_JSON;
    hc_lock();
    hc_op *op = hc_reg_get(operation, K_OP);
    if (!op) {
        hc_unlock();
        return E_HANDLE;
    }
    hj_value *d = hj_new_object();
    hj_set(d, "Operation", hj_new_string(hc_op_type_name(op->type)));
    if (op->state != OP_NOT_STARTED) hj_set(d, "StartTimestamp", hj_new_string(op->start_time));
    if (op->state == OP_COMPLETED) hj_set(d, "EndTimestamp", hj_new_string(op->end_time));
    if (op->state == OP_COMPLETED && FAILED(op->hr)) {
        hj_value *f = hj_new_object();
        hj_set(f, "Result", hj_new_int((int32_t)op->hr));
        hj_set(d, "FailureInfo", f);
    }
    *resultDocument = hc_doc_from_json(d);
    hj_free(d);
    hr = *resultDocument ? S_OK : E_OUTOFMEMORY;
    hc_unlock();
    return hr;
}
