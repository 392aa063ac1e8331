/* hcsim computenetwork: the exports of computenetwork.h (README "Host Compute Network"). */
#include "network.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- computenetwork strings --------------------------------------------------------- */
static PWSTR hn_doc_issue(char16_t *d) {
    if (d && hc_doc_add_kind(d, K_HCNDOC) != 0) {
        free(d);
        return NULL;
    }
    if (d) G.counts.Documents++;
    return (PWSTR)d;
}

PWSTR hn_doc_from_json(const hj_value *v) { return hn_doc_issue(hj_serialize_utf16(v)); }

#if !PLAT_HOST_RELEASES
void WINAPI CoTaskMemFree(LPVOID pv) {
    if (!pv) return;
    hc_init();
    hc_lock();
    if (hc_doc_del_kind(pv, K_HCNDOC)) {
        G.counts.Documents--;
        hc_unlock();
        free(pv);
        return;
    }
    int kind = hc_doc_kind(pv);
    hc_unlock();
    fputs(kind == K_DOC ? "hcsim: CoTaskMemFree of a computecore document (free it with "
                          "LocalFree; on Windows this corrupts the heap)\n"
                        : "hcsim: CoTaskMemFree of memory hcsim did not hand out (on Windows "
                          "this corrupts the heap)\n",
          stderr);
    abort();
}
#endif

/* ---- exports (skeleton) ------------------------------------------------------------- */
HRESULT WINAPI HcnEnumerateNetworks(PCWSTR Query, PWSTR *Networks, PWSTR *ErrorRecord) {
    (void)Query;
    (void)Networks;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnEnumerateNetworks);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnCreateNetwork(REFGUID Id, PCWSTR Settings, PHCN_NETWORK Network,
                                PWSTR *ErrorRecord) {
    (void)Id;
    (void)Settings;
    (void)Network;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnCreateNetwork);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnOpenNetwork(REFGUID Id, PHCN_NETWORK Network, PWSTR *ErrorRecord) {
    (void)Id;
    (void)Network;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnOpenNetwork);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnModifyNetwork(HCN_NETWORK Network, PCWSTR Settings, PWSTR *ErrorRecord) {
    (void)Network;
    (void)Settings;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnModifyNetwork);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnQueryNetworkProperties(HCN_NETWORK Network, PCWSTR Query, PWSTR *Properties,
                                         PWSTR *ErrorRecord) {
    (void)Network;
    (void)Query;
    (void)Properties;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnQueryNetworkProperties);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnDeleteNetwork(REFGUID Id, PWSTR *ErrorRecord) {
    (void)Id;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnDeleteNetwork);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnCloseNetwork(HCN_NETWORK Network) {
    (void)Network;
    HRESULT hr = hc_enter_sync(FN_HcnCloseNetwork);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnEnumerateNamespaces(PCWSTR Query, PWSTR *Namespaces, PWSTR *ErrorRecord) {
    (void)Query;
    (void)Namespaces;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnEnumerateNamespaces);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnCreateNamespace(REFGUID Id, PCWSTR Settings, PHCN_NAMESPACE Namespace,
                                  PWSTR *ErrorRecord) {
    (void)Id;
    (void)Settings;
    (void)Namespace;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnCreateNamespace);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnOpenNamespace(REFGUID Id, PHCN_NAMESPACE Namespace, PWSTR *ErrorRecord) {
    (void)Id;
    (void)Namespace;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnOpenNamespace);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnModifyNamespace(HCN_NAMESPACE Namespace, PCWSTR Settings, PWSTR *ErrorRecord) {
    (void)Namespace;
    (void)Settings;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnModifyNamespace);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnQueryNamespaceProperties(HCN_NAMESPACE Namespace, PCWSTR Query, PWSTR *Properties,
                                           PWSTR *ErrorRecord) {
    (void)Namespace;
    (void)Query;
    (void)Properties;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnQueryNamespaceProperties);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnDeleteNamespace(REFGUID Id, PWSTR *ErrorRecord) {
    (void)Id;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnDeleteNamespace);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnCloseNamespace(HCN_NAMESPACE Namespace) {
    (void)Namespace;
    HRESULT hr = hc_enter_sync(FN_HcnCloseNamespace);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnEnumerateEndpoints(PCWSTR Query, PWSTR *Endpoints, PWSTR *ErrorRecord) {
    (void)Query;
    (void)Endpoints;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnEnumerateEndpoints);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnCreateEndpoint(HCN_NETWORK Network, REFGUID Id, PCWSTR Settings,
                                 PHCN_ENDPOINT Endpoint, PWSTR *ErrorRecord) {
    (void)Network;
    (void)Id;
    (void)Settings;
    (void)Endpoint;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnCreateEndpoint);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnOpenEndpoint(REFGUID Id, PHCN_ENDPOINT Endpoint, PWSTR *ErrorRecord) {
    (void)Id;
    (void)Endpoint;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnOpenEndpoint);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnModifyEndpoint(HCN_ENDPOINT Endpoint, PCWSTR Settings, PWSTR *ErrorRecord) {
    (void)Endpoint;
    (void)Settings;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnModifyEndpoint);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnQueryEndpointProperties(HCN_ENDPOINT Endpoint, PCWSTR Query, PWSTR *Properties,
                                          PWSTR *ErrorRecord) {
    (void)Endpoint;
    (void)Query;
    (void)Properties;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnQueryEndpointProperties);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnQueryEndpointStats(HCN_ENDPOINT Endpoint, PCWSTR Query, PWSTR *Stats,
                                     PWSTR *ErrorRecord) {
    (void)Endpoint;
    (void)Query;
    (void)Stats;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnQueryEndpointStats);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnQueryEndpointAddresses(HCN_ENDPOINT Endpoint, PCWSTR Query, PWSTR *Addresses,
                                         PWSTR *ErrorRecord) {
    (void)Endpoint;
    (void)Query;
    (void)Addresses;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnQueryEndpointAddresses);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnDeleteEndpoint(REFGUID Id, PWSTR *ErrorRecord) {
    (void)Id;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnDeleteEndpoint);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnCloseEndpoint(HCN_ENDPOINT Endpoint) {
    (void)Endpoint;
    HRESULT hr = hc_enter_sync(FN_HcnCloseEndpoint);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnEnumerateLoadBalancers(PCWSTR Query, PWSTR *LoadBalancer, PWSTR *ErrorRecord) {
    (void)Query;
    (void)LoadBalancer;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnEnumerateLoadBalancers);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnCreateLoadBalancer(REFGUID Id, PCWSTR Settings, PHCN_LOADBALANCER LoadBalancer,
                                     PWSTR *ErrorRecord) {
    (void)Id;
    (void)Settings;
    (void)LoadBalancer;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnCreateLoadBalancer);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnOpenLoadBalancer(REFGUID Id, PHCN_LOADBALANCER LoadBalancer, PWSTR *ErrorRecord) {
    (void)Id;
    (void)LoadBalancer;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnOpenLoadBalancer);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnModifyLoadBalancer(HCN_LOADBALANCER LoadBalancer, PCWSTR Settings,
                                     PWSTR *ErrorRecord) {
    (void)LoadBalancer;
    (void)Settings;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnModifyLoadBalancer);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnQueryLoadBalancerProperties(HCN_LOADBALANCER LoadBalancer, PCWSTR Query,
                                              PWSTR *Properties, PWSTR *ErrorRecord) {
    (void)LoadBalancer;
    (void)Query;
    (void)Properties;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnQueryLoadBalancerProperties);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnDeleteLoadBalancer(REFGUID Id, PWSTR *ErrorRecord) {
    (void)Id;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnDeleteLoadBalancer);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnCloseLoadBalancer(HCN_LOADBALANCER LoadBalancer) {
    (void)LoadBalancer;
    HRESULT hr = hc_enter_sync(FN_HcnCloseLoadBalancer);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnRegisterServiceCallback(HCN_NOTIFICATION_CALLBACK Callback, void *Context,
                                          HCN_CALLBACK *CallbackHandle) {
    (void)Callback;
    (void)Context;
    (void)CallbackHandle;
    HRESULT hr = hc_enter_sync(FN_HcnRegisterServiceCallback);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnUnregisterServiceCallback(HCN_CALLBACK CallbackHandle) {
    (void)CallbackHandle;
    HRESULT hr = hc_enter_sync(FN_HcnUnregisterServiceCallback);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnRegisterGuestNetworkServiceCallback(HCN_GUESTNETWORKSERVICE GuestNetworkService,
                                                      HCN_NOTIFICATION_CALLBACK Callback,
                                                      void *Context, HCN_CALLBACK *CallbackHandle) {
    (void)GuestNetworkService;
    (void)Callback;
    (void)Context;
    (void)CallbackHandle;
    HRESULT hr = hc_enter_sync(FN_HcnRegisterGuestNetworkServiceCallback);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnUnregisterGuestNetworkServiceCallback(HCN_CALLBACK CallbackHandle) {
    (void)CallbackHandle;
    HRESULT hr = hc_enter_sync(FN_HcnUnregisterGuestNetworkServiceCallback);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnCreateGuestNetworkService(REFGUID Id, PCWSTR Settings,
                                            PHCN_GUESTNETWORKSERVICE GuestNetworkService,
                                            PWSTR *ErrorRecord) {
    (void)Id;
    (void)Settings;
    (void)GuestNetworkService;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnCreateGuestNetworkService);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnCloseGuestNetworkService(HCN_GUESTNETWORKSERVICE GuestNetworkService) {
    (void)GuestNetworkService;
    HRESULT hr = hc_enter_sync(FN_HcnCloseGuestNetworkService);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnModifyGuestNetworkService(HCN_GUESTNETWORKSERVICE GuestNetworkService,
                                            PCWSTR Settings, PWSTR *ErrorRecord) {
    (void)GuestNetworkService;
    (void)Settings;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnModifyGuestNetworkService);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnDeleteGuestNetworkService(REFGUID Id, PWSTR *ErrorRecord) {
    (void)Id;
    (void)ErrorRecord;
    HRESULT hr = hc_enter_sync(FN_HcnDeleteGuestNetworkService);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnReserveGuestNetworkServicePort(HCN_GUESTNETWORKSERVICE GuestNetworkService,
                                                 HCN_PORT_PROTOCOL Protocol, HCN_PORT_ACCESS Access,
                                                 USHORT Port, HANDLE *PortReservationHandle) {
    (void)GuestNetworkService;
    (void)Protocol;
    (void)Access;
    (void)Port;
    (void)PortReservationHandle;
    HRESULT hr = hc_enter_sync(FN_HcnReserveGuestNetworkServicePort);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnReserveGuestNetworkServicePortRange(
    HCN_GUESTNETWORKSERVICE GuestNetworkService, USHORT PortCount,
    HCN_PORT_RANGE_RESERVATION *PortRangeReservation, HANDLE *PortReservationHandle) {
    (void)GuestNetworkService;
    (void)PortCount;
    (void)PortRangeReservation;
    (void)PortReservationHandle;
    HRESULT hr = hc_enter_sync(FN_HcnReserveGuestNetworkServicePortRange);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnReleaseGuestNetworkServicePortReservationHandle(HANDLE PortReservationHandle) {
    (void)PortReservationHandle;
    HRESULT hr = hc_enter_sync(FN_HcnReleaseGuestNetworkServicePortReservationHandle);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcnEnumerateGuestNetworkPortReservations(ULONG *ReturnCount,
                                                        HCN_PORT_RANGE_ENTRY **PortEntries) {
    (void)ReturnCount;
    (void)PortEntries;
    HRESULT hr = hc_enter_sync(FN_HcnEnumerateGuestNetworkPortReservations);
    return hr != S_OK ? hr : E_NOTIMPL;
}

VOID WINAPI HcnFreeGuestNetworkPortReservations(HCN_PORT_RANGE_ENTRY *PortEntries) {
    (void)PortEntries;
    (void)hc_enter_sync(FN_HcnFreeGuestNetworkPortReservations);
}
