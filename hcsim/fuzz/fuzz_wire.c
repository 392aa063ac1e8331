/* libFuzzer harness for the service protocol's decoder (wire.c). For every input:
 *  - hcw_parse(bytes); when it is a frame, its fields are read by their tags with every
 *    get, and each value is encoded again: when the body decoded exactly (hcw_end), the
 *    frame built from the values must equal the input byte for byte;
 *  - a CALL is also read as the service reads it: "I fn", then the fields of that call's
 *    signature (hcw_args_of), the operation group included.
 * Any inconsistency aborts; a crash or a sanitizer report is a finding. */
#include "wire.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(msg)                                \
    do {                                         \
        fprintf(stderr, "fuzz_wire: %s\n", msg); \
        abort();                                 \
    } while (0)

/* Reads the body by its tags, re-encoding into out; 1 when it decoded exactly and can be
 * compared (a string with a NUL inside cannot be encoded back from a C string). */
static int by_tags(hcw_msg *m, hcw_buf *out) {
    int comparable = 1;
    while (!m->bad && m->pos < m->len) {
        switch (m->body[m->pos]) {
        case 'I': {
            uint64_t v;
            if (hcw_get_u64(m, &v)) hcw_put_u64(out, v);
            break;
        }
        case 'S':
        case 'N': {
            uint32_t units = 0;
            if (m->body[m->pos] == 'S' && m->len - m->pos >= 5)
                for (int i = 0; i < 4; i++) units |= (uint32_t)m->body[m->pos + 1 + i] << (8 * i);
            char16_t *s;
            if (!hcw_get_str(m, &s)) break;
            size_t n = 0;
            while (s && s[n]) n++;
            if (s && n != units) comparable = 0;
            hcw_put_str(out, s);
            free(s);
            break;
        }
        case 'B': {
            char *b;
            if (hcw_get_bytes(m, &b)) hcw_put_bytes(out, b, strlen(b));
            free(b);
            break;
        }
        default: {
            int fd;
            if (hcw_get_fd(m, &fd) && fd >= 0) FAIL("a descriptor from memory");
            if (!m->bad) hcw_put_fd(out, -1);
            break;
        }
        }
    }
    return hcw_end(m) && comparable;
}

/* Reads a CALL as the service does. */
static void as_call(hcw_msg *m) {
    uint64_t fn, v;
    if (!hcw_get_u64(m, &fn) || fn > UINT32_MAX) return;
    const char *sig = hcw_args_of((uint32_t)fn);
    if (!sig) return;
    for (const char *k = sig; *k && !m->bad; k++) {
        char16_t *s = NULL;
        char *b = NULL;
        int fd = -1;
        switch (*k) {
        case 's': hcw_get_str(m, &s); break;
        case 'b': hcw_get_bytes(m, &b); break;
        case 'd': hcw_get_fd(m, &fd); break;
        case 'g': /* computenetwork's REFGUID: present, two halves */
            hcw_get_u64(m, &v);
            hcw_get_u64(m, &v);
            hcw_get_u64(m, &v);
            break;
        case 'c':
        case 'x': break; /* not sent */
        case 'o': {
            uint64_t n = 0;
            hcw_get_u64(m, &v);
            hcw_get_u64(m, &v);
            hcw_get_u64(m, &n);
            for (uint64_t i = 0; i < n && i < 16 && !m->bad; i++) {
                hcw_get_u64(m, &v);
                hcw_get_str(m, &s);
                free(s);
                s = NULL;
                hcw_get_fd(m, &fd);
            }
            break;
        }
        default: hcw_get_u64(m, &v); break;
        }
        free(s);
        free(b);
        if (fd >= 0) FAIL("a descriptor from memory");
    }
    (void)hcw_end(m);
    (void)hcw_results_of((uint32_t)fn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hcw_msg m;
    if (hcw_parse(data, size, &m) != 1) {
        if (m.body || m.nfds) FAIL("a refused frame kept a body");
        hcw_msg_free(&m);
        return 0;
    }
    hcw_buf out = {0};
    hcw_begin(&out, m.type, m.seq);
    if (by_tags(&m, &out)) {
        /* the header is filled in by hcw_send, which fails on a bad socket after that */
        (void)hcw_send(-1, &out);
        if (out.failed || out.len != size || memcmp(out.p, data, size))
            FAIL("a decoded frame does not encode back to its bytes");
    }
    hcw_free(&out);
    hcw_msg_free(&m);
    if (hcw_parse(data, size, &m) == 1 && m.type == HCW_CALL) as_call(&m);
    hcw_msg_free(&m);
    return 0;
}
