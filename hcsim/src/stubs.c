/* hcsim: temporary link stubs (replaced function by function by the real implementation). */
#include "hcsim.h"

HRESULT HcsEnumerateComputeSystems(PCWSTR query, HCS_OPERATION operation) {
    (void)query;
    (void)operation;
    return E_NOTIMPL;
}

HRESULT HcsEnumerateComputeSystemsInNamespace(PCWSTR idNamespace, PCWSTR query, HCS_OPERATION operation) {
    (void)idNamespace;
    (void)query;
    (void)operation;
    return E_NOTIMPL;
}

HCS_OPERATION HcsCreateOperation(const void *context, HCS_OPERATION_COMPLETION callback) {
    (void)context;
    (void)callback;
    return NULL;
}

void HcsCloseOperation(HCS_OPERATION operation) {
    (void)operation;
}

void* HcsGetOperationContext(HCS_OPERATION operation) {
    (void)operation;
    return NULL;
}

HRESULT HcsSetOperationContext(HCS_OPERATION operation, const void *context) {
    (void)operation;
    (void)context;
    return E_NOTIMPL;
}

HCS_SYSTEM HcsGetComputeSystemFromOperation(HCS_OPERATION operation) {
    (void)operation;
    return NULL;
}

HCS_PROCESS HcsGetProcessFromOperation(HCS_OPERATION operation) {
    (void)operation;
    return NULL;
}

HCS_OPERATION_TYPE HcsGetOperationType(HCS_OPERATION operation) {
    (void)operation;
    return HcsOperationTypeNone;
}

UINT64 HcsGetOperationId(HCS_OPERATION operation) {
    (void)operation;
    return HCS_INVALID_OPERATION_ID;
}

HRESULT HcsGetOperationResult(HCS_OPERATION operation, PWSTR *resultDocument) {
    (void)operation;
    (void)resultDocument;
    return E_NOTIMPL;
}

HRESULT HcsGetOperationResultAndProcessInfo(HCS_OPERATION operation, HCS_PROCESS_INFORMATION *processInformation, PWSTR *resultDocument) {
    (void)operation;
    (void)processInformation;
    (void)resultDocument;
    return E_NOTIMPL;
}

HRESULT HcsGetProcessorCompatibilityFromSavedState(PCWSTR RuntimeFileName, PCWSTR *ProcessorFeaturesString) {
    (void)RuntimeFileName;
    (void)ProcessorFeaturesString;
    return E_NOTIMPL;
}

HRESULT HcsWaitForOperationResult(HCS_OPERATION operation, DWORD timeoutMs, PWSTR *resultDocument) {
    (void)operation;
    (void)timeoutMs;
    (void)resultDocument;
    return E_NOTIMPL;
}

HRESULT HcsWaitForOperationResultAndProcessInfo(HCS_OPERATION operation, DWORD timeoutMs, HCS_PROCESS_INFORMATION *processInformation, PWSTR *resultDocument) {
    (void)operation;
    (void)timeoutMs;
    (void)processInformation;
    (void)resultDocument;
    return E_NOTIMPL;
}

HRESULT HcsSetOperationCallback(HCS_OPERATION operation, const void *context, HCS_OPERATION_COMPLETION callback) {
    (void)operation;
    (void)context;
    (void)callback;
    return E_NOTIMPL;
}

HRESULT HcsCancelOperation(HCS_OPERATION operation) {
    (void)operation;
    return E_NOTIMPL;
}

HRESULT HcsCreateComputeSystem(PCWSTR id, PCWSTR configuration, HCS_OPERATION operation, const SECURITY_DESCRIPTOR *securityDescriptor, HCS_SYSTEM *computeSystem) {
    (void)id;
    (void)configuration;
    (void)operation;
    (void)securityDescriptor;
    (void)computeSystem;
    return E_NOTIMPL;
}

HRESULT HcsCreateComputeSystemInNamespace(PCWSTR idNamespace, PCWSTR id, PCWSTR configuration, HCS_OPERATION operation, const HCS_CREATE_OPTIONS *options, HCS_SYSTEM *computeSystem) {
    (void)idNamespace;
    (void)id;
    (void)configuration;
    (void)operation;
    (void)options;
    (void)computeSystem;
    return E_NOTIMPL;
}

HRESULT HcsOpenComputeSystem(PCWSTR id, DWORD requestedAccess, HCS_SYSTEM *computeSystem) {
    (void)id;
    (void)requestedAccess;
    (void)computeSystem;
    return E_NOTIMPL;
}

HRESULT HcsOpenComputeSystemInNamespace(PCWSTR idNamespace, PCWSTR id, DWORD requestedAccess, HCS_SYSTEM *computeSystem) {
    (void)idNamespace;
    (void)id;
    (void)requestedAccess;
    (void)computeSystem;
    return E_NOTIMPL;
}

void HcsCloseComputeSystem(HCS_SYSTEM computeSystem) {
    (void)computeSystem;
}

HRESULT HcsStartComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, PCWSTR options) {
    (void)computeSystem;
    (void)operation;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsShutDownComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, PCWSTR options) {
    (void)computeSystem;
    (void)operation;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsTerminateComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, PCWSTR options) {
    (void)computeSystem;
    (void)operation;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsCrashComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, PCWSTR options) {
    (void)computeSystem;
    (void)operation;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsPauseComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, PCWSTR options) {
    (void)computeSystem;
    (void)operation;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsResumeComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, PCWSTR options) {
    (void)computeSystem;
    (void)operation;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsSaveComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, PCWSTR options) {
    (void)computeSystem;
    (void)operation;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsGetComputeSystemProperties(HCS_SYSTEM computeSystem, HCS_OPERATION operation, PCWSTR propertyQuery) {
    (void)computeSystem;
    (void)operation;
    (void)propertyQuery;
    return E_NOTIMPL;
}

HRESULT HcsModifyComputeSystem(HCS_SYSTEM computeSystem, HCS_OPERATION operation, PCWSTR configuration, HANDLE identity) {
    (void)computeSystem;
    (void)operation;
    (void)configuration;
    (void)identity;
    return E_NOTIMPL;
}

HRESULT HcsWaitForComputeSystemExit(HCS_SYSTEM computeSystem, DWORD timeoutMs, PWSTR *result) {
    (void)computeSystem;
    (void)timeoutMs;
    (void)result;
    return E_NOTIMPL;
}

HRESULT HcsSetComputeSystemCallback(HCS_SYSTEM computeSystem, HCS_EVENT_OPTIONS callbackOptions, const void *context, HCS_EVENT_CALLBACK callback) {
    (void)computeSystem;
    (void)callbackOptions;
    (void)context;
    (void)callback;
    return E_NOTIMPL;
}

HRESULT HcsCreateProcess(HCS_SYSTEM computeSystem, PCWSTR processParameters, HCS_OPERATION operation, const SECURITY_DESCRIPTOR *securityDescriptor, HCS_PROCESS *process) {
    (void)computeSystem;
    (void)processParameters;
    (void)operation;
    (void)securityDescriptor;
    (void)process;
    return E_NOTIMPL;
}

HRESULT HcsOpenProcess(HCS_SYSTEM computeSystem, DWORD processId, DWORD requestedAccess, HCS_PROCESS *process) {
    (void)computeSystem;
    (void)processId;
    (void)requestedAccess;
    (void)process;
    return E_NOTIMPL;
}

void HcsCloseProcess(HCS_PROCESS process) {
    (void)process;
}

HRESULT HcsTerminateProcess(HCS_PROCESS process, HCS_OPERATION operation, PCWSTR options) {
    (void)process;
    (void)operation;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsSignalProcess(HCS_PROCESS process, HCS_OPERATION operation, PCWSTR options) {
    (void)process;
    (void)operation;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsGetProcessInfo(HCS_PROCESS process, HCS_OPERATION operation) {
    (void)process;
    (void)operation;
    return E_NOTIMPL;
}

HRESULT HcsGetProcessProperties(HCS_PROCESS process, HCS_OPERATION operation, PCWSTR propertyQuery) {
    (void)process;
    (void)operation;
    (void)propertyQuery;
    return E_NOTIMPL;
}

HRESULT HcsModifyProcess(HCS_PROCESS process, HCS_OPERATION operation, PCWSTR settings) {
    (void)process;
    (void)operation;
    (void)settings;
    return E_NOTIMPL;
}

HRESULT HcsSetProcessCallback(HCS_PROCESS process, HCS_EVENT_OPTIONS callbackOptions, void *context, HCS_EVENT_CALLBACK callback) {
    (void)process;
    (void)callbackOptions;
    (void)context;
    (void)callback;
    return E_NOTIMPL;
}

HRESULT HcsWaitForProcessExit(HCS_PROCESS computeSystem, DWORD timeoutMs, PWSTR *result) {
    (void)computeSystem;
    (void)timeoutMs;
    (void)result;
    return E_NOTIMPL;
}

HRESULT HcsGetServiceProperties(PCWSTR propertyQuery, PWSTR *result) {
    (void)propertyQuery;
    (void)result;
    return E_NOTIMPL;
}

HRESULT HcsModifyServiceSettings(PCWSTR settings, PWSTR *result) {
    (void)settings;
    (void)result;
    return E_NOTIMPL;
}

HRESULT HcsSubmitWerReport(PCWSTR settings) {
    (void)settings;
    return E_NOTIMPL;
}

HRESULT HcsCreateEmptyGuestStateFile(PCWSTR guestStateFilePath) {
    (void)guestStateFilePath;
    return E_NOTIMPL;
}

HRESULT HcsCreateEmptyRuntimeStateFile(PCWSTR runtimeStateFilePath) {
    (void)runtimeStateFilePath;
    return E_NOTIMPL;
}

HRESULT HcsGrantVmAccess(PCWSTR vmId, PCWSTR filePath) {
    (void)vmId;
    (void)filePath;
    return E_NOTIMPL;
}

HRESULT HcsRevokeVmAccess(PCWSTR vmId, PCWSTR filePath) {
    (void)vmId;
    (void)filePath;
    return E_NOTIMPL;
}

HRESULT HcsGrantVmGroupAccess(PCWSTR filePath) {
    (void)filePath;
    return E_NOTIMPL;
}

HRESULT HcsRevokeVmGroupAccess(PCWSTR filePath) {
    (void)filePath;
    return E_NOTIMPL;
}

HRESULT HcsImportLayer(PCWSTR layerPath, PCWSTR sourceFolderPath, PCWSTR layerData) {
    (void)layerPath;
    (void)sourceFolderPath;
    (void)layerData;
    return E_NOTIMPL;
}

HRESULT HcsExportLayer(PCWSTR layerPath, PCWSTR exportFolderPath, PCWSTR layerData, PCWSTR options) {
    (void)layerPath;
    (void)exportFolderPath;
    (void)layerData;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsExportLegacyWritableLayer(PCWSTR writableLayerMountPath, PCWSTR writableLayerFolderPath, PCWSTR exportFolderPath, PCWSTR layerData) {
    (void)writableLayerMountPath;
    (void)writableLayerFolderPath;
    (void)exportFolderPath;
    (void)layerData;
    return E_NOTIMPL;
}

HRESULT HcsDestroyLayer(PCWSTR layerPath) {
    (void)layerPath;
    return E_NOTIMPL;
}

HRESULT HcsSetupBaseOSLayer(PCWSTR layerPath, HANDLE vhdHandle, PCWSTR options) {
    (void)layerPath;
    (void)vhdHandle;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsInitializeWritableLayer(PCWSTR writableLayerPath, PCWSTR layerData, PCWSTR options) {
    (void)writableLayerPath;
    (void)layerData;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsInitializeLegacyWritableLayer(PCWSTR writableLayerMountPath, PCWSTR writableLayerFolderPath, PCWSTR layerData, PCWSTR options) {
    (void)writableLayerMountPath;
    (void)writableLayerFolderPath;
    (void)layerData;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsAttachLayerStorageFilter(PCWSTR layerPath, PCWSTR layerData) {
    (void)layerPath;
    (void)layerData;
    return E_NOTIMPL;
}

HRESULT HcsDetachLayerStorageFilter(PCWSTR layerPath) {
    (void)layerPath;
    return E_NOTIMPL;
}

HRESULT HcsFormatWritableLayerVhd(HANDLE vhdHandle) {
    (void)vhdHandle;
    return E_NOTIMPL;
}

HRESULT HcsGetLayerVhdMountPath(HANDLE vhdHandle, PWSTR *mountPath) {
    (void)vhdHandle;
    (void)mountPath;
    return E_NOTIMPL;
}

HRESULT HcsSetupBaseOSVolume(PCWSTR layerPath, PCWSTR volumePath, PCWSTR options) {
    (void)layerPath;
    (void)volumePath;
    (void)options;
    return E_NOTIMPL;
}

HRESULT HcsimFailNext(const char *function, uint32_t count, HRESULT result, HCSIM_FAULT_MODE mode) {
    (void)function;
    (void)count;
    (void)result;
    (void)mode;
    return E_NOTIMPL;
}

HRESULT HcsimSetDelay(const char *function, uint32_t completionMs, uint32_t syncMs) {
    (void)function;
    (void)completionMs;
    (void)syncMs;
    return E_NOTIMPL;
}

HRESULT HcsimSetExportHidden(const char *function, BOOL hidden) {
    (void)function;
    (void)hidden;
    return E_NOTIMPL;
}

BOOL HcsimIsExportAvailable(const char *function) {
    (void)function;
    return FALSE;
}

HRESULT HcsimCrashSystem(PCWSTR idNamespace, PCWSTR id) {
    (void)idNamespace;
    (void)id;
    return E_NOTIMPL;
}

HRESULT HcsimGuestShutdown(PCWSTR idNamespace, PCWSTR id) {
    (void)idNamespace;
    (void)id;
    return E_NOTIMPL;
}

HRESULT HcsimRaiseSystemEvent(PCWSTR idNamespace, PCWSTR id, uint32_t type, PCWSTR eventData) {
    (void)idNamespace;
    (void)id;
    (void)type;
    (void)eventData;
    return E_NOTIMPL;
}

HRESULT HcsimDisconnectService(void) {
    return E_NOTIMPL;
}

HRESULT HcsimSetOption(const char *name, int64_t value) {
    (void)name;
    (void)value;
    return E_NOTIMPL;
}

void HcsimGetCounts(HCSIM_COUNTS *counts) {
    (void)counts;
}

HRESULT HcsimReset(void) {
    return E_NOTIMPL;
}

int HcsimHandleToFd(HANDLE handle) {
    (void)handle;
    return -1;
}

HLOCAL LocalFree(HLOCAL hMem) {
    (void)hMem;
    return NULL;
}

BOOL CloseHandle(HANDLE hObject) {
    (void)hObject;
    return FALSE;
}
