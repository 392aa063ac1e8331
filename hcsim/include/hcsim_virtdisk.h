/* hcsim: virtdisk.h for POSIX, named apart (windows.h includes <virtdisk.h>). The
 * declarations are the project's single copy in aiohcs/include/virtdisk.cdef, written
 * exactly as in the Windows SDK header. */
#ifndef HCSIM_VIRTDISK_H
#define HCSIM_VIRTDISK_H

#include "hcsim_win32.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "virtdisk.cdef"

#ifdef __cplusplus
}
#endif
#endif
