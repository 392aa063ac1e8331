/* The C prelude of the generated module aiohcs._hcs (build_ffi.py): the headers its
 * declarations come from on each target, and the module's own functions. */
#ifndef AIOHCS_MODULE_H
#define AIOHCS_MODULE_H

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
/* CoTaskMemFree (win32.cdef): what computenetwork hands out (WIN32_LEAN_AND_MEAN leaves
 * ole2 out) */
#include <combaseapi.h>
#include <computecore.h>
#include <computestorage.h>
#include <virtdisk.h>
#include <computenetwork.h>
#include <stdint.h>
/* hcsim's control types; its functions are looked up at run time (module_win32.c). */
#include "hcsim.cdef"
#else
/* cffi reads WINAPI/CALLBACK in the cdef as __stdcall and spells it so in the C it emits
 * for function-pointer types; hcsim's WINAPI is empty, and so is this. */
#ifndef __stdcall
#define __stdcall
#endif
#include "hcsim.h"
#endif

#include <stddef.h>
#include <stdint.h>
#include <uchar.h>

#include "bridge.cdef"
#include "module.cdef"

#endif
