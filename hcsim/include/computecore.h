/* hcsim: computecore.h for POSIX. The declarations are the project's single copy in
 * aiohcs/include/computecore.cdef, written exactly as in the Windows SDK header. */
#ifndef HCSIM_COMPUTECORE_H
#define HCSIM_COMPUTECORE_H

#include "hcsim_win32.h"
#include "computedefs.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "computecore.cdef"

#ifdef __cplusplus
}
#endif
#endif
