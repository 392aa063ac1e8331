/* Tests for hcsim/src/json.c: the strict parser, the serializer, the building API and
 * the UTF-16 helpers. */
#include "harness.h"
#include "json.h"

#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static hj_value *P(const char *s) { return hj_parse(s, strlen(s)); }

/* Parses s, serializes it and compares with expect (NULL: expect the input itself). */
static int roundtrip_is(const char *s, const char *expect) {
    hj_value *v = P(s);
    if (!v) return 0;
    size_t n;
    char *out = hj_serialize(v, &n);
    int ok = out && n == strlen(out) && strcmp(out, expect ? expect : s) == 0;
    if (!ok) fprintf(stderr, "    roundtrip %s -> %s\n", s, out ? out : "(null)");
    free(out);
    hj_free(v);
    return ok;
}

static char16_t *u16(const char *ascii_or_utf8) {
    return hj_utf8_to_utf16(ascii_or_utf8, strlen(ascii_or_utf8));
}

TEST(json_valid_corpus) {
    static const char *const ok[] = {
        "null",
        "true",
        "false",
        "0",
        "-0",
        "1",
        "-1",
        "0.5",
        "-0.5",
        "1e3",
        "1E3",
        "1e+3",
        "1e-3",
        "1.5e10",
        "0e0",
        "-0.0e-0",
        "123456789012345678901234567890",
        "\"\"",
        "\"a\"",
        "[]",
        "{}",
        "[[]]",
        "[{}]",
        "{\"a\":{}}",
        " \t\r\n[ 1 , 2 ]\n",
        "{ \"a\" : 1 , \"b\" : [ ] }",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
        "\"\\u0041\\u00e9\\u20AC\"",
        "\"\\ud83d\\ude00\"",
        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
        "\"\xef\xbf\xbf\"",
        "\"\xf4\x8f\xbf\xbf\"",
        "[1,\"two\",true,false,null,{\"x\":[3.25]}]",
        "{\"\":0}",
        "{\"a\":1,\"A\":2}",
        "\"\x7f\"",
        "\"\\u0000\"",
        "\"\\uDBFF\\uDFFF\"",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        hj_value *v = P(ok[i]);
        if (!v) fprintf(stderr, "    rejected valid: %s\n", ok[i]);
        CHECK(v != NULL);
        hj_free(v);
    }
}

TEST(json_malformed_corpus) {
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
#define B(x) {x, sizeof(x) - 1}
        B(""),
        B(" "),
        B(" \t\r\n"),
        B("nul"),
        B("nulll"),
        B("True"),
        B("NULL"),
        B("tru"),
        B("falsee"),
        B("01"),
        B("-01"),
        B("00"),
        B("+1"),
        B(".5"),
        B("1."),
        B("1.e3"),
        B("1e"),
        B("1e+"),
        B("-"),
        B("--1"),
        B("0x10"),
        B("NaN"),
        B("-NaN"),
        B("Infinity"),
        B("-Infinity"),
        B("inf"),
        B("1 2"),
        B("[1,]"),
        B("[,1]"),
        B("[1,,2]"),
        B("[1 2]"),
        B("{\"a\":1,}"),
        B("{,}"),
        B("{\"a\"}"),
        B("{\"a\":}"),
        B("{\"a\" 1}"),
        B("{a:1}"),
        B("{'a':1}"),
        B("['a']"),
        B("{1:1}"),
        B("[1]]"),
        B("[[1]"),
        B("{}}"),
        B("{"),
        B("["),
        B("]"),
        B("}"),
        B("\""),
        B("\"abc"),
        B("\"\\\""),
        B("\"\\x41\""),
        B("\"\\u12\""),
        B("\"\\u12G4\""),
        B("\"\\U0041\""),
        B("\"\\'\""),
        B("\"\\0\""),
        B("\"\\ud800\""),
        B("\"\\udc00\""),
        B("\"\\ud800\\u0041\""),
        B("\"\\ud800\\ud800\""),
        B("\"\\ud800x\""),
        B("\"\\udfff\\ud800\""),
        B("\"a\nb\""),
        B("\"a\tb\""),
        B("\"\x01\""),
        B("\"\x1f\""),
        B("\"a\0b\""),
        B("[1]\0"),
        B("\0"),
        B("\"\x80\""),
        B("\"\xc0\xaf\""),
        B("\"\xc1\xbf\""),
        B("\"\xe0\x80\xaf\""),
        B("\"\xed\xa0\x80\""),
        B("\"\xed\xbf\xbf\""),
        B("\"\xf0\x80\x80\xaf\""),
        B("\"\xf4\x90\x80\x80\""),
        B("\"\xf5\x80\x80\x80\""),
        B("\"\xff\""),
        B("\"\xc3\""),
        B("\"\xe2\x82\""),
        B("\"\xf0\x9f\x98\""),
        B("\xef\xbb\xbf{}"),
        B("[1] x"),
        B("{} {}"),
        B("// c\n1"),
        B("/* c */1"),
        B("[1 /* c */]"),
        B("#1"),
        B("\f1"),
        B("\v1"),
        B("1\f"),
        B("\xc2\xa0"
          "1"),
        B("{\"a\":1,\"a\":2}"),
        B("{\"a\":1,\"b\":{\"c\":1,\"c\":1}}"),
        B("{\"\\u0061\":1,\"a\":2}"),
        B("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"e\":"
          "0}"),
        B("[\"\\u0000\" : 1]"),
        B("{\"a\":1 \"b\":2}"),
        B("1.0.0"),
        B("1e5e5"),
        B("- 1"),
        B("tr ue"),
        B("\"\\u00\""),
        B("\"\\"),
        B("\"\\u"),
        B("\"\\ud83d\\ude0\""),
        B("[\"a\",]"),
        B("{\"a\":1}x"),
#undef B
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hj_value *v = hj_parse(bad[i].s, bad[i].n);
        if (v) fprintf(stderr, "    accepted malformed #%zu: %.*s\n", i, (int)bad[i].n, bad[i].s);
        CHECK(v == NULL);
        hj_free(v);
    }
    CHECK(hj_parse(NULL, 0) == NULL);
    CHECK(hj_parse_utf16(NULL) == NULL);
    /* The length is authoritative: bytes after len are not read. */
    hj_value *v = hj_parse("[1]garbage", 3);
    CHECK(hj_count(v) == 1);
    hj_free(v);
    CHECK(hj_parse("[1]", 2) == NULL);
}

TEST(json_reading_api) {
    hj_value *v = P("{\"name\":\"vm\",\"n\":42,\"on\":true,\"off\":false,\"nil\":null,"
                    "\"list\":[1,2,3],\"obj\":{\"k\":\"v\"},\"f\":2.5}");
    REQUIRE(v != NULL);
    CHECK(hj_typeof(v) == HJ_OBJECT);
    CHECK(hj_count(v) == 8);
    CHECK(strcmp(hj_key_at(v, 0), "name") == 0);
    CHECK(strcmp(hj_key_at(v, 7), "f") == 0);
    CHECK(hj_key_at(v, 8) == NULL);
    CHECK(hj_at(v, 8) == NULL);
    size_t len = 0;
    CHECK(strcmp(hj_str(hj_get(v, "name"), &len), "vm") == 0 && len == 2);
    CHECK(hj_str(hj_get(v, "name"), NULL) != NULL);
    int64_t i = 0;
    CHECK(hj_int64(hj_get(v, "n"), &i) && i == 42);
    int b = -1;
    CHECK(hj_bool(hj_get(v, "on"), &b) && b == 1);
    CHECK(hj_bool(hj_get(v, "off"), &b) && b == 0);
    CHECK(hj_typeof(hj_get(v, "nil")) == HJ_NULL);
    CHECK(hj_get(v, "nil") != NULL);
    CHECK(hj_get(v, "missing") == NULL);
    CHECK(hj_get(v, "Name") == NULL); /* keys are case-sensitive */
    const hj_value *list = hj_get(v, "list");
    CHECK(hj_typeof(list) == HJ_ARRAY && hj_count(list) == 3);
    CHECK(hj_int64(hj_at(list, 2), &i) && i == 3);
    CHECK(hj_at(list, 3) == NULL);
    CHECK(hj_key_at(list, 0) == NULL);
    CHECK(hj_typeof(hj_at(v, 6)) == HJ_OBJECT);
    CHECK(strcmp(hj_str(hj_get(hj_get(v, "obj"), "k"), NULL), "v") == 0);
    double d = 0;
    CHECK(hj_double(hj_get(v, "f"), &d) && d == 2.5);
    CHECK(hj_double(hj_get(v, "n"), &d) && d == 42.0);
    /* Wrong types and NULL give 0/NULL. */
    CHECK(!hj_int64(hj_get(v, "name"), &i));
    CHECK(!hj_int64(hj_get(v, "f"), &i));
    CHECK(!hj_bool(hj_get(v, "n"), &b));
    CHECK(!hj_double(hj_get(v, "on"), &d));
    CHECK(hj_str(hj_get(v, "n"), &len) == NULL);
    CHECK(hj_get(list, "x") == NULL);
    CHECK(hj_count(hj_get(v, "n")) == 0);
    CHECK(hj_at(hj_get(v, "n"), 0) == NULL);
    CHECK(hj_typeof(NULL) == HJ_NULL);
    CHECK(hj_get(NULL, "a") == NULL && hj_get(v, NULL) == NULL);
    CHECK(hj_count(NULL) == 0 && hj_at(NULL, 0) == NULL && hj_key_at(NULL, 0) == NULL);
    CHECK(!hj_bool(NULL, &b) && !hj_int64(NULL, &i) && !hj_double(NULL, &d) &&
          hj_str(NULL, NULL) == NULL);
    uint64_t u;
    CHECK(!hj_uint64(NULL, &u));
    hj_free(v);
    hj_free(NULL);
}

TEST(json_integers_64bit) {
    int64_t i;
    uint64_t u;
    hj_value *v = P("[9223372036854775807,-9223372036854775808,18446744073709551615,"
                    "9223372036854775808,-9223372036854775809,18446744073709551616,-1,0,-0,"
                    "1e3,1.0,100000000000000000000000]");
    REQUIRE(v != NULL);
    CHECK(hj_int64(hj_at(v, 0), &i) && i == INT64_MAX);
    CHECK(hj_uint64(hj_at(v, 0), &u) && u == (uint64_t)INT64_MAX);
    CHECK(hj_int64(hj_at(v, 1), &i) && i == INT64_MIN);
    CHECK(!hj_uint64(hj_at(v, 1), &u));
    CHECK(!hj_int64(hj_at(v, 2), &i));
    CHECK(hj_uint64(hj_at(v, 2), &u) && u == UINT64_MAX);
    CHECK(!hj_int64(hj_at(v, 3), &i));
    CHECK(hj_uint64(hj_at(v, 3), &u) && u == (uint64_t)INT64_MAX + 1);
    CHECK(!hj_int64(hj_at(v, 4), &i) && !hj_uint64(hj_at(v, 4), &u));
    CHECK(!hj_int64(hj_at(v, 5), &i) && !hj_uint64(hj_at(v, 5), &u));
    CHECK(hj_int64(hj_at(v, 6), &i) && i == -1);
    CHECK(!hj_uint64(hj_at(v, 6), &u));
    CHECK(hj_uint64(hj_at(v, 7), &u) && u == 0);
    CHECK(hj_int64(hj_at(v, 8), &i) && i == 0);
    CHECK(hj_uint64(hj_at(v, 8), &u) && u == 0);
    /* Only plain integer syntax is an integer; hj_double takes any number. */
    double d;
    CHECK(!hj_int64(hj_at(v, 9), &i) && !hj_uint64(hj_at(v, 9), &u));
    CHECK(hj_double(hj_at(v, 9), &d) && d == 1000.0);
    CHECK(!hj_int64(hj_at(v, 10), &i));
    CHECK(hj_double(hj_at(v, 11), &d) && d == 1e23);
    CHECK(hj_double(hj_at(v, 2), &d) && d == 18446744073709551615.0);
    /* out pointers are optional */
    CHECK(hj_int64(hj_at(v, 0), NULL) && hj_uint64(hj_at(v, 0), NULL) &&
          hj_double(hj_at(v, 0), NULL));
    hj_free(v);
    /* Overflow of the double range: not a finite double. */
    v = P("[1e400,-1e400,1e-400]");
    REQUIRE(v != NULL);
    CHECK(!hj_double(hj_at(v, 0), &d) && !hj_double(hj_at(v, 1), &d));
    CHECK(hj_double(hj_at(v, 2), &d) && d == 0.0);
    hj_free(v);
    /* The text is kept: big numbers survive a round trip exactly. */
    CHECK(roundtrip_is("[18446744073709551615,-9223372036854775808,123456789012345678901234567890]",
                       NULL));
    CHECK(roundtrip_is("[1E+3,-0.0e-0,1.50]", NULL));
}

TEST(json_building_numbers) {
    int64_t i;
    uint64_t u;
    double d;
    hj_value *a = hj_new_array();
    REQUIRE(a != NULL);
    CHECK(hj_push(a, hj_new_int(INT64_MIN)) == 0);
    CHECK(hj_push(a, hj_new_int(INT64_MAX)) == 0);
    CHECK(hj_push(a, hj_new_uint(UINT64_MAX)) == 0);
    CHECK(hj_push(a, hj_new_double(0.1)) == 0);
    CHECK(hj_push(a, hj_new_double(1.0 / 3.0)) == 0);
    CHECK(hj_push(a, hj_new_double(3.0)) == 0);
    CHECK(hj_push(a, hj_new_double(1e300)) == 0);
    CHECK(hj_push(a, hj_new_double(NAN)) == 0);
    CHECK(hj_push(a, hj_new_double(INFINITY)) == 0);
    CHECK(hj_push(a, hj_new_double(-INFINITY)) == 0);
    CHECK(hj_push(a, hj_new_double(5e-324)) == 0);
    CHECK(hj_push(a, hj_new_double(-0.0)) == 0);
    CHECK(hj_int64(hj_at(a, 0), &i) && i == INT64_MIN);
    CHECK(hj_int64(hj_at(a, 1), &i) && i == INT64_MAX);
    CHECK(hj_uint64(hj_at(a, 2), &u) && u == UINT64_MAX);
    CHECK(hj_double(hj_at(a, 3), &d) && d == 0.1);
    CHECK(hj_double(hj_at(a, 4), &d) && d == 1.0 / 3.0);
    CHECK(hj_int64(hj_at(a, 5), &i) && i == 3); /* integral doubles print as integers */
    CHECK(hj_typeof(hj_at(a, 7)) == HJ_NULL);   /* non-finite: null */
    CHECK(hj_double(hj_at(a, 10), &d) && d == 5e-324);
    size_t n;
    char *s = hj_serialize(a, &n);
    REQUIRE(s != NULL);
    CHECK(strcmp(s, "[-9223372036854775808,9223372036854775807,18446744073709551615,0.1,"
                    "0.3333333333333333,3,1e+300,null,null,null,4.94065645841247e-324,-0]") == 0);
    hj_value *back = hj_parse(s, n);
    CHECK(hj_equal(a, back));
    hj_free(back);
    free(s);
    hj_free(a);
}

TEST(json_double_locale_independent) {
    /* Under a locale whose radix is ',' the module must still read and write '.'. */
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8"};
    const char *got = NULL;
    char *saved = strdup(setlocale(LC_NUMERIC, NULL));
    REQUIRE(saved != NULL);
    for (size_t k = 0; k < sizeof names / sizeof names[0] && !got; k++)
        got = setlocale(LC_NUMERIC, names[k]);
    if (!got) {
        /* No such locale installed: the check still runs in "C", asserting behaviour. */
        fprintf(stderr, "    (no comma-radix locale installed; checking in C locale)\n");
    }
    hj_value *v = P("[2.5,1e-2,-0.125]");
    double d;
    CHECK(v && hj_double(hj_at(v, 0), &d) && d == 2.5);
    CHECK(v && hj_double(hj_at(v, 1), &d) && d == 0.01);
    CHECK(v && hj_double(hj_at(v, 2), &d) && d == -0.125);
    hj_value *x = hj_new_double(1234.5);
    char *s = hj_serialize(x, NULL);
    CHECK(s && strcmp(s, "1234.5") == 0);
    hj_value *y = hj_new_double(6.02214076e23);
    char *t = hj_serialize(y, NULL);
    CHECK(t && strcmp(t, "6.02214076e+23") == 0);
    hj_value *w = P("2.50");
    CHECK(hj_equal(hj_at(v, 0), w));
    setlocale(LC_NUMERIC, saved);
    free(saved);
    free(s);
    free(t);
    hj_free(v);
    hj_free(w);
    hj_free(x);
    hj_free(y);
}

TEST(json_serialize_compact_and_ordered) {
    CHECK(roundtrip_is(" { \"b\" : 1 , \"a\" : [ true , false , null ] , \"c\" : { } } ",
                       "{\"b\":1,\"a\":[true,false,null],\"c\":{}}"));
    CHECK(roundtrip_is("[]", NULL));
    CHECK(roundtrip_is("{}", NULL));
    CHECK(roundtrip_is("\"x\"", NULL));
    CHECK(roundtrip_is("[[[],{}],[{\"z\":[0]}]]", NULL));
    CHECK(roundtrip_is("-12.5e-7", NULL));
    CHECK(hj_serialize(NULL, NULL) == NULL);
}

TEST(json_escapes) {
    /* Decoding */
    hj_value *v = P("\"q\\\"b\\\\s\\/n\\nr\\rt\\tb\\bf\\f\\u0001\\u001F\\u00e9\\u20ac\"");
    REQUIRE(v != NULL);
    size_t n;
    const char *s = hj_str(v, &n);
    const char expect[] = "q\"b\\s/n\nr\rt\tb\bf\f\x01\x1f\xc3\xa9\xe2\x82\xac";
    CHECK(n == sizeof expect - 1 && memcmp(s, expect, n) == 0);
    /* Encoding: shortcuts for the usual controls, \u00XX for the rest, '/' and UTF-8 as is. */
    char *out = hj_serialize(v, NULL);
    CHECK(out &&
          strcmp(out, "\"q\\\"b\\\\s/n\\nr\\rt\\tb\\bf\\f\\u0001\\u001f\xc3\xa9\xe2\x82\xac\"") ==
              0);
    free(out);
    hj_free(v);
    /* Embedded NUL is kept with the length and escaped on output. */
    v = P("\"a\\u0000b\"");
    REQUIRE(v != NULL);
    s = hj_str(v, &n);
    CHECK(n == 3 && s[0] == 'a' && s[1] == '\0' && s[2] == 'b' && s[3] == '\0');
    out = hj_serialize(v, &n);
    CHECK(out && strcmp(out, "\"a\\u0000b\"") == 0 && n == 10);
    free(out);
    hj_free(v);
    /* DEL (0x7f) and U+2028 are valid unescaped and left alone. */
    CHECK(roundtrip_is("\"\x7f\xe2\x80\xa8\"", NULL));
    /* Keys are escaped the same way. */
    CHECK(roundtrip_is("{\"a\\nb\\\"\":1}", NULL));
    hj_value *o = hj_new_object();
    REQUIRE(o != NULL);
    CHECK(hj_set(o, "tab\there", hj_new_stringn("x\x1b", 2)) == 0);
    out = hj_serialize(o, NULL);
    CHECK(out && strcmp(out, "{\"tab\\there\":\"x\\u001b\"}") == 0);
    free(out);
    hj_free(o);
}

TEST(json_surrogate_pairs) {
    hj_value *v = P("[\"\\ud83d\\ude00\",\"\\uD834\\uDD1E\",\"\\ud7ff\\ue000\",\"\\uffff\"]");
    REQUIRE(v != NULL);
    size_t n;
    const char *s = hj_str(hj_at(v, 0), &n);
    CHECK(n == 4 && memcmp(s, "\xf0\x9f\x98\x80", 4) == 0);
    s = hj_str(hj_at(v, 1), &n);
    CHECK(n == 4 && memcmp(s, "\xf0\x9d\x84\x9e", 4) == 0);
    s = hj_str(hj_at(v, 2), &n);
    CHECK(n == 6 && memcmp(s, "\xed\x9f\xbf\xee\x80\x80", 6) == 0);
    s = hj_str(hj_at(v, 3), &n);
    CHECK(n == 3 && memcmp(s, "\xef\xbf\xbf", 3) == 0);
    char *out = hj_serialize(v, NULL);
    CHECK(out && strcmp(out, "[\"\xf0\x9f\x98\x80\",\"\xf0\x9d\x84\x9e\","
                             "\"\xed\x9f\xbf\xee\x80\x80\",\"\xef\xbf\xbf\"]") == 0);
    free(out);
    hj_free(v);
    /* Lone or misordered surrogate escapes are malformed. */
    CHECK(P("\"\\ud83d\"") == NULL);
    CHECK(P("\"\\ude00\\ud83d\"") == NULL);
    CHECK(P("\"\\ud83d\\n\"") == NULL);
    CHECK(P("{\"\\ud83d\":1}") == NULL);
}

TEST(json_utf16_conversions) {
    /* BMP, non-BMP (surrogate pair), and the limits. */
    const char16_t w[] = {u'A', 0x00e9, 0x20ac, 0xd83d, 0xde00, 0xdbff, 0xdfff, 0xffff, 0};
    size_t n = 0;
    char *s = hj_utf16_to_utf8(w, &n);
    const char expect[] = "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xef\xbf\xbf";
    REQUIRE(s != NULL);
    CHECK(n == sizeof expect - 1 && memcmp(s, expect, n) == 0 && s[n] == '\0');
    char16_t *back = hj_utf8_to_utf16(s, n);
    REQUIRE(back != NULL);
    CHECK(hj_utf16_cmp(back, w) == 0);
    CHECK(aiohcs_utf16_len(back) == 8);
    free(back);
    free(s);
    s = hj_utf16_to_utf8(w, NULL); /* len is optional */
    CHECK(s != NULL);
    free(s);
    /* Lone surrogates are invalid. */
    const char16_t lone_hi[] = {u'a', 0xd800, 0};
    const char16_t lone_hi_mid[] = {0xd800, u'a', 0};
    const char16_t lone_lo[] = {0xdc00, 0};
    const char16_t swapped[] = {0xde00, 0xd83d, 0};
    const char16_t two_hi[] = {0xd83d, 0xd83d, 0xde00, 0};
    CHECK(hj_utf16_to_utf8(lone_hi, &n) == NULL);
    CHECK(hj_utf16_to_utf8(lone_hi_mid, &n) == NULL);
    CHECK(hj_utf16_to_utf8(lone_lo, &n) == NULL);
    CHECK(hj_utf16_to_utf8(swapped, &n) == NULL);
    CHECK(hj_utf16_to_utf8(two_hi, &n) == NULL);
    CHECK(hj_utf16_to_utf8(NULL, &n) == NULL);
    /* Empty strings. */
    const char16_t empty[] = {0};
    s = hj_utf16_to_utf8(empty, &n);
    CHECK(s && n == 0 && s[0] == '\0');
    free(s);
    back = hj_utf8_to_utf16("", 0);
    CHECK(back && back[0] == 0);
    free(back);
    /* Invalid UTF-8 in. */
    CHECK(hj_utf8_to_utf16("\xed\xa0\x80", 3) == NULL);
    CHECK(hj_utf8_to_utf16("\xc0\x80", 2) == NULL);
    CHECK(hj_utf8_to_utf16("\xf0\x9f\x98", 3) == NULL);
    CHECK(hj_utf8_to_utf16("\xf4\x90\x80\x80", 4) == NULL);
    CHECK(hj_utf8_to_utf16(NULL, 0) == NULL);
    /* Length bounds the input. */
    back = hj_utf8_to_utf16("abc\xff", 3);
    CHECK(back && aiohcs_utf16_len(back) == 3);
    free(back);
}

TEST(json_utf16_helpers) {
    char16_t *a = u16("abc"), *b = u16("abd"), *c = u16("ab");
    REQUIRE(a && b && c);
    CHECK(aiohcs_utf16_len(a) == 3 && aiohcs_utf16_len(NULL) == 0);
    CHECK(hj_utf16_cmp(a, a) == 0);
    CHECK(hj_utf16_cmp(a, b) < 0 && hj_utf16_cmp(b, a) > 0);
    CHECK(hj_utf16_cmp(c, a) < 0 && hj_utf16_cmp(a, c) > 0);
    CHECK(hj_utf16_cmp(NULL, a) < 0 && hj_utf16_cmp(a, NULL) > 0 && hj_utf16_cmp(NULL, NULL) == 0);
    /* Code-unit order: a surrogate (0xD83D) sorts below U+FFFF. */
    const char16_t hi[] = {0xffff, 0}, sur[] = {0xd83d, 0xde00, 0};
    CHECK(hj_utf16_cmp(sur, hi) < 0);
    char16_t *d = aiohcs_utf16_dup(a, NULL);
    CHECK(d && d != a && hj_utf16_cmp(d, a) == 0);
    free(d);
    CHECK(aiohcs_utf16_dup(NULL, NULL) == NULL);
    free(a);
    free(b);
    free(c);
}

TEST(json_parse_and_serialize_utf16) {
    char16_t *doc = u16("{\"Name\":\"\xe2\x82\xac\xf0\x9f\x98\x80\",\"N\":[1]}");
    REQUIRE(doc != NULL);
    hj_value *v = hj_parse_utf16(doc);
    REQUIRE(v != NULL);
    size_t n;
    const char *s = hj_str(hj_get(v, "Name"), &n);
    CHECK(n == 7 && memcmp(s, "\xe2\x82\xac\xf0\x9f\x98\x80", 7) == 0);
    char16_t *out = hj_serialize_utf16(v);
    CHECK(out && hj_utf16_cmp(out, doc) == 0);
    free(out);
    hj_free(v);
    free(doc);
    /* A lone surrogate anywhere in UTF-16 input makes the document malformed. */
    const char16_t bad_str[] = {u'"', 0xd800, u'"', 0};
    const char16_t bad_ws[] = {u'[', u'1', u']', 0xdc00, 0};
    const char16_t good[] = {u'"', 0xd83d, 0xde00, u'"', 0};
    CHECK(hj_parse_utf16(bad_str) == NULL);
    CHECK(hj_parse_utf16(bad_ws) == NULL);
    v = hj_parse_utf16(good);
    CHECK(v && hj_str(v, &n) && n == 4);
    hj_free(v);
    const char16_t empty[] = {0};
    CHECK(hj_parse_utf16(empty) == NULL);
}

static char *nested(int depth, char open, char close) {
    char *s = malloc((size_t)depth * 2 + 1);
    if (!s) return NULL;
    for (int i = 0; i < depth; i++) {
        s[i] = open;
        s[depth * 2 - 1 - i] = close;
    }
    s[depth * 2] = '\0';
    return s;
}

TEST(json_depth_limit) {
    char *s = nested(HJ_MAX_DEPTH, '[', ']');
    REQUIRE(s != NULL);
    hj_value *v = P(s);
    CHECK(v != NULL);
    char *out = hj_serialize(v, NULL);
    CHECK(out && strcmp(out, s) == 0);
    free(out);
    /* One more level by hand: the serializer refuses what the parser would refuse. */
    hj_value *outer = hj_new_array();
    REQUIRE(outer != NULL);
    CHECK(hj_push(outer, v) == 0);
    CHECK(hj_serialize(outer, NULL) == NULL);
    hj_free(outer);
    free(s);
    s = nested(HJ_MAX_DEPTH + 1, '[', ']');
    CHECK(P(s) == NULL);
    free(s);
    s = nested(100000, '[', ']');
    CHECK(P(s) == NULL);
    free(s);
    /* Objects count too: 64 levels of {"a":...} with an innermost {} */
    char buf[HJ_MAX_DEPTH * 6 + 8];
    size_t k = 0;
    for (int i = 0; i < HJ_MAX_DEPTH - 1; i++) {
        memcpy(buf + k, "{\"a\":", 5);
        k += 5;
    }
    buf[k++] = '{';
    buf[k++] = '}';
    for (int i = 0; i < HJ_MAX_DEPTH - 1; i++) buf[k++] = '}';
    v = hj_parse(buf, k);
    CHECK(v != NULL);
    hj_free(v);
    /* 65 levels (mixing an array in) */
    char buf2[sizeof buf + 2];
    buf2[0] = '[';
    memcpy(buf2 + 1, buf, k);
    buf2[k + 1] = ']';
    CHECK(hj_parse(buf2, k + 2) == NULL);
    /* Unterminated deep nesting doesn't run away either. */
    s = nested(100000, '{', '}');
    CHECK(P(s) == NULL);
    free(s);
}

TEST(json_duplicate_keys) {
    CHECK(P("{\"a\":1,\"a\":1}") == NULL);
    CHECK(P("{\"a\":1,\"b\":2,\"a\":3}") == NULL);
    CHECK(P("{\"x\":{\"a\":1,\"a\":2}}") == NULL);
    hj_value *ok = P("[{\"a\":1},{\"a\":1}]");
    CHECK(ok != NULL);
    hj_free(ok);
    /* Keys equal after unescaping are duplicates; keys differing only after a NUL are not. */
    CHECK(P("{\"\\u00e9\":1,\"\xc3\xa9\":2}") == NULL);
    hj_value *v = P("{\"a\\u0000b\":1,\"a\\u0000c\":2,\"a\":3}");
    CHECK(v != NULL && hj_count(v) == 3);
    hj_free(v);
    /* Large objects (sorted check): unique keys accepted, one duplicate at the end rejected. */
    char *buf = malloc(200000);
    REQUIRE(buf != NULL);
    size_t k = 0;
    buf[k++] = '{';
    for (int i = 0; i < 5000; i++)
        k += (size_t)sprintf(buf + k, "%s\"k%d\":%d", i ? "," : "", i, i);
    buf[k] = '}';
    v = hj_parse(buf, k + 1);
    CHECK(v != NULL && hj_count(v) == 5000);
    int64_t n;
    CHECK(hj_int64(hj_get(v, "k4321"), &n) && n == 4321);
    hj_free(v);
    k += (size_t)sprintf(buf + k, ",\"k2500\":0}");
    CHECK(hj_parse(buf, k) == NULL);
    free(buf);
}

TEST(json_building_api) {
    hj_value *o = hj_new_object();
    REQUIRE(o != NULL);
    CHECK(hj_set(o, "SchemaVersion", hj_new_object()) == 0);
    hj_value *sv = (hj_value *)hj_get(o, "SchemaVersion");
    CHECK(hj_set(sv, "Major", hj_new_int(2)) == 0);
    CHECK(hj_set(sv, "Minor", hj_new_int(1)) == 0);
    CHECK(hj_set(o, "Owner", hj_new_string("aiohcs")) == 0);
    CHECK(hj_set(o, "Flag", hj_new_bool(7)) == 0);
    CHECK(hj_set(o, "Nothing", hj_null()) == 0);
    hj_value *arr = hj_new_array();
    CHECK(hj_push(arr, hj_new_stringn("a\0b", 3)) == 0);
    CHECK(hj_push(arr, hj_new_uint(5)) == 0);
    CHECK(hj_set(o, "List", arr) == 0);
    char *s = hj_serialize(o, NULL);
    CHECK(s &&
          strcmp(s,
                 "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"aiohcs\",\"Flag\":true,"
                 "\"Nothing\":null,\"List\":[\"a\\u0000b\",5]}") == 0);
    free(s);
    /* hj_set replaces in place (position kept, old value freed). */
    CHECK(hj_set(o, "Owner", hj_new_string("other")) == 0);
    CHECK(hj_count(o) == 5);
    CHECK(strcmp(hj_key_at(o, 1), "Owner") == 0);
    CHECK(strcmp(hj_str(hj_get(o, "Owner"), NULL), "other") == 0);
    /* hj_remove keeps the order of the rest. */
    CHECK(hj_remove(o, "Flag") == 1);
    CHECK(hj_remove(o, "Flag") == 0);
    CHECK(hj_remove(o, NULL) == 0);
    CHECK(hj_remove(arr, "x") == 0);
    s = hj_serialize(o, NULL);
    CHECK(s && strcmp(s, "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"other\","
                         "\"Nothing\":null,\"List\":[\"a\\u0000b\",5]}") == 0);
    free(s);
    CHECK(hj_remove(o, "List") == 1);
    CHECK(hj_remove(o, "SchemaVersion") == 1);
    CHECK(hj_remove(o, "Nothing") == 1);
    CHECK(hj_remove(o, "Owner") == 1);
    CHECK(hj_count(o) == 0);
    CHECK(hj_set(o, "again", hj_new_int(1)) == 0);
    /* Failures take ownership of val (ASan's leak check proves it is freed). */
    hj_value *notobj = hj_new_array();
    CHECK(hj_set(notobj, "k", hj_new_int(1)) == -1);
    CHECK(hj_push(o, hj_new_int(1)) == -1);
    CHECK(hj_set(NULL, "k", hj_new_int(1)) == -1);
    CHECK(hj_set(o, NULL, hj_new_int(1)) == -1);
    CHECK(hj_push(NULL, hj_new_int(1)) == -1);
    CHECK(hj_set(o, "k", NULL) == -1);
    CHECK(hj_push(notobj, NULL) == -1);
    CHECK(hj_set(o, "bad\xff", hj_new_int(1)) == -1); /* invalid UTF-8 key */
    CHECK(hj_push(notobj, notobj) == -1);             /* self-insertion refused, not freed */
    CHECK(hj_count(notobj) == 0);
    hj_free(notobj);
    /* Invalid UTF-8 strings are refused. */
    CHECK(hj_new_string("\xc3") == NULL);
    CHECK(hj_new_stringn("\xed\xa0\x80", 3) == NULL);
    CHECK(hj_new_string(NULL) == NULL);
    hj_value *e = hj_new_stringn("", 0);
    CHECK(e && hj_str(e, NULL) && hj_str(e, NULL)[0] == '\0');
    hj_free(e);
    hj_free(o);
}

TEST(json_clone_and_equal) {
    const char *doc =
        "{\"a\":[1,2.5,\"x\",true,null,{\"b\":{}}],\"c\":\"\\u0000\",\"d\":-0,\"e\":[]}";
    hj_value *v = P(doc);
    REQUIRE(v != NULL);
    hj_value *c = hj_clone(v);
    REQUIRE(c != NULL);
    CHECK(c != v && hj_equal(v, c) && hj_equal(c, v));
    char *s1 = hj_serialize(v, NULL), *s2 = hj_serialize(c, NULL);
    CHECK(s1 && s2 && strcmp(s1, s2) == 0);
    free(s1);
    free(s2);
    /* The clone is independent. */
    CHECK(hj_set(c, "a", hj_new_int(0)) == 0);
    CHECK(!hj_equal(v, c));
    hj_free(c);
    CHECK(hj_clone(NULL) == NULL);
    hj_value *scalars[] = {hj_null(), hj_new_bool(1), hj_new_int(-5), hj_new_string("s"),
                           hj_new_double(0.25)};
    for (size_t i = 0; i < 5; i++) {
        hj_value *k = hj_clone(scalars[i]);
        CHECK(k && hj_equal(k, scalars[i]));
        for (size_t j = 0; j < 5; j++) CHECK(hj_equal(scalars[i], scalars[j]) == (i == j));
        hj_free(k);
    }
    for (size_t i = 0; i < 5; i++) hj_free(scalars[i]);
    hj_free(v);

    struct {
        const char *a, *b;
        int eq;
    } cases[] = {
        {"{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}", 1},
        {"{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":3}", 0},
        {"{\"a\":1,\"b\":2}", "{\"a\":1,\"c\":2}", 0},
        {"{\"a\":1}", "{\"a\":1,\"b\":2}", 0},
        {"[1,2]", "[2,1]", 0},
        {"[1,2]", "[1,2,3]", 0},
        {"1", "1.0", 1},
        {"1", "1e0", 1},
        {"100", "1E2", 1},
        {"0", "-0", 1},
        {"0.0", "-0.0", 1},
        {"1", "2", 0},
        {"18446744073709551615", "18446744073709551614", 0}, /* exact for integers */
        {"123456789012345678901234567890", "123456789012345678901234567891", 0},
        {"123456789012345678901234567890", "123456789012345678901234567890", 1},
        {"0.1", "0.10", 1},
        {"1", "\"1\"", 0},
        {"null", "false", 0},
        {"true", "true", 1},
        {"\"a\\u0000b\"", "\"a\\u0000c\"", 0},
        {"\"ab\"", "\"ab\\u0000\"", 0},
        {"{\"\":[]}", "{\"\":[]}", 1},
        {"[{\"x\":1,\"y\":[{\"p\":1,\"q\":2}]}]", "[{\"y\":[{\"q\":2,\"p\":1}],\"x\":1}]", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hj_value *a = P(cases[i].a), *b = P(cases[i].b);
        CHECK(a && b);
        if (hj_equal(a, b) != cases[i].eq || hj_equal(b, a) != cases[i].eq)
            fprintf(stderr, "    equal(%s, %s) != %d\n", cases[i].a, cases[i].b, cases[i].eq);
        CHECK(hj_equal(a, b) == cases[i].eq);
        CHECK(hj_equal(b, a) == cases[i].eq);
        hj_free(a);
        hj_free(b);
    }
    CHECK(hj_equal(NULL, NULL));
    hj_value *n = hj_null();
    CHECK(!hj_equal(n, NULL) && !hj_equal(NULL, n));
    hj_free(n);

    /* Large objects in reverse order (sorted comparison path). */
    hj_value *x = hj_new_object(), *y = hj_new_object();
    REQUIRE(x && y);
    char key[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK(hj_set(x, key, hj_new_int(i)) == 0);
        snprintf(key, sizeof key, "k%d", 999 - i);
        CHECK(hj_set(y, key, hj_new_int(999 - i)) == 0);
    }
    CHECK(hj_equal(x, y));
    CHECK(hj_set(y, "k500", hj_new_int(-1)) == 0);
    CHECK(!hj_equal(x, y));
    hj_free(x);
    hj_free(y);
}

TEST(json_hcs_documents) {
    const char *cfg =
        "{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"Owner\":\"aiohcs-test\","
        "\"ShouldTerminateOnLastHandleClosed\":true,"
        "\"VirtualMachine\":{\"Chipset\":{\"Uefi\":{\"BootThis\":{\"DevicePath\":\"Primary\","
        "\"DiskNumber\":0,\"DeviceType\":\"ScsiDrive\"}}},"
        "\"ComputeTopology\":{\"Memory\":{\"SizeInMB\":2048,\"AllowOvercommit\":true},"
        "\"Processor\":{\"Count\":2}},"
        "\"Devices\":{\"Scsi\":{\"Primary\":{\"Attachments\":{\"0\":{\"Type\":\"VirtualDisk\","
        "\"Path\":\"C:\\\\VMs\\\\disk.vhdx\"}}}}}}}";
    hj_value *v = P(cfg);
    REQUIRE(v != NULL);
    uint64_t mb = 0;
    const hj_value *mem = hj_get(hj_get(hj_get(v, "VirtualMachine"), "ComputeTopology"), "Memory");
    CHECK(hj_uint64(hj_get(mem, "SizeInMB"), &mb) && mb == 2048);
    const hj_value *att = hj_get(
        hj_get(hj_get(hj_get(hj_get(hj_get(v, "VirtualMachine"), "Devices"), "Scsi"), "Primary"),
               "Attachments"),
        "0");
    CHECK(strcmp(hj_str(hj_get(att, "Path"), NULL), "C:\\VMs\\disk.vhdx") == 0);
    CHECK(roundtrip_is(cfg, NULL));
    hj_free(v);
    const char *exit_status =
        "{\"Status\":-2147023895,\"ExitType\":\"GracefulExit\","
        "\"Attribution\":[{\"SystemExit\":{\"Detail\":\"Shutdown\",\"Initiator\":\"GuestOS\"}}]}";
    v = P(exit_status);
    REQUIRE(v != NULL);
    int64_t st = 0;
    CHECK(hj_int64(hj_get(v, "Status"), &st) && st == -2147023895LL);
    CHECK(roundtrip_is(exit_status, NULL));
    hj_free(v);
}
