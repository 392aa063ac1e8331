/* hcsim: the operation calls of the newest SDK: HcsCreateOperationWithNotifications,
 * HcsAddResourceToOperation and HcsGetOperationProperties. */
#include "hcsim_internal.h"

HCS_OPERATION WINAPI HcsCreateOperationWithNotifications(HCS_OPERATION_OPTIONS eventTypes,
                                                         const void *context,
                                                         HCS_EVENT_CALLBACK callback) {
    (void)eventTypes;
    (void)context;
    (void)callback;
    hc_enter_sync(FN_HcsCreateOperationWithNotifications);
    return NULL;
}

HRESULT WINAPI HcsAddResourceToOperation(HCS_OPERATION operation, HCS_RESOURCE_TYPE type,
                                         PCWSTR uri, HANDLE handle) {
    (void)operation;
    (void)type;
    (void)uri;
    (void)handle;
    HRESULT hr = hc_enter_sync(FN_HcsAddResourceToOperation);
    return hr != S_OK ? hr : E_NOTIMPL;
}

HRESULT WINAPI HcsGetOperationProperties(HCS_OPERATION operation, PCWSTR options,
                                         PWSTR *resultDocument) {
    (void)operation;
    (void)options;
    if (resultDocument) *resultDocument = NULL;
    HRESULT hr = hc_enter_sync(FN_HcsGetOperationProperties);
    return hr != S_OK ? hr : E_NOTIMPL;
}
