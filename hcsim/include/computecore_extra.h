/* hcsim: computecore exports that no published SDK header declares (HcsCancelLiveMigration).
 * The declarations live in aiohcs/include/computecore_extra.cdef. */
#ifndef HCSIM_COMPUTECORE_EXTRA_H
#define HCSIM_COMPUTECORE_EXTRA_H

#include "computecore.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "computecore_extra.cdef"

#ifdef __cplusplus
}
#endif
#endif
