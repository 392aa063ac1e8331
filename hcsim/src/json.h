/* hcsim JSON: a strict RFC 8259 parser and a compact serializer, with UTF-16 helpers.
 * Malformed input never crashes: it yields NULL. Strings are held as UTF-8 with their
 * byte length (they may contain NUL). Numbers keep their text, so 64-bit integers are
 * exact. Object members keep document order; a duplicate key makes the document
 * malformed. Nesting deeper than HJ_MAX_DEPTH is malformed. */
#ifndef HCSIM_JSON_H
#define HCSIM_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <uchar.h>

#include "utf16.h" /* aiohcs_utf16_len / _dup: shared with the bridge */

#define HJ_MAX_DEPTH 64

typedef enum hj_type { HJ_NULL, HJ_BOOL, HJ_NUMBER, HJ_STRING, HJ_ARRAY, HJ_OBJECT } hj_type;
typedef struct hj_value hj_value;

/* Parsing. hj_parse takes UTF-8 of len bytes (invalid UTF-8 is malformed);
 * hj_parse_utf16 takes a NUL-terminated UTF-16 string (lone surrogates are malformed). */
hj_value *hj_parse(const char *text, size_t len);
hj_value *hj_parse_utf16(const char16_t *text);
void hj_free(hj_value *v);

/* Reading. Accessors accept NULL and a value of the wrong type, returning NULL/0. */
hj_type hj_typeof(const hj_value *v);
const hj_value *hj_get(const hj_value *object, const char *key); /* member by key */
size_t hj_count(const hj_value *array_or_object);
const hj_value *hj_at(const hj_value *array_or_object, size_t i); /* i-th element/member value */
const char *hj_key_at(const hj_value *object, size_t i);          /* i-th member key (UTF-8) */
int hj_bool(const hj_value *v, int *out);                         /* 1 if v is a bool */
int hj_int64(const hj_value *v, int64_t *out);   /* 1 if v is an integral number in range */
int hj_uint64(const hj_value *v, uint64_t *out); /* 1 if v is a non-negative integer in range */
int hj_double(const hj_value *v, double *out);   /* 1 if v is a number */
const char *hj_str(const hj_value *v,
                   size_t *len); /* UTF-8 bytes, NUL-terminated; NULL if not a string */

/* Building. Constructors return NULL on allocation failure. hj_set and hj_push take
 * ownership of val (freeing it on failure) and return 0 or -1; hj_set replaces an
 * existing member of the same key in place. */
hj_value *hj_null(void);
hj_value *hj_new_bool(int b);
hj_value *hj_new_int(int64_t n);
hj_value *hj_new_uint(uint64_t n);
hj_value *hj_new_double(double d);
hj_value *hj_new_string(const char *utf8); /* NUL-terminated */
hj_value *hj_new_stringn(const char *utf8, size_t len);
hj_value *hj_new_array(void);
hj_value *hj_new_object(void);
int hj_set(hj_value *object, const char *key, hj_value *val);
int hj_push(hj_value *array, hj_value *val);
int hj_remove(hj_value *object, const char *key); /* 1 if removed */
hj_value *hj_clone(const hj_value *v);
int hj_equal(const hj_value *a, const hj_value *b); /* deep equality, member order ignored */

/* Serializing: compact JSON, member order kept, strings escaped (control characters as
 * \u00XX, non-ASCII as UTF-8). Result is malloc'd and NUL-terminated; NULL on failure. */
char *hj_serialize(const hj_value *v, size_t *len);
char16_t *hj_serialize_utf16(const hj_value *v);

/* UTF conversions (malloc'd, NUL-terminated; NULL on invalid input or allocation
 * failure). utf16 input is NUL-terminated; lone surrogates are invalid. */
char *hj_utf16_to_utf8(const char16_t *s, size_t *len);
char16_t *hj_utf8_to_utf16(const char *s, size_t len);
int hj_utf16_cmp(const char16_t *a, const char16_t *b);

#endif
