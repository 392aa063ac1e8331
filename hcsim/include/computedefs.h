/* hcsim: computedefs.h for POSIX. The declarations are the project's single copy in
 * aiohcs/include/computedefs.cdef, written exactly as in the Windows SDK header. */
#ifndef HCSIM_COMPUTEDEFS_H
#define HCSIM_COMPUTEDEFS_H

#include "hcsim_win32.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "computedefs.cdef"

#ifdef __cplusplus
}
#endif
#endif
