/* hcsim: computestorage.h for POSIX. The declarations are the project's single copy in
 * aiohcs/include/computestorage.cdef, written exactly as in the Windows SDK header. */
#ifndef HCSIM_COMPUTESTORAGE_H
#define HCSIM_COMPUTESTORAGE_H

#include "hcsim_win32.h"
#include "computedefs.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "computestorage.cdef"

#ifdef __cplusplus
}
#endif
#endif
