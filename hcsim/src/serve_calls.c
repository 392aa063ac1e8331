/* hcsim's service mode, the service side: what a client's CALL runs (README "Service mode:
 * the service and the protocol"): its decoding by the call's signature (wire.h) and the
 * call of the export or control function with the service's own handles. serve.c runs
 * the calls and sends their replies. POSIX only. */
#ifndef _WIN32
#include "serve.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A wait for exit runs in slices of this length, so that a connection going away ends
 * it (closing a handle does not wake hcsim's waits). */
#define WAIT_SLICE_MS 200u

/* A handle's callback context: the connection's id and the client's handle id, never a
 * pointer (serve_forward_event looks the connection up). */
static void *event_context(uint32_t conn_id, uint32_t hid) {
    return (void *)(uintptr_t)(((uint64_t)conn_id << 32) | hid);
}

/* Operation completions are the client's business (it keeps its operations). */
static HCS_EVENT_OPTIONS forwarded_options(uint64_t options) {
    return (HCS_EVENT_OPTIONS)((uint32_t)options &
                               ~(uint32_t)HcsEventOptionEnableOperationCallbacks);
}

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
        if (hr != HCS_E_OPERATION_TIMEOUT || serve_conn_dying(c)) return hr;
        if (timeout != INFINITE && plat_now_ms() - start >= timeout) return hr;
    }
}

/* hcsim's handle (of a CALL's argument i, or a new one) and the callback context of a new
 * handle id; the handles a call makes join the table in run_call. */
#define ARG_S(i)    (call->a[i].s)
#define ARG_U(i)    (call->a[i].u)
#define ARG_B(i)    (call->a[i].b)
#define ARG_FD(i)   (call->a[i].fd >= 0 ? (HANDLE)(intptr_t)call->a[i].fd : NULL)
#define ARG_SYS(i)  ((HCS_SYSTEM)serve_handle_get(c, call->a[i].u, 's', 0))
#define ARG_PROC(i) ((HCS_PROCESS)serve_handle_get(c, call->a[i].u, 'p', 0))

/* The control calls. */
HRESULT serve_run_control(svc_call *call, svc_out *out) {
/* a function name that may be NULL: "u" present, then "b" */
#define ARG_NAME (ARG_U(0) ? ARG_B(1) : NULL)
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
        serve_ops_forget(); /* hcsim detached every callback */
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
    case HCW_CTL_HcsimServiceRequestStop: serve_request_stop(); return S_OK;
    case HCW_CTL_HcsimHvSocketPath:
        return HcsimHvSocketPath(ARG_S(0), ARG_S(1), (uint32_t)ARG_U(2), &out->str);
    default: return E_NOTIMPL;
    }
}

/* ---- computenetwork ------------------------------------------------------------------- */
#define ARG_G(i) (call->a[i].has_g ? (REFGUID) & call->a[i].g : NULL)

/* The table kind of the HCN handle fn takes first (its 'n' argument), or 0. */
static int hcn_arg_kind(uint32_t fn) {
    switch (fn) {
    case FN_HcnModifyNetwork:
    case FN_HcnQueryNetworkProperties:
    case FN_HcnCloseNetwork:
    case FN_HcnCreateEndpoint: return 'N';
    case FN_HcnModifyNamespace:
    case FN_HcnQueryNamespaceProperties:
    case FN_HcnCloseNamespace: return 'M';
    case FN_HcnModifyEndpoint:
    case FN_HcnQueryEndpointProperties:
    case FN_HcnQueryEndpointStats:
    case FN_HcnQueryEndpointAddresses:
    case FN_HcnCloseEndpoint: return 'E';
    case FN_HcnModifyLoadBalancer:
    case FN_HcnQueryLoadBalancerProperties:
    case FN_HcnCloseLoadBalancer: return 'L';
    case FN_HcnRegisterGuestNetworkServiceCallback:
    case FN_HcnCloseGuestNetworkService:
    case FN_HcnModifyGuestNetworkService:
    case FN_HcnReserveGuestNetworkServicePort:
    case FN_HcnReserveGuestNetworkServicePortRange: return 'G';
    case FN_HcnUnregisterServiceCallback: return 'K';
    case FN_HcnUnregisterGuestNetworkServiceCallback: return 'J';
    case FN_HcnReleaseGuestNetworkServicePortReservationHandle: return 'T';
    default: return 0;
    }
}

int serve_made_kind(uint32_t fn, char r) {
    switch (r) {
    case 'h': return 's';
    case 'p': return 'p';
    case 'k': return fn == FN_HcnRegisterServiceCallback ? 'K' : 'J';
    case 't': return 'T';
    default: break;
    }
    switch (fn) {
    case FN_HcnCreateNetwork:
    case FN_HcnOpenNetwork: return 'N';
    case FN_HcnCreateNamespace:
    case FN_HcnOpenNamespace: return 'M';
    case FN_HcnCreateEndpoint:
    case FN_HcnOpenEndpoint: return 'E';
    case FN_HcnCreateLoadBalancer:
    case FN_HcnOpenLoadBalancer: return 'L';
    default: return 'G'; /* HcnCreateGuestNetworkService */
    }
}

typedef HRESULT(WINAPI *hcn_enum_fn)(PCWSTR, PWSTR *, PWSTR *);
typedef HRESULT(WINAPI *hcn_create_fn)(REFGUID, PCWSTR, void **, PWSTR *);
typedef HRESULT(WINAPI *hcn_open_fn)(REFGUID, void **, PWSTR *);
typedef HRESULT(WINAPI *hcn_modify_fn)(void *, PCWSTR, PWSTR *);
typedef HRESULT(WINAPI *hcn_query_fn)(void *, PCWSTR, PWSTR *, PWSTR *);
typedef HRESULT(WINAPI *hcn_delete_fn)(REFGUID, PWSTR *);
typedef HRESULT(WINAPI *hcn_close_fn)(void *);

/* The HCN_* handle types are all void *: one table per shape. */
static hcn_enum_fn hcn_enum_of(uint32_t fn) {
    switch (fn) {
    case FN_HcnEnumerateNetworks: return HcnEnumerateNetworks;
    case FN_HcnEnumerateNamespaces: return HcnEnumerateNamespaces;
    case FN_HcnEnumerateEndpoints: return HcnEnumerateEndpoints;
    case FN_HcnEnumerateLoadBalancers: return HcnEnumerateLoadBalancers;
    default: return NULL;
    }
}

static hcn_create_fn hcn_create_of(uint32_t fn) {
    switch (fn) {
    case FN_HcnCreateNetwork: return HcnCreateNetwork;
    case FN_HcnCreateNamespace: return HcnCreateNamespace;
    case FN_HcnCreateLoadBalancer: return HcnCreateLoadBalancer;
    case FN_HcnCreateGuestNetworkService: return HcnCreateGuestNetworkService;
    default: return NULL;
    }
}

static hcn_open_fn hcn_open_of(uint32_t fn) {
    switch (fn) {
    case FN_HcnOpenNetwork: return HcnOpenNetwork;
    case FN_HcnOpenNamespace: return HcnOpenNamespace;
    case FN_HcnOpenEndpoint: return HcnOpenEndpoint;
    case FN_HcnOpenLoadBalancer: return HcnOpenLoadBalancer;
    default: return NULL;
    }
}

static hcn_modify_fn hcn_modify_of(uint32_t fn) {
    switch (fn) {
    case FN_HcnModifyNetwork: return HcnModifyNetwork;
    case FN_HcnModifyNamespace: return HcnModifyNamespace;
    case FN_HcnModifyEndpoint: return HcnModifyEndpoint;
    case FN_HcnModifyLoadBalancer: return HcnModifyLoadBalancer;
    case FN_HcnModifyGuestNetworkService: return HcnModifyGuestNetworkService;
    default: return NULL;
    }
}

static hcn_query_fn hcn_query_of(uint32_t fn) {
    switch (fn) {
    case FN_HcnQueryNetworkProperties: return HcnQueryNetworkProperties;
    case FN_HcnQueryNamespaceProperties: return HcnQueryNamespaceProperties;
    case FN_HcnQueryEndpointProperties: return HcnQueryEndpointProperties;
    case FN_HcnQueryEndpointStats: return HcnQueryEndpointStats;
    case FN_HcnQueryEndpointAddresses: return HcnQueryEndpointAddresses;
    case FN_HcnQueryLoadBalancerProperties: return HcnQueryLoadBalancerProperties;
    default: return NULL;
    }
}

static hcn_delete_fn hcn_delete_of(uint32_t fn) {
    switch (fn) {
    case FN_HcnDeleteNetwork: return HcnDeleteNetwork;
    case FN_HcnDeleteNamespace: return HcnDeleteNamespace;
    case FN_HcnDeleteEndpoint: return HcnDeleteEndpoint;
    case FN_HcnDeleteLoadBalancer: return HcnDeleteLoadBalancer;
    case FN_HcnDeleteGuestNetworkService: return HcnDeleteGuestNetworkService;
    default: return NULL;
    }
}

static hcn_close_fn hcn_close_of(uint32_t fn) {
    switch (fn) {
    case FN_HcnCloseNetwork: return HcnCloseNetwork;
    case FN_HcnCloseNamespace: return HcnCloseNamespace;
    case FN_HcnCloseEndpoint: return HcnCloseEndpoint;
    case FN_HcnCloseLoadBalancer: return HcnCloseLoadBalancer;
    case FN_HcnCloseGuestNetworkService: return HcnCloseGuestNetworkService;
    case FN_HcnUnregisterServiceCallback: return HcnUnregisterServiceCallback;
    case FN_HcnUnregisterGuestNetworkServiceCallback:
        return HcnUnregisterGuestNetworkServiceCallback;
    case FN_HcnReleaseGuestNetworkServicePortReservationHandle:
        return HcnReleaseGuestNetworkServicePortReservationHandle;
    default: return NULL;
    }
}

/* A computenetwork CALL: E_NOTIMPL when fn is none. The client's handle ids are looked up
 * in the connection's table with the kind fn expects: another kind's id gives a value
 * hcsim never handed out, which it refuses as it refuses a wrong handle in-process. */
static HRESULT run_hcn(svc_call *call, svc_out *out, void **made) {
    svc_conn *c = call->conn;
    uint32_t fn = call->fn;
    int kind = hcn_arg_kind(fn);
    void *h = kind ? serve_handle_get(c, call->a[0].u, kind, 0) : NULL;
    if (hcn_enum_of(fn)) return hcn_enum_of(fn)(ARG_S(0), &out->w[0], &out->w[1]);
    if (hcn_create_of(fn)) return hcn_create_of(fn)(ARG_G(0), ARG_S(1), made, &out->w[0]);
    if (hcn_open_of(fn)) return hcn_open_of(fn)(ARG_G(0), made, &out->w[0]);
    if (hcn_modify_of(fn)) return hcn_modify_of(fn)(h, ARG_S(1), &out->w[0]);
    if (hcn_query_of(fn)) return hcn_query_of(fn)(h, ARG_S(1), &out->w[0], &out->w[1]);
    if (hcn_delete_of(fn)) return hcn_delete_of(fn)(ARG_G(0), &out->w[0]);
    if (hcn_close_of(fn)) { /* the handle leaves the table; a close that fails keeps it */
        h = kind ? serve_handle_get(c, call->a[0].u, kind, 1) : NULL;
        int known = h && h != (void *)(uintptr_t)UINTPTR_MAX;
        HRESULT hr = hcn_close_of(fn)(h);
        if (FAILED(hr) && known) (void)serve_handle_put(c, call->a[0].u, kind, h);
        return hr;
    }
    void *context = event_context(serve_conn_id(c), out->hid);
    switch (fn) {
    case FN_HcnCreateEndpoint:
        return HcnCreateEndpoint(h, ARG_G(1), ARG_S(2), (PHCN_ENDPOINT)made, &out->w[0]);
    case FN_HcnRegisterServiceCallback:
        return HcnRegisterServiceCallback(serve_forward_notification, context,
                                          (HCN_CALLBACK *)made);
    case FN_HcnRegisterGuestNetworkServiceCallback:
        return HcnRegisterGuestNetworkServiceCallback(h, serve_forward_notification, context,
                                                      (HCN_CALLBACK *)made);
    case FN_HcnReserveGuestNetworkServicePort:
        return HcnReserveGuestNetworkServicePort(h, (HCN_PORT_PROTOCOL)ARG_U(1),
                                                 (HCN_PORT_ACCESS)ARG_U(2), (USHORT)ARG_U(3),
                                                 (HANDLE *)made);
    case FN_HcnReserveGuestNetworkServicePortRange:
        return HcnReserveGuestNetworkServicePortRange(h, (USHORT)ARG_U(1), &out->range,
                                                      (HANDLE *)made);
    case FN_HcnEnumerateGuestNetworkPortReservations:
        return HcnEnumerateGuestNetworkPortReservations(&out->nentries, &out->entries);
    default: return E_NOTIMPL;
    }
}

/* The computecore/computestorage calls; op is the service-side operation when the
 * signature has one. */
HRESULT serve_run_export(svc_call *call, HCS_OPERATION op, svc_out *out, void **made) {
    svc_conn *c = call->conn;
    uint32_t fn = call->fn;
    if (sys_op_of(fn)) return sys_op_of(fn)(ARG_SYS(0), op, ARG_S(2));
    if (proc_op_of(fn)) return proc_op_of(fn)(ARG_PROC(0), op, ARG_S(2));
    if (str1_of(fn)) return str1_of(fn)(ARG_S(0));
    if (str2_of(fn)) return str2_of(fn)(ARG_S(0), ARG_S(1));
    if (str3_of(fn)) return str3_of(fn)(ARG_S(0), ARG_S(1), ARG_S(2));
    if (str4_of(fn)) return str4_of(fn)(ARG_S(0), ARG_S(1), ARG_S(2), ARG_S(3));
    if (fn < FN_COUNT && (hc_fn_flags[fn] & FN_HCN)) return run_hcn(call, out, made);
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
        o.CallbackContext = event_context(serve_conn_id(c), out->hid);
        o.Callback = serve_forward_event;
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
        void *h = serve_handle_get(c, ARG_U(0), kind, 1);
        if (h && h != (void *)(uintptr_t)UINTPTR_MAX) serve_close_handle(kind, h);
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
                                           event_context(serve_conn_id(c), (uint32_t)ARG_U(0)),
                                           serve_forward_event);
    case FN_HcsSetProcessCallback:
        return HcsSetProcessCallback(ARG_PROC(0), forwarded_options(ARG_U(1)),
                                     event_context(serve_conn_id(c), (uint32_t)ARG_U(0)),
                                     serve_forward_event);
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

void serve_call_free(svc_call *call) {
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

/* Calls that can block run on a thread of their own. */
int serve_blocking(uint32_t fn) {
    return fn == FN_HcsWaitForComputeSystemExit || fn == FN_HcsWaitForProcessExit ||
           fn == HCW_CTL_HcsimReset || (fn < FN_COUNT && (hc_fn_flags[fn] & FN_STO));
}

svc_call *serve_decode_call(svc_conn *c, hcw_msg *m) {
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
        case 'g': { /* computenetwork's REFGUID: present, then its 16 bytes */
            uint64_t present = 0;
            if (hcw_get_u64(m, &present) && present > 1) m->bad = 1;
            hcw_get_guid(m, &a->g);
            a->has_g = present == 1;
            break;
        }
        case 'c':
        case 'x': break; /* the client's own: not sent */
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
        serve_call_free(call);
        return NULL;
    }
    return call;
}
#endif
