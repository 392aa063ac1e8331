/* libFuzzer harness for hcsim's JSON module (json.c). For every input:
 *  - hj_parse(bytes); when it is valid: serialize, re-parse, and require hj_equal both
 *    ways, equality with a clone, and that serialization is a fixpoint
 *    (serialize(parse(serialize(x))) == serialize(x)); the UTF-16 serializer must parse
 *    back to an equal value too; number accessors must agree with each other.
 *  - bytes of even length are also read as UTF-16 (copied into a NUL-terminated buffer):
 *    hj_parse_utf16 must agree with converting to UTF-8 and calling hj_parse, and valid
 *    UTF-16 must survive a UTF-16 -> UTF-8 -> UTF-16 round trip unchanged.
 * Any inconsistency aborts. */
#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(msg)                                \
    do {                                         \
        fprintf(stderr, "fuzz_json: %s\n", msg); \
        abort();                                 \
    } while (0)

static void check_numbers(const hj_value *v, int depth) {
    if (depth > HJ_MAX_DEPTH + 1) FAIL("tree deeper than HJ_MAX_DEPTH");
    switch (hj_typeof(v)) {
    case HJ_NUMBER: {
        int64_t i;
        uint64_t u;
        double d;
        int hi = hj_int64(v, &i), hu = hj_uint64(v, &u), hd = hj_double(v, &d);
        if (hi && hu && (i < 0 || (uint64_t)i != u)) FAIL("int64/uint64 disagree");
        if (hi && (!hd || d != (double)i)) FAIL("int64/double disagree");
        if (hu && (!hd || d != (double)u)) FAIL("uint64/double disagree");
        break;
    }
    case HJ_STRING: {
        size_t n;
        const char *s = hj_str(v, &n);
        if (!s || s[n] != '\0') FAIL("string not NUL-terminated");
        break;
    }
    case HJ_ARRAY:
    case HJ_OBJECT:
        for (size_t k = 0; k < hj_count(v); k++) {
            const hj_value *e = hj_at(v, k);
            if (!e) FAIL("hj_at NULL inside count");
            if (hj_typeof(v) == HJ_OBJECT) {
                const char *key = hj_key_at(v, k);
                if (!key) FAIL("hj_key_at NULL inside count");
                /* Keys are unique, so a lookup by key finds this member, unless the
                 * key holds an escaped NUL: then hj_get may find nothing, or another
                 * member whose whole key is this key's C-string prefix. */
                const hj_value *g = hj_get(v, key);
                if (g && g != e) {
                    size_t j = 0;
                    while (j < hj_count(v) && hj_at(v, j) != g) j++;
                    if (j == hj_count(v) || j == k || strcmp(hj_key_at(v, j), key) != 0)
                        FAIL("hj_get found a member with another key");
                }
            }
            check_numbers(e, depth + 1);
        }
        break;
    default: break;
    }
}

static void check_value(const hj_value *v) {
    check_numbers(v, 0);
    size_t n1, n2;
    char *s1 = hj_serialize(v, &n1);
    if (!s1) FAIL("serialize failed on a parsed value");
    if (strlen(s1) != n1) FAIL("serialization contains NUL");
    hj_value *v2 = hj_parse(s1, n1);
    if (!v2) FAIL("serialization does not parse");
    if (!hj_equal(v, v2) || !hj_equal(v2, v)) FAIL("round trip not equal");
    char *s2 = hj_serialize(v2, &n2);
    if (!s2 || n1 != n2 || memcmp(s1, s2, n1) != 0) FAIL("serialization is not a fixpoint");

    hj_value *c = hj_clone(v);
    if (!c || !hj_equal(c, v)) FAIL("clone not equal");
    char *s3 = hj_serialize(c, NULL);
    if (!s3 || strcmp(s3, s1) != 0) FAIL("clone serializes differently");

    char16_t *w = hj_serialize_utf16(v);
    if (!w) FAIL("serialize_utf16 failed");
    hj_value *v3 = hj_parse_utf16(w);
    if (!v3 || !hj_equal(v, v3)) FAIL("UTF-16 round trip not equal");
    size_t n4;
    char *s4 = hj_utf16_to_utf8(w, &n4);
    if (!s4 || n4 != n1 || memcmp(s4, s1, n1) != 0) FAIL("UTF-16 serialization differs");

    free(s1);
    free(s2);
    free(s3);
    free(s4);
    free(w);
    hj_free(v2);
    hj_free(v3);
    hj_free(c);
}

static void check_utf16(const uint8_t *data, size_t size) {
    size_t units = size / 2;
    char16_t *w = malloc((units + 1) * sizeof *w);
    if (!w) return;
    memcpy(w, data, units * sizeof *w);
    w[units] = 0;
    hj_value *a = hj_parse_utf16(w);
    size_t n;
    char *u8 = hj_utf16_to_utf8(w, &n);
    hj_value *b = u8 ? hj_parse(u8, n) : NULL;
    if ((a == NULL) != (b == NULL)) FAIL("hj_parse_utf16 disagrees with hj_parse");
    if (a && !hj_equal(a, b)) FAIL("hj_parse_utf16 result differs");
    if (a) check_value(a);
    if (u8) {
        char16_t *back = hj_utf8_to_utf16(u8, n);
        if (!back || hj_utf16_cmp(back, w) != 0) FAIL("UTF-16 -> UTF-8 -> UTF-16 changed text");
        char16_t *dup = aiohcs_utf16_dup(w, NULL);
        if (!dup || hj_utf16_cmp(dup, w) != 0 || aiohcs_utf16_len(dup) != aiohcs_utf16_len(w))
            FAIL("aiohcs_utf16_dup");
        free(dup);
        free(back);
    }
    hj_free(a);
    hj_free(b);
    free(u8);
    free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hj_value *v = hj_parse((const char *)data, size);
    if (v) {
        check_value(v);
        hj_free(v);
    }
    /* Invalid UTF-8 anywhere makes both the document and the conversion fail. */
    char16_t *w = hj_utf8_to_utf16((const char *)data, size);
    if (v && !w) FAIL("valid document but its UTF-8 is rejected");
    free(w);
    if (size % 2 == 0) check_utf16(data, size);
    return 0;
}
