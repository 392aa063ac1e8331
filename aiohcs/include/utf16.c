/* The one UTF-16 length and copy of the module (the bridge uses them; aiohcs._native
 * decodes returned documents with aiohcs_utf16_len). */
#include <stdlib.h>
#include <string.h>

#include "utf16.h"

size_t aiohcs_utf16_len(const char16_t *text) {
    size_t n = 0;
    if (text == NULL) return 0;
    while (text[n] != 0) n++;
    return n;
}

char16_t *aiohcs_utf16_dup(const char16_t *text, size_t *length) {
    if (text == NULL) return NULL;
    size_t n = aiohcs_utf16_len(text);
    char16_t *copy = malloc((n + 1) * sizeof *copy);
    if (copy == NULL) return NULL;
    memcpy(copy, text, (n + 1) * sizeof *copy);
    if (length != NULL) *length = n;
    return copy;
}
