/* hcsim documents: every string handed to the caller is registered (so that LocalFree
 * can tell ours from anything else), counted in HCSIM_COUNTS.Documents, and released
 * with LocalFree. Failure documents are ResultError objects whose Error is the HRESULT. */
#include "hcsim_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if PLAT_HOST_RELEASES
/* Win32: documents are LocalAlloc'd and pipe HANDLEs are real, released by the caller with
 * kernel32's LocalFree / CloseHandle, which hcsim never sees. So hcsim keeps a record of
 * what it handed out and asks the host, when the counts are read, what still exists:
 * - a document: its address, size and tag; it counts while its block is still a busy
 *   block of that size on the heap and still carries its trailer (the tag and a hash of
 *   its first bytes; plat_docs_alive, one heap walk per count), so a freed block reused
 *   by anyone else does not count unless its new owner left those bytes as they were;
 * - a stream: hcsim's own end (the object every caller HANDLE of that stream duplicates);
 *   the caller's handles are the object's other handles (plat_fd_others), whatever their
 *   values. When hcsim is done with its end (hc_stream_retire) the record stays until
 *   the caller's handles are gone too, and then hcsim closes its end.
 * The records of freed documents and finished streams are dropped then. */
typedef struct hc_handout {
    uintptr_t value; /* a document's address; hcsim's end of a stream */
    uint64_t tag;    /* documents */
    size_t bytes;    /* documents; 0 for streams */
    int retired;     /* streams: hcsim is done with its end */
} hc_handout;

static uint32_t docs_recount(void);

static int handout_add(uintptr_t value, uint64_t tag, size_t bytes) {
    if (G.nhandouts == G.caphandouts) {
        /* full: first drop the records of what was released (a caller that never reads
         * the counts must not grow them for ever), then grow unless half is free (so a
         * heap walk comes at most every cap / 2 records) */
        if (G.caphandouts) {
            (void)docs_recount();
            (void)hc_streams_sweep();
        }
        if (G.nhandouts > G.caphandouts / 2 || !G.caphandouts) {
            size_t cap = G.caphandouts ? 2 * G.caphandouts : 64;
            hc_handout *n = realloc(G.handouts, cap * sizeof *n);
            if (!n && G.nhandouts == G.caphandouts) return -1;
            if (n) {
                G.handouts = n;
                G.caphandouts = cap;
            }
        }
    }
    G.handouts[G.nhandouts++] = (hc_handout){value, tag, bytes, 0};
    return 0;
}

int hc_stream_add(plat_fd end) { return handout_add((uintptr_t)end, 0, 0); }

static void stream_forget(size_t i) {
    plat_close((plat_fd)G.handouts[i].value);
    G.handouts[i] = G.handouts[--G.nhandouts];
}

void hc_stream_retire(plat_fd end) {
    for (size_t i = 0; i < G.nhandouts; i++)
        if (!G.handouts[i].bytes && G.handouts[i].value == (uintptr_t)end) {
            G.handouts[i].retired = 1;
            if (plat_fd_others(end) == 0) stream_forget(i); /* nothing left to count */
            return;
        }
    plat_close(end); /* never recorded (out of memory): nothing to count */
}

int hc_streams_sweep(void) {
    int held = 0;
    for (size_t i = G.nhandouts; i-- > 0;) { /* (stream_forget moves the last record to i) */
        const hc_handout *o = &G.handouts[i];
        if (o->bytes || !o->retired) continue;
        if (plat_fd_others((plat_fd)o->value) == 0)
            stream_forget(i);
        else
            held = 1;
    }
    return held;
}

int hc_stream_of(HANDLE h) {
    for (size_t i = 0; h && i < G.nhandouts; i++)
        if (!G.handouts[i].bytes && plat_fd_same((plat_fd)G.handouts[i].value, (plat_fd)h))
            return 1;
    return 0;
}

/* Drops the records of freed documents (one walk of the heap for all of them); the
 * number still alive. Out of memory: all are taken as alive. */
static uint32_t docs_recount(void) {
    size_t n = 0;
    for (size_t i = 0; i < G.nhandouts; i++) n += G.handouts[i].bytes != 0;
    plat_doc_ref *refs = n ? malloc(n * sizeof *refs) : NULL;
    if (!refs) return (uint32_t)n;
    for (size_t i = 0, k = 0; i < G.nhandouts; i++)
        if (G.handouts[i].bytes)
            refs[k++] = (plat_doc_ref){(const void *)G.handouts[i].value, G.handouts[i].bytes,
                                       G.handouts[i].tag, 1};
    (void)plat_docs_alive(refs, n); /* (cannot tell: all alive) */
    uint32_t alive = 0;
    /* backwards: a record moved into a dropped one's place has been looked at already */
    for (size_t i = G.nhandouts, k = n; i-- > 0;) {
        if (!G.handouts[i].bytes) continue;
        if (refs[--k].alive)
            alive++;
        else
            G.handouts[i] = G.handouts[--G.nhandouts];
    }
    free(refs);
    return alive;
}

void hc_handouts_recount(void) {
    uint32_t pipes = 0, docs = docs_recount();
    for (size_t i = 0; i < G.nhandouts; i++) {
        hc_handout *o = &G.handouts[i];
        if (o->bytes) continue;
        uint32_t n = plat_fd_others((plat_fd)o->value);
        pipes += n;
        if (o->retired && n == 0) stream_forget(i--);
    }
    G.counts.PipeHandles = pipes;
    G.counts.Documents = docs;
}

/* Copies d (malloc'd, NUL-terminated) into a block the host's LocalFree releases. */
static PWSTR doc_issue(char16_t *d) {
    if (!d) return NULL;
    size_t bytes = (aiohcs_utf16_len(d) + 1) * sizeof *d;
    uint64_t tag = ++G.next_tag;
    void *m = plat_doc_copy(d, bytes, tag);
    free(d);
    if (m && handout_add((uintptr_t)m, tag, bytes) != 0) {
        plat_doc_free(m);
        return NULL;
    }
    return (PWSTR)m;
}
#else
/* Registers and counts d (ours, malloc'd), or frees it. */
static PWSTR doc_issue(char16_t *d) {
    if (d && hc_doc_add(d) != 0) {
        free(d);
        return NULL;
    }
    if (d) G.counts.Documents++;
    return (PWSTR)d;
}
#endif

PWSTR hc_doc_from_utf16(const char16_t *s) {
    return s ? doc_issue(aiohcs_utf16_dup(s, NULL)) : NULL;
}

PWSTR hc_doc_from_json(const hj_value *v) { return doc_issue(hj_serialize_utf16(v)); }

static const char *hr_message(HRESULT hr) {
    switch ((uint32_t)hr) {
    case 0x80370105u:
        return "The requested operation is not allowed in the compute system's current state.";
    case 0x80370106u: return "The compute system exited unexpectedly.";
    case 0x8037010Du: return "The JSON document is invalid.";
    case 0x8037010Eu: return "A compute system with the given identifier was not found.";
    case 0x8037010Fu: return "A compute system with the given identifier already exists.";
    case 0x80370110u: return "The compute system has already stopped.";
    case 0x8037011Eu: return "The connection to the compute service was lost.";
    case 0x8037011Fu: return "The process has already exited.";
    case 0x80070057u: return "The parameter is incorrect.";
    case 0x80070002u: return "The system cannot find the file specified.";
    case 0x80070490u: return "Element not found.";
    case 0x80070003u: return "The system cannot find the path specified.";
    case 0x80070032u: return "The request is not supported.";
    case 0x80004001u: return "Not implemented.";
    default: return "The operation failed.";
    }
}

/* hcsim's event provider in ErrorEvents (a fixed GUID of its own, as each HCS component
 * names its ETW provider there). */
#define HC_ERROR_PROVIDER "6d0f5d3c-6f0b-4f5e-9a55-686373696d00"

/* A ResultError as the schema defines it (2.4 on): Error, ErrorMessage, and ErrorEvents
 * with one ErrorEvent carrying the same message; Attribution is added by
 * hc_result_error_attributed when a failure has one. */
hj_value *hc_result_error(HRESULT hr, const char *msg) {
    hj_value *o = hj_new_object();
    if (!o) return NULL;
    char buf[1024];
    if (!msg) msg = hr_message(hr);
    snprintf(buf, sizeof buf, "%s (hcsim, HRESULT 0x%08X)", msg, (unsigned)hr);
    hj_set(o, "Error", hj_new_int((int32_t)hr));
    hj_set(o, "ErrorMessage", hj_new_string(buf));
    hj_value *ev = hj_new_object();
    hj_set(ev, "Message", hj_new_string(buf)); /* as ErrorMessage: no second text */
    hj_set(ev, "Provider", hj_new_string(HC_ERROR_PROVIDER));
    hj_set(ev, "EventId", hj_new_uint(1));
    hj_set(ev, "Flags", hj_new_uint(0));
    hj_set(ev, "Source", hj_new_string("hcsim"));
    hj_value *evs = hj_new_array();
    hj_push(evs, ev);
    hj_set(o, "ErrorEvents", evs);
    return o;
}

hj_value *hc_result_error_attributed(HRESULT hr, const char *msg, const char *detail) {
    hj_value *o = hc_result_error(hr, msg);
    if (!o) return NULL;
    hj_value *of = hj_new_object();
    hj_set(of, "Detail", hj_new_string(detail));
    hj_value *rec = hj_new_object();
    hj_set(rec, "OperationFailure", of);
    hj_value *attr = hj_new_array();
    hj_push(attr, rec);
    hj_set(o, "Attribution", attr);
    return o;
}

char16_t *hc_result_error_u16(HRESULT hr, const char *msg) {
    hj_value *v = hc_result_error(hr, msg);
    char16_t *s = v ? hj_serialize_utf16(v) : NULL;
    hj_free(v);
    return s;
}

hj_value *hc_parse(PCWSTR s) {
    if (!s) return NULL;
    return hj_parse_utf16((const char16_t *)s);
}

/* ---- LocalFree ---------------------------------------------------------------------- */
#if !PLAT_HOST_RELEASES
HLOCAL WINAPI LocalFree(HLOCAL hMem) {
    if (!hMem) return NULL;
    hc_init();
    hc_lock();
    if (!hc_doc_del(hMem)) {
        if (hc_doc_kind(hMem) == K_HCNDOC) {
            hc_unlock();
            fputs("hcsim: LocalFree of a computenetwork string (free it with CoTaskMemFree; on "
                  "Windows this corrupts the heap)\n",
                  stderr);
            abort();
        }
        hc_unlock();
        return hMem; /* not ours: failure, as LocalFree reports it */
    }
    G.counts.Documents--;
    hc_unlock();
    free(hMem);
    return NULL;
}
#endif
