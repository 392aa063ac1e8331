/* hcsim computenetwork (README "Host Compute Network"): what its source files share and
 * what system.c asks of it. Everything runs under the emulator lock (G.lock) unless said. */
#ifndef HCSIM_NETWORK_H
#define HCSIM_NETWORK_H

#include "hcsim_internal.h"

/* A computenetwork string: the document v serialised (or s copied), allocated so that
 * only CoTaskMemFree releases it (registered as K_HCNDOC, counted in Documents). */
PWSTR hn_doc_from_json(const hj_value *v);

#endif
