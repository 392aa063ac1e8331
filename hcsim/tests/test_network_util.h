/* Helpers of hcsim's computenetwork tests (test_network*.c). */
#ifndef HCSIM_TEST_NETWORK_UTIL_H
#define HCSIM_TEST_NETWORK_UTIL_H

#include "test_core_util.h"

#include <stdio.h>

/* A GUID from its text (tests write valid ones). */
static inline GUID tn_guid(const char *s) {
    GUID g;
    unsigned a, b, c, d[8];
    sscanf(s, "%8x-%4x-%4x-%2x%2x-%2x%2x%2x%2x%2x%2x", &a, &b, &c, &d[0], &d[1], &d[2], &d[3],
           &d[4], &d[5], &d[6], &d[7]);
    g.Data1 = a;
    g.Data2 = (uint16_t)b;
    g.Data3 = (uint16_t)c;
    for (int i = 0; i < 8; i++) g.Data4[i] = (uint8_t)d[i];
    return g;
}

static const GUID tn_zero;

/* A computenetwork string parsed (NULL stays NULL) and released with CoTaskMemFree. */
static inline hj_value *tn_take(PWSTR s) {
    if (!s) return NULL;
    hj_value *v = hj_parse_utf16(s);
    CoTaskMemFree(s);
    return v;
}

/* An ErrorRecord: 1 when it is a JSON object whose Error text contains part and whose
 * ErrorCode is hr; released. */
static inline int tn_record(PWSTR rec, HRESULT hr, const char *part) {
    hj_value *v = tn_take(rec);
    const char *text = hj_str(hj_get(v, "Error"), NULL);
    uint64_t code = 0;
    int ok = v && text && strstr(text, part) && hj_uint64(hj_get(v, "ErrorCode"), &code) &&
             code == (uint32_t)hr && hj_str(hj_get(v, "ErrorMessage"), NULL);
    if (!ok) fprintf(stderr, "  ErrorRecord: %s\n", text ? text : "(none)");
    hj_free(v);
    return ok;
}

static inline HRESULT tn_network(const char *id, const char *json, HCN_NETWORK *h, PWSTR *rec) {
    GUID g = id ? tn_guid(id) : tn_zero;
    char16_t *w = json ? tc_w(json) : NULL;
    HRESULT hr = HcnCreateNetwork(&g, w, h, rec);
    free(w);
    return hr;
}

static inline HRESULT tn_endpoint(HCN_NETWORK net, const char *id, const char *json,
                                  HCN_ENDPOINT *h, PWSTR *rec) {
    GUID g = id ? tn_guid(id) : tn_zero;
    char16_t *w = json ? tc_w(json) : NULL;
    HRESULT hr = HcnCreateEndpoint(net, &g, w, h, rec);
    free(w);
    return hr;
}

static inline HRESULT tn_namespace(const char *id, const char *json, HCN_NAMESPACE *h, PWSTR *rec) {
    GUID g = id ? tn_guid(id) : tn_zero;
    char16_t *w = json ? tc_w(json) : NULL;
    HRESULT hr = HcnCreateNamespace(&g, w, h, rec);
    free(w);
    return hr;
}

/* Properties of an endpoint / network handle (parsed; caller frees). */
static inline hj_value *tn_endpoint_props(HCN_ENDPOINT h) {
    PWSTR p = NULL;
    return HcnQueryEndpointProperties(h, NULL, &p, NULL) == S_OK ? tn_take(p) : NULL;
}

static inline const char *tn_ip(const hj_value *ep) {
    return hj_str(hj_get(hj_at(hj_get(ep, "IpConfigurations"), 0), "IpAddress"), NULL);
}

static inline HRESULT tn_modify_ns(HCN_NAMESPACE ns, const char *request, const char *ep,
                                   PWSTR *rec) {
    char buf[256];
    snprintf(buf, sizeof buf,
             "{\"ResourceType\":\"Endpoint\",\"RequestType\":\"%s\",\"Settings\":"
             "{\"EndpointId\":\"%s\"}}",
             request, ep);
    char16_t *w = tc_w(buf);
    HRESULT hr = HcnModifyNamespace(ns, w, rec);
    free(w);
    return hr;
}

/* After a test: nothing of computenetwork left open (handles, callbacks, reservations,
 * documents as many as before). */
static inline int tn_clean(uint32_t docs_before) {
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    if (c.NetworkHandles || c.NetworkCallbacks || c.PortReservations || c.Documents != docs_before)
        fprintf(stderr, "  leaks: handles %u callbacks %u reservations %u documents %u (was %u)\n",
                c.NetworkHandles, c.NetworkCallbacks, c.PortReservations, c.Documents, docs_before);
    return !c.NetworkHandles && !c.NetworkCallbacks && !c.PortReservations &&
           c.Documents == docs_before;
}

static inline uint32_t tn_docs(void) {
    HCSIM_COUNTS c;
    HcsimGetCounts(&c);
    return c.Documents;
}

#define NET1 "6f1e0c2a-0b3d-4c5e-8f70-112233445566"
#define NET2 "7a2b3c4d-5e6f-4a1b-9c2d-3e4f5a6b7c8d"
#define EP1  "11111111-2222-4333-8444-555555555555"
#define EP2  "21111111-2222-4333-8444-555555555555"
#define NS1  "31111111-2222-4333-8444-555555555555"
#define NS2  "41111111-2222-4333-8444-555555555555"
#define LB1  "51111111-2222-4333-8444-555555555555"
#define GNS1 "61111111-2222-4333-8444-555555555555"

#define NAT_24                                                                         \
    "{\"Name\":\"nat\",\"Type\":\"NAT\",\"Ipams\":[{\"Type\":\"Static\",\"Subnets\":"  \
    "[{\"IpAddressPrefix\":\"172.30.5.0/24\",\"Routes\":[{\"NextHop\":\"172.30.5.1\"," \
    "\"DestinationPrefix\":\"0.0.0.0/0\"}]}]}],\"SchemaVersion\":{\"Major\":2,\"Minor\":0}}"

#endif
