/* hcsim: the Win32 vocabulary the HCS headers need, on POSIX.
 *
 * The type declarations themselves are the project's single copy in
 * aiohcs/include/win32.cdef (compile with -I<repo>/aiohcs/include), so the emulator
 * and the Python binding can never disagree about them. */
#ifndef HCSIM_WIN32_H
#define HCSIM_WIN32_H

#include <stdint.h>
#include <stddef.h>
#include <uchar.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WINAPI
#define CALLBACK
#define VOID void /* computenetwork.cdef spells a void return so, as windows.h defines it */
#define DECLARE_HANDLE(name)             typedef struct name##__ *name
#define DEFINE_ENUM_FLAG_OPERATORS(type) struct hcsim_flag_ops_##type##__

#include "win32.cdef"

#define TRUE                 1
#define FALSE                0
#define INFINITE             0xFFFFFFFFu
#define GENERIC_ALL          0x10000000u
#define INVALID_HANDLE_VALUE ((HANDLE)(intptr_t)-1)

#define SUCCEEDED(hr) (((HRESULT)(hr)) >= 0)
#define FAILED(hr)    (((HRESULT)(hr)) < 0)
#define HCSIM_HR(x)   ((HRESULT)(int32_t)(uint32_t)(x))
#define HRESULT_FROM_WIN32(e) \
    ((e) == 0 ? (HRESULT)0 : HCSIM_HR(0x80070000u | ((uint32_t)(e) & 0xFFFFu)))

#define ERROR_FILE_NOT_FOUND    2u
#define ERROR_ACCESS_DENIED     5u
#define ERROR_INVALID_HANDLE    6u
#define ERROR_NOT_ENOUGH_MEMORY 8u
#define ERROR_INVALID_PARAMETER 87u
#define ERROR_PROC_NOT_FOUND    127u
#define ERROR_ALREADY_EXISTS    183u
#define ERROR_NOT_FOUND         1168u

#define S_OK           ((HRESULT)0)
#define S_FALSE        ((HRESULT)1)
#define E_NOTIMPL      HCSIM_HR(0x80004001u)
#define E_POINTER      HCSIM_HR(0x80004003u)
#define E_FAIL         HCSIM_HR(0x80004005u)
#define E_UNEXPECTED   HCSIM_HR(0x8000FFFFu)
#define E_ACCESSDENIED HCSIM_HR(0x80070005u)
#define E_HANDLE       HCSIM_HR(0x80070006u)
#define E_OUTOFMEMORY  HCSIM_HR(0x8007000Eu)
#define E_INVALIDARG   HCSIM_HR(0x80070057u)

#define HCS_E_TERMINATED_DURING_START               HCSIM_HR(0x80370100u)
#define HCS_E_IMAGE_MISMATCH                        HCSIM_HR(0x80370101u)
#define HCS_E_HYPERV_NOT_INSTALLED                  HCSIM_HR(0x80370102u)
#define HCS_E_INVALID_STATE                         HCSIM_HR(0x80370105u)
#define HCS_E_UNEXPECTED_EXIT                       HCSIM_HR(0x80370106u)
#define HCS_E_TERMINATED                            HCSIM_HR(0x80370107u)
#define HCS_E_CONNECT_FAILED                        HCSIM_HR(0x80370108u)
#define HCS_E_CONNECTION_TIMEOUT                    HCSIM_HR(0x80370109u)
#define HCS_E_CONNECTION_CLOSED                     HCSIM_HR(0x8037010Au)
#define HCS_E_UNKNOWN_MESSAGE                       HCSIM_HR(0x8037010Bu)
#define HCS_E_UNSUPPORTED_PROTOCOL_VERSION          HCSIM_HR(0x8037010Cu)
#define HCS_E_INVALID_JSON                          HCSIM_HR(0x8037010Du)
#define HCS_E_SYSTEM_NOT_FOUND                      HCSIM_HR(0x8037010Eu)
#define HCS_E_SYSTEM_ALREADY_EXISTS                 HCSIM_HR(0x8037010Fu)
#define HCS_E_SYSTEM_ALREADY_STOPPED                HCSIM_HR(0x80370110u)
#define HCS_E_PROTOCOL_ERROR                        HCSIM_HR(0x80370111u)
#define HCS_E_INVALID_LAYER                         HCSIM_HR(0x80370112u)
#define HCS_E_WINDOWS_INSIDER_REQUIRED              HCSIM_HR(0x80370113u)
#define HCS_E_SERVICE_NOT_AVAILABLE                 HCSIM_HR(0x80370114u)
#define HCS_E_OPERATION_NOT_STARTED                 HCSIM_HR(0x80370115u)
#define HCS_E_OPERATION_ALREADY_STARTED             HCSIM_HR(0x80370116u)
#define HCS_E_OPERATION_PENDING                     HCSIM_HR(0x80370117u)
#define HCS_E_OPERATION_TIMEOUT                     HCSIM_HR(0x80370118u)
#define HCS_E_OPERATION_SYSTEM_CALLBACK_ALREADY_SET HCSIM_HR(0x80370119u)
#define HCS_E_OPERATION_RESULT_ALLOCATION_FAILED    HCSIM_HR(0x8037011Au)
#define HCS_E_ACCESS_DENIED                         HCSIM_HR(0x8037011Bu)
#define HCS_E_GUEST_CRITICAL_ERROR                  HCSIM_HR(0x8037011Cu)
#define HCS_E_PROCESS_INFO_NOT_AVAILABLE            HCSIM_HR(0x8037011Du)
#define HCS_E_SERVICE_DISCONNECT                    HCSIM_HR(0x8037011Eu)
#define HCS_E_PROCESS_ALREADY_STOPPED               HCSIM_HR(0x8037011Fu)
#define HCS_E_SYSTEM_NOT_CONFIGURED_FOR_OPERATION   HCSIM_HR(0x80370120u)
#define HCS_E_OPERATION_ALREADY_CANCELLED           HCSIM_HR(0x80370121u)

#ifdef __cplusplus
}
#endif
#endif
