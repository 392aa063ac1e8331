/* hcsim computenetwork: its strings (CoTaskMemFree), ErrorRecords, GUIDs, state and reset
 * (README "Host Compute Network"). */
#include "network.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- computenetwork strings --------------------------------------------------------- */
#if PLAT_HOST_RELEASES
/* Windows: the caller releases them with ole32's CoTaskMemFree, unseen by hcsim, so they
 * are not counted (the DLL links ole32). */
void *__stdcall CoTaskMemAlloc(size_t cb);

static PWSTR hn_doc_issue(char16_t *d) {
    if (!d) return NULL;
    size_t bytes = (aiohcs_utf16_len(d) + 1) * sizeof *d;
    PWSTR m = CoTaskMemAlloc(bytes);
    if (m) memcpy(m, d, bytes);
    free(d);
    return m;
}
#else
static PWSTR hn_doc_issue(char16_t *d) {
    if (d && hc_doc_add_kind(d, K_HCNDOC) != 0) {
        free(d);
        return NULL;
    }
    if (d) G.counts.Documents++;
    return (PWSTR)d;
}
#endif

PWSTR hn_doc_from_json(const hj_value *v) { return hn_doc_issue(hj_serialize_utf16(v)); }

#if !PLAT_HOST_RELEASES
void WINAPI CoTaskMemFree(LPVOID pv) {
    if (!pv) return;
    hc_init();
    hc_lock();
    if (hc_doc_del_kind(pv, K_HCNDOC)) {
        G.counts.Documents--;
        hc_unlock();
        free(pv);
        return;
    }
    int kind = hc_doc_kind(pv);
    hc_unlock();
    fputs(kind == K_DOC ? "hcsim: CoTaskMemFree of a computecore document (free it with "
                          "LocalFree; on Windows this corrupts the heap)\n"
                        : "hcsim: CoTaskMemFree of memory hcsim did not hand out (on Windows "
                          "this corrupts the heap)\n",
          stderr);
    abort();
}
#endif

/* ---- ErrorRecord ----------------------------------------------------------------------- */
HRESULT hn_fail(PWSTR *record, HRESULT hr, const char *fmt, ...) {
    if (!record) return hr;
    char text[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    char full[1024];
    snprintf(full, sizeof full, "%s (hcsim, HRESULT 0x%08X)", text, (unsigned)hr);
    hj_value *o = hj_new_object();
    hj_set(o, "Success", hj_new_bool(0));
    hj_set(o, "Error", hj_new_string(full));
    hj_set(o, "ErrorCode", hj_new_uint((uint32_t)hr));
    hj_set(o, "ErrorMessage", hj_new_string(full));
    if (*record) { /* (a second failure keeps the first record) */
        hj_free(o);
        return hr;
    }
    *record = o ? hn_doc_from_json(o) : NULL;
    hj_free(o);
    return hr;
}

/* ---- GUIDs ------------------------------------------------------------------------------ */
int hn_guid_text(const GUID *g, char out[37], int *zero) {
    if (!g) return 0;
    snprintf(out, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned)g->Data1,
             (unsigned)g->Data2, (unsigned)g->Data3, g->Data4[0], g->Data4[1], g->Data4[2],
             g->Data4[3], g->Data4[4], g->Data4[5], g->Data4[6], g->Data4[7]);
    if (zero) *zero = !strcmp(out, "00000000-0000-0000-0000-000000000000");
    return 1;
}

int hn_guid_parse(const char *s, char out[37]) {
    static const char pat[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (!s) return 0;
    size_t n = strlen(s);
    if (n == 38 && s[0] == '{' && s[37] == '}') {
        s++;
        n = 36;
    }
    if (n != 36) return 0;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (pat[i] == '-') {
            if (c != '-') return 0;
        } else if (c >= 'A' && c <= 'F') {
            c = (char)(c - 'A' + 'a');
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
        out[i] = c;
    }
    out[36] = 0;
    return 1;
}

void hn_guid_random(char out[37]) { plat_new_guid(out); }

void hn_guid_to_bytes(const char id[37], uint8_t out[16]) {
    static const int at[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
    for (int i = 0; i < 16; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = id[at[i] + k];
            v = v << 4 | (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        out[i] = (uint8_t)v;
    }
}

/* ---- state -------------------------------------------------------------------------------- */
hn_state *hn_state_get(void) {
    if (!G.hcn) {
        G.hcn = calloc(1, sizeof *G.hcn);
        if (G.hcn) G.hcn->next_compartment = 2; /* 1 is the host's default compartment */
    }
    return G.hcn;
}

static void drop_handle(void *p) {
    hn_handle *h = p;
    hc_reg_del(h);
    G.counts.NetworkHandles--;
    hc_unref(h);
}

void hc_network_detach(void) {
    if (G.hcn) hn_notify_reset();
}

void hc_network_disconnect(void) {
    hn_notify_service(HcnNotificationServiceDisconnect, NULL, NULL);
}

void hc_network_reset(void) {
    hn_state *st = G.hcn;
    if (!st) return;
    hn_notify_reset();
    hn_ports_reset();
    hc_reg_each(K_HCN, drop_handle);
    for (int k = 0; k < HN_NKINDS; k++) {
        while (st->objs[k]) {
            hn_obj *o = st->objs[k];
            st->objs[k] = o->next;
            o->deleted = 1;
            o->ns = NULL;
            hn_obj_unref(o);
        }
    }
    st->next_compartment = 2;
}
