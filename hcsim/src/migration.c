/* hcsim live migration: HcsInitializeLiveMigrationOnSource, HcsStartLiveMigrationOnSource,
 * HcsStartLiveMigrationTransfer, HcsFinalizeLiveMigration and HcsCancelLiveMigration. */
#include "hcsim_internal.h"

/* Not implemented yet: every call answers E_NOTIMPL after the entry protocol. */
static HRESULT not_yet(fn_id fn) {
    hc_call call;
    HRESULT hr = hc_enter(fn, &call);
    return hr != S_OK ? hr : E_NOTIMPL;
}

#define HC_MIGRATION_STUB(name)                                                       \
    HRESULT WINAPI name(HCS_SYSTEM handle, HCS_OPERATION operation, PCWSTR options) { \
        (void)handle;                                                                 \
        (void)operation;                                                              \
        (void)options;                                                                \
        return not_yet(FN_##name);                                                    \
    }

HC_MIGRATION_STUB(HcsInitializeLiveMigrationOnSource)
HC_MIGRATION_STUB(HcsStartLiveMigrationOnSource)
HC_MIGRATION_STUB(HcsStartLiveMigrationTransfer)
HC_MIGRATION_STUB(HcsFinalizeLiveMigration)
HC_MIGRATION_STUB(HcsCancelLiveMigration)
