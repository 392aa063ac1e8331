/* hcsim JSON: see json.h.
 *
 * Representation. Every value is one heap block. Strings and numbers carry their bytes
 * inline after the struct (one allocation each); arrays hold a growable vector of child
 * pointers; objects hold a growable vector of members (separately allocated key + value)
 * in document order.
 *
 * Parsing is recursive descent; recursion depth is bounded by HJ_MAX_DEPTH (an array or
 * object nested more than HJ_MAX_DEPTH deep is malformed), so the C stack use is small.
 * Duplicate keys are detected once per object after it is read: pairwise for small
 * objects, by sorting member pointers for larger ones (O(n log n), never quadratic).
 *
 * Numbers keep their source text. A number counts as an *integer* only when it is
 * written in plain integer syntax (an optional '-' and digits: no fraction, no exponent),
 * so "1e3" and "1.0" are numbers that hj_int64/hj_uint64 reject; hj_double accepts all.
 *
 * Locale. strtod/snprintf("%g") use the LC_NUMERIC radix character. hcsim never calls
 * setlocale and CPython leaves LC_NUMERIC as "C", but to be independent of it anyway,
 * text_to_double retries with the current radix substituted for '.', and format_double
 * rewrites whatever radix snprintf produced back to '.'. */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct hj_member {
    char *key; /* NUL-terminated UTF-8 (may contain NUL: klen is authoritative) */
    size_t klen;
    hj_value *val;
} hj_member;

struct hj_value {
    hj_type type;
    union {
        int b;
        struct {
            char *text;
            size_t len;
            int integral;
        } num; /* text inline after struct */
        struct {
            char *s;
            size_t len;
        } str; /* bytes inline after struct */
        struct {
            hj_value **v;
            size_t n, cap;
        } arr;
        struct {
            hj_member *m;
            size_t n, cap;
        } obj;
    } u;
};

/* Inputs above this size would overflow size arithmetic below; nothing real comes close. */
#define HJ_MAX_BYTES ((size_t)1 << (sizeof(size_t) * 8 - 4))

/* ------------------------------------------------------------------------------------ */
/* UTF-8 / UTF-16 primitives                                                            */

/* Decodes one well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF) from s[0..n). Returns its length (1..4), or 0 if s does not start with one. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    unsigned lo = 0x80, hi = 0xBF;
    size_t len;
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    v = (v << 6) | (s[1] & 0x3F);
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

static size_t utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = utf8_decode(p + i, len - i, &cp);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

int hj_utf16_cmp(const char16_t *a, const char16_t *b) {
    if (a == b) return 0;
    if (!a) return -1;
    if (!b) return 1;
    for (;; a++, b++) {
        if (*a != *b) return *a < *b ? -1 : 1;
        if (!*a) return 0;
    }
}

char *hj_utf16_to_utf8(const char16_t *s, size_t *len) {
    if (!s) return NULL;
    size_t n = aiohcs_utf16_len(s);
    /* Each UTF-16 unit yields at most 3 bytes (a pair of units yields 4). */
    if (n > HJ_MAX_BYTES / 3) return NULL;
    char *out = malloc(n * 3 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = s[i];
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (i + 1 >= n || s[i + 1] < 0xDC00 || s[i + 1] > 0xDFFF) {
                free(out);
                return NULL;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)s[i + 1] - 0xDC00);
            i++;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            free(out);
            return NULL;
        }
        o += utf8_encode(cp, out + o);
    }
    out[o] = '\0';
    if (len) *len = o;
    return out;
}

char16_t *hj_utf8_to_utf16(const char *s, size_t len) {
    if (!s || len > HJ_MAX_BYTES / sizeof(char16_t)) return NULL;
    /* Each byte yields at most one unit (4 bytes -> 2 units). */
    char16_t *out = malloc((len + 1) * sizeof *out);
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = utf8_decode(p + i, len - i, &cp);
        if (!k) {
            free(out);
            return NULL;
        }
        i += k;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            out[o++] = (char16_t)(0xD800 + (cp >> 10));
            out[o++] = (char16_t)(0xDC00 + (cp & 0x3FF));
        } else {
            out[o++] = (char16_t)cp;
        }
    }
    out[o] = 0;
    return out;
}

/* ------------------------------------------------------------------------------------ */
/* Number text <-> double, independent of LC_NUMERIC                                    */

/* Converts JSON number text (NUL-terminated, len bytes, JSON grammar or our own %g
 * output) to a double. Returns 0 if the text could not be converted at all. */
static int text_to_double(const char *text, size_t len, double *out) {
    char *end;
    double d = strtod(text, &end);
    if (end == text + len) {
        *out = d;
        return 1;
    }
    /* The current locale's radix is not '.': find it and substitute. */
    char probe[32];
    int pn = snprintf(probe, sizeof probe, "%.1f", 0.5); /* "0<radix>5" */
    if (pn < 3 || (size_t)pn >= sizeof probe) return 0;
    size_t rlen = (size_t)pn - 2;
    const char *radix = probe + 1;
    const char *dot = memchr(text, '.', len);
    if (!dot) return 0;
    size_t pre = (size_t)(dot - text), post = len - pre - 1;
    char stackbuf[128];
    char *buf = stackbuf;
    if (pre + rlen + post + 1 > sizeof stackbuf) {
        buf = malloc(pre + rlen + post + 1);
        if (!buf) return 0;
    }
    memcpy(buf, text, pre);
    memcpy(buf + pre, radix, rlen);
    memcpy(buf + pre + rlen, dot + 1, post);
    buf[pre + rlen + post] = '\0';
    d = strtod(buf, &end);
    int ok = end == buf + pre + rlen + post;
    if (buf != stackbuf) free(buf);
    if (ok) *out = d;
    return ok;
}

static int is_plain_num_char(char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e' || c == 'E' || c == '.';
}

/* Formats a finite double as the shortest of %.15g/%.16g/%.17g that reads back exactly,
 * with '.' as the radix whatever the locale. buf must hold at least 64 bytes. */
static size_t format_double(double d, char *buf, size_t cap) {
    size_t n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        int w = snprintf(buf, cap, "%.*g", prec, d);
        if (w < 0 || (size_t)w >= cap) {
            buf[0] = '0';
            buf[1] = '\0';
            return 1;
        }
        n = (size_t)w;
        /* Replace a non-'.' radix (a run of other characters) by '.'. */
        for (size_t i = 0; i < n; i++) {
            if (is_plain_num_char(buf[i])) continue;
            size_t j = i;
            while (j < n && !is_plain_num_char(buf[j])) j++;
            buf[i] = '.';
            memmove(buf + i + 1, buf + j, n - j + 1);
            n -= j - i - 1;
            break;
        }
        double back;
        if (text_to_double(buf, n, &back) && back == d) break;
    }
    return n;
}

/* ------------------------------------------------------------------------------------ */
/* Construction and destruction                                                          */

static hj_value *new_value(hj_type t) {
    hj_value *v = calloc(1, sizeof *v);
    if (v) v->type = t;
    return v;
}

static hj_value *new_inline(hj_type t, size_t cap) {
    if (cap > HJ_MAX_BYTES) return NULL;
    hj_value *v = malloc(sizeof *v + cap + 1);
    if (!v) return NULL;
    memset(v, 0, sizeof *v);
    v->type = t;
    return v;
}

static hj_value *new_number_text(const char *text, size_t len, int integral) {
    hj_value *v = new_inline(HJ_NUMBER, len);
    if (!v) return NULL;
    v->u.num.text = (char *)(v + 1);
    memcpy(v->u.num.text, text, len);
    v->u.num.text[len] = '\0';
    v->u.num.len = len;
    v->u.num.integral = integral;
    return v;
}

void hj_free(hj_value *v) {
    if (!v) return;
    if (v->type == HJ_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++) hj_free(v->u.arr.v[i]);
        free(v->u.arr.v);
    } else if (v->type == HJ_OBJECT) {
        for (size_t i = 0; i < v->u.obj.n; i++) {
            free(v->u.obj.m[i].key);
            hj_free(v->u.obj.m[i].val);
        }
        free(v->u.obj.m);
    }
    free(v);
}

hj_value *hj_null(void) { return new_value(HJ_NULL); }

hj_value *hj_new_bool(int b) {
    hj_value *v = new_value(HJ_BOOL);
    if (v) v->u.b = b != 0;
    return v;
}

hj_value *hj_new_int(int64_t n) {
    char buf[32];
    int w = snprintf(buf, sizeof buf, "%" PRId64, n);
    return new_number_text(buf, (size_t)w, 1);
}

hj_value *hj_new_uint(uint64_t n) {
    char buf[32];
    int w = snprintf(buf, sizeof buf, "%" PRIu64, n);
    return new_number_text(buf, (size_t)w, 1);
}

/* A non-finite double has no JSON form: it becomes a JSON null (hj_typeof == HJ_NULL),
 * which is also what it serializes as. */
hj_value *hj_new_double(double d) {
    if (!isfinite(d)) return hj_null();
    char buf[64];
    size_t n = format_double(d, buf, sizeof buf);
    int integral = 1;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '.' || buf[i] == 'e' || buf[i] == 'E') integral = 0;
    return new_number_text(buf, n, integral);
}

hj_value *hj_new_string(const char *utf8) {
    if (!utf8) return NULL;
    return hj_new_stringn(utf8, strlen(utf8));
}

/* Invalid UTF-8 is refused (NULL), so that every value serializes to valid JSON. */
hj_value *hj_new_stringn(const char *utf8, size_t len) {
    if (!utf8 || !utf8_valid(utf8, len)) return NULL;
    hj_value *v = new_inline(HJ_STRING, len);
    if (!v) return NULL;
    v->u.str.s = (char *)(v + 1);
    memcpy(v->u.str.s, utf8, len);
    v->u.str.s[len] = '\0';
    v->u.str.len = len;
    return v;
}

hj_value *hj_new_array(void) { return new_value(HJ_ARRAY); }
hj_value *hj_new_object(void) { return new_value(HJ_OBJECT); }

static int arr_append(hj_value *a, hj_value *val) {
    if (a->u.arr.n == a->u.arr.cap) {
        size_t nc = a->u.arr.cap ? a->u.arr.cap * 2 : 4;
        if (nc > HJ_MAX_BYTES / sizeof(hj_value *)) return -1;
        hj_value **nv = realloc(a->u.arr.v, nc * sizeof *nv);
        if (!nv) return -1;
        a->u.arr.v = nv;
        a->u.arr.cap = nc;
    }
    a->u.arr.v[a->u.arr.n++] = val;
    return 0;
}

/* Appends a member taking ownership of key (malloc'd) and val; on failure frees neither. */
static int obj_append(hj_value *o, char *key, size_t klen, hj_value *val) {
    if (o->u.obj.n == o->u.obj.cap) {
        size_t nc = o->u.obj.cap ? o->u.obj.cap * 2 : 4;
        if (nc > HJ_MAX_BYTES / sizeof(hj_member)) return -1;
        hj_member *nm = realloc(o->u.obj.m, nc * sizeof *nm);
        if (!nm) return -1;
        o->u.obj.m = nm;
        o->u.obj.cap = nc;
    }
    hj_member *m = &o->u.obj.m[o->u.obj.n++];
    m->key = key;
    m->klen = klen;
    m->val = val;
    return 0;
}

static hj_member *obj_find(const hj_value *o, const char *key, size_t klen) {
    for (size_t i = 0; i < o->u.obj.n; i++) {
        hj_member *m = &o->u.obj.m[i];
        if (m->klen == klen && memcmp(m->key, key, klen) == 0) return m;
    }
    return NULL;
}

int hj_push(hj_value *array, hj_value *val) {
    if (!val) return -1;
    if (val == array) return -1; /* never free the container itself */
    if (!array || array->type != HJ_ARRAY || arr_append(array, val) != 0) {
        hj_free(val);
        return -1;
    }
    return 0;
}

/* key must be valid UTF-8 (else -1), for the same reason as hj_new_stringn. */
int hj_set(hj_value *object, const char *key, hj_value *val) {
    if (!val) return -1;
    if (val == object) return -1;
    if (!object || object->type != HJ_OBJECT || !key) {
        hj_free(val);
        return -1;
    }
    size_t klen = strlen(key);
    hj_member *m = obj_find(object, key, klen);
    if (m) {
        if (m->val == val) return 0;
        hj_free(m->val);
        m->val = val;
        return 0;
    }
    if (!utf8_valid(key, klen)) {
        hj_free(val);
        return -1;
    }
    char *k = malloc(klen + 1);
    if (!k) {
        hj_free(val);
        return -1;
    }
    memcpy(k, key, klen + 1);
    if (obj_append(object, k, klen, val) != 0) {
        free(k);
        hj_free(val);
        return -1;
    }
    return 0;
}

int hj_remove(hj_value *object, const char *key) {
    if (!object || object->type != HJ_OBJECT || !key) return 0;
    hj_member *m = obj_find(object, key, strlen(key));
    if (!m) return 0;
    free(m->key);
    hj_free(m->val);
    size_t i = (size_t)(m - object->u.obj.m);
    memmove(m, m + 1, (object->u.obj.n - i - 1) * sizeof *m);
    object->u.obj.n--;
    return 1;
}

hj_value *hj_clone(const hj_value *v) {
    if (!v) return NULL;
    switch (v->type) {
    case HJ_NULL: return hj_null();
    case HJ_BOOL: return hj_new_bool(v->u.b);
    case HJ_NUMBER: return new_number_text(v->u.num.text, v->u.num.len, v->u.num.integral);
    case HJ_STRING: {
        hj_value *c = new_inline(HJ_STRING, v->u.str.len);
        if (!c) return NULL;
        c->u.str.s = (char *)(c + 1);
        memcpy(c->u.str.s, v->u.str.s, v->u.str.len + 1);
        c->u.str.len = v->u.str.len;
        return c;
    }
    case HJ_ARRAY: {
        hj_value *c = hj_new_array();
        if (!c) return NULL;
        if (v->u.arr.n) {
            c->u.arr.v = malloc(v->u.arr.n * sizeof *c->u.arr.v);
            if (!c->u.arr.v) {
                free(c);
                return NULL;
            }
            c->u.arr.cap = v->u.arr.n;
        }
        for (size_t i = 0; i < v->u.arr.n; i++) {
            hj_value *e = hj_clone(v->u.arr.v[i]);
            if (!e) {
                hj_free(c);
                return NULL;
            }
            c->u.arr.v[c->u.arr.n++] = e;
        }
        return c;
    }
    case HJ_OBJECT: {
        hj_value *c = hj_new_object();
        if (!c) return NULL;
        if (v->u.obj.n) {
            c->u.obj.m = malloc(v->u.obj.n * sizeof *c->u.obj.m);
            if (!c->u.obj.m) {
                free(c);
                return NULL;
            }
            c->u.obj.cap = v->u.obj.n;
        }
        for (size_t i = 0; i < v->u.obj.n; i++) {
            const hj_member *m = &v->u.obj.m[i];
            char *k = malloc(m->klen + 1);
            hj_value *e = k ? hj_clone(m->val) : NULL;
            if (!e) {
                free(k);
                hj_free(c);
                return NULL;
            }
            memcpy(k, m->key, m->klen + 1);
            hj_member *cm = &c->u.obj.m[c->u.obj.n++];
            cm->key = k;
            cm->klen = m->klen;
            cm->val = e;
        }
        return c;
    }
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Reading                                                                               */

hj_type hj_typeof(const hj_value *v) { return v ? v->type : HJ_NULL; }

const hj_value *hj_get(const hj_value *object, const char *key) {
    if (!object || object->type != HJ_OBJECT || !key) return NULL;
    hj_member *m = obj_find(object, key, strlen(key));
    return m ? m->val : NULL;
}

size_t hj_count(const hj_value *v) {
    if (!v) return 0;
    if (v->type == HJ_ARRAY) return v->u.arr.n;
    if (v->type == HJ_OBJECT) return v->u.obj.n;
    return 0;
}

const hj_value *hj_at(const hj_value *v, size_t i) {
    if (!v) return NULL;
    if (v->type == HJ_ARRAY) return i < v->u.arr.n ? v->u.arr.v[i] : NULL;
    if (v->type == HJ_OBJECT) return i < v->u.obj.n ? v->u.obj.m[i].val : NULL;
    return NULL;
}

/* A key holding an escaped NUL ("\u0000") reads as truncated here; lookups by hj_get
 * therefore cannot find such a key either. */
const char *hj_key_at(const hj_value *v, size_t i) {
    if (!v || v->type != HJ_OBJECT || i >= v->u.obj.n) return NULL;
    return v->u.obj.m[i].key;
}

int hj_bool(const hj_value *v, int *out) {
    if (!v || v->type != HJ_BOOL) return 0;
    if (out) *out = v->u.b;
    return 1;
}

/* Parses plain integer text into sign + magnitude; 0 if not an integer or > UINT64_MAX. */
static int int_magnitude(const hj_value *v, int *neg, uint64_t *mag) {
    if (!v || v->type != HJ_NUMBER || !v->u.num.integral) return 0;
    const char *p = v->u.num.text, *e = p + v->u.num.len;
    *neg = 0;
    if (p < e && *p == '-') {
        *neg = 1;
        p++;
    }
    if (p == e) return 0;
    uint64_t m = 0;
    for (; p < e; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (d > 9) return 0;
        if (m > (UINT64_MAX - d) / 10) return 0;
        m = m * 10 + d;
    }
    *mag = m;
    return 1;
}

int hj_int64(const hj_value *v, int64_t *out) {
    int neg;
    uint64_t mag;
    if (!int_magnitude(v, &neg, &mag)) return 0;
    int64_t r;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1) return 0;
        r = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX) return 0;
        r = (int64_t)mag;
    }
    if (out) *out = r;
    return 1;
}

int hj_uint64(const hj_value *v, uint64_t *out) {
    int neg;
    uint64_t mag;
    if (!int_magnitude(v, &neg, &mag)) return 0;
    if (neg && mag != 0) return 0; /* "-0" is zero */
    if (out) *out = mag;
    return 1;
}

/* Returns 0 also for a number too large to be a finite double (e.g. 1e999). */
int hj_double(const hj_value *v, double *out) {
    if (!v || v->type != HJ_NUMBER) return 0;
    double d;
    if (!text_to_double(v->u.num.text, v->u.num.len, &d) || !isfinite(d)) return 0;
    if (out) *out = d;
    return 1;
}

const char *hj_str(const hj_value *v, size_t *len) {
    if (!v || v->type != HJ_STRING) return NULL;
    if (len) *len = v->u.str.len;
    return v->u.str.s;
}

/* ------------------------------------------------------------------------------------ */
/* Equality                                                                              */

static int key_cmp(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

static int member_ptr_cmp(const void *x, const void *y) {
    const hj_member *a = *(const hj_member *const *)x, *b = *(const hj_member *const *)y;
    return key_cmp(a->key, a->klen, b->key, b->klen);
}

/* Member pointers of o sorted by key; NULL on allocation failure (or no members). */
static const hj_member **sorted_members(const hj_value *o) {
    size_t n = o->u.obj.n;
    if (!n) return NULL;
    const hj_member **p = malloc(n * sizeof *p);
    if (!p) return NULL;
    for (size_t i = 0; i < n; i++) p[i] = &o->u.obj.m[i];
    qsort(p, n, sizeof *p, member_ptr_cmp);
    return p;
}

static int number_equal(const hj_value *a, const hj_value *b) {
    if (a->u.num.integral && b->u.num.integral) {
        /* Exact, whatever the size: "-0" is 0; otherwise the grammar makes the text
         * canonical (no leading zeros, no '+'). */
        const char *x = a->u.num.text, *y = b->u.num.text;
        size_t xl = a->u.num.len, yl = b->u.num.len;
        if (xl == 2 && x[0] == '-' && x[1] == '0') {
            x++;
            xl--;
        }
        if (yl == 2 && y[0] == '-' && y[1] == '0') {
            y++;
            yl--;
        }
        return xl == yl && memcmp(x, y, xl) == 0;
    }
    double da, db;
    if (!text_to_double(a->u.num.text, a->u.num.len, &da)) return 0;
    if (!text_to_double(b->u.num.text, b->u.num.len, &db)) return 0;
    return da == db;
}

int hj_equal(const hj_value *a, const hj_value *b) {
    if (a == b) return 1;
    if (!a || !b || a->type != b->type) return 0;
    switch (a->type) {
    case HJ_NULL: return 1;
    case HJ_BOOL: return a->u.b == b->u.b;
    case HJ_NUMBER: return number_equal(a, b);
    case HJ_STRING:
        return a->u.str.len == b->u.str.len && memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
    case HJ_ARRAY:
        if (a->u.arr.n != b->u.arr.n) return 0;
        for (size_t i = 0; i < a->u.arr.n; i++)
            if (!hj_equal(a->u.arr.v[i], b->u.arr.v[i])) return 0;
        return 1;
    case HJ_OBJECT: {
        size_t n = a->u.obj.n;
        if (n != b->u.obj.n) return 0;
        /* Fast path: same key order (the common case after a round trip). */
        size_t i = 0;
        while (i < n) {
            const hj_member *x = &a->u.obj.m[i], *y = &b->u.obj.m[i];
            if (x->klen != y->klen || memcmp(x->key, y->key, x->klen) != 0) break;
            if (!hj_equal(x->val, y->val)) return 0;
            i++;
        }
        if (i == n) return 1;
        const hj_member **sa = sorted_members(a), **sb = sorted_members(b);
        int eq = 1;
        if (sa && sb) {
            for (size_t k = 0; k < n && eq; k++) {
                if (key_cmp(sa[k]->key, sa[k]->klen, sb[k]->key, sb[k]->klen) != 0)
                    eq = 0;
                else if (!hj_equal(sa[k]->val, sb[k]->val))
                    eq = 0;
            }
        } else {
            /* Out of memory for the index: fall back to lookups. */
            for (size_t k = 0; k < n && eq; k++) {
                const hj_member *x = &a->u.obj.m[k];
                const hj_member *y = obj_find(b, x->key, x->klen);
                if (!y || !hj_equal(x->val, y->val)) eq = 0;
            }
        }
        free(sa);
        free(sb);
        return eq;
    }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Parsing                                                                               */

typedef struct parser {
    const unsigned char *p, *end;
} parser;

static void skip_ws(parser *ps) {
    while (ps->p < ps->end) {
        unsigned char c = *ps->p;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        ps->p++;
    }
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at s (caller guarantees 4 bytes are there). */
static int hex4(const unsigned char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(s[i]);
        if (h < 0) return 0;
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return 1;
}

/* With ps->p at the opening quote: finds the closing quote, leaving raw and rawlen as the
 * bytes between and ps->p after the closing quote. Content is validated by decode. */
static int scan_string(parser *ps, const unsigned char **raw, size_t *rawlen) {
    const unsigned char *q = ps->p + 1, *end = ps->end;
    while (q < end) {
        unsigned char c = *q;
        if (c == '"') {
            *raw = ps->p + 1;
            *rawlen = (size_t)(q - (ps->p + 1));
            ps->p = q + 1;
            return 1;
        }
        if (c == '\\') {
            if (end - q < 2) return 0;
            q += 2;
        } else {
            q++;
        }
    }
    return 0;
}

/* Decodes string content raw[0..n) into out (room for n+1 bytes: decoding never grows).
 * Rejects control characters, bad escapes, lone surrogate escapes and invalid UTF-8. */
static int decode_string(const unsigned char *raw, size_t n, char *out, size_t *outlen) {
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned char c = raw[i];
        if (c == '\\') {
            if (i + 1 >= n) return 0;
            unsigned char e = raw[i + 1];
            i += 2;
            switch (e) {
            case '"': out[o++] = '"'; break;
            case '\\': out[o++] = '\\'; break;
            case '/': out[o++] = '/'; break;
            case 'b': out[o++] = '\b'; break;
            case 'f': out[o++] = '\f'; break;
            case 'n': out[o++] = '\n'; break;
            case 'r': out[o++] = '\r'; break;
            case 't': out[o++] = '\t'; break;
            case 'u': {
                uint32_t cp;
                if (n - i < 4 || !hex4(raw + i, &cp)) return 0;
                i += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return 0; /* lone low surrogate */
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (n - i < 6 || raw[i] != '\\' || raw[i + 1] != 'u' || !hex4(raw + i + 2, &lo))
                        return 0;
                    if (lo < 0xDC00 || lo > 0xDFFF) return 0;
                    i += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                o += utf8_encode(cp, out + o);
                break;
            }
            default: return 0;
            }
        } else if (c < 0x20) {
            return 0;
        } else if (c < 0x80) {
            out[o++] = (char)c;
            i++;
        } else {
            uint32_t cp;
            size_t k = utf8_decode(raw + i, n - i, &cp);
            if (!k) return 0;
            memcpy(out + o, raw + i, k);
            o += k;
            i += k;
        }
    }
    out[o] = '\0';
    *outlen = o;
    return 1;
}

static hj_value *parse_value(parser *ps, int depth);

static hj_value *parse_string_value(parser *ps) {
    const unsigned char *raw;
    size_t rawlen, len;
    if (!scan_string(ps, &raw, &rawlen)) return NULL;
    hj_value *v = new_inline(HJ_STRING, rawlen);
    if (!v) return NULL;
    v->u.str.s = (char *)(v + 1);
    if (!decode_string(raw, rawlen, v->u.str.s, &len)) {
        free(v);
        return NULL;
    }
    v->u.str.len = len;
    return v;
}

static hj_value *parse_number(parser *ps) {
    const unsigned char *s = ps->p, *q = s, *end = ps->end;
    int integral = 1;
    if (q < end && *q == '-') q++;
    if (q >= end) return NULL;
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        while (q < end && *q >= '0' && *q <= '9') q++;
    } else {
        return NULL;
    }
    if (q < end && *q == '.') {
        integral = 0;
        q++;
        if (q >= end || *q < '0' || *q > '9') return NULL;
        while (q < end && *q >= '0' && *q <= '9') q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        integral = 0;
        q++;
        if (q < end && (*q == '+' || *q == '-')) q++;
        if (q >= end || *q < '0' || *q > '9') return NULL;
        while (q < end && *q >= '0' && *q <= '9') q++;
    }
    ps->p = q;
    return new_number_text((const char *)s, (size_t)(q - s), integral);
}

static int literal(parser *ps, const char *word, size_t n) {
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return 0;
    ps->p += n;
    return 1;
}

static hj_value *parse_array(parser *ps, int depth) {
    if (depth > HJ_MAX_DEPTH) return NULL;
    ps->p++; /* '[' */
    hj_value *a = hj_new_array();
    if (!a) return NULL;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return a;
    }
    for (;;) {
        hj_value *e = parse_value(ps, depth);
        if (!e) goto fail;
        if (arr_append(a, e) != 0) {
            hj_free(e);
            goto fail;
        }
        skip_ws(ps);
        if (ps->p >= ps->end) goto fail;
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ']') {
            ps->p++;
            return a;
        }
        goto fail;
    }
fail:
    hj_free(a);
    return NULL;
}

/* 1 if the object has two members with the same key (or the check ran out of memory). */
static int has_duplicate_keys(const hj_value *o) {
    size_t n = o->u.obj.n;
    const hj_member *m = o->u.obj.m;
    if (n < 2) return 0;
    if (n <= 8) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (m[i].klen == m[j].klen && memcmp(m[i].key, m[j].key, m[i].klen) == 0) return 1;
        return 0;
    }
    const hj_member **s = sorted_members(o);
    if (!s) return 1;
    int dup = 0;
    for (size_t i = 1; i < n && !dup; i++)
        if (key_cmp(s[i - 1]->key, s[i - 1]->klen, s[i]->key, s[i]->klen) == 0) dup = 1;
    free(s);
    return dup;
}

static hj_value *parse_object(parser *ps, int depth) {
    if (depth > HJ_MAX_DEPTH) return NULL;
    ps->p++; /* '{' */
    hj_value *o = hj_new_object();
    if (!o) return NULL;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return o;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') goto fail;
        const unsigned char *raw;
        size_t rawlen, klen;
        if (!scan_string(ps, &raw, &rawlen)) goto fail;
        char *key = malloc(rawlen + 1);
        if (!key) goto fail;
        if (!decode_string(raw, rawlen, key, &klen)) {
            free(key);
            goto fail;
        }
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            free(key);
            goto fail;
        }
        ps->p++;
        hj_value *val = parse_value(ps, depth);
        if (!val) {
            free(key);
            goto fail;
        }
        if (obj_append(o, key, klen, val) != 0) {
            free(key);
            hj_free(val);
            goto fail;
        }
        skip_ws(ps);
        if (ps->p >= ps->end) goto fail;
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == '}') {
            ps->p++;
            break;
        }
        goto fail;
    }
    if (has_duplicate_keys(o)) goto fail;
    return o;
fail:
    hj_free(o);
    return NULL;
}

static hj_value *parse_value(parser *ps, int depth) {
    skip_ws(ps);
    if (ps->p >= ps->end) return NULL;
    switch (*ps->p) {
    case '{': return parse_object(ps, depth + 1);
    case '[': return parse_array(ps, depth + 1);
    case '"': return parse_string_value(ps);
    case 't': return literal(ps, "true", 4) ? hj_new_bool(1) : NULL;
    case 'f': return literal(ps, "false", 5) ? hj_new_bool(0) : NULL;
    case 'n': return literal(ps, "null", 4) ? hj_null() : NULL;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps);
        return NULL;
    }
}

/* A byte-order mark is not accepted (RFC 8259 §8.1 lets parsers reject it). */
hj_value *hj_parse(const char *text, size_t len) {
    if (!text || len > HJ_MAX_BYTES) return NULL;
    parser ps = {(const unsigned char *)text, (const unsigned char *)text + len};
    hj_value *v = parse_value(&ps, 0);
    if (!v) return NULL;
    skip_ws(&ps);
    if (ps.p != ps.end) {
        hj_free(v);
        return NULL;
    }
    return v;
}

hj_value *hj_parse_utf16(const char16_t *text) {
    size_t len;
    char *u8 = hj_utf16_to_utf8(text, &len);
    if (!u8) return NULL;
    hj_value *v = hj_parse(u8, len);
    free(u8);
    return v;
}

/* ------------------------------------------------------------------------------------ */
/* Serializing                                                                           */

typedef struct sbuf {
    char *d;
    size_t n, cap;
    int err;
} sbuf;

static int sb_reserve(sbuf *b, size_t extra) {
    if (b->err) return -1;
    if (extra > HJ_MAX_BYTES - b->n) {
        b->err = 1;
        return -1;
    }
    if (b->d && b->n + extra + 1 <= b->cap) return 0;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + extra + 1) nc *= 2;
    char *nd = realloc(b->d, nc);
    if (!nd) {
        b->err = 1;
        return -1;
    }
    b->d = nd;
    b->cap = nc;
    return 0;
}

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (sb_reserve(b, n) != 0) return;
    memcpy(b->d + b->n, s, n);
    b->n += n;
}

static void sb_putc(sbuf *b, char c) {
    if (sb_reserve(b, 1) != 0) return;
    b->d[b->n++] = c;
}

static void sb_string(sbuf *b, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    sb_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_put(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t en = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            en = 6;
        }
        sb_put(b, esc, en);
    }
    sb_put(b, s + run, len - run);
    sb_putc(b, '"');
}

/* Values nested deeper than HJ_MAX_DEPTH (only possible when built by hand) are refused,
 * so that every serialization parses again. */
static void sb_value(sbuf *b, const hj_value *v, int depth) {
    if (b->err) return;
    switch (v->type) {
    case HJ_NULL: sb_put(b, "null", 4); return;
    case HJ_BOOL:
        if (v->u.b)
            sb_put(b, "true", 4);
        else
            sb_put(b, "false", 5);
        return;
    case HJ_NUMBER: sb_put(b, v->u.num.text, v->u.num.len); return;
    case HJ_STRING: sb_string(b, v->u.str.s, v->u.str.len); return;
    case HJ_ARRAY:
        if (depth >= HJ_MAX_DEPTH) {
            b->err = 1;
            return;
        }
        sb_putc(b, '[');
        for (size_t i = 0; i < v->u.arr.n && !b->err; i++) {
            if (i) sb_putc(b, ',');
            sb_value(b, v->u.arr.v[i], depth + 1);
        }
        sb_putc(b, ']');
        return;
    case HJ_OBJECT:
        if (depth >= HJ_MAX_DEPTH) {
            b->err = 1;
            return;
        }
        sb_putc(b, '{');
        for (size_t i = 0; i < v->u.obj.n && !b->err; i++) {
            if (i) sb_putc(b, ',');
            sb_string(b, v->u.obj.m[i].key, v->u.obj.m[i].klen);
            sb_putc(b, ':');
            sb_value(b, v->u.obj.m[i].val, depth + 1);
        }
        sb_putc(b, '}');
        return;
    }
    b->err = 1;
}

char *hj_serialize(const hj_value *v, size_t *len) {
    if (!v) return NULL;
    sbuf b = {NULL, 0, 0, 0};
    sb_value(&b, v, 0);
    if (sb_reserve(&b, 0) != 0) {
        free(b.d);
        return NULL;
    }
    b.d[b.n] = '\0';
    if (len) *len = b.n;
    return b.d;
}

char16_t *hj_serialize_utf16(const hj_value *v) {
    size_t len;
    char *u8 = hj_serialize(v, &len);
    if (!u8) return NULL;
    char16_t *w = hj_utf8_to_utf16(u8, len);
    free(u8);
    return w;
}
