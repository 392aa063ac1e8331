/* The module's own functions on Windows: the run-time lookup of HCS exports. */
#include "module.h"

/* computenetwork.dll (HCN) may be absent where computecore.dll is present (a host without
 * the Host Network Service): every Hcn call is looked up here first (require_export), so
 * its absence is the "needs Windows release X" error, never a delay-load fault. */
static const wchar_t *const dll_names[] = {L"computecore.dll", L"computestorage.dll",
                                           L"virtdisk.dll", L"computenetwork.dll"};
#define DLL_COUNT (sizeof dll_names / sizeof dll_names[0])
static HMODULE dlls[DLL_COUNT];
static INIT_ONCE dlls_once = INIT_ONCE_STATIC_INIT;

/* The DLLs the module's calls bind to, found once and kept loaded: the one already in the
 * process (imported by name, or loaded by the delay-load helper), else the one the default
 * DLL directories give (System32, or a directory added with os.add_dll_directory, as for
 * hcsim's DLLs); the delay-load helper then finds that module loaded under its name. */
static BOOL CALLBACK find_dlls(PINIT_ONCE once, PVOID parameter, PVOID *context) {
    (void)once;
    (void)parameter;
    (void)context;
    for (size_t i = 0; i < DLL_COUNT; i++) {
        if (!GetModuleHandleExW(0, dll_names[i], &dlls[i]))
            dlls[i] = LoadLibraryExW(dll_names[i], NULL, LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
    }
    return TRUE;
}

void *aiohcs_export_address(const char *name) {
    InitOnceExecuteOnce(&dlls_once, find_dlls, NULL, NULL);
    for (size_t i = 0; i < DLL_COUNT; i++) {
        FARPROC address = dlls[i] != NULL ? GetProcAddress(dlls[i], name) : NULL;
        if (address != NULL) return (void *)address;
    }
    return NULL;
}

/* Exports newer than Windows 10 1809 are looked up before they are called: the import
 * libraries are delay-loaded, so a missing export would otherwise fault. An export no SDK
 * header declares (computecore_extra.cdef: HcsCancelLiveMigration) is never linked: it is
 * found here by name and called through aiohcs_export_address's answer, so a host without
 * it gets the same "needs Windows release X" error. hcsim's DLL can hide an export at run
 * time (imitating an older Windows): it is asked too. */
typedef BOOL (*is_export_available_fn)(const char *function);

int aiohcs_export_available(const char *name) {
    if (aiohcs_export_address(name) == NULL) return 0;
    is_export_available_fn is_available =
        (is_export_available_fn)aiohcs_export_address("HcsimIsExportAvailable");
    return is_available == NULL || is_available(name) ? 1 : 0;
}
