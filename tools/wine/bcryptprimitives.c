/* bcryptprimitives.dll for Wine 8, which has none: Rust's standard library (in
 * pydantic-core) imports ProcessPrng from it. ProcessPrng fills a buffer from the
 * system RNG and always succeeds; BCryptGenRandom is the same generator. */
#include <limits.h>
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > ULONG_MAX ? ULONG_MAX : (ULONG)length;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
