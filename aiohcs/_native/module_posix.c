/* The module's own functions on hcsim. */
#include "module.h"

int aiohcs_export_available(const char *name) { return HcsimIsExportAvailable(name) ? 1 : 0; }
