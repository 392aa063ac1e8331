/* hcsim: the emulator's control API (fault injection, counters, reset). It exists only
 * in the emulator build; its declarations live in aiohcs/include/hcsim.cdef. */
#ifndef HCSIM_H
#define HCSIM_H

#include "computecore.h"
#include "computecore_extra.h"
#include "computestorage.h"
#include "hcsim_virtdisk.h"
#include "computenetwork.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "hcsim.cdef"

#ifdef __cplusplus
}
#endif
#endif
