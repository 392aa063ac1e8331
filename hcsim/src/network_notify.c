/* hcsim computenetwork: notifications (service callbacks and guest network services'
 * callbacks), guest network services and their port reservations (README "Host Compute
 * Network"). A callback runs on a pool thread, never the caller's; one registration's
 * notifications arrive in order (its strand); unregistering waits for its callback running
 * on another thread, never for one running on the calling thread (as HCS event handles do,
 * events.c). */
#include "network_objects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- registrations ------------------------------------------------------------------------- */
typedef struct note_item {
    hc_item base;
    hn_reg *reg; /* ref */
    uint32_t type;
    char16_t *data; /* NULL for ServiceDisconnect */
} note_item;

static void note_run(hc_item *it) {
    note_item *n = (note_item *)it;
    hn_reg *r = n->reg;
    hc_lock();
    HCN_NOTIFICATION_CALLBACK cb = r->closed ? NULL : r->cb;
    void *ctx = r->ctx;
    if (cb) {
        r->st.in_cb = 1;
        hc_unlock();
        cb((DWORD)n->type, ctx, S_OK, (PCWSTR)n->data);
        hc_lock();
        r->st.in_cb = 0;
        plat_cond_broadcast(&G.cb_cond);
    }
    hc_unref(r);
    hc_unlock();
    free(n->data);
    free(n);
}

static void post(hn_reg *r, uint32_t type, const char16_t *data) {
    if (r->closed || !r->cb) return;
    note_item *n = calloc(1, sizeof *n);
    if (!n) return;
    if (data && !(n->data = aiohcs_utf16_dup(data, NULL))) {
        free(n);
        return;
    }
    n->base.run = note_run;
    n->reg = r;
    hc_ref(r);
    n->type = type;
    hc_strand_post(&r->st, &n->base);
}

void hn_notify_service(uint32_t type, const char *id, const char *network_id) {
    hn_state *st = G.hcn;
    if (!st || !st->service_regs) return;
    char16_t *data = NULL;
    if (id) {
        hj_value *d = hj_new_object();
        hj_set(d, "ID", hj_new_string(id));
        if (network_id) hj_set(d, "NetworkId", hj_new_string(network_id));
        data = hj_serialize_utf16(d);
        hj_free(d);
        if (!data) return;
    }
    for (hn_reg *r = st->service_regs; r; r = r->next) post(r, type, data);
    free(data);
}

void hn_notify_gns(hn_obj *gns, uint32_t type, const char *data_json) {
    char16_t *data = hj_utf8_to_utf16(data_json, strlen(data_json));
    for (hn_reg *r = gns->regs; data && r; r = r->next) post(r, type, data);
    free(data);
}

void hn_reg_free(hn_reg *r) {
    hn_obj_unref(r->gns);
    free(r);
}

static HRESULT reg_new(hn_obj *gns, HCN_NOTIFICATION_CALLBACK cb, void *ctx, HCN_CALLBACK *out) {
    hn_state *st = hn_state_get();
    hn_reg *r = st ? hc_obj_new(sizeof *r, K_HCNCB) : NULL;
    if (!r) return E_OUTOFMEMORY;
    if (hc_reg_add(r, K_HCNCB) != 0) {
        free(r);
        return E_OUTOFMEMORY;
    }
    hc_strand_init(&r->st, &r->hdr);
    r->cb = cb;
    r->ctx = ctx;
    r->gns = gns;
    if (gns) {
        gns->refs++;
        HC_LIST_PUSH(gns->regs, r);
    } else {
        HC_LIST_PUSH(st->service_regs, r);
    }
    G.counts.NetworkCallbacks++;
    *out = HC_HANDLE(r);
    return S_OK;
}

static void reg_unlink(hn_reg *r) {
    hc_reg_del(r);
    r->closed = 1;
    G.counts.NetworkCallbacks--;
    if (r->gns)
        HC_LIST_UNLINK(r->gns->regs, r);
    else
        HC_LIST_UNLINK(G.hcn->service_regs, r);
}

/* Unregisters r and waits for its callback running on another thread. */
static void reg_release(hn_reg *r) {
    reg_unlink(r);
    uint64_t self = plat_thread_id();
    while (r->st.in_cb && r->st.running_tid != self) plat_cond_wait(&G.cb_cond, &G.lock);
    hc_unref(r);
}

HRESULT WINAPI HcnRegisterServiceCallback(HCN_NOTIFICATION_CALLBACK Callback, void *Context,
                                          HCN_CALLBACK *CallbackHandle) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnRegisterServiceCallback, Callback, Context, CallbackHandle);
    if (CallbackHandle) *CallbackHandle = NULL;
    HRESULT hr = hc_enter_sync(FN_HcnRegisterServiceCallback);
    if (hr != S_OK) return hr;
    if (!CallbackHandle) return E_POINTER;
    if (!Callback) return E_INVALIDARG;
    hc_lock();
    hr = reg_new(NULL, Callback, Context, CallbackHandle);
    hc_unlock();
    return hr;
}

static HRESULT unregister(fn_id fn, HCN_CALLBACK handle, int gns) {
    HRESULT hr = hc_enter_sync(fn);
    if (hr != S_OK) return hr;
    hc_lock();
    hn_reg *r = handle ? hc_reg_get(handle, K_HCNCB) : NULL;
    if (!r || (r->gns != NULL) != gns)
        hr = E_HANDLE;
    else
        reg_release(r);
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcnUnregisterServiceCallback(HCN_CALLBACK CallbackHandle) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnUnregisterServiceCallback, CallbackHandle);
    return unregister(FN_HcnUnregisterServiceCallback, CallbackHandle, 0);
}

static void detach_reg(void *p) {
    hn_reg *r = p;
    r->cb = NULL;
}

void hn_notify_reset(void) { hc_reg_each(K_HCNCB, detach_reg); }

static void drop_reg(void *p) {
    hn_reg *r = p;
    reg_unlink(r);
    hc_unref(r);
}

/* ---- guest network services ------------------------------------------------------------------- */
static char *id_json(const char *id, const char *state) {
    hj_value *d = hj_new_object();
    hj_set(d, "ID", hj_new_string(id));
    if (state) hj_set(d, "State", hj_new_string(state));
    char *s = hj_serialize(d, NULL);
    hj_free(d);
    return s;
}

static HRESULT check_gns(hj_value *doc, PWSTR *record) {
    HRESULT hr = hn_member_type(doc, "SchemaVersion", HJ_OBJECT, "guest network service", record);
    if (hr == S_OK) hn_default_schema(doc);
    return hr;
}

HRESULT WINAPI HcnCreateGuestNetworkService(REFGUID Id, PCWSTR Settings,
                                            PHCN_GUESTNETWORKSERVICE GuestNetworkService,
                                            PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnCreateGuestNetworkService, Id, Settings, GuestNetworkService,
                              ErrorRecord);
    return hn_create(FN_HcnCreateGuestNetworkService, HN_GNS, Id, Settings, check_gns,
                     GuestNetworkService, ErrorRecord, 0, HcnNotificationGuestNetworkServiceCreate);
}

HRESULT WINAPI HcnCloseGuestNetworkService(HCN_GUESTNETWORKSERVICE GuestNetworkService) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnCloseGuestNetworkService, GuestNetworkService);
    return hn_close(FN_HcnCloseGuestNetworkService, HN_GNS, GuestNetworkService);
}

/* The settings given replace the members they name; the service's callbacks get
 * GuestNetworkServiceStateChanged {"ID", "State" (when the settings name one)}. */
HRESULT WINAPI HcnModifyGuestNetworkService(HCN_GUESTNETWORKSERVICE GuestNetworkService,
                                            PCWSTR Settings, PWSTR *ErrorRecord) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnModifyGuestNetworkService, GuestNetworkService, Settings,
                              ErrorRecord);
    HRESULT hr = hn_enter(FN_HcnModifyGuestNetworkService, ErrorRecord);
    if (hr != S_OK) return hr;
    hj_value *doc = NULL;
    hc_lock();
    hn_obj *g = hn_live(GuestNetworkService, HN_GNS, ErrorRecord, &hr);
    if (g && (hr = hn_parse_object(Settings, "guest network service settings", ErrorRecord,
                                   &doc)) == S_OK) {
        for (size_t i = 0; i < hj_count(doc); i++)
            if (strcmp(hj_key_at(doc, i), "ID"))
                hj_set(g->doc, hj_key_at(doc, i), hj_clone(hj_at(doc, i)));
        char *data = id_json(g->id, hj_str(hj_get(doc, "State"), NULL));
        if (data) hn_notify_gns(g, HcnNotificationGuestNetworkServiceStateChanged, data);
        free(data);
    }
    hj_free(doc);
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcnDeleteGuestNetworkService(REFGUID Id, PWSTR *ErrorRecord) {
    if (hc_remote_active()) return hc_remote_call(FN_HcnDeleteGuestNetworkService, Id, ErrorRecord);
    HRESULT hr;
    char id[37];
    hn_obj *g = hn_delete_find(FN_HcnDeleteGuestNetworkService, HN_GNS, Id, ErrorRecord, id, &hr);
    if (!g) return hr;
    hn_ports_release_gns(g);
    hn_obj_remove(g);
    hn_notify_service(HcnNotificationGuestNetworkServiceDelete, id, NULL);
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcnRegisterGuestNetworkServiceCallback(HCN_GUESTNETWORKSERVICE GuestNetworkService,
                                                      HCN_NOTIFICATION_CALLBACK Callback,
                                                      void *Context, HCN_CALLBACK *CallbackHandle) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnRegisterGuestNetworkServiceCallback, GuestNetworkService,
                              Callback, Context, CallbackHandle);
    if (CallbackHandle) *CallbackHandle = NULL;
    HRESULT hr = hc_enter_sync(FN_HcnRegisterGuestNetworkServiceCallback);
    if (hr != S_OK) return hr;
    if (!CallbackHandle) return E_POINTER;
    if (!Callback) return E_INVALIDARG;
    hc_lock();
    hn_obj *g = hn_live(GuestNetworkService, HN_GNS, NULL, &hr);
    if (g) hr = reg_new(g, Callback, Context, CallbackHandle);
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcnUnregisterGuestNetworkServiceCallback(HCN_CALLBACK CallbackHandle) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnUnregisterGuestNetworkServiceCallback, CallbackHandle);
    return unregister(FN_HcnUnregisterGuestNetworkServiceCallback, CallbackHandle, 1);
}

/* ---- port reservations ---------------------------------------------------------------------- */
#define DYNAMIC_FIRST 49152u
#define DYNAMIC_LAST  65535u

typedef struct hn_port {
    hc_obj hdr;
    hn_obj *gns; /* NULL once its service is deleted (the ports are free again) */
    uint32_t protocol, access;
    uint16_t start, end;
    int range;
    struct hn_port *next;
} hn_port;

static int overlaps(const hn_port *p, uint32_t protocol, uint16_t start, uint16_t end) {
    return p->gns && (p->protocol & protocol) && p->start <= end && start <= p->end;
}

static HRESULT port_new(hn_obj *gns, uint32_t protocol, uint32_t access, uint16_t start,
                        uint16_t end, int range, HANDLE *out) {
    hn_port *p = hc_obj_new(sizeof *p, K_HCNPORT);
    if (!p) return E_OUTOFMEMORY;
    if (hc_reg_add(p, K_HCNPORT) != 0) {
        free(p);
        return E_OUTOFMEMORY;
    }
    p->gns = gns;
    p->protocol = protocol;
    p->access = access;
    p->start = start;
    p->end = end;
    p->range = range;
    p->next = G.hcn->ports;
    G.hcn->ports = p;
    G.counts.PortReservations++;
    *out = HC_HANDLE(p);
    return S_OK;
}

HRESULT WINAPI HcnReserveGuestNetworkServicePort(HCN_GUESTNETWORKSERVICE GuestNetworkService,
                                                 HCN_PORT_PROTOCOL Protocol, HCN_PORT_ACCESS Access,
                                                 USHORT Port, HANDLE *PortReservationHandle) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnReserveGuestNetworkServicePort, GuestNetworkService, Protocol,
                              Access, Port, PortReservationHandle);
    if (PortReservationHandle) *PortReservationHandle = NULL;
    HRESULT hr = hc_enter_sync(FN_HcnReserveGuestNetworkServicePort);
    if (hr != S_OK) return hr;
    if (!PortReservationHandle) return E_POINTER;
    uint32_t proto = (uint32_t)Protocol, access = (uint32_t)Access;
    if (proto < 1 || proto > 3 || access < 1 || access > 2 || !Port) return E_INVALIDARG;
    hc_lock();
    hn_obj *g = hn_live(GuestNetworkService, HN_GNS, NULL, &hr);
    for (hn_port *p = g ? G.hcn->ports : NULL; p; p = p->next)
        if (overlaps(p, proto, Port, Port) &&
            (access == HCN_PORT_ACCESS_EXCLUSIVE || p->access == HCN_PORT_ACCESS_EXCLUSIVE)) {
            hr = HCN_E_PORT_ALREADY_EXISTS;
            break;
        }
    if (g && hr == S_OK) hr = port_new(g, proto, access, Port, Port, 0, PortReservationHandle);
    hc_unlock();
    return hr;
}

HRESULT WINAPI HcnReserveGuestNetworkServicePortRange(
    HCN_GUESTNETWORKSERVICE GuestNetworkService, USHORT PortCount,
    HCN_PORT_RANGE_RESERVATION *PortRangeReservation, HANDLE *PortReservationHandle) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnReserveGuestNetworkServicePortRange, GuestNetworkService,
                              PortCount, PortRangeReservation, PortReservationHandle);
    if (PortReservationHandle) *PortReservationHandle = NULL;
    HRESULT hr = hc_enter_sync(FN_HcnReserveGuestNetworkServicePortRange);
    if (hr != S_OK) return hr;
    if (!PortReservationHandle || !PortRangeReservation) return E_POINTER;
    if (!PortCount || PortCount > DYNAMIC_LAST - DYNAMIC_FIRST + 1) return E_INVALIDARG;
    hc_lock();
    hn_obj *g = hn_live(GuestNetworkService, HN_GNS, NULL, &hr);
    if (g) {
        uint32_t start = DYNAMIC_FIRST, found = 0;
        while (!found && start + PortCount - 1 <= DYNAMIC_LAST) {
            uint32_t end = start + PortCount - 1, next = 0;
            for (hn_port *p = G.hcn->ports; p; p = p->next)
                if (overlaps(p, 3, (uint16_t)start, (uint16_t)end) && p->end + 1u > next)
                    next = p->end + 1u;
            if (next)
                start = next;
            else
                found = 1;
        }
        if (!found) {
            hr = HN_E_EXHAUSTED;
        } else {
            hr = port_new(g, 3, HCN_PORT_ACCESS_EXCLUSIVE, (uint16_t)start,
                          (uint16_t)(start + PortCount - 1), 1, PortReservationHandle);
            PortRangeReservation->startingPort = (USHORT)start;
            PortRangeReservation->endingPort = (USHORT)(start + PortCount - 1);
        }
    }
    hc_unlock();
    return hr;
}

static void port_drop(hn_port *p) {
    for (hn_port **q = &G.hcn->ports; *q; q = &(*q)->next)
        if (*q == p) {
            *q = p->next;
            break;
        }
    hc_reg_del(p);
    G.counts.PortReservations--;
    free(p);
}

HRESULT WINAPI HcnReleaseGuestNetworkServicePortReservationHandle(HANDLE PortReservationHandle) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnReleaseGuestNetworkServicePortReservationHandle,
                              PortReservationHandle);
    HRESULT hr = hc_enter_sync(FN_HcnReleaseGuestNetworkServicePortReservationHandle);
    if (hr != S_OK) return hr;
    hc_lock();
    hn_port *p = PortReservationHandle ? hc_reg_get(PortReservationHandle, K_HCNPORT) : NULL;
    if (p)
        port_drop(p);
    else
        hr = E_HANDLE;
    hc_unlock();
    return hr;
}

void hn_ports_release_gns(hn_obj *gns) {
    for (hn_port *p = G.hcn->ports; p; p = p->next)
        if (p->gns == gns) p->gns = NULL;
}

void hn_ports_reset(void) {
    while (G.hcn->ports) port_drop(G.hcn->ports);
    hc_reg_each(K_HCNCB, drop_reg);
}

static void guid_from_text(const char *id, GUID *g) {
    uint8_t b[16];
    hn_guid_to_bytes(id, b);
    g->Data1 = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    g->Data2 = (uint16_t)(b[4] << 8 | b[5]);
    g->Data3 = (uint16_t)(b[6] << 8 | b[7]);
    memcpy(g->Data4, b + 8, 8);
}

HRESULT WINAPI HcnEnumerateGuestNetworkPortReservations(ULONG *ReturnCount,
                                                        HCN_PORT_RANGE_ENTRY **PortEntries) {
    if (hc_remote_active())
        return hc_remote_call(FN_HcnEnumerateGuestNetworkPortReservations, ReturnCount,
                              PortEntries);
    if (ReturnCount) *ReturnCount = 0;
    if (PortEntries) *PortEntries = NULL;
    HRESULT hr = hc_enter_sync(FN_HcnEnumerateGuestNetworkPortReservations);
    if (hr != S_OK) return hr;
    if (!ReturnCount || !PortEntries) return E_POINTER;
    hc_lock();
    size_t n = 0;
    for (hn_port *p = G.hcn ? G.hcn->ports : NULL; p; p = p->next) n += p->gns != NULL;
    HCN_PORT_RANGE_ENTRY *e = n ? calloc(n, sizeof *e) : NULL;
    if (n && (!e || hc_doc_add_kind(e, K_HCNPORT) != 0)) {
        free(e);
        hr = E_OUTOFMEMORY;
    } else if (n) {
        size_t i = 0;
        for (hn_port *p = G.hcn->ports; p; p = p->next) {
            if (!p->gns) continue;
            guid_from_text(p->gns->id, &e[i].TargetPartitionId); /* Owning: the host, zero */
            e[i].Protocol = (HCN_PORT_PROTOCOL)p->protocol;
            e[i].ReservationType = (UINT32)p->range;
            e[i].SharingFlags = p->access == HCN_PORT_ACCESS_SHARED;
            e[i].StartingPort = p->start;
            e[i].EndingPort = p->end;
            i++;
        }
        G.counts.Documents++;
        *ReturnCount = (ULONG)n;
        *PortEntries = e;
    }
    hc_unlock();
    return hr;
}

VOID WINAPI HcnFreeGuestNetworkPortReservations(HCN_PORT_RANGE_ENTRY *PortEntries) {
    if (!PortEntries) return;
    hc_init();
    /* first an array a client's service handed out: still freed after HcsimDisconnect */
    if (hc_remote_free_port_entries(PortEntries)) return;
    hc_lock();
    int ours = hc_doc_del_kind(PortEntries, K_HCNPORT);
    if (ours) G.counts.Documents--;
    hc_unlock();
    if (!ours) {
        fputs("hcsim: HcnFreeGuestNetworkPortReservations of memory that "
              "HcnEnumerateGuestNetworkPortReservations did not hand out (on Windows this "
              "corrupts the heap)\n",
              stderr);
        abort();
    }
    free(PortEntries);
}
