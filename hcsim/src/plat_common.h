/* hcsim platform layer: helpers the platform implementations share (not for the
 * portable sources, which use plat.h). */
#ifndef HCSIM_PLAT_COMMON_H
#define HCSIM_PLAT_COMMON_H

/* Writes 16 random bytes as a version-4 GUID in the canonical lowercase form. */
void plat_format_guid(unsigned char b[16], char out[37]);

/* The text of an errno value hcsim reports (glibc's wording), or "Unknown error". */
const char *plat_errno_text(int e);

#endif
