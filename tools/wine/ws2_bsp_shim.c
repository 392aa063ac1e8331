/* For trio under Wine 8: Wine's WSAIoctl does not know SIO_BSP_HANDLE_SELECT and
 * SIO_BSP_HANDLE_POLL (the handle a layered service provider wants select/poll to see),
 * which trio asks for when its Windows I/O manager starts. Without a layered provider,
 * as under Wine, the answer is the base handle, so this shim asks for SIO_BASE_HANDLE
 * when those fail.
 *
 * trio reaches WSAIoctl through cffi (dlopen + GetProcAddress in _cffi_backend), so the
 * shim replaces GetProcAddress in one module's import table (ws2_bsp_shim_install,
 * called by the harness's sitecustomize for _cffi_backend): every lookup goes through as
 * before, except that ws2_32's WSAIoctl is answered with the wrapper below. Nothing else
 * in the process changes. */
#include <winsock2.h>
#include <windows.h>
#include <mswsock.h>
#include <string.h>

/* Function pointers pass through this type: the one gcc lets any function type cast to. */
typedef void (*any_function)(void);

__declspec(dllexport) int ws2_bsp_shim_install(const wchar_t *module_path);

static int WSAAPI shim_WSAIoctl(SOCKET s, DWORD code, LPVOID in, DWORD in_length, LPVOID out,
                                DWORD out_length, LPDWORD returned, LPWSAOVERLAPPED overlapped,
                                LPWSAOVERLAPPED_COMPLETION_ROUTINE routine) {
    int rc = WSAIoctl(s, code, in, in_length, out, out_length, returned, overlapped, routine);
    if (rc == SOCKET_ERROR && (code == SIO_BSP_HANDLE_SELECT || code == SIO_BSP_HANDLE_POLL))
        rc = WSAIoctl(s, SIO_BASE_HANDLE, in, in_length, out, out_length, returned, overlapped,
                      routine);
    return rc;
}

static FARPROC WINAPI shim_GetProcAddress(HMODULE module, LPCSTR name) {
    FARPROC found = GetProcAddress(module, name);
    if (found != NULL && (any_function)found == (any_function)WSAIoctl)
        return (FARPROC)(any_function)shim_WSAIoctl;
    return found;
}

/* Points the GetProcAddress imports of the loaded module MODULE_PATH at the shim.
 * Returns how many import slots it changed (0: none found), -1 if the module is not
 * loaded. */
int ws2_bsp_shim_install(const wchar_t *module_path) {
    BYTE *base = (BYTE *)GetModuleHandleW(module_path);
    if (base == NULL) return -1;
    IMAGE_NT_HEADERS *nt = (IMAGE_NT_HEADERS *)(base + ((IMAGE_DOS_HEADER *)base)->e_lfanew);
    IMAGE_DATA_DIRECTORY dir = nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_IMPORT];
    if (dir.VirtualAddress == 0) return 0;
    int patched = 0;
    for (IMAGE_IMPORT_DESCRIPTOR *desc = (IMAGE_IMPORT_DESCRIPTOR *)(base + dir.VirtualAddress);
         desc->Name != 0; desc++) {
        if (desc->OriginalFirstThunk == 0)
            continue; /* no name table: the slots cannot be told apart */
        IMAGE_THUNK_DATA *names = (IMAGE_THUNK_DATA *)(base + desc->OriginalFirstThunk);
        IMAGE_THUNK_DATA *slots = (IMAGE_THUNK_DATA *)(base + desc->FirstThunk);
        for (; names->u1.AddressOfData != 0; names++, slots++) {
            if (IMAGE_SNAP_BY_ORDINAL(names->u1.Ordinal)) continue;
            IMAGE_IMPORT_BY_NAME *import = (IMAGE_IMPORT_BY_NAME *)(base + names->u1.AddressOfData);
            if (strcmp((const char *)import->Name, "GetProcAddress") != 0) continue;
            DWORD protection;
            if (!VirtualProtect(&slots->u1.Function, sizeof slots->u1.Function, PAGE_READWRITE,
                                &protection))
                continue;
            slots->u1.Function = (ULONG_PTR)(any_function)shim_GetProcAddress;
            VirtualProtect(&slots->u1.Function, sizeof slots->u1.Function, protection, &protection);
            patched++;
        }
    }
    return patched;
}
