/* hcsim documents: every string handed to the caller is registered (so that LocalFree
 * can tell ours from anything else), counted in HCSIM_COUNTS.Documents, and released
 * with LocalFree. Failure documents are ResultError objects whose Error is the HRESULT. */
#include "hcsim_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Registers and counts d (ours, malloc'd), or frees it. */
static PWSTR doc_issue(char16_t *d) {
    if (d && hc_doc_add(d) != 0) {
        free(d);
        return NULL;
    }
    if (d) G.counts.Documents++;
    return (PWSTR)d;
}

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
    case 0x80004001u: return "Not implemented.";
    default: return "The operation failed.";
    }
}

hj_value *hc_result_error(HRESULT hr, const char *msg) {
    hj_value *o = hj_new_object();
    if (!o) return NULL;
    char buf[256];
    if (!msg) msg = hr_message(hr);
    snprintf(buf, sizeof buf, "%s (hcsim, HRESULT 0x%08X)", msg, (unsigned)hr);
    hj_set(o, "Error", hj_new_int((int32_t)hr));
    hj_set(o, "ErrorMessage", hj_new_string(buf));
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

/* ---- LocalFree / CloseHandle ------------------------------------------------------- */
HLOCAL WINAPI LocalFree(HLOCAL hMem) {
    if (!hMem) return NULL;
    hc_init();
    hc_lock();
    if (!hc_doc_del(hMem)) {
        hc_unlock();
        return hMem; /* not ours: failure, as LocalFree reports it */
    }
    G.counts.Documents--;
    hc_unlock();
    free(hMem);
    return NULL;
}
