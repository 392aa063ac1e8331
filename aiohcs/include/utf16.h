/* UTF-16 strings (NUL-terminated char16_t, the SDK's WCHAR): the one length and copy of the
 * module (utf16.c). */
#ifndef AIOHCS_UTF16_H
#define AIOHCS_UTF16_H

#include <stddef.h>
#include <uchar.h>

#include "module.cdef" /* aiohcs_utf16_len */

/* A malloc'd copy (NUL included) and, if length is not NULL, its length in code units; NULL
 * for NULL or when out of memory. */
char16_t *aiohcs_utf16_dup(const char16_t *text, size_t *length);

#endif
