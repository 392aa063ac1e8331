/* The module's own functions on hcsim. */
#include "module.h"

int aiohcs_export_available(const char *name) { return HcsimIsExportAvailable(name) ? 1 : 0; }

/* hcsim is compiled into the module: nothing is looked up at run time. */
void *aiohcs_export_address(const char *name) {
    (void)name;
    return NULL;
}
