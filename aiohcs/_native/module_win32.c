/* The module's own functions on Windows. */
#include "module.h"

/* Exports newer than Windows 10 1809 are looked up before they are called: the import
 * libraries are delay-loaded, so a missing export would otherwise fault. */
int aiohcs_export_available(const char *name) {
    static const wchar_t *const dlls[] = {L"computecore.dll", L"computestorage.dll"};
    for (size_t i = 0; i < sizeof dlls / sizeof dlls[0]; i++) {
        HMODULE module = LoadLibraryExW(dlls[i], NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
        if (module != NULL) {
            int found = GetProcAddress(module, name) != NULL;
            FreeLibrary(module);
            if (found) return 1;
        }
    }
    return 0;
}
