/* hcsim: computenetwork.h for POSIX. The declarations are the project's single copy in
 * aiohcs/include/computenetwork.cdef, written exactly as in the Windows SDK header (its
 * GUID and ULONG come from virtdisk.cdef, as build_ffi.py reads them). */
#ifndef HCSIM_COMPUTENETWORK_H
#define HCSIM_COMPUTENETWORK_H

#include "hcsim_win32.h"
#include "hcsim_virtdisk.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "computenetwork.cdef"

#ifdef __cplusplus
}
#endif
#endif
