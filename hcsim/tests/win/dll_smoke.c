/* hcsim's Windows DLLs as a program sees them: linked against the import libraries
 * computecore / computestorage (as a program built with the Windows SDK is), the real
 * export names resolve, computestorage.dll's exports reach the emulator of computecore.dll
 * (one state: a fault set through computecore applies to a computestorage call), the
 * control exports are found with GetProcAddress, and results are freed with kernel32's
 * LocalFree. Prints "dll_smoke: ok" or the first failure; exit status 0 or 1. */
#include "hcsim.h"

#include <stdio.h>

typedef void *HMODULE_;
HMODULE_ WINAPI GetModuleHandleW(PCWSTR name);
void *WINAPI GetProcAddress(HMODULE_ module, const char *name);

#define EXPECT(cond)                                                       \
    do {                                                                   \
        if (!(cond)) {                                                     \
            printf("dll_smoke: failed at line %d: %s\n", __LINE__, #cond); \
            return 1;                                                      \
        }                                                                  \
    } while (0)

int main(void) {
    PWSTR doc = NULL;
    EXPECT(HcsGetServiceProperties(NULL, &doc) == S_OK && doc != NULL);
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    EXPECT(c.Documents == 1);
    EXPECT(LocalFree(doc) == NULL); /* kernel32's */
    HcsimGetCounts(&c);
    EXPECT(c.Documents == 0);

    /* computestorage.dll forwards to the same emulator */
    EXPECT(HcsDestroyLayer(u"") == E_INVALIDARG);
    EXPECT(HcsimFailNext("HcsDestroyLayer", 1, E_ACCESSDENIED, HcsimFaultSync) == S_OK);
    EXPECT(HcsDestroyLayer(u"C:\\nowhere") == E_ACCESSDENIED);

    /* the control exports are how a program tells the emulator from Windows */
    HMODULE_ core = GetModuleHandleW(u"computecore.dll");
    EXPECT(core != NULL);
    EXPECT(GetProcAddress(core, "HcsimGetCounts") != NULL);
    EXPECT(GetProcAddress(core, "HcsCreateComputeSystem") != NULL);
    HMODULE_ storage = GetModuleHandleW(u"computestorage.dll");
    EXPECT(storage != NULL && GetProcAddress(storage, "HcsImportLayer") != NULL);
    EXPECT(HcsimReset() == S_OK);
    printf("dll_smoke: ok\n");
    return 0;
}
