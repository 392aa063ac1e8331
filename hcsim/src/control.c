/* hcsim control API (hcsim.cdef): fault injection, delays, hidden exports, simulated
 * crashes/guest shutdown/raw events, service disconnect, options, counters and reset. */
#include "hcsim_internal.h"
#include "hvsock.h"
#include "network.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

static int is_any(const char *function) { return !function || !strcmp(function, "*"); }

HRESULT HcsimFailNext(const char *function, uint32_t count, HRESULT result, HCSIM_FAULT_MODE mode) {
    if (hc_remote_serves(function))
        return hc_remote_call(HCW_CTL_HcsimFailNext, (uint32_t)(function != NULL), function, count,
                              (uint32_t)result, (uint32_t)mode);
    hc_init();
    if (mode != HcsimFaultSync && mode != HcsimFaultAsync) return E_INVALIDARG;
    if (count && SUCCEEDED(result)) return E_INVALIDARG;
    int idx = -1;
    if (!is_any(function)) {
        idx = hc_fn_lookup(function);
        if (idx < 0 || (hc_fn_flags[idx] & FN_NOHR)) return E_INVALIDARG;
        /* computenetwork calls take no operation: only sync faults */
        if ((hc_fn_flags[idx] & FN_HCN) && mode == HcsimFaultAsync && count) return E_INVALIDARG;
    }
    hc_lock();
    hc_control_touched(1);
    hc_fault *f = idx < 0 ? &G.fault_any : &G.faults[idx];
    f->count = count;
    f->hr = result;
    f->mode = (int)mode;
    hc_unlock();
    return S_OK;
}

HRESULT HcsimSetDelay(const char *function, uint32_t completionMs, uint32_t syncMs) {
    if (hc_remote_serves(function)) {
        /* the completion delay is the service's; the caller (this client) sleeps syncMs */
        HRESULT hr = hc_remote_call(HCW_CTL_HcsimSetDelay, (uint32_t)(function != NULL), function,
                                    completionMs, 0u);
        if (hr != S_OK) return hr;
        completionMs = 0;
    }
    hc_init();
    int idx = -1;
    if (!is_any(function)) {
        idx = hc_fn_lookup(function);
        if (idx < 0) return E_INVALIDARG;
    }
    hc_lock();
    hc_control_touched(1);
    hc_delay *d = idx < 0 ? &G.delay_any : &G.delays[idx];
    d->completion_ms = completionMs;
    d->sync_ms = syncMs;
    d->set = completionMs || syncMs;
    hc_unlock();
    return S_OK;
}

HRESULT HcsimSetExportHidden(const char *function, BOOL hidden) {
    if (hc_remote_serves(function)) {
        HRESULT hr = hc_remote_call(HCW_CTL_HcsimSetExportHidden, (uint32_t)(function != NULL),
                                    function, (uint32_t)(hidden != 0));
        if (hr != S_OK || !is_any(function)) return hr; /* "*": the local exports too */
    }
    hc_init();
    hc_lock();
    hc_control_touched(1);
    if (is_any(function)) {
        for (int i = 0; i < FN_COUNT; i++) G.hidden[i] = hidden ? 1 : 0;
    } else {
        int idx = hc_fn_lookup(function);
        if (idx < 0) {
            hc_unlock();
            return E_INVALIDARG;
        }
        G.hidden[idx] = hidden ? 1 : 0;
    }
    hc_unlock();
    return S_OK;
}

BOOL HcsimIsExportAvailable(const char *function) {
    uint32_t available = 0;
    if (hc_remote_serves(function))
        return SUCCEEDED(hc_remote_call(HCW_CTL_HcsimIsExportAvailable,
                                        (uint32_t)(function != NULL), function, &available)) &&
               available;
    hc_init();
    int idx = hc_fn_lookup(function);
    if (idx < 0) return FALSE;
    hc_lock();
    BOOL r = G.hidden[idx] ? FALSE : TRUE;
    hc_unlock();
    return r;
}

/* Shared body of the controls that act on one live system: act runs under the lock. */
static HRESULT system_control(PCWSTR ns, PCWSTR id, HRESULT (*act)(hc_system *s, const void *arg),
                              const void *arg) {
    hc_init();
    char *ns8 = ns ? hc_u8(ns) : NULL, *id8 = hc_u8(id);
    HRESULT hr;
    hc_lock();
    hc_system *s = NULL;
    if (!id8 || (ns && !ns8))
        hr = E_INVALIDARG;
    else if (!(s = hc_sys_find(ns8, id8)))
        hr = HCS_E_SYSTEM_NOT_FOUND;
    else
        hr = act(s, arg);
    hc_unlock();
    free(ns8);
    free(id8);
    return hr;
}

static HRESULT act_crash(hc_system *s, const void *arg) {
    (void)arg;
    hc_sys_exit(s, NULL, "UnexpectedExit", HCS_E_UNEXPECTED_EXIT, "UnexpectedExit", "Internal", 1);
    return S_OK;
}

HRESULT HcsimCrashSystem(PCWSTR idNamespace, PCWSTR id) {
    if (hc_remote_active()) return hc_remote_call(HCW_CTL_HcsimCrashSystem, idNamespace, id);
    return system_control(idNamespace, id, act_crash, NULL);
}

static HRESULT act_guest_shutdown(hc_system *s, const void *arg) {
    (void)arg;
    if (s->state != SS_RUNNING) return HCS_E_INVALID_STATE;
    hc_sys_exit(s, NULL, "GracefulExit", S_OK, "Shutdown", "GuestOS", 0);
    return S_OK;
}

HRESULT HcsimGuestShutdown(PCWSTR idNamespace, PCWSTR id) {
    if (hc_remote_active()) return hc_remote_call(HCW_CTL_HcsimGuestShutdown, idNamespace, id);
    return system_control(idNamespace, id, act_guest_shutdown, NULL);
}

typedef struct raw_event {
    HCS_EVENT_TYPE type;
    const char16_t *data;
} raw_event;

static HRESULT act_raise(hc_system *s, const void *arg) {
    const raw_event *e = arg;
    hc_event_list(s->handles, e->type, e->data);
    return S_OK;
}

HRESULT HcsimRaiseSystemEvent(PCWSTR idNamespace, PCWSTR id, uint32_t type, PCWSTR eventData) {
    if (hc_remote_active())
        return hc_remote_call(HCW_CTL_HcsimRaiseSystemEvent, idNamespace, id, type, eventData);
    raw_event e = {(HCS_EVENT_TYPE)type, (const char16_t *)eventData};
    return system_control(idNamespace, id, act_raise, &e);
}

static void disconnect_evh(void *h) { hc_event_post(h, HcsEventServiceDisconnect, NULL, NULL); }

void hc_disconnect_handles(void) {
    hc_op_fail_all_pending(HCS_E_SERVICE_DISCONNECT);
    hc_reg_each(K_SYSH, disconnect_evh);
    hc_reg_each(K_PROCH, disconnect_evh);
    hc_network_disconnect();
    plat_cond_broadcast(&G.exit_cond);
}

HRESULT HcsimDisconnectService(void) {
    if (hc_remote_active()) return hc_remote_call(HCW_CTL_HcsimDisconnectService);
    hc_init();
    hc_lock();
    if (!G.disconnected) {
        hc_control_touched(1);
        G.disconnected = 1;
        hc_disconnect_handles();
    }
    hc_unlock();
    return S_OK;
}

HRESULT HcsimSetOption(const char *name, int64_t value) {
    if (hc_remote_active())
        return name ? hc_remote_call(HCW_CTL_HcsimSetOption, name, value) : E_INVALIDARG;
    hc_init();
    if (!name) return E_INVALIDARG;
    HRESULT hr = S_OK;
    hc_lock();
    if (!strcmp(name, "WorkerThreads")) {
        if (value < 1 || value > 256)
            hr = E_INVALIDARG;
        else if (G.pool_running)
            hr = HCS_E_INVALID_STATE;
        else
            G.opt_workers = (int)value;
    } else if (!strcmp(name, "RejectSecondCallback")) {
        if (value != 0 && value != 1)
            hr = E_INVALIDARG;
        else
            G.opt_reject_second_cb = (int)value;
    } else if (!strcmp(name, "SchemaMinorVersion")) {
        if (value < 0 || value > 100)
            hr = E_INVALIDARG;
        else
            G.opt_schema_minor = (int)value;
    } else if (!strcmp(name, "LogicalProcessorCount")) {
        if (value < 1 || value > 1024)
            hr = E_INVALIDARG;
        else
            G.opt_lp_count = (int)value;
    } else if (!strcmp(name, "LatencyProfile")) {
        if (value != HC_LATENCY_INSTANT && value != HC_LATENCY_REALISTIC)
            hr = E_INVALIDARG;
        else
            hc_latency_set_profile((int)value);
    } else if (!strcmp(name, "LatencySeed")) {
        if (value < 0)
            hr = E_INVALIDARG;
        else
            hc_latency_set_seed((uint64_t)value);
    } else {
        hr = E_INVALIDARG;
    }
    hc_unlock();
    return hr;
}

HRESULT HcsimGetOption(const char *name, int64_t *value) {
    if (hc_remote_active())
        return name && value ? hc_remote_call(HCW_CTL_HcsimGetOption, name, (void *)value)
                             : E_INVALIDARG;
    hc_init();
    if (!name || !value) return E_INVALIDARG;
    HRESULT hr = S_OK;
    hc_lock();
    if (!strcmp(name, "WorkerThreads"))
        *value = G.opt_workers;
    else if (!strcmp(name, "RejectSecondCallback"))
        *value = G.opt_reject_second_cb;
    else if (!strcmp(name, "SchemaMinorVersion"))
        *value = G.opt_schema_minor;
    else if (!strcmp(name, "LogicalProcessorCount"))
        *value = G.opt_lp_count;
    else if (!strcmp(name, "LatencyProfile"))
        *value = hc_latency_profile();
    else if (!strcmp(name, "LatencySeed"))
        *value = (int64_t)(hc_latency_seed() & INT64_MAX);
    else
        hr = E_INVALIDARG;
    hc_unlock();
    return hr;
}

void HcsimGetCounts(HCSIM_COUNTS *counts) {
    hc_init();
    if (!counts) return;
    if (hc_remote_active()) {
        hc_remote_counts(counts);
        return;
    }
    hc_lock();
#if PLAT_HOST_RELEASES
    hc_handouts_recount();
#endif
    *counts = G.counts;
    hc_unlock();
}

static void detach_evh(void *p) {
    hc_evh *h = p;
    h->cb_set = 0;
    h->cb = NULL;
}
static void detach_op(void *p) { ((hc_op *)p)->cb = NULL; }

HRESULT HcsimReset(void) {
    if (hc_remote_active()) return hc_remote_reset();
    return hc_reset_local();
}

HRESULT hc_reset_local(void) {
    hc_init();
    if (hc_in_worker()) return HCS_E_INVALID_STATE; /* not from inside a callback */
    hc_lock();
    /* no callback starts from now on; delays no longer apply */
    hc_reg_each(K_SYSH, detach_evh);
    hc_reg_each(K_PROCH, detach_evh);
    hc_reg_each(K_OP, detach_op);
    hc_network_detach();
    memset(G.delays, 0, sizeof G.delays);
    memset(&G.delay_any, 0, sizeof G.delay_any);
    memset(G.faults, 0, sizeof G.faults);
    memset(&G.fault_any, 0, sizeof G.fault_any);
    uint64_t deadline = plat_now_ms() + 10000; /* bound the wait for reaping */
    for (int round = 0; round < 100; round++) {
        hc_pool_quiesce();
        hc_sys_reset_all();
        while (G.counts.Processes > 0 && plat_now_ms() < deadline)
            plat_cond_timedwait(&G.exit_cond, &G.lock, 50);
        hc_pool_quiesce();
        if (!G.table && hc_pool_idle() && !G.pending) break;
    }
    hc_op_fail_all_pending(HCS_E_SERVICE_DISCONNECT); /* nothing should remain; never hang */
    hc_pool_quiesce();
    hc_network_reset(); /* (its callbacks' strands are idle now) */
    hc_pool_quiesce();
    hc_pool_stop();
    memset(G.hidden, 0, sizeof G.hidden);
    G.disconnected = 0;
    G.opt_workers = 4;
    G.opt_reject_second_cb = 1;
    G.opt_schema_minor = 6;
    G.opt_lp_count = 4;
    hc_latency_from_env(); /* the profile and seed the environment names (again) */
    hc_service_reset();
    hc_hvsock_reset();
    hc_control_touched(0);
    hc_unlock();
    return S_OK;
}
